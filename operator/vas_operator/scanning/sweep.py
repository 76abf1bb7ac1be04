"""A TCP connect sweep with non-blocking sockets on one epoll, no task per connection.

Blocking, for one thread: the operator runs it in a thread of its own for small plans and in
worker processes for large ones (``shards.py``). Measured on this project's 2-core machine,
127.0.0.0/16 x 2 ports (131,068 connects, nothing listening), in one thread: 1.3-1.8 s, of
which ~0.4 s is Python and ~0.9 s the kernel's (socket(), a connect() whose SYN and RST both
cross loopback inside the call, close()); nmap -sT -T5 takes ~2.6 s on one core, 512 asyncio
tasks doing ``sock_connect`` ~14 s. The loop spends on each endpoint only the syscalls that
cannot be batched (before: 1.4 s of Python for the same sweep):

- a connect answered at once (loopback, the host itself) is read with one SO_ERROR and
  closed, never registered with epoll; the others are, and epoll's EPOLLERR says whether
  they failed (no SO_ERROR read), and closing a socket takes it off the epoll;
- SO_LINGER (reset on close, no TIME_WAIT) only on sockets that connected, the only ones
  that would linger;
- deadlines per batch of connects (one deque entry and one clock read per turn of the loop,
  not a heap entry per socket), and budget units taken and given back per turn.
"""

from __future__ import annotations

import errno
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vas_operator.scanning.budget import Budget
from vas_operator.scanning.targets import Endpoint

_OUT_OF_SOCKETS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_RESET_ON_CLOSE = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # struct linger {on, 0 s}
_WAIT = 0.05  # longest nap, so ``stop`` and the budget are looked at often
PROGRESS_EVERY = 0.25


@dataclass
class Tally:
    """What the sweep saw beyond the list it returns."""

    open: int = 0  # every endpoint that accepted, including those past ``max_found``


def sweep(
    endpoints: Iterator[Endpoint],
    concurrency: int,
    timeout: float,
    progress: Callable[[int], None] | None = None,
    max_found: int | None = None,
    tally: Tally | None = None,
    budget: Budget | None = None,
    stop: threading.Event | None = None,
) -> list[Endpoint]:
    """Endpoints that accepted a TCP connection, at most ``max_found`` of them (``tally``
    counts them all).

    At most ``concurrency`` connects are in flight; each gets at least ``timeout`` seconds,
    and each holds one unit of ``budget`` (shared with other sweeps) while in flight. Running
    out of file descriptors slows the sweep down instead of failing it, while it has any in
    flight. ``progress`` receives the number of endpoints finished so far, at most every
    0.25 s and once at the end. ``stop`` ends the sweep early, within 0.05 s.
    """
    units = budget if budget is not None else Budget(concurrency)
    tally = tally if tally is not None else Tally()
    poller = select.epoll()
    # fd -> (socket, endpoint, the batch it was started in); a batch shares one deadline
    pending: dict[int, tuple[socket.socket, Endpoint, int]] = {}
    batches: deque[tuple[float, int, list[int]]] = deque()
    found: list[Endpoint] = []
    batch = done = spare = 0  # spare: units held that no socket in flight uses
    last_report = 0.0
    held: Endpoint | None = None  # taken from ``endpoints`` but not yet tried
    exhausted = False

    def connected(sock: socket.socket, endpoint: Endpoint) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        sock.close()
        tally.open += 1
        if max_found is None or len(found) < max_found:
            found.append(endpoint)

    try:
        while stop is None or not stop.is_set():
            started: list[int] = []
            batch += 1
            while not exhausted and len(pending) < concurrency:
                if not spare:
                    spare = units.take(concurrency - len(pending), 0.0 if pending else _WAIT)
                    if not spare:
                        break
                if held is not None:
                    endpoint, held = held, None
                else:
                    next_one = next(endpoints, None)
                    if next_one is None:
                        exhausted = True
                        break
                    endpoint = next_one
                family = socket.AF_INET6 if ":" in endpoint[0] else socket.AF_INET
                try:
                    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                except OSError as error:
                    if error.errno in _OUT_OF_SOCKETS and pending:
                        held = endpoint  # retried once some in flight have finished
                        break
                    raise
                code = sock.connect_ex(endpoint)
                if code == errno.EINPROGRESS:  # answered already? (loopback is, at once)
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or code
                if code == errno.EINPROGRESS:
                    fd = sock.fileno()
                    pending[fd] = (sock, endpoint, batch)
                    poller.register(fd, select.EPOLLOUT)
                    started.append(fd)
                    spare -= 1
                    continue
                if code == 0:
                    connected(sock, endpoint)
                else:
                    sock.close()
                done += 1
            units.give(spare)  # while it waits, a sweep holds a unit per socket in flight
            spare = 0
            now = time.monotonic()
            if started:  # timed from after the batch: every connect gets its full timeout
                batches.append((now + timeout, batch, started))
            if not pending:
                if exhausted:
                    break
                continue
            wait = min(batches[0][0] - now, _WAIT) if batches else _WAIT
            for fd, events in poller.poll(max(wait, 0.0)):
                sock, endpoint, _ = pending.pop(fd)
                if events & select.EPOLLERR:
                    sock.close()
                else:
                    connected(sock, endpoint)
                spare += 1
                done += 1
            now = time.monotonic()
            while batches and batches[0][0] <= now:
                _, expired, fds = batches.popleft()
                for fd in fds:
                    entry = pending.get(fd)
                    if entry is not None and entry[2] == expired:  # not a reused fd number
                        del pending[fd]
                        entry[0].close()
                        spare += 1
                        done += 1
            if progress is not None and now - last_report >= PROGRESS_EVERY:
                last_report = now
                progress(done)
    finally:
        for sock, _, _ in pending.values():
            sock.close()
        units.give(spare + len(pending))
        poller.close()
    if progress is not None:
        progress(done)
    return found
