"""Operator start and stop: Kopf settings, long-lived clients in memo, background loops, and
the liveness probe that fails when the operator stops making progress."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import kopf
from prometheus_client import start_http_server

from vas_core.gateways import GatewayPod, pool_store
from vas_core.kube import api_client
from vas_core.memory import time_collections, trim_after_bursts, watch_loop_lag
from vas_core.watch import WatchedStore
from vas_operator import camera as camera_logic
from vas_operator.clients.live import LiveWriter
from vas_operator.credentials import read_credentials
from vas_operator.gateway_watch import GatewayWatcher
from vas_operator.group_sync import GroupSyncer
from vas_operator.handlers.scans import Schedule
from vas_operator.kopf_settings import api_session, configure_kopf
from vas_operator.metrics import (
    CAMERAS_WAITING,
    GC_PAUSE_SECONDS,
    LOOP_LAG_SECONDS,
    PhaseTracker,
)
from vas_operator.placement import Capacity
from vas_operator.pool import GatewayPool
from vas_operator.probe import Credentials
from vas_operator.prober import Prober
from vas_operator.progress import Progress
from vas_operator.scaler import PoolScaler
from vas_operator.secret_watch import SecretWatch
from vas_operator.settings import OperatorSettings
from vas_operator.sourcepolicy import SourcePolicy
from vas_operator.watched import CameraView, Watched


def source_policy(cfg: OperatorSettings, api_host: str, liveness: str) -> SourcePolicy:
    """The operator-wide policy, with VAS's own endpoints refused wherever they are."""
    own = [url for url in (api_host, cfg.redis_url) if url]
    ports = [p for p in (cfg.metrics_port, urlsplit(liveness).port) if p]
    return SourcePolicy.build(cfg.source_allowed_cidrs, cfg.source_denied_cidrs, own, ports)


def track_gateways(policy: SourcePolicy, pods: WatchedStore[GatewayPod]) -> Any:
    """A pod store listener: the gateways' Janus ports, wherever their pods are, are never a
    camera source."""

    def listener(*_: Any) -> None:
        policy.gateways(
            (pod.ip, port)
            for pod in pods.items.values()
            for port in (pod.http_port, pod.admin_port)
        )

    return listener


def track_work(progress: Progress, loop: asyncio.AbstractEventLoop) -> Any:
    """A camera store listener: what surely runs a Camera handler is work to wait for."""

    def listener(kind: str, key: Any, old: CameraView | None, new: CameraView | None) -> None:
        if new is None:
            progress.forget(key)
        elif old is None or old.generation != new.generation or old.triggers != new.triggers:
            progress.expect(key, loop.time())

    return listener


def track_deletions(deps: camera_logic.Deps, watched: Watched, phases: PhaseTracker) -> Any:
    """A camera store listener: a deleted Camera's mountpoints are removed at once."""
    tasks: set[asyncio.Task[bool]] = set()

    def listener(kind: str, key: Any, old: CameraView | None, new: CameraView | None) -> None:
        if new is not None:
            return
        phases.set(f"{key[0]}/{key[1]}", None)
        task = asyncio.create_task(
            camera_logic.remove_deleted(key, deps, lambda: key in watched.cameras.items)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return listener


@kopf.on.login()
async def login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.AiohttpSession | None:
    return await api_session(settings, **kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    cfg = OperatorSettings()  # values come from the environment
    # The mountpoint key is stable across restarts and secret from tenants: it seals Kopf's
    # state in status, so a restart still finds every camera's configuration as handled.
    configure_kopf(
        settings, cfg.mountpoint_key.get_secret_value().encode(), memo.get("verbose", False)
    )
    loop = asyncio.get_running_loop()
    memo.cfg = cfg
    memo.api = api = api_client()
    memo.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    memo.prober = Prober(cfg.probe_concurrency, cfg.probe_timeout_seconds)
    await memo.prober.start()
    memo.phases = PhaseTracker()
    memo.live = LiveWriter(cfg.redis_url) if cfg.redis_url else None
    memo.source_policy = source_policy(cfg, api.server, memo.liveness)
    pods = pool_store(api, cfg.gateway_namespace, cfg.gateway_selector)
    gateways_listener = track_gateways(memo.source_policy, pods)
    pods.listeners.append(gateways_listener)
    memo.pool = pool = GatewayPool(
        pods,
        cfg.janus_admin_secret.get_secret_value(),
        memo.http,
        Capacity(cfg.gateway_max_mountpoints, cfg.gateway_max_viewers),
        cfg.mountpoint_key.get_secret_value(),
        publish=memo.live.place if memo.live is not None else None,
        unready_grace=cfg.gateway_unready_grace_seconds,
        janus_timeout=cfg.janus_timeout_seconds,
        listing_age=cfg.health_interval_seconds * 3,
    )

    async def credentials(namespace: str, name: str) -> Credentials:
        return await read_credentials(api, namespace, name)

    memo.deps = camera_logic.Deps(
        read_credentials=credentials,
        prober=memo.prober,
        pool=pool,
        source_policy=memo.source_policy,
        mountpoint_key=cfg.mountpoint_key.get_secret_value(),
        streaming_admin_key=cfg.janus_streaming_admin_key.get_secret_value(),
    )
    if cfg.metrics_port:
        start_http_server(cfg.metrics_port, addr=cfg.metrics_address)

    memo.scans = Schedule()  # shared: resource handlers get a shallow copy of memo
    memo.watched = watched = Watched(api, memo.namespaces or ())
    memo.progress = progress = Progress(cfg.stall_seconds, started=loop.time())
    CAMERAS_WAITING.set_function(lambda: len(progress.waiting))
    time_collections(lambda gen, pause: GC_PAUSE_SECONDS.labels(str(gen)).observe(pause))
    watched.cameras.listeners.append(track_work(progress, loop))
    watched.cameras.listeners.append(track_deletions(memo.deps, watched, memo.phases))
    watcher = GatewayWatcher(
        api,
        memo.deps,
        watched,
        cfg.health_interval_seconds,
        memo.live,
        cfg.probe_concurrency,
    )
    memo.loops = {
        "gateway watcher": asyncio.create_task(watcher.run()),
        "group syncer": asyncio.create_task(GroupSyncer(api, watched).run()),
        "secret watch": asyncio.create_task(SecretWatch(api, watched).run()),
        "resume tracker": asyncio.create_task(expect_resumes(watched, progress)),
        "pool adoption": asyncio.create_task(start_pool(pool, gateways_listener)),
        "memory trimmer": asyncio.create_task(trim_after_bursts(lambda: progress.done_total)),
        "loop lag": asyncio.create_task(watch_loop_lag(LOOP_LAG_SECONDS.observe)),
    }
    if cfg.gateway_statefulset:
        scaler = PoolScaler(api, pool, watched, cfg, memo.live, watcher.wake)
        memo.loops["gateway autoscaler"] = asyncio.create_task(scaler.run())
    memo.gateway_watcher = watcher
    pods.start()
    watched.start()


async def start_pool(pool: GatewayPool, gateways_listener: Any) -> None:
    """Once the gateway pods are listed: their ports into the source policy (the store's
    first listing is no news to listeners), then the adoption every handler waits for."""
    await pool.store.synced.wait()
    gateways_listener()
    await pool.adopt()


async def expect_resumes(watched: Watched, progress: Progress) -> None:
    """Every Camera listed at start is owed a resume by Kopf."""
    await watched.cameras.synced.wait()
    progress.expect_existing(list(watched.cameras.items), asyncio.get_running_loop().time())


@kopf.on.probe(id="progress")
async def progress_probe(memo: kopf.Memo, **_: Any) -> str:
    """Fails (so the liveness endpoint answers 500 and the kubelet restarts the pod) when the
    operator is not making progress: its watches never synced, a loop died, or Cameras wait
    for a handler while none finishes."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    cfg: OperatorSettings = memo.cfg
    unsynced = memo.watched.unsynced()
    if not memo.pool.store.synced.is_set():
        unsynced.append("gateway pods")
    if unsynced and now - memo.progress.started > cfg.startup_deadline_seconds:
        raise kopf.PermanentError(
            f"not synced after {cfg.startup_deadline_seconds:g} s: {', '.join(unsynced)}"
        )
    for name, task in memo.loops.items():
        if task.done() and name not in ("resume tracker", "pool adoption"):
            raise kopf.PermanentError(f"the {name} stopped")
    if now - memo.gateway_watcher.last_round > cfg.health_interval_seconds * 6 + 60:
        raise kopf.PermanentError("the gateway watcher has not finished a round")
    stalled = memo.progress.stalled(now)
    if stalled:
        raise kopf.PermanentError(f"stalled: {stalled}")
    return f"{memo.progress.done_total} handled, {len(memo.progress.waiting)} waiting"


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.loops.values():
        task.cancel()
    for task in memo.loops.values():
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await memo.watched.stop()
    await memo.pool.store.stop()
    if memo.live is not None:
        await memo.live.close()
    await memo.prober.close()
    await memo.http.close()
    await memo.api.close()
