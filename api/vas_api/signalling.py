"""Janus signalling for browsers, through the facade: who may send what, and to which pod.

A viewer first makes one authenticated call (Authorization header) for a camera and gets a
short-lived opaque *signalling handle* bound to (viewer, camera) (``grants``). janus.js carries
that handle, never the bearer token, in Janus's ``token`` slot. Every request is checked the
same way on any replica: the handle (in Redis), the viewer's token and permission (still good),
the session's owner and camera (``sessions``), and the request itself (``proxy``). A new session
goes to the pod the camera is mounted on (``pool``); every later request on it goes to the pod
it was created on, whatever happened to the camera since. Every refusal is a SignallingError
(Janus's error shape).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vas_api import proxy
from vas_api.access import Access
from vas_api.auth import Viewer
from vas_api.errors import (
    ApiError,
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
                return await self._create(grant, viewer, camera, forward)
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
    ) -> Any:
        state = self.state
        if await state.sessions.open_for(grant.owner) >= state.max_sessions_per_viewer:
            raise TooManyRequests("too many open sessions; close one first")
        pod = await state.pool.route(camera)
        reply = await state.relay.post(pod, viewer, None, None, forward)
        if not isinstance(reply, dict) or reply.get("janus") != "success":
            return reply
        data = reply.get("data")
        created = data.get("id") if isinstance(data, dict) else None
        if not isinstance(created, int) or isinstance(created, bool) or created <= 0:
            return reply
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
        return reply

    async def poll(self, handle: Any, camera: Camera, session: int, maxev: int | None) -> Any:
        try:
            grant, viewer, _ = await self.authorise(handle, camera)
            record, pod = await self._session(session, grant)
            reply = await self.state.relay.poll(pod, viewer, session, maxev)
            if _janus_error(reply) == NO_SUCH_SESSION:
                # janus.js would long-poll a lost session forever on a 200: an HTTP error makes
                # it give up, and the viewer's page starts over with a new session.
                await self._forget(record)
                raise NotFound(f"session {session} is gone from gateway {pod.name}")
            return reply
        except ApiError as error:
            raise SignallingError(error) from None
