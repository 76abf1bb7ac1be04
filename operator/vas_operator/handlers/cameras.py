"""Camera handlers: validate the body into a model, call camera.reconcile, and turn the
Outcome into a status patch, an Event and a retry decision. Also the Secret watcher and the
gateway watcher, which re-trigger cameras rather than write their status themselves."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from vas_operator import camera as camera_logic
from vas_operator import conditions as cond
from vas_operator import health
from vas_operator.clients import kube
from vas_operator.clients.janus import JanusError
from vas_operator.metrics import RECONCILES
from vas_operator.models import Camera
from vas_operator.models.common import API_GROUP, API_VERSION
from vas_operator.placement import Gateway
from vas_operator.probe import Credentials

CAMERAS = (API_GROUP, API_VERSION, "cameras")
SECRET_REVISION = f"{API_GROUP}/credentials-revision"
RECHECK = f"{API_GROUP}/recheck"


async def watch_gateway(memo: kopf.Memo, gateway: Gateway) -> None:
    """One Janus list per interval for the whole gateway, not one call per camera."""
    logger = logging.getLogger("vas.health")
    janus = memo.deps.janus_for(gateway)
    thumbnails: asyncio.Task[None] | None = None
    while True:
        await asyncio.sleep(memo.cfg.health_interval_seconds)
        index = memo.shared.get("mounted_index")  # stashed by the camera handlers
        expected = list(index.get(gateway.name, [])) if index is not None else []
        if not expected:
            continue
        try:
            listed: list[dict[str, Any]] | None = await janus.list_mountpoints()
        except JanusError as error:
            logger.warning(f"gateway {gateway.name} did not answer: {error}")
            listed = None
        if listed is not None and memo.live is not None:
            ttl = int(memo.cfg.health_interval_seconds * 3) + 1
            await memo.live.figures(health.live_figures(expected, listed, gateway.name), ttl)
            if thumbnails is None or thumbnails.done():
                thumbnails = asyncio.create_task(refresh_thumbnails(memo, expected))
        for recheck in health.decide(expected, listed):
            logger.info(f"re-checking Camera {recheck.namespace}/{recheck.name}: {recheck.reason}")
            stamp = f"{recheck.reason}@{datetime.now(UTC).isoformat(timespec='seconds')}"
            try:
                await kube.annotate_camera(
                    memo.api, recheck.namespace, recheck.name, {RECHECK: stamp}
                )
            except Exception as error:  # the camera may be gone by now
                logger.warning(f"could not re-check {recheck.name}: {error}")


async def refresh_thumbnails(memo: kopf.Memo, expected: list[health.Expected]) -> None:
    """Decode one keyframe per camera whose thumbnail is due, at most a pool's worth at once."""
    last: dict[tuple[str, str], float] = memo.shared.setdefault("thumbnail_at", {})
    now = asyncio.get_running_loop().time()
    due = health.thumbnails_due(expected, last, now, memo.cfg.probe_concurrency)

    async def one(cam: health.Expected) -> None:
        last[(cam.namespace, cam.name)] = now
        source = dict(cam.source)
        credentials = None
        try:
            ref = source.get("credentialsSecretRef")
            if ref:
                keys = (ref.get("usernameKey", "username"), ref.get("passwordKey", "password"))
                data = await memo.deps.read_secret(cam.namespace, ref["name"], keys)
                credentials = Credentials(data[keys[0]], data[keys[1]])
            facts = await memo.deps.prober.probe(
                source["url"], source.get("transport", "tcp"), credentials, want_thumbnail=True
            )
        except Exception as error:  # the reconcile reports failures; a thumbnail just waits
            logging.getLogger("vas.live").debug(f"no thumbnail for {cam.name}: {error}")
            return
        if facts.keyframe_jpeg:
            ttl = max(cam.snapshot_seconds * 3, 60)
            await memo.live.thumbnail(cam.namespace, cam.name, facts.keyframe_jpeg, ttl)

    await asyncio.gather(*(one(cam) for cam in due))


def parse_camera(body: kopf.Body) -> Camera:
    try:
        return Camera.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec", "status") if k in body}
        )
    except ValidationError as error:
        raise kopf.PermanentError(f"invalid Camera: {error.errors()[0]['msg']}") from None


@kopf.on.resume(*CAMERAS)
@kopf.on.create(*CAMERAS)
@kopf.on.update(*CAMERAS)
async def reconcile_camera(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    retry: int,
    **kwargs: Any,
) -> None:
    # Kopf hands indexes (by their function's name) to resource handlers only; the gateway
    # watcher reads this live view.
    memo.shared["mounted_index"] = kwargs["mounted_cameras"]
    camera = parse_camera(body)
    outcome = await camera_logic.reconcile(camera, memo.deps)
    old = body.get("status") or {}
    if camera_logic.status_changed(old, outcome.status):
        patch.status.update(outcome.status)
    # One Event per change of the Ready condition: what a person scanning events wants.
    for changed in cond.transitions(old.get("conditions"), outcome.status["conditions"]):
        if changed["type"] == cond.READY:
            kopf.event(
                body,
                type="Normal"
                if changed["status"] == "True" or not camera.spec.enabled
                else "Warning",
                reason=changed["reason"],
                message=changed["message"],
            )
    memo.phases.set(f"{camera.metadata.namespace}/{camera.metadata.name}", outcome.status["phase"])
    if outcome.retry == "temporary":
        RECONCILES.labels("retry").inc()
        raise kopf.TemporaryError(
            f"{outcome.reason}: {outcome.message}", delay=memo.cfg.retry_delay(retry)
        )
    if outcome.retry == "permanent":
        RECONCILES.labels("failed").inc()
        raise kopf.PermanentError(f"{outcome.reason}: {outcome.message}")
    RECONCILES.labels("disabled" if not camera.spec.enabled else "ready").inc()


@kopf.on.delete(*CAMERAS)
async def camera_deleted(
    body: kopf.Body, memo: kopf.Memo, retry: int, logger: kopf.Logger, **_: Any
) -> None:
    camera = parse_camera(body)
    try:
        await camera_logic.remove_mountpoint(camera, memo.deps)
    except JanusError as error:
        if retry < 5:
            raise kopf.TemporaryError(
                f"removing the mountpoint: {error}", delay=memo.cfg.retry_delay(retry)
            ) from None
        # A gateway that stays away loses its mountpoints anyway (they are not permanent);
        # holding the finalizer forever would only block the deletion.
        logger.warning(f"gave up removing the mountpoint: {error}")
    memo.phases.set(f"{camera.metadata.namespace}/{camera.metadata.name}", None)


@kopf.index(*CAMERAS)
def mounted_cameras(
    namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[str, health.Expected] | None:
    """Ready cameras by the gateway they are mounted on: what the gateway watcher checks."""
    gateway = status.get("gateway") or {}
    if status.get("phase") != "Ready" or not gateway.get("pod") or not namespace:
        return None
    ready = cond.get(status.get("conditions"), cond.READY) or {}
    return {
        gateway["pod"]: health.Expected(
            namespace,
            name,
            int(gateway["mountpointId"]),
            ready.get("lastTransitionTime"),
            snapshot_seconds=int((spec.get("snapshot") or {}).get("intervalSeconds", 0)),
            source=tuple(sorted((spec.get("source") or {}).items())),
        )
    }


@kopf.index(*CAMERAS)
def cameras_by_secret(
    namespace: str | None, name: str, spec: kopf.Spec, annotations: kopf.Annotations, **_: Any
) -> dict[tuple[str, str], tuple[str, str | None]] | None:
    """Cameras by the Secret they read, so a Secret event finds them without a re-list."""
    ref = (spec.get("source") or {}).get("credentialsSecretRef")
    if not ref:
        return None
    return {(namespace or "", ref["name"]): (name, annotations.get(SECRET_REVISION))}


@kopf.on.event("", "v1", "secrets")
async def secret_changed(
    event: kopf.RawEvent,
    namespace: str | None,
    name: str,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """A Secret appeared, changed or went away: re-trigger the Cameras that use it by stamping
    its revision on them (the initial listing at startup is skipped: resume covers it)."""
    if event.get("type") not in ("ADDED", "MODIFIED", "DELETED"):
        return
    revision = body.get("metadata", {}).get("resourceVersion", "")
    if event["type"] == "DELETED":
        revision = f"deleted-{revision}"
    cameras_by_secret: kopf.Index[tuple[str, str], tuple[str, str | None]]
    cameras_by_secret = kwargs["cameras_by_secret"]
    for camera, seen in cameras_by_secret.get((namespace or "", name), []):
        if seen != revision and namespace:
            logger.info(f"Secret {name} changed: re-checking Camera {camera}")
            await kube.annotate_camera(memo.api, namespace, camera, {SECRET_REVISION: revision})
