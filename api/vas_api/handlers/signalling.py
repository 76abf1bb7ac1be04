"""Janus signalling for one camera: a signalling handle, then Janus's HTTP protocol.

``POST .../cameras/{name}/signalling`` (Authorization header) answers a short-lived opaque
handle bound to the viewer and the camera, and, when asked, a Janus session already watching
the camera with Janus's SDP offer; the page puts the handle in Janus's ``token`` slot, so no
bearer token ever appears in a URL. ``/gateway/{namespace}/{name}/janus...`` hands each request
to the signalling service (``vas_api.signalling``), which checks it and forwards it to the
gateway pod the camera is mounted on (a session's later requests: the pod it was created on),
with the gateway's api_secret. Any facade replica can serve any of these requests.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive

from vas_api.deps import (
    Bearer,
    CameraAccess,
    CurrentViewer,
    Name,
    Namespace,
    SignallingService,
    SignallingShared,
)
from vas_api.errors import Unavailable
from vas_api.grants import grant_of
from vas_api.models import ERRORS, SignallingGrant
from vas_api.summaries import has_substream
from vas_core.identity import mountpoint_id, substream_id

router = APIRouter(tags=["signalling"])
GATEWAY = "/gateway/{namespace}/{name}/janus"
Id = Annotated[int, Path(ge=1, le=2**64 - 1)]


class WatchRequest(BaseModel):
    """What a viewer may ask of the signalling call besides a handle: a stream to open."""

    model_config = ConfigDict(extra="forbid")
    watch: Literal["main", "sub"] = Field(
        description="Open a Janus session watching this stream (sub falls back to main when "
        "the camera has none) and answer its SDP offer with the handle."
    )


class Offer(BaseModel):
    type: Literal["offer"]
    sdp: str


class SignallingOpened(SignallingGrant):
    """A handle and, when ``watch`` was asked, a session already watching the stream."""

    stream: Literal["main", "sub"] | None = Field(None, description="The stream opened.")
    session: int | None = Field(None, description="The Janus session watching it.")
    handle: int | None = Field(None, description="Its streaming plugin handle.")
    offer: Offer | None = Field(
        None,
        description="Janus's SDP offer (its ICE candidates included): answer it with a "
        "'start' message carrying the answer on server/session/handle.",
    )


@router.post(
    "/api/v1/namespaces/{namespace}/cameras/{name}/signalling",
    response_model=SignallingOpened,
    responses=ERRORS,
)
async def grant(
    response: Response,
    viewer: CurrentViewer,
    token: Bearer,
    access: CameraAccess,
    signalling: SignallingShared,
    service: SignallingService,
    namespace: Namespace,
    name: Name,
    body: Annotated[WatchRequest | None, Body()] = None,
) -> SignallingOpened:
    """A handle for the signalling path, valid for this viewer and this camera only, on
    every facade replica. ``gateway`` names the pod a new session would go to now (none when
    the camera is not mounted on a live gateway yet: the viewer waits and asks again).
    ``substreamMountpointId`` is set when the camera's spec names a sub-stream (mounted on the
    same pod); both ids are derived from the camera's namespace and name.

    With ``{"watch": "main"|"sub"}`` the same call also opens a Janus session watching that
    stream and answers Janus's offer: a page's first frame then waits for one round trip
    through the facade instead of five (handle, create, attach, watch, long-poll). The
    viewer's token and permission were checked above (TokenReview, SubjectAccessReview)
    before any Janus call; the pod is the one the operator published for the camera."""
    item = await access.camera(viewer, namespace, name)
    camera = (namespace, name)
    handle = await signalling.grants.issue(viewer, token, camera)
    try:
        gateway: str | None = (await signalling.pool.route(camera)).name
    except Unavailable:
        gateway = None
    response.headers["Cache-Control"] = "no-store"  # a credential, if a short-lived one
    sub = substream_id(namespace, name) if has_substream(item.get("spec")) else None
    out = SignallingOpened(
        token=handle,
        server=GATEWAY.format(namespace=namespace, name=name),
        mountpointId=mountpoint_id(namespace, name),
        substreamMountpointId=sub,
        expiresInSeconds=signalling.grants.ttl,
        gateway=gateway,
    )
    if body is None or gateway is None:
        return out
    stream: Literal["main", "sub"] = "sub" if body.watch == "sub" and sub is not None else "main"
    mountpoint = sub if stream == "sub" and sub is not None else out.mountpointId
    opened = await service.open(grant_of(handle, viewer, token, camera), viewer, camera, mountpoint)
    out.stream, out.session, out.handle = stream, opened.session, opened.handle
    out.offer = Offer(type="offer", sdp=opened.offer["sdp"])
    return out


@router.post(GATEWAY, include_in_schema=False)
async def create(
    request: Request, signalling: SignallingService, namespace: Namespace, name: Name
) -> JSONResponse:
    return JSONResponse(await signalling.post(request.body, (namespace, name), None, None))


@router.post(GATEWAY + "/{session}", include_in_schema=False)
async def on_session(
    request: Request, signalling: SignallingService, namespace: Namespace, name: Name, session: Id
) -> JSONResponse:
    return JSONResponse(await signalling.post(request.body, (namespace, name), session, None))


@router.post(GATEWAY + "/{session}/{handle}", include_in_schema=False)
async def on_handle(
    request: Request,
    signalling: SignallingService,
    namespace: Namespace,
    name: Name,
    session: Id,
    handle: Id,
) -> JSONResponse:
    return JSONResponse(await signalling.post(request.body, (namespace, name), session, handle))


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has gone (a GET has no body: the next message is the end)."""
    while (await receive())["type"] != "http.disconnect":
        pass


@router.get(GATEWAY + "/{session}", include_in_schema=False)
async def long_poll(
    request: Request,
    signalling: SignallingService,
    namespace: Namespace,
    name: Name,
    session: Id,
    token: Annotated[str | None, Query(max_length=128)] = None,
    maxev: Annotated[int | None, Query(ge=1, le=10)] = None,
) -> Response:
    """Janus's long-poll: events of this session, held up to 30 s by Janus.

    A browser that drops the request (the video wall parks the long-polls of tiles that play,
    so that a wall of many cameras fits in a browser's six connections per host) ends the wait
    at Janus as well: events that come later stay queued at Janus for the session's next
    long-poll instead of being answered to nobody, and the viewer's long-poll slot is free at
    once."""
    polling = asyncio.ensure_future(signalling.poll(token, (namespace, name), session, maxev))
    gone = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({polling, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (polling, gone):
            task.cancel()  # no-op for the one that finished
        await asyncio.gather(polling, gone, return_exceptions=True)
    if polling.cancelled():
        return Response(status_code=204)  # nobody is listening any more
    return JSONResponse(polling.result())  # its SignallingError, if any, is raised here
