"""DiscoveryScan handlers: parse the body and run the scan (``scan_run.run``) on create, on a
spec change, on resume, and again when its interval has passed.

When a scan is due again is kept in this process (``memo.scans``), never read from the scan's
status: anyone with ``discoveryscans/status`` could otherwise make a scan repeat every timer
tick. A restarted operator runs every scan once on resume, which sets the schedule afresh."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from vas_core.names import API_GROUP, API_VERSION, DISCOVERY_SCANS
from vas_operator import scan_run
from vas_operator.credentials import read_credentials
from vas_operator.models import DiscoveryScan
from vas_operator.pool import PoolUnknown

SCANS = (API_GROUP, API_VERSION, DISCOVERY_SCANS)


@dataclass
class Schedule:
    """Scans running now, and when each finished scan with an interval is due again."""

    running: set[str] = field(default_factory=set)
    due: dict[str, float] = field(default_factory=dict)  # uid -> time.monotonic()

    def is_due(self, uid: str, now: float) -> bool:
        return uid not in self.running and uid in self.due and self.due[uid] <= now


def parse_scan(body: kopf.Body) -> DiscoveryScan:
    try:
        return DiscoveryScan.model_validate(
            {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
        )
    except ValidationError as error:
        raise kopf.PermanentError(f"invalid DiscoveryScan: {error.errors()[0]['msg']}") from None


async def run_scan(memo: kopf.Memo, body: kopf.Body, retry: int = 0) -> None:
    scan = parse_scan(body)
    try:
        await memo.pool.ready()  # the source policy knows the gateway pods' ports by then
    except PoolUnknown as error:
        raise kopf.TemporaryError(str(error), delay=memo.cfg.retry_delay(retry)) from None
    meta = body["metadata"]
    uid, schedule = str(meta.get("uid", "")), memo.scans
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
    schedule.running.add(uid)
    schedule.due.pop(uid, None)
    try:
        await scan_run.run(scan, out, deps, retry)
    finally:
        schedule.running.discard(uid)
        if scan.spec.interval_seconds:
            schedule.due[uid] = time.monotonic() + scan.spec.interval_seconds


@kopf.on.resume(*SCANS, field="spec")
@kopf.on.create(*SCANS, field="spec")
@kopf.on.update(*SCANS, field="spec")
async def scan_changed(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await run_scan(memo, body, retry)


@kopf.timer(*SCANS, interval=15, initial_delay=15, idle=15)
async def scan_repeat(body: kopf.Body, uid: str, memo: kopf.Memo, **_: Any) -> None:
    """Repeats a scan whose interval has passed since this process last ran it."""
    if memo.scans.is_due(uid, time.monotonic()):
        await run_scan(memo, body)


@kopf.on.delete(*SCANS, optional=True)
async def scan_deleted(uid: str, memo: kopf.Memo, **_: Any) -> None:
    memo.scans.due.pop(uid, None)
