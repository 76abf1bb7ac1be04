"""The gateway watcher: one Janus ``list`` per gateway pod per interval (and at once when a
pod leaves, drains or opens), compared with the cameras the pool assigns to each pod. It
re-triggers cameras (an annotation) rather than writing their status, so the Camera handler
stays the only writer and does the moving; it removes copies no camera should have (a move
cut short by a restart, a camera deleted while the operator was away), publishes where each
mountpoint is served for the facades, and writes live figures and thumbnails to Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from vas_core.gateways import GatewayPod
from vas_core.identity import mountpoint_id, substream_id
from vas_core.watch import Key
from vas_operator import health
from vas_operator.camera import Deps
from vas_operator.clients import kube
from vas_operator.clients.janus import JanusError
from vas_operator.clients.live import LiveWriter
from vas_operator.credentials import CredentialsError, CredentialsUnavailable
from vas_operator.metrics import RECREATIONS, WATCH_ROUND_SECONDS
from vas_operator.pool import mounted_camera
from vas_operator.probe import ProbeError
from vas_operator.sourcepolicy import SourceDenied
from vas_operator.watched import RECHECK, CameraView, Watched

log = logging.getLogger("vas.health")
YIELD_EVERY = 1000  # items a round handles before it lets other tasks run


def expected(cameras: list[CameraView]) -> list[health.Expected]:
    """The mountpoint ids come from the camera's identity, never from its status. The
    sub-stream is expected only while its condition says it was mounted: a broken sub-stream
    is the reconcile's to report, not a mountpoint to re-check every round."""
    return [
        health.Expected(
            c.namespace,
            c.name,
            mountpoint_id(c.namespace, c.name),
            c.ready_since,
            snapshot_seconds=c.snapshot_seconds,
            source=c.source,
            substream_id=substream_id(c.namespace, c.name) if c.substream_ready else None,
        )
        for c in cameras
    ]


class GatewayWatcher:
    def __init__(
        self,
        api: Any,
        deps: Deps,
        watched: Watched,
        interval: float,
        live: LiveWriter | None,
        thumbnail_limit: int,
    ) -> None:
        self.api, self.deps, self.watched, self.pool = api, deps, watched, deps.pool
        self.interval, self.live, self.thumbnail_limit = interval, live, thumbnail_limit
        self.last_round = asyncio.get_running_loop().time()  # health reads it
        self.wake = asyncio.Event()
        self.pool.store.listeners.append(self.pod_changed)
        self._thumbnail_at: dict[tuple[str, str], float] = {}
        self._thumbnails: asyncio.Task[None] | None = None
        self._rechecked: dict[tuple[str, str, str], float] = {}

    def pod_changed(
        self, kind: str, key: Key, old: GatewayPod | None, new: GatewayPod | None
    ) -> None:
        """A pod that leaves, drains or opens changes where cameras belong: look at once."""
        before = (old.live, old.open, old.ip) if old else None
        after = (new.live, new.open, new.ip) if new else None
        if before != after:
            self.wake.set()

    async def run(self) -> None:
        await self.watched.cameras.synced.wait()
        await self.pool.adopted.wait()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.interval)
            self.wake.clear()
            with WATCH_ROUND_SECONDS.time():
                await self.round()
            self.last_round = asyncio.get_running_loop().time()

    async def round(self) -> None:
        now = asyncio.get_running_loop().time()
        cameras = self.watched.cameras.items
        pods = self.pool.members()
        rechecks: list[health.Recheck] = []
        on_pod: dict[str, list[CameraView]] = {}
        for i, (key, name) in enumerate(list(self.pool.assigned.items())):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # thousands of cameras: let reconciles run meanwhile
            view = cameras.get(key)
            pod = pods.get(name)
            if view is None:
                if self.pool.settled_for(key, now):
                    self.pool.release(key)  # deleted; its copy goes in the sweep below
            elif pod is None or not self.pool.keeps(pod):
                rechecks.append(health.Recheck(*key, "GatewayGone"))
            elif pod.draining:
                rechecks.append(health.Recheck(*key, "GatewayDraining"))
            elif view.phase == "Ready":
                on_pod.setdefault(name, []).append(view)
        if any(load.has_room(self.pool.capacity) for load in self.pool.loads()):
            rechecks += [health.Recheck(*key, "GatewayCapacity") for key in self.pool.waiting]

        live = self.pool.live()
        listings = await asyncio.gather(*(self.listing(pod) for pod in live))
        listed_by = {
            pod.name: {entry.get("id") for entry in listed or ()}
            for pod, listed in zip(live, listings, strict=True)
        }
        served: dict[int, str] = {}
        expected_all: list[health.Expected] = []
        for pod, listed in zip(live, listings, strict=True):
            cams = expected(on_pod.get(pod.name, []))
            expected_all += cams
            rechecks += health.decide(cams, listed)
            if listed is None:
                continue
            served.update(await self.sweep(pod, listed, listed_by))
            if self.live is not None:
                ttl = int(self.interval * 3) + 1
                await self.live.figures(health.live_figures(cams, listed, pod.name), ttl)
        if self.live is not None:
            await self.live.placements(served)
            if expected_all and (self._thumbnails is None or self._thumbnails.done()):
                self._thumbnails = asyncio.create_task(self.refresh_thumbnails(expected_all))
        self.pool.report()
        await self.recheck(rechecks, now)

    async def listing(self, pod: GatewayPod) -> list[dict[str, Any]] | None:
        directory = self.pool.directory(pod)
        try:
            listed = await directory.janus.list_mountpoints()
        except JanusError as error:
            log.warning(f"gateway {pod.name} did not answer: {error}")
            return None
        directory.put(listed)
        return listed

    async def sweep(
        self,
        pod: GatewayPod,
        listed: list[dict[str, Any]],
        listed_by: dict[str, set[Any]],
    ) -> dict[int, str]:
        """Remove the copies on ``pod`` that no camera should have there: a camera assigned to
        another pod that lists it too (a move cut short), or a camera that is gone or disabled
        and assigned nowhere. Returns what ``pod`` rightly serves, {mountpoint id: pod}."""
        served: dict[int, str] = {}
        cameras = self.watched.cameras.items
        for i, entry in enumerate(listed):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            camera = mounted_camera(entry)
            if camera is None:
                continue
            home = self.pool.assigned.get(camera)
            if home == pod.name:
                served[entry["id"]] = pod.name
                continue
            if home is not None:
                stale = entry["id"] in listed_by.get(home, ())
                why = f"a duplicate of the copy on {home}"
            else:
                view = cameras.get(camera)
                stale = view is None or not view.enabled
                why = "its camera is gone" if view is None else "its camera is disabled"
            if stale:
                log.info(f"removing {camera[0]}/{camera[1]} from {pod.name}: {why}")
                with contextlib.suppress(JanusError):
                    await self.pool.destroy_id(pod, entry["id"])
        return served

    async def recheck(self, rechecks: list[health.Recheck], now: float) -> None:
        """Annotate each camera at most once per reason every couple of rounds: its reconcile
        does the work (and may still be busy with the last nudge)."""
        quiet = max(self.interval * 2, 4.0)
        for recheck in rechecks:
            key = (recheck.namespace, recheck.name, recheck.reason)
            if now - self._rechecked.get(key, -quiet) < quiet:
                continue
            self._rechecked[key] = now
            RECREATIONS.labels(recheck.reason).inc()
            log.info(f"re-checking Camera {recheck.namespace}/{recheck.name}: {recheck.reason}")
            stamp = f"{recheck.reason}@{datetime.now(UTC).isoformat(timespec='seconds')}"
            try:
                await kube.annotate_camera(
                    self.api, recheck.namespace, recheck.name, {RECHECK: stamp}
                )
            except Exception as error:  # the camera may be gone by now
                log.warning(f"could not re-check {recheck.name}: {type(error).__name__}")
        for key in [k for k, at in self._rechecked.items() if now - at > quiet * 10]:
            del self._rechecked[key]

    async def refresh_thumbnails(self, cams: list[health.Expected]) -> None:
        """Decode one keyframe per camera whose thumbnail is due, a pool's worth at most."""
        now = asyncio.get_running_loop().time()
        due = health.thumbnails_due(cams, self._thumbnail_at, now, self.thumbnail_limit)
        await asyncio.gather(*(self.thumbnail(cam, now) for cam in due))

    async def thumbnail(self, cam: health.Expected, now: float) -> None:
        assert self.live is not None
        self._thumbnail_at[(cam.namespace, cam.name)] = now
        source = dict(cam.source)
        ref = source.get("credentialsSecretRef") or {}
        try:
            await self.deps.source_policy.check_url(source["url"])
            credentials = (
                await self.deps.read_credentials(cam.namespace, ref["name"])
                if ref.get("name")
                else None
            )
            facts = await self.deps.prober.probe(
                source["url"], source.get("transport", "tcp"), credentials, want_thumbnail=True
            )
        except (SourceDenied, CredentialsError, CredentialsUnavailable, ProbeError) as error:
            # The camera's reconcile reports failures; a thumbnail just waits for next time.
            log.debug(f"no thumbnail for {cam.name}: {type(error).__name__}")
            return
        if facts.keyframe_jpeg:
            ttl = max(cam.snapshot_seconds * 3, 60)
            await self.live.thumbnail(cam.namespace, cam.name, facts.keyframe_jpeg, ttl)
