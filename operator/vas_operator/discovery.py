"""One DiscoveryScan run: sweep, confirm RTSP, name and describe what was found.

The Kopf handler supplies credentials and the source policy and writes status; everything
here is plain code. What a scan may touch is checked twice before any packet: the discovery
allow-list (``targets.refusal``) and the operator-wide source policy (``policy_refusal``);
inside allowed targets, endpoints that are VAS's own services are skipped by the sweep
(``Guard``) and checked again before any RTSP request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vas_operator.models.scan import DiscoveryScanSpec
from vas_operator.scanning import cores, rtsp, shards, sweep, targets
from vas_operator.scanning.budget import SHARED_BUDGET
from vas_operator.scanning.guard import Guard
from vas_operator.scanning.workers import WorkerPool
from vas_operator.sourcepolicy import SourcePolicy

CONFIRM_CONCURRENCY = 64
MAX_OPEN_PORTS = 16384  # open endpoints confirmed per run (a tarpit accepts everything)
MAX_FINDINGS = 1024  # findings kept in status, and Cameras made from a template
MAX_ONVIF_HOSTS = 256  # announced hosts swept per run
SCAN_LABEL = "vas.io/discovery-scan"
# Sweeps run in threads of their own: never in the event loop's default executor, which the
# rest of the operator needs (name resolution for source checks, ...). More scans than this
# at once wait for a thread.
SWEEP_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vas-sweep")
# Large sweeps are split over worker processes, one per core this process may use, started
# at the first large sweep and kept (``scanning/workers.py``). Nothing needs to close them:
# each ends when its stdin closes, which the kernel does when the operator ends, however.
SWEEP_WORKERS = WorkerPool(cores.usable())


@dataclass(frozen=True)
class Result:
    total: int
    open_ports: int
    streams: list[rtsp.Stream]  # the first MAX_FINDINGS, by address, port and path
    skipped: int = 0  # endpoints never connected to: VAS services
    found: int = 0  # every stream confirmed, also those past MAX_FINDINGS


def policy_refusal(wanted: Sequence[str], policy: SourcePolicy) -> str | None:
    """Why the source policy refuses these targets, or None. A target overlapping a denied
    range is refused whole, before any packet."""
    why = targets.embedded_ipv4_refusal(wanted)
    if why:
        return why
    for target, net in zip(wanted, targets.networks(wanted), strict=True):
        why = policy.network_refusal(net)
        if why:
            return f"target {target}: {why}"
    return None


def extra_hosts(spec: DiscoveryScanSpec, onvif_hosts: list[str]) -> list[str]:
    """ONVIF-announced hosts that the targets do not already cover."""
    nets = targets.networks(spec.targets)
    out = []
    for host in dict.fromkeys(onvif_hosts):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            continue  # a host name in an XAddr: not swept
        if not any(address in net for net in nets):
            out.append(str(address))
    return out


def onvif_targets(
    spec: DiscoveryScanSpec,
    onvif_hosts: list[str],
    allowed: Sequence[str],
    policy: SourcePolicy,
) -> list[str]:
    """Announced hosts to sweep besides the targets: only those that pass the same checks as
    a target (allow-list and source policy), at most MAX_ONVIF_HOSTS. Anyone on the segment
    can answer a Probe, so an announcement is a request to be scanned, nothing more."""
    out = []
    for host in extra_hosts(spec, onvif_hosts):
        if targets.refusal([host], allowed, 1) is None and policy_refusal([host], policy) is None:
            out.append(host)
        if len(out) >= MAX_ONVIF_HOSTS:
            break
    return out


async def run(
    spec: DiscoveryScanSpec,
    candidates: list[rtsp.Candidate],
    progress: Callable[[int, int], None],
    onvif_hosts: list[str] | None = None,
    *,
    policy: SourcePolicy,
    workers: WorkerPool | None = None,
) -> Result:
    """Sweep the targets (and hosts that answered an ONVIF Probe, already checked by
    ``onvif_targets``) off the event loop, over ``workers`` (default ``SWEEP_WORKERS``) when
    there are many endpoints, then confirm each open port with real RTSP requests, a bounded
    number at a time. The caller has checked the targets against the allow-list and
    ``policy_refusal``; endpoints the policy refuses by port are skipped here. Cancelled, the
    sweep stops (its workers' parts too) before the cancellation goes on."""
    swept = [*spec.targets, *extra_hosts(spec, onvif_hosts or [])]
    plan = targets.plan(swept, spec.ports)
    total = plan.count()
    progress(0, total)
    loop = asyncio.get_running_loop()
    guard = Guard(policy, spec.ports)
    tally = sweep.Tally()
    stop = threading.Event()

    def report(done: int) -> None:  # called from the sweep's thread
        loop.call_soon_threadsafe(progress, done + guard.skipped, total)

    swept_now = loop.run_in_executor(
        SWEEP_THREADS,
        functools.partial(
            shards.sweep_plan,
            plan,
            spec.concurrency,
            spec.connect_timeout_milliseconds / 1000,
            report,
            MAX_OPEN_PORTS,
            tally,
            SHARED_BUDGET,
            stop,
            guard,
            SWEEP_WORKERS if workers is None else workers,
        ),
    )
    try:
        open_ports = await asyncio.shield(swept_now)
    except asyncio.CancelledError:
        stop.set()
        with contextlib.suppress(Exception):
            await swept_now  # within a twentieth of a second, workers included
        raise
    gate = asyncio.Semaphore(CONFIRM_CONCURRENCY)

    async def one(endpoint: tuple[str, int]) -> list[rtsp.Stream]:
        if guard.refuses(ipaddress.ip_address(endpoint[0]), endpoint[1]):
            return []  # the sweep skipped it already; checked again before any RTSP
        async with gate:
            return await rtsp.confirm(
                endpoint[0],
                endpoint[1],
                list(spec.paths),
                candidates,
                spec.rtsp_timeout_milliseconds / 1000,
            )

    found = await asyncio.gather(*(one(e) for e in open_ports))
    streams = sorted(
        (s for group in found for s in group), key=lambda s: (s.address, s.port, s.path)
    )
    return Result(total, tally.open, streams[:MAX_FINDINGS], guard.skipped, len(streams))


def camera_name(scan: str, stream: rtsp.Stream) -> str:
    """Deterministic, so a re-scan finds the Camera it made before instead of a second one."""
    address = re.sub(r"[^0-9a-f]+", "-", stream.address.lower()).strip("-")
    digest = hashlib.sha256(stream.path.encode()).hexdigest()[:6]
    return f"{scan[:200]}-{address}-{stream.port}-{digest}"


def stream_url(stream: rtsp.Stream) -> str:
    host = f"[{stream.address}]" if ":" in stream.address else stream.address
    return f"rtsp://{host}:{stream.port}{stream.path}"


def pair_substreams(
    streams: Sequence[rtsp.Stream], paths: dict[str, str] | None
) -> dict[rtsp.Stream, rtsp.Stream]:
    """Main stream -> its sub-stream: the template's ``substreamPaths`` pairs whose two paths
    both answered on the same address and port. Pure."""
    if not paths:
        return {}
    found = {(s.address, s.port, s.path): s for s in streams}
    pairs = {}
    for stream in streams:
        sub_path = paths.get(stream.path)
        sub = found.get((stream.address, stream.port, sub_path)) if sub_path else None
        if sub is not None and sub is not stream:
            pairs[stream] = sub
    return pairs


def camera_manifest(
    scan: str,
    namespace: str,
    spec: DiscoveryScanSpec,
    stream: rtsp.Stream,
    substream: rtsp.Stream | None = None,
) -> dict[str, Any]:
    template = spec.camera_template
    meta = template.metadata if template and template.metadata else None
    tspec = template.spec if template and template.spec else None
    source: dict[str, Any] = {
        "url": stream_url(stream),
        "transport": tspec.transport if tspec else "tcp",
    }
    if stream.credentials_secret:
        source["credentialsSecretRef"] = {"name": stream.credentials_secret}
    camera_spec: dict[str, Any] = {"source": source, "enabled": tspec.enabled if tspec else True}
    if substream is not None:
        sub: dict[str, Any] = {"url": stream_url(substream)}
        if (
            substream.credentials_secret
            and substream.credentials_secret != stream.credentials_secret
        ):
            sub["credentialsSecretRef"] = {"name": substream.credentials_secret}
        camera_spec["substream"] = sub
    if tspec and tspec.snapshot:
        camera_spec["snapshot"] = tspec.snapshot.model_dump(by_alias=True)
    if tspec and tspec.location:
        camera_spec["location"] = tspec.location
    camera_spec["description"] = (
        tspec.description
        if tspec and tspec.description
        else f"found by DiscoveryScan {scan} ({stream.server or 'RTSP'})"
    )
    return {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {
            "name": camera_name(scan, stream),
            "namespace": namespace,
            "labels": {**(meta.labels if meta and meta.labels else {}), SCAN_LABEL: scan},
            **({"annotations": meta.annotations} if meta and meta.annotations else {}),
        },
        "spec": camera_spec,
    }


def finding(stream: rtsp.Stream, camera: str | None, via_onvif: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "address": stream.address,
        "port": stream.port,
        "path": stream.path,
        "authRequired": stream.auth_required,
        "source": "ONVIF" if via_onvif else "Sweep",
    }
    if stream.credentials_secret:
        out["credentialsSecret"] = stream.credentials_secret
    if stream.server:
        # What the scanned host sent: no terminal escapes or other controls in kubectl output.
        out["server"] = "".join(c if c.isprintable() else "?" for c in stream.server[:256])
    if camera:
        out["camera"] = camera
    return out
