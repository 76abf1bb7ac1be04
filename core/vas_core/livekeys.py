"""Redis keys shared by the operator (writer) and the facade (reader) for live figures and
thumbnails. Values live with TTLs: Redis is a cache that the operator can always refill."""

from __future__ import annotations


def live_key(namespace: str, name: str) -> str:
    return f"vas:live:{namespace}/{name}"


def thumbnail_key(namespace: str, name: str) -> str:
    return f"vas:thumb:{namespace}/{name}"
