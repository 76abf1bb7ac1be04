"""CameraGroup membership, kept current from indexes and written at most once per burst.

Every Camera or CameraGroup event only marks its namespace dirty; one syncer task waits for the
namespace to go quiet (or for a maximum delay), then recomputes each group there from the
indexes and writes status only where it changed. Applying 500 cameras at once costs a group
one or two status writes, not 500.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import kopf

from vas_operator import conditions as cond
from vas_operator import groups
from vas_operator.clients import kube
from vas_operator.groups import CameraFacts, GroupFacts
from vas_operator.metrics import GROUP_STATUS_WRITES
from vas_operator.models.common import API_GROUP, API_VERSION

CAMERAS = (API_GROUP, API_VERSION, "cameras")
CAMERA_GROUPS = (API_GROUP, API_VERSION, "cameragroups")
QUIET_SECONDS = 1.0
MAX_DELAY_SECONDS = 5.0


@kopf.index(*CAMERAS)
def camera_facts(
    namespace: str | None, name: str, labels: kopf.Labels, status: kopf.Status, **_: Any
) -> dict[str, CameraFacts]:
    ready = cond.get(status.get("conditions"), cond.READY) or {}
    facts = CameraFacts(
        name=name,
        labels=tuple(sorted(labels.items())),
        ready=ready.get("status") == "True",
        reason=str(ready.get("reason", "Pending")),
    )
    return {namespace or "": facts}


@kopf.index(*CAMERA_GROUPS)
def group_facts(
    namespace: str | None,
    name: str,
    uid: str,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    **_: Any,
) -> dict[str, GroupFacts]:
    facts = GroupFacts(
        name=name,
        uid=uid,
        generation=meta.get("generation"),
        selector=copy.deepcopy(dict(spec.get("selector") or {})),
        status=copy.deepcopy(dict(status)),
    )
    return {namespace or "": facts}


async def _mark(namespace: str | None, memo: kopf.Memo, kwargs: dict[str, Any]) -> None:
    shared = memo.shared
    # Indexes reach resource handlers only; the syncer reads these live views.
    shared["camera_facts"] = kwargs["camera_facts"]
    shared["group_facts"] = kwargs["group_facts"]
    shared["dirty_namespaces"].add(namespace or "")
    shared["group_wakeup"].set()


@kopf.on.event(*CAMERAS)
async def camera_changed(namespace: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    await _mark(namespace, memo, kwargs)


@kopf.on.event(*CAMERA_GROUPS)
async def group_changed(namespace: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    await _mark(namespace, memo, kwargs)


async def sync_groups(memo: kopf.Memo) -> None:
    """Flush dirty namespaces after QUIET_SECONDS without news, MAX_DELAY_SECONDS at most."""
    shared = memo.shared
    wakeup: asyncio.Event = shared["group_wakeup"]
    logger = logging.getLogger("vas.groups")
    loop = asyncio.get_running_loop()
    written: dict[str, dict[str, Any]] = {}
    while True:
        await wakeup.wait()
        first = loop.time()
        while loop.time() - first < MAX_DELAY_SECONDS:
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), timeout=QUIET_SECONDS)
            except TimeoutError:
                break
        wakeup.clear()
        dirty, shared["dirty_namespaces"] = shared["dirty_namespaces"], set()
        for namespace in dirty:
            try:
                await flush_namespace(memo, namespace, written)
            except Exception:
                logger.exception(f"updating CameraGroups in {namespace} failed; will retry")
                shared["dirty_namespaces"].add(namespace)
                wakeup.set()
                await asyncio.sleep(QUIET_SECONDS)


async def flush_namespace(
    memo: kopf.Memo, namespace: str, written: dict[str, dict[str, Any]]
) -> None:
    group_index = memo.shared.get("group_facts")
    camera_index = memo.shared.get("camera_facts")
    if group_index is None or camera_index is None:
        return
    cameras = list(camera_index.get(namespace, []))
    for group in list(group_index.get(namespace, [])):
        # Our own last write is newer than the index until its watch event arrives.
        current = GroupFacts(
            group.name,
            group.uid,
            group.generation,
            group.selector,
            written.get(group.uid) or group.status,
        )
        status = groups.group_status(current, cameras)
        if not groups.changed(current.status, status):
            continue
        await kube.patch_status(memo.api, "cameragroups", namespace, group.name, status)
        GROUP_STATUS_WRITES.inc()
        written[group.uid] = status
        before = cond.get(current.status.get("conditions"), cond.READY) or {}
        after = cond.get(status["conditions"], cond.READY) or {}
        if (before.get("status"), before.get("reason")) != (after["status"], after["reason"]):
            reference = {
                "apiVersion": f"{API_GROUP}/{API_VERSION}",
                "kind": "CameraGroup",
                "name": group.name,
                "namespace": namespace,
                "uid": group.uid,
            }
            await kube.post_event(
                memo.api,
                reference,
                "Normal" if after["status"] == "True" else "Warning",
                after["reason"],
                after["message"],
            )
