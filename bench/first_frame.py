"""Benchmark: page load to the first *moving* frame of a camera in Chromium, and where the time
goes, against the local stack.

Everything is real and on loopback: the control plane, the operator, Debian's Janus (the
mountpoint keeps its last keyframe, ``videobufferkf``), Redis, a GStreamer RTSP camera
(640x480, 15 fps, a keyframe a second), the facade and headless Chromium (Debian's, driven by
playwright). Each load opens a page and waits until the ``<video>`` has presented its second
frame (``requestVideoFrameCallback``: the picture moves); the clock is the page's own, whose
zero is the start of the navigation. An init script (``first_frame_probe.js``) notes every
fetch and every step of the WebRTC connection without changing what the page does.

Flows, all in the same run:

- ``viewer``: the web viewer as served, ``/?play=ns/name``: one request to the facade opens a
  Janus session watching the camera and brings the offer, one more carries the answer;
- ``floor``: a minimal page doing WebRTC straight to Janus (no facade, no auth, nothing else
  on the page): what the gateway, ICE, DTLS and the browser cost by themselves.

Each flow is loaded in a warm browser (one browser, a new page per load: cached scripts, open
connections) and in fresh browsers (a new browser per load; its start is not counted). Every
viewer load signs in with a token of its own, so the facade's TokenReview and
SubjectAccessReview caches (5 s) never answer for an earlier load: a viewer opening the page
is rarely one the facade has seen in the last five seconds. No assertions; figures only.

    make bench-first-frame
    .venv/bin/python -m bench.first_frame --loads 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import percentile
from tests.facade_process import CHROMIUM_ARGS, FacadeProcess, add_viewer
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import live_operator
from tests.support import Cluster, install_crds, pool_settings, start_cluster, stop_cluster
from vas_core.identity import mountpoint_id

NS, CAMERA, VIEWER = "bench-ff", "live", "viewer"
GATEWAY = "gw-ff-0"
HERE = Path(__file__).resolve().parent
PROBE = (HERE / "first_frame_probe.js").read_text()
FLOOR = (HERE / "first_frame_floor.html").read_text()
TIMEOUT_MS = 20000
FLOWS = ("viewer", "floor")
MODES = ("warm", "fresh")

# What the probe noted, as named milestones of one load (ms since the navigation started).
MILESTONES = [
    ("html", "the page's HTML arrived"),
    ("scripts", "the page's scripts ran (DOMContentLoaded)"),
    ("signalling", "the first signalling request left"),
    ("offer", "Janus's SDP offer reached the browser"),
    ("answer", "the browser's answer was made and set"),
    ("ice", "ICE connected"),
    ("dtls", "DTLS connected (connectionState 'connected')"),
    ("frame", "the first frame was presented"),
    ("moving", "the second frame was presented: the picture moves"),
]


@dataclass
class Stack:
    cluster: Cluster
    facade: FacadeProcess
    janus: JanusGateway
    admin_token: str

    def viewer_token(self) -> str:
        """A new token of the viewer's ServiceAccount, for the facade's audience."""
        reply = httpx.post(
            f"{self.cluster.server}/api/v1/namespaces/{NS}/serviceaccounts/{VIEWER}/token",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            json={"spec": {"audiences": ["vas"], "expirationSeconds": 3600}},
            verify=False,  # noqa: S501  (the local cluster's own CA)
            timeout=10,
        )
        reply.raise_for_status()
        token: str = reply.json()["status"]["token"]
        return token


@contextmanager
def local_stack(work: Path) -> Iterator[Stack]:
    """The control plane, Janus, Redis, an RTSP camera, the operator (which mounts the camera)
    and the facade; a viewer ServiceAccount allowed to watch the camera."""
    cluster = start_cluster(work / "control-plane")
    try:
        install_crds(cluster)
        cluster.kubectl("create", "namespace", NS)
        add_viewer(cluster, NS, VIEWER)
        with (
            RtspCamera(mounts=["/cam1"]) as camera,
            JanusGateway() as janus,
            RedisServer() as redis,
        ):
            operator = live_operator(cluster, janus, NS, work / "operator.log", GATEWAY, redis.url)
            operator.start()
            facade: FacadeProcess | None = None
            try:
                cluster.apply(
                    {
                        "apiVersion": "vas.io/v1alpha1",
                        "kind": "Camera",
                        "metadata": {"name": CAMERA, "namespace": NS},
                        "spec": {"source": {"url": camera.url("/cam1")}},
                    }
                )
                cluster.kubectl(
                    "wait", "-n", NS, "--for=condition=Ready", f"cam/{CAMERA}", "--timeout=120s"
                )
                facade = FacadeProcess(
                    cluster,
                    work / "facade.log",
                    redis.url,
                    **pool_settings(NS, NS),
                    janus_api_secret=janus.api_secret,
                    # Every load is the same viewer; pages closed mid-session leave sessions
                    # that count until Janus drops them: the per-viewer caps are not measured.
                    extra_env={
                        "VAS_API_MAX_SESSIONS_PER_VIEWER": "100000",
                        "VAS_API_MAX_GRANTS_PER_VIEWER": "100000",
                    },
                ).start()
                admin = (cluster.state / "tokens.csv").read_text().split(",")[0]
                yield Stack(cluster, facade, janus, admin)
            finally:
                if facade is not None:
                    facade.stop()
                operator.stop()
    finally:
        stop_cluster(cluster)


# ---- one page load --------------------------------------------------------------------

COLLECT = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource').map(r => ({
        path: new URL(r.name).pathname, start: r.startTime, end: r.responseEnd,
        kind: r.initiatorType, cached: r.transferSize === 0}));
    const vas = window.vas || {};
    return {...window.__ff, html: nav.responseEnd, scripts: nav.domContentLoadedEventStart,
            resources, state: vas.state || null, errors: vas.errors || []};
}"""


def open_flow(page: Any, flow: str, stack: Stack) -> None:
    """Navigate ``page`` to ``flow``'s page."""
    camera = f"{NS}/{CAMERA}"
    if flow == "floor":
        url = f"http://127.0.0.1:{stack.janus.http_port}/floor"
        config = {"server": "/janus", "apisecret": stack.janus.api_secret}
        config["id"] = mountpoint_id(NS, CAMERA)
        html = FLOOR.replace('{"server": "/janus", "apisecret": "", "id": 0}', json.dumps(config))
        page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
        page.goto(url, wait_until="commit")
        return
    token = stack.viewer_token()
    page.add_init_script(f"sessionStorage.setItem('vas-token', {token!r})")
    page.goto(f"{stack.facade.url}/?play={camera}", wait_until="commit")


def load_once(new_page: Callable[[], Any], flow: str, stack: Stack) -> dict[str, Any]:
    """One page load until its picture moves (or TIMEOUT_MS): what the probe noted."""
    from playwright.sync_api import Error as PlaywrightError

    page = new_page()
    try:
        page.add_init_script(PROBE)
        open_flow(page, flow, stack)
        try:
            page.wait_for_function(
                "window.__ff && window.__ff.frames.length >= 2", timeout=TIMEOUT_MS
            )
            ok = True
        except PlaywrightError:
            ok = False
        noted: dict[str, Any] = page.evaluate(COLLECT)
        noted["ok"] = ok
        return noted
    finally:
        page.close()


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)


def run_loads(playwright: Any, mode: str, flow: str, stack: Stack, loads: int) -> list[Any]:
    """``loads`` page loads of ``flow``: in one warm browser, or each in a fresh one."""
    viewport = {"width": 1280, "height": 800}
    # bypass_csp: playwright's wait_for_function evaluates strings, which the viewer's
    # Content-Security-Policy (rightly) forbids.
    if mode == "warm":
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport=viewport, bypass_csp=True)
            load_once(context.new_page, flow, stack)  # the cache and connections warm up
            return [load_once(context.new_page, flow, stack) for _ in range(loads)]
        finally:
            browser.close()
    out = []
    for _ in range(loads):
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport=viewport, bypass_csp=True)
            out.append(load_once(context.new_page, flow, stack))
        finally:
            browser.close()
    return out


# ---- what the loads say ---------------------------------------------------------------


def first_mark(noted: dict[str, Any], name: str) -> float | None:
    return next((t for t, what in noted["marks"] if what == name), None)


def is_signalling(request: dict[str, Any]) -> bool:
    path = request["path"]
    return path.endswith("/signalling") or "/gateway/" in path or path.startswith("/janus")


def milestones(noted: dict[str, Any]) -> dict[str, float | None]:
    frames = noted["frames"]
    signalling = [r["start"] for r in noted["requests"] if is_signalling(r)]
    return {
        "html": noted["html"],
        "scripts": noted["scripts"],
        "signalling": min(signalling) if signalling else None,
        "offer": first_mark(noted, "offer"),
        "answer": first_mark(noted, "answer:set"),
        "ice": first_mark(noted, "ice:connected"),
        "dtls": first_mark(noted, "dtls:connected"),
        "frame": frames[0]["at"] if frames else None,
        "moving": frames[1]["at"] if len(frames) > 1 else None,
    }


def request_kind(request: dict[str, Any]) -> str:
    """A short name for one fetch: the API call, or the Janus step it carried."""
    path, method, verb = request["path"], request["method"], request["verb"]
    if "/gateway/" in path or path.startswith("/janus"):
        if method == "GET":
            return "long-poll (offer)" if request["sdp"] else "long-poll"
        return f"janus {verb or '?'}"
    if path.startswith("/api/v1/namespaces/"):
        tail = path.rsplit("/", 1)[-1]
        return (
            f"{method} camera/{tail}"
            if tail in {"signalling", "thumbnail.jpg"}
            else (f"{method} camera" if path.count("/") == 6 else f"{method} camera/{tail}")
        )
    return f"{method} {path}"


def med(values: list[float]) -> str:
    return f"{statistics.median(values):6.0f}" if values else "     -"


def report(flow: str, mode: str, loads: list[dict[str, Any]]) -> None:
    played = [n for n in loads if n["ok"]]
    moving = [m["moving"] for m in map(milestones, played) if m["moving"] is not None]
    print(f"\n{flow} / {mode} browser: {len(played)}/{len(loads)} loads moved", end="")
    if not moving:
        failed = [(n["state"], n["errors"][-2:]) for n in loads if not n["ok"]][:3]
        print(f"; failures: {failed}")
        return
    print(
        f"; page load -> moving frame median {statistics.median(moving):.0f} ms, "
        f"p95 {percentile(moving, 95):.0f} ms, min {min(moving):.0f}, max {max(moving):.0f}"
    )
    print(f"  {'milestone (median ms since navigation start)':<58} {'at':>6} {'step':>6}")
    marks = [milestones(n) for n in played]
    for name, what in MILESTONES:
        at = [m[name] for m in marks if m[name] is not None]
        steps = []
        for m in marks:
            earlier = [m[k] for k, _ in MILESTONES[: [k for k, _ in MILESTONES].index(name)]]
            known = [v for v in earlier if v is not None]
            if m[name] is not None and known:
                steps.append(m[name] - max(known))
        print(f"  {name:<9} {what:<48} {med(at)} {med(steps)}")
    kinds: dict[str, list[dict[str, Any]]] = {}
    for n in played:
        for r in n["requests"]:
            if r["end"] is not None and r["start"] < (milestones(n)["moving"] or 1e9):
                kinds.setdefault(request_kind(r), []).append(r)
    print(f"  {'requests before the picture moved':<44} {'per load':>8} {'start':>6} {'took':>6}")
    by_start = sorted(kinds.items(), key=lambda kv: statistics.median(r["start"] for r in kv[1]))
    for kind, seen in by_start:
        starts = [r["start"] for r in seen]
        took = [r["end"] - r["start"] for r in seen]
        print(f"  {kind:<44} {len(seen) / len(played):8.1f} {med(starts)} {med(took)}")
    scripts = {}
    for n in played:
        for r in n["resources"]:
            if r["kind"] in {"script", "link", "css"}:
                scripts.setdefault(r["path"], []).append(r)
    for path, seen in sorted(scripts.items()):
        cached = sum(r["cached"] for r in seen)
        print(
            f"  {path:<44} {'cached ' + str(cached) + '/' + str(len(seen)):>8} "
            f"{med([r['start'] for r in seen])} {med([r['end'] - r['start'] for r in seen])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=30, help="page loads per flow and mode")
    flows = ", ".join(FLOWS)
    parser.add_argument("--flows", default=",".join(FLOWS), help=f"comma-separated: {flows}")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: warm, fresh")
    parser.add_argument("--dump", type=Path, help="write every load's notes here (JSON)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="vas-bench-ff-") as tmp,
        local_stack(Path(tmp)) as stack,
        sync_playwright() as playwright,
    ):
        for mode in args.modes.split(","):
            for flow in args.flows.split(","):
                results[f"{flow}/{mode}"] = run_loads(playwright, mode, flow, stack, args.loads)
    print(
        f"first-frame benchmark: {args.loads} loads per flow and mode, "
        f"{time.monotonic() - started:.0f} s in all"
    )
    for key, loads in results.items():
        flow, mode = key.split("/")
        report(flow, mode, loads)
    if args.dump:
        args.dump.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
