"""Janus signalling for browsers, through the facade: who may use which session.

A viewer first makes one authenticated call (Authorization header) for a camera and gets a
short-lived opaque *signalling handle* bound to (viewer, camera). janus.js carries that handle,
never the bearer token, in Janus's ``token`` slot. Each Janus session is bound to the viewer and
the camera it was created for; each viewer has its own limit of concurrent requests, and
long-polls use a connection pool of their own, so no viewer can block another. Every few seconds
the sessions' owners are checked again; a session whose token or permission is gone is destroyed
on the gateway. ``Signalling`` checks and forwards one request; ``Relay`` owns the state and the
connections to the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from vas_api import proxy
from vas_api.access import Access
from vas_api.auth import Auth, Viewer, token_digest
from vas_api.errors import (
    ApiError,
    BadGateway,
    Forbidden,
    SignallingError,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from vas_api.settings import ApiSettings
from vas_core.identity import mountpoint_id

log = logging.getLogger("vas_api.relay")
SESSION_TTL_SECONDS = 120.0  # Janus drops a REST session after 60 s without a request
MAX_SESSIONS_PER_VIEWER = 32
Camera = tuple[str, str]


@dataclass
class Grant:
    """What a signalling handle stands for; ``token`` is kept to re-check it with the cluster
    (it never leaves this process)."""

    viewer: Viewer
    token: str | None
    camera: Camera
    expires: float

    def __repr__(self) -> str:
        return f"Grant({self.viewer.username}, {self.camera[0]}/{self.camera[1]})"


class Grants:
    """Signalling handles by hash, expiring when unused, bounded per viewer."""

    def __init__(self, ttl: float, per_viewer: int) -> None:
        self.ttl = ttl
        self.per_viewer = per_viewer
        self._grants: dict[str, Grant] = {}

    def issue(self, viewer: Viewer, token: str | None, camera: Camera) -> str:
        self._prune()
        mine = sorted((g.expires, k) for k, g in self._grants.items() if g.viewer.key == viewer.key)
        for _, key in mine[: max(0, len(mine) - self.per_viewer + 1)]:
            del self._grants[key]  # the viewer's oldest handles make room
        handle = secrets.token_urlsafe(32)
        self._grants[token_digest(handle)] = Grant(
            viewer, token, camera, time.monotonic() + self.ttl
        )
        return handle

    def use(self, handle: Any, camera: Camera) -> Grant:
        """The grant of a live handle for this camera (its expiry renewed), else 401."""
        if not isinstance(handle, str) or not handle or len(handle) > 128:
            raise Unauthenticated("a signalling handle is required (ask .../signalling first)")
        key = token_digest(handle)
        grant = self._grants.get(key)
        if grant is None or grant.expires < time.monotonic() or grant.camera != camera:
            raise Unauthenticated("the signalling handle is not valid for this camera")
        grant.expires = time.monotonic() + self.ttl
        return grant

    def revoke(self, grant: Grant) -> None:
        for key in [k for k, g in self._grants.items() if g is grant]:
            del self._grants[key]

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, g in self._grants.items() if g.expires < now]:
            del self._grants[key]


@dataclass
class Session:
    owner: tuple[str, str]
    camera: Camera
    grant: Grant
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """Which viewer and camera each Janus session was created for."""

    def __init__(self) -> None:
        self._sessions: dict[int, Session] = {}

    def add(self, session: int, grant: Grant) -> None:
        self._prune()
        self._sessions[session] = Session(grant.viewer.key, grant.camera, grant)

    def count(self, viewer: Viewer) -> int:
        self._prune()
        return sum(1 for s in self._sessions.values() if s.owner == viewer.key)

    def check(self, session: int, grant: Grant) -> None:
        """Refused unless the session was made by this viewer for this camera."""
        entry = self._sessions.get(session)
        if entry is None or entry.owner != grant.viewer.key or entry.camera != grant.camera:
            raise Forbidden("unknown session for this viewer and camera")
        entry.seen = time.monotonic()

    def drop(self, session: int) -> None:
        self._sessions.pop(session, None)

    def items(self) -> list[tuple[int, Session]]:
        self._prune()
        return list(self._sessions.items())

    def viewers(self, camera: Camera) -> int:
        """Live viewer sessions for a camera through this facade (janus.js polls every 30 s
        at most, so a session idle for longer than the TTL has gone)."""
        self._prune()
        return sum(1 for s in self._sessions.values() if s.camera == camera)

    def _prune(self) -> None:
        cutoff = time.monotonic() - SESSION_TTL_SECONDS
        for key in [k for k, v in self._sessions.items() if v.seen < cutoff]:
            del self._sessions[key]


class ViewerLimits:
    """At most ``limit`` requests of one kind in flight per viewer."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self._open: dict[tuple[str, str], int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, viewer: Viewer) -> AsyncIterator[None]:
        key = viewer.key
        if self._open.get(key, 0) >= self.limit:
            message = f"at most {self.limit} {self.what} at a time per viewer"
            raise TooManyRequests(message, headers={"Retry-After": "1"})
        self._open[key] = self._open.get(key, 0) + 1
        try:
            yield
        finally:
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]


class Relay:
    """Forwards checked requests to the configured gateway."""

    def __init__(self, settings: ApiSettings) -> None:
        self.gateway_name, self.base = settings.gateway
        secret = settings.janus_api_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self.grants = Grants(settings.signalling_grant_seconds, settings.max_grants_per_viewer)
        self.sessions = Sessions()
        self.polls = ViewerLimits(settings.max_longpolls_per_viewer, "long-polls")
        self.requests = ViewerLimits(settings.max_requests_per_viewer, "signalling requests")
        # Long-polls wait up to 30 s at Janus: a pool of their own, so they never hold up the
        # short requests; a full pool answers 503 at once instead of queueing.
        self._poll_http = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=settings.janus_longpoll_connections, max_keepalive_connections=32
            ),
            timeout=httpx.Timeout(10, read=70, pool=1),
        )
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=settings.janus_request_connections),
            timeout=httpx.Timeout(10, pool=5),
        )

    async def close(self) -> None:
        await self._poll_http.aclose()
        await self._http.aclose()

    def _url(self, session: int | None, handle: int | None) -> str:
        return self.base + "".join(f"/{p}" for p in (session, handle) if p is not None)

    async def post(
        self, viewer: Viewer, session: int | None, handle: int | None, body: dict[str, Any]
    ) -> Any:
        if self._secret is not None:
            body = {**body, "apisecret": self._secret}
        async with self.requests.hold(viewer):
            return await self._call(self._http.post(self._url(session, handle), json=body))

    async def poll(self, viewer: Viewer, session: int, maxev: int | None) -> Any:
        params: dict[str, Any] = {"rid": int(time.time() * 1000)}
        if maxev is not None:
            params["maxev"] = maxev
        if self._secret is not None:
            params["apisecret"] = self._secret
        async with self.polls.hold(viewer):
            return await self._call(self._poll_http.get(self._url(session, None), params=params))

    async def _call(self, request: Any) -> Any:
        try:
            upstream: httpx.Response = await request
            return upstream.json()
        except httpx.PoolTimeout:
            raise Unavailable(f"gateway {self.gateway_name} is busy; try again") from None
        except (httpx.HTTPError, ValueError):
            raise BadGateway(f"gateway {self.gateway_name} did not answer") from None

    async def destroy(self, session: int) -> None:
        """End a session on the gateway (its owner lost access)."""
        self.sessions.drop(session)
        body: dict[str, Any] = {"janus": "destroy", "transaction": secrets.token_hex(6)}
        if self._secret is not None:
            body["apisecret"] = self._secret
        with contextlib.suppress(httpx.HTTPError):
            await self._http.post(self._url(session, None), json=body)

    async def revalidate(self, auth: Auth) -> int:
        """Destroy every session whose token or permission is gone; how many went."""
        gone = 0
        for session, entry in self.sessions.items():
            grant = entry.grant
            try:
                viewer = await auth.authenticate(grant.token)
                ok = viewer.key == grant.viewer.key and await auth.allowed(
                    viewer, "get", *grant.camera
                )
            except Unauthenticated:
                ok = False
            except Unavailable:
                continue  # the cluster did not answer: decide next time
            if not ok:
                log.info(
                    f"ending Janus session of {grant.viewer.username} for "
                    f"{grant.camera[0]}/{grant.camera[1]}: access is gone"
                )
                self.grants.revoke(grant)
                await self.destroy(session)
                gone += 1
        return gone

    async def revalidate_forever(self, auth: Auth, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.revalidate(auth)
            except Exception:
                log.exception("re-checking signalling sessions failed")


class Signalling:
    """One request on a camera's signalling path: the handle, the viewer's token and
    permission (both still good), the session's owner and the request itself are checked
    before it is forwarded. Every refusal is a SignallingError (Janus's error shape)."""

    def __init__(self, relay: Relay, access: Access, max_json_depth: int) -> None:
        self.relay = relay
        self.access = access
        self.max_json_depth = max_json_depth

    async def authorise(self, handle: Any, camera: Camera) -> Grant:
        grant = self.relay.grants.use(handle, camera)
        viewer = await self.access.auth.authenticate(grant.token)
        if viewer.key != grant.viewer.key:
            raise Forbidden("the signalling handle belongs to someone else")
        await self.access.camera(viewer, *camera)
        return grant

    async def post(
        self,
        read: Callable[[], Awaitable[bytes]],
        camera: Camera,
        session: int | None,
        handle: int | None,
    ) -> Any:
        transaction: str | None = None
        relay = self.relay
        try:
            body = proxy.parse_body(await read(), self.max_json_depth)
            if isinstance(body.get("transaction"), str):
                transaction = body["transaction"][:64]
            grant = await self.authorise(body.get("token"), camera)
            if session is not None:
                relay.sessions.check(session, grant)
            level = "root" if session is None else "session" if handle is None else "handle"
            forward = proxy.sanitize(body, level, mountpoint_id(*camera))
            if level == "root" and relay.sessions.count(grant.viewer) >= MAX_SESSIONS_PER_VIEWER:
                raise TooManyRequests("too many open sessions; close one first")
            reply = await relay.post(grant.viewer, session, handle, forward)
        except ApiError as error:
            raise SignallingError(error, transaction) from None
        if session is None and isinstance(reply, dict) and reply.get("janus") == "success":
            created = (reply.get("data") or {}).get("id")
            if isinstance(created, int):
                relay.sessions.add(created, grant)
        if forward["janus"] == "destroy" and session is not None:
            relay.sessions.drop(session)
        return reply

    async def poll(self, handle: Any, camera: Camera, session: int, maxev: int | None) -> Any:
        try:
            grant = await self.authorise(handle, camera)
            self.relay.sessions.check(session, grant)
            return await self.relay.poll(grant.viewer, session, maxev)
        except ApiError as error:
            raise SignallingError(error) from None
