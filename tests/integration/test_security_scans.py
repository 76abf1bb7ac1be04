"""Attacks through DiscoveryScan, against the real API server and operator: tenants who may
write DiscoveryScans (but not read Secrets) try to exfiltrate Secrets, to port-scan what VAS
itself runs or what the operator's source policy denies, and to inject RTSP request lines.

Every listener here is a real socket on loopback that records what it receives, so "never
sent" is checked where it would have arrived.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.media.fixtures import JanusGateway
from tests.operator_process import OperatorProcess, operator_for
from tests.recorder import Recorder
from tests.support import Cluster, credentials_secret, free_port, poll

pytestmark = pytest.mark.cluster
NS = "scan-security"
USER = "admin"
TYPED_PASSWORD = f"typed-{secrets.token_hex(6)}"
PLAIN_PASSWORD = f"plain-{secrets.token_hex(6)}"
# Addresses of this module, apart from test_discovery's 127.0.0.2-20.
SERVICES_RANGE = "127.0.0.64/29"  # .65-.70
CAMERA_HOST = "127.0.0.73"
DENIED = "127.0.0.112/28"
DENIED_TARGET = "127.0.0.96/27"  # overlaps DENIED
ALLOWED_BESIDE_DENIED = "127.0.0.97"


def header(head: str, name: str) -> str | None:
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def rtsp_camera(paths: dict[str, str], username: str, password: str) -> Callable[[str], bytes]:
    """A camera speaking just enough RTSP: per path "open" (200), "no-challenge" (401 without
    WWW-Authenticate), "basic" (401 Basic challenge) or "digest" (401 offering Digest and
    Basic); it checks Basic and Digest answers against the one user it knows."""
    nonce = secrets.token_hex(8)

    def reply(cseq: str, status: str, extra: str = "", body: str = "") -> bytes:
        return (
            f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\nServer: recorder\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    def answer(head: str) -> bytes:
        method, url = [*head.split("\r\n", 1)[0].split(" "), "", ""][:2]
        cseq = header(head, "CSeq") or "0"
        if method == "OPTIONS":
            return reply(cseq, "200 OK", "Public: OPTIONS, DESCRIBE\r\n")
        kind = paths.get(urlsplit(url).path, "missing")
        if kind == "missing":
            return reply(cseq, "404 Not Found")
        if kind == "open":
            return reply(cseq, "200 OK", "Content-Type: application/sdp\r\n", "v=0\r\n")
        auth = header(head, "Authorization") or ""
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        if kind == "basic" and auth == f"Basic {basic}":
            return reply(cseq, "200 OK", "Content-Type: application/sdp\r\n", "v=0\r\n")
        if kind == "digest" and auth.startswith("Digest "):
            ha1 = hashlib.md5(f"{username}:cam:{password}".encode()).hexdigest()  # noqa: S324
            ha2 = hashlib.md5(f"DESCRIBE:{url}".encode()).hexdigest()  # noqa: S324
            want = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
            if f'response="{want}"' in auth:
                return reply(cseq, "200 OK", "Content-Type: application/sdp\r\n", "v=0\r\n")
        challenge = {
            "no-challenge": "",
            "basic": 'WWW-Authenticate: Basic realm="cam"\r\n',
            "digest": 'WWW-Authenticate: Basic realm="cam"\r\n'
            f'WWW-Authenticate: Digest realm="cam", nonce="{nonce}"\r\n',
        }[kind]
        return reply(cseq, "401 Unauthorized", challenge)

    return answer


def plain_secret(name: str, password: str) -> dict[str, Any]:
    """What a tenant might name: an ordinary Secret with the right keys but no opt-in."""
    doc = credentials_secret(NS, name, USER, password)
    doc["type"] = "Opaque"
    return doc


def typed_secret(name: str, password: str) -> dict[str, Any]:
    return credentials_secret(NS, name, USER, password)  # type vas.io/rtsp-credentials


@pytest.fixture(scope="module")
def lab(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    kube.kubectl("create", "namespace", NS)
    kube.apply(plain_secret("plain-creds", PLAIN_PASSWORD))
    kube.apply(typed_secret("typed-creds", TYPED_PASSWORD))
    work = tmp_path_factory.mktemp("scan-security")
    # The Janus Admin API of this operator is a recorder on 127.0.0.1: a VAS service that
    # must never be swept. No Camera exists here, so the operator itself never calls it.
    admin = Recorder("127.0.0.1", free_port(), lambda head: b"HTTP/1.1 503 x\r\n\r\n")
    gateway = JanusGateway(ip="127.0.0.1", admin_port=admin.port, workdir=work / "janus")
    operator: OperatorProcess = operator_for(
        kube,
        gateway,
        NS,
        work / "operator.log",
        mountpoint_key=secrets.token_hex(8),
        discovery_allowed_cidrs=json.dumps(["127.0.0.0/24", "::ffff:127.0.0.0/120"]),
        source_denied_cidrs=json.dumps(["169.254.0.0/16", DENIED]),
        health_interval_seconds="600",
    )
    operator.start()
    try:
        yield {"kube": kube, "operator": operator, "admin": admin}
    finally:
        operator.stop()
        admin.close()


def scan_doc(name: str, targets: list[str], ports: list[int], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "DiscoveryScan",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "targets": targets,
            "ports": ports,
            "connectTimeoutMilliseconds": 300,
            "rtspTimeoutMilliseconds": 1000,
            **extra,
        },
    }


def wait_scan(kube: Cluster, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    return poll(
        lambda: kube.get_json("-n", NS, "dscan", name).get("status", {}),
        lambda s: s.get("phase") == phase,
        timeout,
        f"scan {name} {phase}",
    )


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_scan_never_offers_a_secret_that_did_not_opt_in(lab: dict[str, Any]) -> None:
    """A tenant names an ordinary Secret in a scan so that the operator sends its values to a
    host the tenant listens on."""
    kube, operator = lab["kube"], lab["operator"]
    port = free_port()
    camera = Recorder(CAMERA_HOST, port, rtsp_camera({"/cam": "basic"}, USER, TYPED_PASSWORD))
    try:
        kube.apply(
            scan_doc(
                "exfiltrate",
                [CAMERA_HOST],
                [port],
                paths=["/cam"],
                credentialsSecretRefs=[{"name": "plain-creds"}, {"name": "typed-creds"}],
            )
        )
        status = wait_scan(kube, "exfiltrate", "Completed")
    finally:
        camera.close()
    received = camera.received()
    plain_basic = base64.b64encode(f"{USER}:{PLAIN_PASSWORD}".encode())
    assert PLAIN_PASSWORD.encode() not in received
    assert plain_basic not in received
    # The opted-in Secret was offered (in answer to the challenge) and opened the camera.
    assert base64.b64encode(f"{USER}:{TYPED_PASSWORD}".encode()) in received
    (found,) = status["findings"]
    assert (found["authRequired"], found.get("credentialsSecret")) == (True, "typed-creds")
    creds = condition(status, "Credentials")
    assert (creds["status"], creds["reason"]) == ("False", "SecretNotOptedIn")
    assert "plain-creds" in creds["message"]
    assert "vas.io/rtsp-credentials" in creds["message"]
    assert "typed-creds" not in creds["message"]
    assert PLAIN_PASSWORD not in json.dumps(status)
    assert PLAIN_PASSWORD not in operator.log()


def test_scan_sends_credentials_only_in_answer_to_a_challenge(lab: dict[str, Any]) -> None:
    """A host that never asks for credentials (or asks without naming a scheme) tries to
    collect them as Basic from a scan's first request."""
    kube = lab["kube"]
    port = free_port()
    paths = {"/open": "open", "/silent": "no-challenge", "/basic": "basic", "/digest": "digest"}
    camera = Recorder(CAMERA_HOST, port, rtsp_camera(paths, USER, TYPED_PASSWORD))
    try:
        kube.apply(
            scan_doc(
                "challenge",
                [CAMERA_HOST],
                [port],
                paths=list(paths),
                credentialsSecretRefs=[{"name": "typed-creds"}],
            )
        )
        status = wait_scan(kube, "challenge", "Completed")
    finally:
        camera.close()
    by_path = {f["path"]: f for f in status["findings"]}
    assert by_path["/open"]["authRequired"] is False
    assert by_path["/silent"]["authRequired"] is True
    assert "credentialsSecret" not in by_path["/silent"]
    assert by_path["/basic"]["credentialsSecret"] == "typed-creds"
    assert by_path["/digest"]["credentialsSecret"] == "typed-creds"

    answered: dict[str, list[str | None]] = {}
    for conn in camera.connections:
        for head in conn.requests():
            line = head.split("\r\n", 1)[0]
            if line.startswith("DESCRIBE"):
                path = urlsplit(line.split(" ")[1]).path
                answered.setdefault(path, []).append(header(head, "Authorization"))
    assert answered["/open"] == [None]
    assert answered["/silent"] == [None]  # a 401 without a challenge gets no credentials
    basic = base64.b64encode(f"{USER}:{TYPED_PASSWORD}".encode()).decode()
    assert answered["/basic"] == [None, f"Basic {basic}"]  # first without, then the answer
    first, second = answered["/digest"]
    assert first is None
    assert second is not None
    assert second.startswith("Digest ")  # Digest when offered, even next to Basic
    received = camera.received()
    assert received.count(basic.encode()) == 1  # only to the path that asked for Basic
    assert TYPED_PASSWORD.encode() not in received


def sweep_workers_of(pid: int) -> list[int]:
    """The operator's sweep worker processes (``scanning/workers.py``), found in /proc."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and b"sweep_worker" in (proc / "cmdline").read_bytes():
                stat = (proc / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(proc.name))
    return found


@pytest.mark.parametrize(
    ("name", "wide", "addresses", "filler_ports", "stand_ins"),
    [
        # 127.0.0.1 and the stand-ins' /29: few endpoints, swept in the operator's thread
        ("services", [], 7, 0, 65),
        # 320 addresses x 13 ports, past shards.MIN_SHARDED: swept by the worker processes,
        # which must skip exactly what the operator would (the /25 twice: the allowed /24
        # less the denied range holds too few addresses)
        (
            "services-sharded",
            ["127.0.0.0/26", "127.0.0.128/25", "127.0.0.128/25"],
            62 + 126 + 126 + 6,
            9,
            68,  # other stand-in addresses: a Recorder's port stays bound after close()
        ),
    ],
)
def test_scan_over_vas_service_ports_never_connects_to_them(
    lab: dict[str, Any],
    name: str,
    wide: list[str],
    addresses: int,
    filler_ports: int,
    stand_ins: int,
) -> None:
    """A tenant sweeps loopback on the ports of the Janus Admin API, the operator's metrics
    and the API server to find (and fingerprint) VAS's own services."""
    kube, operator, admin = lab["kube"], lab["operator"], lab["admin"]
    api_port = int(urlsplit(kube.server).port or 443)
    camera_port = free_port()
    # Stand-ins for the same services listening on a wildcard address: reachable on every
    # loopback address, so the sweep must skip those ports there too.
    beside = [
        Recorder(f"127.0.0.{stand_ins}", admin.port),
        Recorder(f"127.0.0.{stand_ins + 1}", operator.metrics_port),
    ]
    camera_ip = f"127.0.0.{stand_ins + 2}"
    camera = Recorder(camera_ip, camera_port, rtsp_camera({"/cam": "open"}, USER, "x"))
    ports = [admin.port, operator.metrics_port, api_port, camera_port]
    while len(ports) < 4 + filler_ports:  # nothing listens there: refused at once
        ports = sorted(set(ports) | {free_port()})
    # 127.0.0.1 is in the /26 already
    wanted = [*(wide or ["127.0.0.1"]), SERVICES_RANGE]
    try:
        kube.apply(scan_doc(name, wanted, ports, paths=["/cam"]))
        status = wait_scan(kube, name, "Completed")
    finally:
        for r in (*beside, camera):
            r.close()
    sweep_connections = [c for c in admin.connections if not bytes(c.data).startswith(b"POST ")]
    assert sweep_connections == []
    assert all(r.connections == [] for r in beside)
    # Every address x 3 VAS ports skipped; the camera port was swept and the camera found.
    assert status["skipped"] == addresses * 3
    assert status["total"] == status["scanned"] == addresses * len(ports)
    assert [(f["address"], f["port"]) for f in status["findings"]] == [(camera_ip, camera_port)]
    assert f"skipped {addresses * 3} that are VAS services" in condition(status, "Ready")["message"]
    if wide:
        assert operator.proc is not None
        assert sweep_workers_of(operator.proc.pid)  # the sweep went through them


def test_scan_into_a_denied_range_is_refused_before_any_packet(lab: dict[str, Any]) -> None:
    """A tenant scans a range that overlaps what the operator's source policy denies, hoping
    the allowed part of it (or the denied part) gets swept anyway."""
    kube = lab["kube"]
    port = free_port()
    listeners = [Recorder("127.0.0.113", port), Recorder(ALLOWED_BESIDE_DENIED, port)]
    try:
        kube.apply(scan_doc("denied", [DENIED_TARGET], [port], paths=["/cam"]))
        status = wait_scan(kube, "denied", "Failed")
        time.sleep(1)
    finally:
        for r in listeners:
            r.close()
    assert all(r.connections == [] for r in listeners)
    allowed = condition(status, "Allowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "SourceNotAllowed")
    assert condition(status, "Ready")["reason"] == "SourceNotAllowed"
    assert status.get("findings", []) == []
    assert f"overlaps {DENIED}" in allowed["message"]


@pytest.mark.parametrize(
    "path",
    ["/cam1\r\nAuthorization:Basic\tYWRtaW46YWRtaW4=", "/cam1\nX-Evil:1", "/cam\u00851"],
    ids=["crlf", "lf", "nel"],
)
def test_scan_paths_that_inject_request_lines_are_refused(lab: dict[str, Any], path: str) -> None:
    """A tenant puts CR/LF (or another line break) in a scan path to add headers or a second
    request to what the operator sends a camera."""
    kube = lab["kube"]
    result = kube.apply(scan_doc("inject", [CAMERA_HOST], [554], paths=[path]), check=False)
    assert result.returncode != 0
    assert "without spaces or control characters" in result.stderr
    assert kube.kubectl("get", "-n", NS, "dscan", "inject", check=False).returncode != 0


def test_forged_status_does_not_make_a_scan_repeat(lab: dict[str, Any]) -> None:
    """A tenant with discoveryscans/status sets nextScanTime in the past, hoping the operator
    sweeps their ranges every 15 s instead of once an hour."""
    kube = lab["kube"]
    kube.apply(scan_doc("hourly", ["127.0.0.200/32"], [free_port()], intervalSeconds=3600))
    first = wait_scan(kube, "hourly", "Completed")
    forged = {"status": {"nextScanTime": "2000-01-01T00:00:00Z", "phase": "Completed"}}
    kube.kubectl(
        "patch",
        "dscan",
        "hourly",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(forged),
    )
    time.sleep(20)  # longer than the repeat timer's period (15 s)
    after = kube.get_json("-n", NS, "dscan", "hourly")["status"]
    assert after["startTime"] == first["startTime"], "the forged status started a new sweep"
