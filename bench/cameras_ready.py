"""Benchmark: N Cameras applied at once -> time until all are Ready, on the local stack.

Everything is real and on loopback: the Go-built control plane, the operator process, Debian's
Janus and one GStreamer RTSP server whose single shared encoder serves every Camera at its
own path (/fan/0 .. /fan/N-1), so each Camera gets its own probe, RTSP session and mountpoint.

    make bench-cameras            # N=50
    .venv/bin/python -m bench.cameras_ready --cameras 200
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.media.fixtures import JanusGateway, RtspCamera
from tests.operator_process import operator_for
from tests.support import Cluster, install_crds, start_cluster, stop_cluster

NS = "bench"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ready_names(cluster: Cluster, token: str) -> set[str]:
    """One list call straight to the API server (a kubectl process per poll is too slow)."""
    url = f"{cluster.server}/apis/vas.io/v1alpha1/namespaces/{NS}/cameras"
    items = httpx.get(
        url,
        headers={"Authorization": f"Bearer {token}"},
        verify=False,  # noqa: S501
        timeout=30,
    ).json()["items"]
    return {
        cam["metadata"]["name"]
        for cam in items
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in cam.get("status", {}).get("conditions", [])
        )
    }


def run(n: int, workdir: Path) -> dict[str, Any]:
    cluster = start_cluster(workdir / "control-plane")
    token = (cluster.state / "tokens.csv").read_text().split(",")[0]
    camera = RtspCamera(mounts=[], fanout=n, log_path=workdir / "camera.log").start()
    janus = JanusGateway().start()
    operator = operator_for(
        cluster, janus, NS, workdir / "operator.log", mountpoint_key=secrets.token_hex(16)
    )
    try:
        install_crds(cluster)
        cluster.kubectl("create", "namespace", NS)
        operator.start()
        docs = [
            {
                "apiVersion": "vas.io/v1alpha1",
                "kind": "Camera",
                "metadata": {"name": f"cam-{i:04d}", "namespace": NS},
                "spec": {"source": {"url": camera.url(f"/fan/{i}")}},
            }
            for i in range(n)
        ]
        manifest = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs})
        started = time.monotonic()
        cluster.kubectl("apply", "-f", "-", stdin=manifest)
        applied = time.monotonic() - started
        seen: dict[str, float] = {}
        deadline = started + max(120, n * 2)
        while len(seen) < n and time.monotonic() < deadline:
            now = time.monotonic() - started
            for name in ready_names(cluster, token) - seen.keys():
                seen[name] = now
            time.sleep(0.1)
        total = max(seen.values()) if seen else float("nan")
        # Until every mountpoint receives media: what a viewer needs to watch the camera.
        listed: list[dict[str, Any]] = []
        receiving = 0
        until = time.monotonic() + 20
        while time.monotonic() < until:
            listed = janus.mountpoints()
            receiving = sum(
                1 for m in listed if m.get("media") and m["media"][0].get("age_ms", 10**9) < 1000
            )
            if receiving >= n:
                break
            time.sleep(0.2)
        all_receiving = time.monotonic() - started
        probes = operator.metric("vas_probe_duration_seconds_sum", reason="Probed")
        probe_count = operator.metric("vas_probe_duration_seconds_count", reason="Probed")
        per_camera = list(seen.values())
        return {
            "cameras": n,
            "ready": len(seen),
            "apply_s": round(applied, 2),
            "all_ready_s": round(total, 2),
            "per_camera_p50_s": round(statistics.median(per_camera), 2) if seen else None,
            "per_camera_p99_s": round(percentile(per_camera, 99), 2) if seen else None,
            "cameras_per_s": round(len(seen) / total, 1) if seen else None,
            "mean_probe_s": round(probes / probe_count, 3) if probe_count else None,
            "mountpoints": len(listed),
            "mountpoints_receiving": receiving,
            "all_receiving_s": round(all_receiving, 2),
        }
    finally:
        operator.stop()
        janus.stop()
        camera.stop()
        stop_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vas-bench-") as tmp:
        result = run(args.cameras, Path(tmp))
    width = max(len(k) for k in result)
    print(
        f"cameras_ready benchmark (N={args.cameras}; per-camera times are from the apply, "
        "sampled every 0.1 s)"
    )
    for key, value in result.items():
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    main()
