"""Camera handlers: validate the body into a model, call camera.reconcile, and turn the
Outcome into a status patch, an Event and a retry decision. The loops that re-trigger cameras
(gateway watcher, Secret watch) live outside Kopf and hold no Kopf worker, and so does the
removal of a deleted Camera's mountpoints (``lifecycle.track_deletions``): Cameras carry no
finalizer."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from pydantic import ValidationError

from vas_core.names import API_GROUP, API_VERSION, CAMERAS
from vas_operator import camera as camera_logic
from vas_operator import conditions as cond
from vas_operator.metrics import HANDLER_RUNS, RECONCILES
from vas_operator.models import Camera

CAMERA_RESOURCE = (API_GROUP, API_VERSION, CAMERAS)


# What the reconcile reads of metadata; managedFields alone are half of a Camera's bytes.
METADATA = ("name", "namespace", "uid", "generation", "labels", "annotations")


def parse_camera(body: kopf.Body) -> Camera:
    meta = body.get("metadata") or {}
    raw = {k: body[k] for k in ("apiVersion", "kind", "spec", "status") if k in body}
    raw["metadata"] = {k: meta[k] for k in METADATA if k in meta}
    try:
        return Camera.model_validate(raw)
    except ValidationError as error:
        raise kopf.PermanentError(f"invalid Camera: {error.errors()[0]['msg']}") from None


def post_ready_event(
    body: kopf.Body, camera: Camera, old: dict[str, Any], new: dict[str, Any]
) -> None:
    """One Event per change of the Ready condition: what a person scanning events wants."""
    for changed in cond.transitions(old.get("conditions"), new["conditions"]):
        if changed["type"] == cond.READY:
            fine = changed["status"] == "True" or not camera.spec.enabled
            kopf.event(
                body,
                type="Normal" if fine else "Warning",
                reason=changed["reason"],
                message=changed["message"],
            )


@kopf.on.resume(*CAMERA_RESOURCE)
@kopf.on.create(*CAMERA_RESOURCE)
@kopf.on.update(*CAMERA_RESOURCE)
async def reconcile_camera(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    retry: int,
    reason: str,
    namespace: str | None,
    name: str | None,
    **_: Any,
) -> None:
    try:
        camera = parse_camera(body)
        outcome = await camera_logic.reconcile(camera, memo.deps, resuming=reason == "resume")
    finally:
        memo.progress.done((namespace or "", name or ""), asyncio.get_running_loop().time())
        HANDLER_RUNS.inc()
    old = dict(body.get("status") or {})
    if outcome.status is not None:
        if camera_logic.status_changed(old, outcome.status):
            patch.status.update(outcome.status)
        post_ready_event(body, camera, old, outcome.status)
        memo.phases.set(f"{namespace}/{name}", outcome.status["phase"])
    else:
        memo.phases.set(f"{namespace}/{name}", old.get("phase"))
    if outcome.retry == "temporary":
        RECONCILES.labels("retry").inc()
        raise kopf.TemporaryError(
            f"{outcome.reason}: {outcome.message}", delay=memo.cfg.retry_delay(retry)
        )
    if outcome.retry == "permanent":
        RECONCILES.labels("failed").inc()
        raise kopf.PermanentError(f"{outcome.reason}: {outcome.message}")
    RECONCILES.labels("disabled" if not camera.spec.enabled else "ready").inc()
