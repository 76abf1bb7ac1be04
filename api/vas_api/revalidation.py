"""Ending sessions whose viewer lost access, within seconds, on every facade replica.

Each replica remembers the sessions it served recently, with the grant they were served under
(its token decrypted, in memory only: Redis alone cannot yield it). Every few seconds it checks
those grants again: still in Redis, the token still accepted, the viewer still allowed to
`get` the camera. A grant that fails is deleted from Redis (so no replica honours it any more)
and every session made under it is destroyed on its pod. A grant another replica deleted ends
the sessions this replica served under it too. A playing page long-polls continuously, so every live
session has been served recently by some replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from vas_api.auth import Auth
from vas_api.errors import Unauthenticated, Unavailable
from vas_api.grants import Grant, GrantStore
from vas_api.pool import GatewayPool
from vas_api.relay import Relay
from vas_api.sessions import SessionRecord, SessionStore

log = logging.getLogger("vas_api.revalidation")
MAX_SERVED = 100_000


class ServedSessions:
    """Sessions this replica served within ``ttl`` seconds (at most MAX_SERVED, oldest first
    out), each with the grant of its last request."""

    def __init__(self, ttl: float, size: int = MAX_SERVED) -> None:
        self.ttl = ttl
        self.size = size
        self._served: OrderedDict[int, tuple[SessionRecord, Grant, float]] = OrderedDict()

    def note(self, record: SessionRecord, grant: Grant) -> None:
        self._served.pop(record.id, None)
        self._served[record.id] = (record, grant, time.monotonic())
        while len(self._served) > self.size:
            self._served.popitem(last=False)

    def forget(self, session: int) -> None:
        self._served.pop(session, None)

    def recent(self) -> list[tuple[SessionRecord, Grant]]:
        cutoff = time.monotonic() - self.ttl
        while self._served and next(iter(self._served.values()))[2] < cutoff:
            self._served.popitem(last=False)
        return [(record, grant) for record, grant, _ in self._served.values()]

    def __len__(self) -> int:
        return len(self._served)


class Revalidator:
    def __init__(
        self,
        served: ServedSessions,
        grants: GrantStore,
        sessions: SessionStore,
        pool: GatewayPool,
        relay: Relay,
    ) -> None:
        self.served = served
        self.grants = grants
        self.sessions = sessions
        self.pool = pool
        self.relay = relay

    async def end(self, record: SessionRecord) -> None:
        """Destroy a session on its pod and forget it everywhere."""
        pod = self.pool.member(record.pod)
        if pod is not None:
            await self.relay.destroy(pod, record.id)
        await self.sessions.drop(record)
        self.served.forget(record.id)

    async def _still_allowed(self, auth: Auth, grant: Grant) -> bool | None:
        """Whether the grant's token and permission still hold; None when the cluster did not
        answer (decide next time)."""
        try:
            viewer = await auth.authenticate(grant.token)
            return viewer.key == grant.owner and await auth.allowed(viewer, "get", *grant.camera)
        except Unauthenticated:
            return False
        except Unavailable:
            return None

    async def once(self, auth: Auth) -> int:
        """One round over the sessions served recently; how many sessions were ended."""
        by_grant: dict[str, tuple[Grant, list[SessionRecord]]] = {}
        for record, grant in self.served.recent():
            by_grant.setdefault(grant.key, (grant, []))[1].append(record)
        ended = 0
        for grant, served in by_grant.values():
            if not await self.grants.exists(grant):
                doomed = [r for r in served if await self.sessions.get(r.id) is not None]
                for record in served:
                    self.served.forget(record.id)
            elif await self._still_allowed(auth, grant) is False:
                log.info(
                    f"ending Janus session of {grant.owner[0]} for "
                    f"{grant.camera[0]}/{grant.camera[1]}: access is gone"
                )
                await self.grants.revoke(grant)
                recorded = await self.sessions.of_owner(grant.owner)
                doomed = [r for r in recorded if r.grant == grant.key]
                known = {r.id for r in doomed}
                doomed += [r for r in served if r.id not in known]
            else:
                continue
            for record in doomed:
                await self.end(record)
                ended += 1
        return ended

    async def forever(self, auth: Auth, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.once(auth)
            except Unavailable:
                log.warning("re-checking signalling sessions skipped: Redis is unavailable")
            except Exception:
                log.exception("re-checking signalling sessions failed")
