"""FastAPI dependencies as ``Annotated`` aliases: what a handler needs, named once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from vas_api.access import Access
from vas_api.auth import Auth, Viewer
from vas_api.cache import ResourceCache
from vas_api.live import LiveStore
from vas_api.settings import ApiSettings
from vas_api.signalling import Signalling, SignallingState


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


def _cache(request: Request) -> ResourceCache:
    cache: ResourceCache = request.app.state.cache
    return cache


def _live(request: Request) -> LiveStore:
    live: LiveStore = request.app.state.live
    return live


def _signalling_state(request: Request) -> SignallingState:
    state: SignallingState = request.app.state.signalling
    return state


Settings = Annotated[ApiSettings, Depends(_settings)]
AuthService = Annotated[Auth, Depends(_auth)]
Cache = Annotated[ResourceCache, Depends(_cache)]
Live = Annotated[LiveStore, Depends(_live)]
SignallingShared = Annotated[SignallingState, Depends(_signalling_state)]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


Bearer = Annotated[str | None, Depends(bearer)]


async def _viewer(auth: AuthService, token: Bearer) -> Viewer:
    return await auth.authenticate(token)


CurrentViewer = Annotated[Viewer, Depends(_viewer)]


def _access(auth: AuthService, cache: Cache) -> Access:
    return Access(auth, cache)


CameraAccess = Annotated[Access, Depends(_access)]


def _signalling(state: SignallingShared, access: CameraAccess, settings: Settings) -> Signalling:
    return Signalling(state, access, settings.max_json_depth)


SignallingService = Annotated[Signalling, Depends(_signalling)]


# Object names as Kubernetes spells them; anything else is refused before any lookup.
Namespace = Annotated[str, Path(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
Name = Annotated[str, Path(max_length=253, pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")]
