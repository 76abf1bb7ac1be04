"""The connections from this facade replica to the gateway pods, and per-viewer limits on them.

Long-polls wait up to 30 s at Janus, so they have a connection pool of their own and never
hold up short requests; a full pool answers 503 at once instead of queueing. Each viewer may
have a few requests of each kind in flight, so no viewer can block another.

The client is aiohttp's (as ``vas_core.kube`` and the operator's Janus client): a request
costs ~0.3 ms of CPU here against 2.5-5 ms with httpx, and opening a stream makes four of them
(create, attach, watch, the offer's long-poll) while the viewer waits for its first frame.

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

import aiohttp

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
        # (connections, seconds to get one, seconds to wait for an answer). aiohttp's
        # ``connect`` timeout covers the wait for a free connection of the pool and the
        # connect itself: past it the pod is busy (503, try again), never queued for long.
        self._poll_limits = (settings.janus_longpoll_connections, 1.0, 70.0)
        self._request_limits = (settings.janus_request_connections, 5.0, 10.0)
        self._poll_http: aiohttp.ClientSession | None = None
        self._http: aiohttp.ClientSession | None = None

    @staticmethod
    def _client(limits: tuple[int, float, float]) -> aiohttp.ClientSession:
        size, pool, read = limits
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=size, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, connect=pool, sock_read=read),
        )

    def _requests(self) -> aiohttp.ClientSession:
        """The pool for short requests, made on first use (inside the running event loop)."""
        if self._http is None:
            self._http = self._client(self._request_limits)
        return self._http

    def _polls(self) -> aiohttp.ClientSession:
        if self._poll_http is None:
            self._poll_http = self._client(self._poll_limits)
        return self._poll_http

    async def close(self) -> None:
        for client in (self._poll_http, self._http):
            if client is not None:
                await client.close()
        self._poll_http = self._http = None

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
            return await self._call(pod, self._requests(), "POST", _url(pod, session, handle), body)

    async def poll(self, pod: GatewayPod, viewer: Viewer, session: int, maxev: int | None) -> Any:
        params: dict[str, Any] = {"rid": int(time.time() * 1000)}
        if maxev is not None:
            params["maxev"] = maxev
        if self._secret is not None:
            params["apisecret"] = self._secret
        async with self.polls.hold(viewer.key):
            url = _url(pod, session, None)
            return await self._call(pod, self._polls(), "GET", url, None, params)

    async def _call(
        self,
        pod: GatewayPod,
        client: aiohttp.ClientSession,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        try:
            async with client.request(method, url, json=body, params=params) as upstream:
                return await upstream.json(content_type=None)  # whatever type Janus names
        except aiohttp.ConnectionTimeoutError:
            raise Unavailable(f"gateway {pod.name} is busy; try again") from None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise BadGateway(f"gateway {pod.name} did not answer") from None

    async def destroy(self, pod: GatewayPod, session: int) -> None:
        """End a session on its pod (its owner lost access); a pod that does not answer has
        lost the session anyway."""
        body: dict[str, Any] = {"janus": "destroy", "transaction": secrets.token_hex(6)}
        if self._secret is not None:
            body["apisecret"] = self._secret
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
            async with self._requests().post(_url(pod, session, None), json=body):
                pass
