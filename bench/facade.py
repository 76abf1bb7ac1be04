"""Benchmark the read facade and the viewer on the local stack.

1. List latency with 10,000 Cameras in the facade's watch cache, for a few query shapes,
   against the same queries asked of the API server directly (the baseline, same run).
2. Viewer: page load to first video frame in headless Chromium, median of several loads.

    make bench-facade                    # 10,000 cameras, 5 page loads
    .venv/bin/python -m bench.facade --cameras 2000 --loads 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.facade_process import FacadeProcess
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import live_operator
from tests.support import CRDS, Cluster, pool_settings, start_cluster, stop_cluster

NS = "bench"  # the operator's namespace: one live camera
BULK = "bench-bulk"  # 10,000 cameras the operator does not watch: this measures the facade
GATEWAY = "gw-bench-0"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def create_cameras(cluster: Cluster, token: str, n: int) -> float:
    url = f"{cluster.server}/apis/vas.io/v1alpha1/namespaces/{BULK}/cameras"
    started = time.monotonic()
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        verify=False,  # noqa: S501  (the local cluster's own CA)
        limits=limits,
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            body = {
                "apiVersion": "vas.io/v1alpha1",
                "kind": "Camera",
                "metadata": {
                    "name": f"cam-{i:05d}",
                    "labels": {"zone": f"z{i % 20}", "floor": str(i % 7)},
                },
                "spec": {
                    "source": {"url": f"rtsp://192.0.2.{i % 250 + 1}/s{i}"},
                    "enabled": False,
                    "description": f"camera {i}",
                    "location": "Dock" if i % 100 == 0 else "Hall",
                },
            }
            async with sem:
                (await http.post(url, json=body)).raise_for_status()

        await asyncio.gather(*(one(i) for i in range(n)))
    return time.monotonic() - started


def timed(call: Callable[[], httpx.Response], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        call().raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
    return out


def list_latency(
    cluster: Cluster, facade: FacadeProcess, token: str, n: int, rounds: int
) -> list[tuple[str, list[float], list[float] | None]]:
    auth = {"Authorization": f"Bearer {token}"}
    api = httpx.Client(base_url=cluster.server, verify=False, headers=auth)  # noqa: S501
    web = httpx.Client(base_url=facade.url, headers=auth, timeout=30)
    deep = web.get("/api/v1/cameras", params={"namespace": BULK, "limit": 50}).json()
    for _ in range(50):  # walk to page 51
        deep = web.get(
            "/api/v1/cameras", params={"namespace": BULK, "limit": 50, "continue": deep["continue"]}
        ).json()
    crd = f"/apis/vas.io/v1alpha1/namespaces/{BULK}/cameras"
    shapes: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
        ("first page, limit 50", {"namespace": BULK, "limit": 50}, {"limit": 50}),
        (
            "labelSelector zone=z3,floor!=2",
            {"namespace": BULK, "labelSelector": "zone=z3,floor!=2", "limit": 50},
            {"labelSelector": "zone=z3,floor!=2", "limit": 50},
        ),
        ("text search 'dock'", {"namespace": BULK, "q": "dock", "limit": 50}, None),
        (
            "page 52 via continue",
            {"namespace": BULK, "limit": 50, "continue": deep["continue"]},
            None,
        ),
    ]
    out = []
    for label, params, api_params in shapes:
        facade_ms = timed(lambda p=params: web.get("/api/v1/cameras", params=p), rounds)
        api_ms = (
            timed(lambda p=api_params: api.get(crd, params=p), rounds)
            if api_params is not None
            else None
        )
        out.append((label, facade_ms, api_ms))
    return out


def first_frames(facade: FacadeProcess, token: str, loads: int, shot: Path) -> list[dict[str, Any]]:
    from tests.facade_process import run_browser

    return [run_browser(facade, token, "bench/live", shot) for _ in range(loads)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200, help="requests per query shape")
    parser.add_argument("--loads", type=int, default=5, help="viewer page loads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vas-bench-") as tmp:
        work = Path(tmp)
        cluster = start_cluster(work / "control-plane")
        token = (cluster.state / "tokens.csv").read_text().split(",")[0]
        try:
            cluster.kubectl("apply", "-f", str(CRDS))
            cluster.kubectl("wait", "--for=condition=Established", "-f", str(CRDS))
            cluster.kubectl("create", "namespace", NS)
            cluster.kubectl("create", "namespace", BULK)
            created = asyncio.run(create_cameras(cluster, token, args.cameras))
            with (
                RtspCamera(mounts=["/cam1"]) as camera,
                JanusGateway(loopback_ice=True) as janus,
                RedisServer() as redis,
            ):
                operator = live_operator(
                    cluster, janus, NS, work / "operator.log", GATEWAY, redis.url
                )
                operator.start()
                facade: FacadeProcess | None = None
                try:
                    cluster.apply(
                        {
                            "apiVersion": "vas.io/v1alpha1",
                            "kind": "Camera",
                            "metadata": {"name": "live", "namespace": NS},
                            "spec": {"source": {"url": camera.url("/cam1")}},
                        }
                    )
                    cluster.kubectl(
                        "wait", "-n", NS, "--for=condition=Ready", "cam/live", "--timeout=120s"
                    )
                    started = time.monotonic()
                    facade = FacadeProcess(
                        cluster,
                        work / "facade.log",
                        redis.url,
                        **pool_settings(NS, NS),  # the gateway pod live_operator registered
                        janus_api_secret=janus.api_secret,
                        # The benchmark signs in with the cluster's static admin token, which
                        # carries no audience: accept API-server tokens here.
                        extra_env={"VAS_API_TOKEN_AUDIENCES": "[]"},
                    ).start()
                    synced = time.monotonic() - started
                    lists = list_latency(cluster, facade, token, args.cameras, args.rounds)
                    frames = first_frames(facade, token, args.loads, work / "shot.png")
                finally:
                    if facade is not None:
                        facade.stop()
                    operator.stop()
        finally:
            stop_cluster(cluster)
    print(
        f"facade benchmark: {args.cameras} cameras (created in {created:.1f} s), facade "
        f"start to synced cache {synced:.1f} s, {args.rounds} requests per shape"
    )
    print(f"  {'query':<34} {'facade p50/p99 ms':>18} {'API server p50/p99 ms':>22}")
    for label, facade_ms, api_ms in lists:
        base = (
            f"{statistics.median(api_ms):.1f} / {pct(api_ms, 99):.1f}"
            if api_ms
            else "(no equivalent)"
        )
        print(
            f"  {label:<34} {statistics.median(facade_ms):>8.1f} / {pct(facade_ms, 99):<7.1f}"
            f" {base:>22}"
        )
    played = [f for f in frames if f["state"] == "playing"]
    print(
        f"  viewer: {len(played)}/{len(frames)} loads played; page load to first frame "
        f"median {statistics.median(f['wallMs'] for f in played):.0f} ms "
        f"(runs: {', '.join(str(f['wallMs']) for f in played)} ms); player start to first "
        f"frame median {statistics.median(f['firstFrameMs'] for f in played):.0f} ms"
        if played
        else "  viewer: no load played"
    )


if __name__ == "__main__":
    main()
