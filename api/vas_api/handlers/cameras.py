"""Cameras: listings from the watch cache, one camera's detail, YAML and thumbnail."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from vas_api import listing
from vas_api.deps import CameraAccess, CurrentViewer, Live, Name, Namespace, SignallingShared
from vas_api.errors import BadRequest, NotFound, Unavailable
from vas_api.index import render_page
from vas_api.models import ERRORS, CameraDetail, CameraList, LiveFigures

router = APIRouter(tags=["cameras"], responses=ERRORS)
CAMERA = "/api/v1/namespaces/{namespace}/cameras/{name}"


@router.get("/api/v1/cameras", response_model=CameraList, response_model_by_alias=True)
async def list_cameras(
    viewer: CurrentViewer,
    access: CameraAccess,
    namespace: Annotated[str | None, Query(max_length=63)] = None,
    label_selector: Annotated[str | None, Query(alias="labelSelector", max_length=1024)] = None,
    phase: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[
        str | None, Query(max_length=256, description="Text in name, description or location")
    ] = None,
    group: Annotated[
        str | None,
        Query(max_length=253, description="Only members of this CameraGroup (needs namespace)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 50,
    continue_: Annotated[str | None, Query(alias="continue", max_length=1024)] = None,
) -> Response:
    """Cameras the viewer may list, filtered, in stable pages (namespace, name order). From
    the cache's listing index: the page and the count, not a sort of every camera."""
    allowed = await access.visible_namespaces(viewer)
    selector = listing.parse_label_selector(label_selector)
    if group is not None:
        if namespace is None:
            raise BadRequest("group needs namespace")
        selector = listing.and_selectors(
            selector, access.group(allowed, namespace, group)["selector"]
        )
    after = listing.decode_token(continue_) if continue_ else None
    index = access.cache.camera_index
    keys, last, total = index.page(
        listing.scope(allowed, namespace),
        selector=selector,
        phase=phase,
        text=q,
        limit=limit,
        after=after,
    )
    return Response(render_page(index, keys, last, total), media_type="application/json")


@router.get(CAMERA, response_model=CameraDetail)
async def camera_detail(
    viewer: CurrentViewer,
    access: CameraAccess,
    live: Live,
    signalling: SignallingShared,
    namespace: Namespace,
    name: Name,
) -> dict[str, Any]:
    """One camera with its conditions and live figures (viewers, last-frame age). Viewers are
    the camera's signalling sessions over all facade replicas, counted in Redis; without
    Redis there is no figure at all."""
    item = await access.camera(viewer, namespace, name)
    figures = await live.figures(namespace, name)
    if figures is not None:
        try:
            figures["viewers"] = await signalling.sessions.viewers((namespace, name))
        except Unavailable:
            figures = None
    return {**item, "live": LiveFigures(available=figures is not None, figures=figures or {})}


@router.get(CAMERA + "/yaml", response_class=PlainTextResponse)
async def camera_yaml(
    viewer: CurrentViewer, access: CameraAccess, namespace: Namespace, name: Name
) -> PlainTextResponse:
    """The camera as a user would commit it to Git: no status, no server fields."""
    item = await access.camera(viewer, namespace, name)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if item["labels"]:
        metadata["labels"] = item["labels"]
    if item["annotations"]:
        metadata["annotations"] = item["annotations"]
    doc = {"apiVersion": "vas.io/v1alpha1", "kind": "Camera", "metadata": metadata}
    doc["spec"] = item["spec"]
    return PlainTextResponse(yaml.safe_dump(doc, sort_keys=False), media_type="application/yaml")


@router.get(CAMERA + "/thumbnail.jpg", response_class=Response)
async def thumbnail(
    viewer: CurrentViewer, access: CameraAccess, live: Live, namespace: Namespace, name: Name
) -> Response:
    """The latest keyframe the operator decoded (kept in Redis with a TTL); only ever a JPEG."""
    await access.camera(viewer, namespace, name)
    data = await live.thumbnail(namespace, name)
    if data is None:
        raise NotFound(f"no thumbnail for {namespace}/{name} yet")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=5"})
