"""CameraGroup membership against the live API server, with the real operator."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.media.fixtures import JanusGateway, RtspCamera
from tests.operator_process import OperatorProcess, operator_for
from tests.support import Cluster, poll
from vas_operator.group_sync import MAX_DELAY_SECONDS

pytestmark = pytest.mark.cluster
NS = "group-tests"


@pytest.fixture(scope="module")
def stack(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OperatorProcess, RtspCamera]]:
    crds_installed.kubectl("create", "namespace", NS)
    logs = tmp_path_factory.mktemp("groups")
    with (
        RtspCamera(mounts=["/cam1"], log_path=logs / "camera.log") as camera,
        JanusGateway() as janus,
    ):
        process = operator_for(
            crds_installed,
            janus,
            NS,
            tmp_path_factory.mktemp("groups") / "operator.log",
            mountpoint_key=secrets.token_hex(8),
            probe_timeout_seconds="2",
        )
        process.start()
        yield process, camera
        process.stop()


def camera_doc(name: str, url: str, labels: dict[str, str], enabled: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"source": {"url": url}, "enabled": enabled},
    }


def group_doc(name: str, selector: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "CameraGroup",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": selector},
    }


def wait_group(
    kube: Cluster, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    return poll(
        lambda: kube.get_json("-n", NS, "camgrp", name).get("status", {}),
        check,
        timeout,
        f"group {name}",
    )


def counts(members: int, ready: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: (s.get("members"), s.get("readyMembers")) == (members, ready)


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_membership_follows_labels_and_deletions(stack: tuple[OperatorProcess, RtspCamera]) -> None:
    operator, camera = stack
    kube = operator.cluster
    kube.apply(group_doc("north", {"matchLabels": {"site": "north"}}))
    kube.apply(
        group_doc(
            "south", {"matchExpressions": [{"key": "site", "operator": "In", "values": ["south"]}]}
        )
    )
    status = wait_group(kube, "north", counts(0, 0))
    assert ready_condition(status)["reason"] == "NoMembers"

    kube.apply(camera_doc("n1", camera.url("/cam1"), {"site": "north"}))
    kube.apply(camera_doc("n2", camera.url("/cam1"), {"site": "north"}))
    kube.apply(camera_doc("n3", "rtsp://127.0.0.1:1/nothing", {"site": "north"}))
    status = wait_group(kube, "north", counts(3, 2))
    ready = ready_condition(status)
    assert (ready["status"], ready["reason"]) == ("False", "Degraded")
    assert "1 of 3 cameras are not Ready: n3 (ConnectionRefused)" in ready["message"]
    row = kube.kubectl("get", "-n", NS, "camgrp", "north", "--no-headers").stdout.split()
    assert row[:4] == ["north", "3", "2", "Degraded"]

    # Relabelling moves a camera from one group to the other.
    kube.apply(camera_doc("n3", "rtsp://127.0.0.1:1/nothing", {"site": "south"}))
    wait_group(kube, "north", counts(2, 2))
    assert ready_condition(wait_group(kube, "north", counts(2, 2)))["reason"] == "AllReady"
    wait_group(kube, "south", counts(1, 0))

    # Deleting a camera updates the counts.
    kube.kubectl("delete", "-n", NS, "cam", "n2", "--timeout=30s")
    wait_group(kube, "north", counts(1, 1))
    events = kube.kubectl(
        "get", "-n", NS, "events", "--field-selector", "involvedObject.kind=CameraGroup"
    ).stdout
    assert "Degraded" in events
    assert "AllReady" in events


def test_a_burst_of_500_cameras_costs_the_group_few_writes(
    stack: tuple[OperatorProcess, RtspCamera],
) -> None:
    operator, _ = stack
    kube = operator.cluster
    kube.apply(group_doc("wall", {"matchLabels": {"wall": "big"}}))
    wait_group(kube, "wall", counts(0, 0))
    writes_before = operator.metric("vas_group_status_writes_total")
    docs = [
        camera_doc(f"w{i:03d}", f"rtsp://192.0.2.1/{i}", {"wall": "big"}, enabled=False)
        for i in range(500)
    ]
    started = time.monotonic()
    kube.kubectl(
        "apply",
        "-f",
        "-",
        stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs}),
    )
    status = wait_group(kube, "wall", counts(500, 0), timeout=120)
    burst = time.monotonic() - started
    assert ready_condition(status)["reason"] == "Degraded"
    assert "and 497 more" in ready_condition(status)["message"]
    time.sleep(3)  # let any trailing write happen before counting
    writes = operator.metric("vas_group_status_writes_total") - writes_before
    # The burst is one change to this group: members appear, then their conditions arrive.
    # The syncer writes at most once per MAX_DELAY_SECONDS while the burst goes on (however
    # long this machine takes for it), and once when it settles: never once per camera.
    assert 1 <= writes <= math.ceil(burst / MAX_DELAY_SECONDS) + 2, (writes, burst)
    kube.kubectl("delete", "-n", NS, "cam", "-l", "wall=big", "--wait=false")
