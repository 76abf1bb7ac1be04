"""The FastAPI application factory; ``uvicorn --factory vas_api.app:create_app`` serves it.

A factory with a lifespan that owns the clients, so tests build apps with their own settings.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import yaml
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Histogram, make_asgi_app

from vas_api import listing, proxy
from vas_api.auth import Forbidden, KubernetesAuth, NoAuth, Unauthenticated, Viewer
from vas_api.cache import ResourceCache
from vas_api.listing import BadRequest, Filters
from vas_api.live import LiveStore
from vas_api.models import (
    CameraDetail,
    CameraList,
    ErrorResponse,
    GroupList,
    LiveFigures,
    Me,
)
from vas_api.settings import ApiSettings

log = logging.getLogger("vas_api")
STATIC = Path(__file__).resolve().parent / "static"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}


class NotFound(Exception):
    pass


def error(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "reason": reason, "message": message}}, code)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def current_viewer(request: Request) -> Viewer:
    viewer: Viewer = await request.app.state.auth.authenticate(bearer(request))
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def create_app(settings: ApiSettings | None = None, api_client: Any = None) -> FastAPI:
    settings = settings or ApiSettings()
    registry = CollectorRegistry()
    latency = Histogram(
        "vas_api_request_duration_seconds", "Facade request latency.", ["route"], registry=registry
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from vas_core.kube import api_client as make_client

        api = api_client or await make_client()
        app.state.cache = ResourceCache(api)
        app.state.cache.start()
        app.state.live = LiveStore(settings.redis_url)
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(10, read=70))
        app.state.sessions = proxy.Sessions()
        if settings.auth == "none":
            log.warning(
                "!!! VAS facade in DEVELOPMENT MODE: no authentication, every camera "
                "is visible to anyone who can reach this port. Never expose it. !!!"
            )
            app.state.auth = NoAuth()
        else:
            app.state.auth = KubernetesAuth(api, settings.auth_cache_seconds)
        try:
            yield
        finally:
            await app.state.cache.stop()
            await app.state.live.close()
            await app.state.http.aclose()
            if api_client is None:
                await api.close()

    app = FastAPI(
        title="VAS",
        summary="Cameras as Kubernetes resources: read API, live figures and the web viewer",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return error(400, "BadRequest", str(exc))

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return error(401, "Unauthorized", str(exc))

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error(403, "Forbidden", str(exc))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error(404, "NotFound", str(exc))

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        latency.labels(getattr(route, "path", "other")).observe(time.perf_counter() - started)
        return response

    async def visible_namespaces(request: Request, viewer: Viewer) -> frozenset[str] | None:
        if viewer.anonymous_dev:
            return None
        cache: ResourceCache = request.app.state.cache
        namespaces = {ns for ns, _ in cache.cameras} | {ns for ns, _ in cache.groups}
        auth = request.app.state.auth
        return frozenset(
            [ns for ns in sorted(namespaces) if await auth.allowed(viewer, "list", ns)]
        )

    async def camera_for(
        request: Request, viewer: Viewer, namespace: str, name: str
    ) -> dict[str, Any]:
        if not await request.app.state.auth.allowed(viewer, "get", namespace, name):
            raise Forbidden(f"{viewer.username} may not get cameras in namespace {namespace}")
        item: dict[str, Any] | None = request.app.state.cache.cameras.get((namespace, name))
        if item is None:
            raise NotFound(f"camera {namespace}/{name} not found")
        return item

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": ErrorResponse}})
    async def readyz(request: Request) -> Any:
        """Ready once the camera cache holds a full listing."""
        if not request.app.state.cache.synced:
            return error(503, "NotReady", "the camera cache has not synced yet")
        return {"status": "ok"}

    @app.get("/api/v1/me", response_model=Me, tags=["viewer"], responses=ERRORS)
    async def me(viewer: CurrentViewer) -> Me:
        """Who the token belongs to."""
        return Me(username=viewer.username, devMode=viewer.anonymous_dev)

    @app.get(
        "/api/v1/cameras",
        response_model=CameraList,
        response_model_by_alias=True,
        tags=["cameras"],
        responses=ERRORS,
    )
    async def list_cameras(
        request: Request,
        viewer: CurrentViewer,
        namespace: Annotated[str | None, Query(max_length=63)] = None,
        label_selector: Annotated[str | None, Query(alias="labelSelector", max_length=1024)] = None,
        phase: Annotated[str | None, Query(max_length=32)] = None,
        q: Annotated[
            str | None, Query(max_length=256, description="Text in name, description or location")
        ] = None,
        group: Annotated[
            str | None,
            Query(max_length=253, description="Only members of this CameraGroup (needs namespace)"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 50,
        continue_: Annotated[str | None, Query(alias="continue", max_length=1024)] = None,
    ) -> dict[str, Any]:
        """Cameras the viewer may list, filtered, in stable pages (namespace, name order)."""
        allowed = await visible_namespaces(request, viewer)
        namespaces = listing.scope(allowed, namespace)
        selector = listing.parse_label_selector(label_selector)
        if group is not None:
            if namespace is None:
                raise BadRequest("group needs namespace")
            found = request.app.state.cache.groups.get((namespace, group))
            if found is None:
                raise NotFound(f"camera group {namespace}/{group} not found")
            selector = _and(selector, found["selector"])
        items, token, total = listing.page(
            list(request.app.state.cache.cameras.values()),
            Filters(namespaces=namespaces, phase=phase, selector=selector, text=q),
            limit,
            continue_,
        )
        return {"items": items, "total": total, "continue": token}

    @app.get(
        "/api/v1/groups",
        response_model=GroupList,
        response_model_by_alias=True,
        tags=["groups"],
        responses=ERRORS,
    )
    async def list_groups(
        request: Request,
        viewer: CurrentViewer,
        namespace: Annotated[str | None, Query(max_length=63)] = None,
        limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 50,
        continue_: Annotated[str | None, Query(alias="continue", max_length=1024)] = None,
    ) -> dict[str, Any]:
        """CameraGroups in the namespaces where the viewer may list cameras."""
        allowed = await visible_namespaces(request, viewer)
        namespaces = listing.scope(allowed, namespace)
        items, token, total = listing.page(
            list(request.app.state.cache.groups.values()),
            Filters(namespaces=namespaces),
            limit,
            continue_,
        )
        return {"items": items, "total": total, "continue": token}

    @app.get(
        "/api/v1/namespaces/{namespace}/cameras/{name}",
        response_model=CameraDetail,
        tags=["cameras"],
        responses=ERRORS,
    )
    async def camera_detail(
        request: Request, viewer: CurrentViewer, namespace: str, name: str
    ) -> dict[str, Any]:
        """One camera with its conditions and live figures (viewers, last-frame age)."""
        item = await camera_for(request, viewer, namespace, name)
        figures = await request.app.state.live.figures(namespace, name)
        # Viewers are counted by this facade, which carries their signalling.
        viewers = request.app.state.sessions.viewers(f"{namespace}/{name}")
        live = LiveFigures(
            available=figures is not None, figures={**(figures or {}), "viewers": viewers}
        )
        return {**item, "live": live}

    @app.get(
        "/api/v1/namespaces/{namespace}/cameras/{name}/yaml",
        tags=["cameras"],
        response_class=PlainTextResponse,
        responses=ERRORS,
    )
    async def camera_yaml(
        request: Request, viewer: CurrentViewer, namespace: str, name: str
    ) -> PlainTextResponse:
        """The camera as a user would commit it to Git: no status, no server fields."""
        item = await camera_for(request, viewer, namespace, name)
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if item["labels"]:
            metadata["labels"] = item["labels"]
        if item["annotations"]:
            metadata["annotations"] = item["annotations"]
        doc = {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": metadata,
            "spec": item["spec"],
        }
        return PlainTextResponse(
            yaml.safe_dump(doc, sort_keys=False), media_type="application/yaml"
        )

    @app.get(
        "/api/v1/namespaces/{namespace}/cameras/{name}/thumbnail.jpg",
        tags=["cameras"],
        response_class=Response,
        responses=ERRORS,
    )
    async def thumbnail(
        request: Request, viewer: CurrentViewer, namespace: str, name: str
    ) -> Response:
        """The latest keyframe the operator decoded (kept in Redis with a TTL)."""
        await camera_for(request, viewer, namespace, name)
        data = await request.app.state.live.thumbnail(namespace, name)
        if data is None:
            raise NotFound(f"no thumbnail for {namespace}/{name} yet")
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=5"}
        )

    @app.api_route(
        "/gateway/{namespace}/{name}/janus",
        methods=["POST"],
        tags=["signalling"],
        include_in_schema=False,
    )
    @app.api_route(
        "/gateway/{namespace}/{name}/janus/{session}",
        methods=["GET", "POST"],
        include_in_schema=False,
    )
    @app.api_route(
        "/gateway/{namespace}/{name}/janus/{session}/{handle}",
        methods=["POST"],
        include_in_schema=False,
    )
    async def gateway(
        request: Request,
        namespace: str,
        name: str,
        session: int | None = None,
        handle: int | None = None,
    ) -> Response:
        """Janus signalling for one camera, limited to what a viewer may do."""
        return await _signal(request, settings, namespace, name, session, handle)

    app.mount("/metrics", make_asgi_app(registry=registry))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/vendor/{name}.js", include_in_schema=False)
    def vendor(name: str) -> FileResponse:
        paths = {"janus": settings.janus_js, "adapter": settings.adapter_js}
        if name not in paths or not Path(paths[name]).exists():
            raise NotFound(
                f"{name}.js is not installed (Debian: libjs-janus-gateway, libjs-webrtc-adapter)"
            )
        return FileResponse(paths[name], media_type="text/javascript")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def _and(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    if a is None:
        return b
    return {
        "matchLabels": {**(a.get("matchLabels") or {}), **(b.get("matchLabels") or {})},
        "matchExpressions": [
            *(a.get("matchExpressions") or []),
            *(b.get("matchExpressions") or []),
        ],
    }


def _janus_error(code: int, reason: str, transaction: Any = None) -> JSONResponse:
    # Janus answers HTTP 200 with the error in the body; janus.js reads it from there.
    body: dict[str, Any] = {"janus": "error", "error": {"code": code, "reason": reason}}
    if transaction is not None:
        body["transaction"] = transaction
    return JSONResponse(body, status_code=code if code in (401, 403) else 200)


async def _signal(
    request: Request,
    settings: ApiSettings,
    namespace: str,
    name: str,
    session: int | None,
    handle: int | None,
) -> Response:
    state = request.app.state
    body: dict[str, Any] = {}
    if request.method == "POST":
        try:
            parsed = await request.json()
        except ValueError:
            return _janus_error(400, "the body is not JSON")
        if not isinstance(parsed, dict):
            return _janus_error(400, "the body is not a JSON object")
        body = parsed
    transaction = body.get("transaction")
    # janus.js carries the viewer's token in Janus's own token slot (body or ?token=).
    token = body.pop("token", None) or request.query_params.get("token") or bearer(request)
    try:
        viewer = await state.auth.authenticate(token)
    except Unauthenticated as exc:
        return _janus_error(401, str(exc), transaction)
    if not await state.auth.allowed(viewer, "get", namespace, name):
        return _janus_error(
            403, f"{viewer.username} may not watch cameras in namespace {namespace}", transaction
        )
    camera = state.cache.cameras.get((namespace, name))
    if camera is None or camera.get("mountpointId") is None or not camera.get("gateway"):
        return _janus_error(
            404, f"camera {namespace}/{name} is not mounted on a gateway", transaction
        )
    key = f"{namespace}/{name}"
    try:
        # A session may only be used for the camera it was created for.
        gateway_name = camera["gateway"] if session is None else state.sessions.check(session, key)
        if request.method == "POST":
            level = "root" if session is None else "session" if handle is None else "handle"
            proxy.check(body, level, camera["mountpointId"])
    except proxy.Refused as exc:
        return _janus_error(403, str(exc), transaction)
    base = settings.gateways.get(gateway_name)
    if base is None:
        return _janus_error(503, f"gateway {gateway_name} is not configured", transaction)
    url = base + "".join(f"/{p}" for p in (session, handle) if p is not None)
    if settings.janus_api_secret is not None:
        body["apisecret"] = settings.janus_api_secret.get_secret_value()
    try:
        if request.method == "GET":
            params = {k: v for k, v in request.query_params.items() if k in ("rid", "maxev")}
            if settings.janus_api_secret is not None:
                params["apisecret"] = settings.janus_api_secret.get_secret_value()
            upstream = await state.http.get(url, params=params)
        else:
            upstream = await state.http.post(url, json=body)
        reply = upstream.json()
    except (httpx.HTTPError, ValueError):
        return _janus_error(502, f"gateway {gateway_name} did not answer", transaction)
    if session is None and isinstance(reply, dict) and reply.get("janus") == "success":
        state.sessions.add(int(reply["data"]["id"]), key, gateway_name)
    if body.get("janus") == "destroy" and session is not None:
        state.sessions.drop(session)
    return JSONResponse(reply)
