"""What the benchmarks share: percentiles, a process's CPU and memory from /proc, the API
server's own count of writes, Cameras created the way a GitOps controller applies them, and a
watch that notes when each Camera first turns Ready."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from tests.media.fixtures import stop_pid
from tests.support import REPO, Cluster, free_port, wait_serving

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of the processes (all their threads) so far; a process that ended
    since counts nothing, a small error the callers accept."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def with_children(pid: int) -> list[int]:
    """The process and its children (the operator and its probe worker)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [pid, *children]


def rss_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process, MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def control_plane_pids(cluster: Cluster) -> dict[str, int]:
    """The control plane's processes by name, from the PID files cluster-up.sh writes."""
    out = {}
    for name in ("etcd", "kube-apiserver"):
        path = cluster.state / f"{name}.pid"
        if path.exists():
            out[name] = int(path.read_text().split()[0])
    return out


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


class CpuMeter:
    """CPU seconds each named group of processes spends between ``start`` and ``stop``, and
    what the rest of the machine spent meanwhile (anything else running disturbs a figure)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._at: dict[str, float] = {}
        self.spent: dict[str, float] = {}
        self.seconds = 0.0

    def start(self) -> None:
        self._at = {name: cpu_seconds(pids) for name, pids in self.groups.items()}
        self._busy = machine_busy_seconds()
        self._started = time.monotonic()

    def stop(self) -> None:
        self.seconds = time.monotonic() - self._started
        self.spent = {
            name: cpu_seconds(pids) - self._at[name] for name, pids in self.groups.items()
        }
        self.elsewhere = machine_busy_seconds() - self._busy - sum(self.spent.values())

    def summary(self) -> str:
        """'operator 3.1 s, kube-apiserver 5.0 s, ... of 2 cores x 10.0 s'"""
        parts = [f"{name} {spent:.1f}" for name, spent in self.spent.items()]
        total = sum(self.spent.values())
        return (
            f"{', '.join(parts)} (sum {total:.1f} CPU-s in {self.seconds:.1f} s wall, "
            f"{total / max(self.seconds, 1e-9) * 100:.0f} % of one core; everything else on "
            f"the machine {max(self.elsewhere, 0):.1f} CPU-s)"
        )


def admin_token(cluster: Cluster) -> str:
    return (cluster.state / "tokens.csv").read_text().split(",")[0]


def api_client(cluster: Cluster, timeout: float = 60) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.server,
        headers={"Authorization": f"Bearer {admin_token(cluster)}"},
        verify=False,  # noqa: S501  (the local control plane's own CA)
        timeout=timeout,
    )


def writes(cluster: Cluster) -> dict[str, int]:
    """Write requests the API server has served so far, by verb and resource (its metrics)."""
    with api_client(cluster) as api:
        text = api.get("/metrics").text
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
            subresource = labels.get("subresource", "").strip('"')
            key += f"/{subresource}" if subresource else ""
            out[key] = out.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


def writes_per_camera(before: dict[str, int], after: dict[str, int], n: int) -> str:
    """'PATCH cameras 1.00, PATCH cameras/status 1.00, POST events 1.00' (the writes that
    happened at least once per ten cameras)."""
    keys = sorted(k for k in after if after[k] - before.get(k, 0) >= max(1, n / 10))
    return ", ".join(f"{k} {(after[k] - before.get(k, 0)) / n:.2f}" for k in keys) or "none"


def camera_body(namespace: str, name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"source": {"url": url}, **spec},
    }


def create_all(
    cluster: Cluster, bodies: list[dict[str, Any]], concurrency: int = 16
) -> dict[str, float]:
    """Create every object with ``concurrency`` requests in flight, as a GitOps controller
    applies a folder; returns, per object name, the monotonic time its request was sent.
    aiohttp, not httpx: here httpx spent 2.5-5 ms of CPU per request, aiohttp ~0.3 ms, and the
    creator shares the machine with what it measures."""

    async def go() -> dict[str, float]:
        sent: dict[str, float] = {}
        limit = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(
            base_url=cluster.server,
            headers={"Authorization": f"Bearer {admin_token(cluster)}"},
            connector=aiohttp.TCPConnector(ssl=False, limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=60),
        ) as http:

            async def one(body: dict[str, Any]) -> None:
                meta = body["metadata"]
                path = f"/apis/vas.io/v1alpha1/namespaces/{meta['namespace']}/cameras"
                async with limit:
                    sent[meta["name"]] = time.monotonic()
                    async with http.post(path, json=body) as answer:
                        if answer.status >= 300:
                            raise RuntimeError(f"{answer.status}: {await answer.text()}")

            await asyncio.gather(*(one(b) for b in bodies))
        return sent

    return asyncio.run(go())


def is_ready(camera: dict[str, Any]) -> bool:
    conditions = (camera.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class ReadyWatch:
    """A watch on the Cameras of a namespace, in a thread of its own: when each one first met
    ``done`` (by default: its Ready condition is True), by the monotonic clock. Watching costs
    the API server one event per change, where polling a list would cost a full list per
    poll and disturb what is measured."""

    def __init__(
        self, cluster: Cluster, namespace: str, done: Callable[[dict[str, Any]], bool] = is_ready
    ) -> None:
        self.cluster, self.namespace, self.done = cluster, namespace, done
        self.at: dict[str, float] = {}
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadyWatch:
        path = f"/apis/vas.io/v1alpha1/namespaces/{self.namespace}/cameras"
        with api_client(self.cluster) as api:
            listing = api.get(path).json()
        for item in listing["items"]:
            if self.done(item):
                self.at[item["metadata"]["name"]] = time.monotonic()
        self._version = listing["metadata"]["resourceVersion"]
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        path = f"/apis/vas.io/v1alpha1/namespaces/{self.namespace}/cameras"
        while not self._stop.is_set():
            params = {"watch": "1", "resourceVersion": self._version, "timeoutSeconds": "60"}
            try:
                with (
                    api_client(self.cluster, timeout=90) as api,
                    api.stream("GET", path, params=params) as response,
                ):
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line:
                            self._event(json.loads(line))
            except httpx.HTTPError:
                time.sleep(0.2)  # the control plane stopping, or a dropped watch: resume

    def _event(self, event: dict[str, Any]) -> None:
        obj = event.get("object") or {}
        self._version = (obj.get("metadata") or {}).get("resourceVersion", self._version)
        name = str((obj.get("metadata") or {}).get("name"))
        if event.get("type") in ("ADDED", "MODIFIED") and name not in self.at and self.done(obj):
            with self._changed:
                self.at[name] = time.monotonic()
                self._changed.notify_all()

    def wait(self, names: Iterable[str], timeout: float) -> bool:
        """Until every one of ``names`` is done; False at the timeout."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not wanted <= self.at.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return True


@dataclass
class FloorOperator:
    """bench/floor_operator.py run by kopf, confined to one namespace."""

    cluster: Cluster
    namespace: str
    log_path: Path
    liveness_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FloorOperator:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--namespace",
                self.namespace,
                "--liveness",
                f"http://127.0.0.1:{self.liveness_port}/healthz",
                str(REPO / "bench" / "floor_operator.py"),
            ],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            env={**self.cluster.env(), "FLOOR_METRICS_PORT": str(self.metrics_port)},
        )
        wait_serving(
            self.proc, f"http://127.0.0.1:{self.liveness_port}/healthz", self.log_path, "kopf"
        )
        return self

    def stop(self) -> None:
        stop_pid(self.proc, timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()


def handled(metrics_port: int) -> tuple[int, int]:
    """(handler runs since start, cameras waiting for one) from an operator's metrics (VAS's,
    and the floor's under the same names). Not from the liveness endpoint: Kopf answers it
    from a copy up to 10 s old."""
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
    except httpx.HTTPError:
        return 0, -1
    runs = re.search(r"^vas_camera_handler_runs_total (\S+)$", text, re.M)
    waiting = re.search(r"^vas_cameras_waiting (\S+)$", text, re.M)
    if runs is None or waiting is None:
        return 0, -1
    return int(float(runs.group(1))), int(float(waiting.group(1)))
