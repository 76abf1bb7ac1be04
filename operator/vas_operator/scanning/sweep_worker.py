"""``python -m vas_operator.scanning.sweep_worker``: sweep shards of plans for the operator.

The sweep's cost is the kernel's and Python's per connect, and the operator's own process
has one GIL and an event loop to keep free: a large sweep is split over worker processes,
one per core (``workers.py`` starts them, ``shards.py`` splits the work). A worker imports
only the sweep (about 60 ms to start here, paid once: the pool keeps it), runs each job it
is given in a thread of its own, so scans sweep side by side as they do in the operator, and
ends when its stdin closes: when the operator stops or dies, its workers follow.

The protocol is frames on stdin and stdout: a 4-byte big-endian length, then the body.
Requests are pickled (they come from the operator process itself, over a pipe only it holds,
and carry the sweep's plan and its ``Guard`` whole, so a worker skips exactly what the
operator would); replies are JSON, so nothing the operator unpickles ever comes from here:

- ``{"op": "sweep", "job", "plan", "concurrency", "timeout", "max_found", "skip", "units"}``
  starts a job with a lease of ``units`` sockets in flight;
- ``{"op": "grant", "job", "units"}`` adds to a job's lease; ``{"op": "stop", "job"}`` ends it;
- replies are ``{"job", "done", "open", "skipped"}`` as it goes, at most every 0.25 s, then
  the same with ``"found": [[address, port], ...]``, or with ``"error"``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from typing import IO, TYPE_CHECKING, Any

from vas_operator.frames import json_frame, read_frame
from vas_operator.scanning.budget import Budget
from vas_operator.scanning.sweep import Tally, sweep

if TYPE_CHECKING:
    from vas_operator.scanning.guard import Guard

MAX_FRAME = 64 * 1024 * 1024  # a job's found list is bounded by its max_found
NICENESS = 5  # a sweep is background work: the operator's own loop and probes come first


class Job:
    """One shard being swept: its lease, its stop flag, its thread."""

    def __init__(self, request: dict[str, Any], send: Any) -> None:
        self.id = request["job"]
        self.request = request
        self.lease = Budget(request["units"])
        self.stop = threading.Event()
        self.send = send
        self.skip: Guard | None = request["skip"]
        self.skipped_before = self.skip.skipped if self.skip is not None else 0
        self.thread = threading.Thread(target=self.run, name=f"sweep-{self.id}", daemon=True)

    def counts(self, done: int, tally: Tally) -> dict[str, Any]:
        skipped = self.skip.skipped - self.skipped_before if self.skip is not None else 0
        return {"job": self.id, "done": done, "open": tally.open, "skipped": skipped}

    def run(self) -> None:
        request, tally, done = self.request, Tally(), 0

        def report(finished: int) -> None:
            nonlocal done
            done = finished
            self.send(self.counts(done, tally))

        try:
            found = sweep(
                request["plan"].endpoints(self.skip),
                request["concurrency"],
                request["timeout"],
                report,
                request["max_found"],
                tally,
                self.lease,
                self.stop,
            )
        except Exception as error:  # reported to the operator, whose sweep fails with it
            self.send({**self.counts(done, tally), "error": f"{type(error).__name__}: {error}"})
            return
        self.send({**self.counts(done, tally), "found": found})


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Run jobs until ``requests`` ends, then stop every job still running."""
    lock = threading.Lock()
    jobs: dict[int, Job] = {}

    def send(message: dict[str, Any]) -> None:
        body = json_frame(message)
        with lock:
            if "found" in message or "error" in message:
                jobs.pop(message["job"], None)
            with contextlib.suppress(BrokenPipeError):  # the operator is gone: stdin ends next
                replies.write(body)
                replies.flush()

    while (raw := read_frame(requests, MAX_FRAME)) is not None:
        request = pickle.loads(raw)  # noqa: S301  (from the operator process, see above)
        with lock:
            job = jobs.get(request["job"])
        if request["op"] == "sweep":
            job = Job(request, send)
            with lock:
                jobs[job.id] = job
            job.thread.start()
        elif job is not None and request["op"] == "grant":
            job.lease.grow(request["units"])
        elif job is not None and request["op"] == "stop":
            job.stop.set()
    with lock:
        left = list(jobs.values())
    for job in left:
        job.stop.set()
    for job in left:
        job.thread.join()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the operator's
    os.nice(NICENESS)
    # Replies get a descriptor of their own; whatever a library prints goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
