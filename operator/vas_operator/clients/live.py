"""Live figures, thumbnails and where each mountpoint is served, to Redis; viewer counts per
gateway pod from it. Failures are logged, never raised: a camera's state does not depend on
the cache being there."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from vas_core.livekeys import (
    PLACEMENT_KEY,
    VIEWER_SEEN_SECONDS,
    live_key,
    pod_viewers_key,
    thumbnail_key,
)

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

    async def place(self, mountpoint_id: int, pod: str | None) -> None:
        """One camera mounted on ``pod`` (None: removed), at once, so its viewers are routed
        there before the next round."""
        try:
            if pod is None:
                await self._redis.hdel(PLACEMENT_KEY, str(mountpoint_id))
            else:
                await self._redis.hset(PLACEMENT_KEY, str(mountpoint_id), pod)
        except (RedisError, OSError) as error:
            log.warning(f"placement not written: {type(error).__name__}")

    async def placements(self, mapping: dict[int, str]) -> None:
        """The whole map, replacing what was there (what the gateways listed this round)."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(PLACEMENT_KEY)
                if mapping:
                    pipe.hset(PLACEMENT_KEY, mapping={str(k): v for k, v in mapping.items()})
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning(f"placements not written: {type(error).__name__}")

    async def pod_viewers(self, pods: list[str]) -> dict[str, int] | None:
        """Viewer sessions seen recently on each pod, as every facade replica counts them;
        None when Redis is away."""
        since = time.time() - VIEWER_SEEN_SECONDS
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for pod in pods:
                    pipe.zcount(pod_viewers_key(pod), since, "+inf")
                counts = await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning(f"viewer counts unavailable: {type(error).__name__}")
            return None
        return {pod: int(n) for pod, n in zip(pods, counts, strict=True)}

    async def close(self) -> None:
        await self._redis.aclose()
