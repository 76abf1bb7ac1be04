"""The operator's side of the probe worker (``probe_worker``): ask for a probe, await its
facts, never block the event loop.

The worker is started on first use and again after it dies (FFmpeg crashed on what some camera
sent, say): the probes it had in flight fail as retryable and their cameras are retried like
after any transient failure. At most ``concurrency`` probes are asked for at once (the worker
runs as many threads), so a burst of cameras queues here, not in a pipe.

A worker that served a burst is replaced once it has been idle a while: after 10,000 probes
it held 52 MB that FFmpeg's per-thread buffers left fragmented (``give_back`` returns what it
can), a fresh one 22 MB. The new worker starts before the old one is let go, so the next
probe never waits for PyAV to import.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import sys
import time
from typing import Any

from vas_operator.frames import HEADER, json_frame
from vas_operator.probe import Credentials, ProbeError, StreamFacts, with_credentials
from vas_operator.probe_worker import MAX_FRAME

log = logging.getLogger("vas.probe")
# What the worker inherits: enough to run Python and FFmpeg, none of the operator's settings.
PASSED_ENV = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
RECYCLE_AFTER = 256  # probes one worker serves before it is replaced, once idle
RECYCLE_IDLE_SECONDS = 30.0


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in PASSED_ENV}


def facts_of(reply: dict[str, Any]) -> StreamFacts:
    """The reply's facts, or its ProbeError raised."""
    if "error" in reply:
        error = reply["error"]
        raise ProbeError(str(error["reason"]), str(error["message"]), bool(error["retryable"]))
    facts = dict(reply["facts"])
    if facts.get("keyframe_jpeg") is not None:
        facts["keyframe_jpeg"] = base64.b64decode(facts["keyframe_jpeg"])
    return StreamFacts(**facts)


class Prober:
    """Runs probes in the worker process, at most ``concurrency`` at once."""

    def __init__(
        self,
        concurrency: int = 32,
        timeout: float = 5.0,
        recycle_after: int = RECYCLE_AFTER,
        recycle_idle: float = RECYCLE_IDLE_SECONDS,
    ) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self.recycle_after = recycle_after
        self.recycle_idle = recycle_idle
        self._served = 0  # by the current worker
        self._last_used = time.monotonic()
        self._recycler: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Start the worker now rather than at the first probe (it imports PyAV: ~0.2 s)."""
        await self._worker()
        if self._recycler is None:
            self._recycler = asyncio.create_task(self._recycle_when_idle(), name="probe recycler")

    @property
    def worker_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def _recycle_when_idle(self) -> None:
        while True:
            await asyncio.sleep(self.recycle_idle / 2)
            idle = time.monotonic() - self._last_used >= self.recycle_idle
            if idle and not self._pending and self._served >= self.recycle_after:
                await self._replace()

    async def _replace(self) -> None:
        async with self._starting:
            old, old_reader = self._proc, self._reader
            self._proc = None
            await self._spawn()
        if old is not None:
            await self._stop(old, old_reader)

    async def probe(
        self,
        url: str,
        transport: str,
        credentials: Credentials | None,
        want_thumbnail: bool = False,
    ) -> StreamFacts:
        secrets = [credentials.password] if credentials else []
        request = {
            "url": with_credentials(url, credentials),
            "transport": transport,
            "timeout": self.timeout,
            "thumbnail": want_thumbnail,
            "secrets": secrets,
        }
        async with self._slots:
            return facts_of(await self._ask(request))

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = await self._worker()
        assert proc.stdin is not None
        ident = next(self._ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = answer
        try:
            proc.stdin.write(json_frame({"id": ident, **request}))
            await proc.stdin.drain()
            # The worker's own deadline (PyAV's) ends a probe after ``timeout``; this one only
            # covers a worker that stopped answering altogether.
            return await asyncio.wait_for(answer, self.timeout * 2 + 10)
        except (ConnectionError, TimeoutError):
            raise ProbeError(
                "Timeout", f"no RTSP answer within {self.timeout:g} s", retryable=True
            ) from None
        finally:
            self._pending.pop(ident, None)
            self._served += 1
            self._last_used = time.monotonic()

    async def _worker(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._proc is None or self._proc.returncode is not None:
                await self._spawn()
            assert self._proc is not None
            return self._proc

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vas_operator.probe_worker",
            str(self.concurrency),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=worker_env(),
            limit=MAX_FRAME + HEADER.size,
        )
        self._served = 0
        self._reader = asyncio.create_task(self._read(self._proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                head = await proc.stdout.readexactly(HEADER.size)
                (size,) = HEADER.unpack(head)
                if size > MAX_FRAME:
                    raise ValueError(f"a reply of {size} bytes")
                reply = json.loads(await proc.stdout.readexactly(size))
                answer = self._pending.get(reply.get("id"))
                if answer is not None and not answer.done():
                    answer.set_result(reply)
        except (asyncio.IncompleteReadError, ValueError):
            pass
        code = await proc.wait() if proc.returncode is None else proc.returncode
        if proc is not self._proc:
            return  # replaced while idle: the probes pending now are the new worker's
        if self._pending:
            log.warning(f"the probe worker stopped (exit code {code}); its probes are retried")
        gone = ProbeError("ProbeFailed", "the probe worker stopped; retrying", retryable=True)
        for answer in list(self._pending.values()):
            if not answer.done():
                answer.set_result({"error": dataclasses.asdict(gone)})

    async def close(self) -> None:
        if self._recycler is not None:
            self._recycler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recycler
            self._recycler = None
        if self._proc is not None:
            await self._stop(self._proc, self._reader)

    @staticmethod
    async def _stop(proc: asyncio.subprocess.Process, reader: asyncio.Task[None] | None) -> None:
        """End a worker: its stdin closed, it finishes and exits; killed after 5 s."""
        if proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
