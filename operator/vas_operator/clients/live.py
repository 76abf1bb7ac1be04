"""Writes live figures and thumbnails to Redis. Failures are logged, never raised: a camera's
state does not depend on the cache being there."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from vas_core.livekeys import live_key, thumbnail_key

log = logging.getLogger("vas.live")


class LiveWriter:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    async def figures(self, items: dict[tuple[str, str], dict[str, Any]], ttl: int) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (namespace, name), figures in items.items():
                    key = live_key(namespace, name)
                    pipe.hset(key, mapping={k: str(v) for k, v in figures.items()})
                    pipe.expire(key, ttl)
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning(f"live figures not written: {type(error).__name__}")

    async def thumbnail(self, namespace: str, name: str, jpeg: bytes, ttl: int) -> None:
        try:
            await self._redis.set(thumbnail_key(namespace, name), jpeg, ex=ttl)
        except (RedisError, OSError) as error:
            log.warning(f"thumbnail not written: {type(error).__name__}")

    async def close(self) -> None:
        await self._redis.aclose()
