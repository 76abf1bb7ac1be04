"""Failure classification, redaction and mountpoint derivation: pure functions."""

from __future__ import annotations

import errno

import av
import pytest

from vas_core.identity import mountpoint_id, substream_id
from vas_operator.camera import status_changed
from vas_operator.mountpoints import (
    MAIN,
    SUB,
    MountpointSpec,
    fingerprint,
    listed_fingerprint,
    mountpoint_secret,
)
from vas_operator.pool import mounted_camera, mounted_stream
from vas_operator.probe import Credentials, classify, with_credentials
from vas_operator.prober import Prober
from vas_operator.redact import redact

PASSWORD = "p@ss:w/rd!"  # noqa: S105  (a test value, checked to never leak)


def av_error(cls: type[BaseException], code: int = 1) -> BaseException:
    return cls(code, "boom", f"rtsp://admin:{PASSWORD}@10.0.0.1/s")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("error", "elapsed", "reason", "retryable"),
    [
        (av_error(av.error.HTTPUnauthorizedError), 0.1, "Unauthorized", False),
        (av_error(av.error.HTTPNotFoundError), 0.1, "NotFound", True),
        (av_error(av.error.HTTPForbiddenError), 0.1, "Forbidden", False),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), 0.1, "ConnectionRefused", True),
        (OSError(errno.EHOSTUNREACH, "no route"), 0.1, "HostUnreachable", True),
        (av_error(av.error.InvalidDataError), 5.0, "Timeout", True),
        (av_error(av.error.InvalidDataError), 0.2, "NotRTSP", False),
        (TimeoutError(), 5.0, "Timeout", True),
    ],
)
def test_classify(error: BaseException, elapsed: float, reason: str, retryable: bool) -> None:
    failure = classify(error, elapsed, timeout=5.0, has_credentials=True, secrets=(PASSWORD,))
    assert (failure.reason, failure.retryable) == (reason, retryable)
    assert PASSWORD not in failure.message


def test_unknown_errors_are_redacted() -> None:
    error = RuntimeError(f"strange failure opening rtsp://admin:{PASSWORD}@10.0.0.1/s")
    failure = classify(error, 0.1, 5.0, True, (PASSWORD,))
    assert failure.reason == "ProbeFailed"
    assert PASSWORD not in failure.message
    assert "rtsp://***@10.0.0.1/s" in failure.message


def test_redact_masks_userinfo_and_encoded_secrets() -> None:
    text = f"a rtsp://u:{PASSWORD}@h/s b {PASSWORD} c p%40ss%3Aw%2Frd%21"
    out = redact(text, [PASSWORD])
    assert PASSWORD not in out
    assert "p%40ss" not in out


def test_with_credentials_encodes_userinfo() -> None:
    url = with_credentials("rtsp://10.0.0.1:554/s?x=1", Credentials("ad min", PASSWORD))
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd%21@10.0.0.1:554/s?x=1"
    assert PASSWORD not in repr(Credentials("a", PASSWORD))


def test_mountpoint_ids_are_stable_distinct_and_js_safe() -> None:
    ids = {mountpoint_id("ns", f"cam-{i}") for i in range(2000)}
    assert len(ids) == 2000
    assert all(0 < i < 2**48 for i in ids)
    assert mountpoint_id("a", "b") == mountpoint_id("a", "b")
    assert mountpoint_id("a", "b") != mountpoint_id("b", "a")


def test_fingerprint_changes_with_url_and_credentials_and_hides_them() -> None:
    base = fingerprint("k", "rtsp://h/s", "tcp", Credentials("u", PASSWORD))
    assert base != fingerprint("k", "rtsp://h/t", "tcp", Credentials("u", PASSWORD))
    assert base != fingerprint("k", "rtsp://h/s", "tcp", Credentials("u", "other"))
    assert base == fingerprint("k", "rtsp://h/s", "tcp", Credentials("u", PASSWORD))
    spec = MountpointSpec(
        1, mountpoint_secret("k", 1), "ns", "cam", "rtsp://h/s", Credentials("u", PASSWORD), base
    )
    request = spec.create_request("admin-key")
    assert listed_fingerprint(request) == base
    assert PASSWORD not in request["metadata"]
    assert request["rtsp_pwd"] == PASSWORD  # only in the request to Janus itself


def test_status_changed_ignores_probe_time_only() -> None:
    old = {
        "phase": "Ready",
        "stream": {"codec": "h264", "lastProbeTime": "t0", "probeLatencyMilliseconds": 300},
    }
    same = {
        "phase": "Ready",
        "stream": {"codec": "h264", "lastProbeTime": "t1", "probeLatencyMilliseconds": 280},
    }
    assert not status_changed(old, same)
    assert status_changed(old, {**same, "phase": "Failed"})


def test_status_changed_ignores_substream_probe_time_only() -> None:
    old = {"phase": "Ready", "substream": {"resolution": "320x240", "lastProbeTime": "t0"}}
    same = {"phase": "Ready", "substream": {"resolution": "320x240", "lastProbeTime": "t1"}}
    assert not status_changed(old, same)
    assert status_changed(old, {**same, "substream": {"resolution": "640x480"}})
    # A null (the merge patch that removes an old sub-stream) is no change when none is stored.
    assert not status_changed({"phase": "Ready"}, {"phase": "Ready", "substream": None})


def test_substream_ids_never_collide_with_main_ids() -> None:
    mains = {mountpoint_id("ns", f"cam-{i}") for i in range(2000)}
    subs = {substream_id("ns", f"cam-{i}") for i in range(2000)}
    assert len(subs) == 2000
    assert not mains & subs
    assert all(0 < i < 2**48 for i in subs)
    assert substream_id("ns", "cam") == mountpoint_id("ns", "cam/sub")


def test_the_pool_recognises_both_streams_of_a_camera_by_their_own_ids() -> None:
    def entry(mp_id: int, stream: str) -> dict[str, object]:
        spec = MountpointSpec(mp_id, "s", "ns", "cam", "rtsp://h/s", None, "fp", stream=stream)
        return {"id": mp_id, "metadata": spec.create_request("k")["metadata"]}

    main, sub = mountpoint_id("ns", "cam"), substream_id("ns", "cam")
    assert mounted_stream(entry(main, MAIN)) == (("ns", "cam"), MAIN)
    assert mounted_stream(entry(sub, SUB)) == (("ns", "cam"), SUB)
    assert mounted_camera(entry(sub, SUB)) == ("ns", "cam")
    # Metadata cannot claim an id that is not the one derived for that camera and stream.
    assert mounted_stream(entry(sub, MAIN)) is None
    assert mounted_stream(entry(main, SUB)) is None
    assert mounted_stream(entry(mountpoint_id("ns", "other"), SUB)) is None


def test_thumbnail_is_a_whole_picture() -> None:
    """The test camera's H.264 keyframes arrive in two packets (SPS/PPS repeated before each
    IDR slice): the thumbnail must still be the whole picture, with no flat band. SMPTE bars
    (/cam1) have varied content in every quarter of the frame."""
    import asyncio
    import io

    from PIL import Image, ImageStat

    from tests.media.fixtures import RtspCamera

    async def thumbnails(url: str) -> list[bytes | None]:
        prober = Prober(concurrency=1)
        try:
            return [
                (await prober.probe(url, "tcp", None, want_thumbnail=True)).keyframe_jpeg
                for _ in range(3)
            ]
        finally:
            await prober.close()

    with RtspCamera(mounts=["/cam1"]) as camera:
        jpegs = asyncio.run(thumbnails(camera.url("/cam1")))
    for jpeg in jpegs:
        assert jpeg is not None
        image = Image.open(io.BytesIO(jpeg)).convert("L")
        width, height = image.size
        top = ImageStat.Stat(image.crop((0, 0, width, height // 4))).var[0]
        bottom = ImageStat.Stat(image.crop((0, 3 * height // 4, width, height))).var[0]
        # Measured: top ~5500, bottom ~8400 when whole; the bottom was 0 (one grey band).
        assert top > 1000, (top, bottom)
        assert bottom > 1000, (top, bottom)
