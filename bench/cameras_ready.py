"""Benchmark: N Cameras applied at once -> time until all are Ready, and one camera at a time
-> its time from apply to Ready, on the local stack; with the same done by bare Kopf (the floor,
``bench/floor_operator.py``: VAS's Kopf settings, handlers that only write the status and an
Event) in the same run, so what VAS adds is plain.

Everything is real and on loopback: the Go-built control plane, the operator process, Debian's
Janus (one gateway pod per 250 cameras, found through the API server like the chart's pods) and
GStreamer RTSP servers (one per 250 cameras), each serving its cameras at paths /fan/0.. from
one shared encoder, so each Camera gets its own probe, RTSP sessions and mountpoint while x264
runs once per server. Cameras are created by 16 concurrent API requests, as a GitOps controller
applies a folder (``kubectl apply`` of a List sends one request after another: its time is
printed too). Readiness comes from a watch, so the measurement costs the API server nothing but
the events. CPU per process is printed for the burst: it says what bounds it.

    make bench-cameras                       # N=500 and 1000, 20 single cameras
    .venv/bin/python -m bench.cameras_ready --cameras 200 --singles 10 --no-floor
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.common import (
    CpuMeter,
    FloorOperator,
    ReadyWatch,
    camera_body,
    control_plane_pids,
    create_all,
    percentile,
    with_children,
    writes,
    writes_per_camera,
)
from tests.media.fixtures import JanusGateway, RtspCamera
from tests.operator_process import OperatorProcess, operator_for
from tests.support import Cluster, gateway_pod, install_crds, start_cluster, stop_cluster

NS, FLOOR_NS = "bench", "floor"
PER_GATEWAY = 250  # cameras per Janus (the chart's default capacity is 100 per pod)
PER_SERVER = 250  # cameras per RTSP server process


@dataclass
class Rig:
    """The media side: RTSP servers and the Janus gateways registered as pods."""

    servers: list[RtspCamera]
    gateways: list[JanusGateway]

    def url(self, i: int) -> str:
        return self.servers[i % len(self.servers)].url(f"/fan/{i // len(self.servers)}")

    def pids(self) -> dict[str, list[int]]:
        return {
            "janus": [g.proc.pid for g in self.gateways if g.proc],
            "rtsp servers": [s.proc.pid for s in self.servers if s.proc],
        }

    def receiving(self) -> int:
        """Mountpoints that got a packet within the last second, over all gateways."""
        return sum(
            1
            for g in self.gateways
            for m in g.mountpoints()
            if m.get("media") and m["media"][0].get("age_ms", 10**9) < 1000
        )


def rig(stack: ExitStack, cameras: int, args: argparse.Namespace, log: Path) -> Rig:
    per_server = math.ceil(cameras / max(1, math.ceil(cameras / PER_SERVER)))
    servers = [
        stack.enter_context(
            RtspCamera(
                mounts=[],
                fanout=per_server,
                size=args.size,
                bitrate=args.bitrate,
                fps=args.fps,
                log_path=log,
            )
        )
        for _ in range(math.ceil(cameras / per_server))
    ]
    first = stack.enter_context(JanusGateway())
    # One pool: every pod has the same secrets, as the chart's StatefulSet gives them.
    same = {k: getattr(first, k) for k in ("admin_secret", "admin_key", "api_secret")}
    gateways = [first] + [
        stack.enter_context(JanusGateway(**same))
        for _ in range(1, math.ceil(cameras / PER_GATEWAY))
    ]
    return Rig(servers, gateways)


def vas_operator(cluster: Cluster, media: Rig, capacity: int, log: Path) -> OperatorProcess:
    first, *others = media.gateways
    operator = operator_for(
        cluster,
        first,
        NS,
        log,
        gateway="gw-bench-0",
        mountpoint_key=secrets.token_hex(16),
        gateway_max_mountpoints=str(capacity),
    )
    for i, janus in enumerate(others, start=1):
        gateway_pod(cluster, NS, f"gw-bench-{i}", janus.http_port, janus.admin_port, NS)
    return operator


def burst(
    cluster: Cluster,
    namespace: str,
    bodies: list[dict[str, Any]],
    pids: dict[str, list[int]],
    timeout: float,
) -> dict[str, Any]:
    """Create every camera at once; when each turned Ready, writes and CPU per process."""
    meter = CpuMeter(pids)
    before = writes(cluster)
    with ReadyWatch(cluster, namespace) as watch:
        meter.start()
        started = time.monotonic()
        sent = create_all(cluster, bodies)
        created = time.monotonic() - started
        watch.wait(sent, timeout)
        meter.stop()
        after = writes(cluster)
        ready = {name: watch.at[name] for name in sent if name in watch.at}
    latency = [ready[name] - sent[name] for name in ready]
    return {
        "ready": f"{len(ready)}/{len(bodies)}",
        "all_ready_s": round(max(ready.values()) - started, 2) if ready else None,
        "created_s": round(created, 2),
        "per_camera_p50_s": round(statistics.median(latency), 2) if latency else None,
        "per_camera_p99_s": round(percentile(latency, 99), 2) if latency else None,
        "writes_per_camera": writes_per_camera(before, after, len(bodies)),
        "cpu_s": meter.summary(),
    }


def one_by_one(
    cluster: Cluster, namespace: str, bodies: list[dict[str, Any]], timeout: float = 30
) -> dict[str, Any]:
    """Each camera alone: created, then waited for, before the next."""
    latency = []
    with ReadyWatch(cluster, namespace) as watch:
        for body in bodies:
            sent = create_all(cluster, [body])
            name = body["metadata"]["name"]
            if watch.wait([name], timeout):
                latency.append(watch.at[name] - sent[name])
            time.sleep(0.2)  # let the last one's echoes pass
    ms = [round(s * 1000) for s in latency]
    return {
        "singles_ready": f"{len(latency)}/{len(bodies)}",
        "apply_to_ready_p50_ms": round(statistics.median(ms)) if ms else None,
        "apply_to_ready_p99_ms": round(percentile(ms, 99)) if ms else None,
        "apply_to_ready_max_ms": max(ms) if ms else None,
    }


def kubectl_apply_seconds(cluster: Cluster, bodies: list[dict[str, Any]]) -> float:
    """What ``kubectl apply -f`` of the same List takes (dry-run on the server, nothing kept):
    one request after another."""
    manifest = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": bodies})
    started = time.monotonic()
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifest)
    return time.monotonic() - started


def run(args: argparse.Namespace, n: int, work: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    singles = args.singles
    cluster = start_cluster(work / "control-plane")
    try:
        with ExitStack() as stack:
            install_crds(cluster)
            for ns in (NS, FLOOR_NS):
                cluster.kubectl("create", "namespace", ns)
            media = rig(stack, n + singles, args, work / "rtsp.log")
            urls = [media.url(i) for i in range(n + singles)]
            cp = {k: [v] for k, v in control_plane_pids(cluster).items()}
            me = {"bench (creates, watch)": [os.getpid()]}
            if not args.no_floor:
                floor = FloorOperator(cluster, FLOOR_NS, work / "floor.log").start()
                try:
                    assert floor.proc is not None
                    bodies = [camera_body(FLOOR_NS, f"f-{i:04d}", urls[i]) for i in range(n)]
                    results["floor (bare Kopf)"] = burst(
                        cluster, FLOOR_NS, bodies, {"operator": [floor.proc.pid], **cp, **me}, 120
                    )
                    one = [camera_body(FLOOR_NS, f"s-{i:03d}", urls[n + i]) for i in range(singles)]
                    results["floor (bare Kopf)"] |= one_by_one(cluster, FLOOR_NS, one)
                finally:
                    floor.stop()

            capacity = math.ceil((n + singles) / len(media.gateways))
            operator = vas_operator(cluster, media, capacity, work / "operator.log")
            operator.start()
            stack.callback(operator.stop)
            assert operator.proc is not None
            bodies = [camera_body(NS, f"cam-{i:04d}", urls[i]) for i in range(n)]
            pids = {
                "operator+probe worker": with_children(operator.proc.pid),
                **cp,
                **media.pids(),
                **me,
            }
            vas = burst(cluster, NS, bodies, pids, max(120, n / 5))
            probes = operator.metric("vas_probe_duration_seconds_count", reason="Probed")
            probe_s = operator.metric("vas_probe_duration_seconds_sum", reason="Probed")
            creates = operator.metric("vas_janus_request_duration_seconds_count", request="create")
            create_s = operator.metric("vas_janus_request_duration_seconds_sum", request="create")
            vas["probes"] = int(probes)
            vas["probe_mean_ms"] = round(probe_s / probes * 1000) if probes else None
            vas["janus_create_mean_ms"] = round(create_s / creates * 1000, 1) if creates else None
            time.sleep(2)
            vas["mountpoints_receiving"] = media.receiving()
            one = [camera_body(NS, f"one-{i:03d}", urls[n + i]) for i in range(singles)]
            vas |= one_by_one(cluster, NS, one)
            results["VAS"] = vas
            results["kubectl apply of the List"] = {
                "dry_run_s": round(kubectl_apply_seconds(cluster, bodies[: min(n, 200)]), 2),
                "of": min(n, 200),
            }
    finally:
        stop_cluster(cluster)
    return results


def size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--singles", type=int, default=20, help="cameras applied one at a time")
    parser.add_argument("--size", type=size, default=(320, 240), help="WIDTHxHEIGHT of streams")
    parser.add_argument("--bitrate", type=int, default=128, help="kbit/s of each stream")
    parser.add_argument(
        "--fps",
        type=int,
        default=5,
        help="frames a second (a keyframe each second); at 15 fps a thousand streams and "
        "their Janus relays alone take more than a core here",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-Kopf baseline")
    args = parser.parse_args()
    for n in args.cameras:
        with tempfile.TemporaryDirectory(prefix="vas-bench-") as tmp:
            results = run(args, n, Path(tmp))
        print(
            f"cameras_ready: N={n} applied at once, then {args.singles} one at a time; H.264 "
            f"{args.size[0]}x{args.size[1]} {args.bitrate} kbit/s {args.fps} fps; "
            f"{math.ceil((n + args.singles) / PER_GATEWAY)} Janus, "
            f"{math.ceil((n + args.singles) / PER_SERVER)} RTSP servers"
        )
        for label, figures in results.items():
            print(f"  {label}")
            width = max(len(k) for k in figures)
            for key, value in figures.items():
                print(f"    {key:<{width}}  {value}")


if __name__ == "__main__":
    main()
