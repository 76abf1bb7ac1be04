"""Signalling handles, session ownership and per-viewer limits, without a gateway."""

from __future__ import annotations

import pytest

from vas_api.auth import Viewer
from vas_api.errors import Forbidden, TooManyRequests, Unauthenticated
from vas_api.relay import Grants, Sessions, ViewerLimits

ALICE, BOB = Viewer("alice", "u1"), Viewer("bob", "u2")
LOBBY, GATE = ("a", "lobby"), ("a", "gate")


def test_a_handle_is_bound_to_its_camera_and_renewed_by_use() -> None:
    grants = Grants(ttl=60, per_viewer=4)
    handle = grants.issue(ALICE, "token", LOBBY)
    assert "token" not in handle
    assert grants.use(handle, LOBBY).viewer == ALICE
    with pytest.raises(Unauthenticated):
        grants.use(handle, GATE)
    for bad in (None, 1, "", "x" * 500, "unknown"):
        with pytest.raises(Unauthenticated):
            grants.use(bad, LOBBY)


def test_handles_expire_and_are_bounded_per_viewer() -> None:
    grants = Grants(ttl=0.0, per_viewer=4)
    handle = grants.issue(ALICE, "token", LOBBY)
    with pytest.raises(Unauthenticated):
        grants.use(handle, LOBBY)
    grants = Grants(ttl=60, per_viewer=2)
    first, second, third = (grants.issue(ALICE, "t", LOBBY) for _ in range(3))
    with pytest.raises(Unauthenticated):
        grants.use(first, LOBBY)  # the oldest made room
    grants.use(second, LOBBY)
    grants.use(third, LOBBY)
    bobs = grants.issue(BOB, "t", LOBBY)
    grants.use(bobs, LOBBY)


def test_a_session_belongs_to_its_viewer_and_camera() -> None:
    grants, sessions = Grants(ttl=60, per_viewer=4), Sessions()
    alice = grants.use(grants.issue(ALICE, "t", LOBBY), LOBBY)
    bob = grants.use(grants.issue(BOB, "t", LOBBY), LOBBY)
    alice_gate = grants.use(grants.issue(ALICE, "t", GATE), GATE)
    sessions.add(7, alice)
    sessions.check(7, alice)
    for other in (bob, alice_gate):
        with pytest.raises(Forbidden):
            sessions.check(7, other)
    with pytest.raises(Forbidden):
        sessions.check(8, alice)
    assert sessions.viewers(LOBBY) == 1
    assert sessions.count(ALICE) == 1
    sessions.drop(7)
    assert sessions.viewers(LOBBY) == 0


async def test_per_viewer_limits_leave_other_viewers_alone() -> None:
    limits = ViewerLimits(2, "long-polls")
    async with limits.hold(ALICE), limits.hold(ALICE):
        with pytest.raises(TooManyRequests):
            async with limits.hold(ALICE):
                pass
        async with limits.hold(BOB):
            pass
    async with limits.hold(ALICE):
        pass  # released again
