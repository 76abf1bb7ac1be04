"""One run of a DiscoveryScan: the gates (suspend, allow-list, source policy), the opted-in
credentials, the sweep with ONVIF, the Cameras from the template, and the status.

Plain async code with its collaborators passed in; ``handlers/scans.py`` only parses the body
and calls ``run``. ``ScanStatus`` is the scan's only status writer: it patches directly
(progress must show while the scan runs), at most one progress patch a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from vas_core.kube import KubeError, custom_path
from vas_core.names import API_GROUP, API_VERSION, CAMERAS, DISCOVERY_SCANS
from vas_operator import conditions as cond
from vas_operator import discovery
from vas_operator.clients import kube
from vas_operator.conditions import Observation
from vas_operator.credentials import CredentialsError, CredentialsUnavailable
from vas_operator.models import DiscoveryScan
from vas_operator.probe import Credentials
from vas_operator.scanning import onvif, rtsp, targets
from vas_operator.settings import OperatorSettings
from vas_operator.sourcepolicy import REASON as SOURCE_NOT_ALLOWED
from vas_operator.sourcepolicy import SourcePolicy

PROGRESS_EVERY_SECONDS = 1.0
CREDENTIALS = "Credentials"  # condition: are the named Secrets usable?
ONVIF_WAIT_SECONDS = 3.0


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ScanDeps:
    api: Any
    cfg: OperatorSettings
    policy: SourcePolicy
    read_credentials: Callable[[str, str], Awaitable[Credentials]]


@dataclass
class ScanStatus:
    """Writes one scan's status: whole states with their conditions, and throttled progress."""

    api: Any
    namespace: str
    name: str
    old: dict[str, Any]
    generation: int
    _last: float = 0.0
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    async def write(self, status: dict[str, Any], observed: list[Observation]) -> None:
        status["conditions"] = cond.merge(self.old.get("conditions"), observed, self.generation)
        status["observedGeneration"] = self.generation
        await kube.patch_status(self.api, DISCOVERY_SCANS, self.namespace, self.name, status)

    def progress(self, done: int, total: int) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if done and done < total and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        patch = {"scanned": done, "total": total, "progress": f"{done}/{total}"}
        task = loop.create_task(
            kube.patch_status(self.api, DISCOVERY_SCANS, self.namespace, self.name, patch)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        await asyncio.gather(*self._pending, return_exceptions=True)


def refusal(scan: DiscoveryScan, deps: ScanDeps) -> tuple[str, str] | None:
    """(reason, message) when the scan may not send a single packet, else None."""
    spec, cfg = scan.spec, deps.cfg
    refused = targets.refusal(
        spec.targets, cfg.discovery_allowed_cidrs, cfg.discovery_max_addresses
    )
    if refused:
        return "OutsideAllowList", refused
    refused = discovery.policy_refusal(spec.targets, deps.policy)
    if refused:
        return SOURCE_NOT_ALLOWED, refused
    return None


async def candidates(
    scan: DiscoveryScan, namespace: str, deps: ScanDeps
) -> tuple[list[rtsp.Candidate], list[CredentialsError]]:
    """Credentials from the named Secrets, through the one opted-in path: a Secret that is not
    of type vas.io/rtsp-credentials is reported and never offered to any host.
    CredentialsUnavailable (the API server failing) propagates."""
    found, problems = [], []
    for name in dict.fromkeys(ref.name for ref in scan.spec.credentials_secret_refs or []):
        try:
            creds = await deps.read_credentials(namespace, name)
        except CredentialsError as error:
            problems.append(error)
            continue
        found.append(rtsp.Candidate(name, creds.username, creds.password))
    return found, problems


def credentials_observation(scan: DiscoveryScan, problems: list[CredentialsError]) -> Observation:
    if not scan.spec.credentials_secret_refs:
        return Observation(CREDENTIALS, "True", "NoneNamed", "no credentialsSecretRefs")
    if not problems:
        return Observation(CREDENTIALS, "True", "SecretsUsable", "every named Secret is usable")
    message = "not offered to any host: " + "; ".join(p.message for p in problems)
    return Observation(CREDENTIALS, "False", problems[0].reason, message)


async def create_camera(api: Any, manifest: dict[str, Any]) -> None:
    namespace = manifest["metadata"]["namespace"]
    try:
        await api.create(custom_path(API_GROUP, API_VERSION, CAMERAS, namespace), manifest)
    except KubeError as error:
        if error.status != 409:  # 409: made by an earlier run, which is the point
            raise


def completed(
    scan: DiscoveryScan,
    result: discovery.Result,
    findings: list[dict[str, Any]],
    started: datetime,
    problems: list[CredentialsError],
) -> tuple[dict[str, Any], str]:
    """The final status of a scan and the message of its Ready condition. Pure."""
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
    if scan.spec.interval_seconds:
        status["nextScanTime"] = _iso(done + timedelta(seconds=scan.spec.interval_seconds))
    return status, message


async def sweep(
    scan: DiscoveryScan, found: list[rtsp.Candidate], out: ScanStatus, deps: ScanDeps
) -> tuple[discovery.Result, list[str]]:
    """The sweep of the targets and, with ONVIF on, of the announced hosts the allow-list and
    the source policy cover (multicast reaches only the operator's own segment)."""
    spec = scan.spec
    onvif_only: list[str] = []
    if spec.onvif.enabled:
        devices = await asyncio.get_running_loop().run_in_executor(
            None, onvif.probe, ONVIF_WAIT_SECONDS
        )
        hosts = [h for d in devices for h in d.hosts]
        onvif_only = discovery.onvif_targets(
            spec, hosts, deps.cfg.discovery_allowed_cidrs, deps.policy
        )
    result = await discovery.run(
        spec, found, out.progress, onvif_hosts=onvif_only, policy=deps.policy
    )
    await out.settle()
    return result, onvif_only


async def run(scan: DiscoveryScan, out: ScanStatus, deps: ScanDeps, retry: int = 0) -> None:
    if scan.spec.suspend:
        suspended = Observation("Ready", "False", "Suspended", "spec.suspend is true")
        await out.write({"phase": "Suspended"}, [suspended])
        return
    refused = refusal(scan, deps)
    if refused:  # before a single packet; nothing to retry until the spec changes
        reason, message = refused
        await out.write(
            {"phase": "Failed", "found": 0, "findings": []},
            [
                Observation("Allowed", "False", reason, message),
                Observation("Ready", "False", reason, message),
            ],
        )
        return
    try:
        found, problems = await candidates(scan, out.namespace, deps)
    except CredentialsUnavailable as error:
        waiting = Observation("Ready", "False", "CredentialsUnavailable", f"{error}; retrying")
        await out.write({"phase": "Pending"}, [waiting])
        raise kopf.TemporaryError(str(error), delay=deps.cfg.retry_delay(retry)) from None

    started = _now()
    allowed = Observation(
        "Allowed",
        "True",
        "InsideAllowList",
        "every target is inside the allow-list and the source policy",
    )
    observed = [allowed, credentials_observation(scan, problems)]
    running = {
        "phase": "Running",
        "startTime": _iso(started),
        "completionTime": None,
        "scanned": 0,
        "found": 0,
    }
    await out.write(
        running, [*observed, Observation("Ready", "False", "Scanning", "sweep in progress")]
    )

    result, onvif_only = await sweep(scan, found, out, deps)
    findings = []
    streams = result.streams[: discovery.MAX_FINDINGS]
    template = scan.spec.camera_template
    pairs = discovery.pair_substreams(streams, template.substream_paths if template else None)
    # A sub-stream that pairs with a main stream gets no Camera of its own: the main's has it.
    owner = {sub: main for main, sub in pairs.items() if sub not in pairs}
    names: dict[rtsp.Stream, str] = {}
    for stream in streams:
        if template is None or (stream in owner and stream not in pairs):
            continue
        manifest = discovery.camera_manifest(
            out.name, out.namespace, scan.spec, stream, pairs.get(stream)
        )
        await create_camera(deps.api, manifest)
        names[stream] = manifest["metadata"]["name"]
    for stream in streams:
        camera = names.get(stream) or (names.get(owner[stream]) if stream in owner else None)
        findings.append(discovery.finding(stream, camera, stream.address in onvif_only))
    status, message = completed(scan, result, findings, started, problems)
    await out.write(status, [*observed, Observation("Ready", "True", "Completed", message)])
