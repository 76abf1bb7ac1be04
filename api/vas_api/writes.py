"""Writes performed as the viewer: enable/disable, re-check now, bulk actions and imports.

The facade authenticates the viewer (TokenReview, audience ``vas``) and then sends the write to
the API server with impersonation headers carrying exactly the user info the TokenReview
returned: ``Impersonate-User``, ``Impersonate-Uid``, one ``Impersonate-Group`` per group and
``Impersonate-Extra-<key>`` per extra value (the key lower-cased and percent-encoded, as the
API server expects). Kubernetes RBAC then decides as for the user's own kubectl: the facade's
ServiceAccount holds no write right on cameras, only ``impersonate`` (chart
``facade.writes.enabled``). Viewer tokens are audience-bound and cannot be sent on directly.

Writes are available when ``VAS_API_WRITES_ENABLED`` is true (default) and the facade may
impersonate (a SelfSubjectAccessReview, re-asked every minute); otherwise every write answers
501 with the reason, and the viewer hides its controls. Development mode (``auth=none``) has no
user to act as: no writes.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from vas_api import listing, transfer
from vas_api.auth import Auth, Viewer
from vas_api.cache import ResourceCache
from vas_api.errors import ApiError, BadRequest, Forbidden, Unavailable, for_status
from vas_api.limits import RequestLimits
from vas_core.kube import APPLY_PATCH, Kube, KubeError, custom_path
from vas_core.names import API_GROUP, API_VERSION, CAMERAS
from vas_core.selectors import matches

log = logging.getLogger("vas_api.writes")
Action = Literal["enable", "disable", "recheck"]
FIELD_MANAGER = "vas-viewer"
# RFC 7230 tchar minus upper case: what may stay literal in an Impersonate-Extra- header name.
_TCHAR = set("!#$&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class WriteSettings(BaseSettings):
    """Settings of the write endpoints (``VAS_API_*``)."""

    model_config = SettingsConfigDict(env_prefix="VAS_API_", extra="ignore")

    writes_enabled: bool = Field(
        True,
        description="Serve enable/disable, re-check and import. They are performed as the "
        "viewer (impersonation) and also need the facade's impersonate RBAC "
        "(chart facade.writes.enabled); without it they answer 501.",
    )
    max_bulk_cameras: int = Field(500, ge=1, le=5000, description="Cameras per bulk action.")
    max_import_bytes: int = Field(
        1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024 * 1024,
        description="Largest import body (the import route only; ~200 cameras take ~80 KiB).",
    )
    max_import_objects: int = Field(500, ge=1, le=5000, description="Documents per import.")
    max_export_objects: int = Field(5000, ge=1, description="Objects per export.")
    write_concurrency: int = Field(8, ge=1, le=64, description="API calls in flight per request.")


class NotImplementedYet(ApiError):
    """The facade does not serve writes here (turned off, or no impersonation right)."""

    code, reason = 501, "WritesDisabled"


def _extra_header(key: str) -> str:
    return "Impersonate-Extra-" + "".join(
        ch if ch in _TCHAR else urllib.parse.quote(ch, safe="") for ch in key.lower()
    )


def _value(text: str) -> bytes:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise BadRequest("the user info has control characters; it cannot be impersonated")
    return text.encode()


def impersonation(viewer: Viewer) -> list[tuple[str, str | bytes]]:
    """The headers that make a request act as ``viewer`` (from its TokenReview)."""
    if viewer.anonymous_dev or not viewer.username:
        raise NotImplementedYet("development mode has no user to act as: no writes")
    headers: list[tuple[str, str | bytes]] = [("Impersonate-User", _value(viewer.username))]
    if viewer.uid:
        headers.append(("Impersonate-Uid", _value(viewer.uid)))
    headers += [("Impersonate-Group", _value(g)) for g in viewer.groups]
    for key, values in viewer.extra:
        headers += [(_extra_header(key), _value(v)) for v in values]
    return headers


@dataclass
class Outcome:
    """One object's result: HTTP status, and the API server's own message when it refused."""

    namespace: str
    name: str
    code: int
    message: str = ""
    kind: str = "Camera"
    result: str = ""  # enabled, disabled, rechecked; created, configured, unchanged; error

    def json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "namespace": self.namespace, "name": self.name}
        return {**out, "code": self.code, "result": self.result, "message": self.message}


class Writes:
    def __init__(
        self, api: Kube, auth: Auth, cache: ResourceCache, settings: WriteSettings, dev: bool
    ) -> None:
        self.api = api
        self.auth = auth
        self.cache = cache
        self.settings = settings
        self.dev = dev
        self._checked: tuple[float, str | None] = (0.0, None)
        self._lock = asyncio.Lock()

    # -- availability -----------------------------------------------------------------------

    async def unavailable(self) -> str | None:
        """Why writes are off, or None when they are served."""
        if not self.settings.writes_enabled:
            return "writes are turned off on this facade (VAS_API_WRITES_ENABLED=false)"
        if self.dev:
            return "development mode (auth=none) has no user to act as: no writes"
        async with self._lock:
            at, reason = self._checked
            if time.monotonic() - at < 60:
                return reason
            reason = await self._may_impersonate()
            if reason != "retry":
                self._checked = (time.monotonic(), reason)
            return None if reason == "retry" else reason

    async def _may_impersonate(self) -> str | None:
        for resource in ("users", "groups", "serviceaccounts"):
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": "impersonate", "resource": resource}},
            }
            try:
                answer = await self.api.create(
                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review
                )
            except KubeError as error:
                log.warning(f"SelfSubjectAccessReview failed: HTTP {error.status}")
                return "retry"
            if not (answer.get("status") or {}).get("allowed"):
                return (
                    f"the facade may not impersonate {resource}, so it cannot act as the "
                    "viewer: writes are off (chart value facade.writes.enabled)"
                )
        return None

    async def require(self) -> None:
        reason = await self.unavailable()
        if reason is not None:
            raise NotImplementedYet(reason)

    async def permissions(self, viewer: Viewer, namespace: str) -> dict[str, Any]:
        reason = await self.unavailable()
        verbs = ("list", "patch", "create")
        allowed = await asyncio.gather(*(self.auth.allowed(viewer, v, namespace) for v in verbs))
        out: dict[str, Any] = {"namespace": namespace, **dict(zip(verbs, allowed, strict=True))}
        return {**out, "writes": reason is None, "reason": reason}

    # -- one camera -------------------------------------------------------------------------

    async def act(self, viewer: Viewer, namespace: str, name: str, action: Action) -> Outcome:
        """One action as the user; the API server's refusal is the outcome, not an error."""
        path = custom_path(API_GROUP, API_VERSION, CAMERAS, namespace, name)
        if action == "recheck":
            stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
            body: dict[str, Any] = {"metadata": {"annotations": {transfer.RECHECK: stamp}}}
            done = "rechecked"
        else:
            body = {"spec": {"enabled": action == "enable"}}
            done = f"{action}d"
        headers = impersonation(viewer)
        try:
            await self.api.merge_patch(path, body, headers=headers)
        except KubeError as error:
            return _refused(namespace, name, "Camera", error)
        return Outcome(namespace, name, 200, result=done)

    async def one(self, viewer: Viewer, namespace: str, name: str, action: Action) -> Outcome:
        await self.require()
        outcome = await self.act(viewer, namespace, name, action)
        if outcome.code >= 400:
            raise for_status(outcome.code, outcome.message)
        return outcome

    # -- many cameras -----------------------------------------------------------------------

    async def targets(
        self, viewer: Viewer, namespace: str, names: list[str] | None, selector: str | None
    ) -> list[str]:
        """The cameras a bulk action names, or that a label selector matches among the cameras
        in ``namespace`` (a selector needs ``list`` there: it reveals names)."""
        if (names is None) == (selector is None):
            raise BadRequest("give either names or labelSelector")
        cap = self.settings.max_bulk_cameras
        if names is not None:
            unique = list(dict.fromkeys(names))
            if len(unique) > cap:
                raise BadRequest(f"at most {cap} cameras per request")
            return unique
        if not await self.auth.allowed(viewer, "list", namespace):
            raise Forbidden(f"{viewer.username} may not list cameras in namespace {namespace}")
        parsed = listing.parse_label_selector(selector) or {}
        found = sorted(
            n
            for (ns, n), item in self.cache.cameras.items()
            if ns == namespace and matches(parsed, item.get("labels") or {})
        )
        if len(found) > cap:
            raise BadRequest(f"{len(found)} cameras match; at most {cap} per request")
        return found

    async def bulk(
        self,
        viewer: Viewer,
        namespace: str,
        action: Action,
        names: list[str] | None,
        selector: str | None,
    ) -> list[Outcome]:
        await self.require()
        impersonation(viewer)  # refuses before any lookup when there is no user
        chosen = await self.targets(viewer, namespace, names, selector)
        gate = asyncio.Semaphore(self.settings.write_concurrency)

        async def run(name: str) -> Outcome:
            async with gate:
                return await self.act(viewer, namespace, name, action)

        outcomes = list(await asyncio.gather(*(run(n) for n in chosen)))
        codes = {o.code for o in outcomes}
        if len(codes) == 1 and (code := codes.pop()) >= 400:
            # Refused for every camera alike (typically 403: no patch): the request failed.
            raise for_status(code, outcomes[0].message)
        return outcomes

    # -- import -----------------------------------------------------------------------------

    async def apply(
        self, viewer: Viewer, namespace: str, text: str, dry_run: bool
    ) -> tuple[bool, list[dict[str, Any]]]:
        """Server-side apply of every document as the user: all of them with dryRun=All
        first; for real only when dry_run is false and every dry run succeeded. (applied?,
        per-document results; refused documents carry the reason, the API server's verbatim.)"""
        await self.require()
        headers = impersonation(viewer)
        try:
            docs = transfer.parse(text, namespace, self.settings.max_import_objects)
        except transfer.Refused as error:
            raise BadRequest(f"import refused: {error}") from None
        gate = asyncio.Semaphore(self.settings.write_concurrency)

        async def send(doc: transfer.Document, dry: bool) -> dict[str, Any]:
            base = {"index": doc.index, "kind": doc.kind, "namespace": namespace}
            base["name"] = doc.name
            if doc.obj is None:
                return {**base, "code": 400, "result": "error", "message": "; ".join(doc.errors)}
            path = custom_path(API_GROUP, API_VERSION, doc.plural, namespace, doc.name)
            params = {"fieldManager": FIELD_MANAGER, "force": "true"}
            if dry:
                params["dryRun"] = "All"
            async with gate:
                try:
                    answer = await self.api.request(
                        "PATCH",
                        path,
                        params=params,
                        body=doc.obj,
                        content_type=APPLY_PATCH,
                        headers=headers,
                    )
                except KubeError as error:
                    return {**base, **_refused(namespace, doc.name, doc.kind, error).json()}
            return {**base, "code": 200, "result": self._change(doc, answer), "message": ""}

        checked = list(await asyncio.gather(*(send(d, True) for d in docs)))
        if dry_run or any(r["code"] >= 400 for r in checked):
            return False, checked
        return True, list(await asyncio.gather(*(send(d, False) for d in docs)))

    def _change(self, doc: transfer.Document, answer: dict[str, Any]) -> str:
        store = self.cache.cameras if doc.kind == "Camera" else self.cache.groups
        known = store.get(((doc.obj or {})["metadata"]["namespace"], doc.name))
        if known is None:
            return "created"
        if doc.kind == "Camera" and known.get("spec") == answer.get("spec"):
            labels = (answer.get("metadata") or {}).get("labels") or {}
            if labels == known.get("labels"):
                return "unchanged"
        return "configured"


IMPORT_ROUTE = re.compile(r"^/api/v1/namespaces/[^/]+/import$")


class BodyLimits:
    """The facade's request limits (``limits.RequestLimits``), with the import route's own,
    larger body cap (``max_import_bytes``); every other route keeps ``max_body_bytes``. The
    import handler authenticates before it reads the body."""

    def __init__(self, app: Any, *, max_body: int, max_header: int, import_body: int) -> None:
        self.default = RequestLimits(app, max_body=max_body, max_header=max_header)
        self.imports = RequestLimits(
            app, max_body=max(import_body, max_body), max_header=max_header
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limits = self.default
        post = scope["type"] == "http" and scope.get("method") == "POST"
        if post and IMPORT_ROUTE.match(scope.get("path") or ""):
            limits = self.imports
        await limits(scope, receive, send)


def _writes(request: Request) -> Writes:
    writes: Writes = request.app.state.writes
    return writes


WritesService = Annotated[Writes, Depends(_writes)]


def _refused(namespace: str, name: str, kind: str, error: KubeError) -> Outcome:
    if error.status is None:
        log.warning(f"API server unreachable during a write: {error.reason}")
        raise Unavailable("the cluster could not be reached; try again") from None
    return Outcome(namespace, name, error.status, error.message, kind=kind, result="error")
