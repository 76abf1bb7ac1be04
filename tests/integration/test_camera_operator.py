"""The Camera reconciler end to end: the real operator process against the live API server,
a real Janus and real GStreamer RTSP cameras, all on loopback."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.media.fixtures import JanusGateway, RtspCamera
from tests.operator_process import OperatorProcess, operator_for
from tests.support import Cluster, credentials_secret, poll
from vas_core.identity import mountpoint_id
from vas_operator.mountpoints import mountpoint_secret

pytestmark = pytest.mark.cluster
NS = "camera-tests"
PASSWORD = f"pw-{secrets.token_hex(8)}"  # grep'd for in everything a person can read
MOUNTPOINT_KEY = secrets.token_hex(16)
GATEWAY = "gateway-test-0"


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspCamera]:
    log = tmp_path_factory.mktemp("rtsp") / "camera.log"
    with RtspCamera(
        mounts=["/cam1", "/cam2"], secure_mounts=[("/secure", "admin", PASSWORD)], log_path=log
    ) as cam:
        yield cam


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusGateway]:
    with JanusGateway() as gateway:
        yield gateway


@pytest.fixture(scope="module")
def operator(
    crds_installed: Cluster, janus: JanusGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    crds_installed.kubectl("create", "namespace", NS)
    process = operator_for(
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
    yield process
    process.stop()


@pytest.fixture
def kube(operator: OperatorProcess) -> Cluster:
    return operator.cluster


def apply_camera(kube: Cluster, name: str, url: str, **spec: Any) -> None:
    source = {"url": url, **spec.pop("source", {})}
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"source": source, **spec},
        }
    )


def apply_secret(kube: Cluster, name: str, password: str) -> None:
    kube.apply(credentials_secret(NS, name, "admin", password))


def get_cam(kube: Cluster, name: str) -> dict[str, Any]:
    return kube.get_json("-n", NS, "cam", name)


def condition(cam: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in cam.get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return {}


def wait_for(
    kube: Cluster, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    return poll(lambda: get_cam(kube, name), check, timeout, f"camera {name}")


def is_ready(cam: dict[str, Any]) -> bool:
    generation = cam["metadata"]["generation"]
    return (
        condition(cam, "Ready").get("status") == "True"
        and cam["status"].get("observedGeneration") == generation
    )


def has(type_: str, status: str, reason: str) -> Callable[[dict[str, Any]], bool]:
    def check(cam: dict[str, Any]) -> bool:
        c = condition(cam, type_)
        return (c.get("status"), c.get("reason")) == (status, reason)

    return check


def mountpoint(janus: JanusGateway, name: str) -> dict[str, Any] | None:
    mp_id = mountpoint_id(NS, name)
    info = janus.admin(
        {"request": "info", "id": mp_id, "secret": mountpoint_secret(MOUNTPOINT_KEY, mp_id)}
    )
    return info.get("info")


def wait_receiving(janus: JanusGateway, name: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = mountpoint(janus, name)
        media = (info or {}).get("media", [])
        if media and all(m.get("age_ms", 10**9) < 1000 for m in media):
            return info or {}
        time.sleep(0.3)
    raise AssertionError(f"mountpoint of {name} is not receiving: {mountpoint(janus, name)}")


def test_camera_becomes_ready_and_is_mounted_on_janus(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    apply_camera(kube, "lobby", camera.url("/cam1"))
    cam = wait_for(kube, "lobby", is_ready)
    status = cam["status"]
    assert status["phase"] == "Ready"
    assert {c["type"] for c in status["conditions"]} == {
        "CredentialsResolved",
        "StreamReachable",
        "MountpointReady",
        "Ready",
    }
    assert all(
        c["observedGeneration"] == cam["metadata"]["generation"] for c in status["conditions"]
    )
    stream = status["stream"]
    assert (stream["codec"], stream["width"], stream["height"]) == ("h264", 640, 480)
    assert stream["resolution"] == "640x480"
    assert stream["fps"] == 15
    assert stream["probeLatencyMilliseconds"] > 0
    assert status["gateway"] == {"pod": GATEWAY, "mountpointId": mountpoint_id(NS, "lobby")}
    # Janus's own list shows the mountpoint, receiving media.
    info = wait_receiving(janus, "lobby")
    assert info["url"] == camera.url("/cam1")
    listed = [m for m in janus.mountpoints() if m["id"] == mountpoint_id(NS, "lobby")]
    assert len(listed) == 1
    assert listed[0]["media"][0]["age_ms"] < 1000
    row = kube.kubectl("get", "-n", NS, "cam", "lobby", "--no-headers").stdout.split()
    assert row[:7] == ["lobby", "True", "Mounted", "Ready", "640x480", "h264", GATEWAY]


def test_wrong_password_then_fixed_secret_becomes_ready(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    apply_secret(kube, "parking-creds", "not-the-password")
    apply_camera(
        kube,
        "parking",
        camera.url("/secure"),
        source={"credentialsSecretRef": {"name": "parking-creds"}},
    )
    cam = wait_for(kube, "parking", has("StreamReachable", "False", "Unauthorized"))
    assert condition(cam, "Ready")["reason"] == "Unauthorized"
    assert cam["status"]["phase"] == "Failed"
    assert mountpoint(janus, "parking") is None
    generation = cam["metadata"]["generation"]

    apply_secret(kube, "parking-creds", PASSWORD)  # the Camera itself is not touched
    cam = wait_for(kube, "parking", is_ready, timeout=30)
    assert cam["metadata"]["generation"] == generation
    assert condition(cam, "CredentialsResolved")["reason"] == "Resolved"
    wait_receiving(janus, "parking")


def test_missing_secret_then_created_becomes_ready(kube: Cluster, camera: RtspCamera) -> None:
    apply_camera(
        kube, "gate", camera.url("/secure"), source={"credentialsSecretRef": {"name": "gate-creds"}}
    )
    cam = wait_for(kube, "gate", has("CredentialsResolved", "False", "SecretNotFound"))
    assert "gate-creds" in condition(cam, "CredentialsResolved")["message"]
    assert condition(cam, "StreamReachable")["status"] == "Unknown"
    apply_secret(kube, "gate-creds", PASSWORD)
    wait_for(kube, "gate", is_ready, timeout=30)


def test_camera_that_starts_late_becomes_ready_with_bounded_retries(
    kube: Cluster, operator: OperatorProcess, janus: JanusGateway
) -> None:
    late = RtspCamera(mounts=["/late"])
    retries_before = operator.metric("vas_camera_reconciles_total", result="retry")
    apply_camera(kube, "late", late.url("/late"))
    wait_for(kube, "late", has("StreamReachable", "False", "ConnectionRefused"))
    time.sleep(20)
    late.start()
    try:
        wait_for(kube, "late", is_ready, timeout=45)
        retries = operator.metric("vas_camera_reconciles_total", result="retry") - retries_before
        # Backoff 2, 4, 8, 15, 15 s: about five attempts in the ~20 s the camera was away.
        assert 2 <= retries <= 8, retries
        wait_receiving(janus, "late")
    finally:
        kube.kubectl("delete", "-n", NS, "cam", "late", "--timeout=30s", check=False)
        late.stop()


def test_url_change_reprobes_and_remounts(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    apply_camera(kube, "moving", camera.url("/cam1"))
    wait_for(kube, "moving", is_ready)
    assert wait_receiving(janus, "moving")["url"] == camera.url("/cam1")
    apply_camera(kube, "moving", camera.url("/cam2"))
    cam = wait_for(kube, "moving", is_ready)
    assert cam["metadata"]["generation"] == 2
    assert wait_receiving(janus, "moving")["url"] == camera.url("/cam2")
    assert len([m for m in janus.mountpoints() if m["id"] == mountpoint_id(NS, "moving")]) == 1


def test_disabling_removes_the_mountpoint_and_enabling_restores_it(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    apply_camera(kube, "switch", camera.url("/cam1"))
    wait_for(kube, "switch", is_ready)
    apply_camera(kube, "switch", camera.url("/cam1"), enabled=False)
    cam = wait_for(kube, "switch", lambda c: c["status"].get("phase") == "Disabled")
    assert condition(cam, "Ready")["reason"] == "Disabled"
    assert "gateway" not in cam["status"]
    assert mountpoint(janus, "switch") is None
    apply_camera(kube, "switch", camera.url("/cam1"), enabled=True)
    wait_for(kube, "switch", is_ready)
    wait_receiving(janus, "switch")


def test_deleting_removes_mountpoint_without_a_finalizer(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    """No finalizer holds a Camera (deleting one, or its namespace, never waits for the
    operator), and its mountpoint goes at once all the same."""
    apply_camera(kube, "doomed", camera.url("/cam1"))
    cam = wait_for(kube, "doomed", is_ready)
    assert not cam["metadata"].get("finalizers")
    assert mountpoint(janus, "doomed") is not None
    kube.kubectl("delete", "-n", NS, "cam", "doomed", "--timeout=30s")
    assert kube.kubectl("get", "-n", NS, "cam", "doomed", check=False).returncode != 0
    poll(lambda: mountpoint(janus, "doomed"), lambda m: m is None, 15, "its mountpoint removed")


def test_a_camera_of_an_earlier_release_is_resumed_as_unchanged(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway, operator: OperatorProcess
) -> None:
    """Earlier releases kept Kopf's record of the last handled spec in an annotation and put a
    finalizer on every Camera. After an upgrade such a camera is resumed, not taken for a new
    one (that would write Kopf's record into status again), and its finalizer is removed."""
    apply_camera(kube, "veteran", camera.url("/cam2"))
    cam = wait_for(kube, "veteran", is_ready)
    handled = cam["status"]["kopf"]["last-handled-configuration"]
    operator.stop()
    try:
        old = {
            "metadata": {
                "finalizers": ["vas.io/finalizer"],
                "annotations": {
                    "operator.vas.io/last-handled-configuration": handled,
                    "operator.vas.io/kopf-managed": "yes",
                },
            }
        }
        kube.kubectl("patch", "-n", NS, "cam", "veteran", "--type=merge", "-p", json.dumps(old))
        kube.kubectl(
            "patch", "-n", NS, "cam", "veteran", "--subresource=status", "--type=merge",
            "-p", '{"status": {"kopf": null}}',
        )  # fmt: skip
    finally:
        operator.start()
    cam = wait_for(kube, "veteran", lambda c: not c["metadata"].get("finalizers"))
    assert "kopf" not in cam["status"]  # resumed: nothing was handled as new
    assert is_ready(cam)
    assert mountpoint(janus, "veteran") is not None
    kube.kubectl("delete", "-n", NS, "cam", "veteran", "--timeout=30s")


def test_forged_kopf_state_in_status_does_not_stop_a_change_being_handled(
    kube: Cluster, camera: RtspCamera, janus: JanusGateway
) -> None:
    """Whoever may write cameras/status may write Kopf's record there: one saying the next
    spec was handled already, and a handler record saying it succeeded and is to wait until
    2099. Neither is sealed by the operator, so the change is handled all the same."""
    apply_camera(kube, "forged", camera.url("/cam1"))
    cam = wait_for(kube, "forged", is_ready)
    future = {
        "spec": {**cam["spec"], "source": {**cam["spec"]["source"], "url": camera.url("/cam2")}}
    }
    forged = {
        "status": {
            "kopf": {
                "last-handled-configuration": json.dumps(future, separators=(",", ":")),
                "configurationSeal": "0" * 64,
                "progress": {
                    "reconcile_camera": {
                        "success": True,
                        "delayed": "2099-01-01T00:00:00.000000",
                        "seal": "0" * 64,
                    }
                },
            }
        }
    }
    kube.kubectl(
        "patch", "-n", NS, "cam", "forged", "--subresource=status", "--type=merge",
        "-p", json.dumps(forged),
    )  # fmt: skip
    apply_camera(kube, "forged", camera.url("/cam2"))
    cam = wait_for(
        kube, "forged", lambda c: is_ready(c) and c["status"].get("observedGeneration") == 2
    )
    assert wait_receiving(janus, "forged")["url"] == camera.url("/cam2")
    kube.kubectl("delete", "-n", NS, "cam", "forged", "--timeout=30s")


def test_camera_drop_is_reported_and_recovers(kube: Cluster, janus: JanusGateway) -> None:
    flaky = RtspCamera(mounts=["/flaky"]).start()
    try:
        apply_camera(kube, "flaky", flaky.url("/flaky"))
        wait_for(kube, "flaky", is_ready)
        wait_receiving(janus, "flaky")
        flaky.stop()
        # The gateway watcher sees the media go stale and the reconcile finds out why.
        cam = wait_for(
            kube, "flaky", has("StreamReachable", "False", "ConnectionRefused"), timeout=30
        )
        assert cam["status"]["phase"] == "Failed"
        flaky.start()  # same port
        wait_for(kube, "flaky", is_ready, timeout=60)
        wait_receiving(janus, "flaky", timeout=30)
    finally:
        kube.kubectl("delete", "-n", NS, "cam", "flaky", "--timeout=30s", check=False)
        flaky.stop()


def test_gateway_restart_gets_its_mountpoints_back(kube: Cluster, janus: JanusGateway) -> None:
    ready = [
        c["metadata"]["name"]
        for c in kube.get_json("-n", NS, "cam")["items"]
        if c["status"].get("phase") == "Ready"
    ]
    assert "lobby" in ready
    janus.restart()  # non-permanent mountpoints are gone now
    assert janus.mountpoints() == []
    for name in ready:
        wait_receiving(janus, name, timeout=40)
    assert sorted(m["id"] for m in janus.mountpoints()) == sorted(
        mountpoint_id(NS, n) for n in ready
    )
    for name in ready:
        wait_for(kube, name, is_ready)


def test_operator_restart_adopts_mountpoints_without_probes_or_writes(
    kube: Cluster, operator: OperatorProcess, janus: JanusGateway
) -> None:
    """A restarted operator finds its Ready cameras intact on the gateway: it adopts them
    without probing, re-creating a mountpoint or writing the Camera."""
    items = kube.get_json("-n", NS, "cam")["items"]
    ready = sorted(c["metadata"]["name"] for c in items if c["status"].get("phase") == "Ready")
    assert len(ready) >= 5
    versions = {c["metadata"]["name"]: c["metadata"]["resourceVersion"] for c in items}
    mounts_before = sorted(m["id"] for m in janus.mountpoints())
    operator.restart()
    poll(
        lambda: operator.metric("vas_camera_reconciles_total", result="ready"),
        lambda handled: handled >= len(ready),
        30,
        "a resume of every Ready camera",
    )
    time.sleep(2)  # a write would have landed by now
    after = kube.get_json("-n", NS, "cam")["items"]
    rewritten = [
        c["metadata"]["name"]
        for c in after
        if c["metadata"]["name"] in ready
        and c["metadata"]["resourceVersion"] != versions[c["metadata"]["name"]]
    ]
    assert rewritten == []
    assert operator.metric("vas_probe_duration_seconds_count", reason="Probed") == 0
    assert sorted(m["id"] for m in janus.mountpoints()) == mounts_before


def test_password_appears_nowhere(kube: Cluster, operator: OperatorProcess) -> None:
    cams = kube.kubectl("get", "-n", NS, "cam", "-o", "yaml").stdout
    events = kube.kubectl("get", "-n", NS, "events", "-o", "yaml").stdout
    assert "Unauthorized" in events  # the events are there, just without the password
    for text, where in ((cams, "cameras"), (events, "events"), (operator.log(), "operator log")):
        assert PASSWORD not in text, f"password leaked into {where}"
        assert base64.b64encode(PASSWORD.encode()).decode() not in text, where
