"""CameraGroup status from the cameras the operator already knows: members, ready members and
a Ready condition naming the first few cameras that are not Ready."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vas_core.selectors import matches
from vas_operator import conditions as cond
from vas_operator.conditions import Observation

NAMED_FAILURES = 3


@dataclass(frozen=True)
class CameraFacts:
    """What a group needs to know about one camera (kept in a Kopf index)."""

    name: str
    labels: tuple[tuple[str, str], ...]
    ready: bool
    reason: str


@dataclass(frozen=True)
class GroupFacts:
    """What the group syncer needs to know about one group (kept in a Kopf index)."""

    name: str
    uid: str
    generation: int | None
    selector: dict[str, Any]
    status: dict[str, Any]


def group_status(group: GroupFacts, cameras: Iterable[CameraFacts]) -> dict[str, Any]:
    members = sorted(
        (c for c in cameras if matches(group.selector, dict(c.labels))), key=lambda c: c.name
    )
    ready = [c for c in members if c.ready]
    failing = [c for c in members if not c.ready]
    if not members:
        obs = Observation(cond.READY, "False", "NoMembers", "no Camera matches the selector")
    elif not failing:
        obs = Observation(cond.READY, "True", "AllReady", f"all {len(members)} cameras are Ready")
    else:
        named = ", ".join(f"{c.name} ({c.reason})" for c in failing[:NAMED_FAILURES])
        more = f" and {len(failing) - NAMED_FAILURES} more" if len(failing) > NAMED_FAILURES else ""
        obs = Observation(
            cond.READY,
            "False",
            "Degraded",
            f"{len(failing)} of {len(members)} cameras are not Ready: {named}{more}",
        )
    return {
        "observedGeneration": group.generation,
        "members": len(members),
        "readyMembers": len(ready),
        "conditions": cond.merge(group.status.get("conditions"), [obs], group.generation),
    }


def changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("observedGeneration", "members", "readyMembers", "conditions")
    return any(old.get(k) != new.get(k) for k in keys)
