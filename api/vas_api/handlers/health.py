"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from vas_api.deps import Cache
from vas_api.errors import Unavailable
from vas_api.models import ErrorResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(cache: Cache) -> dict[str, str]:
    """Ready once the camera cache holds a full listing."""
    if not cache.synced:
        raise Unavailable("the camera cache has not synced yet")
    return {"status": "ok"}
