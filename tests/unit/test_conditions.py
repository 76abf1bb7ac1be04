"""Condition maths: transitions move lastTransitionTime, repeats do not."""

from __future__ import annotations

from vas_operator import conditions as cond
from vas_operator.conditions import Observation

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def obs(type_: str, status: str, reason: str = "R") -> Observation:
    return Observation(type_, status, reason, f"{type_} {status}")  # type: ignore[arg-type]


def test_first_visit_sets_every_condition() -> None:
    out = cond.merge(None, [obs("A", "True"), obs("B", "Unknown")], generation=3, at=T0)
    assert [(c["type"], c["status"], c["lastTransitionTime"]) for c in out] == [
        ("A", "True", T0),
        ("B", "Unknown", T0),
    ]
    assert all(c["observedGeneration"] == 3 for c in out)


def test_same_status_keeps_transition_time_even_if_reason_changes() -> None:
    first = cond.merge(None, [obs("A", "False", "Timeout")], 1, at=T0)
    second = cond.merge(first, [obs("A", "False", "ConnectionRefused")], 2, at=T1)
    assert second[0]["lastTransitionTime"] == T0
    assert second[0]["reason"] == "ConnectionRefused"
    assert second[0]["observedGeneration"] == 2


def test_status_change_moves_transition_time() -> None:
    first = cond.merge(None, [obs("A", "False")], 1, at=T0)
    second = cond.merge(first, [obs("A", "True")], 1, at=T1)
    assert second[0]["lastTransitionTime"] == T1


def test_unobserved_conditions_are_kept_in_place() -> None:
    first = cond.merge(None, [obs("A", "True"), obs("B", "True")], 1, at=T0)
    second = cond.merge(first, [obs("B", "False")], 1, at=T1)
    assert [c["type"] for c in second] == ["A", "B"]
    assert second[0] == first[0]


def test_transitions_report_status_or_reason_changes_only() -> None:
    before = cond.merge(None, [obs("A", "True", "X"), obs("B", "False", "Y")], 1, at=T0)
    after = cond.merge(before, [obs("A", "True", "X"), obs("B", "False", "Z")], 1, at=T1)
    assert [c["type"] for c in cond.transitions(before, after)] == ["B"]
    assert cond.transitions(after, after) == []


def test_ready_takes_the_first_failing_reason() -> None:
    observed = [
        obs(cond.CREDENTIALS_RESOLVED, "True", "Resolved"),
        obs(cond.STREAM_REACHABLE, "False", "Unauthorized"),
        obs(cond.MOUNTPOINT_READY, "Unknown", "WaitingForStream"),
    ]
    ready = cond.camera_ready(observed)
    assert (ready.status, ready.reason) == ("False", "Unauthorized")
    assert cond.camera_phase(True, [*observed, ready]) == "Failed"


def test_ready_when_everything_is_true() -> None:
    observed = [obs(t, "True") for t in cond.CAMERA_CONDITIONS[:3]]
    ready = cond.camera_ready(observed)
    assert ready.status == "True"
    assert cond.camera_phase(True, [*observed, ready]) == "Ready"
    assert cond.camera_phase(False, [*observed, ready]) == "Disabled"


def test_phase_pending_while_unknown_and_degraded_when_mount_fails() -> None:
    unknown = [obs(cond.CREDENTIALS_RESOLVED, "True"), obs(cond.STREAM_REACHABLE, "Unknown")]
    assert cond.camera_phase(True, unknown) == "Pending"
    degraded = [obs(cond.STREAM_REACHABLE, "True"), obs(cond.MOUNTPOINT_READY, "False")]
    assert cond.camera_phase(True, degraded) == "Degraded"


def test_ready_prefers_a_false_condition_over_an_unknown_one() -> None:
    observed = [
        obs(cond.CREDENTIALS_RESOLVED, "Unknown", "Disabled"),
        obs(cond.MOUNTPOINT_READY, "False", "Disabled"),
    ]
    ready = cond.camera_ready(observed)
    assert (ready.status, ready.reason) == ("False", "Disabled")
    unknown = cond.camera_ready([obs(cond.STREAM_REACHABLE, "Unknown", "WaitingForStream")])
    assert (unknown.status, unknown.reason) == ("Unknown", "WaitingForStream")
