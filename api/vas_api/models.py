"""Response models: what /docs shows and what the viewer relies on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: int
    reason: str = Field(description="One word: BadRequest, Unauthorized, Forbidden, NotFound.")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


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
    gateway: str | None = None
    mountpointId: int | None = None  # noqa: N815  (wire name)
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
