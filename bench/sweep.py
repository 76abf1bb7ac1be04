"""Benchmark: VAS's TCP sweep against nmap on the same loopback ranges, in the same run.

    make bench-sweep
    .venv/bin/python -m bench.sweep --ranges 127.0.0.0/24 127.0.0.0/16 --runs 5 --scaling

nmap and VAS take turns run by run, so both meet the same machine (this one's speed drifts
by half from minute to minute), and the ratio is the median of the runs' ratios. "VAS sweep"
is what a DiscoveryScan does: in one thread below ``shards.MIN_SHARDED`` endpoints, else over
the worker processes (one per core); "1 thread" is the same loop kept in this process, for
comparison, and so is the obvious alternative, 512 asyncio tasks doing loop.sock_connect,
timed once. Two RTSP cameras listen on 127.0.0.2 and 127.0.0.3 (port 8554) so both tools
have something to find; VAS also confirms RTSP on what it finds (OPTIONS/DESCRIBE, through
``discovery.run``), nmap does not. ``--scaling`` adds how the /16's figure moves with the
number of worker processes and the concurrency, with the CPU time they used (user, kernel).
Loopback only: nothing here sends a packet off this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable

from tests.media.fixtures import RtspCamera
from vas_operator import discovery
from vas_operator.models.scan import DiscoveryScanSpec
from vas_operator.scanning import cores, shards, targets
from vas_operator.scanning.budget import SHARED_BUDGET
from vas_operator.scanning.sweep import sweep
from vas_operator.scanning.workers import WorkerPool
from vas_operator.sourcepolicy import SourcePolicy

PORTS = [554, 8554]
TIMEOUT = 0.5
Timed = tuple[float, int]  # seconds, endpoints found


def timed(work: Callable[[], int]) -> Timed:
    started = time.perf_counter()
    found = work()
    return time.perf_counter() - started, found


def one_thread(cidr: str, concurrency: int) -> Timed:
    plan = targets.plan([cidr], PORTS)
    return timed(lambda: len(sweep(plan.endpoints(), concurrency, TIMEOUT, budget=SHARED_BUDGET)))


def vas_sweep(cidr: str, concurrency: int, pool: WorkerPool, min_sharded: int) -> Timed:
    plan = targets.plan([cidr], PORTS)
    return timed(
        lambda: len(
            shards.sweep_plan(
                plan,
                concurrency,
                TIMEOUT,
                budget=SHARED_BUDGET,
                pool=pool,
                min_sharded=min_sharded,
            )
        )
    )


def vas_scan(cidr: str, concurrency: int, pool: WorkerPool) -> Timed:
    spec = DiscoveryScanSpec.model_validate(
        {"targets": [cidr], "ports": PORTS, "paths": ["/cam1"], "concurrency": concurrency}
    )
    # Loopback is denied by default; the benchmark allows it, and its checks are timed too.
    policy = SourcePolicy.build(["127.0.0.0/8"], ["169.254.0.0/16"])
    run = discovery.run(spec, [], lambda done, total: None, policy=policy, workers=pool)
    return timed(lambda: len(asyncio.run(run).streams))


def asyncio_tasks(cidr: str, workers: int = 512) -> Timed:
    """The obvious alternative, for comparison: worker tasks doing loop.sock_connect."""

    async def go() -> int:
        loop = asyncio.get_running_loop()
        queue = iter(targets.endpoints([cidr], PORTS))
        found = 0

        async def worker() -> None:
            nonlocal found
            for host, port in queue:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                try:
                    await asyncio.wait_for(loop.sock_connect(sock, (host, port)), TIMEOUT)
                    found += 1
                except (OSError, TimeoutError):
                    pass
                finally:
                    sock.close()

        await asyncio.gather(*(worker() for _ in range(workers)))
        return found

    return timed(lambda: asyncio.run(go()))


def nmap(cidr: str) -> Timed:
    command = ["nmap", "-sT", "-n", "-Pn", "-p", ",".join(map(str, PORTS)), "-T5", "-oG", "-"]
    return timed(
        lambda: subprocess.run(
            [*command, cidr], capture_output=True, text=True, check=True
        ).stdout.count("/open/")
    )


def cpu_seconds(pids: list[int], own: bool = True) -> tuple[float, float]:
    """User and kernel CPU seconds so far of ``pids``, and of this process when ``own``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    user, kernel = (usage.ru_utime, usage.ru_stime) if own else (0.0, 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123
            fields = stat.read().rsplit(")", 1)[1].split()
        user += int(fields[11]) / tick
        kernel += int(fields[12]) / tick
    return user, kernel


def start_up(workers: int) -> str:
    """What a cold pool costs before its first reply, and a warm pool's round trip."""
    pool = WorkerPool(workers)
    two = targets.plan(["127.0.0.1"], [9])
    cold = timed(lambda: len(shards.sweep_plan(two, 2, TIMEOUT, pool=pool, min_sharded=0)))
    cpu = sum(cpu_seconds(pool.pids(), own=False)) / max(workers, 1)
    warm = [
        timed(lambda: len(shards.sweep_plan(two, 2, TIMEOUT, pool=pool, min_sharded=0)))[0]
        for _ in range(20)
    ]
    pool.close()
    return (
        f"worker start-up: {workers} started and answering in {cold[0] * 1000:.0f} ms "
        f"({cpu * 1000:.0f} ms CPU each, paid once: the pool keeps them); "
        f"a warm round trip {statistics.median(warm) * 1000:.1f} ms"
    )


def scaling(cidr: str, runs: int) -> None:
    print(f"\n  scaling, {cidr} x {len(PORTS)} ports, median of {runs} runs (CPU: user+kernel)")
    header = "".join(f"{f'concurrency {c}':>28}" for c in (256, 1024, 4096))
    print(f"  {'':<12}{header}")
    for workers in (0, 1, 2, 3, 4):
        pool = WorkerPool(workers)
        pool.workers()
        cells = []
        for concurrency in (256, 1024, 4096):
            walls, cpus = [], []
            for _ in range(runs):
                before = cpu_seconds(pool.pids())
                walls.append(vas_sweep(cidr, concurrency, pool, 0)[0])
                after = cpu_seconds(pool.pids())
                cpus.append((after[0] - before[0], after[1] - before[1]))
            user = statistics.median(u for u, _ in cpus)
            kernel = statistics.median(k for _, k in cpus)
            cells.append(f"{statistics.median(walls):.2f} s ({user:.2f}+{kernel:.2f})")
        pool.close()
        label = f"{workers} workers" if workers else "1 thread"
        print(f"  {label:<12}" + "".join(f"{c:>28}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ranges", nargs="+", default=["127.0.0.0/24", "127.0.0.0/16"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=cores.usable(), help="worker processes")
    parser.add_argument("--scaling", action="store_true", help="also vary workers, concurrency")
    args = parser.parse_args()
    if shutil.which("nmap") is None:
        raise SystemExit("nmap is not installed (Debian package nmap; make prereqs installs it)")
    with (
        RtspCamera(address="127.0.0.2", port=8554, mounts=["/cam1"]),
        RtspCamera(address="127.0.0.3", port=8554, mounts=["/cam1"]),
    ):
        print(
            f"sweep benchmark: ports {PORTS}, median of {args.runs} runs, concurrency "
            f"{args.concurrency}, {args.workers} workers ({cores.usable()} usable cores)"
        )
        print(f"  {start_up(args.workers)}")
        pool = WorkerPool(args.workers)
        pool.workers()
        print(
            f"  {'range':<15} {'connects':>8} {'nmap s':>7} {'1 thread s':>10} "
            f"{'VAS sweep s':>11} {'ratio':>5} {'sweep+RTSP s':>12} {'asyncio s':>9}  "
            "found (nmap/VAS/RTSP)"
        )
        for cidr in args.ranges:
            count = targets.endpoint_count([cidr], PORTS)
            rows = []
            for _ in range(args.runs):  # in turns, so both meet the same machine
                n = nmap(cidr)
                v = vas_sweep(cidr, args.concurrency, pool, shards.MIN_SHARDED)
                rows.append((n, v, one_thread(cidr, args.concurrency)))
            s = [vas_scan(cidr, args.concurrency, pool) for _ in range(args.runs)]
            a = asyncio_tasks(cidr)
            tn, tv, t1 = (statistics.median(r[i][0] for r in rows) for i in range(3))
            ratio = statistics.median(n[0] / v[0] for n, v, _ in rows)
            sharded = args.workers and count >= shards.MIN_SHARDED
            mode = f"({min(args.workers, args.concurrency)}w)" if sharded else "(1t)"
            print(
                f"  {cidr:<15} {count:>8} {tn:>7.2f} {t1:>10.2f} {mode:>5}{tv:>6.2f} "
                f"{ratio:>5.2f} {statistics.median(t for t, _ in s):>12.2f} {a[0]:>9.2f}  "
                f"{rows[0][0][1]}/{rows[0][1][1]}/{s[0][1]}"
            )
        pool.close()
        if args.scaling:
            scaling(args.ranges[-1], max(args.runs // 2, 3))


if __name__ == "__main__":
    main()
