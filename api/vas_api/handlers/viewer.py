"""The web viewer: its page, the vendored janus.js and adapter.js, and who is signed in."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from vas_api.deps import CurrentViewer, Settings
from vas_api.errors import NotFound
from vas_api.models import ERRORS, Me

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(tags=["viewer"])


@router.get("/api/v1/me", response_model=Me, responses=ERRORS)
async def me(viewer: CurrentViewer) -> Me:
    """Who the token belongs to."""
    return Me(username=viewer.username, devMode=viewer.anonymous_dev)


@router.get("/vendor/{name}.js", include_in_schema=False)
def vendor(name: str, settings: Settings) -> FileResponse:
    paths = {"janus": settings.janus_js, "adapter": settings.adapter_js}
    if name not in paths or not Path(paths[name]).exists():
        raise NotFound(
            f"{name}.js is not installed (Debian: libjs-janus-gateway, libjs-webrtc-adapter)"
        )
    return FileResponse(paths[name], media_type="text/javascript")


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html")
