"""Export (what ``kubectl apply -f`` re-creates) and import (server-side apply as the viewer,
dry run first) of Cameras and CameraGroups as multi-document YAML."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from vas_api import listing, transfer
from vas_api.deps import CameraAccess, CurrentViewer, Namespace
from vas_api.errors import BadRequest, Forbidden, Invalid, PayloadTooLarge
from vas_api.handlers.actions import WRITE_ERRORS
from vas_api.models import ERRORS, ImportResult
from vas_api.writes import WritesService
from vas_core.selectors import matches

router = APIRouter(tags=["transfer"])
IMPORT_PATH = "/api/v1/namespaces/{namespace}/import"
YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/api/v1/namespaces/{namespace}/export",
    response_class=PlainTextResponse,
    responses={**ERRORS, 200: {"content": {"application/yaml": {}}}},
)
async def export(
    viewer: CurrentViewer,
    access: CameraAccess,
    writes: WritesService,
    namespace: Namespace,
    names: Annotated[
        str | None, Query(max_length=8192, description="Comma-separated camera names")
    ] = None,
    label_selector: Annotated[str | None, Query(alias="labelSelector", max_length=1024)] = None,
    group: Annotated[
        str | None, Query(max_length=253, description="A CameraGroup: it and its members")
    ] = None,
) -> PlainTextResponse:
    """One multi-document YAML that ``kubectl apply -f`` re-creates: no status, no server-set
    fields, no operator stamps; Secrets are only named by the Cameras, never included. Needs
    only read access: ``get`` on each named camera, or ``list`` in the namespace for a
    selector or a group (with neither, every camera in the namespace)."""
    chosen = sum(x is not None for x in (names, label_selector, group))
    if chosen > 1:
        raise BadRequest("give at most one of names, labelSelector, group")
    objects: list[dict[str, Any]] = []
    cap = writes.settings.max_export_objects
    if names is not None:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        if not wanted or len(wanted) > cap:
            raise BadRequest(f"names: between 1 and {cap} camera names")
        for name in dict.fromkeys(wanted):
            if not transfer.NAME.match(name) or len(name) > 253:
                raise BadRequest(f"names: {name[:64]!r} is not a camera name")
            objects.append(transfer.camera_object(await access.camera(viewer, namespace, name)))
        label = "selection"
    else:
        if not await access.auth.allowed(viewer, "list", namespace):
            raise Forbidden(f"{viewer.username} may not list cameras in namespace {namespace}")
        selector = listing.parse_label_selector(label_selector) or {}
        label = "cameras"
        if group is not None:
            found = access.group(None, namespace, group)
            objects.append(transfer.group_object(found))
            selector = listing.and_selectors(selector, found["selector"])
            label = f"group-{group}"
        elif label_selector:
            label = "selector"
        members = sorted(
            (item for (ns, _), item in access.cache.cameras.items() if ns == namespace),
            key=lambda item: str(item["name"]),
        )
        objects += [
            transfer.camera_object(m) for m in members if matches(selector, m.get("labels") or {})
        ]
        if len(objects) > cap:
            raise BadRequest(f"{len(objects)} objects; at most {cap} per export")
    filename = f"vas-{namespace}-{label}.yaml"
    return PlainTextResponse(
        transfer.dump(objects),
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class ImportFailed(Invalid):
    """Some document failed its dry run: nothing was applied; ``results`` says which."""

    def __init__(self, message: str, results: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.results = results

    def body(self) -> dict[str, Any]:
        return {**super().body(), "dryRun": False, "applied": False, "results": self.results}


@router.post(
    IMPORT_PATH, response_model=ImportResult, responses=WRITE_ERRORS, openapi_extra=YAML_BODY
)
async def import_yaml(
    viewer: CurrentViewer,
    writes: WritesService,
    namespace: Namespace,
    request: Request,
    dry_run: Annotated[bool, Query(alias="dryRun")] = True,
) -> Any:
    """Server-side apply (field manager ``vas-viewer``, conflicts forced) of every Camera and
    CameraGroup in the YAML body, as the viewer, into this namespace. Every object is first
    applied with ``dryRun=All``; with ``dryRun=false`` they are then applied for real, but
    only if every dry run succeeded (one invalid object: nothing is applied, 422). Each
    result carries the API server's own message when it refused. Body: at most
    ``VAS_API_MAX_IMPORT_BYTES`` (1 MiB) and ``VAS_API_MAX_IMPORT_OBJECTS`` (500) documents;
    only Camera and CameraGroup of vas.io/v1alpha1, never Secrets, no YAML aliases."""
    await writes.require()
    raw = await request.body()
    if len(raw) > writes.settings.max_import_bytes:
        raise PayloadTooLarge(f"the body is larger than {writes.settings.max_import_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8 YAML") from None
    applied, results = await writes.apply(viewer, namespace, text, dry_run)
    if not dry_run and not applied:
        failed = sum(1 for r in results if r["code"] >= 400)
        raise ImportFailed(f"{failed} of {len(results)} objects failed the dry run", results)
    return JSONResponse({"dryRun": dry_run, "applied": applied, "results": results})
