"""CameraGroups (video walls) in the namespaces where the viewer may list cameras."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from vas_api import listing
from vas_api.deps import CameraAccess, CurrentViewer
from vas_api.index import render_page
from vas_api.models import ERRORS, GroupList

router = APIRouter(tags=["groups"], responses=ERRORS)


@router.get("/api/v1/groups", response_model=GroupList, response_model_by_alias=True)
async def list_groups(
    viewer: CurrentViewer,
    access: CameraAccess,
    namespace: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 50,
    continue_: Annotated[str | None, Query(alias="continue", max_length=1024)] = None,
) -> Response:
    """CameraGroups in the namespaces where the viewer may list cameras."""
    allowed = await access.visible_namespaces(viewer)
    after = listing.decode_token(continue_) if continue_ else None
    index = access.cache.group_index
    keys, last, total = index.page(listing.scope(allowed, namespace), limit=limit, after=after)
    return Response(render_page(index, keys, last, total), media_type="application/json")
