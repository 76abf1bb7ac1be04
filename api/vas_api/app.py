"""The FastAPI application factory; ``uvicorn --factory vas_api.app:create_app`` serves it.

``create_app`` only wires: settings, a lifespan that owns the clients, one router per concern
(``handlers/``), the request limits, and one exception handler for the facade's error base
class (framework errors are translated into it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Histogram, make_asgi_app
from starlette.exceptions import HTTPException

from vas_api import shared
from vas_api.auth import Auth, KubernetesAuth, NoAuth
from vas_api.cache import ResourceCache
from vas_api.errors import ApiError, Invalid, for_status
from vas_api.grants import GrantStore
from vas_api.handlers import actions, cameras, groups, health, signalling, transfer, viewer
from vas_api.limits import hide_query_strings_in_access_log
from vas_api.live import LiveStore
from vas_api.pool import GatewayPool
from vas_api.relay import Relay
from vas_api.revalidation import ServedSessions
from vas_api.sessions import SessionStore
from vas_api.settings import ApiSettings
from vas_api.signalling import SignallingState
from vas_api.writes import BodyLimits, Writes, WriteSettings

log = logging.getLogger("vas_api")


def make_auth(settings: ApiSettings, api: Any) -> Auth:
    if settings.auth == "none":
        log.warning(
            "!!! VAS facade in DEVELOPMENT MODE: no authentication, every camera "
            "is visible to anyone who can reach this port. Never expose it. !!!"
        )
        return NoAuth()
    return KubernetesAuth(
        api,
        ttl=settings.auth_cache_seconds,
        failure_ttl=settings.auth_failure_cache_seconds,
        size=settings.auth_cache_entries,
        audiences=settings.token_audiences,
        max_token_bytes=settings.max_token_bytes,
    )


def signalling_state(settings: ApiSettings, api: Any, client: redis.Redis) -> SignallingState:
    """The signalling path's shared parts: grants and sessions in Redis, the gateway pool
    from the API server, the connections to the pods, the sessions this replica served."""
    sessions = SessionStore(client)
    return SignallingState(
        grants=GrantStore(
            client, settings.signalling_grant_seconds, settings.max_grants_per_viewer
        ),
        sessions=sessions,
        pool=GatewayPool(api, settings.gateway_namespace, settings.gateway_selector, client),
        relay=Relay(settings),
        served=ServedSessions(sessions.ttl),
        max_sessions_per_viewer=settings.max_sessions_per_viewer,
    )


def create_app(settings: ApiSettings | None = None, api_client: Any = None) -> FastAPI:
    settings = settings or ApiSettings()
    writes = WriteSettings()
    hide_query_strings_in_access_log()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from vas_core.kube import api_client as make_client

        api = api_client or make_client()
        app.state.cache = ResourceCache(api)
        app.state.cache.start()
        client = shared.connect(settings.redis_url)
        app.state.live = LiveStore(client)
        app.state.auth = make_auth(settings, api)
        app.state.writes = Writes(
            api, app.state.auth, app.state.cache, writes, dev=settings.auth == "none"
        )
        app.state.signalling = state = signalling_state(settings, api, client)
        state.pool.start()
        sweeper = asyncio.create_task(
            state.revalidator.forever(app.state.auth, max(1.0, settings.auth_cache_seconds)),
            name="re-check signalling sessions",
        )
        compactor = asyncio.create_task(app.state.cache.keep_compact(), name="keep cache compact")
        try:
            yield
        finally:
            for task in (sweeper, compactor):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.cache.stop()
            await state.close()
            await client.aclose()
            # Its connections only (they belong to this event loop); a Kube passed in can
            # still be used afterwards, with new connections.
            await api.close()

    app = FastAPI(
        title="VAS",
        summary="Cameras as Kubernetes resources: read API, live figures and the web viewer",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for module in (health, cameras, groups, signalling, viewer, actions, transfer):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=viewer.STATIC), name="static")
    registry = CollectorRegistry()
    app.mount("/metrics", make_asgi_app(registry=registry))
    _add_error_handlers(app)
    app.add_middleware(Timing, registry=registry)
    app.add_middleware(
        BodyLimits,
        max_body=settings.max_body_bytes,
        max_header=settings.max_header_bytes,
        import_body=writes.max_import_bytes,
    )
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error.response()

    # What the framework raises is translated into the same error classes and shape.
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in error.errors()[:5]
        )
        return Invalid(problems or "invalid request").response()

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return for_status(error.status_code, str(error.detail)).response()

    @app.exception_handler(Exception)
    async def crash(_: Request, error: Exception) -> JSONResponse:
        log.error(f"unexpected {type(error).__name__} while answering a request")
        body = {"error": {"code": 500, "reason": "InternalError", "message": "internal error"}}
        return JSONResponse(body, status_code=500)


class Timing:
    """Request latency by route template (a pure ASGI middleware: exceptions pass through it
    unwrapped to the error handler)."""

    def __init__(self, app: Any, registry: CollectorRegistry) -> None:
        self.app = app
        self.latency = Histogram(
            "vas_api_request_duration_seconds",
            "Facade request latency.",
            ["route"],
            registry=registry,
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            self.latency.labels(route).observe(time.perf_counter() - started)
