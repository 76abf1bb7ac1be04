"""CameraGroup membership, kept current from the watched Cameras and groups and written at
most once per burst.

Every change that matters to a group (labels, Ready, reason of a camera; a group's selector)
only marks its namespace dirty; one syncer task waits for the namespace to go quiet (or for a
maximum delay), then recomputes each group there in memory and writes status only where it
changed. Applying 500 cameras at once costs a group one or two status writes, not 500.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from vas_core.names import API_GROUP, API_VERSION
from vas_core.watch import Key
from vas_operator import conditions as cond
from vas_operator import groups
from vas_operator.clients import kube
from vas_operator.groups import GroupFacts
from vas_operator.metrics import GROUP_STATUS_WRITES
from vas_operator.watched import CameraView, Watched

QUIET_SECONDS = 1.0
MAX_DELAY_SECONDS = 5.0
log = logging.getLogger("vas.groups")


class GroupSyncer:
    def __init__(self, api: Any, watched: Watched) -> None:
        self.api, self.watched = api, watched
        self.dirty: set[str] = set()
        self.wakeup = asyncio.Event()
        self.written: dict[str, dict[str, Any]] = {}  # our last write per group uid
        watched.cameras.listeners.append(self.camera_changed)
        watched.groups.listeners.append(self.group_changed)

    def mark(self, namespace: str) -> None:
        self.dirty.add(namespace)
        self.wakeup.set()

    def camera_changed(
        self, kind: str, key: Key, old: CameraView | None, new: CameraView | None
    ) -> None:
        if (old.facts if old else None) != (new.facts if new else None):
            self.mark(key[0])

    def group_changed(
        self, kind: str, key: Key, old: GroupFacts | None, new: GroupFacts | None
    ) -> None:
        if new is None and old is not None:
            self.written.pop(old.uid, None)
        self.mark(key[0])

    async def run(self) -> None:
        """Flush dirty namespaces after QUIET_SECONDS without news, MAX_DELAY_SECONDS at most."""
        await asyncio.gather(self.watched.cameras.synced.wait(), self.watched.groups.synced.wait())
        self.dirty.update(ns for ns, _ in self.watched.groups.items)  # everything, once
        loop = asyncio.get_running_loop()
        while True:
            if not self.dirty:
                await self.wakeup.wait()
            first = loop.time()
            while loop.time() - first < MAX_DELAY_SECONDS:
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), timeout=QUIET_SECONDS)
                except TimeoutError:
                    break
            self.wakeup.clear()
            dirty, self.dirty = self.dirty, set()
            for namespace in dirty:
                try:
                    await self.flush(namespace)
                except Exception:
                    log.exception(f"updating CameraGroups in {namespace} failed; will retry")
                    self.mark(namespace)
                    await asyncio.sleep(QUIET_SECONDS)

    async def flush(self, namespace: str) -> None:
        cameras = [c.facts for c in self.watched.cameras_in(namespace)]
        members = [g for (ns, _), g in self.watched.groups.items.items() if ns == namespace]
        for group in members:
            # Our own last write is newer than the store until its watch event arrives.
            current = GroupFacts(
                group.name,
                group.uid,
                group.generation,
                group.selector,
                self.written.get(group.uid) or group.status,
            )
            status = groups.group_status(current, cameras)
            if not groups.changed(current.status, status):
                continue
            await kube.patch_status(self.api, "cameragroups", namespace, group.name, status)
            GROUP_STATUS_WRITES.inc()
            self.written[group.uid] = status
            await self.announce(namespace, current, status)

    async def announce(self, namespace: str, group: GroupFacts, status: dict[str, Any]) -> None:
        """An Event when the group's Ready condition changes."""
        before = cond.get(group.status.get("conditions"), cond.READY) or {}
        after = cond.get(status["conditions"], cond.READY) or {}
        if (before.get("status"), before.get("reason")) == (after["status"], after["reason"]):
            return
        reference = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "CameraGroup",
            "name": group.name,
            "namespace": namespace,
            "uid": group.uid,
        }
        await kube.post_event(
            self.api,
            reference,
            "Normal" if after["status"] == "True" else "Warning",
            after["reason"],
            after["message"],
        )
