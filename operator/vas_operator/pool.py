"""The gateway pool as the operator runs it: which pods there are (a watch on the gateway
pods), what each one carries (one Janus ``list`` per pod, shared by every reconcile), and
where each camera is assigned.

The assignment is the operator's own record, rebuilt at start from what the gateways list
(each mountpoint carries its camera's namespace and name in metadata only the operator can
write, with an HMAC fingerprint), never from a Camera's status, which tenants can write.
Placement decisions are the pure functions of ``placement``.

A camera may have two mountpoints (its main stream and its sub-stream, each under an id derived
from its name); both always live on the same pod, move together and go together. Capacity is
counted in cameras, not mountpoints: ``VAS_GATEWAY_MAX_MOUNTPOINTS`` bounds the cameras a pod
carries (a sub-stream costs a pod far less than its main stream).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from vas_core.gateways import GatewayPod, members
from vas_core.identity import mountpoint_id, substream_id
from vas_core.watch import Key, WatchedStore
from vas_operator.clients.janus import JanusAdmin, JanusError
from vas_operator.directory import GatewayDirectory
from vas_operator.metrics import GATEWAY_MOUNTPOINTS, GATEWAY_PODS, GATEWAY_VIEWERS, MOVES
from vas_operator.mountpoints import MAIN, SUB, listed_meta, mountpoint_secret
from vas_operator.placement import Capacity, PodLoad, choose

log = logging.getLogger("vas.pool")
Publish = Callable[[int, str | None], Awaitable[None]]


class PoolUnknown(JanusError):
    """The operator does not know the gateway pool yet: like an unreachable gateway, retried."""


def mounted_stream(entry: dict[str, Any]) -> tuple[Key, str] | None:
    """The camera and stream (main or sub) a listed mountpoint was created for, if VAS
    created it: only a mountpoint under that stream's own derived id counts, so metadata
    naming another camera cannot claim its id."""
    meta = listed_meta(entry)
    namespace, name = meta.get("namespace"), meta.get("camera")
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    stream = SUB if meta.get("stream") == SUB else MAIN
    own_id = substream_id(namespace, name) if stream == SUB else mountpoint_id(namespace, name)
    return ((namespace, name), stream) if entry.get("id") == own_id else None


def mounted_camera(entry: dict[str, Any]) -> Key | None:
    """The camera a listed mountpoint (its main stream or its sub-stream) belongs to."""
    found = mounted_stream(entry)
    return found[0] if found is not None else None


def camera_ids(camera: Key) -> tuple[int, int]:
    """Both mountpoint ids a camera may have: its main stream's and its sub-stream's."""
    return mountpoint_id(*camera), substream_id(*camera)


def preferred(pods: list[GatewayPod]) -> GatewayPod:
    """Of several pods carrying one camera (a move cut short), the one to keep."""
    return min(pods, key=lambda p: (not p.open, p.ordinal, p.name))


class GatewayPool:
    def __init__(
        self,
        store: WatchedStore[GatewayPod],
        admin_secret: str,
        http: aiohttp.ClientSession,
        capacity: Capacity,
        mountpoint_key: str,
        publish: Publish | None = None,
        max_age: float = 2.0,
        unready_grace: float = 15.0,
        janus_timeout: float = 10.0,
        listing_age: float = 30.0,
    ) -> None:
        self.store, self.capacity, self.max_age = store, capacity, max_age
        # How old a listing may be for reads of what the operator did itself (holders of a
        # camera, adoption): the gateway watcher refreshes every pod's listing more often.
        self.listing_age = listing_age
        self.janus_timeout = janus_timeout
        self.unready_grace = unready_grace
        self._unready_since: dict[str, float] = {}
        store.listeners.append(self._pod_changed)
        self.assigned: dict[Key, str] = {}
        self._assigned_at: dict[Key, float] = {}
        self.viewers: dict[str, int] = {}  # per pod, from the facades (autoscaler)
        self.waiting: set[Key] = set()  # cameras no pod had room for
        self.adopted = asyncio.Event()
        self._admin_secret, self._http = admin_secret, http
        self._mountpoint_key = mountpoint_key
        self._publish = publish
        self._directories: dict[str, tuple[str, GatewayDirectory]] = {}

    def members(self) -> dict[str, GatewayPod]:
        return members(self.store)

    def _pod_changed(self, kind: str, key: Key, old: Any, new: GatewayPod | None) -> None:
        if new is None or new.ready:
            self._unready_since.pop(key[1], None)
        else:
            self._unready_since.setdefault(key[1], time.monotonic())

    def keeps(self, pod: GatewayPod) -> bool:
        """Whether the pod keeps its cameras: not being deleted, and ready or unready for less
        than the grace period (a Janus restarting in its pod gets its cameras back there,
        rather than every one of them moving and moving back)."""
        if pod.deleting:
            return False
        if pod.ready:
            return True
        since = self._unready_since.setdefault(pod.name, time.monotonic())
        return time.monotonic() - since < self.unready_grace

    def live(self) -> list[GatewayPod]:
        """The pods that keep their cameras (some may be briefly unready)."""
        return [p for p in self.members().values() if self.keeps(p)]

    def directory(self, pod: GatewayPod) -> GatewayDirectory:
        """The pod's listing; a new one when the pod's address changed (a new pod)."""
        known = self._directories.get(pod.name)
        if known is None or known[0] != pod.admin_url:
            janus = JanusAdmin(pod.admin_url, self._admin_secret, self._http, self.janus_timeout)
            known = (pod.admin_url, GatewayDirectory(janus, self.max_age))
            self._directories[pod.name] = known
        return known[1]

    def loads(self) -> list[PodLoad]:
        counts = Counter(self.assigned.values())
        return [
            PodLoad(
                p.name,
                p.ordinal,
                live=self.keeps(p),
                open=p.open,
                mountpoints=counts.get(p.name, 0),
                viewers=self.viewers.get(p.name, 0),
                draining=p.draining,
            )
            for p in self.members().values()
        ]

    async def adopt(self, answer_within: float = 10.0) -> None:
        """At start: assign each camera to the pod that already carries it. A pod that does not
        answer is skipped; its cameras are placed afresh and any duplicate removed later."""
        await self.store.synced.wait()
        holders: dict[Key, list[GatewayPod]] = {}

        async def listing(pod: GatewayPod) -> None:
            directory = self.directory(pod)
            try:
                listed = await asyncio.wait_for(directory.janus.list_mountpoints(), answer_within)
            except (JanusError, TimeoutError) as error:
                log.warning(f"gateway {pod.name} did not answer at start: {error}")
                return
            directory.put(listed)
            for entry in listed:
                camera = mounted_camera(entry)
                if camera is not None:
                    holders.setdefault(camera, []).append(pod)

        await asyncio.gather(*(listing(p) for p in self.members().values() if p.live))
        for camera, pods in holders.items():
            self.assigned[camera] = preferred(pods).name
            self._assigned_at[camera] = time.monotonic()
        log.info(f"adopted {len(self.assigned)} mountpoints on {len(self.live())} gateway pods")
        self.adopted.set()

    async def ready(self, within: float = 30.0) -> None:
        """Handlers wait for the start-up adoption (its listings are bounded by a timeout);
        raises PoolUnknown when the gateway pods could not even be listed in time."""
        try:
            await asyncio.wait_for(self.adopted.wait(), within)
        except TimeoutError:
            raise PoolUnknown(
                "the gateway pods are not listed yet (check VAS_GATEWAY_NAMESPACE, "
                "VAS_GATEWAY_SELECTOR and the operator's access to pods there)"
            ) from None

    def assignment(self, camera: Key) -> GatewayPod | None:
        """Where the camera is assigned, if that pod still keeps its cameras."""
        pod = self.members().get(self.assigned.get(camera, ""))
        return pod if pod is not None and self.keeps(pod) else None

    def place(self, camera: Key) -> GatewayPod | None:
        """Where the camera goes now (reserved at once, so a burst of cameras spreads); None
        when no pod has room."""
        name = choose(self.assigned.get(camera), self.loads(), self.capacity)
        if name is None:
            self.waiting.add(camera)
            self.assigned.pop(camera, None)
            return None
        self.waiting.discard(camera)
        previous = self.assigned.get(camera)
        if previous != name:
            if previous is not None:
                MOVES.inc()
            self.assigned[camera] = name
            self._assigned_at[camera] = time.monotonic()
        return self.members()[name]

    async def holders(self, camera: Key) -> list[GatewayPod]:
        """The live pods that list either of the camera's mountpoints (listings at most max_age
        old; a pod that does not answer is left out)."""
        out = []
        for pod in self.live():
            directory = self.directory(pod)
            try:
                for mp_id in camera_ids(camera):
                    if await directory.entry(mp_id, self.listing_age) is not None:
                        out.append(pod)
                        break
            except JanusError:
                continue
        return out

    async def carried(self, pod: GatewayPod) -> list[Key]:
        """The cameras whose mountpoints (either stream) the pod lists now (a fresh listing)."""
        directory = self.directory(pod)
        listed = await directory.janus.list_mountpoints()
        directory.put(listed)
        cameras = (camera for camera in map(mounted_camera, listed) if camera is not None)
        return list(dict.fromkeys(cameras))

    async def destroy_id(self, pod: GatewayPod, mp_id: int) -> bool:
        """Destroy one mountpoint on ``pod``; False when it was already gone."""
        directory = self.directory(pod)
        gone = await directory.janus.destroy(mp_id, mountpoint_secret(self._mountpoint_key, mp_id))
        directory.note(mp_id, None)
        return gone

    async def destroy(self, pod: GatewayPod, camera: Key, sub_only: bool = False) -> bool:
        """Destroy the camera's mountpoints on ``pod`` that its listing holds (both, or only the
        sub-stream's)."""
        main_id, sub_id = camera_ids(camera)
        directory = self.directory(pod)
        gone = False
        for mp_id in (sub_id,) if sub_only else (main_id, sub_id):
            if await directory.entry(mp_id, self.listing_age) is not None:
                gone = await self.destroy_id(pod, mp_id) or gone
        return gone

    async def settle(self, camera: Key, pod: GatewayPod, substream: bool = False) -> list[str]:
        """After the camera is mounted on ``pod`` (with its sub-stream when ``substream``): say
        so to the facades, then remove its other copies (a move: viewers of the old copy are
        told by Janus and reconnect to the new one) and a sub-stream it no longer has. Returns
        the pods it was removed from."""
        main_id, sub_id = camera_ids(camera)
        if self._publish is not None:
            await self._publish(main_id, pod.name)
            await self._publish(sub_id, pod.name if substream else None)
        removed = []
        for other in await self.holders(camera):
            try:
                if other.name != pod.name:
                    await self.destroy(other, camera)
                    removed.append(other.name)
                elif not substream:
                    await self.destroy(other, camera, sub_only=True)
            except JanusError as error:
                log.warning(f"could not remove {camera[1]} from {other.name}: {error}")
        return removed

    async def remove(self, camera: Key) -> bool:
        """Remove both of the camera's mountpoints from every pod that lists them and forget
        its assignment. Raises JanusError when a holder refused (the caller retries)."""
        self.release(camera)
        if self._publish is not None:
            for mp_id in camera_ids(camera):
                await self._publish(mp_id, None)
        removed = False
        for pod in await self.holders(camera):
            removed = await self.destroy(pod, camera) or removed
        return removed

    def release(self, camera: Key) -> None:
        self.assigned.pop(camera, None)
        self._assigned_at.pop(camera, None)
        self.waiting.discard(camera)

    def settled_for(self, camera: Key, now: float, grace: float = 30.0) -> bool:
        """Whether the assignment is old enough that the camera store, which may lag behind
        the handler that placed a new camera, must know the camera by now."""
        return now - self._assigned_at.get(camera, now) >= grace

    def report(self) -> None:
        """The pool's gauges."""
        states = Counter(
            "open" if p.open else "draining" if p.live else "unready"
            for p in self.members().values()
        )
        for state in ("open", "draining", "unready"):
            GATEWAY_PODS.labels(state).set(states.get(state, 0))
        GATEWAY_MOUNTPOINTS.clear()
        GATEWAY_VIEWERS.clear()
        for load in self.loads():
            GATEWAY_MOUNTPOINTS.labels(load.name).set(load.mountpoints)
            GATEWAY_VIEWERS.labels(load.name).set(load.viewers)
