"""A watch-fed in-memory copy of Cameras and CameraGroups, so listings never call the API
server per request, with a listing index over each kept current by the same watch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from vas_api.index import ListingIndex
from vas_api.models import CameraSummary, GroupSummary
from vas_api.summaries import summarize_camera, summarize_group
from vas_core.kube import Kube, custom_path
from vas_core.memory import trim, trim_after_bursts
from vas_core.names import API_GROUP, API_VERSION, CAMERA_GROUPS, CAMERAS
from vas_core.watch import Key, WatchedStore


class ResourceCache:
    """Cameras and groups by (namespace, name), kept current by one watch per kind."""

    def __init__(self, api: Kube) -> None:
        def store(plural: str, summarize: Any) -> WatchedStore[dict[str, Any]]:
            path = custom_path(API_GROUP, API_VERSION, plural)
            return WatchedStore(api, path, summarize, what=plural)

        self._stores = (store(CAMERAS, summarize_camera), store(CAMERA_GROUPS, summarize_group))
        self.camera_index = ListingIndex(self._stores[0], serializer(CameraSummary))
        self.group_index = ListingIndex(self._stores[1], serializer(GroupSummary))
        self.changes = 0  # watch events heard since the first listing
        for s in self._stores:
            s.listeners.append(self._heard)

    def _heard(self, *_: Any) -> None:
        self.changes += 1

    async def keep_compact(self) -> None:
        """Once synced, build the indexes and freeze what they hold (``vas_core.memory``); then
        again after each burst of changes. At 100,000 cameras the cache and its indexes are
        millions of objects: left to the collector, every full collection walks them all, a
        pause every request behind it waits out."""
        await asyncio.gather(*(s.synced.wait() for s in self._stores))
        self.namespaces()  # builds both indexes
        trim()
        await trim_after_bursts(lambda: self.changes)

    @property
    def cameras(self) -> dict[Key, dict[str, Any]]:
        return self._stores[0].items

    @property
    def groups(self) -> dict[Key, dict[str, Any]]:
        return self._stores[1].items

    def namespaces(self) -> list[str]:
        """The namespaces holding a camera or a group, in order, from the indexes: the
        namespaces a viewer's list rights are checked in, without a pass over every key."""
        return sorted({*self.camera_index.namespaces(), *self.group_index.namespaces()})

    @property
    def synced(self) -> bool:
        return all(s.synced.is_set() for s in self._stores)

    def start(self) -> None:
        for s in self._stores:
            s.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self._stores))


def serializer(model: type[BaseModel]) -> Callable[[dict[str, Any]], bytes]:
    """A summary as the list answer's model renders it (what FastAPI's response_model would
    make of it), for the index to keep per item instead of validating every page again."""

    def render(item: dict[str, Any]) -> bytes:
        return model.model_validate(item).model_dump_json(by_alias=True).encode()

    return render
