"""Check that an RTSP feed really plays, with PyAV, and explain failures in one word.

PyAV blocks, so probes run in a bounded thread pool: a hundred cameras applied at once must not
stall the event loop nor open a hundred RTSP sessions at the same instant.
"""

from __future__ import annotations

import asyncio
import errno
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from vas_operator.redact import redact

# Codecs a browser can play through Janus without transcoding.
WEBRTC_VIDEO_CODECS = {"h264", "vp8", "vp9", "av1", "hevc"}


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password, even in a traceback's locals
        return f"Credentials(username={self.username!r}, password='***')"


@dataclass(frozen=True)
class StreamFacts:
    codec: str
    profile: str | None
    width: int
    height: int
    fps: float | None
    audio_codec: str | None
    latency_ms: int
    keyframe_jpeg: bytes | None = None


@dataclass(frozen=True)
class ProbeError(Exception):
    """A probe that failed, with a condition reason and a message safe to show anyone."""

    reason: str
    message: str
    retryable: bool

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def with_credentials(url: str, credentials: Credentials | None) -> str:
    """The URL FFmpeg needs: userinfo added, percent-encoded. Never leaves this process."""
    if credentials is None:
        return url
    parts = urlsplit(url)
    userinfo = f"{quote(credentials.username, safe='')}:{quote(credentials.password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def classify(
    error: BaseException,
    elapsed: float,
    timeout: float,
    has_credentials: bool,
    secrets: tuple[str, ...] = (),
) -> ProbeError:
    """Map what PyAV raised to a condition reason. Pure, so it is unit-tested per case."""
    import av

    detail = redact(str(error), secrets)
    if isinstance(error, av.error.HTTPUnauthorizedError):
        if has_credentials:
            return ProbeError(
                "Unauthorized",
                "the camera refused the credentials from the Secret (RTSP 401)",
                retryable=False,
            )
        return ProbeError(
            "Unauthorized",
            "the camera asks for credentials (RTSP 401); set spec.source.credentialsSecretRef",
            retryable=False,
        )
    if isinstance(error, av.error.HTTPForbiddenError):
        return ProbeError("Forbidden", "the camera refused access (RTSP 403)", retryable=False)
    if isinstance(error, av.error.HTTPNotFoundError):
        return ProbeError(
            "NotFound", "the camera has no stream at this path (RTSP 404)", retryable=True
        )
    if isinstance(error, ConnectionRefusedError | av.error.ConnectionRefusedError):
        return ProbeError(
            "ConnectionRefused",
            "nothing listens at the camera's address and port (connection refused)",
            retryable=True,
        )
    code = getattr(error, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ProbeError("HostUnreachable", "no route to the camera's host", retryable=True)
    if isinstance(error, TimeoutError | av.error.ExitError) or (
        isinstance(error, av.error.InvalidDataError) and elapsed >= timeout * 0.9
    ):
        return ProbeError("Timeout", f"no RTSP answer within {timeout:g} s", retryable=True)
    if isinstance(error, av.error.InvalidDataError):
        return ProbeError(
            "NotRTSP", "the server at this address does not speak RTSP", retryable=False
        )
    if "Name or service not known" in detail or "Temporary failure in name resolution" in detail:
        return ProbeError("HostNotFound", "the camera's host name does not resolve", retryable=True)
    return ProbeError("ProbeFailed", detail[:512], retryable=True)


def _probe_blocking(url: str, transport: str, timeout: float, want_thumbnail: bool) -> StreamFacts:
    import av

    started = time.monotonic()
    options = {
        "rtsp_transport": transport,
        "timeout": str(int(timeout * 1_000_000)),
        "analyzeduration": "200000",  # small: open in ~0.3 s instead of ~1.1 s
        "probesize": "32768",
    }
    container = av.open(url, options=options, timeout=(timeout, timeout))
    try:
        if not container.streams.video:
            raise ProbeError("NoVideo", "the stream carries no video", retryable=False)
        video = container.streams.video[0]
        ctx = video.codec_context
        codec = ctx.name
        if codec not in WEBRTC_VIDEO_CODECS:
            raise ProbeError(
                "UnsupportedCodec",
                f"video codec {codec} cannot be played by "
                f"browsers over WebRTC (supported: "
                f"{', '.join(sorted(WEBRTC_VIDEO_CODECS))})",
                retryable=False,
            )
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        latency_ms = int((time.monotonic() - started) * 1000)
        jpeg = _first_keyframe_jpeg(container, video) if want_thumbnail else None
        return StreamFacts(
            codec=codec,
            profile=ctx.profile,
            width=ctx.width,
            height=ctx.height,
            fps=round(float(video.average_rate), 2) if video.average_rate else None,
            audio_codec=audio,
            latency_ms=latency_ms,
            keyframe_jpeg=jpeg,
        )
    finally:
        container.close()


def _first_keyframe_jpeg(container: Any, video: Any, max_frames: int = 120) -> bytes | None:
    """The first whole keyframe as JPEG.

    A keyframe made of several slices can reach us as several packets: some RTP payloaders
    (GStreamer's rtph264pay with config-interval=-1, several cameras too) repeat SPS/PPS
    before every IDR slice, and FFmpeg's H.264 parser starts a new packet at each SPS. Fed
    one packet at a time, the decoder then outputs each part as a picture of its own, the
    rest of it a flat grey-green band. With ``flags2=+chunks`` the decoder assembles slices
    until the next picture starts, so a frame comes out only when it is whole. A frame the
    decoder flags corrupt is skipped unless nothing better comes within ``max_frames``.
    """
    video.codec_context.options = {"flags2": "+chunks"}  # before the first decode opens it
    fallback = None
    seen = 0
    for packet in container.demux(video):
        for frame in packet.decode():
            seen += 1
            if not frame.key_frame:
                continue
            if not frame.is_corrupt:
                return _jpeg(frame)
            fallback = fallback or _jpeg(frame)
        if seen >= max_frames:
            break
    return fallback


def _jpeg(frame: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_image().save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


class Prober:
    """Runs probes off the event loop, at most ``concurrency`` at once."""

    def __init__(self, concurrency: int = 8, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="probe")

    async def probe(
        self,
        url: str,
        transport: str,
        credentials: Credentials | None,
        want_thumbnail: bool = False,
    ) -> StreamFacts:
        secrets = (credentials.password,) if credentials else ()
        full_url = with_credentials(url, credentials)
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            return await loop.run_in_executor(
                self._pool, _probe_blocking, full_url, transport, self.timeout, want_thumbnail
            )
        except ProbeError:
            raise
        except Exception as error:
            failure = classify(
                error, time.monotonic() - started, self.timeout, credentials is not None, secrets
            )
            # `from None`: the original exception's text holds the password-bearing URL.
            raise failure from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
