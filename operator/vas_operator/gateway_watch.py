"""The gateway watcher: one Janus ``list`` per gateway per interval, compared with the cameras
whose status says they are mounted there. It re-triggers cameras (an annotation) rather than
writing their status, so the Camera handler stays the only writer; it also writes live
figures and thumbnails to Redis."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from vas_core.identity import mountpoint_id
from vas_operator import health
from vas_operator.camera import Deps
from vas_operator.clients import kube
from vas_operator.clients.janus import JanusError
from vas_operator.clients.live import LiveWriter
from vas_operator.credentials import CredentialsError, CredentialsUnavailable
from vas_operator.placement import Gateway
from vas_operator.probe import ProbeError
from vas_operator.sourcepolicy import SourceDenied
from vas_operator.watched import RECHECK, CameraView, Watched

log = logging.getLogger("vas.health")


def expected(cameras: list[CameraView]) -> list[health.Expected]:
    """The mountpoint id comes from the camera's identity, never from its status."""
    return [
        health.Expected(
            c.namespace,
            c.name,
            mountpoint_id(c.namespace, c.name),
            c.ready_since,
            snapshot_seconds=c.snapshot_seconds,
            source=c.source,
        )
        for c in cameras
    ]


class GatewayWatcher:
    def __init__(
        self,
        api: Any,
        deps: Deps,
        watched: Watched,
        gateway: Gateway,
        interval: float,
        live: LiveWriter | None,
        thumbnail_limit: int,
    ) -> None:
        self.api, self.deps, self.watched, self.gateway = api, deps, watched, gateway
        self.interval, self.live, self.thumbnail_limit = interval, live, thumbnail_limit
        self.last_round = asyncio.get_running_loop().time()  # health reads it
        self._thumbnail_at: dict[tuple[str, str], float] = {}
        self._thumbnails: asyncio.Task[None] | None = None

    async def run(self) -> None:
        await self.watched.cameras.synced.wait()
        while True:
            await asyncio.sleep(self.interval)
            await self.round()
            self.last_round = asyncio.get_running_loop().time()

    async def round(self) -> None:
        cams = expected(self.watched.mounted_on(self.gateway.name))
        if not cams:
            return
        directory = self.deps.directory_for(self.gateway)
        try:
            listed: list[dict[str, Any]] | None = await directory.janus.list_mountpoints()
        except JanusError as error:
            log.warning(f"gateway {self.gateway.name} did not answer: {error}")
            listed = None
        if listed is not None:
            directory.put(listed)
            if self.live is not None:
                ttl = int(self.interval * 3) + 1
                await self.live.figures(health.live_figures(cams, listed, self.gateway.name), ttl)
                if self._thumbnails is None or self._thumbnails.done():
                    self._thumbnails = asyncio.create_task(self.refresh_thumbnails(cams))
        for recheck in health.decide(cams, listed):
            log.info(f"re-checking Camera {recheck.namespace}/{recheck.name}: {recheck.reason}")
            stamp = f"{recheck.reason}@{datetime.now(UTC).isoformat(timespec='seconds')}"
            try:
                await kube.annotate_camera(
                    self.api, recheck.namespace, recheck.name, {RECHECK: stamp}
                )
            except Exception as error:  # the camera may be gone by now
                log.warning(f"could not re-check {recheck.name}: {type(error).__name__}")

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
