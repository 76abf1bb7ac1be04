"""Response models: what /docs shows and what the viewer relies on."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

NAME = r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"


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
    hasSubstream: bool = Field(  # noqa: N815
        False, description="The spec names a sub-stream (a second, lower-resolution source)."
    )
    substream: dict[str, Any] | None = Field(
        None, description="The sub-stream as the operator reports it (codec, resolution)."
    )
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
    server: str = Field(description="The Janus signalling URL for this camera.")
    mountpointId: int = Field(description="The main stream's mountpoint.")  # noqa: N815
    substreamMountpointId: int | None = Field(  # noqa: N815
        None,
        description="The sub-stream's mountpoint (lower resolution, for walls); null when the "
        "camera has no sub-stream.",
    )
    expiresInSeconds: float  # noqa: N815
    gateway: str | None = Field(
        None,
        description="The gateway pod a new session goes to now; null while the camera is not "
        "mounted on a live gateway (ask again shortly).",
    )


# Writes as the viewer (handlers/actions.py, handlers/transfer.py).


class WriteResult(BaseModel):
    kind: str
    namespace: str
    name: str
    code: int = Field(description="HTTP status of the write (the API server's when it refused).")
    result: str = Field(description="enabled, disabled, rechecked; or error")
    message: str = Field(description="The API server's own message when it refused.")


class BulkAction(BaseModel):
    model_config = {"extra": "forbid"}

    action: Literal["enable", "disable", "recheck"]
    names: list[Annotated[str, Field(max_length=253, pattern=NAME)]] | None = Field(
        None, max_length=5000, description="Cameras in the namespace, by name."
    )
    labelSelector: str | None = Field(  # noqa: N815
        None, max_length=1024, description="kubectl syntax, over the namespace's cameras."
    )


class BulkResult(BaseModel):
    action: str
    items: list[WriteResult]
    succeeded: int
    failed: int


class Permissions(BaseModel):
    namespace: str
    list: bool
    patch: bool = Field(description="May enable, disable and re-check cameras here.")
    create: bool = Field(description="May create cameras here (import of new ones).")
    writes: bool = Field(description="This facade serves writes (as the viewer).")
    reason: str | None = Field(None, description="Why writes are off, when they are.")


class PermissionsList(BaseModel):
    writes: bool
    reason: str | None = None
    items: list[Permissions]


class ImportItem(BaseModel):
    index: int = Field(description="The document's position among the non-empty documents.")
    kind: str
    namespace: str
    name: str
    code: int
    result: str = Field(description="created, configured, unchanged (dry run: would be); error")
    message: str = Field(description="Why it was refused: ours, or the API server's verbatim.")


class ImportResult(BaseModel):
    dryRun: bool  # noqa: N815
    applied: bool
    results: list[ImportItem]
