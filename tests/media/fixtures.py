"""Real media parts for tests and benchmarks: GStreamer RTSP cameras and Janus gateways,
started on loopback, stopped by PID."""

from __future__ import annotations

import itertools
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import REPO, free_port

sys.path.insert(0, str(REPO / "janus-image"))
from render import render

SYSTEM_PYTHON = "/usr/bin/python3"  # has python3-gi; the venv does not
CAMERA_SCRIPT = Path(__file__).with_name("rtsp_camera.py")
# Each Janus needs its own UDP ranges; hand out disjoint blocks per process and instance.
# A mountpoint takes two ports (RTP, RTCP) of the streaming range: 2000 ports, 1000 cameras.
_RANGES = itertools.count(20000 + (os.getpid() % 8) * 5000, 2500)


def wait_tcp(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open within {timeout} s")


def stop_pid(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: by PID, never by process name."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class RtspCamera:
    """GStreamer RTSP server with open mounts and password-protected ones."""

    mounts: list[str] = field(default_factory=lambda: ["/cam1"])
    secure_mounts: list[tuple[str, str, str]] = field(default_factory=list)
    fanout: int = 0  # also /fan/0 .. /fan/N-1 from one shared encoder
    bitrate: int | None = None  # kbit/s of each encoder (the script's default: 800)
    size: tuple[int, int] | None = None  # width, height (the script's default: 640x480)
    fps: int | None = None  # frames a second (the script's default: 15; a keyframe each second)
    address: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/cam1") -> str:
        return f"rtsp://{self.address}:{self.port}{path}"

    def start(self) -> RtspCamera:
        args = [
            SYSTEM_PYTHON,
            str(CAMERA_SCRIPT),
            "--address",
            self.address,
            "--port",
            str(self.port),
        ]
        for mount in self.mounts:
            args += ["--mount", mount]
        for path, user, password in self.secure_mounts:
            args += ["--secure-mount", f"{path}:{user}:{password}"]
        if self.fanout:
            args += ["--fanout", str(self.fanout)]
        if self.bitrate is not None:
            args += ["--bitrate", str(self.bitrate)]
        if self.size is not None:
            args += ["--width", str(self.size[0]), "--height", str(self.size[1])]
        if self.fps is not None:
            args += ["--fps", str(self.fps)]
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        # stdout says "ready PORT" once the server plays (with fanout: once its shared media
        # is prepared); nothing else is printed there.
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        try:
            self._wait_ready()
        except TimeoutError:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 15.0) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"ready"):
            raise TimeoutError(f"the RTSP camera on port {self.port} did not start")

    def stop(self) -> None:
        stop_pid(self.proc)
        self.proc = None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass
class RedisServer:
    """Debian's redis-server on a free loopback port, nothing persisted."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tempfile.gettempdir(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_tcp("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        stop_pid(self.proc)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass
class JanusGateway:
    """Debian's Janus with the config rendered from janus-image/config/."""

    ip: str = "127.0.0.1"
    http_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    admin_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    admin_key: str = field(default_factory=lambda: secrets.token_hex(12))
    api_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vas-janus-")))
    loopback_ice: bool = False  # let a browser on this machine connect (tests only)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        base = next(_RANGES)
        self.rtp_range = f"{base}-{base + 499}"
        self.streaming_range = f"{base + 500}-{base + 2499}"

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.http_port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://{self.ip}:{self.admin_port}/admin"

    @property
    def log_path(self) -> Path:
        return self.workdir / "janus.log"

    def settings(self) -> dict[str, str]:
        """The JANUS_* values janus-image/render.py needs for this instance."""
        return {
            "JANUS_IP": self.ip,
            "JANUS_HTTP_PORT": str(self.http_port),
            "JANUS_ADMIN_PORT": str(self.admin_port),
            "JANUS_RTP_PORT_RANGE": self.rtp_range,
            "JANUS_STREAMING_RTP_PORT_RANGE": self.streaming_range,
            "JANUS_ADMIN_SECRET": self.admin_secret,
            "JANUS_STREAMING_ADMIN_KEY": self.admin_key,
            "JANUS_API_SECRET": self.api_secret,
        }

    def start(self) -> JanusGateway:
        conf = render(
            self.workdir / "conf",
            {
                **self.settings(),
                "JANUS_DEBUG_LEVEL": "3",
                "JANUS_EVENT_LOOPS": "2",  # as the image does on a 2-core pod
            },
        )
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                ["janus", "-F", str(conf.parent), "-C", str(conf), "-o"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited: {self.log_path.read_text()[-2000:]}")
            try:
                info = httpx.get(
                    f"{self.url}/info", params={"apisecret": self.api_secret}, timeout=1
                ).json()
                if info.get("janus") == "server_info":
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("janus did not answer /janus/info within 20 s")

    def stop(self) -> None:
        stop_pid(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def admin(self, request: dict[str, Any]) -> dict[str, Any]:
        """A streaming-plugin request over the Admin API, for test assertions."""
        body = {
            "janus": "message_plugin",
            "transaction": secrets.token_hex(6),
            "admin_secret": self.admin_secret,
            "plugin": "janus.plugin.streaming",
            "request": request,
        }
        reply: dict[str, Any] = httpx.post(self.admin_url, json=body, timeout=10).json()
        return reply.get("response", reply)

    def mountpoints(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.admin({"request": "list"}).get("list", [])
        return out

    def __enter__(self) -> JanusGateway:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
