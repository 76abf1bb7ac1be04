"""Benchmark: the operator started with N existing Cameras (issue 14).

Creates N disabled Cameras (no probe needed, so this measures the operator's wiring, not
RTSP), then starts the real operator and reports: time until every Camera is reconciled,
peak and resting RSS, and how many Cameras a second start (a restart) writes. A real Janus
answers the one `list` the operator makes; the control plane is the Go-built one.

    make bench-operator-start            # N=10000
    .venv/bin/python -m bench.operator_start --cameras 2000

Anchor measured on this machine with Kopf 1.45 and a trivial handler
(shared/reference/kopf-scale/RESULTS.md): 10,000 objects in 41 s / 492 MB with defaults,
47 s / 187 MB with worker_limit 200 + idle_timeout 0.5; a plain restart wrote all 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.media.fixtures import JanusGateway
from tests.operator_process import OperatorProcess, operator_for
from tests.support import Cluster, install_crds, start_cluster, stop_cluster

NS = "bench"


def rss_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process, MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


async def create(cluster: Cluster, token: str, n: int) -> None:
    url = f"{cluster.server}/apis/vas.io/v1alpha1/namespaces/{NS}/cameras"
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        verify=False,  # noqa: S501  (the local test CA)
        timeout=60,
    ) as http:

        async def one(i: int) -> None:
            body = {
                "apiVersion": "vas.io/v1alpha1",
                "kind": "Camera",
                "metadata": {"name": f"cam-{i:05d}", "namespace": NS},
                "spec": {"source": {"url": f"rtsp://192.0.2.1/{i}"}, "enabled": False},
            }
            async with limit:
                (await http.post(url, json=body)).raise_for_status()

        await asyncio.gather(*(one(i) for i in range(n)))


def listing(cluster: Cluster, token: str) -> dict[str, tuple[str, str | None]]:
    url = f"{cluster.server}/apis/vas.io/v1alpha1/namespaces/{NS}/cameras"
    items = httpx.get(
        url,
        headers={"Authorization": f"Bearer {token}"},
        verify=False,  # noqa: S501  (the local test CA)
        timeout=120,
    ).json()["items"]
    return {
        c["metadata"]["name"]: (
            c["metadata"]["resourceVersion"],
            (c.get("status") or {}).get("phase"),
        )
        for c in items
    }


def writes(cluster: Cluster, token: str) -> dict[str, int]:
    """Write requests the API server has served so far, by verb and resource (its metrics)."""
    text = httpx.get(
        f"{cluster.server}/metrics",
        headers={"Authorization": f"Bearer {token}"},
        verify=False,  # noqa: S501  (the local test CA)
        timeout=60,
    ).text
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(
            part.split("=", 1) for part in line[line.index("{") + 1 : line.index("}")].split(",")
        )
        verb = labels.get("verb", "").strip('"')
        if verb in ("POST", "PATCH", "PUT", "DELETE"):
            key = f"{verb} {labels.get('resource', '').strip(chr(34))}"
            key += f"/{labels['subresource'].strip(chr(34))}" if labels.get("subresource") else ""
            out[key] = out.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


def per_camera(before: dict[str, int], after: dict[str, int], n: int) -> str:
    keys = sorted(k for k in after if after[k] - before.get(k, 0) >= n / 10)
    return ", ".join(f"{k} {(after[k] - before.get(k, 0)) / n:.2f}" for k in keys)


def handled(operator: OperatorProcess) -> tuple[int, int]:
    """(handled, waiting) from the operator's own liveness answer."""
    body = httpx.get(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=30).text
    found = re.search(r"(\d+) handled, (\d+) waiting", body)
    return (int(found.group(1)), int(found.group(2))) if found else (0, -1)


def run(n: int, workdir: Path) -> dict[str, Any]:
    cluster = start_cluster(workdir / "control-plane")
    token = (cluster.state / "tokens.csv").read_text().split(",")[0]
    janus = JanusGateway().start()
    operator = operator_for(
        cluster, janus, NS, workdir / "operator.log", mountpoint_key=secrets.token_hex(16)
    )
    try:
        install_crds(cluster)
        cluster.kubectl("create", "namespace", NS)
        started = time.monotonic()
        asyncio.run(create(cluster, token, n))
        created_s = time.monotonic() - started

        written = writes(cluster, token)
        started = time.monotonic()
        operator.start()
        assert operator.proc is not None
        done: dict[str, tuple[str, str | None]] = {}
        while time.monotonic() - started < 900:
            done = listing(cluster, token)
            if sum(1 for _, phase in done.values() if phase == "Disabled") == n:
                break
            time.sleep(1)
        all_s = time.monotonic() - started
        first_writes = per_camera(written, writes(cluster, token), n)
        peak, _ = rss_mb(operator.proc.pid)
        time.sleep(20)
        _, resting = rss_mb(operator.proc.pid)

        operator.restart()
        restarted = time.monotonic()
        while handled(operator)[1] != 0 or handled(operator)[0] < n:
            if time.monotonic() - restarted > 600:
                break
            time.sleep(1)
        resumed_s = time.monotonic() - restarted
        time.sleep(5)
        after = listing(cluster, token)
        rewritten = sum(1 for name, rv in done.items() if after.get(name) != rv)
        peak2, resting2 = rss_mb(operator.proc.pid)
        return {
            "cameras": n,
            "create_s": round(created_s, 1),
            "all_reconciled_s": round(all_s, 1),
            "first_start_writes_per_camera": first_writes,
            "peak_rss_mb": round(peak),
            "resting_rss_mb": round(resting),
            "restart_all_resumed_s": round(resumed_s, 1),
            "restart_writes": rewritten,
            "restart_peak_rss_mb": round(peak2),
            "restart_rss_mb": round(resting2),
        }
    finally:
        operator.stop()
        janus.stop()
        stop_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vas-bench-") as tmp:
        result = run(args.cameras, Path(tmp))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
