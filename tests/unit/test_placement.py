"""Placement and autoscaling are pure functions: properties over random pools, and the
decisions the autoscaler makes at its edges."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from vas_operator import autoscale
from vas_operator.placement import Capacity, PodLoad, choose, rebalance

CAP = Capacity(mountpoints=5, viewers=100)


def pod(i: int, open_: bool = True, live: bool = True, viewers: int = 0) -> PodLoad:
    """Live and not open: draining."""
    draining = live and not open_
    return PodLoad(f"gw-{i}", i, live=live, open=open_ and live, viewers=viewers, draining=draining)


pools = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.integers(0, 150)), min_size=1, max_size=6
).map(lambda flags: [pod(i, o, live, v) for i, (o, live, v) in enumerate(flags)])
cameras = st.lists(st.integers(0, 40), unique=True, max_size=40)


def assignment_on(pools_: list[PodLoad], cams: list[int], seed: int) -> dict[int, str]:
    """Some existing assignment, partly on pods that may have gone."""
    names = [p.name for p in pools_] + ["gw-gone"]
    return {c: names[(c * 7 + seed) % len(names)] for c in cams if (c + seed) % 3}


@settings(max_examples=300, deadline=None)
@given(pools, cameras, st.integers(0, 10))
def test_no_pod_is_ever_placed_over_capacity(
    pools_: list[PodLoad], cams: list[int], seed: int
) -> None:
    current = assignment_on(pools_, cams, seed)
    placed = rebalance(current, cams, pools_, CAP)
    by_pod = Counter(p for p in placed.values() if p is not None)
    assert all(n <= CAP.mountpoints for n in by_pod.values())
    live = {p.name for p in pools_ if p.live}
    assert all(p in live for p in by_pod)  # nothing on a dead or unknown pod
    waiting = [c for c, p in placed.items() if p is None]
    if waiting:  # a camera waits only when no open pod has room
        open_pods = [p for p in pools_ if p.open]
        assert all(by_pod[p.name] >= CAP.mountpoints for p in open_pods)


@settings(max_examples=300, deadline=None)
@given(pools, cameras, st.integers(0, 10))
def test_rebalancing_is_stable(pools_: list[PodLoad], cams: list[int], seed: int) -> None:
    once = rebalance(assignment_on(pools_, cams, seed), cams, pools_, CAP)
    kept = {c: p for c, p in once.items() if p is not None}
    assert rebalance(kept, cams, pools_, CAP) == once


@settings(max_examples=300, deadline=None)
@given(pools, cameras, st.integers(0, 10))
def test_a_joining_pod_moves_nothing(pools_: list[PodLoad], cams: list[int], seed: int) -> None:
    before = rebalance(assignment_on(pools_, cams, seed), cams, pools_, CAP)
    grown = [*pools_, pod(len(pools_))]
    after = rebalance({c: p for c, p in before.items() if p}, cams, grown, CAP)
    open_ = {p.name for p in pools_ if p.open}
    moved = [c for c, p in before.items() if p in open_ and after[c] != p]
    assert moved == []  # (cameras on a draining pod may leave it now that there is room)
    # ... and the cameras that were waiting for room get it, as far as the new pod has room.
    if any(after[c] is None for c, p in before.items() if p is None):
        assert Counter(after.values())[grown[-1].name] == CAP.mountpoints


@settings(max_examples=300, deadline=None)
@given(pools, cameras, st.integers(0, 10), st.integers(0, 5))
def test_a_leaving_pod_moves_only_its_own_cameras(
    pools_: list[PodLoad], cams: list[int], seed: int, leaving: int
) -> None:
    before = rebalance(assignment_on(pools_, cams, seed), cams, pools_, CAP)
    gone = pools_[leaving % len(pools_)].name
    rest = [p for p in pools_ if p.name != gone]
    after = rebalance({c: p for c, p in before.items() if p}, cams, rest, CAP)
    moved = {c for c, p in before.items() if p is not None and after[c] != p}
    assert moved <= {c for c, p in before.items() if p == gone}


def test_new_cameras_go_to_the_least_loaded_pod_then_the_lowest_ordinal() -> None:
    pods = [
        PodLoad("gw-0", 0, True, True, mountpoints=3),
        PodLoad("gw-1", 1, True, True, mountpoints=1),
        PodLoad("gw-2", 2, True, True, mountpoints=1),
    ]
    assert choose(None, pods, CAP) == "gw-1"
    # Viewers count too: a pod busy with viewers takes no new camera while another is idle.
    busy = [PodLoad("gw-0", 0, True, True, 1, viewers=90), PodLoad("gw-1", 1, True, True, 2)]
    assert choose(None, busy, CAP) == "gw-1"


def test_a_camera_stays_on_its_pod_even_when_another_is_emptier() -> None:
    pods = [PodLoad("gw-0", 0, True, True, mountpoints=5), PodLoad("gw-1", 1, True, True)]
    assert choose("gw-0", pods, CAP) == "gw-0"


def test_a_draining_pod_gives_its_cameras_away_but_keeps_them_when_nobody_has_room() -> None:
    draining = PodLoad("gw-1", 1, live=True, open=False, mountpoints=2, draining=True)
    assert choose("gw-1", [PodLoad("gw-0", 0, True, True, 1), draining], CAP) == "gw-0"
    assert choose("gw-1", [PodLoad("gw-0", 0, True, True, 5), draining], CAP) == "gw-1"
    assert choose(None, [PodLoad("gw-0", 0, True, True, 5), draining], CAP) is None


def decide(
    current: int, cameras: int, viewers: int, low_since: float | None = None, now: float = 0.0
) -> tuple[autoscale.Decision, float | None]:
    return autoscale.decide(current, cameras, viewers, CAP, 0.8, 1, 4, low_since, now, 60)


def test_a_briefly_unready_pod_keeps_its_cameras_but_takes_no_new_one() -> None:
    restarting = PodLoad("gw-1", 1, live=True, open=False, mountpoints=2)
    assert choose("gw-1", [PodLoad("gw-0", 0, True, True), restarting], CAP) == "gw-1"
    assert choose(None, [PodLoad("gw-0", 0, True, True, 4), restarting], CAP) == "gw-0"


def test_the_pool_grows_before_a_pod_is_full() -> None:
    # 4 cameras per pod at 80 % of 5: the fifth camera asks for a second pod.
    assert decide(1, 4, 0)[0].reason == "Steady"
    up = decide(1, 5, 0)[0]
    assert (up.reason, up.replicas) == ("ScaleUp", 2)
    # Viewers alone: 80 viewers per pod at 80 % of 100.
    assert decide(1, 1, 81)[0].replicas == 2
    assert "viewers" in decide(1, 1, 81)[0].message


def test_the_pool_stays_within_its_bounds() -> None:
    assert decide(0, 0, 0)[0].replicas == 1  # up to the minimum
    assert decide(4, 500, 0)[0].replicas == 4
    assert "capped" in decide(2, 500, 0)[0].message


def test_scaling_down_waits_for_the_stabilisation_window_and_goes_one_pod_at_a_time() -> None:
    first, since = decide(3, 1, 0, None, now=100.0)
    assert first.reason == "Steady"
    assert since == 100.0
    still, since = decide(3, 1, 0, since, now=150.0)
    assert still.reason == "Steady"
    down, _ = decide(3, 1, 0, since, now=161.0)
    assert (down.reason, down.replicas) == ("ScaleDown", 2)
    # Demand back before the window ends: the clock resets.
    assert decide(3, 12, 0, since, now=161.0)[1] is None
