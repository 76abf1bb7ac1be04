"""Who is asking and what they may see, decided by Kubernetes itself.

Bearer tokens go to TokenReview (with the facade's audiences); permissions are
SubjectAccessReviews for `get`/`list` on cameras, so access is granted with ordinary Roles and
RoleBindings. Answers are cached briefly (5 s by default, refusals at most 2 s) so a page of
twenty thumbnails costs one review, not twenty, and a revoked RoleBinding stops working within
that time. The caches are keyed by a hash of the token and bounded by count.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from vas_api.errors import Unauthenticated, Unavailable
from vas_core.kube import Kube, KubeError
from vas_core.names import API_GROUP, CAMERAS

log = logging.getLogger("vas_api.auth")


@dataclass(frozen=True)
class Viewer:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    anonymous_dev: bool = False  # development mode: everything is allowed

    @property
    def key(self) -> tuple[str, str]:
        """What binds sessions, handles and limits to one person."""
        return self.username, self.uid


DEV_VIEWER = Viewer("dev-mode", anonymous_dev=True)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TtlCache:
    """At most ``size`` entries, each with its own expiry; the oldest go first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any:
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self._data[key]
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        self._data.pop(key, None)
        self._data[key] = (time.monotonic() + ttl, value)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class Auth(Protocol):
    async def authenticate(self, token: str | None) -> Viewer: ...

    async def allowed(self, viewer: Viewer, verb: str, namespace: str, name: str = "") -> bool: ...


class KubernetesAuth:
    def __init__(
        self,
        api: Kube,
        *,
        ttl: float,
        failure_ttl: float,
        size: int,
        audiences: list[str],
        max_token_bytes: int,
    ) -> None:
        self._api = api
        self._ttl = ttl
        self._failure_ttl = min(failure_ttl, ttl)
        self._audiences = audiences
        self._max_token_bytes = max_token_bytes
        self._tokens = TtlCache(size)
        self._decisions = TtlCache(size)

    async def authenticate(self, token: str | None) -> Viewer:
        if not token:
            raise Unauthenticated("a bearer token is required")
        if len(token) > self._max_token_bytes:
            raise Unauthenticated(f"the token is longer than {self._max_token_bytes} bytes")
        key = token_digest(token)
        cached = self._tokens.get(key)
        if cached is not None:
            if isinstance(cached, Viewer):
                return cached
            raise Unauthenticated(cached)
        spec: dict[str, Any] = {"token": token}
        if self._audiences:
            spec["audiences"] = self._audiences
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        try:
            answer = await self._api.create("/apis/authentication.k8s.io/v1/tokenreviews", review)
        except KubeError as error:
            if error.status is not None and 400 <= error.status < 500:
                reason = "the token was not accepted by the cluster"
                self._tokens.put(key, reason, self._failure_ttl)
                raise Unauthenticated(reason) from None
            log.warning(f"TokenReview failed: HTTP {error.status}")
            raise Unavailable("the cluster could not check the token; try again") from None
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            reason = "the token was not accepted by the cluster"
            if self._audiences:
                reason += f" (tokens must be issued for audience {', '.join(self._audiences)})"
            self._tokens.put(key, reason, self._failure_ttl)
            raise Unauthenticated(reason)
        user = status.get("user") or {}
        viewer = Viewer(
            username=str(user.get("username", "")),
            uid=str(user.get("uid") or ""),
            groups=tuple(user.get("groups") or ()),
            extra=tuple(sorted((k, tuple(v)) for k, v in (user.get("extra") or {}).items())),
        )
        self._tokens.put(key, viewer, self._ttl)
        return viewer

    async def allowed(self, viewer: Viewer, verb: str, namespace: str, name: str = "") -> bool:
        if viewer.anonymous_dev:
            return True
        key = (viewer, verb, namespace, name)
        cached = self._decisions.get(key)
        if cached is not None:
            return bool(cached)
        attributes = {"group": API_GROUP, "resource": CAMERAS, "verb": verb}
        attributes["namespace"] = namespace
        if name:
            attributes["name"] = name
        spec: dict[str, Any] = {"user": viewer.username, "resourceAttributes": attributes}
        if viewer.uid:
            spec["uid"] = viewer.uid
        if viewer.groups:
            spec["groups"] = list(viewer.groups)
        if viewer.extra:
            spec["extra"] = {k: list(v) for k, v in viewer.extra}
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        try:
            answer = await self._api.create(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews", review
            )
        except KubeError as error:
            log.warning(f"SubjectAccessReview failed: HTTP {error.status}")
            raise Unavailable("the cluster could not check the permission; try again") from None
        decision = bool((answer.get("status") or {}).get("allowed"))
        self._decisions.put(key, decision, self._ttl if decision else self._failure_ttl)
        return decision


class NoAuth:
    """Development mode: no token needed, every camera visible."""

    async def authenticate(self, token: str | None) -> Viewer:
        return DEV_VIEWER

    async def allowed(self, viewer: Viewer, verb: str, namespace: str, name: str = "") -> bool:
        return True
