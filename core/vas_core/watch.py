"""A list+watch store: one kind of object by (namespace, name), kept current by the API
server's watch, relisted on 410 Gone or any error.

Both processes keep what they need of our objects this way instead of asking the API server
per request (the facade) or relying on Kopf's indexes (the operator: Kopf holds every resource
handler until all indexes are filled, which with a bounded worker pool never happens once
there are more objects than workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from vas_core.kube import Kube, KubeError

T = TypeVar("T")
Key = tuple[str, str]
# (event type, key, old value, new value); old or new is None when there is none.
Listener = Callable[[str, Key, Any, Any], None]
LIST_PAGE = 500

log = logging.getLogger("vas.watch")


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


class WatchedStore(Generic[T]):
    """``items`` holds ``summarize(obj)`` for every object the selectors admit (objects it maps
    to None are left out). ``synced`` is set once the first full listing is in; listeners hear
    every change after that, and a relist reports only what really changed."""

    def __init__(
        self,
        api: Kube,
        path: str,
        summarize: Callable[[dict[str, Any]], T | None],
        *,
        what: str,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> None:
        self._api = api
        self._path = path  # the collection, e.g. /apis/vas.io/v1alpha1/cameras
        self._summarize = summarize
        self._selectors = {
            k: v
            for k, v in (("fieldSelector", field_selector), ("labelSelector", label_selector))
            if v
        }
        self.what = what
        self.items: dict[Key, T] = {}
        self.synced = asyncio.Event()
        self.listeners: list[Listener] = []
        # When the watch last delivered anything (or was last (re)started): health reads it.
        self.last_contact = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"watch {self.what}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _apply(self, kind: str, key: Key, value: T | None) -> None:
        old = self.items.get(key)
        if value is None:
            if key not in self.items:
                return
            del self.items[key]
            kind = "DELETED"
        else:
            self.items[key] = value
        for listener in self.listeners:
            listener(kind, key, old, value)

    def _replace(self, fresh: dict[Key, T]) -> None:
        if not self.synced.is_set():
            self.items = fresh  # nobody has seen anything yet: no news to report
            return
        for key in [k for k in self.items if k not in fresh]:
            self._apply("DELETED", key, None)
        for key, value in fresh.items():
            if self.items.get(key) != value:
                self._apply("MODIFIED", key, value)

    async def _list(self) -> tuple[dict[Key, T], str]:
        """Every object, summarized, and the resourceVersion to watch from. In pages, so that
        10,000 objects never sit in memory as full JSON at once."""
        fresh: dict[Key, T] = {}
        token: str | None = None
        while True:
            page = await self._api.get(
                self._path, limit=LIST_PAGE, **{"continue": token}, **self._selectors
            )
            for obj in page.get("items") or []:
                value = self._summarize(obj)
                if value is not None:
                    fresh[key_of(obj)] = value
            token = page["metadata"].get("continue")
            if not token:
                return fresh, page["metadata"]["resourceVersion"]

    async def run(self) -> None:
        while True:
            try:
                fresh, listed_version = await self._list()
                self._replace(fresh)
                self.synced.set()
                self.last_contact = time.monotonic()
                version: str | None = listed_version
                while version is not None:  # the server ends each watch after a while
                    version = await self._watch(version)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, KubeError, OSError, ValueError) as error:
                log.warning(f"watching {self.what} failed ({error}); relisting in 1 s")
                await asyncio.sleep(1)
            except Exception:
                log.exception(f"watching {self.what} failed; relisting in 1 s")
                await asyncio.sleep(1)

    async def _watch(self, version: str) -> str | None:
        """Apply events from ``version`` on; the version to resume from, None to relist."""
        async for event in self._api.watch(
            self._path,
            resourceVersion=version,
            timeoutSeconds=300,
            allowWatchBookmarks="true",
            **self._selectors,
        ):
            self.last_contact = time.monotonic()
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                return None  # usually 410 Gone: relist
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            if kind == "BOOKMARK":
                continue
            value = None if kind == "DELETED" else self._summarize(obj)
            self._apply(str(kind), key_of(obj), value)
        return version


class AllSynced:
    """Set once each of several stores' ``synced`` is (the Event interface the loops use)."""

    def __init__(self, events: list[asyncio.Event]) -> None:
        self._events = events

    def is_set(self) -> bool:
        return all(e.is_set() for e in self._events)

    async def wait(self) -> bool:
        for event in self._events:
            await event.wait()
        return True


class StoreGroup(Generic[T]):
    """Several stores read as one: an operator confined to a few namespaces watches each of
    them (RBAC may grant nothing cluster-wide) and its loops see one store. Keys carry their
    namespace, so the stores never overlap."""

    def __init__(self, stores: list[WatchedStore[T]], what: str) -> None:
        self.stores = stores
        self.what = what
        self.listeners: list[Listener] = []
        for store in stores:
            store.listeners = self.listeners  # one list, heard by every store
        self.synced = AllSynced([s.synced for s in stores])

    @property
    def items(self) -> Mapping[Key, T]:
        if len(self.stores) == 1:
            return self.stores[0].items
        return ChainMap(*(s.items for s in self.stores))

    @property
    def last_contact(self) -> float:
        return min(s.last_contact for s in self.stores)

    def start(self) -> None:
        for store in self.stores:
            store.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.stores))


def is_literal(namespace: str) -> bool:
    """A namespace name, not a glob pattern."""
    return not any(ch in namespace for ch in "*?[")
