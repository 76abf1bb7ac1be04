"""What a viewer may see: the namespaces they may list, the cameras they may get.

Forbidden and absent look the same wherever telling them apart would disclose that an object
exists in a namespace the viewer may not see.
"""

from __future__ import annotations

from typing import Any

from vas_api.auth import Auth, Viewer
from vas_api.cache import ResourceCache
from vas_api.errors import Forbidden, NotFound


class Access:
    def __init__(self, auth: Auth, cache: ResourceCache) -> None:
        self.auth = auth
        self.cache = cache

    async def visible_namespaces(self, viewer: Viewer) -> frozenset[str] | None:
        """Namespaces where the viewer may list cameras; None: all (development mode)."""
        if viewer.anonymous_dev:
            return None
        return frozenset(
            [ns for ns in self.cache.namespaces() if await self.auth.allowed(viewer, "list", ns)]
        )

    async def camera(self, viewer: Viewer, namespace: str, name: str) -> dict[str, Any]:
        """The camera, if the viewer may get it (403 before 404: the API server's
        SubjectAccessReview never looks at whether the camera exists)."""
        if not await self.auth.allowed(viewer, "get", namespace, name):
            raise Forbidden(f"{viewer.username} may not get cameras in namespace {namespace}")
        item: dict[str, Any] | None = self.cache.cameras.get((namespace, name))
        if item is None:
            raise NotFound(f"camera {namespace}/{name} not found")
        return item

    def group(self, allowed: frozenset[str] | None, namespace: str, name: str) -> dict[str, Any]:
        """A group in a namespace the viewer may list; one answer for forbidden and absent."""
        found: dict[str, Any] | None = self.cache.groups.get((namespace, name))
        if found is None or (allowed is not None and namespace not in allowed):
            raise NotFound(f"camera group {namespace}/{name} not found")
        return found
