"""The operator started with many existing Cameras (issue 14): it reconciles every one of them
and new ones meanwhile, a restart writes nothing, and a stalled operator fails its liveness
probe so the kubelet would restart it."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.media.fixtures import JanusGateway
from tests.operator_process import OperatorProcess, operator_for
from tests.support import REPO, Cluster, kubeconfig_for, poll

pytestmark = pytest.mark.cluster
NS = "scale-tests"
COUNT = 1000  # well past Kopf's worker limit of 200, where main used to reconcile nothing


def camera(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": NS},
        # Disabled: reconciling needs no probe, so the test measures the operator's wiring.
        "spec": {"source": {"url": f"rtsp://192.0.2.1:554/{name}"}, "enabled": False},
    }


def create_many(kube: Cluster, names: list[str]) -> None:
    for start in range(0, len(names), 250):
        batch = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [camera(n) for n in names[start : start + 250]],
        }
        kube.kubectl("create", "-f", "-", stdin=yaml.safe_dump(batch))


def versions(kube: Cluster) -> dict[str, tuple[str, str | None]]:
    """resourceVersion and phase of every Camera in the namespace, in one list call."""
    items = kube.get_json("cameras", "-n", NS)["items"]
    return {
        c["metadata"]["name"]: (
            c["metadata"]["resourceVersion"],
            (c.get("status") or {}).get("phase"),
        )
        for c in items
    }


def all_disabled(found: dict[str, tuple[str, str | None]]) -> bool:
    return len(found) == COUNT + 1 and all(phase == "Disabled" for _, phase in found.values())


def resumed(body: str) -> int:
    """Cameras handled so far, once none is left waiting (the liveness probe's own words)."""
    found = re.search(r"(\d+) handled, 0 waiting", body)
    return int(found.group(1)) if found else -1


def liveness(operator: OperatorProcess) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5)


@pytest.fixture(scope="module")
def kube(crds_installed: Cluster) -> Cluster:
    crds_installed.kubectl("create", "namespace", NS)
    return crds_installed


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusGateway]:
    with JanusGateway() as gateway:
        yield gateway


def test_existing_cameras_are_all_reconciled_and_a_restart_writes_nothing(
    kube: Cluster, janus: JanusGateway, tmp_path: Path
) -> None:
    """A thousand Cameras that exist before the operator starts are all reconciled, a Camera
    created while it catches up too, and a second start writes none of them."""
    create_many(kube, [f"cam-{i:04d}" for i in range(COUNT)])
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "CameraGroup",
            "metadata": {"name": "everything", "namespace": NS},
            "spec": {"selector": {}},
        }
    )
    operator = operator_for(
        kube, janus, NS, tmp_path / "operator.log", mountpoint_key=secrets.token_hex(8)
    )
    operator.start()
    try:
        kube.apply(camera("late-arrival"))  # while the first thousand are still being resumed
        done = poll(lambda: versions(kube), all_disabled, 180, "every Camera Disabled")
        poll(
            lambda: kube.get_json("camgrp", "everything", "-n", NS).get("status", {}),
            lambda status: status.get("members") == COUNT + 1,
            60,
            "the group counting every Camera",
        )
        operator.restart()
        # The restarted operator owes every Camera a resume; wait until it has paid them all.
        poll(
            lambda: liveness(operator).text,
            lambda body: resumed(body) >= COUNT + 1,
            120,
            "a resume for every Camera",
        )
        time.sleep(3)  # anything written would have landed by now
        after = versions(kube)
        changed = sorted(n for n in done if after.get(n) != done[n])
        assert changed == [], f"{len(changed)} Cameras written on restart, e.g. {changed[:5]}"
        assert liveness(operator).status_code == 200
    finally:
        operator.stop()
    assert "Traceback" not in operator.log()


def test_liveness_fails_when_the_operator_cannot_make_progress(
    kube: Cluster, janus: JanusGateway, tmp_path: Path
) -> None:
    """An operator whose credentials watch can never sync (its role lacks Secrets) reports
    itself unhealthy instead of answering 200 while doing nothing."""
    docs = list(yaml.safe_load_all((REPO / "manifests/deploy/rbac-operator.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    role["metadata"] = {"name": "vas-operator-without-secrets"}
    role["rules"] = [r for r in role["rules"] if "secrets" not in r["resources"]]
    kube.apply(role)
    kube.kubectl("create", "serviceaccount", "stalled", "-n", NS)
    kube.kubectl(
        "create",
        "clusterrolebinding",
        "vas-stalled",
        "--clusterrole",
        role["metadata"]["name"],
        f"--serviceaccount={NS}:stalled",
    )
    token = kube.kubectl("create", "token", "stalled", "-n", NS).stdout.strip()
    operator = operator_for(
        kube,
        janus,
        NS,
        tmp_path / "operator.log",
        mountpoint_key=secrets.token_hex(8),
        startup_deadline_seconds="3",
    )
    operator.env_extra["KUBECONFIG"] = str(kubeconfig_for(kube, token, tmp_path / "kubeconfig"))
    operator.start()  # waits for a first 200: the deadline has not passed yet
    try:
        answer = poll(lambda: liveness(operator), lambda r: r.status_code != 200, 60, "unhealthy")
        assert answer.status_code == 500
        assert "credentials Secrets" in operator.log()
    finally:
        operator.stop()
