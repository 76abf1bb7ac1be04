"""CameraGroups (video walls) in the namespaces where the viewer may list cameras."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from vas_api import listing
from vas_api.deps import CameraAccess, CurrentViewer
from vas_api.listing import Filters
from vas_api.models import ERRORS, GroupList

router = APIRouter(tags=["groups"], responses=ERRORS)


@router.get("/api/v1/groups", response_model=GroupList, response_model_by_alias=True)
async def list_groups(
    viewer: CurrentViewer,
    access: CameraAccess,
    namespace: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 50,
    continue_: Annotated[str | None, Query(alias="continue", max_length=1024)] = None,
) -> dict[str, Any]:
    """CameraGroups in the namespaces where the viewer may list cameras."""
    allowed = await access.visible_namespaces(viewer)
    items, token, total = listing.page(
        list(access.cache.groups.values()),
        Filters(namespaces=listing.scope(allowed, namespace)),
        limit,
        continue_,
    )
    return {"items": items, "total": total, "continue": token}
