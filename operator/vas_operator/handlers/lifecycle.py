"""Operator start and stop: Kopf settings, long-lived clients in memo, background tasks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import kopf
from prometheus_client import start_http_server

from vas_core.kube import api_client
from vas_operator import camera as camera_logic
from vas_operator.clients import kube
from vas_operator.clients.janus import JanusAdmin
from vas_operator.clients.live import LiveWriter
from vas_operator.handlers.cameras import watch_gateway
from vas_operator.handlers.groups import sync_groups
from vas_operator.metrics import PhaseTracker
from vas_operator.models.common import API_GROUP
from vas_operator.placement import Gateway, StaticPlacement
from vas_operator.probe import Prober
from vas_operator.settings import OperatorSettings

KOPF_PREFIX = f"operator.{API_GROUP}"


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    cfg = OperatorSettings()  # values come from the environment
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    # Kopf ignores annotations under its own storage prefix when diffing; keeping its state
    # under operator.vas.io lets the vas.io/credentials-revision stamp count as a change.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # Bounded workers with a short idle timeout: measured to cap memory without losing
    # throughput when thousands of cameras arrive at once.
    settings.queueing.worker_limit = 200
    settings.queueing.idle_timeout = 0.5
    settings.posting.level = logging.WARNING

    memo.cfg = cfg
    memo.api = await api_client()
    memo.http = httpx.AsyncClient(timeout=cfg.janus_timeout_seconds)
    memo.prober = Prober(cfg.probe_concurrency, cfg.probe_timeout_seconds)
    memo.phases = PhaseTracker()
    memo.live = LiveWriter(cfg.redis_url) if cfg.redis_url else None
    gateway = Gateway(cfg.gateway_name, cfg.gateway_admin_url)
    admin_secret = cfg.janus_admin_secret.get_secret_value()

    async def read_secret(namespace: str, name: str, keys: tuple[str, str]) -> dict[str, str]:
        return await kube.read_secret_keys(memo.api, namespace, name, keys)

    memo.deps = camera_logic.Deps(
        read_secret=read_secret,
        prober=memo.prober,
        placement=StaticPlacement(gateway),
        janus_for=lambda gw: JanusAdmin(gw.admin_url, admin_secret, memo.http),
        mountpoint_key=cfg.mountpoint_key.get_secret_value(),
        streaming_admin_key=cfg.janus_streaming_admin_key.get_secret_value(),
    )
    if cfg.metrics_port:
        start_http_server(cfg.metrics_port, addr=cfg.metrics_address)
    # Resource handlers get a shallow copy of this memo: share a mutable holder, not attributes.
    memo.shared = {}
    memo.shared["group_wakeup"] = asyncio.Event()
    memo.shared["dirty_namespaces"] = set()
    memo.tasks = [
        asyncio.create_task(watch_gateway(memo, gateway)),
        asyncio.create_task(sync_groups(memo)),
    ]


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.tasks:
        task.cancel()
    if memo.live is not None:
        await memo.live.close()
    memo.prober.close()
    await memo.http.aclose()
    await memo.api.close()
