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

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from vas_api.errors import Unauthenticated, Unavailable
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
        api: client.ApiClient,
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
        spec = client.V1TokenReviewSpec(token=token, audiences=self._audiences or None)
        try:
            answer = await client.AuthenticationV1Api(self._api).create_token_review(
                client.V1TokenReview(spec=spec)
            )
        except ApiException as error:
            if error.status is not None and 400 <= error.status < 500:
                reason = "the token was not accepted by the cluster"
                self._tokens.put(key, reason, self._failure_ttl)
                raise Unauthenticated(reason) from None
            log.warning(f"TokenReview failed: HTTP {error.status}")
            raise Unavailable("the cluster could not check the token; try again") from None
        status = answer.status
        if not status or not status.authenticated:
            reason = "the token was not accepted by the cluster"
            if self._audiences:
                reason += f" (tokens must be issued for audience {', '.join(self._audiences)})"
            self._tokens.put(key, reason, self._failure_ttl)
            raise Unauthenticated(reason)
        user = status.user
        viewer = Viewer(
            username=user.username,
            uid=user.uid or "",
            groups=tuple(user.groups or ()),
            extra=tuple(sorted((k, tuple(v)) for k, v in (user.extra or {}).items())),
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
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=viewer.username,
                uid=viewer.uid or None,
                groups=list(viewer.groups) or None,
                extra={k: list(v) for k, v in viewer.extra} or None,
                resource_attributes=client.V1ResourceAttributes(
                    group=API_GROUP,
                    resource=CAMERAS,
                    verb=verb,
                    namespace=namespace,
                    name=name or None,
                ),
            )
        )
        try:
            answer = await client.AuthorizationV1Api(self._api).create_subject_access_review(review)
        except ApiException as error:
            log.warning(f"SubjectAccessReview failed: HTTP {error.status}")
            raise Unavailable("the cluster could not check the permission; try again") from None
        decision = bool(answer.status and answer.status.allowed)
        self._decisions.put(key, decision, self._ttl if decision else self._failure_ttl)
        return decision


class NoAuth:
    """Development mode: no token needed, every camera visible."""

    async def authenticate(self, token: str | None) -> Viewer:
        return DEV_VIEWER

    async def allowed(self, viewer: Viewer, verb: str, namespace: str, name: str = "") -> bool:
        return True
