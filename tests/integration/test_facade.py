"""The read facade and the web viewer against real parts: the API server (TokenReview,
SubjectAccessReview, watch), Redis, the operator, Janus, an RTSP camera and Chromium."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.facade_process import FacadeProcess, role_binding, run_browser, viewer_token
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import OperatorProcess, live_operator
from tests.support import REPO, Cluster
from vas_core.identity import mountpoint_id

pytestmark = pytest.mark.cluster
LIVE, OTHER, BULK = "facade-a", "facade-b", "facade-list"
ARTIFACTS = REPO / "tests" / "artifacts"
GATEWAY = "gw-facade-0"


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
        operator: OperatorProcess = live_operator(
            kube, janus, LIVE, logs / "operator.log", GATEWAY, redis.url
        )
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
                {GATEWAY: janus.url},
                janus_api_secret=janus.api_secret,
            ).start()
            yield {
                "kube": kube,
                "facade": facade,
                "tokens": tokens,
                "redis": redis,
                "janus": janus,
                "operator": operator,
            }
        finally:
            if facade is not None:
                facade.stop()
            operator.stop()


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
        assert down.json()["live"]["available"] is False
        assert set(down.json()["live"]["figures"]) == {"viewers"}
        assert facade.get("/api/v1/cameras", token).status_code == 200
        assert (
            facade.get(f"/api/v1/namespaces/{LIVE}/cameras/lobby/thumbnail.jpg", token).status_code
            == 404
        )
    finally:
        redis.start()


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
    listed = world["janus"].mountpoints()
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
