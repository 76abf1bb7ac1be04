"""Kubernetes calls the operator makes itself (Kopf handles the watching): Secrets, patches."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from vas_core.names import API_GROUP, API_VERSION


class SecretError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def read_secret_keys(
    api: client.ApiClient, namespace: str, name: str, keys: tuple[str, ...]
) -> dict[str, str]:
    """The named keys of a Secret, decoded. Raises SecretError with a condition reason."""
    try:
        secret = await client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    except ApiException as error:
        if error.status == 404:
            raise SecretError(
                "SecretNotFound", f"Secret {namespace}/{name} does not exist"
            ) from None
        if error.status == 403:
            raise SecretError(
                "SecretForbidden", f"the operator may not read Secret {namespace}/{name}"
            ) from None
        raise SecretError(
            "SecretUnreadable", f"reading Secret {namespace}/{name} failed: HTTP {error.status}"
        ) from None
    data = secret.data or {}
    missing = [k for k in keys if k not in data]
    if missing:
        raise SecretError(
            "SecretKeyMissing", f"Secret {namespace}/{name} has no key {', '.join(missing)}"
        )
    return {k: base64.b64decode(data[k]).decode() for k in keys}


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
