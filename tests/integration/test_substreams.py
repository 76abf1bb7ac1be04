"""Sub-streams end to end: the real operator against the live API server, a real Janus and a
GStreamer RTSP camera serving a 640x480 main stream and a 320x240 sub-stream."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.media.fixtures import JanusGateway, RtspCamera
from tests.operator_process import OperatorProcess, operator_for
from tests.support import Cluster, poll
from vas_core.identity import mountpoint_id, substream_id

pytestmark = pytest.mark.cluster
NS = "substream-tests"
MOUNTPOINT_KEY = secrets.token_hex(16)
GATEWAY = "gateway-sub-0"


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspCamera]:
    log = tmp_path_factory.mktemp("rtsp") / "camera.log"
    with RtspCamera(mounts=["/main", "/sub=320x240"], log_path=log) as cam:
        yield cam


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusGateway]:
    with JanusGateway() as gateway:
        yield gateway


@pytest.fixture(scope="module")
def kube(
    crds_installed: Cluster, janus: JanusGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    crds_installed.kubectl("create", "namespace", NS)
    process: OperatorProcess = operator_for(
        crds_installed,
        janus,
        NS,
        tmp_path_factory.mktemp("operator") / "operator.log",
        gateway=GATEWAY,
        mountpoint_key=MOUNTPOINT_KEY,
        probe_timeout_seconds="3",
        retry_max_seconds="15",
        health_interval_seconds="2",
    )
    process.start()
    yield process.cluster
    process.stop()


def apply_camera(kube: Cluster, name: str, spec: dict[str, Any]) -> None:
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": name, "namespace": NS},
            "spec": spec,
        }
    )


def condition(cam: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in cam.get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return {}


def wait_for(
    kube: Cluster, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    return poll(lambda: kube.get_json("-n", NS, "cam", name), check, timeout, f"camera {name}")


def current(check: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    """The check, on a status written for the current generation."""
    return lambda cam: (
        cam.get("status", {}).get("observedGeneration") == cam["metadata"]["generation"]
        and check(cam)
    )


def sub_is(status: str, reason: str) -> Callable[[dict[str, Any]], bool]:
    def check(cam: dict[str, Any]) -> bool:
        ready = condition(cam, "Ready").get("status") == "True"
        c = condition(cam, "SubstreamReady")
        return ready and (c.get("status"), c.get("reason")) == (status, reason)

    return current(check)


def listed(janus: JanusGateway) -> dict[int, dict[str, Any]]:
    return {m["id"]: m for m in janus.mountpoints()}


def wait_listed(
    janus: JanusGateway,
    ids: set[int],
    absent: set[int] = frozenset(),
    timeout: float = 20,  # type: ignore[assignment]
) -> dict[int, dict[str, Any]]:
    """Until every id in ``ids`` is listed and receiving, and none of ``absent`` is listed."""
    deadline = time.monotonic() + timeout
    while True:
        mounts = listed(janus)
        receiving = all(
            i in mounts and any(m.get("age_ms", 10**9) < 1000 for m in mounts[i].get("media", []))
            for i in ids
        )
        if receiving and not absent & mounts.keys():
            return mounts
        if time.monotonic() > deadline:
            raise AssertionError(f"want {ids} receiving and {absent} gone: {sorted(mounts)}")
        time.sleep(0.3)


def test_camera_with_a_substream_mounts_both_on_the_same_gateway(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    apply_camera(
        kube,
        "wall",
        {"source": {"url": camera.url("/main")}, "substream": {"url": camera.url("/sub")}},
    )
    cam = wait_for(kube, "wall", sub_is("True", "Mounted"))
    status = cam["status"]
    assert status["phase"] == "Ready"
    assert status["stream"]["resolution"] == "640x480"
    assert status["substream"]["resolution"] == "320x240"
    assert (status["substream"]["codec"], status["substream"]["width"]) == ("h264", 320)
    main, sub = mountpoint_id(NS, "wall"), substream_id(NS, "wall")
    assert status["gateway"] == {"pod": GATEWAY, "mountpointId": main, "substreamMountpointId": sub}
    mounts = wait_listed(janus, {main, sub})
    assert '"stream":"sub"' in mounts[sub]["metadata"]
    wide = kube.kubectl("get", "-n", NS, "cam", "wall", "-o", "wide", "--no-headers").stdout
    assert "640x480" in wide.split()
    assert "320x240" in wide.split()
    narrow = kube.kubectl("get", "-n", NS, "cam", "wall", "--no-headers").stdout
    assert "320x240" not in narrow.split()


def test_a_broken_substream_leaves_the_camera_ready(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    apply_camera(
        kube,
        "half",
        {"source": {"url": camera.url("/main")}, "substream": {"url": camera.url("/nope")}},
    )
    cam = wait_for(kube, "half", sub_is("False", "NotFound"))
    assert cam["status"]["phase"] == "Ready"
    assert condition(cam, "Ready")["reason"] == "Mounted"
    assert "substreamMountpointId" not in cam["status"]["gateway"]
    wait_listed(janus, {mountpoint_id(NS, "half")}, absent={substream_id(NS, "half")})

    # Fixed: the sub-stream joins the main one without taking it down.
    apply_camera(
        kube,
        "half",
        {"source": {"url": camera.url("/main")}, "substream": {"url": camera.url("/sub")}},
    )
    wait_for(kube, "half", sub_is("True", "Mounted"))
    wait_listed(janus, {mountpoint_id(NS, "half"), substream_id(NS, "half")})

    # Dropped from the spec: its mountpoint, condition and status go.
    apply_camera(kube, "half", {"source": {"url": camera.url("/main")}})
    cam = wait_for(kube, "half", current(lambda c: not condition(c, "SubstreamReady")))
    assert condition(cam, "Ready")["status"] == "True"
    assert "substream" not in cam["status"]
    wait_listed(janus, {mountpoint_id(NS, "half")}, absent={substream_id(NS, "half")})


def test_disabling_and_deleting_remove_both_mountpoints(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    spec = {"source": {"url": camera.url("/main")}, "substream": {"url": camera.url("/sub")}}
    both = {mountpoint_id(NS, "gone"), substream_id(NS, "gone")}
    apply_camera(kube, "gone", spec)
    wait_for(kube, "gone", sub_is("True", "Mounted"))
    wait_listed(janus, both)
    apply_camera(kube, "gone", {**spec, "enabled": False})
    cam = wait_for(kube, "gone", current(lambda c: c["status"].get("phase") == "Disabled"))
    assert condition(cam, "SubstreamReady")["reason"] == "Disabled"
    wait_listed(janus, set(), absent=both)
    apply_camera(kube, "gone", spec)
    wait_for(kube, "gone", sub_is("True", "Mounted"))
    wait_listed(janus, both)
    kube.kubectl("delete", "-n", NS, "cam", "gone", "--timeout=30s")
    wait_listed(janus, set(), absent=both, timeout=5)


def test_a_lost_substream_mountpoint_is_restored(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    """The gateway watcher checks the sub-stream's mountpoint like the main one."""
    from vas_operator.mountpoints import mountpoint_secret

    wait_for(kube, "wall", sub_is("True", "Mounted"))
    sub = substream_id(NS, "wall")
    janus.admin({"request": "destroy", "id": sub, "secret": mountpoint_secret(MOUNTPOINT_KEY, sub)})
    assert sub not in listed(janus)
    wait_listed(janus, {mountpoint_id(NS, "wall"), sub}, timeout=30)
