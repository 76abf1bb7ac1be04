"""The operator's side of the sweep workers (``sweep_worker``): a small pool of processes,
started on first use and kept, and the pipe to each.

Why processes started by command and not ``multiprocessing``: a fork of the operator (a
threaded asyncio process) is unsafe; ``spawn`` and ``forkserver`` re-import the parent's
main module in every child (all of Kopf, for ``kopf run``) and bring helper processes of
their own. A worker here is ``python -m`` of a module that imports only the sweep, with an
environment that holds none of the operator's settings (no secrets in it), and it ends when
its stdin closes, which the kernel does for the operator however the operator ends: no
orphans, nothing written to disk (a read-only root filesystem and a non-root user are fine).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from typing import IO, Any

from vas_operator.frames import frame, read_frame
from vas_operator.scanning.sweep_worker import MAX_FRAME

# What a worker inherits: enough to run Python, none of the operator's settings.
PASSED_ENV = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE")
Replies = queue.SimpleQueue[dict[str, Any]]


class WorkerLost(RuntimeError):
    """A worker process ended while it ran a job: the sweep it belonged to fails."""


class Worker:
    """One worker process: requests go down its stdin, its replies are routed by job id."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vas_operator.scanning.sweep_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k in PASSED_ENV},
        )
        self.alive = True
        self._write = threading.Lock()
        self._routes: dict[int, Replies] = {}
        self._routes_lock = threading.Lock()
        self._reader = threading.Thread(
            target=self._read, name=f"sweep-worker-{self.pid}", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, request: dict[str, Any]) -> None:
        stdin = self._pipe(self.process.stdin)
        try:
            with self._write:
                stdin.write(frame(pickle.dumps(request)))
                stdin.flush()
        except (OSError, ValueError):  # a broken or closed pipe: the worker is gone
            raise WorkerLost(f"sweep worker {self.pid} has stopped") from None

    def route(self, job: int, replies: Replies) -> None:
        """Replies of ``job`` go to ``replies``, and ``{"job", "lost": True}`` if the worker
        stops before it has answered."""
        with self._routes_lock:
            self._routes[job] = replies
            if not self.alive:
                replies.put({"job": job, "lost": True})

    def unroute(self, job: int) -> None:
        with self._routes_lock:
            self._routes.pop(job, None)

    def _read(self) -> None:
        stdout = self._pipe(self.process.stdout)
        with contextlib.suppress(OSError, ValueError):
            while (raw := read_frame(stdout, MAX_FRAME)) is not None:
                reply = json.loads(raw)
                with self._routes_lock:
                    replies = self._routes.get(reply["job"])
                if replies is not None:
                    replies.put(reply)
        with self._routes_lock:
            self.alive = False
            gone = list(self._routes.items())
        for job, replies in gone:
            replies.put({"job": job, "lost": True})
        self.process.wait()  # reaped here, whoever ended it

    def close(self, grace: float = 5.0) -> None:
        """Close its stdin (it stops its jobs and exits), killing it after ``grace`` s."""
        with self._write, contextlib.suppress(OSError):
            self._pipe(self.process.stdin).close()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._reader.join()

    @staticmethod
    def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
        assert stream is not None  # both are pipes (Popen above)
        return stream


class WorkerPool:
    """At most ``size`` worker processes, started on first use and kept: one costs about
    60 ms of CPU to start, a whole /16 sweep split over two about 0.9 s. Dead workers are
    replaced at the next use."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._workers: list[Worker] = []
        self._lock = threading.Lock()

    def workers(self) -> list[Worker]:
        with self._lock:
            self._workers = [w for w in self._workers if w.alive]
            while len(self._workers) < self.size:
                self._workers.append(Worker())
            return list(self._workers)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers if w.alive]

    def close(self) -> None:
        """Stop every worker (the operator's cleanup); a later use starts new ones."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()
