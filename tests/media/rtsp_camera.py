#!/usr/bin/python3
"""A test RTSP camera on GStreamer's RTSP server: H.264 test patterns, open or password-protected.

Runs under the system Python (python3-gi lives in Debian's dist-packages, not in the venv):

    /usr/bin/python3 tests/media/rtsp_camera.py --port 8554 --mount /cam1 \
        --secure-mount /secure:admin:s3cret

Prints "ready PORT" once listening. Each client of /camN gets its own encoder (2-6 % of a
core); --fanout N adds /fan/0../fan/N-1 served by one shared encoder, for benchmarks. A mount
may carry its own size, e.g. --mount /sub=320x240 (a camera's sub-stream); the others use
--width/--height.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PATTERNS = ["smpte", "ball", "snow", "pinwheel", "spokes", "gamut"]


def launch_line(pattern: str, width: int, height: int, fps: int, bitrate: int = 800) -> str:
    # constrained-baseline plays in every browser; an IDR every fps frames keeps the first
    # frame fast; config-interval=-1 puts SPS/PPS in-band, which Janus relays as they are.
    return (
        f"( videotestsrc is-live=true pattern={pattern} ! "
        f"video/x-raw,width={width},height={height},framerate={fps}/1 ! "
        'clockoverlay time-format="%H:%M:%S" ! '
        f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate} key-int-max={fps} ! "
        "video/x-h264,profile=constrained-baseline ! "
        "rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def parse_size(text: str) -> tuple[int, int]:
    """'320x240' -> (320, 240)."""
    width, _, height = text.partition("x")
    return int(width), int(height)


class SharedKeyFactory(GstRtspServer.RTSPMediaFactory):
    def do_gen_key(self, url: object) -> str:
        return "fanout"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--bitrate", type=int, default=800, help="kbit/s of every encoder")
    ap.add_argument(
        "--mount",
        action="append",
        default=[],
        help="open path, e.g. /cam1, or /sub=320x240 for its own size",
    )
    ap.add_argument("--secure-mount", action="append", default=[], metavar="PATH:USER:PASSWORD")
    ap.add_argument(
        "--fanout",
        type=int,
        default=0,
        metavar="N",
        help="also serve /fan/0 .. /fan/N-1, all from one shared encoder",
    )
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    auth = GstRtspServer.RTSPAuth()
    anonymous = GstRtspServer.RTSPToken()
    anonymous.set_string("media.factory.role", "anonymous")
    auth.set_default_token(anonymous)
    # PyGObject exposes RTSPAuthMethod as a plain enum: only one method can be advertised.
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    server.set_auth(auth)

    def allow(factory: GstRtspServer.RTSPMediaFactory, role: str, construct: bool) -> None:
        # add_role() is varargs in C and not introspectable from Python.
        rule = Gst.Structure.new_empty(role)
        rule.set_value("media.factory.access", True)
        rule.set_value("media.factory.construct", construct)
        factory.add_role_from_structure(rule)

    def factory(index: int, size: tuple[int, int] | None = None) -> GstRtspServer.RTSPMediaFactory:
        width, height = size or (args.width, args.height)
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch(
            launch_line(PATTERNS[index % len(PATTERNS)], width, height, args.fps, args.bitrate)
        )
        # One pipeline per client. With shared media, GStreamer 1.22's RTSP server aborts
        # (rtsp-media.c gst_rtsp_media_get_rates: assertion failed) when two clients set up
        # while the media is still prerolling, as a probe plus a Janus mount do.
        f.set_shared(False)
        return f

    for i, mount in enumerate(args.mount):
        path, _, size = mount.partition("=")
        f = factory(i, parse_size(size) if size else None)
        allow(f, "anonymous", construct=True)
        mounts.add_factory(path, f)
    for i, spec in enumerate(args.secure_mount):
        path, user, password = spec.split(":", 2)
        role = f"user{i}"
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", role)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        f = factory(len(args.mount) + i)
        allow(f, role, construct=True)
        # Access without construct makes an anonymous client get 401 (not 404).
        allow(f, "anonymous", construct=False)
        mounts.add_factory(path, f)

    if args.fanout:
        # One media for every /fan/i path: gst-rtsp-server keys shared media by URL, so a
        # constant key makes all of them share one encoder (benchmarks with many cameras).
        fan = SharedKeyFactory()
        fan.set_launch(launch_line("ball", args.width, args.height, args.fps, args.bitrate))
        fan.set_shared(True)
        allow(fan, "anonymous", construct=True)
        for i in range(args.fanout):
            mounts.add_factory(f"/fan/{i}", fan)

    if server.attach(None) == 0:
        print(f"failed to bind {args.address}:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    port = server.get_bound_port()
    if args.fanout:
        # The shared media is prepared by its first client; GStreamer 1.22 aborts
        # (gst_rtsp_media_get_rates) when clients set up while it is still prerolling, so a
        # client of our own prepares it, keeps it prepared, and "ready" waits for its first
        # buffer: a burst of clients then only ever joins a playing media.
        keeper = Gst.parse_launch(
            f"rtspsrc location=rtsp://{args.address}:{port}/fan/0 protocols=tcp latency=0 "
            "! fakesink name=sink signal-handoffs=true"
        )

        def first_buffer(*_: object) -> None:
            if not getattr(first_buffer, "done", False):
                first_buffer.done = True  # type: ignore[attr-defined]
                GLib.idle_add(lambda: print(f"ready {port}", flush=True) and False)

        keeper.get_by_name("sink").connect("handoff", first_buffer)
        keeper.set_state(Gst.State.PLAYING)
    else:
        print(f"ready {port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
