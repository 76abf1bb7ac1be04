"""What the facade keeps of each object: enough to list, filter and show, nothing secret
(Camera specs hold no credentials; Secret names are not even kept)."""

from __future__ import annotations

from typing import Any

INTERNAL_ANNOTATION_PREFIXES = ("operator.vas.io/", "vas.io/", "kubectl.kubernetes.io/")


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return {}


def has_substream(spec: Any) -> bool:
    """Whether a Camera's spec names a second, lower-resolution source (``spec.substream.url``),
    which the operator mounts under ``vas_core.identity.substream_id``. Read from the spec, like
    everything signalling trusts; whether it plays yet is the status's business."""
    substream = spec.get("substream") if isinstance(spec, dict) else None
    return isinstance(substream, dict) and isinstance(substream.get("url"), str)


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) and value else None


def summarize_camera(obj: dict[str, Any]) -> dict[str, Any]:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    status = obj.get("status") or {}
    stream = status.get("stream") or {}
    gateway: dict[str, Any] = status.get("gateway") or {}
    if not isinstance(gateway, dict):
        gateway = {}
    ready = _condition(obj, "Ready")
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "labels": dict(meta.get("labels") or {}),
        "annotations": {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if not k.startswith(INTERNAL_ANNOTATION_PREFIXES)
        },
        "createdAt": meta.get("creationTimestamp"),
        "description": spec.get("description"),
        "location": spec.get("location"),
        "url": (spec.get("source") or {}).get("url"),
        "enabled": spec.get("enabled", True),
        "spec": spec,
        "phase": status.get("phase") or "Pending",
        "ready": ready.get("status") == "True",
        "reason": ready.get("reason"),
        "message": ready.get("message"),
        "conditions": status.get("conditions") or [],
        "stream": stream or None,
        # The wall plays the sub-stream when there is one; both resolutions are for people.
        "hasSubstream": has_substream(spec),
        "substream": _dict(status.get("substream")),
        # Shown to people only: routing and authorisation never read the status (a tenant
        # who may write cameras/status could point it anywhere).
        "gateway": gateway.get("pod") if isinstance(gateway.get("pod"), str) else None,
        "mounted": gateway.get("mountpointId") is not None,
    }


def summarize_group(obj: dict[str, Any]) -> dict[str, Any]:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    status = obj.get("status") or {}
    ready = _condition(obj, "Ready")
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "description": spec.get("description"),
        "selector": spec.get("selector") or {},
        "layout": spec.get("layout") or {},
        "members": status.get("members"),
        "readyMembers": status.get("readyMembers"),
        "ready": ready.get("status") == "True",
        "reason": ready.get("reason"),
        "message": ready.get("message"),
    }
