"""Benchmark: what a 16-tile live wall costs the browser, on sub-streams and on main streams.

Everything is real and on loopback: the control plane, the operator, Debian's Janus, Redis,
the facade and headless Chromium (Debian's, driven by playwright). 16 Cameras each have a
1280x720 main stream and a 320x240 sub-stream; two GStreamer RTSP servers serve them, each
from one shared encoder (``--fanout``), so the figures measure the viewer, not x264.

The wall (a CameraGroup, 4 columns) is opened three times: with no live tile (?live=0, the
page's own cost), with every tile on its sub-stream (?quality=sub) and on its main stream
(?quality=main). Once all 16 tiles play, the benchmark samples for a while: CPU of Chromium's
whole process tree (utime+stime from /proc) and bytes of video received (WebRTC's
inbound-rtp bytesReceived), and prints both per live tile. No assertions.

    make bench-wall
    .venv/bin/python -m bench.wall --seconds 30
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.facade_process import CHROMIUM_ARGS, FacadeProcess
from tests.media.fixtures import (
    CAMERA_SCRIPT,
    SYSTEM_PYTHON,
    JanusGateway,
    RedisServer,
    stop_pid,
    wait_tcp,
)
from tests.operator_process import live_operator
from tests.support import (
    free_port,
    install_crds,
    pool_settings,
    start_cluster,
    stop_cluster,
)

NS = "bench-wall"
GATEWAY = "gw-wall-0"
TILES = 16
MAIN, SUB = (1280, 720), (320, 240)
TICK = os.sysconf("SC_CLK_TCK")


@contextmanager
def fanout_server(size: tuple[int, int], n: int, log: Path) -> Iterator[int]:
    """An RTSP server serving /fan/0 .. /fan/n-1 at ``size`` from one shared encoder; its port."""
    port = free_port()
    args = [SYSTEM_PYTHON, str(CAMERA_SCRIPT), "--port", str(port), "--fanout", str(n)]
    args += ["--width", str(size[0]), "--height", str(size[1])]
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        wait_tcp("127.0.0.1", port)
        yield port
    finally:
        stop_pid(proc)


def wall_objects(main_port: int, sub_port: int) -> list[dict[str, Any]]:
    cameras: list[dict[str, Any]] = [
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": f"cam-{i:02d}", "namespace": NS, "labels": {"wall": "bench"}},
            "spec": {
                "source": {"url": f"rtsp://127.0.0.1:{main_port}/fan/{i}"},
                "substream": {"url": f"rtsp://127.0.0.1:{sub_port}/fan/{i}"},
            },
        }
        for i in range(TILES)
    ]
    group = {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "CameraGroup",
        "metadata": {"name": "wall", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"wall": "bench"}}, "layout": {"columns": 4}},
    }
    return [*cameras, group]


def process_tree(marker: str) -> list[int]:
    """Chromium's browser process (the one started with ``marker``) and all its descendants."""
    parents: dict[int, int] = {}
    root = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if root is None and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                root = int(entry.name)
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = {root} if root is not None else set()
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sorted(tree)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended since: its time is lost, a small error
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def measure(
    browser: Any, url: str, token: str, marker: str, live: int, seconds: float
) -> dict[str, Any]:
    """Open the wall at ``url``; once ``live`` tiles play, CPU and bytes over ``seconds``."""
    page = browser.new_page(viewport={"width": 1600, "height": 1400}, bypass_csp=True)
    try:
        page.add_init_script(f"sessionStorage.setItem('vas-token', {token!r})")
        started = time.monotonic()
        page.goto(url)
        page.wait_for_function(
            f"""() => {{ const t = window.vas.tiles;
                return t.length === {TILES} &&
                    t.filter(x => x.state === 'playing' && x.width > 0).length === {live}; }}""",
            timeout=180000,
        )
        ready = time.monotonic() - started
        page.wait_for_timeout(5000)  # past the first keyframes and the decoders' start
        shown = page.evaluate("window.vas.tiles")
        pids = process_tree(marker)
        cpu0, bytes0, t0 = cpu_seconds(pids), received(page), time.monotonic()
        page.wait_for_timeout(seconds * 1000)
        cpu1, bytes1, t1 = cpu_seconds(process_tree(marker)), received(page), time.monotonic()
        restarted = [
            t for t in page.evaluate("window.vas.tiles") if t["state"] not in {"playing", "idle"}
        ]
        return {
            "ready_s": ready,
            "cpu_pct": (cpu1 - cpu0) / (t1 - t0) * 100,
            "kbit_s": (bytes1 - bytes0) * 8 / 1000 / (t1 - t0),
            "sizes": sorted({(t["width"], t["height"]) for t in shown if t["width"]}),
            "streams": sorted({t["stream"] for t in shown if t["stream"]}),
            "not_playing_at_end": len(restarted),
        }
    finally:
        page.close()


def received(page: Any) -> int:
    return int(sum(t["bytes"] for t in page.evaluate("window.vas.received()")))


def run(seconds: float, work: Path) -> dict[str, dict[str, Any]]:

    cluster = start_cluster(work / "control-plane")
    token = (cluster.state / "tokens.csv").read_text().split(",")[0]
    try:
        install_crds(cluster)
        cluster.kubectl("create", "namespace", NS)
        with (
            fanout_server(MAIN, TILES, work / "main.log") as main_port,
            fanout_server(SUB, TILES, work / "sub.log") as sub_port,
            JanusGateway(loopback_ice=True) as janus,
            RedisServer() as redis,
        ):
            operator = live_operator(cluster, janus, NS, work / "operator.log", GATEWAY, redis.url)
            operator.start()
            facade: FacadeProcess | None = None
            try:
                docs = {
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": wall_objects(main_port, sub_port),
                }
                cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(docs))
                for condition in ("Ready", "SubstreamReady"):
                    cluster.kubectl(
                        "wait", "-n", NS, f"--for=condition={condition}", "cam", "--all",
                        "--timeout=300s",
                    )  # fmt: skip
                pool = pool_settings(NS, NS)
                facade = FacadeProcess(
                    cluster,
                    work / "facade.log",
                    redis.url,
                    gateway_namespace=pool["gateway_namespace"],
                    gateway_selector=pool["gateway_selector"],
                    janus_api_secret=janus.api_secret,
                    # The static admin token carries no audience: accept API-server tokens.
                    extra_env={"VAS_API_TOKEN_AUDIENCES": "[]"},
                ).start()
                return browse(facade.url, token, seconds, work)
            finally:
                if facade is not None:
                    facade.stop()
                operator.stop()
    finally:
        stop_cluster(cluster)


def browse(base: str, token: str, seconds: float, work: Path) -> dict[str, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    marker = f"--vas-bench={uuid.uuid4().hex}"  # unknown to Chromium, finds its processes
    args = [marker, *CHROMIUM_ARGS]
    wall = f"{base}/?group={NS}/wall"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=args)
        try:
            return {
                "no live tile": measure(browser, wall + "&live=0", token, marker, 0, seconds),
                "sub-streams": measure(
                    browser, wall + "&quality=sub", token, marker, TILES, seconds
                ),
                "main streams": measure(
                    browser, wall + "&quality=main", token, marker, TILES, seconds
                ),
            }
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="sampling time per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vas-bench-wall-") as tmp:
        results = run(args.seconds, Path(tmp))
    print(
        f"wall benchmark: {TILES} tiles (CameraGroup, 4 columns), main {MAIN[0]}x{MAIN[1]}, "
        f"sub {SUB[0]}x{SUB[1]}, {args.seconds:g} s sampled per mode, {os.cpu_count()} cores"
    )
    base = results["no live tile"]["cpu_pct"]
    print(f"  {'mode':<14} {'all playing':>11} {'Chromium CPU':>13} {'per tile':>9} "
          f"{'video kbit/s':>13} {'per tile':>9}  sizes")  # fmt: skip
    for mode, r in results.items():
        live = TILES if mode != "no live tile" else 0
        per_cpu = f"{(r['cpu_pct'] - base) / live:.1f} %" if live else "-"
        per_net = f"{r['kbit_s'] / live:.0f}" if live else "-"
        print(
            f"  {mode:<14} {r['ready_s']:>9.1f} s {r['cpu_pct']:>11.1f} % {per_cpu:>9} "
            f"{r['kbit_s']:>13.0f} {per_net:>9}  {r['sizes']} {r['streams']}"
            + (
                f" ({r['not_playing_at_end']} tiles reconnecting at the end)"
                if r["not_playing_at_end"]
                else ""
            )
        )
    print("  (per tile: above the page with no live tile; CPU in % of one core)")


if __name__ == "__main__":
    main()
