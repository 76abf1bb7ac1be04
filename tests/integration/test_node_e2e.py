"""End to end on a real node: the images built here, `helm install` of the chart onto a real
kubelet (containerd + runc + CNI bridge) in a namespace that enforces Pod Security Admission
`restricted`, a GStreamer camera on the host made Ready by the operator *pod*, headless Chromium
on the host playing it through the facade *pod* (by its ClusterIP Service, through kube-proxy)
and the gateway *pod* (which offers its pod IP in ICE), the gateway pod deleted and the video
back, `helm upgrade` rolling the pods while the camera stays Ready, and `helm uninstall` keeping
the CRDs and the Cameras.

The tests run in order and share one release (module-scoped); figures are printed at the end
(run with -s to see them) and kept in the node's state folder (figures.json)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.media.fixtures import RtspCamera
from tests.node import (
    IMAGES,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    RealNode,
    browser_page,
    build_images,
    chart_values,
    helm_bin,
    ice_pair,
    page_state,
    pod_ready,
    real_node,
    run,
    wait_playing,
)
from tests.support import REPO, Cluster, credentials_secret, poll, refusals

pytestmark = pytest.mark.cluster
CHART = REPO / "charts" / "vas"
NS = "vas-e2e"  # the release
SITE = "site-a"  # the cameras and their viewer
RELEASE = "vas"
ARTIFACTS = REPO / "tests" / "artifacts"
COMPONENTS = ("operator", "facade", "gateway", "redis")


def values() -> dict[str, Any]:
    return chart_values()


class World:
    def __init__(self, node: RealNode, helm: Path, camera: RtspCamera, state: Path) -> None:
        self.node, self.helm, self.camera, self.state = node, helm, camera, state
        self.kube: Cluster = node.cluster
        self.figures: dict[str, float | str] = {}
        self.token = ""
        self.operator_logs = ""
        self.values_file = state / "values.yaml"
        self.values_file.write_text(yaml.safe_dump(values()))

    def helm_run(self, *args: str, timeout: float = 400) -> str:
        return run([str(self.helm), *args], timeout=timeout, env=self.kube.env())

    def pods(self, component: str | None = None) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={RELEASE}"
        if component:
            selector += f",app.kubernetes.io/component={component}"
        items: list[dict[str, Any]] = self.kube.get_json("-n", NS, "pods", "-l", selector)["items"]
        return items

    def camera_status(self, name: str = "lobby") -> dict[str, Any]:
        status: dict[str, Any] = self.kube.get_json("-n", SITE, "camera", name).get("status", {})
        return status

    def facade_url(self) -> str:
        svc = self.kube.get_json("-n", NS, "service", f"{RELEASE}-facade")
        return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def ready(status: dict[str, Any]) -> bool:
    return condition(status, "Ready").get("status") == "True"


def all_ready(pods: list[dict[str, Any]]) -> bool:
    return bool(pods) and all(map(pod_ready, pods))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.skip("a real node needs root (containerd, CNI, iptables)")
    images, build_seconds = build_images()
    state = tmp_path_factory.mktemp("node")
    with real_node(state) as node:
        helm = helm_bin()
        camera = RtspCamera(
            mounts=["/cam1"],
            secure_mounts=[("/secure", "admin", "e2e-pass")],
            address=NODE_IP,
            log_path=state / "camera.log",
        ).start()
        try:
            w = World(node, helm, camera, state)
            w.figures["images_seconds"] = round(build_seconds, 1)
            w.figures["node_up_seconds"] = round(node.up_seconds, 1)
            w.figures["images_import_seconds"] = round(node.load_images(images), 1)
            yield w
        finally:
            camera.stop()
            (state / "figures.json").write_text(json.dumps(w.figures, indent=2))
            print(f"\nreal-node e2e figures: {json.dumps(w.figures)}")


def test_chart_runs_on_the_real_node_under_restricted_pod_security(world: World) -> None:
    kube = world.kube
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NS,
                "labels": {
                    f"pod-security.kubernetes.io/{mode}": "restricted"
                    for mode in ("enforce", "warn", "audit")
                }
                | {"pod-security.kubernetes.io/enforce-version": "latest"},
            },
        }
    )
    started = time.monotonic()
    world.helm_run(
        "install", RELEASE, str(CHART), "-n", NS, "-f", str(world.values_file),
        "--wait", "--timeout", "300s",
    )  # fmt: skip
    pods = poll(world.pods, all_ready, 120, "every VAS pod Running and Ready")
    world.figures["install_to_ready_seconds"] = round(time.monotonic() - started, 1)
    by_component = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods}
    assert by_component == set(COMPONENTS)
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["spec"]["nodeName"] == NODE_NAME, name
        # A real pod IP from the bridge, not kwok's loopback one.
        assert pod["status"]["podIP"].startswith(POD_CIDR.rsplit(".", 1)[0] + "."), name
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
        for c in pod["spec"]["containers"]:
            assert c["imagePullPolicy"] == "Never"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
    # The namespace really enforces `restricted`: a pod that breaks it is refused.
    bad = kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "privileged", "namespace": NS},
            "spec": {"containers": [{"name": "x", "image": IMAGES["redis"]}]},
        },
        check=False,
    )
    assert bad.returncode != 0
    assert "violates PodSecurity" in bad.stderr, bad.stderr


def test_camera_becomes_ready_through_the_operator_pod(world: World) -> None:
    kube = world.kube
    kube.kubectl("create", "namespace", SITE)
    kube.apply(credentials_secret(SITE, "lobby-credentials", "admin", "e2e-pass"))
    started = time.monotonic()
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": "lobby", "namespace": SITE},
            "spec": {
                "source": {
                    "url": world.camera.url("/secure"),
                    "credentialsSecretRef": {"name": "lobby-credentials"},
                },
                "description": "on the host, seen from the real node",
            },
        }
    )
    status = poll(world.camera_status, ready, 120, "Camera lobby Ready")
    world.figures["camera_ready_seconds"] = round(time.monotonic() - started, 1)
    assert condition(status, "MountpointReady").get("status") == "True"
    assert status["stream"]["codec"] == "h264", status


def test_browser_plays_through_the_facade_service_and_the_gateway_pod(world: World) -> None:
    kube = world.kube
    kube.kubectl("create", "serviceaccount", "viewer", "-n", SITE)
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "viewer", "namespace": SITE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{RELEASE}-camera-viewer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": SITE}],
        }
    )
    token = kube.kubectl("create", "token", "viewer", "-n", SITE, "--audience", "vas").stdout
    world.token = token.strip()
    url = f"{world.facade_url()}/?play={SITE}/lobby"
    gateway_ip = world.pods("gateway")[0]["status"]["podIP"]
    with browser_page(url, world.token) as page:
        shown = wait_playing(page, 60)
        world.figures["first_frame_ms"] = shown["firstFrameMs"]
        page.screenshot(path=str(ARTIFACTS / "node-viewer-playing.png"))
        assert shown["width"] > 0
        # The media comes from the gateway pod's own address, which Janus offered in ICE;
        # no loopback candidate and no shim.
        pair = ice_pair(page)
        assert pair["remote"] == gateway_ip, pair
        assert gateway_ip.startswith(POD_CIDR.rsplit(".", 1)[0] + ".")
        assert not [a for a in pair["remotes"] if a.startswith("127.")], pair

        # The gateway pod goes away: its StatefulSet makes a new one, the operator mounts the
        # camera on it again, and the page's viewer reconnects by itself.
        t0 = page.evaluate("performance.now()")
        deleted = time.monotonic()
        kube.kubectl("delete", "pod", "-n", NS, f"{RELEASE}-gateway-0", "--wait=false")
        resumed = f"window.vas.events.filter(e => e[0] > {t0} && e[1] === 'playing').length"
        deadline = deleted + 90
        # The viewer may reach the new gateway before the camera is mounted on it (Janus
        # 455): it says so and tries again by itself until the operator has re-mounted it.
        while page.evaluate(resumed) == 0:
            assert time.monotonic() < deadline, f"no video 90 s after: {page_state(page)}"
            page.wait_for_timeout(200)
        world.figures["gateway_delete_video_gap_seconds"] = round(time.monotonic() - deleted, 1)
        back = wait_playing(page, 30)
        assert back["width"] > 0
    new_pods = world.pods("gateway")
    assert len(new_pods) == 1, new_pods
    assert new_pods[0]["status"]["podIP"], new_pods
    assert ready(world.camera_status())


def operator_logs(world: World) -> str:
    logs = ""
    for pod in world.pods("operator"):
        name = pod["metadata"]["name"]
        logs += world.kube.kubectl("logs", "-n", NS, name).stdout
        logs += world.kube.kubectl("logs", "-n", NS, name, "--previous", check=False).stdout
    return logs


def test_helm_upgrade_rolls_the_pods_and_the_camera_stays_ready(world: World) -> None:
    world.operator_logs = operator_logs(world)  # the pod the upgrade replaces
    before = {p["metadata"]["name"] for p in world.pods()}
    world.helm_run(
        "upgrade", RELEASE, str(CHART), "-n", NS, "-f", str(world.values_file),
        "--set", "operator.probeConcurrency=4", "--set", "facade.replicas=2",
        "--wait", "--timeout", "300s",
    )  # fmt: skip
    operator = poll(
        lambda: world.pods("operator"),
        lambda pods: all_ready(pods) and {p["metadata"]["name"] for p in pods}.isdisjoint(before),
        180,
        "a new operator pod Ready",
    )
    env = {e["name"]: e.get("value") for e in operator[0]["spec"]["containers"][0]["env"]}
    assert env["VAS_PROBE_CONCURRENCY"] == "4"
    poll(lambda: world.pods("facade"), lambda p: len(p) == 2 and all_ready(p), 120, "2 facades")
    status = poll(world.camera_status, ready, 60, "Camera lobby Ready after the upgrade")
    assert condition(status, "MountpointReady").get("status") == "True"


def test_the_operator_pod_was_never_refused_and_the_facade_reads_no_secret(world: World) -> None:
    logs = world.operator_logs + operator_logs(world)
    assert logs.strip(), "the operator pods logged nothing"
    refused = refusals(logs)
    assert not refused, refused[:10]
    facade = f"system:serviceaccount:{NS}:{RELEASE}-facade"
    for verb in ("get", "list", "watch"):
        answer = world.kube.kubectl(
            "auth", "can-i", verb, "secrets", "-A", "--as", facade, check=False
        )
        assert answer.stdout.strip() == "no", (verb, answer)


def test_helm_uninstall_keeps_the_crds_and_the_cameras(world: World) -> None:
    world.helm_run("uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "120s")
    poll(world.pods, lambda pods: not pods, 120, "every VAS pod gone")
    crds = world.kube.get_json("crd")["items"]
    assert {"cameras.vas.io", "cameragroups.vas.io", "discoveryscans.vas.io"} <= {
        c["metadata"]["name"] for c in crds
    }
    assert world.kube.get_json("-n", SITE, "camera", "lobby")["metadata"]["name"] == "lobby"
