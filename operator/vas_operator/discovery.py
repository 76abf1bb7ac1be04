"""One DiscoveryScan run: sweep, confirm RTSP, name and describe what was found.

The Kopf handler supplies credentials and writes status; everything here is plain code.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vas_operator.models.scan import DiscoveryScanSpec
from vas_operator.scanning import rtsp, sweep, targets

CONFIRM_CONCURRENCY = 64
SCAN_LABEL = "vas.io/discovery-scan"


@dataclass(frozen=True)
class Result:
    total: int
    open_ports: int
    streams: list[rtsp.Stream]


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


async def run(
    spec: DiscoveryScanSpec,
    candidates: list[rtsp.Candidate],
    progress: Callable[[int, int], None],
    cancel: threading.Event | None = None,
    onvif_hosts: list[str] | None = None,
) -> Result:
    """Sweep the targets (and hosts that answered an ONVIF Probe) in a thread, so the event
    loop stays free, then confirm each open port with real RTSP requests, a bounded number at
    a time."""
    swept = [*spec.targets, *extra_hosts(spec, onvif_hosts or [])]
    total = targets.endpoint_count(swept, spec.ports)
    progress(0, total)
    loop = asyncio.get_running_loop()

    def report(done: int) -> None:  # called from the sweep's thread
        loop.call_soon_threadsafe(progress, done, total)

    open_ports = await loop.run_in_executor(
        None,
        sweep.sweep,
        targets.endpoints(swept, spec.ports),
        spec.concurrency,
        spec.connect_timeout_milliseconds / 1000,
        report,
        cancel,
    )
    gate = asyncio.Semaphore(CONFIRM_CONCURRENCY)

    async def one(endpoint: tuple[str, int]) -> list[rtsp.Stream]:
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
    return Result(total, len(open_ports), streams)


def camera_name(scan: str, stream: rtsp.Stream) -> str:
    """Deterministic, so a re-scan finds the Camera it made before instead of a second one."""
    address = re.sub(r"[^0-9a-f]+", "-", stream.address.lower()).strip("-")
    digest = hashlib.sha256(stream.path.encode()).hexdigest()[:6]
    return f"{scan[:200]}-{address}-{stream.port}-{digest}"


def stream_url(stream: rtsp.Stream) -> str:
    host = f"[{stream.address}]" if ":" in stream.address else stream.address
    return f"rtsp://{host}:{stream.port}{stream.path}"


def camera_manifest(
    scan: str, namespace: str, spec: DiscoveryScanSpec, stream: rtsp.Stream
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
        out["server"] = stream.server[:256]
    if camera:
        out["camera"] = camera
    return out
