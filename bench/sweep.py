"""Benchmark: VAS's TCP sweep against nmap on the same loopback ranges, in the same run.

    make bench-sweep
    .venv/bin/python -m bench.sweep --ranges 127.0.0.0/24 127.0.0.0/16 --runs 3

Also timed once: the obvious alternative, 512 asyncio tasks doing loop.sock_connect.
Two RTSP cameras listen on 127.0.0.2 and 127.0.0.3 (port 8554) so both tools have something
to find; VAS also confirms RTSP on what it finds (OPTIONS/DESCRIBE), nmap does not.
Loopback only: nothing here sends a packet off this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import time

from tests.media.fixtures import RtspCamera
from vas_operator import discovery
from vas_operator.models.scan import DiscoveryScanSpec
from vas_operator.scanning import targets
from vas_operator.scanning.sweep import sweep
from vas_operator.sourcepolicy import SourcePolicy

PORTS = [554, 8554]


def vas_sweep(cidr: str, concurrency: int) -> tuple[float, int]:
    started = time.perf_counter()
    found = sweep(targets.endpoints([cidr], PORTS), concurrency, 0.5)
    return time.perf_counter() - started, len(found)


def vas_scan(cidr: str, concurrency: int) -> tuple[float, int]:
    spec = DiscoveryScanSpec.model_validate(
        {"targets": [cidr], "ports": PORTS, "paths": ["/cam1"], "concurrency": concurrency}
    )
    # Loopback is denied by default; the benchmark allows it, and its checks are timed too.
    policy = SourcePolicy.build(["127.0.0.0/8"], ["169.254.0.0/16"])
    started = time.perf_counter()
    result = asyncio.run(discovery.run(spec, [], lambda done, total: None, policy=policy))
    return time.perf_counter() - started, len(result.streams)


def asyncio_tasks(cidr: str, workers: int = 512) -> tuple[float, int]:
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
                    await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 0.5)
                    found += 1
                except (OSError, TimeoutError):
                    pass
                finally:
                    sock.close()

        await asyncio.gather(*(worker() for _ in range(workers)))
        return found

    started = time.perf_counter()
    found = asyncio.run(go())
    return time.perf_counter() - started, found


def nmap(cidr: str) -> tuple[float, int]:
    started = time.perf_counter()
    out = subprocess.run(
        ["nmap", "-sT", "-n", "-Pn", "-p", ",".join(map(str, PORTS)), "-T5", "-oG", "-", cidr],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return time.perf_counter() - started, out.count("/open/")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ranges", nargs="+", default=["127.0.0.0/24", "127.0.0.0/16"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1024)
    args = parser.parse_args()
    if shutil.which("nmap") is None:
        raise SystemExit("nmap is not installed (Debian package nmap; make prereqs installs it)")
    with (
        RtspCamera(address="127.0.0.2", port=8554, mounts=["/cam1"]),
        RtspCamera(address="127.0.0.3", port=8554, mounts=["/cam1"]),
    ):
        print(
            f"sweep benchmark: ports {PORTS}, median of {args.runs} runs, "
            f"concurrency {args.concurrency}"
        )
        print(
            f"  {'range':<16} {'connects':>9} {'nmap s':>8} {'VAS sweep s':>12} "
            f"{'ratio':>6} {'VAS sweep+RTSP s':>17} {'asyncio tasks s':>16}   "
            "found (nmap/VAS/RTSP)"
        )
        for cidr in args.ranges:
            n = [nmap(cidr) for _ in range(args.runs)]
            v = [vas_sweep(cidr, args.concurrency) for _ in range(args.runs)]
            s = [vas_scan(cidr, args.concurrency) for _ in range(args.runs)]
            a = [asyncio_tasks(cidr)]
            tn, tv, ts, ta = (statistics.median(t for t, _ in x) for x in (n, v, s, a))
            print(
                f"  {cidr:<16} {targets.endpoint_count([cidr], PORTS):>9} {tn:>8.2f} "
                f"{tv:>12.2f} {tn / tv:>6.2f} {ts:>17.2f} {ta:>16.2f}   "
                f"{n[0][1]}/{v[0][1]}/{s[0][1]}"
            )


if __name__ == "__main__":
    main()
