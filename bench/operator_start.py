"""Benchmark: the operator with N Cameras that exist (by default 10,000), and bare Kopf with
the same N in the same run (the floor: ``bench/floor_operator.py``, VAS's Kopf settings and
handlers that only write the status and an Event).

Each side gets a fresh control plane and N Cameras created while it is stopped, then:

1. first start: every Camera handled (VAS: each probed with PyAV against real RTSP servers and
   mounted, so each ends Ready), with the time, peak RSS and writes per camera;
2. at rest: RSS 30 s later;
3. restart: until it is back watching (its liveness probe counts every Camera resumed and none
   waiting), with the writes and probes it made (zero is the goal for unchanged cameras: a
   restart must not touch etcd or the cameras), peak and resting RSS;
4. live: ``--live`` new Cameras created at ``--rate`` a second while the N exist, each timed
   from its create request to Ready.

What it stands on, so it fits 2 cores: the Cameras' streams are real (GStreamer RTSP servers,
one per 2,500 cameras, each camera its own path of a shared encoder) and every probe is real;
the gateway is ``bench/janus_stub.py``, which answers Janus's Admin API ``create``,
``destroy`` and ``list`` from memory and lists every mountpoint as receiving (a real Janus
cannot hold ten thousand RTSP mountpoints here).

    make bench-operator-start                 # N=10000, 500 live cameras at 50/s
    .venv/bin/python -m bench.operator_start --cameras 2000 --live 100
"""

from __future__ import annotations

import argparse
import math
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    CpuMeter,
    FloorOperator,
    ReadyWatch,
    api_client,
    camera_body,
    control_plane_pids,
    create_all,
    handled,
    percentile,
    rss_mb,
    with_children,
    writes,
    writes_per_camera,
)
from tests.media.fixtures import RtspCamera, stop_pid
from tests.operator_process import OperatorProcess, environment
from tests.support import (
    Cluster,
    free_port,
    gateway_pod,
    install_crds,
    pool_settings,
    start_cluster,
    stop_cluster,
)

NS = "bench"
# "At rest": a minute after the last change, past the operator's idle housekeeping (memory
# trimmed after a burst, the probe worker replaced after 30 s idle).
REST_SECONDS = 60
PER_SERVER = 2500


@contextmanager
def janus_stub(log: Path) -> Iterator[tuple[int, str, int]]:
    port, secret = free_port(), secrets.token_hex(12)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.janus_stub", "--port", str(port), "--admin-secret", secret],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.post(f"http://127.0.0.1:{port}/admin", json={}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield port, secret, proc.pid
    finally:
        stop_pid(proc)


def rtsp_servers(
    stack: ExitStack, cameras: int, log: Path
) -> tuple[Callable[[int], str], list[int]]:
    count = max(1, math.ceil(cameras / PER_SERVER))
    servers = [
        stack.enter_context(
            RtspCamera(
                mounts=[],
                fanout=math.ceil(cameras / count),
                size=(320, 240),
                bitrate=128,
                fps=15,  # only the probes pull media here: nothing relays it
                log_path=log,
            )
        )
        for _ in range(count)
    ]
    pids = [s.proc.pid for s in servers if s.proc]
    return (lambda i: servers[i % count].url(f"/fan/{i // count}")), pids


def versions(cluster: Cluster) -> dict[str, str]:
    """Every Camera's resourceVersion: unchanged means nothing wrote it."""
    out: dict[str, str] = {}
    token: str | None = None
    with api_client(cluster, timeout=120) as api:
        while True:
            params: dict[str, Any] = {"limit": 2000, **({"continue": token} if token else {})}
            page = api.get(f"/apis/vas.io/v1alpha1/namespaces/{NS}/cameras", params=params)
            body = page.json()
            out |= {c["metadata"]["name"]: c["metadata"]["resourceVersion"] for c in body["items"]}
            token = body["metadata"].get("continue")
            if not token:
                return out


def rss(pids: list[int]) -> str:
    """The RSS of the side's process and of its children now (the probe worker is replaced
    after a burst, so its pid is looked up again)."""
    parts = []
    for pid in with_children(pids[0]):
        peak, now = rss_mb(pid)
        parts.append(f"{now:.0f} MB (peak {peak:.0f})")
    return " + ".join(parts)


class Side:
    """One operator under test: VAS, or the floor."""

    def __init__(self, name: str, start: Callable[[], Any], stop: Callable[[], None]) -> None:
        self.name, self._start, self.stop = name, start, stop
        self.metrics_port = 0
        self.pids: list[int] = []
        self.metric: Callable[..., float] = lambda name, **labels: 0.0

    def start(self) -> None:
        self.metrics_port, self.pids = self._start()


def until_back(side: Side, n: int, timeout: float = 600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        done, waiting = handled(side.metrics_port)
        if done >= n and waiting == 0:
            break
        time.sleep(0.25)  # a scrape costs the operator GIL time: 10 a second was 7 % of a restart
    return time.monotonic() - started


def loop_figures(side: Side) -> list[float]:
    """What has held the operator's event loop so far (its own metrics): lag samples, those
    late by 100 ms or less, full garbage collections and their total pause."""
    return [
        side.metric("vas_event_loop_lag_seconds_count"),
        side.metric("vas_event_loop_lag_seconds_bucket", le="0.1"),
        side.metric("vas_gc_pause_seconds_count", generation="2"),
        side.metric("vas_gc_pause_seconds_sum", generation="2"),
    ]


def loop_stalls(before: list[float], after: list[float]) -> str:
    samples, prompt, collections, paused = (a - b for a, b in zip(after, before, strict=True))
    return (
        f"{samples - prompt:.0f} of {samples:.0f} loop samples late by over 100 ms; "
        f"{collections:.0f} full GCs, {paused * 1000:.0f} ms in all"
    )


def live_creates(
    cluster: Cluster, n: int, rate: float, url: Callable[[int], str], offset: int
) -> dict[str, Any]:
    """``n`` new Cameras at ``rate`` a second, each timed from its request to Ready."""
    with ReadyWatch(cluster, NS) as watch:
        sent: dict[str, float] = {}
        started = time.monotonic()
        for i in range(n):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            body = camera_body(NS, f"live-{i:04d}", url(offset + i))
            sent |= create_all(cluster, [body], concurrency=1)
        watch.wait(sent, 60)
        latency = [(watch.at[k] - sent[k]) * 1000 for k in sent if k in watch.at]
    return {
        "live_ready": f"{len(latency)}/{n} at {rate:g}/s",
        "live_create_to_ready_p50_ms": round(statistics.median(latency)) if latency else None,
        "live_create_to_ready_p99_ms": round(percentile(latency, 99)) if latency else None,
        "live_create_to_ready_max_ms": round(max(latency)) if latency else None,
    }


def measure(
    cluster: Cluster,
    side: Side,
    n: int,
    args: argparse.Namespace,
    url: Callable[[int], str],
    rig: dict[str, list[int]],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    started = time.monotonic()
    create_all(cluster, [camera_body(NS, f"cam-{i:05d}", url(i)) for i in range(n)], 32)
    out["create_s"] = round(time.monotonic() - started, 1)

    cp = {k: [v] for k, v in control_plane_pids(cluster).items()} | rig
    before = writes(cluster)
    with ReadyWatch(cluster, NS) as watch:
        started = time.monotonic()
        side.start()
        meter = CpuMeter({side.name: side.pids, **cp})
        meter.start()
        watch.wait([f"cam-{i:05d}" for i in range(n)], max(600, n / 5))
        out["first_start_all_ready_s"] = round(time.monotonic() - started, 1)
        out["first_start_ready"] = f"{len(watch.at)}/{n}"
        meter.stop()
    out["first_start_writes_per_camera"] = writes_per_camera(before, writes(cluster), n)
    out["first_start_cpu_s"] = meter.summary()
    out["first_start_probes"] = int(
        side.metric("vas_probe_duration_seconds_count", reason="Probed")
    )
    time.sleep(REST_SECONDS)
    out["at_rest_rss"] = rss(side.pids)

    rv = versions(cluster)
    before = writes(cluster)
    side.stop()
    started = time.monotonic()
    side.start()
    meter = CpuMeter({side.name: side.pids, **cp})
    meter.start()
    until_back(side, n)
    meter.stop()
    out["restart_back_watching_s"] = round(time.monotonic() - started, 1)
    out["restart_cpu_s"] = meter.summary()
    out["restart_probes"] = int(side.metric("vas_probe_duration_seconds_count", reason="Probed"))
    time.sleep(5)  # whatever it still writes after it said it is back
    after = versions(cluster)
    out["restart_cameras_written"] = sum(1 for k, v in rv.items() if after.get(k) != v)
    out["restart_writes"] = writes_per_camera(before, writes(cluster), 1).replace(" 1.00", "")
    out["restart_rss_at_back"] = rss(side.pids)
    time.sleep(REST_SECONDS)
    out["restart_rss_at_rest"] = rss(side.pids)
    before = loop_figures(side)
    out |= live_creates(cluster, args.live, args.rate, url, n)
    out["live_event_loop"] = loop_stalls(before, loop_figures(side))
    out["rss_after_live"] = rss(side.pids)
    return out


def vas_side(
    cluster: Cluster, work: Path, stack: ExitStack, capacity: int, side_rig: dict[str, list[int]]
) -> Side:
    port, secret, pid = stack.enter_context(janus_stub(work / "stub.log"))
    side_rig["janus stub"] = [pid]
    gateway_pod(cluster, NS, "gw-stub-0", free_port(), port, NS)  # no HTTP API: no viewers
    env = environment(
        janus_admin_secret=secret,
        janus_streaming_admin_key=secrets.token_hex(8),
        mountpoint_key=secrets.token_hex(16),
        gateway_max_mountpoints=str(capacity),
        **pool_settings(NS, NS),
    )
    operator = OperatorProcess(cluster, work / "operator.log", env, NS)

    def start() -> tuple[int, list[int]]:
        operator.start()
        assert operator.proc is not None
        return operator.metrics_port, with_children(operator.proc.pid)

    side = Side("operator+probe worker", start, operator.stop)
    side.metric = operator.metric
    stack.callback(operator.stop)
    return side


def floor_side(cluster: Cluster, work: Path, stack: ExitStack) -> Side:
    floor = FloorOperator(cluster, NS, work / "floor.log")

    def start() -> tuple[int, list[int]]:
        floor.start()
        assert floor.proc is not None
        return floor.metrics_port, [floor.proc.pid]

    stack.callback(floor.stop)
    return Side("floor operator", start, floor.stop)


def run(args: argparse.Namespace, floor: bool) -> dict[str, Any]:
    n = args.cameras
    with tempfile.TemporaryDirectory(prefix="vas-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        cluster = start_cluster(work / "control-plane")
        stack.callback(stop_cluster, cluster)
        install_crds(cluster)
        cluster.kubectl("create", "namespace", NS)
        url, servers = rtsp_servers(stack, n + args.live, work / "rtsp.log")
        rig = {"rtsp servers": servers}
        side = (
            floor_side(cluster, work, stack)
            if floor
            else vas_side(cluster, work, stack, n + args.live, rig)
        )
        return measure(cluster, side, n, args, url, rig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=500, help="new cameras while N exist")
    parser.add_argument("--rate", type=float, default=50, help="their creates a second")
    parser.add_argument(
        "--sides",
        nargs="+",
        choices=["floor", "vas"],
        default=["floor", "vas"],
        help="floor: bare Kopf (the baseline); vas: the operator",
    )
    args = parser.parse_args()
    print(
        f"operator_start: N={args.cameras} existing Cameras (real RTSP streams, every probe "
        f"real; gateway: bench/janus_stub.py), then {args.live} new ones at {args.rate:g}/s",
        flush=True,
    )
    sides = [("floor (bare Kopf, VAS's Kopf settings)", True), ("VAS", False)]
    for label, floor in sides:
        if ("floor" if floor else "vas") not in args.sides:
            continue
        figures = run(args, floor=floor)
        print(f"  {label}")
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"    {key:<{width}}  {value}", flush=True)


if __name__ == "__main__":
    main()
