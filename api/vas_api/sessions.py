"""Janus sessions shared by every facade replica through Redis: who made each one, for which
camera, on which gateway pod, and the viewer counts that follow from them.

``vas:session:<id>`` holds the session's owner (username, uid), camera, pod and the key of
the grant it was made under, as JSON; it expires ``ttl`` seconds after the session's last use
and is renewed on use. A session lives on one pod: every request on it goes to the pod
recorded here, even when its camera has moved meanwhile.

Three sorted sets follow each session (member = session id, score = unix time of last use):
the owner's (``vas:sessions:viewer:<sha256(owner)>``, for the per-viewer limit on open
sessions), the camera's (``livekeys.camera_viewers_key``) and the pod's
(``livekeys.pod_viewers_key``, which the operator's autoscaler reads). A count is the members
seen within ``ttl`` seconds; older members are pruned when counted.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import redis.asyncio as redis

from vas_api.errors import Forbidden
from vas_api.grants import MAX_NAME, Camera, Grant, Owner, owner_digest
from vas_api.shared import get_json, store_errors, strings
from vas_core.livekeys import VIEWER_SEEN_SECONDS, camera_viewers_key, pod_viewers_key

SESSION_TTL_SECONDS = float(VIEWER_SEEN_SECONDS)  # Janus drops a REST session after 60 s idle
SESSION_PREFIX = "vas:session:"
VIEWER_SESSIONS_PREFIX = "vas:sessions:viewer:"
MAX_RECORD_BYTES = 4096
MAX_LISTED = 1000  # sessions of one viewer read back at once, at most
_GRANT_KEY = re.compile(r"vas:grant:[0-9a-f]{64}")


@dataclass(frozen=True)
class SessionRecord:
    id: int
    owner: Owner
    camera: Camera
    pod: str
    grant: str  # the Redis key of the grant it was created under

    def to_json(self) -> str:
        return json.dumps(
            {
                "owner": list(self.owner),
                "camera": list(self.camera),
                "pod": self.pod,
                "grant": self.grant,
            }
        )


def parse(session: int, raw: dict[str, object] | None) -> SessionRecord | None:
    if raw is None:
        return None
    owner, camera = strings(raw.get("owner"), 2, MAX_NAME), strings(raw.get("camera"), 2, 253)
    pod, grant = raw.get("pod"), raw.get("grant")
    if owner is None or camera is None or not isinstance(pod, str) or not isinstance(grant, str):
        return None
    if len(pod) > 253 or not _GRANT_KEY.fullmatch(grant):
        return None
    return SessionRecord(session, (owner[0], owner[1]), (camera[0], camera[1]), pod, grant)


class SessionStore:
    def __init__(self, client: redis.Redis, ttl: float = SESSION_TTL_SECONDS) -> None:
        self._redis = client
        self.ttl = ttl

    def _ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _sets(self, record: SessionRecord) -> tuple[str, str, str]:
        return (
            VIEWER_SESSIONS_PREFIX + owner_digest(record.owner),
            camera_viewers_key(*record.camera),
            pod_viewers_key(record.pod),
        )

    async def add(self, record: SessionRecord) -> bool:
        """Record a new session; False if its id is already taken (two pods chose the same
        id: the caller destroys the new one)."""
        with store_errors():
            added = await self._redis.set(
                SESSION_PREFIX + str(record.id), record.to_json(), px=self._ms(), nx=True
            )
            if added:
                await self._touch(record)
            return bool(added)

    async def check(self, session: int, grant: Grant) -> SessionRecord:
        """The session's record, renewed, if it was made by this grant's owner for this
        camera; Forbidden otherwise (unknown and someone else's look the same)."""
        with store_errors():
            record = parse(
                session,
                await get_json(self._redis, SESSION_PREFIX + str(session), MAX_RECORD_BYTES),
            )
            if record is None or record.owner != grant.owner or record.camera != grant.camera:
                raise Forbidden("unknown session for this viewer and camera")
            await self._touch(record)
        return record

    async def get(self, session: int) -> SessionRecord | None:
        with store_errors():
            return parse(
                session,
                await get_json(self._redis, SESSION_PREFIX + str(session), MAX_RECORD_BYTES),
            )

    async def _touch(self, record: SessionRecord) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.pexpire(SESSION_PREFIX + str(record.id), self._ms())
            for key in self._sets(record):
                pipe.zadd(key, {str(record.id): now})
                pipe.pexpire(key, self._ms())
            await pipe.execute()

    async def drop(self, record: SessionRecord) -> None:
        with store_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(SESSION_PREFIX + str(record.id))
                for key in self._sets(record):
                    pipe.zrem(key, str(record.id))
                await pipe.execute()

    async def _count(self, key: str) -> int:
        cutoff = time.time() - self.ttl
        with store_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", f"({cutoff}")
                pipe.zcount(key, f"({cutoff}", "+inf")
                _, count = await pipe.execute()
        return int(count)

    async def open_for(self, owner: Owner) -> int:
        """The viewer's open sessions over all facade replicas."""
        return await self._count(VIEWER_SESSIONS_PREFIX + owner_digest(owner))

    async def viewers(self, camera: Camera) -> int:
        """Viewer sessions of the camera seen within the TTL, over all replicas."""
        return await self._count(camera_viewers_key(*camera))

    async def pod_viewers(self, pod: str) -> int:
        return await self._count(pod_viewers_key(pod))

    async def of_owner(self, owner: Owner) -> list[SessionRecord]:
        """The viewer's live sessions (at most MAX_LISTED), as recorded."""
        cutoff = time.time() - self.ttl
        with store_errors():
            members = await self._redis.zrangebyscore(
                VIEWER_SESSIONS_PREFIX + owner_digest(owner),
                f"({cutoff}",
                "+inf",
                start=0,
                num=MAX_LISTED,
            )
            ids = [int(m) for m in members if isinstance(m, bytes) and m.isdigit() and len(m) <= 20]
            if not ids:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.getrange(SESSION_PREFIX + str(i), 0, MAX_RECORD_BYTES)
                raws = await pipe.execute(raise_on_error=False)
        out = []
        for i, raw in zip(ids, raws, strict=True):
            if isinstance(raw, bytes) and 0 < len(raw) <= MAX_RECORD_BYTES:
                try:
                    value = json.loads(raw)
                except ValueError:
                    continue
                record = parse(i, value if isinstance(value, dict) else None)
                if record is not None and record.owner == owner:
                    out.append(record)
        return out
