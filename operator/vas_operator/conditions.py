"""Condition maths: metav1.Condition lists that change only when something really changed.

Pure functions, so restarts and retries cannot flip a condition or move its
lastTransitionTime: the transition time moves only when the status does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]

CREDENTIALS_RESOLVED = "CredentialsResolved"
STREAM_REACHABLE = "StreamReachable"
MOUNTPOINT_READY = "MountpointReady"
READY = "Ready"
# Only when spec.substream is set; never part of Ready (a broken sub-stream leaves the main
# stream serving).
SUBSTREAM_READY = "SubstreamReady"
CAMERA_CONDITIONS = (CREDENTIALS_RESOLVED, STREAM_REACHABLE, MOUNTPOINT_READY, READY)


@dataclass(frozen=True)
class Observation:
    """What one reconcile concluded about one condition type."""

    type: str
    status: Status
    reason: str
    message: str


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    current: list[dict[str, Any]] | None,
    observed: list[Observation],
    generation: int | None,
    at: str | None = None,
) -> list[dict[str, Any]]:
    """The new condition list: observed types replaced, others kept, order stable.

    lastTransitionTime is carried over while the status stays the same, so writing the same
    conclusion twice is a no-op.
    """
    at = at or now()
    by_type = {c["type"]: c for c in current or []}
    result = [dict(c) for c in current or []]
    index = {c["type"]: i for i, c in enumerate(result)}
    for obs in observed:
        previous = by_type.get(obs.type)
        changed = previous is None or previous.get("status") != obs.status
        entry: dict[str, Any] = {
            "type": obs.type,
            "status": obs.status,
            "reason": obs.reason,
            "message": obs.message[:32768],
            "lastTransitionTime": at if changed else previous["lastTransitionTime"],  # type: ignore[index]
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        if obs.type in index:
            result[index[obs.type]] = entry
        else:
            index[obs.type] = len(result)
            result.append(entry)
    return result


def transitions(
    before: list[dict[str, Any]] | None, after: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Conditions whose status or reason changed: what deserves a Kubernetes Event."""
    old = {c["type"]: (c.get("status"), c.get("reason")) for c in before or []}
    return [c for c in after if old.get(c["type"]) != (c["status"], c["reason"])]


def get(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def camera_ready(observed: list[Observation]) -> Observation:
    """Ready is True only when every other condition is. Otherwise it is False with the first
    False condition's reason (Unknown, with the first Unknown's reason, when nothing is False),
    so `kubectl get cam` shows why at a glance."""
    others = [o for o in observed if o.type != READY]
    for status in ("False", "Unknown"):
        first = next((o for o in others if o.status == status), None)
        if first is not None:
            return Observation(READY, first.status, first.reason, first.message)
    return Observation(READY, "True", "Mounted", "stream is mounted and playing")


def camera_phase(enabled: bool, observed: list[Observation]) -> str:
    """The one-word summary for people (clients read conditions)."""
    if not enabled:
        return "Disabled"
    statuses = {o.type: o.status for o in observed}
    if statuses.get(READY) == "True":
        return "Ready"
    if statuses.get(MOUNTPOINT_READY) == "False" and statuses.get(STREAM_REACHABLE) == "True":
        return "Degraded"
    if "False" in statuses.values():
        return "Failed"
    return "Pending"
