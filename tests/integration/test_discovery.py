"""DiscoveryScan on loopback only: RTSP cameras on several 127.0.0.x addresses, TCP servers
that are not RTSP, closed addresses, and a listener outside the allow-list that must never
see a connection."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.media.fixtures import JanusGateway, RtspCamera
from tests.operator_process import OperatorProcess, operator_for
from tests.recorder import Recorder
from tests.support import Cluster, credentials_secret, free_port, poll

pytestmark = pytest.mark.cluster
NS = "discovery-tests"
PASSWORD = f"pw-{secrets.token_hex(6)}"


@pytest.fixture(scope="module")
def lab(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    kube.kubectl("create", "namespace", NS)
    for name, password in (("wrong-creds", "nope"), ("lab-creds", PASSWORD)):
        # Opted in (type vas.io/rtsp-credentials): no other Secret is offered to a camera.
        kube.apply(credentials_secret(NS, name, "admin", password))
    port = free_port()
    not_rtsp = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    http = Recorder("127.0.0.4", port, lambda head: not_rtsp)
    silent = Recorder("127.0.0.5", port)
    outside = Recorder("127.0.0.20", port)
    with (
        RtspCamera(address="127.0.0.2", port=port, mounts=["/cam1"]),
        RtspCamera(
            address="127.0.0.3",
            port=port,
            mounts=[],
            secure_mounts=[("/secure", "admin", PASSWORD)],
        ),
        JanusGateway() as janus,
    ):
        operator: OperatorProcess = operator_for(
            kube,
            janus,
            NS,
            tmp_path_factory.mktemp("discovery") / "operator.log",
            mountpoint_key=secrets.token_hex(8),
            discovery_allowed_cidrs=json.dumps(["127.0.0.0/28"]),
            # Loopback is where the test cameras live; the default source policy denies it.
            source_denied_cidrs=json.dumps(["169.254.0.0/16"]),
        )
        operator.start()
        try:
            yield {"kube": kube, "port": port, "outside": outside, "operator": operator}
        finally:
            operator.stop()
            for listener in (http, silent, outside):
                listener.close()


def scan_doc(name: str, targets: list[str], port: int, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "DiscoveryScan",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "targets": targets,
            "ports": [port],
            "paths": ["/cam1", "/secure", "/missing"],
            "credentialsSecretRefs": [{"name": "wrong-creds"}, {"name": "lab-creds"}],
            "connectTimeoutMilliseconds": 300,
            "rtspTimeoutMilliseconds": 1000,
            **extra,
        },
    }


def wait_scan(
    kube: Cluster, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    return poll(
        lambda: kube.get_json("-n", NS, "dscan", name).get("status", {}),
        check,
        timeout,
        f"scan {name}",
    )


def test_scan_finds_exactly_the_cameras_and_creates_them_once(lab: dict[str, Any]) -> None:
    kube, port = lab["kube"], lab["port"]
    template = {"metadata": {"labels": {"site": "lab"}}, "spec": {"enabled": False}}
    kube.apply(scan_doc("lab", ["127.0.0.0/28"], port, cameraTemplate=template))
    status = wait_scan(kube, "lab", lambda s: s.get("phase") == "Completed")
    found = [
        (f["address"], f["port"], f["path"], f["authRequired"], f.get("credentialsSecret"))
        for f in status["findings"]
    ]
    assert found == [
        ("127.0.0.2", port, "/cam1", False, None),
        ("127.0.0.3", port, "/secure", True, "lab-creds"),
    ]
    assert all(f["server"] == "GStreamer RTSP server" for f in status["findings"])
    assert status["found"] == 2
    assert status["total"] == status["scanned"] == 14  # a /28 without network and broadcast
    assert status["progress"] == "14/14"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Completed"
    creds = next(c for c in status["conditions"] if c["type"] == "Credentials")
    assert (creds["status"], creds["reason"]) == ("True", "SecretsUsable")
    assert PASSWORD not in json.dumps(status)
    row = kube.kubectl("get", "-n", NS, "dscan", "lab", "--no-headers").stdout.split()
    assert row[:4] == ["lab", "Completed", "14/14", "2"]

    cams = kube.get_json("-n", NS, "cam", "-l", "vas.io/discovery-scan=lab")["items"]
    assert len(cams) == 2
    by_url = {c["spec"]["source"]["url"]: c for c in cams}
    secure = by_url[f"rtsp://127.0.0.3:{port}/secure"]
    assert secure["spec"]["source"]["credentialsSecretRef"]["name"] == "lab-creds"
    assert secure["metadata"]["labels"]["site"] == "lab"
    assert f"rtsp://127.0.0.2:{port}/cam1" in by_url

    # A second run (any spec change re-scans) finds the same and creates nothing new.
    first_done = status["completionTime"]
    kube.apply(
        scan_doc(
            "lab", ["127.0.0.0/28"], port, cameraTemplate=template, rtspTimeoutMilliseconds=1500
        )
    )
    wait_scan(
        kube, "lab", lambda s: s.get("phase") == "Completed" and s.get("observedGeneration") == 2
    )
    names = {
        c["metadata"]["name"]
        for c in kube.get_json("-n", NS, "cam", "-l", "vas.io/discovery-scan=lab")["items"]
    }
    assert names == {c["metadata"]["name"] for c in cams}
    assert first_done


def test_scan_outside_the_allow_list_is_refused_without_traffic(lab: dict[str, Any]) -> None:
    kube, port, outside = lab["kube"], lab["port"], lab["outside"]
    kube.apply(scan_doc("forbidden", ["127.0.0.16/28"], port))
    status = wait_scan(kube, "forbidden", lambda s: s.get("phase") == "Failed")
    allowed = next(c for c in status["conditions"] if c["type"] == "Allowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "OutsideAllowList")
    assert "127.0.0.16/28 is outside the operator's allow-list" in allowed["message"]
    time.sleep(1)
    assert outside.connections == []
