"""Reconcile one Camera: credentials, probe, mountpoint, conditions.

Plain async code with its collaborators passed in, so it is tested without Kopf. The Kopf
handler turns the returned Outcome into a status patch, Events and a retry decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vas_core.identity import mountpoint_id
from vas_operator import conditions as cond
from vas_operator.clients.janus import JanusAdmin, JanusError
from vas_operator.conditions import Observation
from vas_operator.health import media_age_ms, media_stale, settled
from vas_operator.metrics import PROBE_SECONDS
from vas_operator.models import Camera
from vas_operator.mountpoints import (
    MountpointSpec,
    fingerprint,
    listed_fingerprint,
    mountpoint_secret,
)
from vas_operator.placement import Gateway, Placement
from vas_operator.probe import Credentials, ProbeError, Prober, StreamFacts
from vas_operator.redact import redact

SecretReader = Callable[[str, str, tuple[str, str]], Awaitable[dict[str, str]]]


class CredentialsError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Deps:
    """What reconciling a camera needs from the outside world."""

    read_secret: SecretReader
    prober: Prober
    placement: Placement
    janus_for: Callable[[Gateway], JanusAdmin]
    mountpoint_key: str
    streaming_admin_key: str


@dataclass
class Outcome:
    status: dict[str, Any]
    retry: str = "none"  # none | temporary | permanent
    reason: str = ""
    message: str = ""
    thumbnail: bytes | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


async def resolve_credentials(camera: Camera, deps: Deps) -> Credentials | None:
    ref = camera.spec.source.credentials_secret_ref
    if ref is None:
        return None
    namespace = camera.metadata.namespace or "default"
    try:
        data = await deps.read_secret(namespace, ref.name, (ref.username_key, ref.password_key))
    except CredentialsError:
        raise
    except Exception as error:
        reason = getattr(error, "reason", "SecretUnreadable")
        raise CredentialsError(str(reason), getattr(error, "message", str(error))) from None
    return Credentials(data[ref.username_key], data[ref.password_key])


def stream_status(facts: StreamFacts, probed_at: str) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "codec": facts.codec,
        "width": facts.width,
        "height": facts.height,
        "resolution": f"{facts.width}x{facts.height}",
        "probeLatencyMilliseconds": facts.latency_ms,
        "lastProbeTime": probed_at,
    }
    if facts.profile:
        stream["profile"] = facts.profile
    if facts.fps:
        stream["fps"] = facts.fps
    if facts.audio_codec:
        stream["audioCodec"] = facts.audio_codec
    return stream


def describe(facts: StreamFacts) -> str:
    fps = f" at {facts.fps:g} fps" if facts.fps else ""
    # No latency here: the message must not change on every probe, or every probe writes.
    return f"{facts.codec} {facts.width}x{facts.height}{fps}"


async def ensure_mountpoint(
    janus: JanusAdmin, spec: MountpointSpec, admin_key: str
) -> dict[str, Any] | None:
    """Create the mountpoint unless an identical one exists; rebuild it if its configuration
    changed. Returns the existing mountpoint's info when it was kept, None when (re)created."""
    existing = await janus.info(spec.id, spec.secret)  # one mountpoint, not a full list
    if existing is not None:
        if listed_fingerprint(existing) == spec.fingerprint:
            return existing
        await janus.destroy(spec.id, spec.secret)
    await janus.create(spec.create_request(admin_key))
    return None


async def remove_mountpoint(camera: Camera, deps: Deps) -> bool:
    namespace, name = camera.metadata.namespace or "default", camera.metadata.name or ""
    mp_id = mountpoint_id(namespace, name)
    janus = deps.janus_for(deps.placement.place(namespace, name))
    return await janus.destroy(mp_id, mountpoint_secret(deps.mountpoint_key, mp_id))


def current_conditions(camera: Camera) -> list[dict[str, Any]]:
    """The conditions as stored, in wire form."""
    if camera.status is None:
        return []
    return [
        c.model_dump(by_alias=True, mode="json", exclude_none=True)
        for c in camera.status.conditions
    ]


def _finish(
    camera: Camera, observed: list[Observation], enabled: bool, **extra: Any
) -> dict[str, Any]:
    observed = [*observed, cond.camera_ready(observed)]
    current = current_conditions(camera)
    status: dict[str, Any] = {
        "observedGeneration": camera.metadata.generation,
        "phase": cond.camera_phase(enabled, observed),
        "conditions": cond.merge(current, observed, camera.metadata.generation),
    }
    status.update(extra)
    return status


async def reconcile(camera: Camera, deps: Deps, want_thumbnail: bool = False) -> Outcome:
    """Bring one camera to its desired state and say what is true about it now."""
    namespace, name = camera.metadata.namespace or "default", camera.metadata.name or ""
    previous_stream = (
        camera.status.stream.model_dump(by_alias=True, exclude_none=True, mode="json")
        if camera.status and camera.status.stream
        else None
    )

    if not camera.spec.enabled:
        await remove_mountpoint(camera, deps)
        off = "the camera is disabled (spec.enabled is false)"
        status = _finish(
            camera,
            [
                Observation(cond.CREDENTIALS_RESOLVED, "Unknown", "Disabled", off),
                Observation(cond.STREAM_REACHABLE, "Unknown", "Disabled", off),
                Observation(cond.MOUNTPOINT_READY, "False", "Disabled", off),
            ],
            enabled=False,
            stream=previous_stream,
            gateway=None,
        )
        return Outcome(status)

    try:
        credentials = await resolve_credentials(camera, deps)
    except CredentialsError as error:
        waiting = "waiting for credentials"
        status = _finish(
            camera,
            [
                Observation(cond.CREDENTIALS_RESOLVED, "False", error.reason, error.message),
                Observation(cond.STREAM_REACHABLE, "Unknown", "WaitingForCredentials", waiting),
                Observation(cond.MOUNTPOINT_READY, "Unknown", "WaitingForCredentials", waiting),
            ],
            enabled=True,
            stream=previous_stream,
        )
        # No retry loop: a change to the Secret re-triggers this camera.
        return Outcome(status, "permanent", error.reason, error.message)
    creds_obs = Observation(
        cond.CREDENTIALS_RESOLVED,
        "True",
        "Resolved" if credentials else "NotRequired",
        f"read {camera.spec.source.credentials_secret_ref.name}"  # type: ignore[union-attr]
        if credentials
        else "no credentialsSecretRef: the camera is used without credentials",
    )

    source = camera.spec.source
    try:
        facts = await deps.prober.probe(source.url, source.transport, credentials, want_thumbnail)
    except ProbeError as failure:
        PROBE_SECONDS.labels(failure.reason).observe(0)
        message = redact(failure.message, [credentials.password] if credentials else [])
        status = _finish(
            camera,
            [
                creds_obs,
                Observation(cond.STREAM_REACHABLE, "False", failure.reason, message),
                Observation(
                    cond.MOUNTPOINT_READY,
                    "Unknown",
                    "WaitingForStream",
                    "the stream must play before it is mounted",
                ),
            ],
            enabled=True,
            stream=previous_stream,
        )
        return Outcome(
            status, "temporary" if failure.retryable else "permanent", failure.reason, message
        )
    PROBE_SECONDS.labels("Probed").observe(facts.latency_ms / 1000)
    stream_obs = Observation(cond.STREAM_REACHABLE, "True", "Probed", describe(facts))
    probed_at = cond.now()

    gateway = deps.placement.place(namespace, name)
    mp_id = mountpoint_id(namespace, name)
    spec = MountpointSpec(
        id=mp_id,
        secret=mountpoint_secret(deps.mountpoint_key, mp_id),
        namespace=namespace,
        camera=name,
        url=source.url,
        credentials=credentials,
        fingerprint=fingerprint(deps.mountpoint_key, source.url, source.transport, credentials),
    )
    try:
        kept = await ensure_mountpoint(deps.janus_for(gateway), spec, deps.streaming_admin_key)
    except JanusError as error:
        message = redact(
            f"gateway {gateway.name}: {error}", [credentials.password] if credentials else []
        )
        reason = "GatewayUnavailable" if error.code is None else "MountFailed"
        status = _finish(
            camera,
            [
                creds_obs,
                stream_obs,
                Observation(cond.MOUNTPOINT_READY, "False", reason, message),
            ],
            enabled=True,
            stream=stream_status(facts, probed_at),
        )
        return Outcome(status, "temporary", reason, message, thumbnail=facts.keyframe_jpeg)
    ready = cond.get(current_conditions(camera), cond.READY)
    if kept is not None and media_stale(kept) and settled((ready or {}).get("lastTransitionTime")):
        # The camera plays for us but not for the gateway: typically UDP from the camera to
        # the gateway is blocked (Janus pulls RTP over UDP only).
        age = media_age_ms(kept)
        message = f"mountpoint {mp_id} on gateway {gateway.name} receives no media" + (
            f" (last packet {age} ms ago)" if age is not None else ""
        )
        status = _finish(
            camera,
            [
                creds_obs,
                stream_obs,
                Observation(cond.MOUNTPOINT_READY, "False", "NoMedia", message),
            ],
            enabled=True,
            stream=stream_status(facts, probed_at),
            gateway={"pod": gateway.name, "mountpointId": mp_id},
        )
        return Outcome(status, "temporary", "NoMedia", message, thumbnail=facts.keyframe_jpeg)
    mounted = Observation(
        cond.MOUNTPOINT_READY, "True", "Mounted", f"mountpoint {mp_id} on gateway {gateway.name}"
    )
    status = _finish(
        camera,
        [creds_obs, stream_obs, mounted],
        enabled=True,
        stream=stream_status(facts, probed_at),
        gateway={"pod": gateway.name, "mountpointId": mp_id},
    )
    return Outcome(status, thumbnail=facts.keyframe_jpeg)


def status_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing ``new`` would change anything a client reads.

    The probe time and latency move on every probe; they alone are not worth an etcd write.
    """

    def essence(status: dict[str, Any] | None) -> dict[str, Any]:
        status = dict(status or {})
        stream = dict(status.get("stream") or {})
        stream.pop("lastProbeTime", None)
        stream.pop("probeLatencyMilliseconds", None)
        status["stream"] = stream or None
        status.pop("kopf", None)
        return {k: v for k, v in status.items() if v is not None}

    return essence(old) != essence(new)
