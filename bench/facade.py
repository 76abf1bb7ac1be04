"""Benchmark the read facade's list endpoints on a real control plane.

N Cameras (10,000 by default) are created in the API server with concurrent POSTs while the
facade is already running, so every one reaches its cache and listing index through the
watch, as in production. Then each query shape is asked sequentially from one aiohttp
session with keep-alive (a client that adds little of its own) of the facade, and, where the
API server has an equivalent, of the API server's own paged list in the same run: the
baseline. ``/healthz`` is the floor: the facade's per-request cost outside any listing.
Printed: p50/p99 per shape, and the facade's resident memory.

    make bench-facade                              # 10,000 cameras
    .venv/bin/python -m bench.facade --cameras 100000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import admin_token, camera_body, create_all, percentile, rss_mb
from tests.facade_process import FacadeProcess
from tests.media.fixtures import RedisServer
from tests.support import CRDS, Cluster, start_cluster, stop_cluster

BULK = "bench-bulk"
OTHER = "bench-other"  # a second namespace, so "every namespace" has more than one
CAMERAS = "/api/v1/cameras"
CRD = f"/apis/vas.io/v1alpha1/namespaces/{BULK}/cameras"
SELECTOR = "zone=z3,floor!=2"


def bodies(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        body = camera_body(
            BULK if i % 50 else OTHER,
            f"cam-{i:06d}",
            f"rtsp://192.0.2.{i % 250 + 1}/s{i}",
            enabled=False,  # no operator runs: nothing would probe them anyway
            description=f"camera {i}",
            location="Dock" if i % 100 == 1 else "Hall",
        )
        body["metadata"]["labels"] = {"zone": f"z{i % 20}", "floor": str(i % 7)}
        out.append(body)
    return out


async def timed(
    http: aiohttp.ClientSession, url: str, params: dict[str, Any], rounds: int
) -> list[float]:
    """Milliseconds per request, one request at a time, after a few unmeasured ones."""
    out = []
    for i in range(rounds + 10):
        started = time.perf_counter()
        async with http.get(url, params=params) as answer:
            await answer.read()
            answer.raise_for_status()
        if i >= 10:
            out.append((time.perf_counter() - started) * 1000)
    return out


async def measure(
    cluster: Cluster, facade: FacadeProcess, n: int, rounds: int
) -> list[tuple[str, list[float], list[float] | None, int]]:
    headers = {"Authorization": f"Bearer {admin_token(cluster)}"}

    def session(base: str) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=base,
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=False, limit=1),  # one keep-alive connection
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async with session(facade.url) as web, session(cluster.server) as api:
        deadline = time.monotonic() + max(120, n / 100)
        while True:  # until the watch has delivered every camera
            async with web.get(CAMERAS, params={"limit": 1}) as answer:
                if (await answer.json())["total"] == n:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the facade never listed {n} cameras")
            await asyncio.sleep(0.5)
        params = {"namespace": BULK, "limit": 50}
        deep: dict[str, Any] = {"continue": None}
        for _ in range(51):  # walk to page 52
            async with web.get(
                CAMERAS,
                params={**params, **({"continue": deep["continue"]} if deep["continue"] else {})},
            ) as answer:
                deep = await answer.json()
        shapes: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
            ("floor: /healthz", "/healthz", {}, None),
            ("first page, limit 50", CAMERAS, params, {"limit": 50}),
            ("first page, every namespace", CAMERAS, {"limit": 50}, None),
            (
                f"labelSelector {SELECTOR}",
                CAMERAS,
                {**params, "labelSelector": SELECTOR},
                {"labelSelector": SELECTOR, "limit": 50},
            ),
            ("text search 'dock'", CAMERAS, {**params, "q": "dock"}, None),
            ("page 52 via continue", CAMERAS, {**params, "continue": deep["continue"]}, None),
        ]
        out = []
        for label, path, facade_params, api_params in shapes:
            async with web.get(path, params=facade_params) as answer:
                body = await answer.json()
            found = int(body.get("total", 0)) if isinstance(body, dict) else 0
            facade_ms = await timed(web, path, facade_params, rounds)
            api_ms = await timed(api, CRD, api_params, rounds) if api_params is not None else None
            out.append((label, facade_ms, api_ms, found))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=500, help="requests per query shape")
    parser.add_argument("--concurrency", type=int, default=32, help="POSTs in flight")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vas-bench-") as tmp:
        work = Path(tmp)
        cluster = start_cluster(work / "control-plane")
        try:
            cluster.kubectl("apply", "-f", str(CRDS))
            cluster.kubectl("wait", "--for=condition=Established", "-f", str(CRDS))
            for ns in (BULK, OTHER):
                cluster.kubectl("create", "namespace", ns)
            with RedisServer() as redis:
                facade = FacadeProcess(
                    cluster,
                    work / "facade.log",
                    redis.url,
                    gateway_namespace=BULK,
                    gateway_selector="vas.io/test-pool=none",
                    # The benchmark signs in with the cluster's static admin token, which
                    # carries no audience: accept API-server tokens here.
                    extra_env={"VAS_API_TOKEN_AUDIENCES": "[]"},
                ).start()
                try:
                    started = time.monotonic()
                    create_all(cluster, bodies(args.cameras), concurrency=args.concurrency)
                    created = time.monotonic() - started
                    results = asyncio.run(measure(cluster, facade, args.cameras, args.rounds))
                    assert facade.proc is not None
                    peak, current = rss_mb(facade.proc.pid)
                finally:
                    facade.stop()
        finally:
            stop_cluster(cluster)
    print(
        f"facade list benchmark: {args.cameras} cameras created in {created:.1f} s "
        f"({args.concurrency} aiohttp POSTs in flight, the facade already watching); "
        f"{args.rounds} sequential requests per shape, one keep-alive connection"
    )
    print(f"  {'query':<32} {'matches':>7} {'facade p50/p99 ms':>19} {'API server p50/p99 ms':>23}")
    for label, facade_ms, api_ms, found in results:
        base = (
            f"{percentile(api_ms, 50):.2f} / {percentile(api_ms, 99):.2f}"
            if api_ms
            else "(no equivalent)"
        )
        mine = f"{percentile(facade_ms, 50):.2f} / {percentile(facade_ms, 99):.2f}"
        print(f"  {label:<32} {found:>7} {mine:>19} {base:>23}")
    print(f"  facade RSS: {current:.0f} MB now, {peak:.0f} MB peak")


if __name__ == "__main__":
    main()
