"""A sweep split over the worker processes, with the same contract as one ``sweep``.

Each worker sweeps one shard of the plan (``Plan.shards``: every endpoint exactly once) with
a share of the concurrency. The shared socket budget keeps its meaning: this process takes
each shard's units from it as a lease and grants them to the worker, which never has more
sockets in flight than its lease; a lease that could not be had whole at the start is topped
up as units come free, and it is given back once the shard has ended (finished, stopped or
its worker dead), when none of its sockets is left. Progress is the sum of the shards',
``max_found`` bounds the merged list, the ``Tally`` and the ``Guard``'s skipped count add up
the workers'. ``stop`` reaches every worker; a worker that dies or fails fails the sweep,
after the other shards have stopped.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vas_operator.scanning.budget import Budget
from vas_operator.scanning.guard import Guard
from vas_operator.scanning.sweep import PROGRESS_EVERY, Tally, sweep
from vas_operator.scanning.targets import Endpoint, Plan
from vas_operator.scanning.workers import Replies, Worker, WorkerLost, WorkerPool

# Below this many endpoints a sweep stays in the operator's own thread, so a small scan never
# starts a worker. On loopback, where every connect is answered at once and a sweep is all
# CPU: 4,092 endpoints (a /21 x 2 ports) took 57 ms in one thread, 34 ms over two warm
# workers (a round trip costs under 1 ms), and the pool's start ~60 ms once; a /24 (508)
# 7 ms either way. On a real network a sweep mostly waits for its timeouts, wherever it runs.
MIN_SHARDED = 4096
_TICK = 0.05  # how often leases are topped up and ``stop`` is looked at
STOP_GRACE = 10.0  # a stopped worker that has not answered by then is killed
_job_ids = itertools.count(1)
log = logging.getLogger("vas.discovery")


def sweep_plan(
    plan: Plan,
    concurrency: int,
    timeout: float,
    progress: Callable[[int], None] | None = None,
    max_found: int | None = None,
    tally: Tally | None = None,
    budget: Budget | None = None,
    stop: threading.Event | None = None,
    skip: Guard | None = None,
    pool: WorkerPool | None = None,
    min_sharded: int = MIN_SHARDED,
) -> list[Endpoint]:
    """``sweep`` of the plan's endpoints less those ``skip`` refuses: over ``pool``'s
    workers when the plan has ``min_sharded`` endpoints or more, else in this thread (also
    when no worker can be started). Blocking; raises WorkerLost when a worker dies under
    it. One worker is worth it too: the sweep then runs beside the operator's event loop,
    not on its GIL, and at a lower priority."""
    workers: list[Worker] = []
    if pool is not None and pool.size > 0 and plan.count() >= min_sharded:
        try:
            workers = pool.workers()[:concurrency]
        except OSError as error:
            log.warning(f"sweeping in the operator's own process: no worker ({error})")
    if not workers:
        return sweep(
            plan.endpoints(skip), concurrency, timeout, progress, max_found, tally, budget, stop
        )
    run = ShardedSweep(workers, concurrency, budget or Budget(concurrency))
    found = run.run(plan, timeout, max_found, skip, progress, stop)
    if tally is not None:
        tally.open += sum(s.open for s in run.shards)
    return found


@dataclass
class Shard:
    """One worker's part of a sweep, as this process sees it."""

    worker: Worker
    job: int
    share: int  # the concurrency it may have
    lease: int = 0  # units of the shared budget granted to it
    done: int = 0
    open: int = 0
    skipped: int = 0
    found: list[Endpoint] = field(default_factory=list)
    ended: bool = False


class ShardedSweep:
    """One sweep over several workers: starts the shards, follows their replies."""

    def __init__(self, workers: list[Worker], concurrency: int, budget: Budget) -> None:
        per, extra = divmod(concurrency, len(workers))
        self.shards = [
            Shard(worker, next(_job_ids), per + (i < extra)) for i, worker in enumerate(workers)
        ]
        self.budget = budget
        self.replies: Replies = queue.SimpleQueue()
        self.failure: str | None = None
        self._stopped_at: float | None = None

    def run(
        self,
        plan: Plan,
        timeout: float,
        max_found: int | None,
        skip: Guard | None,
        progress: Callable[[int], None] | None,
        stop: threading.Event | None,
    ) -> list[Endpoint]:
        skipped_before = skip.skipped if skip is not None else 0
        last_report = 0.0
        try:
            for shard, part in zip(self.shards, plan.shards(len(self.shards)), strict=True):
                self._start(shard, part, timeout, max_found, skip)
            while not all(s.ended for s in self.shards):
                with contextlib.suppress(queue.Empty):
                    self._take(self.replies.get(timeout=_TICK))
                if self.failure is not None or (stop is not None and stop.is_set()):
                    self._stop()
                else:
                    self._top_up()
                if skip is not None:
                    skip.skipped = skipped_before + sum(s.skipped for s in self.shards)
                now = time.monotonic()
                if progress is not None and now - last_report >= PROGRESS_EVERY:
                    last_report = now
                    progress(sum(s.done for s in self.shards))
        finally:
            for shard in self.shards:
                if not shard.ended:  # only on an error here: stopped, and not waited for
                    self._send(shard, {"op": "stop", "job": shard.job})
                    self._end(shard)
                shard.worker.unroute(shard.job)
        if self.failure is not None:
            raise WorkerLost(self.failure)
        if progress is not None:
            progress(sum(s.done for s in self.shards))
        found = [endpoint for shard in self.shards for endpoint in shard.found]
        return found[:max_found] if max_found is not None else found

    def _start(
        self, shard: Shard, plan: Plan, timeout: float, max_found: int | None, skip: Guard | None
    ) -> None:
        shard.worker.route(shard.job, self.replies)
        shard.lease = self.budget.take(shard.share)
        request = {"op": "sweep", "job": shard.job, "plan": plan, "timeout": timeout}
        request |= {"concurrency": shard.share, "max_found": max_found, "skip": skip}
        self._send(shard, {**request, "units": shard.lease})

    def _take(self, reply: dict[str, Any]) -> None:
        shard = next(s for s in self.shards if s.job == reply["job"])
        if shard.ended:
            return
        if reply.get("lost"):
            self._end(shard, f"sweep worker {shard.worker.pid} stopped mid-sweep")
            return
        shard.done, shard.open, shard.skipped = reply["done"], reply["open"], reply["skipped"]
        if "error" in reply:
            self._end(shard, f"sweep worker {shard.worker.pid}: {reply['error']}")
        elif "found" in reply:
            shard.found = [(str(host), int(port)) for host, port in reply["found"]]
            self._end(shard)

    def _end(self, shard: Shard, failure: str | None = None) -> None:
        """The shard has no socket left (its sweep returned, or its process is gone): its
        lease goes back at once, so a shard still waiting for units, here or in another
        scan, gets them now and not when the slowest shard ends."""
        shard.ended = True
        self.budget.give(shard.lease)
        shard.lease = 0
        self.failure = self.failure or failure

    def _stop(self) -> None:
        """Every shard still running is told to stop, once; killed if it does not."""
        now = time.monotonic()
        if self._stopped_at is None:
            self._stopped_at = now
            for shard in self.shards:
                if not shard.ended:
                    self._send(shard, {"op": "stop", "job": shard.job})
        elif now - self._stopped_at > STOP_GRACE:
            for shard in self.shards:
                if not shard.ended:
                    shard.worker.process.kill()  # its reader reports the shard lost

    def _top_up(self) -> None:
        for shard in self.shards:
            if not shard.ended and shard.lease < shard.share:
                more = self.budget.take(shard.share - shard.lease)
                if more:
                    shard.lease += more
                    self._send(shard, {"op": "grant", "job": shard.job, "units": more})

    def _send(self, shard: Shard, request: dict[str, Any]) -> None:
        """A worker whose pipe is broken is gone; its reader reports it as lost."""
        with contextlib.suppress(WorkerLost):
            shard.worker.send(request)
