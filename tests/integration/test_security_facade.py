"""Attacks on the facade, tried as a tenant or an anonymous client would, against the real API
server (TokenReview, SubjectAccessReview, RBAC), Janus, Redis, the operator, the facade and
Chromium. One test per finding of the tenant-isolation issue; each docstring states the attack.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_client
import yaml

from tests.facade_process import FacadeProcess, role_binding, run_browser, viewer_token
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import OperatorProcess, live_operator
from tests.support import (
    REPO,
    Cluster,
    credentials_secret,
    gateway_pod,
    poll,
    pool_settings,
)
from vas_core.identity import mountpoint_id
from vas_core.livekeys import live_key, thumbnail_key

pytestmark = pytest.mark.cluster
A, B = "sec-a", "sec-b"  # the victim's namespace (the operator's) and the attacker's
GATEWAY = "gw-sec-0"
PASSWORD = "s3cret-" + secrets.token_hex(6)  # the test camera's RTSP password
ARTIFACTS = REPO / "tests" / "artifacts"
# Viewers: alice and bob may watch A; greedy and revokee too; mallory only B.
VIEWERS = {"alice": A, "bob": A, "greedy": A, "revokee": A, "mallory": B}


def camera(
    namespace: str, name: str, url: str, secret_name: str | None = None, **spec: Any
) -> dict[str, Any]:
    source: dict[str, Any] = {"url": url}
    if secret_name is not None:
        source["credentialsSecretRef"] = {"name": secret_name}
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"source": source, **spec},
    }


@pytest.fixture(scope="module")
def world(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    logs = tmp_path_factory.mktemp("security-facade")
    for ns in (A, B):
        kube.kubectl("create", "namespace", ns)
    docs: list[dict[str, Any]] = []
    for sa, ns in VIEWERS.items():
        kube.kubectl("create", "serviceaccount", sa, "-n", ns)
        for doc in role_binding(ns, ns, sa):
            docs.append(doc)
    kube.apply({"apiVersion": "v1", "kind": "List", "items": docs})
    tokens = {sa: viewer_token(kube, sa, ns) for sa, ns in VIEWERS.items()}
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "CameraGroup",
            "metadata": {"name": "secret-wall", "namespace": A},
            "spec": {"selector": {"matchLabels": {"wall": "yes"}}},
        }
    )
    with (
        RtspCamera(mounts=["/cam1"], secure_mounts=[("/secure", "admin", PASSWORD)]) as rtsp,
        JanusGateway(loopback_ice=True) as janus,
        RedisServer() as redis,
    ):
        operator: OperatorProcess = live_operator(
            kube, janus, A, logs / "operator.log", GATEWAY, redis.url
        )
        operator.start()
        facade: FacadeProcess | None = None
        try:
            kube.apply(credentials_secret(A, "secure-credentials", "admin", PASSWORD))
            kube.apply(camera(A, "lobby", rtsp.url("/cam1"), description="victim"))
            kube.apply(camera(A, "secure", rtsp.url("/secure"), secret_name="secure-credentials"))  # noqa: S106
            kube.apply(camera(A, "dormant", rtsp.url("/cam1"), enabled=False))
            kube.apply(camera(B, "decoy", "rtsp://192.0.2.1/decoy"))
            for name in ("lobby", "secure"):
                kube.kubectl(
                    "wait", "-n", A, "--for=condition=Ready", f"cam/{name}", "--timeout=90s"
                )
            facade = FacadeProcess(
                kube,
                logs / "facade.log",
                redis.url,
                **pool_settings(A, A),  # the operator registered its gateway pod there
                janus_api_secret=janus.api_secret,
            ).start()
            yield {
                "kube": kube,
                "facade": facade,
                "tokens": tokens,
                "janus": janus,
                "redis": redis,
                "operator": operator,
                "answers": [],  # every answer body a viewer got, for the grep at the end
            }
        finally:
            if facade is not None:
                facade.stop()
            operator.stop()


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The facade's error object; fails unless the answer has exactly the facade's shape."""
    body = response.json()
    assert "detail" not in body, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "reason", "message"}, body
    assert error["code"] == response.status_code, body
    assert re.fullmatch(r"[A-Z][A-Za-z]+", error["reason"]), body
    return error


def janus_session(facade: FacadeProcess, handle: str, namespace: str, name: str) -> int:
    reply = facade.janus(namespace, name, "", handle, {"janus": "create"})
    assert reply.json()["janus"] == "success", reply.text
    return int(reply.json()["data"]["id"])


def janus_sessions(janus: JanusGateway) -> list[int]:
    body = {
        "janus": "list_sessions",
        "transaction": secrets.token_hex(6),
        "admin_secret": janus.admin_secret,
    }
    reply = httpx.post(janus.admin_url, json=body, timeout=10).json()
    return [int(s) for s in reply.get("sessions", [])]


def redis_value(store: redis_client.Redis, key: bytes) -> Any:
    kind = store.type(key).decode()  # type: ignore[union-attr]
    if kind == "string":
        return store.get(key)
    if kind == "hash":
        return store.hgetall(key)
    if kind == "zset":
        return store.zrange(key, 0, -1)
    return kind


def rss_kib(facade: FacadeProcess) -> int:
    assert facade.proc is not None
    status = Path(f"/proc/{facade.proc.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1])  # type: ignore[index]


def forge_status(kube: Cluster, namespace: str, name: str, target: int) -> None:
    patch = {
        "status": {
            "phase": "Ready",
            "gateway": {"pod": GATEWAY, "mountpointId": target},
        }
    }
    kube.kubectl(
        "patch",
        "camera",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )


# ---- finding 1 -------------------------------------------------------------------------


def test_forged_status_cannot_route_a_viewer_to_another_namespaces_camera(
    world: dict[str, Any],
) -> None:
    """A tenant writes another namespace's mountpoint id into their own camera's status and
    asks the facade to let them watch it."""
    kube, facade, mallory = world["kube"], world["facade"], world["tokens"]["mallory"]
    victim = mountpoint_id(A, "lobby")
    forge_status(kube, B, "decoy", victim)
    poll(
        lambda: facade.get(f"/api/v1/namespaces/{B}/cameras/decoy", mallory).json(),
        lambda d: d.get("mounted") is True,
        20,
        "the forged status in the facade's cache",
    )
    grant = facade.grant(mallory, B, "decoy").json()
    assert grant["mountpointId"] == mountpoint_id(B, "decoy") != victim
    session = janus_session(facade, grant["token"], B, "decoy")
    attach = {"janus": "attach", "plugin": "janus.plugin.streaming"}
    handle = facade.janus(B, "decoy", f"/{session}", grant["token"], attach).json()["data"]["id"]
    stolen = facade.janus(
        B,
        "decoy",
        f"/{session}/{handle}",
        grant["token"],
        {"janus": "message", "body": {"request": "watch", "id": victim}},
    )
    assert stolen.status_code == 403
    assert error_of(stolen)["reason"] == "Forbidden"
    # The victim's camera exists on the gateway; the decoy's derived mountpoint does not.
    assert victim in {m["id"] for m in world["janus"].mountpoints()}


def test_forged_status_does_not_play_in_the_browser(world: dict[str, Any]) -> None:
    """A tenant opens the viewer on their own camera whose status names another namespace's
    mountpoint, hoping Chromium plays the other camera under their camera's name."""
    kube, facade, mallory = world["kube"], world["facade"], world["tokens"]["mallory"]
    forge_status(kube, B, "decoy", mountpoint_id(A, "lobby"))
    ARTIFACTS.mkdir(exist_ok=True)
    result = run_browser(facade, mallory, f"{B}/decoy", ARTIFACTS / "viewer-forged-status.png")
    assert result["state"] == "offline", result
    assert result["width"] == 0
    # The same browser plays a camera the viewer may watch (the test can fail).
    played = run_browser(
        facade, world["tokens"]["alice"], f"{A}/lobby", ARTIFACTS / "viewer-own-camera.png"
    )
    assert played["state"] == "playing", played
    assert played["width"] == 640


# ---- routing to gateway pods -------------------------------------------------------------


class Trap:
    """An HTTP server that answers nothing useful and counts who called it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _hit(self) -> None:
                trap.hits.append(f"{self.command} {self.path}")
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _hit  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_tenant_pod_dressed_as_a_gateway_gets_no_viewer(world: dict[str, Any]) -> None:
    """A tenant runs a pod in their own namespace with the gateway pool's label and the name
    of the real gateway pod, its Janus ports pointing at a server of theirs, hoping the
    facade (or the operator) sends viewers' signalling or admin requests to it."""
    kube, facade, janus = world["kube"], world["facade"], world["janus"]
    trap, admin_trap = Trap(), Trap()
    try:
        gateway_pod(kube, B, GATEWAY, trap.port, admin_trap.port, A)
        time.sleep(3)  # let both watches see it, had they been looking
        for who, namespace, name in (("alice", A, "lobby"), ("mallory", B, "decoy")):
            grant = facade.grant(world["tokens"][who], namespace, name).json()
            assert grant["gateway"] == GATEWAY, grant
            session = janus_session(facade, grant["token"], namespace, name)
            assert session in janus_sessions(janus)  # the real gateway's session
            facade.janus(namespace, name, f"/{session}", grant["token"], {"janus": "destroy"})
        time.sleep(3)  # an operator round
        assert trap.hits == admin_trap.hits == []
    finally:
        kube.kubectl("delete", "pod", GATEWAY, "-n", B, "--wait=false", "--ignore-not-found")
        trap.close()
        admin_trap.close()


# ---- finding 4 (the facade's part) ------------------------------------------------------


def test_redis_content_is_served_as_data_never_as_markup(world: dict[str, Any]) -> None:
    """A pod that can write Redis plants script in live figures and an HTML page as a
    thumbnail, hoping the facade serves them to a viewer's browser."""
    facade, alice = world["facade"], world["tokens"]["alice"]
    store = redis_client.Redis.from_url(world["redis"].url)
    try:
        store.hset(
            live_key(A, "dormant"),
            mapping={
                "receiving": "1",
                "lastFrameAgeMs": "<script>alert(1)</script>",
                "gateway": "<img src=x onerror=alert(1)>",
                "note": "<b>hi</b>",
            },
        )
        store.set(thumbnail_key(A, "dormant"), b"<html><script>alert(1)</script></html>")
        detail = facade.get(f"/api/v1/namespaces/{A}/cameras/dormant", alice)
        assert detail.status_code == 200
        assert detail.json()["live"]["figures"] == {"receiving": True, "viewers": 0}
        assert "<" not in detail.text
        assert detail.headers["x-content-type-options"] == "nosniff"
        thumb = facade.get(f"/api/v1/namespaces/{A}/cameras/dormant/thumbnail.jpg", alice)
        assert thumb.status_code == 404
        assert error_of(thumb)["reason"] == "NotFound"
        jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
        store.set(thumbnail_key(A, "dormant"), jpeg)
        thumb = facade.get(f"/api/v1/namespaces/{A}/cameras/dormant/thumbnail.jpg", alice)
        assert thumb.status_code == 200
        assert thumb.content == jpeg
        assert thumb.headers["content-type"] == "image/jpeg"
        assert thumb.headers["x-content-type-options"] == "nosniff"
        page = httpx.get(facade.url + "/")
        assert "script-src" not in page.headers["content-security-policy"]  # default 'self'
        assert "default-src 'self'" in page.headers["content-security-policy"]
    finally:
        store.delete(live_key(A, "dormant"), thumbnail_key(A, "dormant"))
        store.close()


# ---- finding 5 ---------------------------------------------------------------------------


def test_no_bearer_token_in_any_url_or_log_line(world: dict[str, Any]) -> None:
    """A proxy or log reader collects the URLs the viewer requests and the facade's access
    log, hoping to find bearer tokens or signalling handles in them."""
    facade, alice = world["facade"], world["tokens"]["alice"]
    ARTIFACTS.mkdir(exist_ok=True)
    result = run_browser(facade, alice, f"{A}/lobby", ARTIFACTS / "viewer-no-token-in-urls.png")
    assert result["state"] == "playing", result
    gateway_urls = [u for u in result["urls"] if "/gateway/" in u]
    assert any("token=" in u for u in gateway_urls)  # janus.js long-polls with its handle
    assert not [u for u in result["urls"] if alice in u]
    # A long-poll by hand: its handle must not reach the access log either.
    grant = facade.grant(alice, A, "lobby").json()
    session = janus_session(facade, grant["token"], A, "lobby")
    polled = httpx.get(
        f"{facade.url}/gateway/{A}/lobby/janus/{session}",
        params={"token": grant["token"], "maxev": 1},
        timeout=40,
    )
    assert polled.status_code == 200, polled.text
    text = facade.log()
    assert f"GET /gateway/{A}/lobby/janus/{session} HTTP" in text
    assert "token=" not in text
    assert alice not in text
    assert grant["token"] not in text


# ---- finding 6 ---------------------------------------------------------------------------


def raw_http(facade: FacadeProcess, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request's head and (part of) its body over a plain socket, and read the answer
    without sending the rest: the facade must answer from what it has."""
    data, rest, header = b"", b"", b""
    with socket.create_connection(("127.0.0.1", facade.port), timeout=15) as sock:
        try:
            sock.sendall(head.encode() + body)
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            header, _, rest = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", header)
            while length and len(rest) < int(length[1]):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except (ConnectionResetError, BrokenPipeError):
            if not header:
                return 0, b""  # refused by closing the connection
    if not header:
        return 0, b""
    return int(header.split()[1]), rest


def test_huge_bodies_headers_and_tokens_are_refused_before_any_work(
    world: dict[str, Any],
) -> None:
    """Without any credentials, a client sends 40 MB bodies, 100 KB headers, 150 one-MB tokens
    and hundreds of large bogus tokens, hoping the facade reads, parses and caches them all."""
    facade = world["facade"]
    before = rss_kib(facade)
    path = f"/gateway/{A}/lobby/janus"

    def post_head(length: int | None) -> str:
        size = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
        return (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{size}\r\n\r\n"
        )

    # 40 MB announced: refused from the headers, before a byte of the body is read.
    status, body = raw_http(facade, post_head(40 * 1024 * 1024), b"{")
    assert status == 413
    assert json.loads(body)["error"]["reason"] == "PayloadTooLarge"
    # No length announced: reading stops at the limit.
    data = b'{"janus": "create", "x": "' + b" " * 0x20000
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(data[i : i + 0x8000]), data[i : i + 0x8000])
        for i in range(0, len(data), 0x8000)
    )
    status, body = raw_http(facade, post_head(None), framed)
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == 413
    for i in range(150):  # 1 MB tokens in Janus's token slot
        token = f"{i:04d}" + "x" * (1024 * 1024)
        payload = json.dumps({"janus": "create", "token": token}).encode()
        status, _ = raw_http(facade, post_head(len(payload)), payload[:65536])
        assert status == 413
    long_token = facade.get("/api/v1/cameras", "y" * 12_000)
    assert long_token.status_code == 401
    assert "longer than" in error_of(long_token)["message"]
    headers = facade.get("/api/v1/cameras", "z" * 40_000)
    assert headers.status_code == 431
    assert error_of(headers)["reason"] == "RequestHeaderFieldsTooLarge"
    head = "GET /api/v1/cameras HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + "m" * 100_000
    status, _ = raw_http(facade, head)
    assert status == 0 or 400 <= status < 500  # the HTTP parser's own limit (64 KiB)
    for i in range(300):  # distinct bogus tokens just under the limit: cached by hash, briefly
        assert facade.get("/api/v1/me", f"{i:04d}" + "t" * 8000).status_code == 401
    grown = rss_kib(facade) - before
    assert grown < 40 * 1024, f"the facade grew by {grown} KiB"
    assert facade.get("/readyz").status_code == 200


# ---- finding 7 ---------------------------------------------------------------------------


def test_one_viewer_cannot_starve_another(world: dict[str, Any]) -> None:
    """One viewer opens 60 Janus long-polls at once, hoping to exhaust the facade's
    connections to the gateway so other viewers get errors."""
    facade, tokens = world["facade"], world["tokens"]
    greedy = facade.grant(tokens["greedy"], A, "lobby").json()["token"]
    session = janus_session(facade, greedy, A, "lobby")
    poll_url = f"{facade.url}/gateway/{A}/lobby/janus/{session}"

    async def attack() -> tuple[list[int], list[float]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(8)) as http:

            async def one() -> int:
                try:
                    return (await http.get(poll_url, params={"token": greedy})).status_code
                except httpx.TimeoutException:
                    return 0  # still held open by Janus: a real long-poll

            polls = [asyncio.create_task(one()) for _ in range(60)]
            await asyncio.sleep(1)
            # Meanwhile another viewer of the same camera signs in and sets up a session.
            timings = []
            async with httpx.AsyncClient(timeout=10) as other:
                for _ in range(3):
                    started = time.monotonic()
                    grant = await other.post(
                        f"{facade.url}/api/v1/namespaces/{A}/cameras/lobby/signalling",
                        headers={"Authorization": f"Bearer {tokens['bob']}"},
                    )
                    handle = grant.json()["token"]
                    base = f"{facade.url}/gateway/{A}/lobby/janus"
                    made = await other.post(
                        base, json={"janus": "create", "transaction": "t", "token": handle}
                    )
                    assert made.json()["janus"] == "success", made.text
                    sid = made.json()["data"]["id"]
                    attach = {"janus": "attach", "plugin": "janus.plugin.streaming"}
                    attached = await other.post(
                        f"{base}/{sid}", json={"transaction": "t", "token": handle, **attach}
                    )
                    assert attached.json()["janus"] == "success", attached.text
                    destroyed = await other.post(
                        f"{base}/{sid}",
                        json={"janus": "destroy", "transaction": "t", "token": handle},
                    )
                    assert destroyed.json()["janus"] == "success"
                    timings.append(time.monotonic() - started)
            return list(await asyncio.gather(*polls)), timings

    statuses, timings = asyncio.run(attack())
    assert max(timings) < 3, timings
    assert statuses.count(429) >= 40, statuses
    assert all(s in (0, 200, 429) for s in statuses), statuses


# ---- finding 8 ---------------------------------------------------------------------------


def test_a_janus_session_belongs_to_the_viewer_who_created_it(world: dict[str, Any]) -> None:
    """A second viewer allowed to watch the same camera uses the first viewer's Janus session
    id (seen in a shared log or guessed) with their own signalling handle."""
    facade, tokens = world["facade"], world["tokens"]
    alice = facade.grant(tokens["alice"], A, "lobby").json()["token"]
    bob = facade.grant(tokens["bob"], A, "lobby").json()["token"]
    session = janus_session(facade, alice, A, "lobby")
    attach = {"janus": "attach", "plugin": "janus.plugin.streaming"}
    for body in ({"janus": "keepalive"}, attach):
        hijack = facade.janus(A, "lobby", f"/{session}", bob, body)
        assert hijack.status_code == 403
        assert hijack.json()["janus"] == "error"
        assert error_of(hijack)["reason"] == "Forbidden"
    polled = httpx.get(
        f"{facade.url}/gateway/{A}/lobby/janus/{session}", params={"token": bob}, timeout=10
    )
    assert polled.status_code == 403
    # The owner still can.
    assert facade.janus(A, "lobby", f"/{session}", alice, attach).json()["janus"] == "success"
    assert facade.janus(A, "lobby", f"/{session}", alice, {"janus": "destroy"}).status_code == 200


# ---- finding 9 ---------------------------------------------------------------------------


def test_revoked_access_stops_within_five_seconds(world: dict[str, Any]) -> None:
    """A viewer whose RoleBinding was just deleted keeps using the facade and their open Janus
    session, hoping cached answers let them watch on."""
    kube, facade, janus = world["kube"], world["facade"], world["janus"]
    token = world["tokens"]["revokee"]
    assert facade.get(f"/api/v1/namespaces/{A}/cameras/lobby", token).status_code == 200
    handle = facade.grant(token, A, "lobby").json()["token"]
    session = janus_session(facade, handle, A, "lobby")
    assert session in janus_sessions(janus)
    kube.kubectl("delete", "rolebinding", "vas-viewer-revokee", "-n", A)
    revoked = time.monotonic()
    poll(
        lambda: facade.get(f"/api/v1/namespaces/{A}/cameras/lobby", token).status_code,
        lambda code: code == 403,
        10,
        "403 after the RoleBinding was deleted",
    )
    assert time.monotonic() - revoked <= 6.5
    # The open session is ended on the gateway as well, not merely refused at the facade.
    poll(lambda: janus_sessions(janus), lambda s: session not in s, 15, "the session ended")
    assert time.monotonic() - revoked <= 12
    assert f"ending Janus session of system:serviceaccount:{A}:revokee" in facade.log()
    assert facade.janus(A, "lobby", f"/{session}", handle, {"janus": "keepalive"}).status_code in (
        401,
        403,
    )


# ---- finding 10 --------------------------------------------------------------------------


def test_lookups_look_the_same_for_forbidden_and_absent(world: dict[str, Any]) -> None:
    """A viewer probes group and camera names in a namespace they may not see, telling
    existing objects from absent ones by the answer."""
    facade, mallory = world["facade"], world["tokens"]["mallory"]

    def ask(path: str, **params: Any) -> tuple[int, str]:
        reply = facade.get(path, mallory, **params)
        error_of(reply)
        return reply.status_code, reply.text

    exists = ask("/api/v1/cameras", namespace=A, group="secret-wall")
    absent = ask("/api/v1/cameras", namespace=A, group="no-such-wall")
    assert exists[0] == absent[0] == 404
    assert exists[1].replace("secret-wall", "X") == absent[1].replace("no-such-wall", "X")
    nowhere = ask("/api/v1/cameras", namespace="no-such-namespace", group="secret-wall")
    assert nowhere[0] == 404
    cam = ask(f"/api/v1/namespaces/{A}/cameras/lobby")
    nocam = ask(f"/api/v1/namespaces/{A}/cameras/no-such-camera")
    assert cam == nocam
    for path in ("lobby", "no-such-camera"):
        grant = facade.grant(mallory, A, path)
        assert grant.status_code == 403
    # Someone allowed in A sees the group.
    mine = facade.get("/api/v1/cameras", world["tokens"]["alice"], namespace=A, group="secret-wall")
    assert mine.status_code == 200


# ---- finding 12 --------------------------------------------------------------------------


def test_malformed_input_gets_a_4xx_in_the_facade_shape(world: dict[str, Any]) -> None:
    """A client sends wrong JSON types, deep nesting, huge tokens and bad parameters, hoping
    for a 500 (and a stack trace) from the facade."""
    facade, alice = world["facade"], world["tokens"]["alice"]
    handle = facade.grant(alice, A, "lobby").json()["token"]
    url = f"{facade.url}/gateway/{A}/lobby/janus"
    deep = '{"janus": "create", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    raw_bodies: list[bytes] = [
        b"not json",
        b"[1, 2]",
        b"\xff\xfe",
        deep.encode(),
        json.dumps({"janus": 1, "token": handle}).encode(),
        json.dumps({"janus": ["create"], "token": handle}).encode(),
        json.dumps({"janus": "create", "token": {}}).encode(),
        json.dumps({"janus": "create", "token": 123}).encode(),
        json.dumps({"janus": "create", "token": "t" * 20_000}).encode(),
        json.dumps({"janus": "create", "transaction": {}, "token": handle}).encode(),
    ]
    for raw in raw_bodies:
        reply = httpx.post(url, content=raw, headers={"content-type": "application/json"})
        assert 400 <= reply.status_code < 500, (raw[:80], reply.text)
        assert reply.json()["janus"] == "error"
        error_of(reply)
    session = janus_session(facade, handle, A, "lobby")
    attach = {"janus": "attach", "plugin": "janus.plugin.streaming"}
    plugin = facade.janus(A, "lobby", f"/{session}", handle, attach).json()["data"]["id"]
    for body in (
        {"janus": "message", "body": "watch"},
        {"janus": "message", "body": {"request": ["watch"]}},
        {"janus": "message", "body": {"request": "watch", "id": "1"}},
        {"janus": "message", "body": {"request": "watch", "id": True}},
        {"janus": "message", "body": {"request": "start"}, "jsep": "sdp"},
        {"janus": "message", "body": {"request": "start"}, "jsep": {"type": 1, "sdp": "x"}},
        {"janus": "trickle", "candidate": "x"},
        {"janus": "trickle", "candidates": {"candidate": "x"}},
        {"janus": "trickle", "candidate": {"candidate": ["x"]}},
        {"janus": {"x": 1}},
    ):
        reply = facade.janus(A, "lobby", f"/{session}/{plugin}", handle, body)
        assert reply.status_code == 400, (body, reply.text)
        assert error_of(reply)["reason"] == "BadRequest"
    for path, params in (
        ("/api/v1/cameras", {"limit": "many"}),
        ("/api/v1/cameras", {"limit": "100000"}),
        ("/api/v1/cameras", {"continue": "!!!"}),
        ("/api/v1/no-such-endpoint", {}),
        (f"/gateway/{A}/lobby/janus/not-a-number", {}),
        (f"/gateway/{A}/lobby/janus/99999999999999999999999", {}),
    ):
        reply = facade.get(path, alice, **params)
        assert 400 <= reply.status_code < 500, (path, reply.text)
        error_of(reply)
    wrong_method = httpx.put(f"{facade.url}/api/v1/cameras")
    assert wrong_method.status_code == 405
    error_of(wrong_method)
    assert "Traceback" not in facade.log()


# ---- finding 13 (the facade's part) -----------------------------------------------------


def test_only_tokens_for_the_vas_audience_are_accepted(world: dict[str, Any]) -> None:
    """A viewer pastes an ordinary API-server token (or a vas token is stolen and replayed
    against the API server)."""
    kube, facade = world["kube"], world["facade"]
    server_token = viewer_token(kube, "alice", A, audience="")
    refused = facade.get("/api/v1/me", server_token)
    assert refused.status_code == 401
    assert "audience vas" in error_of(refused)["message"]
    vas_token = world["tokens"]["alice"]
    me = facade.get("/api/v1/me", vas_token)
    assert me.status_code == 200
    assert me.json()["username"] == f"system:serviceaccount:{A}:alice"
    # A vas token is useless against the API server itself.
    direct = httpx.get(
        f"{kube.server}/api/v1/namespaces/{A}/pods",
        headers={"Authorization": f"Bearer {vas_token}"},
        verify=False,  # noqa: S501  (the local cluster's own CA)
    )
    assert direct.status_code == 401


def test_a_client_cannot_choose_its_janus_session_id(world: dict[str, Any]) -> None:
    """A viewer creates a Janus session with an id of their choosing, to predict or collide
    with other sessions."""
    facade, janus = world["facade"], world["janus"]
    handle = facade.grant(world["tokens"]["alice"], A, "lobby").json()["token"]
    chosen = 4242424242
    reply = facade.janus(A, "lobby", "", handle, {"janus": "create", "id": chosen})
    assert reply.status_code == 403
    assert "session id" in error_of(reply)["message"]
    assert chosen not in janus_sessions(janus)


# ---- secrets in logs and answers -------------------------------------------------------


def test_password_and_tokens_appear_in_no_log_and_no_answer(world: dict[str, Any]) -> None:
    """A viewer or log reader looks for the camera's RTSP password or viewers' bearer tokens
    in every answer a viewer can get and in every log the system writes."""
    facade, tokens, janus = world["facade"], world["tokens"], world["janus"]
    alice = tokens["alice"]
    answers: list[str] = []
    for path in (
        "/api/v1/cameras",
        f"/api/v1/cameras?namespace={A}",
        "/api/v1/groups",
        "/api/v1/me",
        f"/api/v1/namespaces/{A}/cameras/secure",
        f"/api/v1/namespaces/{A}/cameras/secure/yaml",
        f"/api/v1/namespaces/{A}/cameras/secure/thumbnail.jpg",
        "/openapi.json",
    ):
        reply = facade.get(path, alice)
        answers.append(reply.text if "thumbnail" not in path else repr(reply.content))
        answers.append(json.dumps(dict(reply.headers)))
    assert yaml.safe_load(answers[10])["spec"]["source"]["credentialsSecretRef"]
    # Signalling for the password-protected camera, all the way to an SDP offer.
    grant = facade.grant(alice, A, "secure").json()
    handle = grant["token"]
    session = janus_session(facade, handle, A, "secure")
    attach = {"janus": "attach", "plugin": "janus.plugin.streaming"}
    plugin = facade.janus(A, "secure", f"/{session}", handle, attach).json()["data"]["id"]
    watch = {"janus": "message", "body": {"request": "watch", "id": grant["mountpointId"]}}
    answers.append(facade.janus(A, "secure", f"/{session}/{plugin}", handle, watch).text)
    event = httpx.get(
        f"{facade.url}/gateway/{A}/secure/janus/{session}",
        params={"token": handle, "maxev": 5},
        timeout=40,
    )
    answers.append(event.text)
    assert "sdp" in event.text, event.text
    ARTIFACTS.mkdir(exist_ok=True)
    played = run_browser(facade, alice, f"{A}/secure", ARTIFACTS / "viewer-secure.png")
    assert played["state"] == "playing", played
    answers.append(json.dumps(played))
    time.sleep(1)  # let the logs catch up
    logs = {
        "operator": world["operator"].log(),
        "facade": facade.log(),
        "janus": janus.log_path.read_text(errors="replace"),
    }
    assert all(logs.values()), {k: len(v) for k, v in logs.items()}
    secret_values = {
        "password": PASSWORD,
        "signalling handle": handle,
        "Janus api_secret": janus.api_secret,
    }
    secret_values |= {f"token of {sa}": token for sa, token in tokens.items()}
    # Nor in what the facade replicas share through Redis (grants, sessions, placement).
    store = redis_client.Redis.from_url(world["redis"].url)
    try:
        dump = b"".join(
            key + b"=" + repr(redis_value(store, key)).encode() for key in store.scan_iter()
        )
    finally:
        store.close()
    assert b"vas:grant:" in dump
    assert b"vas:session:" in dump
    for what, value in secret_values.items():
        assert value.encode() not in dump, f"{what} in Redis"
        for source, text in logs.items():
            assert value not in text, f"{what} in the {source} log"
        if what != "signalling handle":  # handed out in answers on purpose
            for text in answers:
                assert value not in text, f"{what} in an answer"
