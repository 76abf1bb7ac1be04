"""A watch-fed in-memory copy of Cameras and CameraGroups, so listings never call the API
server per request."""

from __future__ import annotations

import asyncio
from typing import Any

from vas_api.summaries import summarize_camera, summarize_group
from vas_core.kube import Kube, custom_path
from vas_core.names import API_GROUP, API_VERSION, CAMERA_GROUPS, CAMERAS
from vas_core.watch import Key, WatchedStore


class ResourceCache:
    """Cameras and groups by (namespace, name), kept current by one watch per kind."""

    def __init__(self, api: Kube) -> None:
        def store(plural: str, summarize: Any) -> WatchedStore[dict[str, Any]]:
            path = custom_path(API_GROUP, API_VERSION, plural)
            return WatchedStore(api, path, summarize, what=plural)

        self._stores = (store(CAMERAS, summarize_camera), store(CAMERA_GROUPS, summarize_group))

    @property
    def cameras(self) -> dict[Key, dict[str, Any]]:
        return self._stores[0].items

    @property
    def groups(self) -> dict[Key, dict[str, Any]]:
        return self._stores[1].items

    @property
    def synced(self) -> bool:
        return all(s.synced.is_set() for s in self._stores)

    def start(self) -> None:
        for s in self._stores:
            s.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self._stores))
