"""The gateway pool on a real node: the chart's gateway StatefulSet as real pods (Janus from the
shipped image, at their own pod IPs), sized by the operator through the StatefulSet's scale
subresource, with the operator and two facade replicas finding the pods only through the API
server.

In order, on one release: the pool grows from one pod to its minimum of three; twelve cameras
spread over the three within capacity; a Janus killed in its pod gets all its mountpoints back
when the kubelet restarts it; a deleted gateway pod has its cameras Ready on the others;
cameras past capacity raise the StatefulSet's replicas; removing them drains the highest pod
(its cameras move, a viewer in Chromium playing one of them reconnects by itself) and lowers
the replicas; both facade replicas served the viewer's signalling and report the same viewer
count. Figures are printed at the end (run with -s) and kept in the node's state folder."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.media.fixtures import RtspCamera
from tests.node import (
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
from tests.support import REPO, Cluster, poll

pytestmark = pytest.mark.cluster
CHART = REPO / "charts" / "vas"
NS = "vas-pool"
SITE = "city"
RELEASE = "vas"
STS = f"{RELEASE}-gateway"
CAPACITY = 6  # cameras per gateway pod; the pool aims at 80 % of it
ARTIFACTS = REPO / "tests" / "artifacts"


def values() -> dict[str, Any]:
    return chart_values(
        gateway={
            "autoscaling": {
                "enabled": True,
                "minReplicas": 3,
                "maxReplicas": 4,
                "targetUtilisation": 0.8,
                "scaleDownDelaySeconds": 5,
            },
            "capacity": {"mountpoints": CAPACITY, "viewers": 300},
            "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
        },
        operator={"healthIntervalSeconds": 2},
        facade={"replicas": 2},
    )


class World:
    def __init__(self, node: RealNode, helm: Path, camera: RtspCamera, state: Path) -> None:
        self.node, self.helm, self.camera, self.state = node, helm, camera, state
        self.kube: Cluster = node.cluster
        self.figures: dict[str, Any] = {}
        self.values_file = state / "values.yaml"
        self.values_file.write_text(yaml.safe_dump(values()))
        self._admin_secret = ""

    def helm_run(self, *args: str, timeout: float = 400) -> str:
        return run([str(self.helm), *args], timeout=timeout, env=self.kube.env())

    def pods(self, component: str) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
        items: list[dict[str, Any]] = self.kube.get_json("-n", NS, "pods", "-l", selector)["items"]
        return sorted(items, key=lambda p: p["metadata"]["name"])

    def gateways(self) -> dict[str, dict[str, Any]]:
        """Ready gateway pods by name."""
        return {p["metadata"]["name"]: p for p in self.pods("gateway") if pod_ready(p)}

    def replicas(self) -> int:
        scale = self.kube.get_json("-n", NS, "statefulset", STS)
        return int(scale["spec"].get("replicas") or 0)

    def admin_secret(self) -> str:
        if not self._admin_secret:
            secret = self.kube.get_json("-n", NS, "secret", f"{RELEASE}-secrets")
            self._admin_secret = base64.b64decode(secret["data"]["janus-admin-secret"]).decode()
        return self._admin_secret

    def listed(self) -> dict[str, list[dict[str, Any]]]:
        """What each ready gateway pod's Janus lists (its Admin API at the pod IP)."""
        out = {}
        for name, pod in self.gateways().items():
            body = {
                "janus": "message_plugin",
                "transaction": secrets.token_hex(6),
                "admin_secret": self.admin_secret(),
                "plugin": "janus.plugin.streaming",
                "request": {"request": "list"},
            }
            url = f"http://{pod['status']['podIP']}:7088/admin"
            try:
                reply = httpx.post(url, json=body, timeout=5).json()
            except (httpx.HTTPError, ValueError):
                continue
            out[name] = reply.get("response", {}).get("list", [])
        return out

    def cameras_on(self) -> dict[str, list[str]]:
        return {
            pod: sorted(json.loads(m.get("metadata") or "{}").get("camera", "?") for m in listed)
            for pod, listed in self.listed().items()
        }

    def cams(self) -> dict[str, dict[str, Any]]:
        return {c["metadata"]["name"]: c for c in self.kube.get_json("-n", SITE, "cam")["items"]}

    def add_camera(self, name: str) -> None:
        self.kube.apply(
            {
                "apiVersion": "vas.io/v1alpha1",
                "kind": "Camera",
                "metadata": {"name": name, "namespace": SITE},
                "spec": {"source": {"url": self.camera.url(f"/{name}")}},
            }
        )

    def placed(self, count: int, timeout: float = 120) -> dict[str, str]:
        """Waits until ``count`` cameras are Ready; where each is, by its status."""
        cams = poll(
            self.cams,
            lambda c: len(c) == count and all(ready_on(x) for x in c.values()),
            timeout,
            f"{count} cameras Ready",
        )
        return {n: str(ready_on(c)) for n, c in cams.items()}

    def events(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.kube.get_json(
            "-n", NS, "events", "--field-selector", f"involvedObject.name={STS}"
        )["items"]
        return items


def ready_on(cam: dict[str, Any]) -> str | None:
    status = cam.get("status") or {}
    ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
    return (status.get("gateway") or {}).get("pod") if ready.get("status") == "True" else None


def no_duplicates(on: dict[str, list[str]]) -> None:
    twice = {n: k for n, k in Counter(x for names in on.values() for x in names).items() if k > 1}
    assert not twice, f"mountpoints on more than one gateway pod: {twice} in {on}"


def receiving(listed: list[dict[str, Any]]) -> list[str]:
    return sorted(
        json.loads(m.get("metadata") or "{}").get("camera", "?")
        for m in listed
        if m.get("media") and all(x.get("age_ms", 10**9) < 1000 for x in m["media"])
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.skip("a real node needs root (containerd, CNI, iptables)")
    images, _ = build_images()
    state = tmp_path_factory.mktemp("pool-node")
    with real_node(state) as node:
        helm = helm_bin()
        camera = RtspCamera(
            mounts=[f"/c{i:02d}" for i in range(18)], address=NODE_IP, log_path=state / "cam.log"
        ).start()
        try:
            w = World(node, helm, camera, state)
            node.load_images(images)
            yield w
        finally:
            camera.stop()
            (state / "figures.json").write_text(json.dumps(w.figures, indent=2))
            print(f"\nreal-node gateway pool figures: {json.dumps(w.figures)}")


def test_the_pool_grows_to_its_minimum_of_three_pods(world: World) -> None:
    world.kube.kubectl("create", "namespace", NS)
    started = time.monotonic()
    world.helm_run(
        "install", RELEASE, str(CHART), "-n", NS, "-f", str(world.values_file),
        "--wait", "--timeout", "300s",
    )  # fmt: skip
    # The chart leaves replicas to the operator (the StatefulSet starts at one pod), so a
    # helm upgrade never undoes what the autoscaler set.
    manifest = world.helm_run("get", "manifest", RELEASE, "-n", NS)
    sts = next(d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "StatefulSet")
    assert "replicas" not in sts["spec"], sts["spec"]
    poll(world.gateways, lambda g: len(g) == 3, 120, "three gateway pods Ready")
    world.figures["install_to_three_gateways_seconds"] = round(time.monotonic() - started, 1)
    assert world.replicas() == 3
    reasons = [e["reason"] for e in world.events()]
    assert "ScaleUp" in reasons, reasons
    for pod in world.gateways().values():
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert pod["status"]["podIP"].startswith(POD_CIDR.rsplit(".", 1)[0] + ".")
    poll(lambda: world.pods("facade"), lambda p: len(p) == 2 and all(map(pod_ready, p)), 120,
         "two facade replicas Ready")  # fmt: skip


def test_twelve_cameras_spread_over_the_three_pods_within_capacity(world: World) -> None:
    world.kube.kubectl("create", "namespace", SITE)
    started = time.monotonic()
    for i in range(12):
        world.add_camera(f"c{i:02d}")
    where = world.placed(12)
    world.figures["twelve_cameras_ready_seconds"] = round(time.monotonic() - started, 1)
    per_pod = Counter(where.values())
    assert set(per_pod) == {f"{STS}-{i}" for i in range(3)}, per_pod
    assert max(per_pod.values()) <= CAPACITY
    table = world.kube.kubectl("get", "cam", "-n", SITE, "--no-headers").stdout
    assert all(where[line.split()[0]] in line.split() for line in table.splitlines()), table

    def matches(on: dict[str, list[str]]) -> bool:
        return all(on.get(p, []) == sorted(n for n, q in where.items() if q == p) for p in per_pod)

    on = poll(world.cameras_on, matches, 30, "each Janus lists exactly its cameras")
    no_duplicates(on)


def test_a_killed_janus_gets_all_its_mountpoints_back(world: World) -> None:
    where = world.placed(12)
    victim = f"{STS}-1"
    mine = sorted(n for n, p in where.items() if p == victim)
    pod = world.gateways()[victim]
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    container = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    world.node.ctr("tasks", "kill", "-s", "SIGKILL", container)
    killed = time.monotonic()

    def restarted() -> dict[str, Any]:
        return world.kube.get_json("-n", NS, "pod", victim)

    poll(
        restarted,
        lambda p: p["status"]["containerStatuses"][0]["restartCount"] > restarts and pod_ready(p),
        60,
        f"{victim}'s Janus restarted by the kubelet and Ready",
    )
    back_up = time.monotonic()
    poll(
        lambda: receiving(world.listed().get(victim, [])),
        lambda names: names == mine,
        60,
        f"{victim}'s {len(mine)} mountpoints back and receiving",
    )
    world.figures["janus_kill_to_ready_seconds"] = round(back_up - killed, 1)
    world.figures["janus_ready_to_mountpoints_receiving_seconds"] = round(
        time.monotonic() - back_up, 1
    )
    assert world.placed(12) == where  # stable: nothing moved while it restarted
    no_duplicates(world.cameras_on())


def test_a_deleted_gateway_pod_has_its_cameras_ready_on_the_others(world: World) -> None:
    where = world.placed(12)
    victim = f"{STS}-2"
    moving = sorted(n for n, p in where.items() if p == victim)
    world.kube.kubectl("delete", "pod", "-n", NS, victim, "--wait=false")
    deleted = time.monotonic()
    poll(
        world.cams,
        lambda cams: all(ready_on(cams[n]) not in (None, victim) for n in moving),
        60,
        f"{victim}'s cameras Ready on other pods",
    )
    world.figures["pod_deleted_cameras_ready_elsewhere_seconds"] = round(
        time.monotonic() - deleted, 1
    )
    after = world.placed(12)
    assert all(after[n] == where[n] for n in where if n not in moving)
    assert max(Counter(after.values()).values()) <= CAPACITY
    # The StatefulSet brings the pod back, empty; nothing is mounted twice meanwhile.
    poll(world.gateways, lambda g: victim in g, 60, f"{victim} back")
    poll(world.cameras_on, lambda on: sum(map(len, on.values())) == 12, 30, "12 mountpoints")
    no_duplicates(world.cameras_on())


def test_cameras_past_capacity_scale_up_and_removing_them_drains_and_scales_down(
    world: World,
) -> None:
    world.placed(12)
    for i in range(12, 15):  # 15 cameras need ceil(15 / (6 x 0.8)) = 4 pods
        world.add_camera(f"c{i:02d}")
    poll(world.replicas, lambda n: n == 4, 60, "the StatefulSet scaled to 4")
    poll(world.gateways, lambda g: f"{STS}-3" in g, 120, "the fourth gateway pod Ready")
    world.placed(15)
    for i in range(15, 17):  # new cameras go to the emptiest pod: the new one
        world.add_camera(f"c{i:02d}")
    where = world.placed(17)
    on_new = sorted(n for n, p in where.items() if p == f"{STS}-3")
    assert on_new, where
    watched = on_new[0]

    token = world.kube.kubectl("create", "token", "watcher", "-n", SITE, "--audience", "vas",
                               check=False).stdout.strip()  # fmt: skip
    if not token:
        world.kube.kubectl("create", "serviceaccount", "watcher", "-n", SITE)
        world.kube.kubectl(
            "create", "rolebinding", "watcher", f"--clusterrole={RELEASE}-camera-viewer",
            f"--serviceaccount={SITE}:watcher", "-n", SITE,
        )  # fmt: skip
        token = world.kube.kubectl(
            "create", "token", "watcher", "-n", SITE, "--audience", "vas"
        ).stdout.strip()
    svc = world.kube.get_json("-n", NS, "service", f"{RELEASE}-facade")
    url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/?play={SITE}/{watched}"
    with browser_page(url, token) as page:
        wait_playing(page, 60)
        before = ice_pair(page)["remote"]
        assert before == world.gateways()[f"{STS}-3"]["status"]["podIP"]
        viewers = [facade_viewers(world, pod, token, watched) for pod in world.pods("facade")]
        assert viewers[0] == viewers[1], viewers  # one count, whichever replica answers
        assert viewers[0] >= 1, viewers

        # Back to 12 cameras, none of them the watched one: the pool wants 3 pods again.
        doomed = [n for n in sorted(where) if where[n] != f"{STS}-3"][:5]
        t0 = page.evaluate("performance.now()")
        drained_from = time.monotonic()
        world.kube.kubectl("delete", "cam", "-n", SITE, *doomed)
        poll(world.replicas, lambda n: n == 3, 120, "the StatefulSet back to 3")
        world.figures["remove_to_scaled_down_seconds"] = round(time.monotonic() - drained_from, 1)
        resumed = f"window.vas.events.filter(e => e[0] > {t0} && e[1] === 'playing')"
        first_stop = f"window.vas.events.filter(e => e[0] > {t0} && e[1] !== 'playing')"
        deadline = time.monotonic() + 60
        while not page.evaluate(f"{resumed}.length"):
            assert time.monotonic() < deadline, f"no video after the drain: {page_state(page)}"
            page.wait_for_timeout(200)
        back = wait_playing(page, 30)
        assert back["width"] > 0
        stopped_at = page.evaluate(f"({first_stop}[0] || [null])[0]")
        played_at = page.evaluate(f"{resumed}[0][0]")
        if stopped_at is not None:
            world.figures["drain_video_gap_ms"] = round(played_at - stopped_at)
        after = ice_pair(page)["remote"]
        assert after != before  # it plays from another pod now
        page.screenshot(path=str(ARTIFACTS / "node-pool-after-drain.png"))
    where = world.placed(12)
    assert f"{STS}-3" not in where.values()
    assert max(Counter(where.values()).values()) <= CAPACITY
    no_duplicates(world.cameras_on())
    reasons = Counter(e["reason"] for e in world.events())
    assert reasons["Draining"] >= 1, reasons
    assert reasons["ScaleDown"] >= 1, reasons
    world.figures["scale_events"] = dict(reasons)


def facade_viewers(world: World, pod: dict[str, Any], token: str, camera: str) -> int:
    """The viewer count one facade replica reports, asked at its own pod IP."""
    port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    url = f"http://{pod['status']['podIP']}:{port}/api/v1/namespaces/{SITE}/cameras/{camera}"
    reply = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    reply.raise_for_status()
    return int(reply.json()["live"]["figures"]["viewers"])


def test_both_facade_replicas_served_the_viewers_signalling(world: World) -> None:
    served = []
    for pod in world.pods("facade"):
        logs = world.kube.kubectl("logs", "-n", NS, pod["metadata"]["name"]).stdout
        served.append(sum(f"/gateway/{SITE}/" in line for line in logs.splitlines()))
    assert all(served), f"signalling requests per facade replica: {served}"
    world.figures["signalling_requests_per_facade"] = served
