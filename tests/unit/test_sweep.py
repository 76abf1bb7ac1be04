"""The TCP sweep, in one thread and split over real worker processes: sharding, the shared
socket budget, progress, ``max_found``/``Tally``, the Guard, stopping and cancellation, and
workers that never outlive what started them. Loopback only, small plans (a /16 belongs to
``make bench-sweep``); connects that must stay in flight go to a listener whose accept queue
is full, which drops their SYNs."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import poll
from vas_operator import discovery
from vas_operator.models.scan import DiscoveryScanSpec
from vas_operator.scanning import cores, shards, targets
from vas_operator.scanning.budget import SHARED_BUDGET, Budget
from vas_operator.scanning.guard import Guard
from vas_operator.scanning.sweep import Tally, sweep
from vas_operator.scanning.workers import WorkerLost, WorkerPool
from vas_operator.sourcepolicy import SourcePolicy

LOOPBACK = SourcePolicy.build(["127.0.0.0/8"], ["169.254.0.0/16"])


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(2)
    yield workers
    workers.close()


@pytest.fixture
def listeners() -> Iterator[list[tuple[str, int]]]:
    """Three listening endpoints on two loopback addresses and two ports."""
    a = socket.create_server(("127.0.0.2", 0), backlog=64)
    port_a = a.getsockname()[1]
    b = socket.create_server(("127.0.0.5", port_a), backlog=64)
    c = socket.create_server(("127.0.0.5", 0), backlog=64)
    yield [("127.0.0.2", port_a), ("127.0.0.5", port_a), ("127.0.0.5", c.getsockname()[1])]
    for server in (a, b, c):
        server.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connects wait for their timeout: its accept queue is full."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", port), timeout=5)
    yield port
    filler.close()
    server.close()


def sockets_of(pids: list[int]) -> int:
    """Sockets the processes hold open: a worker's only sockets are its connects."""
    count = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(FileNotFoundError):
                    count += str(fd.readlink()).startswith("socket:")
    return count


def threads_of(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize(
    "wanted",
    [
        ["10.0.0.0/24"],
        ["192.0.2.0/30", "198.51.100.7", "10.1.0.0/28"],
        ["2001:db8::/122", "10.0.0.0/31", "10.0.0.9/32"],
        ["127.0.0.1", "127.0.0.1", "127.0.0.1"],  # repeated targets stay repeated
    ],
)
@pytest.mark.parametrize("count", [1, 2, 3, 5, 64])
def test_shards_hold_every_endpoint_exactly_once(wanted: list[str], count: int) -> None:
    plan = targets.plan(wanted, [554, 8554])
    parts = plan.shards(count)
    assert len(parts) == count
    every = sorted(e for part in parts for e in part.endpoints())
    assert every == sorted(plan.endpoints())
    assert sum(part.count() for part in parts) == plan.count() == len(every)
    sizes = [len(list(part.endpoints())) for part in parts]
    assert max(sizes) - min(sizes) <= 2  # one address (all its ports) at most apart


def test_endpoints_are_hosts_and_the_count_matches_them() -> None:
    # IPv6 leaves out the subnet-router anycast address only, as hosts() does.
    assert list(targets.endpoints(["2001:db8::/126"], [554])) == [
        ("2001:db8::1", 554),
        ("2001:db8::2", 554),
        ("2001:db8::3", 554),
    ]
    for wanted in (["2001:db8::/120"], ["10.0.0.0/31"], ["10.0.0.0/22", "10.9.0.1"]):
        assert targets.endpoint_count(wanted, [1, 2]) == len(
            list(targets.endpoints(wanted, [1, 2]))
        )


def test_a_budget_hands_out_what_it_has_and_refuses_more_back() -> None:
    budget = Budget(4)
    assert budget.take(3) == 3
    assert budget.take(3) == 1
    assert budget.take(1, wait=0.01) == 0
    budget.give(4)
    with pytest.raises(ValueError, match="more than were taken"):
        budget.give(1)
    budget.grow(2)  # a worker's lease granted more
    assert budget.take(10) == 6


def test_the_sweep_shares_a_socket_budget_and_gives_it_back() -> None:
    budget = Budget(8)
    tally = Tally()
    eps = iter([("127.0.0.1", p) for p in range(1, 200)])
    sweep(eps, 100, 0.2, budget=budget, tally=tally, max_found=0)
    assert budget.free == budget.total


def test_the_sweep_slows_down_instead_of_failing_when_out_of_file_descriptors() -> None:
    code = """
import resource, socket
from vas_operator.scanning.sweep import sweep
srv = socket.create_server(("127.0.0.1", 0), backlog=4096); port = srv.getsockname()[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
eps = iter([("127.0.0.1", port)] * 300 + [("127.0.0.1", 1)] * 300)
done = []
found = sweep(eps, 1000, 1.0, progress=done.append)
print(done[-1], len(found) > 0)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["600", "True"]


def test_workers_find_what_one_thread_finds_with_progress_and_tally(
    pool: WorkerPool, listeners: list[tuple[str, int]]
) -> None:
    ports = sorted({p for _, p in listeners} | {1})
    plan = targets.plan(["127.0.0.0/29"], ports)
    alone = sweep(plan.endpoints(), 16, 1.0)
    budget, tally, seen = Budget(16), Tally(), []
    found = shards.sweep_plan(
        plan, 16, 1.0, seen.append, None, tally, budget, pool=pool, min_sharded=0
    )
    assert sorted(found) == sorted(alone) == sorted(listeners)
    assert tally.open == 3
    assert seen == sorted(seen)
    assert seen[-1] == plan.count()
    assert budget.free == budget.total

    capped = Tally()
    found = shards.sweep_plan(plan, 16, 1.0, None, 1, capped, budget, pool=pool, min_sharded=0)
    assert len(found) == 1
    assert found[0] in listeners
    assert capped.open == 3  # max_found bounds the list, not the count


def test_workers_skip_what_the_guard_refuses_and_count_it(pool: WorkerPool) -> None:
    service = socket.create_server(("127.0.0.3", 0), backlog=64)
    port = service.getsockname()[1]
    service.setblocking(False)
    policy = SourcePolicy.build(["127.0.0.0/8"], [], own_ports=[port])
    guard = Guard(policy, [port, 1])
    plan = targets.plan(["127.0.0.0/28"], [port, 1])
    seen: list[int] = []
    try:
        found = shards.sweep_plan(plan, 8, 1.0, seen.append, skip=guard, pool=pool, min_sharded=0)
        with pytest.raises(BlockingIOError):
            service.accept()  # nothing ever connected to the VAS service port
    finally:
        service.close()
    assert found == []
    assert guard.skipped == 14  # the service port on every loopback address of the /28
    assert seen[-1] + guard.skipped == plan.count()


def test_workers_never_have_more_sockets_in_flight_than_the_shared_budget(
    pool: WorkerPool, silent_port: int
) -> None:
    plan = targets.plan(["127.0.0.1"] * 24, [silent_port])
    budget = Budget(6)  # less than the concurrency: the second shard waits for units
    pids = [w.pid for w in pool.workers()]
    most, running = 0, True

    def watch() -> None:
        nonlocal most
        while running:
            most = max(most, sockets_of(pids))

    watcher = threading.Thread(target=watch)
    watcher.start()
    seen: list[int] = []
    try:
        shards.sweep_plan(plan, 12, 0.2, seen.append, budget=budget, pool=pool, min_sharded=0)
    finally:
        running = False
        watcher.join()
    assert 0 < most <= 6
    assert seen[-1] == 24  # the waiting shard got its units and finished
    assert budget.free == budget.total
    assert sockets_of(pids) == 0


def test_stop_ends_every_workers_part_and_keeps_the_pool(
    pool: WorkerPool, silent_port: int
) -> None:
    plan = targets.plan(["127.0.0.1"] * 64, [silent_port])
    budget, stop = Budget(64), threading.Event()
    pids = [w.pid for w in pool.workers()]
    sweeping = threading.Thread(
        target=shards.sweep_plan,
        args=(plan, 32, 60.0),
        kwargs={"budget": budget, "stop": stop, "pool": pool, "min_sharded": 0},
    )
    sweeping.start()
    poll(lambda: sockets_of(pids), lambda n: n == 32, 30, "connects in flight in both workers")
    stop.set()
    sweeping.join(60)
    assert not sweeping.is_alive()
    assert sockets_of(pids) == 0
    assert budget.free == budget.total
    assert pool.pids() == pids  # kept for the next sweep
    pool.close()
    poll(lambda: [gone(pid) for pid in pids], all, 30, "closed workers exiting")


def test_a_cancelled_scan_stops_its_workers_before_the_cancellation_ends(
    pool: WorkerPool,
) -> None:
    spec = DiscoveryScanSpec.model_validate(
        {"targets": ["127.0.0.0/19"], "ports": [1], "concurrency": 64}
    )
    held = SHARED_BUDGET.take(SHARED_BUDGET.total)  # the scan's shards wait for units

    async def cancel_midway() -> None:
        scan = asyncio.create_task(
            discovery.run(spec, [], lambda done, total: None, policy=LOOPBACK, workers=pool)
        )
        await asyncio.to_thread(
            poll,
            lambda: [threads_of(pid) for pid in pool.pids()],
            lambda threads: len(threads) == 2 and all(n == 2 for n in threads),
            30,
            "a job thread in each worker",
        )
        scan.cancel()
        with pytest.raises(asyncio.CancelledError):
            await scan

    try:
        asyncio.run(cancel_midway())
        pids = pool.pids()
        poll(lambda: [threads_of(pid) for pid in pids], lambda t: t == [1, 1], 30, "jobs ending")
    finally:
        SHARED_BUDGET.give(held)
    assert SHARED_BUDGET.free == SHARED_BUDGET.total


def test_a_worker_that_dies_fails_its_sweep_and_is_replaced(
    pool: WorkerPool, silent_port: int
) -> None:
    plan = targets.plan(["127.0.0.1"] * 16, [silent_port])
    budget = Budget(16)
    pids = [w.pid for w in pool.workers()]
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            shards.sweep_plan(plan, 16, 60.0, budget=budget, pool=pool, min_sharded=0)
        except WorkerLost as error:
            outcome.append(error)

    sweeping = threading.Thread(target=run)
    sweeping.start()
    poll(lambda: sockets_of(pids), lambda n: n == 16, 30, "connects in flight")
    os.kill(pids[0], signal.SIGKILL)
    sweeping.join(60)
    assert [str(pids[0]) in str(e) for e in outcome] == [True]
    assert sockets_of(pids[1:]) == 0  # the other shard was stopped
    assert budget.free == budget.total
    fresh = [w.pid for w in pool.workers()]
    assert len(fresh) == 2
    assert pids[0] not in fresh


def test_workers_end_with_the_process_that_started_them(silent_port: int) -> None:
    """However that process ends: here it is killed mid-sweep, with no chance to clean up."""
    code = f"""
import threading
from vas_operator.scanning import shards, targets
from vas_operator.scanning.workers import WorkerPool
pool = WorkerPool(2)
print(*(w.pid for w in pool.workers()), flush=True)
plan = targets.plan(["127.0.0.1"] * 8, [{silent_port}])
shards.sweep_plan(plan, 8, 60.0, pool=pool, min_sharded=0)
"""
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    try:
        poll(lambda: sockets_of(pids), lambda n: n == 8, 30, "connects in flight")
    finally:
        parent.kill()
        parent.wait()
    poll(lambda: [gone(pid) for pid in pids], all, 30, "orphaned workers exiting")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, None),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "50000 100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({"cpu.max": "garbage"}, None),
    ],
)
def test_cores_follow_the_cgroup_cpu_limit(
    tmp_path: Path, files: dict[str, str], expected: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cores.quota(tmp_path) == expected
    affinity = len(os.sched_getaffinity(0))
    limit = affinity if expected is None else min(affinity, max(1, math.ceil(expected)))
    assert cores.usable(tmp_path) == limit
