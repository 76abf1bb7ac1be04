"""DiscoveryScan handlers: check the allow-list and the source policy, read the opted-in
credentials Secrets, run the scan, report progress at a bounded rate, create Cameras from the
template, and repeat on the interval.

This module is the only writer of a scan's status (direct status patches, because progress
must show while the handler is still running).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from vas_operator import conditions as cond
from vas_operator import discovery
from vas_operator.clients import kube
from vas_operator.conditions import Observation
from vas_operator.credentials import CredentialsError, CredentialsUnavailable, read_credentials
from vas_operator.models import DiscoveryScan
from vas_operator.models.common import API_GROUP, API_VERSION
from vas_operator.scanning import onvif, rtsp, targets
from vas_operator.sourcepolicy import REASON as SOURCE_NOT_ALLOWED
from vas_operator.sourcepolicy import SourcePolicy

SCANS = (API_GROUP, API_VERSION, "discoveryscans")
PROGRESS_EVERY_SECONDS = 1.0
CREDENTIALS = "Credentials"  # condition: are the named Secrets usable?
log = logging.getLogger("vas.discovery")


async def source_policy(memo: kopf.Memo) -> SourcePolicy:
    """The operator-wide source policy: ``memo.source_policy`` when startup built one, else
    built here from the settings (VAS_SOURCE_ALLOWED_CIDRS / VAS_SOURCE_DENIED_CIDRS) with
    the operator's own endpoints (Janus Admin, Redis, the API server, the metrics port)."""
    policy = getattr(memo, "source_policy", None)
    if isinstance(policy, SourcePolicy):
        return policy
    cfg = memo.cfg
    own_urls = [cfg.gateway_admin_url, cfg.redis_url, memo.api.configuration.host]
    own_ports = [cfg.metrics_port] if cfg.metrics_port else []
    try:
        return await asyncio.to_thread(
            SourcePolicy.build,
            cfg.source_allowed_cidrs,
            cfg.source_denied_cidrs,
            [u for u in own_urls if u],
            own_ports,
        )
    except OSError as error:  # a service name that does not resolve just now
        raise kopf.TemporaryError(f"building the source policy: {error}", delay=30) from None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _write(
    memo: kopf.Memo,
    namespace: str,
    name: str,
    old: dict[str, Any],
    status: dict[str, Any],
    observed: list[Observation],
    generation: int,
) -> None:
    status["conditions"] = cond.merge(old.get("conditions"), observed, generation)
    status["observedGeneration"] = generation
    await kube.patch_status(memo.api, "discoveryscans", namespace, name, status)


async def _candidates(
    memo: kopf.Memo, namespace: str, scan: DiscoveryScan
) -> tuple[list[rtsp.Candidate], list[CredentialsError]]:
    """Credentials from the named Secrets, read through the one opted-in path: a Secret that
    is not of type vas.io/rtsp-credentials (or lacks the fixed keys) is reported and never
    offered to any host. CredentialsUnavailable (the API server failing) propagates."""
    found, problems = [], []
    for name in dict.fromkeys(ref.name for ref in scan.spec.credentials_secret_refs or []):
        try:
            creds = await read_credentials(memo.api, namespace, name)
        except CredentialsError as error:
            problems.append(error)
            continue
        found.append(rtsp.Candidate(name, creds.username, creds.password))
    return found, problems


def _credentials_observation(scan: DiscoveryScan, problems: list[CredentialsError]) -> Observation:
    if not scan.spec.credentials_secret_refs:
        return Observation(CREDENTIALS, "True", "NoneNamed", "no credentialsSecretRefs")
    if not problems:
        return Observation(CREDENTIALS, "True", "SecretsUsable", "every named Secret is usable")
    message = "not offered to any host: " + "; ".join(p.message for p in problems)
    return Observation(CREDENTIALS, "False", problems[0].reason, message)


async def _create_camera(memo: kopf.Memo, manifest: dict[str, Any]) -> None:
    try:
        await client.CustomObjectsApi(memo.api).create_namespaced_custom_object(
            API_GROUP, API_VERSION, manifest["metadata"]["namespace"], "cameras", manifest
        )
    except ApiException as error:
        if error.status != 409:  # 409: made by an earlier run, which is the point
            raise


async def _refuse(
    memo: kopf.Memo,
    body: kopf.Body,
    old: dict[str, Any],
    generation: int,
    reason: str,
    message: str,
) -> None:
    """Refused before a single packet is sent; nothing to retry until the spec changes."""
    meta = body["metadata"]
    await _write(
        memo,
        meta["namespace"],
        meta["name"],
        old,
        {"phase": "Failed", "found": 0, "findings": []},
        [
            Observation("Allowed", "False", reason, message),
            Observation("Ready", "False", reason, message),
        ],
        generation,
    )


async def run_scan(memo: kopf.Memo, body: kopf.Body, retry: int = 0) -> None:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    generation = int(body["metadata"].get("generation", 1))
    old: dict[str, Any] = dict(body.get("status") or {})
    try:
        scan = DiscoveryScan.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
        )
    except ValidationError as error:
        raise kopf.PermanentError(f"invalid DiscoveryScan: {error.errors()[0]['msg']}") from None
    spec, cfg = scan.spec, memo.cfg
    if spec.suspend:
        await _write(
            memo,
            namespace,
            name,
            old,
            {"phase": "Suspended"},
            [Observation("Ready", "False", "Suspended", "spec.suspend is true")],
            generation,
        )
        return
    refused = targets.refusal(
        spec.targets, cfg.discovery_allowed_cidrs, cfg.discovery_max_addresses
    )
    if refused:
        await _refuse(memo, body, old, generation, "OutsideAllowList", refused)
        return
    policy = await source_policy(memo)
    refused = discovery.policy_refusal(spec.targets, policy)
    if refused:
        await _refuse(memo, body, old, generation, SOURCE_NOT_ALLOWED, refused)
        return
    try:
        candidates, problems = await _candidates(memo, namespace, scan)
    except CredentialsUnavailable as error:
        await _write(
            memo,
            namespace,
            name,
            old,
            {"phase": "Pending"},
            [Observation("Ready", "False", "CredentialsUnavailable", f"{error}; retrying")],
            generation,
        )
        raise kopf.TemporaryError(str(error), delay=cfg.retry_delay(retry)) from None
    credentials = _credentials_observation(scan, problems)
    started = _now()
    running = {
        "phase": "Running",
        "startTime": _iso(started),
        "completionTime": None,
        "scanned": 0,
        "found": 0,
    }
    allowed = Observation(
        "Allowed",
        "True",
        "InsideAllowList",
        "every target is inside the allow-list and the source policy",
    )
    observed = [allowed, credentials]
    await _write(
        memo,
        namespace,
        name,
        old,
        running,
        [*observed, Observation("Ready", "False", "Scanning", "sweep in progress")],
        generation,
    )
    last = 0.0
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = loop.time()
        if done and done < total and now - last < PROGRESS_EVERY_SECONDS:
            return
        last = now
        patch = {"scanned": done, "total": total, "progress": f"{done}/{total}"}
        task = loop.create_task(
            kube.patch_status(memo.api, "discoveryscans", namespace, name, patch)
        )
        pending.add(task)
        task.add_done_callback(pending.discard)

    onvif_only: list[str] = []
    if spec.onvif.enabled:
        # Multicast reaches the operator's own segment; announced hosts are swept only when
        # the allow-list covers them, like any target.
        devices = await loop.run_in_executor(None, onvif.probe, 3.0)
        hosts = [h for d in devices for h in d.hosts]
        onvif_only = discovery.onvif_targets(spec, hosts, cfg.discovery_allowed_cidrs, policy)
    result = await discovery.run(spec, candidates, progress, onvif_hosts=onvif_only, policy=policy)
    await asyncio.gather(*pending, return_exceptions=True)
    findings = []
    for stream in result.streams[: discovery.MAX_FINDINGS]:
        camera = None
        if spec.camera_template is not None:
            manifest = discovery.camera_manifest(name, namespace, spec, stream)
            await _create_camera(memo, manifest)
            camera = manifest["metadata"]["name"]
        findings.append(discovery.finding(stream, camera, stream.address in onvif_only))
    done = _now()
    message = (
        f"found {result.found} RTSP streams on {result.open_ports} open ports "
        f"of {result.total} tried"
    )
    if result.skipped:
        message += f"; skipped {result.skipped} that are VAS services"
    if result.found > len(findings):
        message += f"; status lists the first {len(findings)}"
    if problems:
        message += "; Secrets not used: " + "; ".join(p.message for p in problems)
    status: dict[str, Any] = {
        "phase": "Completed",
        "scanned": result.total,
        "total": result.total,
        "skipped": result.skipped,
        "progress": f"{result.total}/{result.total}",
        "found": result.found,
        "startTime": _iso(started),
        "completionTime": _iso(done),
        "findings": findings,
    }
    if spec.interval_seconds:
        status["nextScanTime"] = _iso(done + timedelta(seconds=spec.interval_seconds))
    await _write(
        memo,
        namespace,
        name,
        old,
        status,
        [*observed, Observation("Ready", "True", "Completed", message)],
        generation,
    )


@kopf.on.resume(*SCANS, field="spec")
@kopf.on.create(*SCANS, field="spec")
@kopf.on.update(*SCANS, field="spec")
async def scan_changed(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await run_scan(memo, body, retry)


@kopf.timer(*SCANS, interval=15, initial_delay=15, idle=15)
async def scan_repeat(body: kopf.Body, status: kopf.Status, memo: kopf.Memo, **_: Any) -> None:
    """Repeats a scan whose nextScanTime has passed (scans without an interval never)."""
    due = status.get("nextScanTime")
    if not due or status.get("phase") == "Running":
        return
    if datetime.fromisoformat(str(due).replace("Z", "+00:00")) <= datetime.now(UTC):
        await run_scan(memo, body)
