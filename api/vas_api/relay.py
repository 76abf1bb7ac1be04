"""The connections from this facade replica to the gateway pods, and per-viewer limits on them.

Long-polls wait up to 30 s at Janus, so they have a connection pool of their own and never
hold up short requests; a full pool answers 503 at once instead of queueing. Each viewer may
have a few requests of each kind in flight, so no viewer can block another.

The in-flight limits are per replica, on purpose: they protect this process's connections,
and a request in flight lives in one process. What must hold over all replicas (handles and
open sessions per viewer) is counted in Redis (``grants``, ``sessions``).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from vas_api.auth import Viewer
from vas_api.errors import BadGateway, TooManyRequests, Unavailable
from vas_api.settings import ApiSettings
from vas_core.gateways import GatewayPod


class ViewerLimits:
    """At most ``limit`` requests of one kind in flight per viewer, in this replica."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self._open: dict[tuple[str, str], int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, viewer: tuple[str, str]) -> AsyncIterator[None]:
        if self._open.get(viewer, 0) >= self.limit:
            message = f"at most {self.limit} {self.what} at a time per viewer"
            raise TooManyRequests(message, headers={"Retry-After": "1"})
        self._open[viewer] = self._open.get(viewer, 0) + 1
        try:
            yield
        finally:
            self._open[viewer] -= 1
            if not self._open[viewer]:
                del self._open[viewer]


def _url(pod: GatewayPod, session: int | None, handle: int | None) -> str:
    return pod.http_url + "".join(f"/{p}" for p in (session, handle) if p is not None)


class Relay:
    """Forwards checked requests to a gateway pod's Janus HTTP API, with its api_secret."""

    def __init__(self, settings: ApiSettings) -> None:
        secret = settings.janus_api_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self.polls = ViewerLimits(settings.max_longpolls_per_viewer, "long-polls")
        self.requests = ViewerLimits(settings.max_requests_per_viewer, "signalling requests")
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

    async def post(
        self,
        pod: GatewayPod,
        viewer: Viewer,
        session: int | None,
        handle: int | None,
        body: dict[str, Any],
    ) -> Any:
        if self._secret is not None:
            body = {**body, "apisecret": self._secret}
        async with self.requests.hold(viewer.key):
            return await self._call(pod, self._http.post(_url(pod, session, handle), json=body))

    async def poll(self, pod: GatewayPod, viewer: Viewer, session: int, maxev: int | None) -> Any:
        params: dict[str, Any] = {"rid": int(time.time() * 1000)}
        if maxev is not None:
            params["maxev"] = maxev
        if self._secret is not None:
            params["apisecret"] = self._secret
        async with self.polls.hold(viewer.key):
            return await self._call(
                pod, self._poll_http.get(_url(pod, session, None), params=params)
            )

    async def _call(self, pod: GatewayPod, request: Any) -> Any:
        try:
            upstream: httpx.Response = await request
            return upstream.json()
        except httpx.PoolTimeout:
            raise Unavailable(f"gateway {pod.name} is busy; try again") from None
        except (httpx.HTTPError, ValueError):
            raise BadGateway(f"gateway {pod.name} did not answer") from None

    async def destroy(self, pod: GatewayPod, session: int) -> None:
        """End a session on its pod (its owner lost access); a pod that does not answer has
        lost the session anyway."""
        body: dict[str, Any] = {"janus": "destroy", "transaction": secrets.token_hex(6)}
        if self._secret is not None:
            body["apisecret"] = self._secret
        with contextlib.suppress(httpx.HTTPError):
            await self._http.post(_url(pod, session, None), json=body)
