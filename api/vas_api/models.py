"""Response models: what /docs shows and what the viewer relies on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: int
    reason: str = Field(
        description="One CamelCase word: BadRequest, Unauthorized, Forbidden, NotFound, "
        "Invalid, PayloadTooLarge, TooManyRequests, ..."
    )
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 429, 431)
}


class CameraSummary(BaseModel):
    namespace: str
    name: str
    labels: dict[str, str]
    description: str | None = None
    location: str | None = None
    enabled: bool
    phase: str
    ready: bool
    reason: str | None = None
    message: str | None = None
    stream: dict[str, Any] | None = None
    gateway: str | None = Field(None, description="As the operator reports it; for people.")
    mounted: bool = Field(False, description="The operator reports the camera mounted.")
    createdAt: str | None = None  # noqa: N815


class CameraList(BaseModel):
    items: list[CameraSummary]
    total: int = Field(description="Cameras matching the filters, over all pages.")
    continue_: str | None = Field(None, alias="continue", description="Token for the next page.")


class LiveFigures(BaseModel):
    available: bool = Field(description="False when the live store (Redis) cannot be reached.")
    figures: dict[str, Any] = Field(default_factory=dict)


class CameraDetail(CameraSummary):
    url: str | None = None
    conditions: list[dict[str, Any]]
    annotations: dict[str, str]
    live: LiveFigures


class GroupSummary(BaseModel):
    namespace: str
    name: str
    description: str | None = None
    selector: dict[str, Any]
    layout: dict[str, Any]
    members: int | None = None
    readyMembers: int | None = None  # noqa: N815
    ready: bool
    reason: str | None = None
    message: str | None = None


class GroupList(BaseModel):
    items: list[GroupSummary]
    total: int
    continue_: str | None = Field(None, alias="continue")


class Me(BaseModel):
    username: str
    devMode: bool  # noqa: N815


class SignallingGrant(BaseModel):
    token: str = Field(
        description="Opaque handle for Janus's token slot, bound to this viewer and camera; "
        "expires when unused for expiresInSeconds."
    )
    server: str = Field(description="The Janus signalling URL for this camera (janus.js server).")
    mountpointId: int = Field(description="The mountpoint to watch.")  # noqa: N815
    expiresInSeconds: float  # noqa: N815
    gateway: str | None = Field(
        None,
        description="The gateway pod a new session goes to now; null while the camera is not "
        "mounted on a live gateway (ask again shortly).",
    )
