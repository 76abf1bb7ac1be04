"""Enable, disable and re-check cameras, one or many, as the viewer (impersonation: the API
server's RBAC decides), and what the viewer may do in a namespace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from vas_api.deps import CameraAccess, CurrentViewer, Name, Namespace
from vas_api.models import ERRORS, BulkAction, BulkResult, Permissions, PermissionsList, WriteResult
from vas_api.writes import Action, WritesService

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    501: ERRORS[403],
    409: ERRORS[403],
    503: ERRORS[403],
}
router = APIRouter(tags=["actions"], responses=WRITE_ERRORS)
ActionName = Annotated[Action, Path(description="enable, disable or recheck")]


@router.post("/api/v1/namespaces/{namespace}/cameras/{name}:{action}", response_model=WriteResult)
async def camera_action(
    viewer: CurrentViewer,
    writes: WritesService,
    namespace: Namespace,
    name: Name,
    action: ActionName,
) -> dict[str, Any]:
    """Set ``spec.enabled`` (enable, disable) or stamp the ``vas.io/recheck`` annotation so the
    operator probes the camera at once (recheck), as the viewer: a merge patch sent with the
    viewer's identity, so it needs ``patch`` on cameras. The API server's refusal (403, 404)
    is the answer, with its message."""
    return (await writes.one(viewer, namespace, name, action)).json()


@router.post("/api/v1/namespaces/{namespace}/cameras:bulk", response_model=BulkResult)
async def bulk_action(
    viewer: CurrentViewer,
    writes: WritesService,
    namespace: Namespace,
    request: Annotated[BulkAction, Body()],
) -> dict[str, Any]:
    """One action on the named cameras, or on every camera in the namespace that a label
    selector matches (needs ``list`` there), each as the viewer. Answers each camera's HTTP
    status and the API server's message; when every camera was refused alike (a viewer
    without ``patch``: 403), the request fails with that status."""
    outcomes = await writes.bulk(
        viewer, namespace, request.action, request.names, request.labelSelector
    )
    items = [o.json() for o in outcomes]
    failed = sum(1 for o in outcomes if o.code >= 400)
    return {
        "action": request.action,
        "items": items,
        "succeeded": len(items) - failed,
        "failed": failed,
    }


@router.get("/api/v1/namespaces/{namespace}/permissions", response_model=Permissions)
async def permissions(
    viewer: CurrentViewer, writes: WritesService, namespace: Namespace
) -> dict[str, Any]:
    """What the viewer may do with cameras here (SubjectAccessReviews for list, patch and
    create) and whether this facade serves writes at all (``writes``, ``reason``)."""
    return await writes.permissions(viewer, namespace)


@router.get("/api/v1/permissions", response_model=PermissionsList)
async def all_permissions(
    viewer: CurrentViewer, writes: WritesService, access: CameraAccess
) -> dict[str, Any]:
    """The same for every namespace where the viewer may list cameras."""
    reason = await writes.unavailable()
    allowed = await access.visible_namespaces(viewer)
    names = (
        sorted(allowed)
        if allowed is not None
        else sorted({ns for ns, _ in access.cache.cameras} | {ns for ns, _ in access.cache.groups})
    )
    items = [await writes.permissions(viewer, ns) for ns in names[:500]]
    return {"writes": reason is None, "reason": reason, "items": items}
