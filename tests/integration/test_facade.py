"""The read facade and the web viewer against real parts: the API server (TokenReview,
SubjectAccessReview, watch), Redis, the operator, Janus, an RTSP camera and Chromium."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_client
import yaml

from tests.facade_process import (
    FacadeProcess,
    RoundRobinProxy,
    role_binding,
    run_browser,
    viewer_token,
)
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import OperatorProcess, live_operator
from tests.support import REPO, Cluster, gateway_pod, poll, pool_settings
from vas_core.identity import mountpoint_id
from vas_core.livekeys import PLACEMENT_KEY
from vas_operator.mountpoints import mountpoint_secret

pytestmark = pytest.mark.cluster
LIVE, OTHER, BULK = "facade-a", "facade-b", "facade-list"
ARTIFACTS = REPO / "tests" / "artifacts"
GATEWAYS = ("gw-facade-0", "gw-facade-1")


@pytest.fixture(scope="module")
def world(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    logs = tmp_path_factory.mktemp("facade")
    for ns in (LIVE, OTHER, BULK):
        kube.kubectl("create", "namespace", ns)
    kube.kubectl("create", "serviceaccount", "viewer", "-n", LIVE)
    kube.kubectl("create", "serviceaccount", "outsider", "-n", OTHER)
    docs = role_binding(LIVE, LIVE, "viewer") + role_binding(BULK, LIVE, "viewer")
    kube.kubectl(
        "apply",
        "-f",
        "-",
        stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs}),
    )
    tokens = {sa: viewer_token(kube, sa, ns) for sa, ns in (("viewer", LIVE), ("outsider", OTHER))}
    bulk = [
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {
                "name": f"cam-{i:04d}",
                "namespace": BULK,
                "labels": {"zone": f"z{i % 4}", "floor": str(i % 10)},
            },
            "spec": {
                "source": {"url": f"rtsp://192.0.2.{i % 250 + 1}/s{i}"},
                "description": f"bulk camera number {i}",
                "location": "Dock" if i % 100 == 0 else "Hall",
            },
        }
        for i in range(1000)
    ]
    kube.kubectl(
        "apply",
        "-f",
        "-",
        stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": bulk}),
    )
    with (
        RtspCamera(mounts=["/cam1"]) as camera,
        JanusGateway(loopback_ice=True) as janus,
        RedisServer() as redis,
    ):
        # A pool of two gateway pods (the operator registers the first), sharing the secrets
        # as the chart's pods do; the operator places the camera on one of them.
        second = JanusGateway(
            loopback_ice=True,
            admin_secret=janus.admin_secret,
            admin_key=janus.admin_key,
            api_secret=janus.api_secret,
        ).start()
        operator: OperatorProcess = live_operator(
            kube, janus, LIVE, logs / "operator.log", GATEWAYS[0], redis.url
        )
        gateway_pod(kube, LIVE, GATEWAYS[1], second.http_port, second.admin_port, LIVE)
        operator.start()
        facade: FacadeProcess | None = None
        try:
            kube.apply(
                {
                    "apiVersion": "vas.io/v1alpha1",
                    "kind": "Camera",
                    "metadata": {"name": "lobby", "namespace": LIVE, "labels": {"site": "hq"}},
                    "spec": {
                        "source": {"url": camera.url("/cam1")},
                        "description": "Main entrance",
                        "location": "HQ lobby",
                    },
                }
            )
            kube.kubectl("wait", "-n", LIVE, "--for=condition=Ready", "cam/lobby", "--timeout=60s")
            facade = FacadeProcess(
                kube,
                logs / "facade.log",
                redis.url,
                **pool_settings(LIVE, LIVE),
                janus_api_secret=janus.api_secret,
            ).start()
            yield {
                "kube": kube,
                "facade": facade,
                "tokens": tokens,
                "redis": redis,
                "janus": janus,
                "gateways": {GATEWAYS[0]: janus, GATEWAYS[1]: second},
                "operator": operator,
                "logs": logs,
            }
        finally:
            if facade is not None:
                facade.stop()
            operator.stop()
            second.stop()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def wait_listed(facade: FacadeProcess, token: str, namespace: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (
            facade.get("/api/v1/cameras", token, namespace=namespace, limit=1).json().get("total")
            == count
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"{namespace} never listed {count} cameras")


def test_no_or_bad_token_is_401_with_a_clear_error(world: dict[str, Any]) -> None:
    facade = world["facade"]
    missing = facade.get("/api/v1/cameras")
    assert missing.status_code == 401
    assert error_of(missing) == {
        "code": 401,
        "reason": "Unauthorized",
        "message": "a bearer token is required",
    }
    bad = facade.get("/api/v1/cameras", "not-a-token")
    assert bad.status_code == 401
    assert "not accepted" in error_of(bad)["message"]


def test_1000_cameras_page_completely_without_overlap(world: dict[str, Any]) -> None:
    facade, token = world["facade"], world["tokens"]["viewer"]
    wait_listed(facade, token, BULK, 1000)
    seen: list[str] = []
    cont: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"namespace": BULK, "limit": 37}
        if cont:
            params["continue"] = cont
        body = facade.get("/api/v1/cameras", token, **params).json()
        assert body["total"] == 1000
        seen += [item["name"] for item in body["items"]]
        pages += 1
        cont = body["continue"]
        if not cont:
            break
    assert pages == 28
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 1000

    zone = facade.get(
        "/api/v1/cameras", token, namespace=BULK, labelSelector="zone=z1,floor!=1", limit=500
    ).json()
    assert zone["total"] == sum(1 for i in range(1000) if i % 4 == 1 and i % 10 != 1)
    assert all(i["labels"]["zone"] == "z1" and i["labels"]["floor"] != "1" for i in zone["items"])
    dock = facade.get("/api/v1/cameras", token, namespace=BULK, q="dock").json()
    assert dock["total"] == 10
    pending = facade.get("/api/v1/cameras", token, namespace=BULK, phase="Pending").json()
    assert pending["total"] == 1000
    bad = facade.get("/api/v1/cameras", token, labelSelector="zone in (a")
    assert bad.status_code == 400
    assert "labelSelector" in error_of(bad)["message"]


def test_listings_follow_each_change_the_watch_delivers(world: dict[str, Any]) -> None:
    """The listing index is changed per watch event: a relabelled, redescribed or deleted
    camera moves between label and text results, as the API server reports it."""
    kube, facade, token = world["kube"], world["facade"], world["tokens"]["viewer"]
    name = "index-probe"

    def listed(**params: str) -> list[str]:
        body = facade.get("/api/v1/cameras", token, namespace=LIVE, limit=500, **params).json()
        return [item["name"] for item in body["items"]]

    def camera(label: str, description: str) -> dict[str, Any]:
        return {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": name, "namespace": LIVE, "labels": {"probe": label}},
            "spec": {
                "source": {"url": "rtsp://192.0.2.7/probe"},
                "enabled": False,
                "description": description,
            },
        }

    kube.apply(camera("one", "Zebra crossing"))
    try:
        poll(lambda: listed(labelSelector="probe=one"), lambda n: n == [name], 30, "listed")
        assert listed(q="ZEBRA cross") == [name]
        assert name in listed(labelSelector="probe in (one,two)")
        assert name not in listed(labelSelector="!probe")
        kube.apply(camera("two", "Okapi gate"))
        poll(lambda: listed(labelSelector="probe=two"), lambda n: n == [name], 30, "relabelled")
        assert listed(labelSelector="probe=one") == []
        assert listed(q="zebra") == []
        assert listed(q="okapi") == [name]
    finally:
        kube.kubectl("delete", "camera", name, "-n", LIVE, "--ignore-not-found", "--wait=false")
    poll(lambda: listed(labelSelector="probe"), lambda n: n == [], 60, "deleted from listings")
    assert listed(q="okapi") == []


def test_viewer_without_rbac_sees_nothing_and_gets_403(world: dict[str, Any]) -> None:
    facade, outsider = world["facade"], world["tokens"]["outsider"]
    listing = facade.get("/api/v1/cameras", outsider).json()
    assert listing["total"] == 0
    detail = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby", outsider)
    assert detail.status_code == 403
    assert error_of(detail)["reason"] == "Forbidden"
    grant = facade.grant(outsider, LIVE, "lobby")
    assert grant.status_code == 403
    assert error_of(grant)["reason"] == "Forbidden"
    # Nor can the bearer token itself be used for signalling: only a handle for the camera.
    watch = facade.janus(LIVE, "lobby", "", outsider, {"janus": "create"})
    assert watch.status_code == 401
    assert watch.json()["janus"] == "error"
    assert error_of(watch)["reason"] == "Unauthorized"


def test_camera_detail_live_figures_and_redis_outage(world: dict[str, Any]) -> None:
    facade, token, redis = world["facade"], world["tokens"]["viewer"], world["redis"]
    detail = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby", token).json()
    assert detail["ready"] is True
    assert detail["stream"]["resolution"] == "640x480"
    assert detail["live"]["available"] is True
    # The operator's gateway watcher fills in live figures and a thumbnail within seconds.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby", token).json()["live"]
        thumb = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby/thumbnail.jpg", token)
        if "lastFrameAgeMs" in live["figures"] and thumb.status_code == 200:
            break
        time.sleep(0.5)
    assert live["figures"]["receiving"] is True, live
    assert live["figures"]["lastFrameAgeMs"] < 5000
    assert set(live["figures"]) == {"receiving", "lastFrameAgeMs", "viewers"}
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8"  # a JPEG
    redis.stop()
    try:
        down = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby", token)
        assert down.status_code == 200
        assert down.json()["live"] == {"available": False, "figures": {}}
        assert facade.get("/api/v1/cameras", token).status_code == 200
        assert (
            facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby/thumbnail.jpg", token).status_code
            == 404
        )
        # Signalling needs the shared session store and says so.
        refused = facade.grant(token, LIVE, "lobby")
        assert refused.status_code == 503
        assert "Redis" in error_of(refused)["message"]
        assert refused.headers["retry-after"]
    finally:
        redis.start()
    # Redis came back empty: the operator writes where the camera is again within a round.
    poll(
        lambda: facade.grant(token, LIVE, "lobby").json().get("gateway"),
        bool,
        20,
        "the camera's gateway known again after Redis restarted",
    )


def test_yaml_export_is_what_a_user_commits(world: dict[str, Any]) -> None:
    facade, token = world["facade"], world["tokens"]["viewer"]
    text = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby/yaml", token).text
    doc = yaml.safe_load(text)
    assert doc["metadata"] == {"name": "lobby", "namespace": LIVE, "labels": {"site": "hq"}}
    assert doc["spec"]["source"]["url"].startswith("rtsp://")
    assert "status" not in doc
    assert "operator.vas.io" not in text


def test_signalling_proxy_lets_through_only_viewer_requests(world: dict[str, Any]) -> None:
    facade, token = world["facade"], world["tokens"]["viewer"]
    granted = facade.grant(token, LIVE, "lobby")
    assert granted.headers["cache-control"] == "no-store"
    grant = granted.json()
    assert grant["server"] == f"/gateway/{LIVE}/lobby/janus"
    assert grant["mountpointId"] == mountpoint_id(LIVE, "lobby")
    assert grant["token"] != token

    def post(path: str, body: dict[str, Any]) -> httpx.Response:
        return facade.janus(LIVE, "lobby", path, grant["token"], body)

    def viewers() -> int:
        live = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby", token).json()["live"]
        return int(live["figures"]["viewers"])

    assert viewers() == 0
    session = post("", {"janus": "create"}).json()["data"]["id"]
    assert viewers() == 1
    refused = post(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
    assert refused.status_code == 403
    handle = post(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.streaming"}).json()[
        "data"
    ]["id"]
    for body in (
        {"request": "list"},
        {"request": "destroy", "id": 1},
        {"request": "watch", "id": 12345},
    ):
        assert post(f"/{session}/{handle}", {"janus": "message", "body": body}).status_code == 403
    watch = {"request": "watch", "id": grant["mountpointId"]}
    answer = post(f"/{session}/{handle}", {"janus": "message", "body": watch})
    assert answer.json()["janus"] == "ack", answer.text
    # The gateway itself refuses a browser that tries to bypass the facade.
    direct = httpx.post(world["janus"].url, json={"janus": "create", "transaction": "t"}).json()
    assert direct["janus"] == "error"
    # Another camera's path cannot reuse this session, nor this handle.
    other = facade.janus(BULK, "cam-0001", f"/{session}", grant["token"], {"janus": "keepalive"})
    assert other.json()["janus"] == "error"
    assert other.status_code == 401
    other_grant = facade.grant(token, BULK, "cam-0001").json()["token"]
    other = facade.janus(BULK, "cam-0001", f"/{session}", other_grant, {"janus": "keepalive"})
    assert other.status_code == 403
    assert post(f"/{session}", {"janus": "destroy"}).json()["janus"] == "success"
    assert viewers() == 0


def test_browser_plays_a_camera_through_the_facade(world: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    result = run_browser(
        world["facade"],
        world["tokens"]["viewer"],
        f"{LIVE}/lobby",
        ARTIFACTS / "viewer-playing.png",
    )
    assert result["state"] == "playing", result
    assert result["width"] == 640
    assert result["t2"] > result["t"]
    listed = [m for janus in world["gateways"].values() for m in janus.mountpoints()]
    assert len(listed) == 1  # the viewer shares the camera's single mountpoint


def test_browser_says_access_denied_without_rbac(world: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    result = run_browser(
        world["facade"],
        world["tokens"]["outsider"],
        f"{LIVE}/lobby",
        ARTIFACTS / "viewer-forbidden.png",
    )
    assert result["state"] == "forbidden"
    assert result["message"].startswith("Access denied")


def janus_sessions(janus: JanusGateway) -> set[int]:
    body = {
        "janus": "list_sessions",
        "transaction": secrets.token_hex(6),
        "admin_secret": janus.admin_secret,
    }
    reply = httpx.post(janus.admin_url, json=body, timeout=10).json()
    return {int(s) for s in reply.get("sessions", [])}


def mounted_on(world: dict[str, Any], namespace: str, name: str) -> str:
    """The one gateway pod whose Janus lists the camera's mountpoint."""
    wanted = mountpoint_id(namespace, name)
    pods = [
        pod
        for pod, janus in world["gateways"].items()
        if wanted in {m["id"] for m in janus.mountpoints()}
    ]
    assert len(pods) == 1, pods
    return pods[0]


def viewers(facade: FacadeProcess, token: str) -> int:
    live = facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby", token).json()["live"]
    return int(live["figures"]["viewers"])


def test_a_session_lives_on_the_pod_its_camera_is_mounted_on(world: dict[str, Any]) -> None:
    """A new session goes to the pod the operator mounted the camera on (found in Redis,
    checked against the pool the API server lists); every later request on the session goes
    to that pod, even when the camera's placement changes meanwhile."""
    facade, token = world["facade"], world["tokens"]["viewer"]
    home = mounted_on(world, LIVE, "lobby")
    other = next(pod for pod in world["gateways"] if pod != home)
    grant = facade.grant(token, LIVE, "lobby").json()
    assert grant["gateway"] == home
    created = facade.janus(LIVE, "lobby", "", grant["token"], {"janus": "create"})
    session = created.json()["data"]["id"]
    assert session in janus_sessions(world["gateways"][home])
    assert session not in janus_sessions(world["gateways"][other])
    store = redis_client.Redis.from_url(world["redis"].url)
    try:
        # The camera moves (as the operator records it when it re-places it): new sessions
        # would go there, this one stays where it lives.
        store.hset(PLACEMENT_KEY, str(mountpoint_id(LIVE, "lobby")), other)
        attach = {"janus": "attach", "plugin": "janus.plugin.streaming"}
        attached = facade.janus(LIVE, "lobby", f"/{session}", grant["token"], attach)
        assert attached.json()["janus"] == "success", attached.text
        destroy = {"janus": "destroy"}
        destroyed = facade.janus(LIVE, "lobby", f"/{session}", grant["token"], destroy)
        assert destroyed.json()["janus"] == "success", destroyed.text
        assert session not in janus_sessions(world["gateways"][home])
    finally:
        store.close()
    poll(
        lambda: facade.grant(token, LIVE, "lobby").json().get("gateway"),
        lambda pod: pod == home,
        20,
        "the operator's placement written again",
    )


def test_two_replicas_serve_one_viewer_alternately(world: dict[str, Any]) -> None:
    """Two facade replicas against the same Redis and the same gateway pool, behind a proxy
    without affinity: one viewer's signalling alternates between them and plays in Chromium,
    and both replicas report the same viewer count."""
    kube, facade, token = world["kube"], world["facade"], world["tokens"]["viewer"]
    second = FacadeProcess(
        kube,
        world["logs"] / "facade-2.log",
        world["redis"].url,
        **pool_settings(LIVE, LIVE),
        janus_api_secret=world["janus"].api_secret,
    ).start()
    try:

        def counts(page: Any) -> dict[str, Any]:
            seen = []
            for _ in range(3):
                page.wait_for_timeout(1000)
                seen.append((viewers(facade, token), viewers(second, token)))
            return {
                "viewers": seen,
                "t": page.evaluate("document.getElementById('video').currentTime"),
            }

        ARTIFACTS.mkdir(exist_ok=True)
        with RoundRobinProxy([facade.url, second.url]) as proxy:
            result = run_browser(
                proxy,
                token,
                f"{LIVE}/lobby",
                ARTIFACTS / "viewer-two-replicas.png",
                while_playing=counts,
            )
        assert result["state"] == "playing", result
        assert result["width"] == 640
        during = result["while_playing"]
        assert during["t"] > result["t2"]  # still playing seconds later
        assert all(one == two >= 1 for one, two in during["viewers"]), during
        assert min(proxy.served.values()) >= 3, proxy.served
        # The same Janus session was served by both replicas (attach, watch, trickle or a
        # long-poll on it: whichever the proxy sent where).
        on_session = re.compile(rf"(?:GET|POST) /gateway/{LIVE}/lobby/janus/(\d+)(?:/\d+)? HTTP")
        shared = set(on_session.findall(facade.log())) & set(on_session.findall(second.log()))
        assert shared, "no session was served by both replicas"
        print(f"signalling requests per replica: {list(proxy.served.values())}")
    finally:
        second.stop()


def test_the_viewer_plays_again_by_itself_when_its_mountpoint_goes(
    world: dict[str, Any],
) -> None:
    """What a viewer sees when the operator drains the camera's gateway pod: the mountpoint
    is destroyed under a playing viewer and mounted again (here by the operator's healing).
    The page notices the stream end, takes a fresh handle and a new session where the camera
    is now, and plays again without anyone touching it."""
    operator = world["operator"]
    mp = mountpoint_id(LIVE, "lobby")
    secret = mountpoint_secret(operator.env_extra["VAS_MOUNTPOINT_KEY"], mp)

    def drain(page: Any) -> dict[str, Any]:
        janus = world["gateways"][mounted_on(world, LIVE, "lobby")]
        since = page.evaluate("performance.now()")
        gone = janus.admin({"request": "destroy", "id": mp, "secret": secret})
        assert gone.get("streaming") == "destroyed", gone
        page.wait_for_function(
            f"window.vas.events.some(e => e[0] > {since} && e[1] === 'playing')", timeout=40000
        )
        page.wait_for_timeout(1500)
        return {
            "since": since,
            **page.evaluate("""() => {
            const v = document.getElementById('video');
            return {t: v.currentTime, width: v.videoWidth, state: window.vas.state};
        }"""),
        }

    ARTIFACTS.mkdir(exist_ok=True)
    result = run_browser(
        world["facade"],
        world["tokens"]["viewer"],
        f"{LIVE}/lobby",
        ARTIFACTS / "viewer-reconnected.png",
        while_playing=drain,
    )
    assert result["state"] == "playing", result
    after = result["while_playing"]
    assert after["state"] == "playing", result
    assert after["width"] == 640
    later = [e for e in result["events"] if e[0] > after["since"]]
    names = [name for _, name in later]
    assert "retry" in names, later
    back = next(t for t, name in later if name == "playing")
    grants = [u for u in result["urls"] if u.endswith("/cameras/lobby/signalling")]
    assert len(grants) >= 2  # a fresh handle for the new session
    print(f"video gap after the mountpoint went: {back - after['since']:.0f} ms ({names})")


def test_openapi_fuzzing_finds_no_server_errors(world: dict[str, Any]) -> None:
    facade, token = world["facade"], world["tokens"]["viewer"]
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{facade.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "25",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:]
