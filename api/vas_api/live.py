"""Live figures and thumbnails from Redis. Redis is a cache: when it is away the facade still
answers, with the live part marked unavailable.

What Redis holds is data, never markup: only known numeric and boolean figures are passed on,
and a thumbnail is served only if it is a JPEG by its magic bytes."""

from __future__ import annotations

import logging
import re
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from vas_core.livekeys import live_key, thumbnail_key

log = logging.getLogger("vas_api.live")
JPEG_MAGIC = b"\xff\xd8\xff"
MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024
_INTEGER = re.compile(r"-?[0-9]{1,15}")


def _as_bool(text: str) -> bool | None:
    return {"0": False, "1": True, "false": False, "true": True}.get(text.lower())


def _as_int(text: str) -> int | None:
    return int(text) if _INTEGER.fullmatch(text) else None


# The figures the operator writes, and how each is read; anything else is dropped.
FIGURES = {"receiving": _as_bool, "lastFrameAgeMs": _as_int}


def parse_figures(raw: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key = k.decode(errors="replace") if isinstance(k, bytes) else str(k)
        reader = FIGURES.get(key)
        if reader is None:
            continue
        text = v.decode(errors="replace") if isinstance(v, bytes) else str(v)
        value = reader(text.strip())
        if value is not None:
            out[key] = value
    return out


def is_jpeg(data: object) -> bool:
    return (
        isinstance(data, bytes) and data.startswith(JPEG_MAGIC) and len(data) <= MAX_THUMBNAIL_BYTES
    )


class LiveStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client  # the facade's one Redis client (``shared.connect``)

    async def figures(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The camera's live figures, {} when none are known, None when Redis is away."""
        try:
            raw = await self._redis.hgetall(live_key(namespace, name))
        except (RedisError, OSError) as error:
            log.warning(f"live figures unavailable: {type(error).__name__}")
            return None
        return parse_figures(raw)

    async def thumbnail(self, namespace: str, name: str) -> bytes | None:
        try:
            data = await self._redis.get(thumbnail_key(namespace, name))
        except (RedisError, OSError):
            return None
        if data is not None and not is_jpeg(data):
            log.warning(f"thumbnail of {namespace}/{name} in Redis is not a JPEG; not served")
            return None
        return data if isinstance(data, bytes) else None

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False
