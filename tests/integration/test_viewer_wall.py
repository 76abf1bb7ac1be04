"""The web viewer's live wall against real parts: the API server, the operator, Janus, GStreamer
RTSP cameras with a 640x480 main stream and a 320x240 sub-stream each, Redis, the facade and
headless Chromium. One browser and one page for the whole module (two cores, other tests)."""

from __future__ import annotations

import io
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from PIL import Image

from tests.facade_process import CHROMIUM_ARGS, FacadeProcess, add_viewer, viewer_token
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.operator_process import live_operator
from tests.support import REPO, Cluster, pool_settings

pytestmark = pytest.mark.cluster
NS = "wall"
GATEWAY = "gw-wall-0"
ARTIFACTS = REPO / "tests" / "artifacts"
CAMERAS = [f"cam-{i}" for i in range(9)]
VICTIM = CAMERAS[-1]  # served by an RTSP server of its own, which the drop test kills
MAIN, SUB = (640, 480), (320, 240)


def camera_doc(name: str, main: str, sub: str) -> dict[str, Any]:
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": NS, "labels": {"wall": "lobby"}},
        "spec": {"source": {"url": main}, "substream": {"url": sub}, "location": "Wall"},
    }


@pytest.fixture(scope="module")
def world(
    crds_installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    kube = crds_installed
    logs = tmp_path_factory.mktemp("wall")
    kube.kubectl("create", "namespace", NS)
    add_viewer(kube, NS)
    shared = [f"/m{i}" for i in range(8)] + [f"/s{i}=320x240" for i in range(8)]
    with (
        RtspCamera(mounts=shared, log_path=logs / "rtsp.log") as cameras,
        RtspCamera(mounts=["/m", "/s=320x240"], log_path=logs / "victim.log") as victim,
        JanusGateway(loopback_ice=True) as janus,
        RedisServer() as redis,
    ):
        operator = live_operator(kube, janus, NS, logs / "operator.log", GATEWAY, redis.url)
        operator.start()
        facade: FacadeProcess | None = None
        try:
            docs = [
                camera_doc(name, cameras.url(f"/m{i}"), cameras.url(f"/s{i}"))
                for i, name in enumerate(CAMERAS[:-1])
            ]
            docs.append(camera_doc(VICTIM, victim.url("/m"), victim.url("/s")))
            docs.append(
                {
                    "apiVersion": "vas.io/v1alpha1",
                    "kind": "CameraGroup",
                    "metadata": {"name": "lobby", "namespace": NS},
                    "spec": {
                        "selector": {"matchLabels": {"wall": "lobby"}},
                        "layout": {"mode": "Grid", "columns": 3},
                    },
                }
            )
            kube.kubectl(
                "apply",
                "-f",
                "-",
                stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs}),
            )
            for condition in ("Ready", "SubstreamReady"):
                kube.kubectl(
                    "wait",
                    "-n",
                    NS,
                    f"--for=condition={condition}",
                    "cam",
                    "--all",
                    "--timeout=120s",
                )
            pool = pool_settings(NS, NS)
            facade = FacadeProcess(
                kube,
                logs / "facade.log",
                redis.url,
                gateway_namespace=pool["gateway_namespace"],
                gateway_selector=pool["gateway_selector"],
                janus_api_secret=janus.api_secret,
            ).start()
            yield {
                "kube": kube,
                "facade": facade,
                "token": viewer_token(kube, "viewer", NS),
                "victim": victim,
                "logs": logs,
            }
        finally:
            if facade is not None:
                facade.stop()
            operator.stop()


@pytest.fixture(scope="module")
def page(world: dict[str, Any]) -> Iterator[Any]:
    """The wall of the group "lobby" in one headless Chromium page, as a viewer sees it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            # bypass_csp: playwright's wait_for_function evaluates strings, which the viewer's
            # Content-Security-Policy (rightly) forbids.
            tab = browser.new_page(
                viewport={"width": 1280, "height": 900}, bypass_csp=True, accept_downloads=True
            )
            tab.add_init_script(f"sessionStorage.setItem('vas-token', {world['token']!r})")
            tab.goto(f"{world['facade'].url}/?group={NS}/lobby")
            yield tab
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            with_log = world["logs"] / "facade.log"
            print(f"facade log: {with_log}")
            browser.close()


def wait_until(page: Any, js: str, timeout: float) -> None:
    """page.wait_for_function, failing with what every tile shows (and its recent events)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, timeout=timeout)
    except PlaywrightTimeout:
        shown = [
            {**t, "events": [name for _, name in t["events"][-12:]]}
            for t in page.evaluate("window.vas.tiles")
        ]
        errors = page.evaluate("window.vas.errors")
        raise AssertionError(f"{js} never held: tiles {shown}, errors {errors[-10:]}") from None


def tiles(page: Any) -> dict[str, dict[str, Any]]:
    return {t["camera"].split("/")[1]: t for t in page.evaluate("window.vas.tiles")}


ALL_PLAYING = f"""() => {{
    const t = window.vas.tiles;
    return t.length === {len(CAMERAS)} && t.every(x => x.state === 'playing' && x.width > 0);
}}"""


def test_a_3x3_wall_plays_every_tile_live_on_its_sub_stream(page: Any) -> None:
    """Nine cameras in a CameraGroup with a 3-column Grid layout: every tile plays at once, each
    on its sub-stream (320x240, where the main stream is 640x480), and its video advances."""
    started = time.monotonic()
    wait_until(page, ALL_PLAYING, 90000)
    first = tiles(page)
    print(f"all {len(first)} tiles playing after {time.monotonic() - started:.1f} s")
    page.wait_for_timeout(2500)
    later = tiles(page)
    for name in CAMERAS:
        assert first[name]["stream"] == "sub", first[name]
        assert (later[name]["width"], later[name]["height"]) == SUB, later[name]
        assert later[name]["currentTime"] > first[name]["currentTime"], (first, later)
        # Frames decoded (WebRTC's statistics), not only the element's clock, move on.
        assert later[name]["frames"] > first[name]["frames"], (first[name], later[name])
    # The group's layout: three columns, so three distinct tile positions across.
    lefts = page.evaluate(
        "[...document.querySelectorAll('#grid .card')].map(c => c.getBoundingClientRect().left)"
    )
    assert len({round(x) for x in lefts}) == 3, lefts
    page.screenshot(path=str(ARTIFACTS / "viewer-wall.png"))


def test_full_screen_switches_a_tile_to_the_main_stream_and_back(page: Any) -> None:
    wait_until(page, ALL_PLAYING, 60000)
    name = CAMERAS[0]
    card = page.locator(f'#grid .card[data-camera="{NS}/{name}"]')
    card.hover()
    card.locator("button.full").click()
    try:
        wait_until(
            page,
            f"""() => document.fullscreenElement && window.vas.tiles.some(t =>
                t.camera === '{NS}/{name}' && t.stream === 'main' && t.state === 'playing'
                && t.width === {MAIN[0]})""",
            60000,
        )
        tile = tiles(page)[name]
        assert (tile["width"], tile["height"]) == MAIN, tile
        page.screenshot(path=str(ARTIFACTS / "viewer-wall-fullscreen.png"))
    finally:
        page.evaluate("document.fullscreenElement && document.exitFullscreen()")
    wait_until(
        page,
        f"""() => window.vas.tiles.some(t => t.camera === '{NS}/{name}' && t.stream === 'sub'
            && t.state === 'playing' && t.width === {SUB[0]})""",
        60000,
    )


def test_snapshot_saves_a_png_of_the_playing_frame(page: Any) -> None:
    wait_until(page, ALL_PLAYING, 60000)
    name = CAMERAS[1]
    card = page.locator(f'#grid .card[data-camera="{NS}/{name}"]')
    card.hover()
    with page.expect_download() as download:
        card.locator("button.snap").click()
    saved = download.value
    assert re.fullmatch(rf"{NS}-{name}-\d{{8}}-\d{{6}}\.png", saved.suggested_filename), (
        saved.suggested_filename
    )
    path = saved.path()
    assert path is not None
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        tile = tiles(page)[name]
        assert image.size == (tile["width"], tile["height"]) == SUB, (image.size, tile)
        # A real frame, not a blank canvas: the test pattern has many colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 16


def test_a_tile_whose_camera_drops_shows_it_and_plays_again_by_itself(
    page: Any, world: dict[str, Any]
) -> None:
    """The RTSP server of one camera is killed, then started again on the same port: its tile
    shows the drop (not "playing", a red frame) and plays again without anyone touching it;
    the other tiles keep playing."""
    wait_until(page, ALL_PLAYING, 60000)
    victim: RtspCamera = world["victim"]
    key = f"{NS}/{VICTIM}"
    killed = page.evaluate("performance.now()")
    victim.stop()
    wait_until(
        page,
        f"window.vas.tiles.some(t => t.camera === '{key}' && t.state !== 'playing')",
        60000,
    )
    dropped = page.evaluate("performance.now()")
    card = page.locator(f'#grid .card[data-camera="{key}"]')
    shown = card.get_attribute("data-state"), card.get_attribute("class") or ""
    assert shown[0] in {"reconnecting", "offline", "connecting"}, shown
    assert "dropped" in shown[1].split(), shown  # framed in red, the reason over the picture
    page.screenshot(path=str(ARTIFACTS / "viewer-wall-drop.png"))
    others = [t for t in page.evaluate("window.vas.tiles") if t["camera"] != key]
    assert all(t["state"] == "playing" for t in others), others
    victim.start()
    restarted = page.evaluate("performance.now()")
    wait_until(
        page,
        f"window.vas.tiles.some(t => t.camera === '{key}' && t.state === 'playing')",
        120000,
    )
    back = page.evaluate("performance.now()")
    before = tiles(page)[VICTIM]
    page.wait_for_timeout(2500)
    tile = tiles(page)[VICTIM]
    assert tile["currentTime"] > before["currentTime"], tile
    assert tile["frames"] > before["frames"], (before, tile)
    assert tile["stream"] == "sub", tile
    events = [e for e in tile["events"] if e[0] > killed]
    print(
        f"drop noticed {dropped - killed:.0f} ms after the kill; playing again "
        f"{back - restarted:.0f} ms after the restart (video gap {back - killed:.0f} ms, "
        f"of which the camera was down {restarted - killed:.0f} ms); tile events: "
        f"{[name for _, name in events]}"
    )


def test_on_a_phone_the_wall_reflows_and_nothing_scrolls_sideways(page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    layout = page.evaluate("""() => {
        const d = document.documentElement, rect = (el) => el.getBoundingClientRect();
        const cards = [...document.querySelectorAll('#grid .card')].map(rect);
        const targets = [...document.querySelectorAll('.card .tools > *, .card .pick')]
            .map(rect).filter(r => r.width > 0);
        const bar = [...document.querySelectorAll('.bar > *')].map(rect);
        return {scroll: d.scrollWidth, client: d.clientWidth,
                lefts: [...new Set(cards.map(r => Math.round(r.left)))],
                widest: Math.max(...cards.map(r => r.right)),
                smallest: Math.min(...targets.map(r => Math.min(r.width, r.height))),
                barRight: Math.max(...bar.map(r => r.right))};
    }""")
    page.screenshot(path=str(ARTIFACTS / "viewer-phone.png"))
    assert layout["scroll"] <= layout["client"], layout
    assert len(layout["lefts"]) == 1, layout  # one column
    assert layout["widest"] <= layout["client"], layout
    assert layout["barRight"] <= layout["client"], layout
    assert layout["smallest"] >= 40, layout
    # The player fills the width, its controls reachable by touch.
    page.locator(f'#grid .card[data-camera="{NS}/{CAMERAS[2]}"] .meta').click()
    wait_until(page, "window.vas.state === 'playing'", 30000)
    player = page.evaluate("""() => {
        const d = document.documentElement;
        const frame = document.querySelector('#player .frame').getBoundingClientRect();
        const controls = [...document.querySelectorAll('#player .actions > *')]
            .map(el => el.getBoundingClientRect());
        return {scroll: d.scrollWidth, client: d.clientWidth, frame: frame.width,
                smallest: Math.min(...controls.map(r => Math.min(r.width, r.height))),
                right: Math.max(...controls.map(r => r.right)),
                width: document.getElementById('video').videoWidth};
    }""")
    page.screenshot(path=str(ARTIFACTS / "viewer-phone-player.png"))
    assert player["frame"] >= player["client"] - 1, player
    assert player["scroll"] <= player["client"], player
    assert player["right"] <= player["client"], player
    assert player["smallest"] >= 40, player
    assert player["width"] == MAIN[0], player  # the player plays the main stream
    page.locator("#p-close").click()
