"""Opening a stream in one request: ``POST .../signalling`` with ``{"watch": ...}`` makes the
Janus session, attaches the streaming plugin, sends ``watch`` and answers Janus's offer (what
the web viewer does before its first frame). Against real parts: the API server (TokenReview,
SubjectAccessReview), Redis, the operator, Janus and an RTSP camera.

Checked here: the session is the viewer's (usable with the handle, on the camera's pod), the
mountpoint is the camera's own, and nothing reaches Janus for a viewer who may not watch or
for a body the facade refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.facade_process import FacadeProcess, add_viewer, viewer_token
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import live_operator
from tests.support import Cluster, pool_settings

pytestmark = pytest.mark.cluster
NS, OTHER, GATEWAY = "open-a", "open-b", "gw-open-0"


@pytest.fixture(scope="module")
def world(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    logs = tmp_path_factory.mktemp("signalling-open")
    for ns in (NS, OTHER):
        kube.kubectl("create", "namespace", ns)
    add_viewer(kube, NS)
    kube.kubectl("create", "serviceaccount", "outsider", "-n", OTHER)
    tokens = {sa: viewer_token(kube, sa, ns) for sa, ns in (("viewer", NS), ("outsider", OTHER))}
    with (
        RtspCamera(mounts=["/cam1"]) as camera,
        JanusGateway(loopback_ice=True) as janus,
        RedisServer() as redis,
    ):
        operator = live_operator(kube, janus, NS, logs / "operator.log", GATEWAY, redis.url)
        operator.start()
        facade: FacadeProcess | None = None
        try:
            kube.apply(
                {
                    "apiVersion": "vas.io/v1alpha1",
                    "kind": "Camera",
                    "metadata": {"name": "door", "namespace": NS},
                    "spec": {"source": {"url": camera.url("/cam1")}},
                }
            )
            kube.kubectl("wait", "-n", NS, "--for=condition=Ready", "cam/door", "--timeout=60s")
            facade = FacadeProcess(
                kube,
                logs / "facade.log",
                redis.url,
                **pool_settings(NS, NS),
                janus_api_secret=janus.api_secret,
            ).start()
            yield {"facade": facade, "janus": janus, "tokens": tokens}
        finally:
            if facade is not None:
                facade.stop()
            operator.stop()


def sessions(janus: JanusGateway) -> set[int]:
    """The sessions Janus holds, from its Admin API."""
    body = {"janus": "list_sessions", "transaction": "t", "admin_secret": janus.admin_secret}
    reply = httpx.post(janus.admin_url, json=body, timeout=10).json()
    return set(reply["sessions"])


def open_stream(facade: FacadeProcess, token: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{facade.url}/api/v1/namespaces/{NS}/cameras/door/signalling",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=30,
    )


def test_one_request_opens_a_session_watching_the_camera(world: dict[str, Any]) -> None:
    facade, janus, token = world["facade"], world["janus"], world["tokens"]["viewer"]
    opened = open_stream(facade, token, {"watch": "main"})
    assert opened.status_code == 200, opened.text
    got = opened.json()
    assert opened.headers["cache-control"] == "no-store"
    assert got["stream"] == "main"
    assert got["gateway"] == GATEWAY
    assert got["offer"]["type"] == "offer"
    assert "m=video" in got["offer"]["sdp"]
    assert "a=candidate" in got["offer"]["sdp"]  # no trickle needed from Janus
    assert got["session"] in sessions(janus)
    # The session is the viewer's, through the usual path, with the handle.
    keepalive = facade.janus(NS, "door", f"/{got['session']}", got["token"], {"janus": "keepalive"})
    assert keepalive.json()["janus"] == "ack", keepalive.text
    # A sub-stream the camera does not have: its main stream.
    fallback = open_stream(facade, token, {"watch": "sub"}).json()
    assert fallback["stream"] == "main"
    assert fallback["substreamMountpointId"] is None
    for made in (got, fallback):
        path = f"/{made['session']}"
        gone = facade.janus(NS, "door", path, made["token"], {"janus": "destroy"})
        assert gone.json()["janus"] == "success", gone.text
        assert made["session"] not in sessions(janus)
    # Without a body: a handle only, as before; no session is made.
    before = sessions(janus)
    plain = open_stream(facade, token, None).json()
    assert "offer" not in plain or plain["offer"] is None
    assert sessions(janus) == before


def test_nothing_reaches_janus_for_refused_viewers_or_bodies(world: dict[str, Any]) -> None:
    facade, janus, tokens = world["facade"], world["janus"], world["tokens"]
    before = sessions(janus)
    outsider = open_stream(facade, tokens["outsider"], {"watch": "main"})
    assert outsider.status_code in {403, 404}, outsider.text
    nobody = open_stream(facade, "not-a-token", {"watch": "main"})
    assert nobody.status_code == 401
    for bad in (
        {"watch": "other"},
        {"watch": "main", "id": 1},  # a viewer never names a mountpoint
        {"watch": ["main"]},
        [],
        "main",
    ):
        refused = open_stream(facade, tokens["viewer"], bad)
        assert 400 <= refused.status_code < 500, (bad, refused.text)
        assert "error" in refused.json()
    assert sessions(janus) == before
