"""Attacks on the operator by a tenant who may write Cameras (and their status) in their own
namespace but may not read Secrets: issue 9, findings 2, 3, 13 (operator part) and 14.
Everything is real: the API server, the operator process, Janus, and listening sockets that
record whatever reaches them."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.media.fixtures import JanusGateway, RtspCamera
from tests.operator_process import OperatorProcess, operator_for
from tests.recorder import Recorder
from tests.support import Cluster, credentials_secret, free_port, poll
from vas_core.kube import Kube
from vas_operator.credentials import CredentialsUnavailable, read_credentials
from vas_operator.sourcepolicy import DEFAULT_DENIED

pytestmark = pytest.mark.cluster
NS = "security-operator"
SECRET_VALUE = f"db-password-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusGateway]:
    with JanusGateway() as gateway:
        yield gateway


def start_operator(
    kube: Cluster, janus: JanusGateway, log: Path, namespace: str = NS, **env: str
) -> OperatorProcess:
    operator = operator_for(
        kube, janus, namespace, log, mountpoint_key=secrets.token_hex(8), probe_timeout_seconds="2"
    )
    operator.env_extra.update(env)
    operator.start()
    return operator


@pytest.fixture(scope="module")
def kube(crds_installed: Cluster) -> Cluster:
    crds_installed.kubectl("create", "namespace", NS)
    return crds_installed


@pytest.fixture(scope="module")
def operator(
    kube: Cluster, janus: JanusGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """Loopback allowed (the test's cameras live there); VAS's own endpoints still refused."""
    process = start_operator(kube, janus, tmp_path_factory.mktemp("op") / "operator.log")
    yield process
    process.stop()


def apply_camera(
    kube: Cluster, name: str, url: str, secret: str | None = None, namespace: str = NS
) -> None:
    source: dict[str, Any] = {"url": url}
    if secret:
        source["credentialsSecretRef"] = {"name": secret}
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"source": source},
        }
    )


def condition(kube: Cluster, name: str, type_: str, namespace: str = NS) -> dict[str, Any]:
    cam = kube.get_json("cam", name, "-n", namespace)
    found = [c for c in (cam.get("status") or {}).get("conditions", []) if c["type"] == type_]
    return found[0] if found else {}


def wait_reason(
    kube: Cluster, name: str, type_: str, reason: str, namespace: str = NS
) -> dict[str, Any]:
    return poll(
        lambda: condition(kube, name, type_, namespace),
        lambda c: c.get("reason") == reason,
        60,
        f"{name} {type_}={reason}",
    )


def test_unrelated_secret_is_never_sent_to_a_tenant_host(
    kube: Cluster, operator: OperatorProcess
) -> None:
    """A tenant names an ordinary Secret (a database password) as camera credentials and
    points the camera at a host they control, hoping the operator sends the Secret there."""
    recorder = Recorder("127.0.0.1", free_port())
    try:
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": "database", "namespace": NS},
                "stringData": {"username": "app", "password": SECRET_VALUE},
            }
        )
        apply_camera(kube, "exfiltrate", f"rtsp://127.0.0.1:{recorder.port}/x", "database")
        found = wait_reason(kube, "exfiltrate", "CredentialsResolved", "SecretNotOptedIn")
        assert "vas.io/rtsp-credentials" in found["message"]
        assert recorder.connections == []
        assert SECRET_VALUE.encode() not in recorder.received()
        assert base64.b64encode(f"app:{SECRET_VALUE}".encode()) not in recorder.received()
    finally:
        recorder.close()
    assert SECRET_VALUE not in operator.log()


def test_opted_in_secret_still_works(kube: Cluster, operator: OperatorProcess) -> None:
    """The opt-in must not break the legitimate path: a typed Secret resolves."""
    recorder = Recorder("127.0.0.1", free_port())
    try:
        kube.apply(credentials_secret(NS, "camera-login", "admin", "pw"))
        apply_camera(kube, "typed", f"rtsp://127.0.0.1:{recorder.port}/x", "camera-login")
        found = poll(
            lambda: condition(kube, "typed", "CredentialsResolved"),
            lambda c: c.get("status") == "True",
            60,
            "typed Secret resolved",
        )
        assert found["reason"] == "Resolved"
    finally:
        recorder.close()


@pytest.mark.parametrize(
    "target",
    ["janus-admin", "operator-metrics", "api-server", "metadata"],
)
def test_camera_url_cannot_reach_vas_services(
    kube: Cluster, operator: OperatorProcess, janus: JanusGateway, target: str
) -> None:
    """A tenant points a Camera at the Janus Admin API, the operator's metrics, the API server
    or the cloud metadata address to learn (from the condition reason) what listens there."""
    port = {
        "janus-admin": janus.admin_port,
        "operator-metrics": operator.metrics_port,
        "api-server": int(kube.server.rsplit(":", 1)[1]),
        "metadata": 80,
    }[target]
    host = "169.254.169.254" if target == "metadata" else "127.0.0.1"
    name = f"probe-{target}"
    apply_camera(kube, name, f"rtsp://{host}:{port}/")
    found = wait_reason(kube, name, "StreamReachable", "SourceNotAllowed")
    assert "refused" in found["message"]
    assert (
        kube.get_json("cam", name, "-n", NS)["status"]["phase"] == "Failed"
    )  # permanent: not retried until the spec changes


def test_default_policy_refuses_loopback_before_any_packet(
    kube: Cluster, janus: JanusGateway, tmp_path: Path
) -> None:
    """With the default policy, a Camera aimed at the operator's own loopback (where its node's
    services listen) is refused before a single packet reaches that address."""
    recorder = Recorder("127.0.0.1", free_port())
    namespace = f"{NS}-defaults"  # out of the other operator's sight
    kube.kubectl("create", "namespace", namespace)
    operator = start_operator(
        kube,
        janus,
        tmp_path / "operator.log",
        namespace,
        VAS_SOURCE_DENIED_CIDRS=json.dumps(DEFAULT_DENIED),
    )
    try:
        apply_camera(kube, "loopback", f"rtsp://127.0.0.1:{recorder.port}/x", namespace=namespace)
        wait_reason(kube, "loopback", "StreamReachable", "SourceNotAllowed", namespace)
        assert recorder.connections == []
    finally:
        operator.stop()
        recorder.close()


def test_no_janus_info_with_credentials_per_reconcile(
    kube: Cluster, operator: OperatorProcess
) -> None:
    """The operator used to ask Janus for `info` (whose answer carries the RTSP password) on
    every reconcile; it now reads one `list` per gateway and never asks for `info`."""
    with RtspCamera(mounts=[], secure_mounts=[("/secure", "admin", "pw")]) as camera:
        kube.apply(credentials_secret(NS, "mounted-login", "admin", "pw"))
        apply_camera(kube, "mounted", camera.url("/secure"), "mounted-login")
        wait_reason(kube, "mounted", "MountpointReady", "Mounted")
        kube.kubectl("annotate", "cam", "mounted", "-n", NS, "again=1")  # reconcile again
        time.sleep(2)
    assert operator.metric("vas_janus_request_duration_seconds_count", request="info") == 0
    assert operator.metric("vas_janus_request_duration_seconds_count", request="list") >= 1


class Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        body = b'{"kind":"Status","code":503,"message":"etcd leader changed"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("failure", ["refused", "http-503"])
async def test_transient_api_errors_are_not_credential_failures(failure: str) -> None:
    """A blip of the API server while reading a Secret used to mark the camera as having bad
    credentials, permanently; it must be a retryable error instead."""
    server = None
    if failure == "http-503":
        server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
    else:
        port = free_port()  # nothing listens there
    api = Kube(f"http://127.0.0.1:{port}", timeout=5)
    try:
        with pytest.raises(CredentialsUnavailable):
            await read_credentials(api, NS, "any")
    finally:
        await api.close()
        if server is not None:
            server.shutdown()
