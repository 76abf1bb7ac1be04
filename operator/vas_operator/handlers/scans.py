"""DiscoveryScan handlers: check the allow-list, run the scan, report progress at a bounded
rate, create Cameras from the template, and repeat on the interval.

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
from vas_operator.models import DiscoveryScan
from vas_operator.models.common import API_GROUP, API_VERSION
from vas_operator.scanning import onvif, rtsp, targets

SCANS = (API_GROUP, API_VERSION, "discoveryscans")
PROGRESS_EVERY_SECONDS = 1.0
log = logging.getLogger("vas.discovery")


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
) -> tuple[list[rtsp.Candidate], list[str]]:
    found, problems = [], []
    for ref in scan.spec.credentials_secret_refs or []:
        try:
            data = await kube.read_secret_keys(
                memo.api, namespace, ref.name, ("username", "password")
            )
        except kube.SecretError as error:
            problems.append(error.message)
            continue
        found.append(rtsp.Candidate(ref.name, data["username"], data["password"]))
    return found, problems


async def _create_camera(memo: kopf.Memo, manifest: dict[str, Any]) -> None:
    try:
        await client.CustomObjectsApi(memo.api).create_namespaced_custom_object(
            API_GROUP, API_VERSION, manifest["metadata"]["namespace"], "cameras", manifest
        )
    except ApiException as error:
        if error.status != 409:  # 409: made by an earlier run, which is the point
            raise


async def run_scan(memo: kopf.Memo, body: kopf.Body) -> None:
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
        # Refused before a single packet is sent; nothing to retry until the spec changes.
        await _write(
            memo,
            namespace,
            name,
            old,
            {"phase": "Failed", "found": 0},
            [
                Observation("Allowed", "False", "OutsideAllowList", refused),
                Observation("Ready", "False", "OutsideAllowList", refused),
            ],
            generation,
        )
        return
    candidates, problems = await _candidates(memo, namespace, scan)
    started = _now()
    running = {
        "phase": "Running",
        "startTime": _iso(started),
        "completionTime": None,
        "scanned": 0,
        "found": 0,
    }
    allowed = Observation("Allowed", "True", "InsideAllowList", "every target is allowed")
    await _write(
        memo,
        namespace,
        name,
        old,
        running,
        [allowed, Observation("Ready", "False", "Scanning", "sweep in progress")],
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
        onvif_only = [
            h
            for h in discovery.extra_hosts(spec, hosts)
            if targets.refusal([h], cfg.discovery_allowed_cidrs, 1) is None
        ]
    result = await discovery.run(spec, candidates, progress, onvif_hosts=onvif_only)
    await asyncio.gather(*pending, return_exceptions=True)
    findings = []
    for stream in result.streams[:1024]:
        camera = None
        if spec.camera_template is not None:
            manifest = discovery.camera_manifest(name, namespace, spec, stream)
            await _create_camera(memo, manifest)
            camera = manifest["metadata"]["name"]
        findings.append(discovery.finding(stream, camera, stream.address in onvif_only))
    done = _now()
    message = (
        f"found {len(result.streams)} RTSP streams on {result.open_ports} open ports "
        f"of {result.total} tried"
    )
    if problems:
        message += "; " + "; ".join(problems)
    status: dict[str, Any] = {
        "phase": "Completed",
        "scanned": result.total,
        "total": result.total,
        "progress": f"{result.total}/{result.total}",
        "found": len(result.streams),
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
        [allowed, Observation("Ready", "True", "Completed", message)],
        generation,
    )


@kopf.on.resume(*SCANS, field="spec")
@kopf.on.create(*SCANS, field="spec")
@kopf.on.update(*SCANS, field="spec")
async def scan_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await run_scan(memo, body)


@kopf.timer(*SCANS, interval=15, initial_delay=15, idle=15)
async def scan_repeat(body: kopf.Body, status: kopf.Status, memo: kopf.Memo, **_: Any) -> None:
    """Repeats a scan whose nextScanTime has passed (scans without an interval never)."""
    due = status.get("nextScanTime")
    if not due or status.get("phase") == "Running":
        return
    if datetime.fromisoformat(str(due).replace("Z", "+00:00")) <= datetime.now(UTC):
        await run_scan(memo, body)
