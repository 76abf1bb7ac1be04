"""Benchmark: N WebRTC viewers of one camera on one gateway, through the facade.

Everything is real and on this machine: the Go-built control plane, the operator, the facade,
Redis, Debian's Janus with the shipped gateway config (janus-image/config) and a GStreamer RTSP
camera. Each viewer is its own ServiceAccount: it asks the facade for a signalling handle, then
speaks Janus's HTTP protocol through the facade exactly as the web viewer's janus.js does
(create, attach, watch, answer + start, one long-poll held at all times) and completes ICE, DTLS
and SRTP with aiortc. The viewers do not decode: once DTLS is up, each viewer's UDP socket hands
SRTP packets to a counter that reads the RTP sequence number from the (clear) RTP header, and
every 128th packet is authenticated and decrypted with the session's SRTP key, so what is
counted is the gateway's real media. Unlike a browser the viewers send no RTCP (receiver
reports, REMB, NACK: about one packet a second each, against ~114 RTP packets they receive).
Viewers run in several processes (--procs), each with one thread reading all its sockets.

For each Janus config (`event_loops` unset: one thread per handle, the baseline; and
`event_loops` = cores, as the gateway image sets it) the number of viewers is ramped; at each
step, after every viewer is set up and a settle time, a steady window measures:

- Janus CPU from /proc/<pid>/stat: CPU-ms per viewer-second over the idle cost of the same
  Janus with the camera mounted and no viewer, and the viewers per core that implies;
- packet loss per viewer from RTP sequence numbers (expected - received in the window), and how
  many viewers stalled (got under half of what the camera sent);
- the facade's and the viewer processes' CPU, the machine's busy share and load average;
- the autoscaler's decision (vas_operator.autoscale.decide) for one camera and N viewers with
  the chart's default capacity and target utilisation.

The ramp stops at the first step with loss (or a viewer that could not be set up).

    make bench-viewers                # ramp 50, 100, 200, 300, 500 (VIEWERS=300: up to 300)
    .venv/bin/python -m bench.viewers --viewers 50 100 --window 20 --configs cores
    .venv/bin/python -m bench.viewers --direct   # viewers talk to Janus directly (no cluster)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing
import os
import secrets
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.facade_process import role_binding
from tests.media.fixtures import JanusGateway, RedisServer, RtspCamera
from tests.support import REPO, Cluster, install_crds, start_cluster, stop_cluster
from vas_core.identity import mountpoint_id

NS = "bench"  # the camera
VIEWERS_NS = "bench-viewers"  # one ServiceAccount per viewer
GATEWAY = "gw-bench-0"
CAMERA = "live"
CHART_VALUES = REPO / "charts" / "vas" / "values.yaml"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RAMP = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000)
SETUP_TRIES = 3  # a viewer that fails to start tries again, as the web viewer does
SRTP_CHECK_EVERY = 128
MAX_GAPS = 10_000  # sequence number jumps remembered per viewer
SINK_ROUND = 0.005  # s between the media sink's reads (a socket buffers ~1.5 s of video)


# ---------------------------------------------------------------------------------------------
# The viewer (runs in the client processes)


@dataclass(frozen=True)
class Route:
    """How a viewer reaches the gateway: through the facade (``grant`` set: ask it for a
    signalling handle with a bearer token) or straight to Janus with its api_secret."""

    janus: str  # base URL of Janus's HTTP API as the viewer calls it
    grant: str | None = None  # facade: POST here with the bearer token for a handle
    apisecret: str | None = None  # direct: Janus's api_secret
    mountpoint: int = 0


# A viewer's figures: packets received, packets expected (from sequence numbers), SRTP checks,
# failed SRTP checks, state, local UDP port.
Counters = tuple[int, int, int, int, str, int]


class ViewerError(Exception):
    pass


class Viewer:
    """One WebRTC viewer: Janus HTTP signalling (as janus.js), aiortc for ICE/DTLS/SRTP, and an
    RTP counter in place of a decoder."""

    def __init__(
        self, http: httpx.AsyncClient, route: Route, bearer: str | None, sink: MediaSink
    ) -> None:
        self.http = http
        self.sink = sink
        self.fd = -1
        self.port = 0
        self.srtp: Any = None
        self.route = route
        self.bearer = bearer
        self.base = route.janus
        self.auth: dict[str, str] = {}
        self.session = 0
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.poller: asyncio.Task[None] | None = None
        self.pc: Any = None
        self.state = "new"
        self.poll_errors = 0
        # RTP sequence numbers: received packets and the extended highest sequence number
        self.received = 0
        self.first = -1
        self.highest = 0
        self.cycles = 0
        self.checked = 0
        self.forged = 0
        self.gaps: list[tuple[float, int]] = []  # (when, packets missing) per jump forward

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"transaction": secrets.token_hex(6), **body, **self.auth}
        reply: dict[str, Any] = (await self.http.post(self.base + path, json=body)).json()
        if reply.get("janus") == "error":
            raise ViewerError(f"{body['janus']}: {reply.get('error', {}).get('reason')}")
        return reply

    async def _poll_forever(self) -> None:
        """Janus's long-poll, one held at all times like janus.js: it is also what keeps the
        Janus session alive."""
        params = {"token": self.auth["token"]} if "token" in self.auth else dict(self.auth)
        while True:
            try:
                reply = await self.http.get(
                    f"{self.base}/{self.session}",
                    params={**params, "rid": str(int(time.time() * 1000))},
                    timeout=httpx.Timeout(10, read=70),
                )
                got = reply.json()
            except (httpx.HTTPError, ValueError):
                self.poll_errors += 1
                await asyncio.sleep(1)
                continue
            for event in got if isinstance(got, list) else [got]:
                if event.get("janus") == "error":
                    self.poll_errors += 1
                    await asyncio.sleep(1)
                elif event.get("janus") != "keepalive":
                    self.events.put_nowait(event)

    async def _event(self, want: str, within: float = 20) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                event = await self.events.get()
                data = event.get("plugindata", {}).get("data", {})
                if "error" in data:
                    raise ViewerError(f"streaming: {data['error']}")
                if want == "jsep" and "jsep" in event:
                    return event
                if event.get("janus") == want:
                    return event

    async def start(self) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        mountpoint = self.route.mountpoint
        if self.route.grant is not None:
            grant = await self.http.post(
                self.route.grant, headers={"Authorization": f"Bearer {self.bearer}"}
            )
            if grant.status_code != 200:
                raise ViewerError(f"signalling grant: HTTP {grant.status_code} {grant.text[:200]}")
            body = grant.json()
            self.auth = {"token": body["token"]}
            self.base = self.route.janus + body["server"]
            mountpoint = body["mountpointId"]
        elif self.route.apisecret:
            self.auth = {"apisecret": self.route.apisecret}
        self.session = (await self._post("", {"janus": "create"}))["data"]["id"]
        self.poller = asyncio.create_task(self._poll_forever())
        attached = await self._post(
            f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.streaming"}
        )
        handle = f"/{self.session}/{attached['data']['id']}"
        watch = {"request": "watch", "id": mountpoint}
        reply = await self._post(handle, {"janus": "message", "body": watch})
        offer = reply if "jsep" in reply else await self._event("jsep")
        # No STUN server: aiortc would otherwise ask a public one. Media stays on loopback.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        connected = asyncio.Event()

        @pc.on("connectionstatechange")
        def _changed() -> None:
            self.state = pc.connectionState
            if pc.connectionState in ("connected", "failed", "closed"):
                connected.set()

        await pc.setRemoteDescription(RTCSessionDescription(offer["jsep"]["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        for transceiver in pc.getTransceivers():
            # Until the sink takes the socket (_tap) aiortc drops RTP at once: no jitter
            # buffer, no decoder, no receiver reports.
            transceiver.receiver._enabled = False
        answer = {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False}
        await self._post(handle, {"janus": "message", "body": {"request": "start"}, "jsep": answer})
        async with asyncio.timeout(20):
            await connected.wait()
        if pc.connectionState != "connected":
            raise ViewerError(f"peer connection {pc.connectionState}")
        self._tap(pc)

    def _tap(self, pc: Any) -> None:
        """Hand the nominated ICE pair's socket to the process's media sink, which reads it
        in place of asyncio: RTP is counted there, everything else (STUN consent, DTLS,
        RTCP) goes back to aiortc on the event loop as before."""
        dtls = pc.getTransceivers()[0].receiver.transport
        protocol = dtls.transport._connection._nominated[1].protocol
        transport = protocol.transport
        self.srtp = dtls._rx_srtp
        transport.pause_reading()  # asyncio no longer reads this socket: the sink does
        self.sink.add(transport._sock, self, protocol.datagram_received)
        self.fd = transport._sock.fileno()
        self.port = transport._sock.getsockname()[1]
        self.state = "receiving"

    def on_rtp(self, data: bytes) -> None:
        """One RTP packet (sink thread): its sequence number from the clear RTP header."""
        seq = (data[2] << 8) | data[3]
        if self.first < 0:
            self.first = self.highest = seq
        else:
            step = (seq - self.highest) & 0xFFFF
            if 0 < step < 0x8000:
                if step > 1 and len(self.gaps) < MAX_GAPS:
                    self.gaps.append((time.monotonic(), step - 1))
                if seq < self.highest:
                    self.cycles += 0x10000
                self.highest = seq
        self.received += 1
        if not self.received % SRTP_CHECK_EVERY:
            self.sink.loop.call_soon_threadsafe(self.check, data)

    def check(self, data: bytes) -> None:
        """Authenticate and decrypt one packet with the session's SRTP key (event loop: the
        SRTP session is aiortc's and not thread-safe)."""
        self.checked += 1
        try:
            self.srtp.unprotect(data)
        except Exception:
            self.forged += 1

    def counters(self) -> Counters:
        expected = self.cycles + self.highest - self.first + 1 if self.first >= 0 else 0
        return (self.received, expected, self.checked, self.forged, self.state, self.port)

    async def close(self) -> None:
        if self.fd >= 0:
            self.sink.remove(self.fd)
        if self.poller is not None:
            self.poller.cancel()
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()
        if self.session:
            with contextlib.suppress(Exception):
                await self._post(f"/{self.session}", {"janus": "destroy"})


class MediaSink:
    """One thread per viewer process reads the media sockets of all its viewers (epoll, one
    datagram per ready socket): about a third of the CPU per packet of asyncio's datagram
    path, so the viewers' own cost bounds the benchmark as little as possible."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.epoll = select.epoll()
        self.taps: dict[int, tuple[socket.socket, Viewer, Callable[[bytes, Any], None]]] = {}
        threading.Thread(target=self._run, name="media-sink", daemon=True).start()

    def add(
        self, sock: socket.socket, viewer: Viewer, passthrough: Callable[[bytes, Any], None]
    ) -> None:
        fd = sock.fileno()
        self.taps[fd] = (sock, viewer, passthrough)
        self.epoll.register(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        self.taps.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(fd)

    def _run(self) -> None:
        self.tid = threading.get_native_id()
        taps = self.taps
        while True:
            ready = self.epoll.poll(1.0)
            for fd, _ in ready:
                tap = taps.get(fd)
                if tap is None:
                    continue
                sock, viewer, passthrough = tap
                for _ in range(256):  # what the socket holds
                    try:
                        data, addr = sock.recvfrom(2048)
                    except OSError:  # nothing left, or closed meanwhile
                        break
                    # RTP: version 2 (first byte 128..191), payload type not RTCP's 192..223
                    if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                        viewer.on_rtp(data)
                    else:
                        self.loop.call_soon_threadsafe(passthrough, data, addr)
            # Read in rounds, as a busy receiver does: packets that arrive meanwhile wait in
            # the socket, and Janus's sends (whose kernel path on loopback runs in Janus's
            # context) need not wake a sleeping reader for each packet, as on a real network.
            time.sleep(SINK_ROUND)


async def _serve(conn: Connection, route: Route, setup_concurrency: int) -> None:
    import aioice.ice

    # Host candidates on loopback only (aioice leaves 127.0.0.1 out by default).
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    loop = asyncio.get_running_loop()
    http = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        timeout=httpx.Timeout(30),
    )
    viewers: list[Viewer] = []
    gate = asyncio.Semaphore(setup_concurrency)
    sink = MediaSink(loop)

    async def one(bearer: str | None) -> tuple[bool, list[str]]:
        """A viewer set up, retried like the web viewer retries (SETUP_TRIES in all): whether
        it plays, and the error of each failed try."""
        errors = []
        for _ in range(SETUP_TRIES):
            viewer = Viewer(http, route, bearer, sink)
            async with gate:
                try:
                    await viewer.start()
                except (ViewerError, TimeoutError, httpx.HTTPError, KeyError) as error:
                    await viewer.close()
                    errors.append(f"{type(error).__name__}: {error}")
                    await asyncio.sleep(1)
                    continue
            viewers.append(viewer)
            return True, errors
        return False, errors

    while True:
        command, argument = await loop.run_in_executor(None, conn.recv)
        if command == "grow":
            conn.send(await asyncio.gather(*(one(b) for b in argument)))
        elif command == "counters":
            conn.send([v.counters() for v in viewers])
        elif command == "gaps":
            start, end = argument
            conn.send([[g for g in v.gaps if start <= g[0] <= end] for v in viewers])
        elif command == "close":
            await asyncio.gather(*(v.close() for v in viewers))
            viewers.clear()
            conn.send(None)
        else:
            await http.aclose()
            conn.send(None)
            return


def _client_process(conn: Connection, route: Route, setup_concurrency: int) -> None:
    asyncio.run(_serve(conn, route, setup_concurrency))


class Clients:
    """Viewer processes, driven over pipes from the benchmark process."""

    def __init__(self, route: Route, procs: int, setup_concurrency: int = 8) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        self.count = [0] * procs
        for _ in range(procs):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_client_process, args=(child, route, setup_concurrency), daemon=True
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _all(self, command: str, arguments: list[Any] | None = None) -> list[Any]:
        for i, pipe in enumerate(self.pipes):
            pipe.send((command, arguments[i] if arguments else None))
        return [pipe.recv() for pipe in self.pipes]

    def grow(self, bearers: list[str | None]) -> tuple[int, list[str]]:
        """Add one viewer per bearer, spread over the processes: how many could not be set
        up, and the errors of every failed try."""
        shares: list[list[str | None]] = [[] for _ in self.pipes]
        for bearer in bearers:
            i = self.count.index(min(self.count))
            shares[i].append(bearer)
            self.count[i] += 1
        results = [r for per_proc in self._all("grow", list(shares)) for r in per_proc]
        return sum(1 for ok, _ in results if not ok), [e for _, errs in results for e in errs]

    def counters(self) -> list[Counters]:
        return [c for per_proc in self._all("counters") for c in per_proc]

    def gaps(self, start: float, end: float) -> list[list[tuple[float, int]]]:
        """Each viewer's sequence number jumps between two instants (time.monotonic)."""
        spans = [(start, end)] * len(self.pipes)
        return [g for per_proc in self._all("gaps", spans) for g in per_proc]

    def close_viewers(self) -> None:
        self._all("close")
        self.count = [0] * len(self.pipes)

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._all("exit")
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# ---------------------------------------------------------------------------------------------
# The gateway


@dataclass
class BenchJanus(JanusGateway):
    """The fixture's Janus with the shipped config (its debug level too), ``event_loops`` set
    to a number or left out (Janus's default: one thread per handle), and ICE on loopback (the
    demo's shim; in a pod Janus offers the pod IP and needs none of it)."""

    event_loops: int | None = None
    shim: str = field(default_factory=lambda: _shim())

    def start(self) -> BenchJanus:
        # Rendered as the gateway image's entrypoint renders it: JANUS_* in the environment.
        values = {
            **self.settings(),
            "JANUS_ICE_ENFORCE_LIST": "lo",
            "JANUS_EVENT_LOOPS": str(self.event_loops or 0),  # 0: the line is left out
        }
        rendered = subprocess.run(
            [sys.executable, str(REPO / "janus-image" / "render.py"), str(self.workdir / "conf")],
            env={k: v for k, v in os.environ.items() if not k.startswith("JANUS_")} | values,
            check=True,
            capture_output=True,
            text=True,
        )
        conf = Path(rendered.stdout.strip())
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                ["janus", "-F", str(conf.parent), "-C", str(conf), "-o"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LD_PRELOAD": self.shim},
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                info = httpx.get(
                    f"{self.url}/info", params={"apisecret": self.api_secret}, timeout=1
                ).json()
                if info.get("janus") == "server_info":
                    return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("janus did not answer /janus/info within 20 s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def _shim() -> str:
    out = subprocess.run(
        [str(REPO / "hack" / "build-lo-ice-shim.sh")], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def mount_directly(janus: JanusGateway, camera_url: str) -> int:
    """The camera's mountpoint as the operator creates it (same request body), by the Admin
    API: for --direct, where no operator runs."""
    from vas_operator.mountpoints import MountpointSpec, fingerprint, mountpoint_secret

    mp_id = mountpoint_id(NS, CAMERA)
    spec = MountpointSpec(
        id=mp_id,
        secret=mountpoint_secret("bench", mp_id),
        namespace=NS,
        camera=CAMERA,
        url=camera_url,
        credentials=None,
        fingerprint=fingerprint("bench", camera_url, "tcp", None),
    )
    reply = janus.admin({"request": "create", **spec.create_request(janus.admin_key)})
    if reply.get("streaming") != "created":
        raise RuntimeError(f"mountpoint not created: {reply}")
    return mp_id


def wait_receiving(janus: JanusGateway, mp_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in janus.mountpoints():
            media = entry.get("media") or [{}]
            if entry.get("id") == mp_id and media[0].get("age_ms", 10**9) < 1000:
                return
        time.sleep(0.3)
    raise TimeoutError(f"mountpoint {mp_id} receives no media after {timeout} s")


# ---------------------------------------------------------------------------------------------
# Figures


def cpu_ms(pid: int, kernel_only: bool = False) -> float:
    """User + system CPU of a process (all its threads) so far, in ms (or system only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[12]) + (0 if kernel_only else int(fields[11]))) * 1000 / CLK_TCK


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def udp_drops() -> tuple[int, int]:
    """Datagrams this machine dropped so far: (receive buffers full: a receiver did not read
    in time, send buffers full: a sender wrote faster than the kernel took them)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    names, values = [line for line in lines if line[0] == "Udp:"][:2]
    udp = dict(zip(names[1:], (int(v) for v in values[1:]), strict=True))
    return udp["RcvbufErrors"], udp["SndbufErrors"]


def udp_socket_drops() -> dict[int, int]:
    """Datagrams each UDP socket on this machine dropped so far (receive buffer full), by
    local port."""
    out: dict[int, int] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            out[port] = out.get(port, 0) + int(fields[-1])
    return out


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Sample:
    at: float
    cpu: dict[str, float]
    machine: tuple[int, int]
    udp: tuple[int, int]
    sockets: dict[int, int]
    viewers: list[Counters]


def sample(pids: dict[str, list[int]], clients: Clients | None) -> Sample:
    return Sample(
        time.monotonic(),
        {name: sum(cpu_ms(p) for p in group) for name, group in pids.items()}
        | {"janus_kernel": sum(cpu_ms(p, kernel_only=True) for p in pids["janus"])},
        machine_ticks(),
        udp_drops(),
        udp_socket_drops(),
        clients.counters() if clients else [],
    )


def shared_gaps(gaps: list[list[tuple[float, int]]], n: int) -> int:
    """Packets missing at every viewer at once (within 0.2 s): lost before Janus relayed them
    (camera to Janus), not on the way to the viewers."""
    moments = sorted((when, missing) for viewer in gaps for when, missing in viewer)
    shared = 0
    i = 0
    while i < len(moments):
        j = i
        while j < len(moments) and moments[j][0] - moments[i][0] < 0.2:
            j += 1
        if j - i >= 0.9 * n:
            shared += int(statistics.median(m for _, m in moments[i:j]))
            i = j
        else:
            i += 1
    return shared * n


@dataclass(frozen=True)
class Policy:
    """The chart's defaults for the gateway pool (charts/vas/values.yaml)."""

    viewers: int
    mountpoints: int
    target: float
    minimum: int
    maximum: int

    @classmethod
    def from_chart(cls) -> Policy:
        gateway = yaml.safe_load(CHART_VALUES.read_text())["gateway"]
        capacity = gateway.get("capacity", {})
        scaling = gateway.get("autoscaling", {})
        return cls(
            viewers=int(capacity.get("viewers", 300)),
            mountpoints=int(capacity.get("mountpoints", 100)),
            target=float(scaling.get("targetUtilisation", 0.8)),
            minimum=int(scaling.get("minReplicas", 1)),
            maximum=int(scaling.get("maxReplicas", 4)),
        )

    def second_pod_from(self) -> int:
        """The fewest viewers on one pod for which the autoscaler asks for a second (0: it
        never does, maxReplicas is 1)."""
        return next((n for n in range(1, 100_000) if self.decide(n)[0] > 1), 0)

    def decide(self, viewers: int) -> tuple[int, str]:
        """What the operator's autoscaler asks for with one pod, one camera and ``viewers``."""
        from vas_operator.autoscale import decide
        from vas_operator.placement import Capacity

        capacity = Capacity(mountpoints=self.mountpoints, viewers=self.viewers)
        decision, _ = decide(
            current=1,
            cameras=1,
            viewers=viewers,
            capacity=capacity,
            target=self.target,
            minimum=self.minimum,
            maximum=self.maximum,
            low_since=None,
            now=time.monotonic(),
            stabilisation=60.0,
        )
        return decision.replicas, f"{decision.reason}: {decision.message}"


def measure(stack: Stack, n: int, clients: Clients | None, window: float) -> dict[str, Any]:
    """Figures of one steady window with ``n`` viewers."""
    log = stack.janus.log_path
    offset = log.stat().st_size
    before = sample(stack.pids, clients)
    time.sleep(window)
    after = sample(stack.pids, clients)
    with log.open("rb") as janus_log:
        janus_log.seek(offset)
        discarded = janus_log.read().count(b"Discarding too old outgoing packet")
    seconds = after.at - before.at
    busy = (after.machine[0] - before.machine[0]) / max(1, after.machine[1] - before.machine[1])
    per_s = {k: (after.cpu[k] - before.cpu[k]) / seconds for k in after.cpu}
    deltas = [
        (new[0] - old[0], new[1] - old[1], new[2] - old[2], new[3] - old[3])
        for old, new in zip(before.viewers, after.viewers, strict=True)
    ]
    # What the source sent in the window, as the best-served viewer counted it; a viewer that
    # got less than half of it has stalled (its own sequence numbers cannot show that).
    sent = max((want for _, want, _, _ in deltas), default=0)
    lost = lossy = stalled = playing = 0
    for (got, want, _, _), now in zip(deltas, after.viewers, strict=True):
        missing = max(0, want - got)
        if got < sent / 2:
            stalled += 1
            missing = max(missing, sent - got)
        else:
            playing += now[4] == "receiving"
        lost += missing
        lossy += missing > 0
    upstream = shared_gaps(clients.gaps(before.at, after.at), n) if clients and lost else 0

    def dropped(ports: Iterable[int]) -> int:
        return sum(
            after.sockets[p] - before.sockets[p]
            for p in ports
            if p in before.sockets and p in after.sockets
        )

    first, last = (int(p) for p in stack.janus.streaming_range.split("-"))
    janus_net = per_s["janus"] - stack.idle_janus_ms_per_s
    ms_per_viewer_s = janus_net / n if n else float("nan")
    counted = stack.counted() if n else 0  # what the autoscaler reads
    replicas, why = stack.policy.decide(counted)
    return {
        "viewers": n,
        "receiving": playing,
        "states": dict(collections.Counter(v[4] for v in after.viewers)),
        "counted": counted,
        "janus_pct": per_s["janus"] / 10,
        "janus_kernel_share": per_s["janus_kernel"] / per_s["janus"] if per_s["janus"] else 0.0,
        "janus_threads": threads(stack.pids["janus"][0]),
        "ms_per_viewer_s": ms_per_viewer_s,
        "viewers_per_core": 1000 / ms_per_viewer_s if ms_per_viewer_s > 0 else float("nan"),
        "source_pkt_s": sent / seconds,
        "lost": lost,
        "loss_pct": 100 * lost / (sent * n) if sent and n else 0.0,
        "lossy_viewers": lossy,
        "lost_upstream": upstream,
        "janus_discarded": discarded,
        "janus_input_drops": dropped(range(first, last + 1)),
        "viewer_socket_drops": dropped({v[5] for v in after.viewers if v[5]}),
        "stalled_viewers": stalled,
        "rcvbuf_drops": after.udp[0] - before.udp[0],
        "sndbuf_drops": after.udp[1] - before.udp[1],
        "srtp_checked": sum(d[2] for d in deltas),
        "srtp_bad": sum(d[3] for d in deltas),
        "client_pct": per_s.get("clients", 0.0) / 10,
        "client_ms_per_viewer_s": per_s.get("clients", 0.0) / n if n else 0.0,
        "facade_pct": per_s.get("facade", 0.0) / 10,
        "apiserver_pct": per_s.get("apiserver", 0.0) / 10,
        "operator_pct": per_s.get("operator", 0.0) / 10,
        "machine_busy_pct": 100 * busy,
        "load": load_average(),
        "replicas": replicas,
        "decision": why,
        "window_s": seconds,
    }


# ---------------------------------------------------------------------------------------------
# Running it


@dataclass
class Stack:
    """What a ramp needs from the environment it runs in."""

    route: Route
    janus: BenchJanus
    pids: dict[str, list[int]]  # processes whose CPU is measured, by role
    bearers: list[str | None]  # one per viewer
    remount: Callable[[], None]  # after a Janus restart: the camera mounted and receiving
    counted: Callable[[], int]  # viewers as the autoscaler sees them
    policy: Policy
    idle_janus_ms_per_s: float = 0.0


def ramp(stack: Stack, loops: int | None, args: argparse.Namespace) -> list[dict[str, Any]]:
    janus = stack.janus
    janus.event_loops = loops
    janus.restart()
    stack.pids["janus"] = [janus.pid]
    stack.remount()
    time.sleep(3)
    stack.idle_janus_ms_per_s = 0.0
    idle = measure(stack, 0, None, min(10.0, args.window))
    stack.idle_janus_ms_per_s = idle["janus_pct"] * 10
    print(_idle_line(loops, idle), flush=True)
    clients = Clients(stack.route, args.procs)
    stack.pids["clients"] = clients.pids
    rows: list[dict[str, Any]] = []
    try:
        have = 0
        for n in sorted(set(args.viewers)):
            started = time.monotonic()
            failed, errors = clients.grow(stack.bearers[have:n])
            have = n
            setup_s = time.monotonic() - started
            time.sleep(args.settle)
            row = measure(stack, n, clients, args.window)
            row.update(
                setup_s=setup_s,
                setup_failed=failed,
                setup_retries=len(errors) - failed,
                setup_errors=sorted(set(errors)),
            )
            rows.append(row)
            print(_row_line(loops, row), flush=True)
            if errors:
                print(
                    f"        (setup: {failed} viewers failed, {row['setup_retries']} tries "
                    f"repeated: {'; '.join(row['setup_errors'][:3])})",
                    flush=True,
                )
            if trouble(row):
                break
        clients.close_viewers()
    finally:
        clients.stop()
        del stack.pids["clients"]
    return rows


def trouble(row: dict[str, Any]) -> bool:
    return bool(row["lost"] or row["stalled_viewers"] or row["setup_failed"])


HEADER = (
    "  loops     N  recv cnted Janus% krnl% thrds ms/vw-s vw/core src/s   loss% lossy indrp "
    "jdrop vdrop clnt% c-ms/vs facd% apis% busy%    load 1/5/15 pods"
)


def _row_line(loops: int | None, r: dict[str, Any]) -> str:
    return (
        f"  {'unset' if loops is None else loops:>5} {r['viewers']:>5} {r['receiving']:>5} "
        f"{r['counted']:>5} {r['janus_pct']:>6.1f} {100 * r['janus_kernel_share']:>5.0f} "
        f"{r['janus_threads']:>5} "
        f"{r['ms_per_viewer_s']:>7.2f} {r['viewers_per_core']:>7.0f} "
        f"{r['source_pkt_s']:>5.1f} {r['loss_pct']:>7.3f} {r['lossy_viewers']:>5} "
        f"{r['janus_input_drops']:>5} {r['janus_discarded']:>5} "
        f"{r['viewer_socket_drops']:>5} {r['client_pct']:>5.1f} "
        f"{r['client_ms_per_viewer_s']:>7.2f} "
        f"{r['facade_pct']:>5.1f} {r['apiserver_pct']:>5.1f} {r['machine_busy_pct']:>5.0f} "
        f"{r['load']:>15} {r['replicas']:>4}"
    )


def _idle_line(loops: int | None, r: dict[str, Any]) -> str:
    return (
        f"  {'unset' if loops is None else loops:>5} {0:>5} {'-':>5} {'-':>5} "
        f"{r['janus_pct']:>6.1f} {100 * r['janus_kernel_share']:>5.0f} "
        f"{r['janus_threads']:>5}   (idle: camera mounted, no viewer;"
        f" facade {r['facade_pct']:.1f} %, machine {r['machine_busy_pct']:.0f} % busy,"
        f" load {r['load']})"
    )


@contextlib.contextmanager
def direct_stack(work: Path, viewers: int, policy: Policy) -> Iterator[Stack]:
    """No cluster: the viewers speak to Janus directly with its api_secret, and the camera is
    mounted with the operator's own request body."""
    with RtspCamera(mounts=["/cam1"], log_path=work / "camera.log") as camera:
        janus = BenchJanus(workdir=work / "janus")
        janus.workdir.mkdir(parents=True, exist_ok=True)
        route = Route(
            janus=janus.url, apisecret=janus.api_secret, mountpoint=mountpoint_id(NS, CAMERA)
        )

        def remount() -> None:
            wait_receiving(janus, mount_directly(janus, camera.url("/cam1")))

        try:
            pids = {"camera": [camera.proc.pid] if camera.proc else []}
            yield Stack(route, janus, pids, [None] * viewers, remount, lambda: 0, policy)
        finally:
            janus.stop()


def viewer_tokens(cluster: Cluster, admin: str, n: int) -> list[str]:
    """``n`` viewers, each its own ServiceAccount allowed to watch the camera's namespace, and
    a token of each for the facade's audience."""
    cluster.kubectl("create", "namespace", VIEWERS_NS)
    group = {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Group",
        "name": f"system:serviceaccounts:{VIEWERS_NS}",
    }
    items = role_binding(NS, VIEWERS_NS, "bench-viewers", subject=group)
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": items})

    async def create() -> list[str]:
        base = f"{cluster.server}/api/v1/namespaces/{VIEWERS_NS}/serviceaccounts"
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(
            verify=False,  # noqa: S501  (the local cluster's own CA)
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        ) as http:

            async def one(i: int) -> str:
                name = f"viewer-{i:04d}"
                async with gate:
                    body = {"metadata": {"name": name}}
                    (await http.post(base, json=body)).raise_for_status()
                    request = {"spec": {"audiences": ["vas"], "expirationSeconds": 7200}}
                    reply = await http.post(f"{base}/{name}/token", json=request)
                    reply.raise_for_status()
                    token: str = reply.json()["status"]["token"]
                    return token

            return await asyncio.gather(*(one(i) for i in range(n)))

    return asyncio.run(create())


@contextlib.contextmanager
def full_stack(work: Path, viewers: int, policy: Policy) -> Iterator[Stack]:
    """Control plane, operator, Redis and facade, as bench/facade.py starts them; the gateway
    is this Janus, registered as a pod the operator and the facade find through the API
    server."""
    import redis

    from tests.facade_process import FacadeProcess
    from tests.operator_process import live_operator
    from tests.support import pool_settings
    from vas_core.livekeys import VIEWER_SEEN_SECONDS, pod_viewers_key

    os.environ.setdefault("VAS_TEST_POD_CIDR", "127.1.23.0/24")
    cluster = start_cluster(work / "control-plane")
    admin = (cluster.state / "tokens.csv").read_text().split(",")[0]
    try:
        install_crds(cluster)
        cluster.kubectl("create", "namespace", NS)
        bearers: list[str | None] = list(viewer_tokens(cluster, admin, viewers))
        with (
            RtspCamera(mounts=["/cam1"], log_path=work / "camera.log") as camera,
            RedisServer() as redis_server,
        ):
            janus = BenchJanus(workdir=work / "janus")
            janus.workdir.mkdir(parents=True, exist_ok=True)
            janus.start()
            operator = live_operator(
                cluster, janus, NS, work / "operator.log", GATEWAY, redis_server.url
            )
            facade: FacadeProcess | None = None
            store = redis.Redis.from_url(redis_server.url)
            try:
                operator.start()
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
                pool = pool_settings(NS, NS)
                facade = FacadeProcess(
                    cluster,
                    work / "facade.log",
                    redis_server.url,
                    pool["gateway_namespace"],  # the gateway pod live_operator registered
                    pool["gateway_selector"],
                    janus_api_secret=janus.api_secret,
                ).start()
                route = Route(
                    janus=facade.url,
                    grant=f"{facade.url}/api/v1/namespaces/{NS}/cameras/{CAMERA}/signalling",
                )
                mp_id = mountpoint_id(NS, CAMERA)

                def remount() -> None:
                    """A restarted Janus gets its mountpoint back from the operator."""
                    wait_receiving(janus, mp_id, timeout=60)

                def counted() -> int:
                    """Viewer sessions on the pod, as the operator's autoscaler counts them
                    from what the facades write (vas_core.livekeys)."""
                    cutoff = time.time() - VIEWER_SEEN_SECONDS
                    return int(store.zcount(pod_viewers_key(GATEWAY), f"({cutoff}", "+inf"))

                pids = {
                    "janus": [janus.pid],
                    "camera": [camera.proc.pid] if camera.proc else [],
                    "facade": [facade.proc.pid] if facade.proc else [],
                    "operator": [operator.proc.pid] if operator.proc else [],
                    "apiserver": [
                        int(p.read_text())
                        for p in cluster.state.glob("*.pid")
                        if "apiserver" in p.name or "etcd" in p.name
                    ],
                }
                yield Stack(route, janus, pids, bearers, remount, counted, policy)
            finally:
                store.close()
                if facade is not None:
                    facade.stop()
                operator.stop()
                janus.stop()
    finally:
        stop_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--viewers",
        type=int,
        nargs="+",
        default=[500],
        help="the steps of the ramp; one number N ramps through 50, 100, 200, 300, 500, ... to N",
    )
    parser.add_argument("--window", type=float, default=20.0, help="steady window, s")
    parser.add_argument("--settle", type=float, default=5.0, help="wait after setup, s")
    parser.add_argument("--procs", type=int, default=2, help="viewer processes")
    parser.add_argument(
        "--configs",
        default="unset,cores",
        help="Janus event_loops to compare, in order: 'unset', 'cores' or a number",
    )
    parser.add_argument("--direct", action="store_true", help="no cluster, operator, facade")
    parser.add_argument("--keep", action="store_true", help="keep the logs (path printed)")
    args = parser.parse_args()
    policy = Policy.from_chart()
    if len(args.viewers) == 1:
        top = args.viewers[0]
        # ... and the step where the autoscaler starts asking for a second pod: is there loss
        # by then?
        steps = {n for n in RAMP if n < top} | {top, policy.second_pod_from()}
        args.viewers = sorted(n for n in steps if 0 < n <= top)
    cores = os.cpu_count() or 1
    configs = [
        None if c == "unset" else cores if c == "cores" else int(c) for c in args.configs.split(",")
    ]
    most = max(args.viewers)
    print(
        f"viewers benchmark: one camera (640x480 H.264 15 fps), one gateway, {cores} cores "
        f"shared with {args.procs} viewer processes; "
        f"{'straight to Janus' if args.direct else 'through the facade'}; "
        f"{args.window:g} s windows after {args.settle:g} s settle; load before: "
        f"{load_average()}",
        flush=True,
    )
    results: list[tuple[int | None, list[dict[str, Any]]]] = []
    with tempfile.TemporaryDirectory(prefix="vas-bench-") as tmp:
        work = Path(tempfile.mkdtemp(prefix="vas-bench-viewers-")) if args.keep else Path(tmp)
        stack_cm = (
            direct_stack(work, most, policy) if args.direct else full_stack(work, most, policy)
        )
        with stack_cm as stack:
            print(HEADER, flush=True)
            for loops in configs:
                results.append((loops, ramp(stack, loops, args)))
    report(results, policy)
    if args.keep:
        print(f"logs in {work}")


def report(results: list[tuple[int | None, list[dict[str, Any]]]], policy: Policy) -> None:
    print(
        "\n(recv: viewers that got at least half of the source's packets; src/s: RTP packets per "
        "second the camera sent through Janus; cnted: viewer sessions the "
        "autoscaler counts on the pod; ms/vw-s: Janus CPU-ms per viewer-second over its idle; "
        "indrp: RTP from the camera dropped at Janus's full input socket; jdrop: packets Janus "
        "discarded as too old in its send queues (its log); vdrop: packets dropped at the "
        "viewers' full sockets; c-ms/vs: viewer processes' CPU-ms "
        "per viewer-second; apis: API server + etcd; pods: the autoscaler's replicas)"
    )
    second = policy.second_pod_from()
    print(
        f"autoscaler (chart defaults: {policy.viewers} viewers per pod at {policy.target:.0%}, "
        f"{policy.minimum}..{policy.maximum} pods) asks for a second pod from {second} viewers"
    )
    for loops, rows in results:
        config = "unset (one thread per handle)" if loops is None else f"= {loops}"
        clean = [r for r in rows if not trouble(r)]
        best = max(clean, key=lambda r: r["viewers"], default=None)
        bad = next((r for r in rows if trouble(r)), None)
        print(f"event_loops {config}:")
        if best:
            print(
                f"  largest N without loss: {best['viewers']} "
                f"({best['ms_per_viewer_s']:.2f} Janus CPU-ms per viewer-second, "
                f"~{best['viewers_per_core']:.0f} viewers per core; viewers' own CPU "
                f"{best['client_pct']:.0f} % of a core); autoscaler: {best['decision']}"
            )
        if bad:
            print(
                f"  loss began at N={bad['viewers']}: {bad['loss_pct']:.3f} % of packets lost, "
                f"{bad['lossy_viewers']} viewers with loss, {bad['stalled_viewers']} stalled "
                f"(under half the source's packets), {bad['setup_failed']} not set up "
                f"{bad['setup_errors'][:3]}; "
                f"{bad['janus_input_drops']} packets from the camera dropped at Janus's input "
                f"socket (~{bad['lost_upstream']} viewer-packets missing at every viewer at "
                f"once); Janus discarded {bad['janus_discarded']} packets that waited too long "
                f"in its send queues; {bad['viewer_socket_drops']} dropped at the viewers' "
                f"sockets ({bad['rcvbuf_drops']} UDP receive and {bad['sndbuf_drops']} send "
                f"buffer drops machine-wide); viewers by state {bad['states']}; machine "
                f"{bad['machine_busy_pct']:.0f} % busy; autoscaler: {bad['decision']}"
            )
        elif rows:
            print("  no loss at any step")
        for r in rows:
            if r["srtp_bad"]:
                print(
                    f"  N={r['viewers']}: {r['srtp_bad']} of {r['srtp_checked']} SRTP checks failed"
                )


if __name__ == "__main__":
    main()
