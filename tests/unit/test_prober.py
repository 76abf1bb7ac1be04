"""The probe worker process against a real GStreamer RTSP camera: what it reports, and what
happens when it dies or hangs."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.media.fixtures import RtspCamera
from vas_operator.probe import ProbeError
from vas_operator.prober import Prober


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with RtspCamera(mounts=["/cam1"]) as cam:
        yield cam


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung camera)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


async def test_the_worker_reports_facts_and_failures(camera: RtspCamera) -> None:
    prober = Prober(concurrency=2, timeout=3)
    try:
        facts = await prober.probe(camera.url("/cam1"), "tcp", None)
        assert (facts.codec, facts.width, facts.height, facts.fps) == ("h264", 640, 480, 15.0)
        assert facts.keyframe_jpeg is None  # nothing decoded unless a thumbnail is wanted
        with pytest.raises(ProbeError) as missing:
            await prober.probe(camera.url("/nothing-here"), "tcp", None)
        assert (missing.value.reason, missing.value.retryable) == ("NotFound", True)
        thumb = await prober.probe(camera.url("/cam1"), "tcp", None, want_thumbnail=True)
        assert thumb.keyframe_jpeg is not None
        assert thumb.keyframe_jpeg[:2] == b"\xff\xd8"  # a JPEG
    finally:
        await prober.close()


async def test_a_dead_worker_fails_its_probes_as_retryable_and_is_replaced(
    camera: RtspCamera, silent: int
) -> None:
    prober = Prober(concurrency=2, timeout=4)
    try:
        await prober.start()
        hung = asyncio.create_task(prober.probe(f"rtsp://127.0.0.1:{silent}/x", "tcp", None))
        await asyncio.sleep(0.5)  # the probe waits in the worker for an answer
        assert prober._proc is not None
        first = prober._proc.pid
        prober._proc.kill()  # as FFmpeg crashing on what a camera sent would
        with pytest.raises(ProbeError) as failed:
            await hung
        assert (failed.value.reason, failed.value.retryable) == ("ProbeFailed", True)
        facts = await prober.probe(camera.url("/cam1"), "tcp", None)  # a new worker
        assert facts.codec == "h264"
        assert prober._proc.pid != first
    finally:
        await prober.close()


async def test_a_hung_camera_is_a_timeout_and_holds_no_other_probe(
    camera: RtspCamera, silent: int
) -> None:
    prober = Prober(concurrency=2, timeout=1)
    try:
        hung = asyncio.create_task(prober.probe(f"rtsp://127.0.0.1:{silent}/x", "tcp", None))
        facts = await prober.probe(camera.url("/cam1"), "tcp", None)
        assert facts.codec == "h264"
        with pytest.raises(ProbeError) as failed:
            await hung
        assert (failed.value.reason, failed.value.retryable) == ("Timeout", True)
    finally:
        await prober.close()


async def test_the_worker_holds_none_of_the_operators_settings(camera: RtspCamera) -> None:
    os.environ["VAS_JANUS_ADMIN_SECRET"] = "not-for-ffmpeg"  # noqa: S105
    prober = Prober(concurrency=1)
    try:
        await prober.start()
        assert prober._proc is not None
        environ = Path(f"/proc/{prober._proc.pid}/environ").read_bytes().split(b"\0")  # noqa: ASYNC240
        assert not [v for v in environ if v.startswith(b"VAS_")]
        assert (await prober.probe(camera.url("/cam1"), "tcp", None)).codec == "h264"
    finally:
        del os.environ["VAS_JANUS_ADMIN_SECRET"]
        await prober.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_worker_that_served_a_burst_is_replaced_once_idle(camera: RtspCamera) -> None:
    """The fresh worker is up before the old one goes, and probes go on working."""
    prober = Prober(concurrency=2, timeout=3, recycle_after=3, recycle_idle=0.4)
    try:
        await prober.start()
        first = prober.worker_pid
        for _ in range(3):
            await prober.probe(camera.url("/cam1"), "tcp", None)
        for _ in range(40):
            if prober.worker_pid != first:
                break
            await asyncio.sleep(0.1)
        assert prober.worker_pid not in (None, first)
        assert first is not None
        for _ in range(40):  # the old one exits on its own once its stdin is closed
            if not alive(first):
                break
            await asyncio.sleep(0.1)
        assert not alive(first)
        facts = await prober.probe(camera.url("/cam1"), "tcp", None)
        assert facts.codec == "h264"
        again = prober.worker_pid
        await asyncio.sleep(1.0)  # below recycle_after since: kept
        assert prober.worker_pid == again
    finally:
        await prober.close()
