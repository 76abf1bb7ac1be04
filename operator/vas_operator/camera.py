"""Reconcile one Camera: credentials, probe, mountpoint, conditions.

Plain async code with its collaborators passed in, so it is tested without Kopf. The Kopf
handler turns the returned Outcome into a status patch, Events and a retry decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vas_core.gateways import GatewayPod
from vas_core.identity import mountpoint_id, substream_id
from vas_operator import conditions as cond
from vas_operator.clients.janus import MOUNTPOINT_EXISTS, JanusError
from vas_operator.conditions import Observation
from vas_operator.credentials import CredentialsError, CredentialsUnavailable
from vas_operator.directory import GatewayDirectory
from vas_operator.health import media_age_ms, media_stale, settled
from vas_operator.metrics import PROBE_SECONDS
from vas_operator.models import Camera
from vas_operator.mountpoints import (
    MAIN,
    SUB,
    MountpointSpec,
    fingerprint,
    listed_fingerprint,
    mountpoint_secret,
)
from vas_operator.pool import GatewayPool, PoolUnknown
from vas_operator.probe import Credentials, ProbeError, StreamFacts
from vas_operator.prober import Prober
from vas_operator.redact import redact
from vas_operator.sourcepolicy import SourceDenied, SourcePolicy

CredentialsReader = Callable[[str, str], Awaitable[Credentials]]


@dataclass
class Deps:
    """What reconciling a camera needs from the outside world."""

    read_credentials: CredentialsReader
    prober: Prober
    pool: GatewayPool
    source_policy: SourcePolicy
    mountpoint_key: str
    streaming_admin_key: str


@dataclass
class Outcome:
    status: dict[str, Any] | None  # None: what is stored is still true, write nothing
    retry: str = "none"  # none | temporary | permanent
    reason: str = ""
    message: str = ""


async def resolve_credentials(camera: Camera, deps: Deps) -> Credentials | None:
    """The camera's credentials, or None when it names no Secret. Raises CredentialsError
    (permanent) or CredentialsUnavailable (retry)."""
    ref = camera.spec.source.credentials_secret_ref
    if ref is None:
        return None
    return await deps.read_credentials(camera.metadata.namespace or "default", ref.name)


def mountpoint_spec(
    deps: Deps,
    camera: tuple[str, str],
    url: str,
    transport: str,
    credentials: Credentials | None,
    stream: str = MAIN,
) -> MountpointSpec:
    """The mountpoint of one of the camera's streams, under the id derived from its name."""
    mp_id = substream_id(*camera) if stream == SUB else mountpoint_id(*camera)
    return MountpointSpec(
        id=mp_id,
        secret=mountpoint_secret(deps.mountpoint_key, mp_id),
        namespace=camera[0],
        camera=camera[1],
        url=url,
        credentials=credentials,
        fingerprint=fingerprint(deps.mountpoint_key, url, transport, credentials),
        stream=stream,
    )


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
    directory: GatewayDirectory, spec: MountpointSpec, admin_key: str
) -> dict[str, Any] | None:
    """Create the mountpoint; when its id exists already, keep it if it was built from this
    very configuration (adopt it), else rebuild it. Returns the listed mountpoint when kept,
    None when (re)created. Create first: a new camera costs one Janus call, not also a listing
    of everything the gateway carries (10,000 mountpoints are 2.5 MB of JSON)."""
    request = spec.create_request(admin_key)
    try:
        await directory.janus.create(request)
    except JanusError as error:
        if error.code != MOUNTPOINT_EXISTS:
            raise
        existing = await directory.entry(spec.id, max_age=0)  # what is there, now
        if existing is not None and listed_fingerprint(existing) == spec.fingerprint:
            return existing
        await directory.janus.destroy(spec.id, spec.secret)
        directory.note(spec.id, None)
        await directory.janus.create(request)
    directory.note(spec.id, {"id": spec.id, "metadata": request["metadata"]})
    return None


async def remove_mountpoint(camera: Camera, deps: Deps) -> bool:
    """Destroy the camera's mountpoint wherever a gateway lists it (a disabled camera at
    restart costs no Janus call of its own: the pods' shared listings answer)."""
    await deps.pool.ready()
    return await deps.pool.remove(key_of(camera))


async def remove_deleted(
    camera: tuple[str, str], deps: Deps, exists: Callable[[], bool], attempts: int = 5
) -> bool:
    """A Camera is gone: remove its mountpoints from every pod that lists them. No finalizer
    holds the deletion for this (an operator that is down would block every deletion, a
    namespace's too); what a dead gateway keeps is swept by the gateway watcher once it
    answers. Returns whether it got through."""
    for attempt in range(attempts):
        if exists():  # created again meanwhile: its own reconcile owns the mountpoints now
            return True
        try:
            await deps.pool.ready()
            await deps.pool.remove(camera)
            return True
        except JanusError:
            await asyncio.sleep(min(2.0**attempt, 10.0))
    return False


def key_of(camera: Camera) -> tuple[str, str]:
    return camera.metadata.namespace or "default", camera.metadata.name or ""


def no_room(pool: GatewayPool) -> str:
    live = pool.live()
    if not live:
        return "no gateway pod is ready"
    return (
        f"every ready gateway pod ({len(live)}) carries its maximum of "
        f"{pool.capacity.mountpoints} cameras; waiting for the pool to grow"
    )


def adoptable(camera: Camera, listed: dict[str, Any] | None, fingerprint_now: str) -> bool:
    """Whether a restarted operator may keep what it finds: the stored status says Ready for
    this generation, and the gateway carries a live mountpoint built from this very
    configuration (the fingerprint is an HMAC only the operator can make, so a status
    written by someone else cannot fake it)."""
    status = camera.status
    if status is None or status.phase != "Ready" or listed is None:
        return False
    if status.observed_generation != camera.metadata.generation:
        return False
    return listed_fingerprint(listed) == fingerprint_now and not media_stale(listed)


def substream_adoptable(
    camera: Camera, listed: dict[str, Any] | None, fingerprint_now: str | None
) -> bool:
    """The same for the sub-stream: declared, reported mounted, and found intact; or not
    declared and not mounted."""
    if camera.spec.substream is None or fingerprint_now is None:
        return listed is None and fingerprint_now is None
    sub_ready = cond.get(current_conditions(camera), cond.SUBSTREAM_READY) or {}
    if sub_ready.get("status") != "True" or listed is None:
        return False
    return listed_fingerprint(listed) == fingerprint_now and not media_stale(listed)


def current_conditions(camera: Camera) -> list[dict[str, Any]]:
    """The conditions as stored, in wire form."""
    if camera.status is None:
        return []
    return [
        c.model_dump(by_alias=True, mode="json", exclude_none=True)
        for c in camera.status.conditions
    ]


SUB_WAITING = Observation(
    cond.SUBSTREAM_READY,
    "Unknown",
    "WaitingForMainStream",
    "the sub-stream is checked once the main stream is mounted",
)


def _finish(
    camera: Camera,
    observed: list[Observation],
    enabled: bool,
    sub_condition: Observation | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The whole status. SubstreamReady is reported beside Ready, never folded into it (nor
    into the phase): a broken sub-stream leaves the main stream serving. Without a declared
    sub-stream there is no SubstreamReady condition and no status.substream."""
    observed = [*observed, cond.camera_ready(observed)]
    phase = cond.camera_phase(enabled, observed)
    current = current_conditions(camera)
    if camera.spec.substream is not None:
        observed.append(sub_condition or SUB_WAITING)
    else:
        current = [c for c in current if c.get("type") != cond.SUBSTREAM_READY]
        extra["substream"] = None  # a merge patch's null: removes what an old spec left
    status: dict[str, Any] = {
        "observedGeneration": camera.metadata.generation,
        "phase": phase,
        "conditions": cond.merge(current, observed, camera.metadata.generation),
    }
    status.setdefault("substream", previous_substream(camera))
    status.update(extra)
    return status


def previous_substream(camera: Camera) -> dict[str, Any] | None:
    if camera.status is None or camera.status.substream is None:
        return None
    return camera.status.substream.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass
class SubstreamResult:
    """What reconciling the sub-stream concluded, on the pod the main stream is mounted on."""

    observation: Observation
    stream: dict[str, Any] | None  # status.substream
    mounted: bool  # its mountpoint is on the pod (keep it there)
    retry: bool = False  # a failure that may heal by itself


async def substream_credentials(
    camera: Camera, deps: Deps, main: Credentials | None
) -> Credentials | None:
    """The sub-stream's own Secret if it names one, else the main source's credentials.
    Raises CredentialsError / CredentialsUnavailable like ``resolve_credentials``."""
    sub = camera.spec.substream
    if sub is None or sub.credentials_secret_ref is None:
        return main
    return await deps.read_credentials(key_of(camera)[0], sub.credentials_secret_ref.name)


async def reconcile_substream(
    camera: Camera, deps: Deps, gateway: GatewayPod, main_credentials: Credentials | None
) -> SubstreamResult:
    """Check, probe and mount the sub-stream beside the main one. Never raises for the
    sub-stream's own failures: they become SubstreamReady=False, the main stream stays."""
    sub = camera.spec.substream
    assert sub is not None
    stream = previous_substream(camera)  # replaced by this probe's facts once it plays

    def failed(reason: str, message: str, retry: bool) -> SubstreamResult:
        observation = Observation(cond.SUBSTREAM_READY, "False", reason, message)
        return SubstreamResult(observation, stream, mounted=False, retry=retry)

    try:
        await deps.source_policy.check_url(sub.url)
    except SourceDenied as denied:
        return failed(denied.reason, denied.message, retry=False)
    try:
        credentials = await substream_credentials(camera, deps, main_credentials)
    except CredentialsUnavailable as error:
        return failed("SecretUnavailable", str(error), retry=True)
    except CredentialsError as error:
        return failed(error.reason, error.message, retry=False)
    secrets = [credentials.password] if credentials else []
    transport = sub.transport or camera.spec.source.transport
    started = time.monotonic()
    try:
        facts = await deps.prober.probe(sub.url, transport, credentials)
    except ProbeError as failure:
        PROBE_SECONDS.labels(failure.reason).observe(time.monotonic() - started)
        return failed(failure.reason, redact(failure.message, secrets), failure.retryable)
    PROBE_SECONDS.labels("Probed").observe(facts.latency_ms / 1000)
    stream = stream_status(facts, cond.now())
    spec = mountpoint_spec(deps, key_of(camera), sub.url, transport, credentials, SUB)
    try:
        kept = await ensure_mountpoint(deps.pool.directory(gateway), spec, deps.streaming_admin_key)
    except JanusError as error:
        message = redact(f"sub-stream on gateway {gateway.name}: {error}", secrets)
        reason = "GatewayUnavailable" if error.code is None else "MountFailed"
        return failed(reason, message, retry=True)
    ready = cond.get(current_conditions(camera), cond.SUBSTREAM_READY)
    if kept is not None and media_stale(kept) and settled((ready or {}).get("lastTransitionTime")):
        age = media_age_ms(kept)
        message = f"mountpoint {spec.id} on gateway {gateway.name} receives no media" + (
            f" (last packet {age} ms ago)" if age is not None else ""
        )
        result = failed("NoMedia", message, retry=True)
        result.mounted = True  # Janus keeps reconnecting it; the next reconcile looks again
        return result
    mounted = Observation(
        cond.SUBSTREAM_READY,
        "True",
        "Mounted",
        f"{describe(facts)}, mountpoint {spec.id} on gateway {gateway.name}",
    )
    return SubstreamResult(mounted, stream, mounted=True)


async def reconcile(camera: Camera, deps: Deps, resuming: bool = False) -> Outcome:
    """Bring one camera to its desired state and say what is true about it now. On resume
    (operator start) a camera whose mountpoint is found intact is adopted: no probe, no write.
    """
    namespace, name = camera.metadata.namespace or "default", camera.metadata.name or ""
    previous_stream = (
        camera.status.stream.model_dump(by_alias=True, exclude_none=True, mode="json")
        if camera.status and camera.status.stream
        else None
    )

    try:
        await deps.pool.ready()
    except PoolUnknown as error:
        return Outcome(None, "temporary", "GatewayPoolUnknown", str(error))

    if not camera.spec.enabled:
        retry = "none"
        try:
            await remove_mountpoint(camera, deps)
        except JanusError:
            retry = "temporary"  # still Disabled; the mountpoint goes when the gateway answers
        off = "the camera is disabled (spec.enabled is false)"
        status = _finish(
            camera,
            [
                Observation(cond.CREDENTIALS_RESOLVED, "Unknown", "Disabled", off),
                Observation(cond.STREAM_REACHABLE, "Unknown", "Disabled", off),
                Observation(cond.MOUNTPOINT_READY, "False", "Disabled", off),
            ],
            enabled=False,
            sub_condition=Observation(cond.SUBSTREAM_READY, "False", "Disabled", off),
            stream=previous_stream,
            gateway=None,
        )
        return Outcome(status, retry, "GatewayUnavailable", "the mountpoint is not removed yet")

    source = camera.spec.source
    try:
        await deps.source_policy.check_url(source.url)
    except SourceDenied as denied:
        waiting = "the source is not allowed"
        status = _finish(
            camera,
            [
                Observation(cond.CREDENTIALS_RESOLVED, "Unknown", denied.reason, waiting),
                Observation(cond.STREAM_REACHABLE, "False", denied.reason, denied.message),
                Observation(cond.MOUNTPOINT_READY, "Unknown", "WaitingForStream", waiting),
            ],
            enabled=True,
            stream=previous_stream,
        )
        return Outcome(status, "permanent", denied.reason, denied.message)

    try:
        credentials = await resolve_credentials(camera, deps)
    except CredentialsUnavailable as error:
        # The API server may heal: retried with backoff, never reported as a bad Secret.
        return Outcome(None, "temporary", "SecretUnavailable", str(error))
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

    mp_id = mountpoint_id(namespace, name)
    spec = mountpoint_spec(deps, (namespace, name), source.url, source.transport, credentials)
    assigned = deps.pool.assignment((namespace, name))
    if (
        resuming
        and assigned is not None
        and assigned.open
        and await adopt_intact(camera, deps, assigned, spec, credentials)
    ):
        return Outcome(None)

    started = time.monotonic()
    try:
        facts = await deps.prober.probe(source.url, source.transport, credentials)
    except ProbeError as failure:
        PROBE_SECONDS.labels(failure.reason).observe(time.monotonic() - started)
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

    def unmounted(reason: str, message: str, **extra: Any) -> Outcome:
        """The stream plays but is not (yet) served by a gateway: retried."""
        status = _finish(
            camera,
            [creds_obs, stream_obs, Observation(cond.MOUNTPOINT_READY, "False", reason, message)],
            enabled=True,
            stream=stream_status(facts, probed_at),
            **extra,
        )
        return Outcome(status, "temporary", reason, message)

    gateway = deps.pool.place((namespace, name))
    if gateway is None:
        return unmounted("NoGateway", no_room(deps.pool), gateway=None)
    try:
        kept = await ensure_mountpoint(deps.pool.directory(gateway), spec, deps.streaming_admin_key)
    except JanusError as error:
        message = redact(
            f"gateway {gateway.name}: {error}", [credentials.password] if credentials else []
        )
        return unmounted("GatewayUnavailable" if error.code is None else "MountFailed", message)
    # The sub-stream after the main one, on the same pod; its failures are its own.
    sub = (
        await reconcile_substream(camera, deps, gateway, credentials)
        if camera.spec.substream is not None
        else None
    )
    try:
        await deps.pool.settle((namespace, name), gateway, substream=bool(sub and sub.mounted))
    except JanusError as error:
        message = redact(
            f"gateway {gateway.name}: {error}", [credentials.password] if credentials else []
        )
        return unmounted("GatewayUnavailable" if error.code is None else "MountFailed", message)
    placement: dict[str, Any] = {"pod": gateway.name, "mountpointId": mp_id}
    if sub is not None and sub.mounted:
        placement["substreamMountpointId"] = substream_id(namespace, name)
    sub_extra: dict[str, Any] = {}
    if sub is not None:
        sub_extra = {"sub_condition": sub.observation, "substream": sub.stream}
    ready = cond.get(current_conditions(camera), cond.READY)
    if kept is not None and media_stale(kept) and settled((ready or {}).get("lastTransitionTime")):
        # The camera plays for us but not for the gateway: typically UDP from the camera to
        # the gateway is blocked (Janus pulls RTP over UDP only).
        age = media_age_ms(kept)
        message = f"mountpoint {mp_id} on gateway {gateway.name} receives no media" + (
            f" (last packet {age} ms ago)" if age is not None else ""
        )
        return unmounted("NoMedia", message, gateway=placement, **sub_extra)
    mounted = Observation(
        cond.MOUNTPOINT_READY, "True", "Mounted", f"mountpoint {mp_id} on gateway {gateway.name}"
    )
    status = _finish(
        camera,
        [creds_obs, stream_obs, mounted],
        enabled=True,
        stream=stream_status(facts, probed_at),
        gateway=placement,
        **sub_extra,
    )
    if sub is not None and sub.observation.status != "True":
        o = sub.observation
        return Outcome(status, "temporary" if sub.retry else "none", o.reason, o.message)
    return Outcome(status)


async def adopt_intact(
    camera: Camera,
    deps: Deps,
    pod: GatewayPod,
    spec: MountpointSpec,
    credentials: Credentials | None,
) -> bool:
    """On resume: whether the pod the pool assigns the camera to still carries both of its
    streams, built from this very configuration (then nothing needs doing)."""
    directory = deps.pool.directory(pod)
    namespace, name = key_of(camera)
    sub_fingerprint: str | None = None
    if camera.spec.substream is not None:
        sub = camera.spec.substream
        try:
            sub_credentials = await substream_credentials(camera, deps, credentials)
        except (CredentialsError, CredentialsUnavailable):
            return False
        transport = sub.transport or camera.spec.source.transport
        sub_fingerprint = fingerprint(deps.mountpoint_key, sub.url, transport, sub_credentials)
    try:
        listed = await directory.entry(spec.id, deps.pool.listing_age)
        listed_sub = await directory.entry(substream_id(namespace, name), deps.pool.listing_age)
    except JanusError:
        return False  # the full reconcile reports the gateway
    return adoptable(camera, listed, spec.fingerprint) and substream_adoptable(
        camera, listed_sub, sub_fingerprint
    )


def status_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing ``new`` would change anything a client reads.

    The probe time and latency move on every probe; they alone are not worth an etcd write.
    """

    def essence(status: dict[str, Any] | None) -> dict[str, Any]:
        status = dict(status or {})
        for field in ("stream", "substream"):
            stream = dict(status.get(field) or {})
            stream.pop("lastProbeTime", None)
            stream.pop("probeLatencyMilliseconds", None)
            status[field] = stream or None
        status.pop("kopf", None)
        return {k: v for k, v in status.items() if v is not None}

    return essence(old) != essence(new)
