"""Who is asking and what they may see, decided by Kubernetes itself.

Bearer tokens go to TokenReview; permissions are SubjectAccessReviews for `get`/`list` on
cameras, so access is granted with ordinary Roles and RoleBindings. Answers are cached
briefly so a viewer's page of twenty thumbnails costs one review, not twenty.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client


class Unauthenticated(Exception):
    """No token, or a token the cluster does not accept: HTTP 401."""


class Forbidden(Exception):
    """A known user without the permission: HTTP 403."""


@dataclass(frozen=True)
class Viewer:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    anonymous_dev: bool = False  # development mode: everything is allowed


DEV_VIEWER = Viewer("dev-mode", anonymous_dev=True)


@dataclass
class TtlCache:
    ttl: float
    _data: dict[Any, tuple[float, Any]] = field(default_factory=dict)

    def get(self, key: Any) -> Any:
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._data) > 10_000:
            self._data.clear()
        self._data[key] = (time.monotonic() + self.ttl, value)


class KubernetesAuth:
    def __init__(self, api: client.ApiClient, ttl: float) -> None:
        self._api = api
        self._tokens = TtlCache(ttl)
        self._decisions = TtlCache(ttl)

    async def authenticate(self, token: str | None) -> Viewer:
        if not token:
            raise Unauthenticated("a bearer token is required")
        cached = self._tokens.get(token)
        if cached is not None:
            if isinstance(cached, Viewer):
                return cached
            raise Unauthenticated(cached)
        review = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
        answer = await client.AuthenticationV1Api(self._api).create_token_review(review)
        status = answer.status
        if not status or not status.authenticated:
            reason = "the token was not accepted by the cluster"
            self._tokens.put(token, reason)
            raise Unauthenticated(reason)
        user = status.user
        viewer = Viewer(
            username=user.username,
            uid=user.uid or "",
            groups=tuple(user.groups or ()),
            extra=tuple(sorted((k, tuple(v)) for k, v in (user.extra or {}).items())),
        )
        self._tokens.put(token, viewer)
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
                    group="vas.io",
                    resource="cameras",
                    verb=verb,
                    namespace=namespace,
                    name=name or None,
                ),
            )
        )
        answer = await client.AuthorizationV1Api(self._api).create_subject_access_review(review)
        decision = bool(answer.status and answer.status.allowed)
        self._decisions.put(key, decision)
        return decision


class NoAuth:
    """Development mode: no token needed, every camera visible."""

    async def authenticate(self, token: str | None) -> Viewer:
        return DEV_VIEWER

    async def allowed(self, viewer: Viewer, verb: str, namespace: str, name: str = "") -> bool:
        return True
