"""Which gateway pod a camera goes to: pure functions over the pool's loads.

Stable: a camera stays on its pod while that pod is live and not draining (a pod briefly
unready, e.g. its Janus restarting, still counts as live for a grace period), so a joining pod
moves nothing and a leaving pod moves only its own cameras. New (and displaced) cameras go to
the least-utilised open pod with room, utilisation counting mountpoints and viewers against
the pod's capacity; ties go to the lowest ordinal, so the highest pod empties first and is the
one a scale-down removes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Capacity:
    mountpoints: int  # per pod, hard: never placed beyond
    viewers: int  # per pod, soft: counts towards utilisation, never refuses a camera


@dataclass(frozen=True)
class PodLoad:
    name: str
    ordinal: int
    live: bool  # not being deleted, and ready or unready only briefly: keeps its cameras
    open: bool  # ready and not draining: may take cameras
    mountpoints: int = 0
    viewers: int = 0
    draining: bool = False  # gives its cameras away when another pod has room

    @property
    def keeps(self) -> bool:
        return self.live and not self.draining

    def utilisation(self, capacity: Capacity) -> float:
        return max(self.mountpoints / capacity.mountpoints, self.viewers / capacity.viewers)

    def has_room(self, capacity: Capacity) -> bool:
        return self.open and self.mountpoints < capacity.mountpoints


def least_loaded(pods: Iterable[PodLoad], capacity: Capacity) -> PodLoad | None:
    """The open pod with room and the lowest utilisation (then the lowest ordinal)."""
    roomy = [p for p in pods if p.has_room(capacity)]
    return min(roomy, key=lambda p: (p.utilisation(capacity), p.ordinal, p.name), default=None)


def choose(current: str | None, pods: Sequence[PodLoad], capacity: Capacity) -> str | None:
    """Where one camera should be, given where it is now (``pods`` counts it there). None when
    no pod can take it: it waits for the pool to grow."""
    here = next((p for p in pods if p.name == current), None)
    if here is not None and here.keeps:
        return here.name
    target = least_loaded(pods, capacity)
    if target is None:
        return here.name if here is not None and here.live else None  # a draining pod keeps it
    return target.name


def rebalance(
    assignment: Mapping[K, str], cameras: Iterable[K], pods: Sequence[PodLoad], capacity: Capacity
) -> dict[K, str | None]:
    """Where every camera goes: each keeps its open pod up to the pod's capacity (in key order);
    the others, taken in key order, go to the least-loaded open pod with room, else stay on a
    live (draining) pod with room, else wait (None). ``pods`` carry their viewers; mountpoints are
    counted here from the assignment."""
    loads = {p.name: replace(p, mountpoints=0) for p in pods}
    out: dict[K, str | None] = {}
    displaced: list[K] = []
    for camera in sorted(cameras, key=repr):
        pod = loads.get(assignment.get(camera, ""))
        if pod is not None and pod.keeps and pod.mountpoints < capacity.mountpoints:
            loads[pod.name] = replace(pod, mountpoints=pod.mountpoints + 1)
            out[camera] = pod.name
        else:
            displaced.append(camera)
    for camera in displaced:
        target = least_loaded(loads.values(), capacity)
        if target is None:
            here = loads.get(assignment.get(camera, ""))
            stays = here is not None and here.live and here.mountpoints < capacity.mountpoints
            target = here if stays else None
        if target is not None:
            loads[target.name] = replace(target, mountpoints=target.mountpoints + 1)
        out[camera] = target.name if target is not None else None
    return out
