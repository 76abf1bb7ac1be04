"""Reading and writing the state facade replicas share in Redis, defensively.

Redis is data, not authority: whatever is read from it is bounded in size and type-checked
before use, and a record that does not parse counts as absent. When Redis cannot be reached,
the signalling path answers 503 with a message that says so (listings do not need Redis).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from vas_api.errors import Unavailable

log = logging.getLogger("vas_api.shared")
STORE_DOWN = (
    "signalling is unavailable: the facade cannot reach its shared session store (Redis); "
    "try again shortly"
)

# One hash field, only if it is no longer than ARGV[2] bytes (HGET alone would read any size).
_HGET_BOUNDED = """
local n = redis.call('HSTRLEN', KEYS[1], ARGV[1])
if n == 0 or n > tonumber(ARGV[2]) then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
"""


MAX_CONNECTIONS = 256


def connect(url: str) -> redis.Redis:
    """One client (one connection pool) for the whole facade; short timeouts, because every
    caller has an answer for Redis being away. The pool waits (briefly) for a free connection
    when all are busy: redis-py's default pool fails at once beyond 100, which at a few hundred
    viewers turned ordinary long-polls into 503s (bench/viewers.py)."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=2,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    return redis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


def store_down() -> Unavailable:
    return Unavailable(STORE_DOWN, headers={"Retry-After": "2"})


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Redis failures inside become the facade's 503."""
    try:
        yield
    except (RedisError, OSError) as error:
        log.warning(f"shared session store unavailable: {type(error).__name__}")
        raise store_down() from None


async def get_json(client: redis.Redis, key: str, limit: int) -> dict[str, Any] | None:
    """The JSON object stored as a string at ``key``, read with GETRANGE so that at most
    ``limit`` + 1 bytes cross the wire; None when absent, too big, of another type or not a
    JSON object."""
    try:
        raw = await client.getrange(key, 0, limit)
    except ResponseError:
        log.warning(f"{key} in Redis is not a string; ignored")
        return None
    if not raw:
        return None
    if len(raw) > limit:
        log.warning(f"{key} in Redis is larger than {limit} bytes; ignored")
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def hget_bounded(client: redis.Redis, key: str, field: str, limit: int) -> str | None:
    """One hash field as text, None when absent, longer than ``limit`` bytes, not UTF-8, or
    when ``key`` is not a hash."""
    try:
        raw = await client.eval(_HGET_BOUNDED, 1, key, field, str(limit))
    except ResponseError:
        log.warning(f"{key} in Redis is not a hash; ignored")
        return None
    if not isinstance(raw, bytes):
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def strings(value: Any, count: int, limit: int) -> tuple[str, ...] | None:
    """``value`` as a tuple of exactly ``count`` strings of at most ``limit`` characters."""
    if (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(v, str) and len(v) <= limit for v in value)
    ):
        return tuple(value)
    return None
