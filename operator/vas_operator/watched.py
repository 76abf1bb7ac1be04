"""What the operator's background loops know about Cameras, CameraGroups and credentials
Secrets: list+watch stores of small frozen views, fed by the API server.

These replace Kopf indexes. Kopf makes every resource handler wait until all indexes hold
every object; with a bounded worker pool (``queueing.worker_limit``) the objects beyond the
limit never get a worker to be indexed in, so with more existing Cameras than workers the
operator reconciled nothing (issue 14). The stores fill on their own tasks and never hold a
Kopf worker; handlers never wait for them.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vas_core.kube import Kube, core_path, custom_path
from vas_core.names import (
    API_GROUP,
    API_VERSION,
    CAMERA_GROUPS,
    CAMERAS,
    CREDENTIALS_SECRET_TYPE,
)
from vas_core.watch import StoreGroup, WatchedStore, is_literal
from vas_operator import conditions as cond
from vas_operator.groups import CameraFacts, GroupFacts

SECRET_REVISION = f"{API_GROUP}/credentials-revision"
RECHECK = f"{API_GROUP}/recheck"


@dataclass(frozen=True)
class CameraView:
    """One Camera as the background loops see it. Its status is the operator's own record but
    writable by anyone with ``cameras/status``: it only ever decides what to re-check, never
    where media goes (the mountpoint id comes from the camera's identity)."""

    namespace: str
    name: str
    generation: int
    labels: tuple[tuple[str, str], ...]
    ready: bool
    reason: str
    phase: str
    enabled: bool
    ready_since: str | None
    secret: str | None  # spec.source.credentialsSecretRef.name
    sub_secret: str | None  # spec.substream.credentialsSecretRef.name
    substream_ready: bool  # spec.substream is set and its condition says it is mounted
    triggers: tuple[str | None, str | None]  # the re-check annotations
    snapshot_seconds: int
    source: tuple[tuple[str, Any], ...]

    @property
    def facts(self) -> CameraFacts:
        return CameraFacts(self.name, self.labels, self.ready, self.reason)


def camera_view(obj: dict[str, Any]) -> CameraView:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    status = obj.get("status") or {}
    source = spec.get("source") or {}
    substream = spec.get("substream") or {}
    ready = cond.get(status.get("conditions"), cond.READY) or {}
    sub_ready = cond.get(status.get("conditions"), cond.SUBSTREAM_READY) or {}
    phase = str(status.get("phase") or "")
    annotations = meta.get("annotations") or {}
    return CameraView(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        generation=int(meta.get("generation") or 0),
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        ready=ready.get("status") == "True",
        reason=str(ready.get("reason", "Pending")),
        phase=phase,
        enabled=spec.get("enabled", True) is not False,
        ready_since=ready.get("lastTransitionTime"),
        secret=(source.get("credentialsSecretRef") or {}).get("name"),
        sub_secret=(substream.get("credentialsSecretRef") or {}).get("name"),
        substream_ready=bool(substream) and sub_ready.get("status") == "True",
        triggers=(annotations.get(SECRET_REVISION), annotations.get(RECHECK)),
        snapshot_seconds=int((spec.get("snapshot") or {}).get("intervalSeconds", 0)),
        source=tuple(sorted(source.items(), key=lambda kv: kv[0])),
    )


def group_view(obj: dict[str, Any]) -> GroupFacts:
    meta = obj["metadata"]
    return GroupFacts(
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=meta.get("generation"),
        selector=dict((obj.get("spec") or {}).get("selector") or {}),
        status=dict(obj.get("status") or {}),
    )


def secret_view(obj: dict[str, Any]) -> str:
    """Only the revision: the operator never keeps a Secret's data."""
    return str(obj["metadata"].get("resourceVersion", ""))


def in_scope(namespaces: Sequence[str], namespace: str) -> bool:
    """The operator's namespaces (globs allowed, as for Kopf); none means all."""
    return not namespaces or any(fnmatch.fnmatchcase(namespace, p) for p in namespaces)


class Watched:
    """The three stores, scoped to the operator's namespaces: one watch per namespace when
    they are all names (RBAC may grant the operator nothing cluster-wide, Secrets least of
    all), else one cluster-wide watch filtered here (globs, or every namespace)."""

    def __init__(self, api: Kube, namespaces: Sequence[str] = ()) -> None:
        def scoped(view: Any) -> Any:
            def summarize(obj: dict[str, Any]) -> Any:
                namespace = obj["metadata"].get("namespace", "")
                return view(obj) if in_scope(namespaces, namespace) else None

            return summarize

        where: list[str | None] = [None]
        if namespaces and all(is_literal(ns) for ns in namespaces):
            where = list(dict.fromkeys(namespaces))

        def group(path: Any, view: Any, what: str, **selectors: str) -> StoreGroup[Any]:
            stores: list[WatchedStore[Any]] = [
                WatchedStore(api, path(ns), scoped(view), what=what, **selectors) for ns in where
            ]
            return StoreGroup(stores, what)

        def ours(plural: str) -> Any:
            return lambda ns: custom_path(API_GROUP, API_VERSION, plural, ns)

        self.cameras: StoreGroup[CameraView] = group(ours(CAMERAS), camera_view, CAMERAS)
        self.groups: StoreGroup[GroupFacts] = group(ours(CAMERA_GROUPS), group_view, CAMERA_GROUPS)
        # A field selector on the type: other Secrets never reach this process.
        self.secrets: StoreGroup[str] = group(
            lambda ns: core_path("secrets", ns),
            secret_view,
            "credentials Secrets",
            field_selector=f"type={CREDENTIALS_SECRET_TYPE}",
        )
        self.all = (self.cameras, self.groups, self.secrets)

    def start(self) -> None:
        for store in self.all:
            store.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.all))

    def unsynced(self) -> list[str]:
        return [s.what for s in self.all if not s.synced.is_set()]

    def cameras_in(self, namespace: str) -> list[CameraView]:
        return [c for (ns, _), c in self.cameras.items.items() if ns == namespace]
