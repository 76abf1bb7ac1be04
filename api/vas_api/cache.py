"""A watch-fed in-memory copy of Cameras and CameraGroups, so listings never call the API
server per request. List once, then watch from that resourceVersion; relist on 410 Gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from vas_api.summaries import summarize_camera, summarize_group

GROUP, VERSION = "vas.io", "v1alpha1"
log = logging.getLogger("vas_api.cache")

Key = tuple[str, str]


class ResourceCache:
    """Cameras and groups by (namespace, name), kept current by one watch per kind."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self.cameras: dict[Key, dict[str, Any]] = {}
        self.groups: dict[Key, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._synced_kinds: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run("cameras", self.cameras, summarize_camera)),
            asyncio.create_task(self._run("cameragroups", self.groups, summarize_group)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(
        self,
        plural: str,
        store: dict[Key, dict[str, Any]],
        summarize: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        api = client.CustomObjectsApi(self._api)
        while True:
            try:
                listed = await api.list_cluster_custom_object(GROUP, VERSION, plural)
                fresh = {_key(o): summarize(o) for o in listed["items"]}
                store.clear()
                store.update(fresh)
                self._synced_kinds.add(plural)
                if len(self._synced_kinds) == 2:
                    self.synced.set()
                version = listed["metadata"]["resourceVersion"]
                async with watch.Watch() as watcher:
                    async for event in watcher.stream(
                        api.list_cluster_custom_object,
                        GROUP,
                        VERSION,
                        plural,
                        resource_version=version,
                        timeout_seconds=300,
                        allow_watch_bookmarks=True,
                    ):
                        kind, obj = event["type"], event["object"]
                        if kind == "ERROR":
                            break  # usually 410 Gone: relist
                        if kind == "BOOKMARK":
                            continue
                        if kind == "DELETED":
                            store.pop(_key(obj), None)
                        else:
                            store[_key(obj)] = summarize(obj)
            except asyncio.CancelledError:
                raise
            except (ApiException, OSError, ValueError) as error:
                log.warning(f"watching {plural} failed ({error}); relisting in 1 s")
                await asyncio.sleep(1)
            except Exception:
                log.exception(f"watching {plural} failed; relisting in 1 s")
                await asyncio.sleep(1)


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]
