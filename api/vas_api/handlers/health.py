"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from vas_api.deps import Cache, SignallingShared
from vas_api.errors import Unavailable
from vas_api.models import ErrorResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(cache: Cache, signalling: SignallingShared) -> dict[str, str]:
    """Ready once the camera cache and the gateway pool hold a full listing (Redis is not
    needed to list cameras, so it does not decide readiness)."""
    if not cache.synced:
        raise Unavailable("the camera cache has not synced yet")
    if not signalling.pool.synced:
        raise Unavailable("the gateway pool has not been listed yet")
    return {"status": "ok"}
