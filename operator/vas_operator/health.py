"""Gateway health: one Janus ``list`` per gateway per interval, compared with what should be
mounted there.

A restarted gateway has lost its mountpoints (they are not permanent); a camera that dropped
shows as a mountpoint whose media went stale. Either way the camera is re-checked by its
normal reconcile, so there is one writer of its status. The decision is a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

STALE_MEDIA_MS = 5000
# Right after a mountpoint is created Janus reports a bogus age and needs ~3 s to connect;
# media is judged only after this long.
GRACE_SECONDS = 15.0


def settled(since: str | None, now: datetime | None = None) -> bool:
    """Whether a mountpoint made Ready at ``since`` (RFC 3339) has had time to receive."""
    if not since:
        return True
    at = datetime.fromisoformat(since.replace("Z", "+00:00"))
    return ((now or datetime.now(UTC)) - at).total_seconds() >= GRACE_SECONDS


@dataclass(frozen=True)
class Expected:
    """A Ready camera the pool assigns to this gateway pod (the operator's own record, never
    the Camera's status)."""

    namespace: str
    name: str
    mountpoint_id: int
    ready_since: str | None = None  # lastTransitionTime of its Ready condition
    snapshot_seconds: int = 0  # thumbnail interval, 0 for none
    source: tuple[tuple[str, Any], ...] = ()  # spec.source items, to probe for thumbnails
    substream_id: int | None = None  # its sub-stream's mountpoint, when one is mounted


@dataclass(frozen=True)
class Recheck:
    namespace: str
    name: str
    reason: str  # MountpointLost | MediaStale | Substream... for the sub-stream's mountpoint


def media_age_ms(entry: dict[str, Any]) -> int | None:
    """Age of the newest media of a listed mountpoint; None when it never received any."""
    ages = [m["age_ms"] for m in entry.get("media") or [] if "age_ms" in m]
    return min(ages) if ages else None


def media_stale(entry: dict[str, Any] | None, stale_ms: int = STALE_MEDIA_MS) -> bool:
    age = media_age_ms(entry or {})
    return age is None or age > stale_ms


def decide(
    expected: list[Expected],
    listed: list[dict[str, Any]] | None,
    stale_ms: int = STALE_MEDIA_MS,
    now: datetime | None = None,
) -> list[Recheck]:
    """Which cameras to re-check, given what the gateway reports (None: it did not answer)."""
    if listed is None:
        return [Recheck(c.namespace, c.name, "GatewayUnavailable") for c in expected]
    by_id = {entry.get("id"): entry for entry in listed}
    out = []
    for cam in expected:
        entry = by_id.get(cam.mountpoint_id)
        if entry is None:
            out.append(Recheck(cam.namespace, cam.name, "MountpointLost"))
            continue
        if media_stale(entry, stale_ms) and settled(cam.ready_since, now):
            out.append(Recheck(cam.namespace, cam.name, "MediaStale"))
            continue
        if cam.substream_id is None:
            continue
        sub = by_id.get(cam.substream_id)
        if sub is None:
            out.append(Recheck(cam.namespace, cam.name, "SubstreamMountpointLost"))
        elif media_stale(sub, stale_ms) and settled(cam.ready_since, now):
            out.append(Recheck(cam.namespace, cam.name, "SubstreamMediaStale"))
    return out


def live_figures(
    expected: list[Expected], listed: list[dict[str, Any]], gateway: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per camera, what the viewer shows as live: media age and where it is mounted."""
    by_id = {entry.get("id"): entry for entry in listed}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for cam in expected:
        entry = by_id.get(cam.mountpoint_id)
        if entry is None:
            continue
        age = media_age_ms(entry)
        figures = {
            "gateway": gateway,
            "receiving": int(age is not None and age <= STALE_MEDIA_MS),
            **({"lastFrameAgeMs": age} if age is not None else {}),
        }
        sub = by_id.get(cam.substream_id) if cam.substream_id is not None else None
        if sub is not None:
            sub_age = media_age_ms(sub)
            figures["substreamReceiving"] = int(sub_age is not None and sub_age <= STALE_MEDIA_MS)
            if sub_age is not None:
                figures["substreamLastFrameAgeMs"] = sub_age
        out[(cam.namespace, cam.name)] = figures
    return out


def thumbnails_due(
    expected: list[Expected], last: dict[tuple[str, str], float], now: float, limit: int
) -> list[Expected]:
    """Cameras whose thumbnail is older than their snapshot interval, oldest first."""
    due = [
        c
        for c in expected
        if c.snapshot_seconds and now - last.get((c.namespace, c.name), 0.0) >= c.snapshot_seconds
    ]
    due.sort(key=lambda c: last.get((c.namespace, c.name), 0.0))
    return due[:limit]
