"""Janus signalling for browsers, through the facade: who may send what, and to which pod.

A viewer first makes one authenticated call (Authorization header) for a camera and gets a
short-lived opaque *signalling handle* bound to (viewer, camera) (``grants``); asked to, the
same call also opens a session watching the camera and returns Janus's offer (``open``), so a
page's first frame waits for one round trip through the facade, not five. The page carries
that handle, never the bearer token, in Janus's ``token`` slot. Every request is checked the
same way on any replica: the handle (in Redis), the viewer's token and permission (still good),
the session's owner and camera (``sessions``), and the request itself (``proxy``). A new session
goes to the pod the camera is mounted on (``pool``); every later request on it goes to the pod
it was created on, whatever happened to the camera since. Every refusal is a SignallingError
(Janus's error shape).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vas_api import proxy
from vas_api.access import Access
from vas_api.auth import Viewer
from vas_api.errors import (
    ApiError,
    BadGateway,
    Forbidden,
    NotFound,
    SignallingError,
    TooManyRequests,
    Unavailable,
)
from vas_api.grants import Camera, Grant, GrantStore
from vas_api.pool import GatewayPool
from vas_api.relay import Relay
from vas_api.revalidation import Revalidator, ServedSessions
from vas_api.sessions import SessionRecord, SessionStore
from vas_api.summaries import has_substream
from vas_core.gateways import GatewayPod
from vas_core.identity import mountpoint_id, substream_id

log = logging.getLogger("vas_api.signalling")
NO_SUCH_SESSION = 458  # Janus's error code for a session it does not know
NO_SUCH_MOUNTPOINT = 455  # the streaming plugin's: not mounted (any more) on that pod
OFFER_SECONDS = 10.0  # how long opening a stream waits for Janus's offer


class NotMounted(Unavailable):
    """The mountpoint a viewer asked for is not on its camera's pod (yet, or any more)."""

    reason = "NotMounted"


@dataclass(frozen=True)
class Opened:
    """A Janus session watching one mountpoint, made by the facade for a viewer: what the
    browser needs to answer the offer and to use the session afterwards."""

    session: int
    handle: int
    offer: dict[str, Any]


@dataclass
class SignallingState:
    """What every signalling request of this replica shares; built by the app's lifespan."""

    grants: GrantStore
    sessions: SessionStore
    pool: GatewayPool
    relay: Relay
    served: ServedSessions
    max_sessions_per_viewer: int

    @property
    def revalidator(self) -> Revalidator:
        return Revalidator(self.served, self.grants, self.sessions, self.pool, self.relay)

    async def close(self) -> None:
        await self.pool.stop()
        await self.relay.close()


def _janus_error(reply: Any) -> int | None:
    if isinstance(reply, dict) and reply.get("janus") == "error":
        error = reply.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, int) else None
    return None


def watchable(camera: Camera, item: dict[str, Any]) -> frozenset[int]:
    """The mountpoints a viewer of ``camera`` may watch: its main stream and, when its spec
    (``item``, the cache's summary) names one, its sub-stream. Both ids are derived from the
    camera's namespace and name, never read from its status."""
    ids = {mountpoint_id(*camera)}
    if has_substream(item.get("spec")):
        ids.add(substream_id(*camera))
    return frozenset(ids)


class Signalling:
    """One request on a camera's signalling path (built per request with the viewer's access)."""

    def __init__(self, state: SignallingState, access: Access, max_json_depth: int) -> None:
        self.state = state
        self.access = access
        self.max_json_depth = max_json_depth

    async def authorise(self, handle: Any, camera: Camera) -> tuple[Grant, Viewer, frozenset[int]]:
        """The handle's grant, its viewer (still allowed) and the mountpoints they may watch."""
        grant = await self.state.grants.use(handle, camera)
        viewer = await self.access.auth.authenticate(grant.token)
        if viewer.key != grant.owner:
            raise Forbidden("the signalling handle belongs to someone else")
        item = await self.access.camera(viewer, *camera)
        return grant, viewer, watchable(camera, item)

    async def _session(self, session: int, grant: Grant) -> tuple[SessionRecord, GatewayPod]:
        """The session's record and its pod; 404 when the pod left the pool (the session went
        with it: the viewer starts a new one)."""
        record = await self.state.sessions.check(session, grant)
        pod = self.state.pool.member(record.pod)
        if pod is None:
            await self._forget(record)
            raise NotFound(f"session {session} ended with its gateway pod {record.pod}")
        self.state.served.note(record, grant)
        return record, pod

    async def _forget(self, record: SessionRecord) -> None:
        await self.state.sessions.drop(record)
        self.state.served.forget(record.id)

    async def post(
        self,
        read: Callable[[], Awaitable[bytes]],
        camera: Camera,
        session: int | None,
        handle: int | None,
    ) -> Any:
        transaction: str | None = None
        state = self.state
        try:
            body = proxy.parse_body(await read(), self.max_json_depth)
            if isinstance(body.get("transaction"), str):
                transaction = body["transaction"][:64]
            grant, viewer, ids = await self.authorise(body.get("token"), camera)
            if session is None:
                forward = proxy.sanitize(body, "root", ids)
                return (await self._create(grant, viewer, camera, forward))[0]
            record, pod = await self._session(session, grant)
            level = "session" if handle is None else "handle"
            forward = proxy.sanitize(body, level, ids)
            try:
                reply = await state.relay.post(pod, viewer, session, handle, forward)
            finally:
                if forward["janus"] == "destroy":
                    await self._forget(record)  # the viewer is done with it, whatever Janus says
            if _janus_error(reply) == NO_SUCH_SESSION:
                await self._forget(record)
            return reply
        except ApiError as error:
            raise SignallingError(error, transaction) from None

    async def _create(
        self, grant: Grant, viewer: Viewer, camera: Camera, forward: dict[str, Any]
    ) -> tuple[Any, SessionRecord | None, GatewayPod]:
        """Janus's answer to ``create`` on the camera's pod, and the session's record when
        one was made."""
        state = self.state
        if await state.sessions.open_for(grant.owner) >= state.max_sessions_per_viewer:
            raise TooManyRequests("too many open sessions; close one first")
        pod = await state.pool.route(camera)
        reply = await state.relay.post(pod, viewer, None, None, forward)
        created = _success_id(reply)
        if created is None:
            return reply, None, pod
        record = SessionRecord(created, grant.owner, camera, pod.name, grant.key)
        try:
            added = await state.sessions.add(record)
        except ApiError:
            await state.relay.destroy(pod, created)  # a session nobody could use again
            raise
        if not added:  # another pod's session already has this id: start over
            await state.relay.destroy(pod, created)
            raise Unavailable("the gateway chose a session id in use; try again")
        state.served.note(record, grant)
        return reply, record, pod

    async def open(self, grant: Grant, viewer: Viewer, camera: Camera, mountpoint: int) -> Opened:
        """What a Janus client would do in four round trips from the browser (create a
        session, attach the streaming plugin, ``watch``, long-poll for the offer), done here
        on the pod's loopback-near connection, so a page gets its offer in one request.

        The caller has checked the viewer's token and permission and derived ``mountpoint``
        from the camera's identity; what reaches Janus is built here, nothing comes from the
        browser. A failure destroys the session: none is left for the viewer to count."""
        _, record, pod = await self._create(
            grant, viewer, camera, {"janus": "create", "transaction": _tx()}
        )
        if record is None:
            raise BadGateway(f"gateway {pod.name} made no session")
        relay = self.state.relay
        try:
            async with asyncio.timeout(OFFER_SECONDS):
                attach = {"janus": "attach", "plugin": proxy.STREAMING, "transaction": _tx()}
                attached = await relay.post(pod, viewer, record.id, None, attach)
                handle = _success_id(attached)
                if handle is None:
                    raise BadGateway(f"gateway {pod.name} did not attach the streaming plugin")
                watch = {
                    "janus": "message",
                    "body": {"request": "watch", "id": mountpoint},
                    "transaction": _tx(),
                }
                acked = await relay.post(pod, viewer, record.id, handle, watch)
                if _janus_error(acked) is not None or not isinstance(acked, dict):
                    raise BadGateway(f"gateway {pod.name} refused to watch")
                offer = await self._offer(pod, viewer, record.id, handle, acked)
            return Opened(record.id, handle, offer)
        except BaseException as error:  # a viewer gone mid-way (cancelled) included
            await relay.destroy(pod, record.id)
            await self._forget(record)
            if isinstance(error, TimeoutError):
                raise BadGateway(f"gateway {pod.name} made no offer in time") from None
            raise

    async def _offer(
        self, pod: GatewayPod, viewer: Viewer, session: int, handle: int, acked: dict[str, Any]
    ) -> dict[str, Any]:
        """Janus's SDP offer for ``watch`` on ``handle``: in its reply when the plugin answered
        at once, else from the session's events (the caller bounds the wait)."""
        events: list[Any] = [acked]
        while True:
            for event in events:
                offer = _offer_of(event, handle, pod)
                if offer is not None:
                    return offer
            polled = await self.state.relay.poll(pod, viewer, session, 5)
            if _janus_error(polled) is not None:
                raise BadGateway(f"gateway {pod.name} lost the session")
            events = polled if isinstance(polled, list) else [polled]

    async def poll(self, handle: Any, camera: Camera, session: int, maxev: int | None) -> Any:
        try:
            grant, viewer, _ = await self.authorise(handle, camera)
            record, pod = await self._session(session, grant)
            reply = await self.state.relay.poll(pod, viewer, session, maxev)
            if _janus_error(reply) == NO_SUCH_SESSION:
                # A page would long-poll a lost session forever on a 200: an HTTP error makes
                # it give up, and the viewer's page starts over with a new session.
                await self._forget(record)
                raise NotFound(f"session {session} is gone from gateway {pod.name}")
            return reply
        except ApiError as error:
            raise SignallingError(error) from None


def _tx() -> str:
    return secrets.token_hex(6)


def _success_id(reply: Any) -> int | None:
    """The id in a Janus ``success`` reply (a new session's or handle's)."""
    if not isinstance(reply, dict) or reply.get("janus") != "success":
        return None
    data = reply.get("data")
    found = data.get("id") if isinstance(data, dict) else None
    if not isinstance(found, int) or isinstance(found, bool) or found <= 0:
        return None
    return found


def _offer_of(event: Any, handle: int, pod: GatewayPod) -> dict[str, Any] | None:
    """The SDP offer ``event`` carries for ``handle``; NotMounted or BadGateway for the
    plugin's refusal; None for anything else (an ack, a keepalive, another handle's event)."""
    if not isinstance(event, dict) or event.get("janus") != "event":
        return None
    if event.get("sender") != handle:
        return None
    plugindata = event.get("plugindata")
    data = plugindata.get("data") if isinstance(plugindata, dict) else None
    if isinstance(data, dict) and "error_code" in data:
        if data.get("error_code") == NO_SUCH_MOUNTPOINT:
            raise NotMounted(f"the stream is not mounted on gateway {pod.name}")
        raise BadGateway(f"gateway {pod.name} refused to watch: {str(data.get('error'))[:200]}")
    jsep = event.get("jsep")
    if not isinstance(jsep, dict) or jsep.get("type") != "offer":
        return None
    sdp = jsep.get("sdp")
    if not isinstance(sdp, str) or len(sdp) > proxy.MAX_SDP:
        raise BadGateway(f"gateway {pod.name} sent no usable offer")
    return {"type": "offer", "sdp": sdp}
