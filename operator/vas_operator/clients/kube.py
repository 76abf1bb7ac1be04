"""Kubernetes writes the operator makes outside Kopf handlers: annotations, status, Events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vas_core.kube import Kube, core_path, custom_path
from vas_core.names import API_GROUP, API_VERSION, CAMERAS


async def annotate_camera(
    api: Kube, namespace: str, name: str, annotations: dict[str, Any]
) -> None:
    """Merge-patch annotations onto a Camera (used to re-trigger it when its Secret changes)."""
    path = custom_path(API_GROUP, API_VERSION, CAMERAS, namespace, name)
    await api.merge_patch(path, {"metadata": {"annotations": annotations}})


async def patch_status(
    api: Kube, plural: str, namespace: str, name: str, status: dict[str, Any]
) -> None:
    """Merge-patch the status subresource of one of our objects."""
    path = custom_path(API_GROUP, API_VERSION, plural, namespace, name) + "/status"
    await api.merge_patch(path, {"status": status})


async def post_event(api: Kube, ref: dict[str, str], type_: str, reason: str, message: str) -> None:
    """A core/v1 Event about one of our objects, for work done outside a Kopf handler (where
    kopf.event has no queue to post through)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{ref['name']}.", "namespace": ref["namespace"]},
        "involvedObject": {k: ref[k] for k in ("apiVersion", "kind", "name", "namespace", "uid")},
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": "vas-operator"},
        "reportingComponent": "vas.io/operator",
        "reportingInstance": "vas-operator",
    }
    await api.create(core_path("events", ref["namespace"]), event)
