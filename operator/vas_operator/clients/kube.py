"""Kubernetes writes the operator makes outside Kopf handlers: annotations, status, Events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client

from vas_core.names import API_GROUP, API_VERSION


async def annotate_camera(
    api: client.ApiClient, namespace: str, name: str, annotations: dict[str, Any]
) -> None:
    """Merge-patch annotations onto a Camera (used to re-trigger it when its Secret changes)."""
    await client.CustomObjectsApi(api).patch_namespaced_custom_object(  # type: ignore[call-arg]
        API_GROUP,
        API_VERSION,
        namespace,
        "cameras",
        name,
        {"metadata": {"annotations": annotations}},
        _content_type="application/merge-patch+json",
    )


async def patch_status(
    api: client.ApiClient, plural: str, namespace: str, name: str, status: dict[str, Any]
) -> None:
    """Merge-patch the status subresource of one of our objects."""
    await client.CustomObjectsApi(api).patch_namespaced_custom_object_status(  # type: ignore[call-arg]
        API_GROUP,
        API_VERSION,
        namespace,
        plural,
        name,
        {"status": status},
        _content_type="application/merge-patch+json",
    )


async def post_event(
    api: client.ApiClient, ref: dict[str, str], type_: str, reason: str, message: str
) -> None:
    """A core/v1 Event about one of our objects, for work done outside a Kopf handler (where
    kopf.event has no queue to post through)."""
    now = datetime.now(UTC)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{ref['name']}.", namespace=ref["namespace"]),
        involved_object=client.V1ObjectReference(
            api_version=ref["apiVersion"],
            kind=ref["kind"],
            name=ref["name"],
            namespace=ref["namespace"],
            uid=ref["uid"],
        ),
        type=type_,
        reason=reason,
        message=message[:1024],
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component="vas-operator"),
        reporting_component="vas.io/operator",
        reporting_instance="vas-operator",
    )
    await client.CoreV1Api(api).create_namespaced_event(ref["namespace"], event)
