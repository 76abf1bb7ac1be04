"""The gateway pool with three real Janus, each registered as a gateway pod the operator finds
only through the API server (kwok "runs" them with hostNetwork, so their pod IP is where
each Janus listens): cameras spread within capacity, a restarted Janus gets its mountpoints
back, a pod that goes away has its cameras mounted elsewhere, and no mountpoint is ever left
twice, also across an operator restart in the middle of a move. Real-pod scaling and
draining with a browser watching are in test_node_pool.py.

Figures (healing times) are printed; run with -s to see them."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import OperatorProcess, environment
from tests.support import Cluster, gateway_pod, poll, pool_settings
from vas_core.identity import mountpoint_id, substream_id
from vas_core.livekeys import PLACEMENT_KEY
from vas_operator.mountpoints import MountpointSpec, mountpoint_secret

pytestmark = pytest.mark.cluster
NS = "pool-tests"
PODS = ("gw-0", "gw-1", "gw-2")
CAMERAS = [f"cam-{i:02d}" for i in range(12)]
CAPACITY = 6
KEY = secrets.token_hex(8)


@dataclass
class Pool:
    kube: Cluster
    janus: dict[str, JanusGateway]
    camera: RtspCamera
    redis: redis.Redis
    operator: OperatorProcess
    figures: dict[str, float]

    def cams(self) -> dict[str, dict[str, Any]]:
        items = self.kube.get_json("-n", NS, "cameras")["items"]
        return {c["metadata"]["name"]: c for c in items}

    def listed(self) -> dict[str, list[str]]:
        """Which cameras each running Janus lists, by camera name."""
        out: dict[str, list[str]] = {}
        for pod, janus in self.janus.items():
            if janus.proc is None:
                continue
            out[pod] = sorted(
                json.loads(m.get("metadata") or "{}").get("camera", "?")
                for m in janus.mountpoints()
            )
        return out


def ready_on(cam: dict[str, Any]) -> str | None:
    status = cam.get("status") or {}
    ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
    return (status.get("gateway") or {}).get("pod") if ready.get("status") == "True" else None


def no_duplicates(listed: dict[str, list[str]]) -> None:
    counts = Counter(name for names in listed.values() for name in names)
    twice = {name: n for name, n in counts.items() if n > 1}
    assert not twice, f"mountpoints on more than one gateway: {twice} in {listed}"


def all_placed(pool: Pool) -> dict[str, str]:
    """Every camera Ready, where its status says, and each Janus lists exactly its own."""

    def check(cams: dict[str, dict[str, Any]]) -> bool:
        return len(cams) == len(CAMERAS) and all(ready_on(c) for c in cams.values())

    cams = poll(pool.cams, check, 90, "all 12 cameras Ready")
    return {name: str(ready_on(cam)) for name, cam in cams.items()}


def consistent(pool: Pool, where: dict[str, str]) -> bool:
    listed = pool.listed()
    expected = {pod: sorted(n for n, p in where.items() if p == pod) for pod in listed}
    return listed == expected


@pytest.fixture(scope="module")
def pool(crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    kube = crds_installed
    work = tmp_path_factory.mktemp("pool")
    kube.kubectl("create", "namespace", NS)
    secret = secrets.token_hex(8)
    gateways = {
        pod: JanusGateway(admin_secret=secret, admin_key=secret, api_secret=secret) for pod in PODS
    }
    with (
        RtspCamera(mounts=[*(f"/{c}" for c in CAMERAS), "/sub=320x240"]) as camera,
        RedisServer() as redis_server,
    ):
        try:
            for pod, janus in gateways.items():
                janus.start()
                gateway_pod(kube, NS, pod, janus.http_port, janus.admin_port, NS)
            env = environment(
                janus_admin_secret=secret,
                janus_streaming_admin_key=secret,
                mountpoint_key=KEY,
                redis_url=redis_server.url,
                health_interval_seconds="2",
                gateway_max_mountpoints=str(CAPACITY),
                **pool_settings(NS, NS),
            )
            operator = OperatorProcess(kube, work / "operator.log", env, NS)
            operator.start()
            client = redis.Redis.from_url(redis_server.url, decode_responses=True)
            try:
                yield Pool(kube, gateways, camera, client, operator, {})
            finally:
                operator.stop()
                client.close()
        finally:
            for janus in gateways.values():
                janus.stop()


def test_twelve_cameras_spread_over_three_pods_within_capacity(pool: Pool) -> None:
    for name in CAMERAS:
        pool.kube.apply(
            {
                "apiVersion": "vas.io/v1alpha1",
                "kind": "Camera",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"source": {"url": pool.camera.url(f"/{name}")}},
            }
        )
    where = all_placed(pool)
    per_pod = Counter(where.values())
    assert set(per_pod) == set(PODS), per_pod  # every pod carries some
    assert max(per_pod.values()) <= CAPACITY, per_pod
    assert max(per_pod.values()) - min(per_pod.values()) <= 1, per_pod  # least-loaded first
    poll(lambda: consistent(pool, where), bool, 20, "each Janus lists exactly its cameras")
    no_duplicates(pool.listed())
    # `kubectl get cam` shows where each camera is.
    table = pool.kube.kubectl("get", "cam", "-n", NS, "--no-headers").stdout
    for line in table.splitlines():
        fields = line.split()
        assert where[fields[0]] in fields, line
    # The facades route by what the operator published, not by Camera status.
    published = poll(
        lambda: pool.redis.hgetall(PLACEMENT_KEY),
        lambda m: len(m) == len(CAMERAS),
        20,
        "placements published",
    )
    assert published == {str(mountpoint_id(NS, n)): p for n, p in where.items()}
    metric = pool.operator.metric
    assert metric("vas_gateway_pods", state="open") == 3
    poll(
        lambda: {p: metric("vas_gateway_mountpoints", pod=p) for p in PODS},
        lambda gauges: gauges == dict(per_pod),
        10,
        "the mountpoints gauge per pod",
    )


def test_a_restarted_janus_gets_all_its_mountpoints_back(pool: Pool) -> None:
    where = all_placed(pool)
    victim = "gw-1"
    mine = sorted(n for n, p in where.items() if p == victim)
    janus = pool.janus[victim]
    janus.restart()  # same pod, same address, nothing mounted
    restarted = time.monotonic()

    def back() -> bool:
        names = [json.loads(m.get("metadata") or "{}").get("camera") for m in janus.mountpoints()]
        receiving = [
            m
            for m in janus.mountpoints()
            if any(x.get("age_ms", 1e9) < 1000 for x in m.get("media", []))
        ]
        return sorted(n for n in names if n) == mine and len(receiving) == len(mine)

    poll(lambda: back(), bool, 30, f"{victim}'s {len(mine)} mountpoints back and receiving")
    pool.figures["janus_restart_back_seconds"] = round(time.monotonic() - restarted, 1)
    print(f"\n{victim} restarted: {len(mine)} mountpoints back and receiving in "
          f"{pool.figures['janus_restart_back_seconds']} s")  # fmt: skip
    assert all_placed(pool) == where  # stable: nothing moved
    no_duplicates(pool.listed())
    # Seen missing (MountpointLost) or, when a watch round fell in the restart, not answering.
    rechecked = sum(
        pool.operator.metric("vas_mountpoint_recreations_total", reason=reason)
        for reason in ("MountpointLost", "GatewayUnavailable")
    )
    assert rechecked >= 1
    assert pool.operator.metric("vas_camera_replacements_total") == 0


def test_a_pod_that_goes_away_has_its_cameras_mounted_elsewhere(pool: Pool) -> None:
    where = all_placed(pool)
    victim = "gw-2"
    moving = sorted(n for n, p in where.items() if p == victim)
    pool.kube.kubectl("delete", "pod", "-n", NS, victim, "--wait=false")
    pool.janus[victim].stop()
    gone = time.monotonic()

    def moved(cams: dict[str, dict[str, Any]]) -> bool:
        return all(ready_on(cams[n]) not in (None, victim) for n in moving)

    poll(pool.cams, moved, 30, f"{victim}'s cameras Ready on other pods")
    pool.figures["pod_gone_ready_elsewhere_seconds"] = round(time.monotonic() - gone, 1)
    print(f"\n{victim} deleted: its {len(moving)} cameras Ready elsewhere in "
          f"{pool.figures['pod_gone_ready_elsewhere_seconds']} s")  # fmt: skip
    after = all_placed(pool)
    assert all(after[n] == where[n] for n in where if n not in moving)  # the rest stayed
    assert max(Counter(after.values()).values()) <= CAPACITY
    poll(lambda: consistent(pool, after), bool, 20, "each Janus lists exactly its cameras")
    no_duplicates(pool.listed())
    assert pool.operator.metric("vas_camera_replacements_total") == len(moving)
    poll(lambda: pool.operator.metric("vas_gateway_pods", state="open"), lambda n: n == 2, 10,
         "two open pods counted")  # fmt: skip


def test_no_duplicate_survives_an_operator_restart_in_the_middle_of_a_move(pool: Pool) -> None:
    """A move creates the new copy before removing the old one; an operator stopped between
    the two leaves the camera on two gateways. The restarted operator keeps one."""
    where = all_placed(pool)
    name = sorted(where)[0]
    home = where[name]
    other = next(p for p in PODS if p != home and pool.janus[p].proc is not None)
    pool.operator.stop()
    mp_id = mountpoint_id(NS, name)
    spec = MountpointSpec(
        id=mp_id,
        secret=mountpoint_secret(KEY, mp_id),
        namespace=NS,
        camera=name,
        url=pool.camera.url(f"/{name}"),
        credentials=None,
        fingerprint="left-by-a-move",
    )
    request = spec.create_request(pool.janus[other].admin_key)
    assert pool.janus[other].admin({"request": "create", **request}).get("streaming") == "created"
    assert sum(name in names for names in pool.listed().values()) == 2
    pool.operator.start()
    poll(
        lambda: sum(name in names for names in pool.listed().values()),
        lambda n: n == 1,
        30,
        f"one copy of {name} left",
    )
    after = all_placed(pool)
    holder = next(p for p, names in pool.listed().items() if name in names)
    assert after[name] == holder
    no_duplicates(pool.listed())


def test_a_camera_with_a_substream_moves_with_both_mountpoints(pool: Pool) -> None:
    """Both of a camera's mountpoints live on one pod and move together. Runs last: it shrinks
    the pool to one pod, after removing enough cameras for everything to fit there."""
    for name in CAMERAS[:7]:
        pool.kube.kubectl("delete", "cam", "-n", NS, name, "--wait=false")
    pool.kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": "pair", "namespace": NS},
            "spec": {
                "source": {"url": pool.camera.url(f"/{CAMERAS[0]}")},
                "substream": {"url": pool.camera.url("/sub")},
            },
        }
    )
    both = {mountpoint_id(NS, "pair"), substream_id(NS, "pair")}

    def mounted_pair(cams: dict[str, dict[str, Any]]) -> bool:
        cam = cams.get("pair") or {}
        sub = next(
            (c for c in (cam.get("status") or {}).get("conditions", [])
             if c["type"] == "SubstreamReady"),
            {},
        )  # fmt: skip
        return ready_on(cam) is not None and sub.get("status") == "True"

    def holders() -> dict[str, set[int]]:
        return {
            pod: {m["id"] for m in janus.mountpoints()} & both
            for pod, janus in pool.janus.items()
            if janus.proc is not None
        }

    cams = poll(pool.cams, mounted_pair, 60, "pair Ready with its sub-stream")
    home = str(ready_on(cams["pair"]))
    poll(holders, lambda h: h.get(home) == both and sum(map(len, h.values())) == 2, 20,
         f"both of pair's mountpoints on {home} only")  # fmt: skip
    pool.kube.kubectl("delete", "pod", "-n", NS, home, "--wait=false")
    pool.janus[home].stop()

    cams = poll(
        pool.cams,
        lambda c: mounted_pair(c) and ready_on(c["pair"]) != home,
        60,
        "pair Ready with its sub-stream on another pod",
    )
    there = str(ready_on(cams["pair"]))
    gateway = cams["pair"]["status"]["gateway"]
    assert gateway["substreamMountpointId"] == substream_id(NS, "pair")
    poll(holders, lambda h: h.get(there) == both and sum(map(len, h.values())) == 2, 20,
         f"both of pair's mountpoints on {there} only")  # fmt: skip
    published = poll(
        lambda: pool.redis.hgetall(PLACEMENT_KEY),
        lambda m: all(m.get(str(i)) == there for i in both),
        20,
        "both placements published",
    )
    assert published[str(substream_id(NS, "pair"))] == there
