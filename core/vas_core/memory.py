"""Give back what a burst of objects borrowed, and keep the collector off what stays (the
operator after a burst of Camera handlers, the facade after its cache filled).

Starting with 10,000 Cameras, Kopf holds every object's body until a worker handles it; the
Python objects are freed afterwards, but glibc keeps the freed pages of its heap, so the
resident size stayed at its peak for good (measured: ~40 MB of live Python objects at 3,000
cameras in a 200 MB process). After a burst, once handlers have been quiet for a moment, a
full garbage collection and ``malloc_trim`` hand the free pages back to the kernel.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("vas.memory")
M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None  # glibc only (not musl)


LIBC = _libc()


def limit_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc malloc arenas: each thread that allocates may otherwise get an
    arena of its own, whose free pages stay with it. Call before threads start."""
    if LIBC is not None:
        LIBC.mallopt(M_ARENA_MAX, arenas)


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def trim() -> int:
    """Collect garbage, return free heap pages to the kernel, and freeze what survived;
    bytes given back.

    Freezing moves the surviving objects (every camera's state, after a burst) out of the
    collector's sight: a full collection over ten thousand cameras' objects paused the event
    loop ~0.2 s, which new cameras waited out. Each trim unfreezes first, so garbage among
    frozen objects is collected at the next burst's end."""
    before = rss_bytes()
    gc.unfreeze()
    gc.collect()
    give_back()
    gc.freeze()
    return max(0, before - rss_bytes())


def give_back() -> None:
    """Free heap pages back to the kernel (glibc keeps them otherwise)."""
    if LIBC is not None:
        LIBC.malloc_trim(0)


async def trim_after_bursts(
    handled: Callable[[], float], burst: int = 200, quiet: float = 5.0, every: float = 5.0
) -> None:
    """Trim once at least ``burst`` handler runs happened since the last trim and none in the
    last ``quiet`` seconds: a trim costs a full collection (~0.1 s at 10,000 cameras), which
    only pays after a burst."""
    trimmed_at = last = handled()
    quiet_since = asyncio.get_running_loop().time()
    while True:
        await asyncio.sleep(every)
        now, count = asyncio.get_running_loop().time(), handled()
        if count != last:
            last, quiet_since = count, now
        elif count - trimmed_at >= burst and now - quiet_since >= quiet:
            given = trim()
            trimmed_at = count
            log.info(f"gave back {given / 2**20:.0f} MiB after {count} handler runs")


def time_collections(record: Callable[[int, float], None]) -> None:
    """Report each garbage collection's generation and pause: a full collection over the
    objects of ten thousand cameras stops the event loop for as long as it takes."""
    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            record(info["generation"], time.perf_counter() - started[0])

    gc.callbacks.append(callback)


async def watch_loop_lag(record: Callable[[float], None], every: float = 0.1) -> None:
    """How late the event loop wakes a task that asked to sleep ``every`` seconds: what every
    reconcile and every API answer waits when something holds the loop."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(every)
        record(max(0.0, loop.time() - asked - every))
