"""Live figures and thumbnails from Redis. Redis is a cache: when it is away the facade still
answers, with the live part marked unavailable."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from vas_core.livekeys import live_key, thumbnail_key

log = logging.getLogger("vas_api.live")


class LiveStore:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    async def figures(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The camera's live figures, {} when none are known, None when Redis is away."""
        try:
            raw = await self._redis.hgetall(live_key(namespace, name))
        except (RedisError, OSError) as error:
            log.warning(f"live figures unavailable: {type(error).__name__}")
            return None
        out: dict[str, Any] = {}
        for k, v in raw.items():
            key = k.decode() if isinstance(k, bytes) else str(k)
            text = v.decode() if isinstance(v, bytes) else str(v)
            try:
                out[key] = float(text) if "." in text else int(text)
            except ValueError:
                out[key] = text
        return out

    async def thumbnail(self, namespace: str, name: str) -> bytes | None:
        try:
            data = await self._redis.get(thumbnail_key(namespace, name))
        except (RedisError, OSError):
            return None
        return data if isinstance(data, bytes) else None

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
