"""How many gateway pods the pool wants: a pure function of its demand, like an HPA's
``desiredReplicas = ceil(current metric / target)`` but over two figures the operator already
has (cameras to mount and viewers), so no metrics adapter is needed.

The target utilisation sits below full capacity so a new pod is asked for before any pod
runs out of room or loses packets. Scaling down waits until the lower figure has held for a
stabilisation window, and happens only after the highest pod has been drained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vas_operator.placement import Capacity


@dataclass(frozen=True)
class Decision:
    replicas: int
    reason: str  # an Event reason: ScaleUp | ScaleDown | Steady
    message: str


def desired_replicas(
    cameras: int,
    viewers: int,
    capacity: Capacity,
    target: float,
    minimum: int,
    maximum: int,
) -> tuple[int, str]:
    """Pods needed for ``cameras`` mountpoints and ``viewers`` at ``target`` utilisation,
    within [minimum, maximum]; and which figure decided it."""
    by_cameras = math.ceil(cameras / (capacity.mountpoints * target)) if cameras else 0
    by_viewers = math.ceil(viewers / (capacity.viewers * target)) if viewers else 0
    need = max(by_cameras, by_viewers, minimum)
    why = (
        f"{viewers} viewers at {target:.0%} of {capacity.viewers} per pod"
        if by_viewers > by_cameras
        else f"{cameras} cameras at {target:.0%} of {capacity.mountpoints} per pod"
    )
    if need > maximum:
        return maximum, f"{why} need {need} pods; capped at the maximum {maximum}"
    return need, f"{why} need {need} pods" + (" (the minimum)" if need == minimum else "")


def decide(
    current: int,
    cameras: int,
    viewers: int,
    capacity: Capacity,
    target: float,
    minimum: int,
    maximum: int,
    low_since: float | None,
    now: float,
    stabilisation: float,
) -> tuple[Decision, float | None]:
    """The decision for this round and since when the pool has wanted fewer pods (carried to
    the next round). Up at once; down by one pod at a time, after ``stabilisation`` seconds."""
    want, why = desired_replicas(cameras, viewers, capacity, target, minimum, maximum)
    if want > current:
        return Decision(want, "ScaleUp", f"{current} → {want}: {why}"), None
    if want == current:
        return Decision(current, "Steady", why), None
    since = low_since if low_since is not None else now
    if now - since < stabilisation:
        return Decision(
            current, "Steady", f"{why}; waiting {stabilisation:g} s to scale down"
        ), since
    return Decision(current - 1, "ScaleDown", f"{current} → {current - 1}: {why}"), since
