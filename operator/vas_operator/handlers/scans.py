"""DiscoveryScan handlers: parse the body and run the scan (``scan_run.run``) on create, on a
spec change, on resume, and again when its interval has passed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from vas_core.names import API_GROUP, API_VERSION, DISCOVERY_SCANS
from vas_operator import scan_run
from vas_operator.credentials import read_credentials
from vas_operator.models import DiscoveryScan

SCANS = (API_GROUP, API_VERSION, DISCOVERY_SCANS)


def parse_scan(body: kopf.Body) -> DiscoveryScan:
    try:
        return DiscoveryScan.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
        )
    except ValidationError as error:
        raise kopf.PermanentError(f"invalid DiscoveryScan: {error.errors()[0]['msg']}") from None


async def run_scan(memo: kopf.Memo, body: kopf.Body, retry: int = 0) -> None:
    scan = parse_scan(body)
    meta = body["metadata"]
    out = scan_run.ScanStatus(
        memo.api,
        meta["namespace"],
        meta["name"],
        dict(body.get("status") or {}),
        int(meta.get("generation", 1)),
    )

    async def credentials(namespace: str, name: str) -> Any:
        return await read_credentials(memo.api, namespace, name)

    deps = scan_run.ScanDeps(memo.api, memo.cfg, memo.source_policy, credentials)
    await scan_run.run(scan, out, deps, retry)


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
