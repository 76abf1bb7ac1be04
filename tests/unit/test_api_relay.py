"""Signalling state shared through a real Redis (Debian's redis-server on a free port): handles,
session ownership, viewer counts, routing to gateway pods, re-checks, per-viewer limits.

Two stores on two Redis clients stand for two facade replicas."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.media.fixtures import RedisServer
from tests.support import free_port
from vas_api.auth import Viewer
from vas_api.errors import Forbidden, TooManyRequests, Unauthenticated, Unavailable
from vas_api.grants import GRANT_PREFIX, Grant, GrantStore, digest
from vas_api.pool import GatewayPool
from vas_api.relay import Relay, ViewerLimits
from vas_api.revalidation import Revalidator, ServedSessions
from vas_api.sessions import SESSION_PREFIX, SessionRecord, SessionStore
from vas_api.settings import ApiSettings
from vas_core.gateways import GatewayPod
from vas_core.identity import mountpoint_id
from vas_core.livekeys import PLACEMENT_KEY, camera_viewers_key, pod_viewers_key

ALICE, BOB = Viewer("alice", "u1"), Viewer("bob", "u2")
LOBBY, GATE = ("a", "lobby"), ("a", "gate")
TOKEN = "alice-bearer-token-" + "x" * 40


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[list[aioredis.Redis]]:
    """Two clients of one Redis (two facade replicas), emptied before each test."""
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(2)]
    await clients[0].flushdb()
    yield clients
    for client in clients:
        await client.aclose()


async def everything(client: aioredis.Redis) -> bytes:
    """Every key and value in Redis, as one blob to search."""
    blob = b""
    async for key in client.scan_iter():
        kind = (await client.type(key)).decode()
        value: Any = {
            "string": client.get,
            "hash": client.hgetall,
            "zset": lambda k: client.zrange(k, 0, -1),
        }[kind](key)
        blob += key + b"=" + repr(await value).encode() + b"\n"
    return blob


async def test_a_handle_works_on_every_replica_and_is_bound_to_its_camera(
    replicas: list[aioredis.Redis],
) -> None:
    one, two = (GrantStore(c, ttl=60, per_viewer=4) for c in replicas)
    handle = await one.issue(ALICE, TOKEN, LOBBY)
    grant = await two.use(handle, LOBBY)
    assert grant.owner == ALICE.key
    assert grant.token == TOKEN
    assert TOKEN not in repr(grant)
    with pytest.raises(Unauthenticated):
        await two.use(handle, GATE)
    for bad in (None, 1, "", "x" * 500, "unknown"):
        with pytest.raises(Unauthenticated):
            await one.use(bad, LOBBY)


async def test_redis_alone_never_yields_a_token_or_a_handle(
    replicas: list[aioredis.Redis],
) -> None:
    store = GrantStore(replicas[0], ttl=60, per_viewer=4)
    handle = await store.issue(ALICE, TOKEN, LOBBY)
    blob = await everything(replicas[0])
    assert TOKEN.encode() not in blob
    assert handle.encode() not in blob
    assert (GRANT_PREFIX + digest(handle)).encode() in blob
    # The sealed token is bound to its record: copied under another camera, it is refused.
    key = GRANT_PREFIX + digest(handle)
    record = json.loads(await replicas[0].get(key))
    record["camera"] = list(GATE)
    await replicas[0].set(key, json.dumps(record))
    with pytest.raises(Unauthenticated):
        await store.use(handle, GATE)


async def test_what_redis_holds_is_bounded_and_type_checked(
    replicas: list[aioredis.Redis],
) -> None:
    store = GrantStore(replicas[0], ttl=60, per_viewer=4)
    handle = await store.issue(ALICE, TOKEN, LOBBY)
    key = GRANT_PREFIX + digest(handle)
    for planted in (b"x" * (1024 * 1024), b"[1, 2]", b"not json", b'{"owner": 1}'):
        await replicas[0].set(key, planted)
        with pytest.raises(Unauthenticated):
            await store.use(handle, LOBBY)
    await replicas[0].delete(key)
    await replicas[0].hset(key, "owner", "alice")  # another type altogether
    with pytest.raises(Unauthenticated):
        await store.use(handle, LOBBY)
    sessions = SessionStore(replicas[0])
    await replicas[0].set(SESSION_PREFIX + "7", b"{" + b" " * 100_000 + b"}")
    assert await sessions.get(7) is None


async def test_handles_expire_unused_and_are_bounded_per_viewer(
    replicas: list[aioredis.Redis],
) -> None:
    short = GrantStore(replicas[0], ttl=0.3, per_viewer=4)
    handle = await short.issue(ALICE, TOKEN, LOBBY)
    for _ in range(3):  # used within its TTL, it lives on
        await asyncio.sleep(0.15)
        await short.use(handle, LOBBY)
    await asyncio.sleep(0.4)
    with pytest.raises(Unauthenticated):
        await short.use(handle, LOBBY)
    one, two = (GrantStore(c, ttl=60, per_viewer=2) for c in replicas)
    first = await one.issue(ALICE, TOKEN, LOBBY)
    second = await two.issue(ALICE, TOKEN, LOBBY)
    await one.use(first, LOBBY)  # now the second is the least recently used
    third = await two.issue(ALICE, TOKEN, LOBBY)
    with pytest.raises(Unauthenticated):
        await one.use(second, LOBBY)
    await one.use(first, LOBBY)
    await two.use(third, LOBBY)
    bobs = await one.issue(BOB, "bob-token", LOBBY)
    await two.use(bobs, LOBBY)


async def grant_for(store: GrantStore, viewer: Viewer, camera: tuple[str, str]) -> Grant:
    return await store.use(await store.issue(viewer, f"token-of-{viewer.username}", camera), camera)


async def test_a_session_belongs_to_its_viewer_and_camera_on_every_replica(
    replicas: list[aioredis.Redis],
) -> None:
    grants = GrantStore(replicas[0], ttl=60, per_viewer=8)
    one, two = (SessionStore(c) for c in replicas)
    alice = await grant_for(grants, ALICE, LOBBY)
    bob = await grant_for(grants, BOB, LOBBY)
    alice_gate = await grant_for(grants, ALICE, GATE)
    record = SessionRecord(7, ALICE.key, LOBBY, "gw-0", alice.key)
    assert await one.add(record)
    assert not await two.add(SessionRecord(7, BOB.key, LOBBY, "gw-1", bob.key))  # id taken
    assert await two.check(7, alice) == record
    for other in (bob, alice_gate):
        with pytest.raises(Forbidden):
            await two.check(7, other)
    with pytest.raises(Forbidden):
        await one.check(8, alice)
    assert await one.viewers(LOBBY) == await two.viewers(LOBBY) == 1
    assert await two.pod_viewers("gw-0") == 1
    assert await two.open_for(ALICE.key) == 1
    assert await one.of_owner(ALICE.key) == [record]
    await two.drop(record)
    assert await one.viewers(LOBBY) == 0
    assert await one.pod_viewers("gw-0") == 0
    with pytest.raises(Forbidden):
        await one.check(7, alice)


async def test_viewer_counts_are_sessions_seen_within_the_ttl(
    replicas: list[aioredis.Redis],
) -> None:
    """The semantics the operator's autoscaler relies on: a sorted set per pod, member = session
    id, score = unix time last seen; ZCOUNT over the TTL."""
    store = SessionStore(replicas[0], ttl=60)
    grants = GrantStore(replicas[0], ttl=60, per_viewer=8)
    alice = await grant_for(grants, ALICE, LOBBY)
    await store.add(SessionRecord(1, ALICE.key, LOBBY, "gw-0", alice.key))
    await store.add(SessionRecord(2, ALICE.key, LOBBY, "gw-1", alice.key))
    stale = time.time() - 61
    await replicas[0].zadd(pod_viewers_key("gw-0"), {"99": stale})
    await replicas[0].zadd(camera_viewers_key(*LOBBY), {"99": stale})
    assert await store.viewers(LOBBY) == 2
    assert await store.pod_viewers("gw-0") == 1
    assert await store.pod_viewers("gw-1") == 1
    assert await replicas[0].zscore(pod_viewers_key("gw-0"), "99") is None  # pruned
    now = time.time()
    assert await replicas[1].zcount(pod_viewers_key("gw-0"), now - 60, "+inf") == 1


async def test_redis_away_is_a_clear_503(redis_server: RedisServer) -> None:
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(Unavailable, match="Redis"):
            await GrantStore(dead, ttl=60, per_viewer=2).issue(ALICE, TOKEN, LOBBY)
        with pytest.raises(Unavailable, match="Redis"):
            await SessionStore(dead).viewers(LOBBY)
    finally:
        await dead.aclose()


def pod(name: str, *, ready: bool = True, deleting: bool = False, port: int = 8088) -> GatewayPod:
    return GatewayPod(name, "127.0.0.1", ready, port, port + 1, 0, False, deleting)


def pool_of(client: aioredis.Redis, *pods: GatewayPod) -> GatewayPool:
    """A pool whose watch already delivered ``pods`` (its listing is what is under test)."""
    pool = GatewayPool(None, "gw", "app=gw", client)  # type: ignore[arg-type]
    pool.store.items = {("gw", p.name): p for p in pods}
    pool.store.synced.set()
    return pool


async def test_a_camera_is_routed_only_to_a_live_pool_member(
    replicas: list[aioredis.Redis],
) -> None:
    client = replicas[0]
    field = str(mountpoint_id(*LOBBY))
    unlisted = GatewayPool(None, "gw", "app=gw", client)  # type: ignore[arg-type]
    with pytest.raises(Unavailable, match="not been listed"):
        await unlisted.route(LOBBY)
    single = pool_of(client, pod("gw-0"))
    assert (await single.route(LOBBY)).name == "gw-0"  # no placement, one live pod
    two = pool_of(client, pod("gw-0"), pod("gw-1"))
    with pytest.raises(Unavailable, match="not mounted on any gateway yet") as refused:
        await two.route(LOBBY)
    assert refused.value.headers == {"Retry-After": "2"}
    await client.hset(PLACEMENT_KEY, field, "gw-1")
    assert (await two.route(LOBBY)).name == "gw-1"
    for planted in ("evil.example.com", "gw-9", "x" * 300, "GW-1 "):
        await client.hset(PLACEMENT_KEY, field, planted)
        with pytest.raises(Unavailable):
            await two.route(LOBBY)
    await client.hset(PLACEMENT_KEY, field, "gw-1")
    for gone in (pod("gw-1", ready=False), pod("gw-1", deleting=True)):
        with pytest.raises(Unavailable):
            await pool_of(client, pod("gw-0"), gone).route(LOBBY)
    # A session on a pod that is shutting down still reaches it.
    assert pool_of(client, pod("gw-1", deleting=True)).member("gw-1") is not None


class Cluster:
    """Stands in for TokenReview and SubjectAccessReview: tokens and permissions as sets."""

    def __init__(self) -> None:
        self.tokens = {"token-of-alice": ALICE, "token-of-bob": BOB}
        self.permitted = {(ALICE.key, LOBBY), (BOB.key, LOBBY)}

    async def authenticate(self, token: str | None) -> Viewer:
        if token not in self.tokens:
            raise Unauthenticated("the token was not accepted by the cluster")
        return self.tokens[token]

    async def allowed(self, viewer: Viewer, verb: str, namespace: str, name: str = "") -> bool:
        return (viewer.key, (namespace, name)) in self.permitted


async def test_revoked_access_ends_sessions_served_by_any_replica(
    replicas: list[aioredis.Redis],
) -> None:
    """Replica one re-checks and revokes; replica two, which served the same session, ends it
    too on its next round because the grant is gone from Redis."""
    cluster = Cluster()
    settings = ApiSettings(janus_api_secret=None)
    nowhere = pod("gw-0", port=free_port())  # its destroy goes nowhere: the pod is gone
    parts = []
    for client in replicas:
        grants, sessions = GrantStore(client, 60, 8), SessionStore(client)
        served = ServedSessions(sessions.ttl)
        relay = Relay(settings)
        parts.append((grants, sessions, served, relay))
    revalidators = [
        Revalidator(served, grants, sessions, pool_of(c, nowhere), relay)
        for (grants, sessions, served, relay), c in zip(parts, replicas, strict=True)
    ]
    (grants, sessions, served_one, _), (_, _, served_two, _) = parts
    alice = await grant_for(grants, ALICE, LOBBY)
    bob = await grant_for(grants, BOB, LOBBY)
    mine = SessionRecord(11, ALICE.key, LOBBY, "gw-0", alice.key)
    theirs = SessionRecord(12, BOB.key, LOBBY, "gw-0", bob.key)
    for record, grant in ((mine, alice), (theirs, bob)):
        await sessions.add(record)
        served_one.note(record, grant)
        served_two.note(record, grant)
    assert await revalidators[0].once(cluster) == 0
    cluster.permitted.discard((ALICE.key, LOBBY))
    assert await revalidators[0].once(cluster) == 1
    assert await sessions.get(11) is None
    assert await sessions.get(12) == theirs
    assert not await grants.exists(alice)
    assert await grants.exists(bob)
    assert [r.id for r, _ in served_two.recent()] == [11, 12]
    await revalidators[1].once(cluster)
    assert [r.id for r, _ in served_two.recent()] == [12]
    for *_, relay in parts:
        await relay.close()


def test_served_sessions_are_bounded_and_forgotten_when_idle() -> None:
    served = ServedSessions(ttl=60, size=3)
    grant = Grant(GRANT_PREFIX + "0" * 64, ALICE.key, LOBBY, None)
    for i in range(5):
        served.note(SessionRecord(i, ALICE.key, LOBBY, "gw-0", grant.key), grant)
    assert [r.id for r, _ in served.recent()] == [2, 3, 4]
    served.ttl = 0
    assert served.recent() == []


async def test_per_viewer_limits_leave_other_viewers_alone() -> None:
    limits = ViewerLimits(2, "long-polls")
    async with limits.hold(ALICE.key), limits.hold(ALICE.key):
        with pytest.raises(TooManyRequests):
            async with limits.hold(ALICE.key):
                pass
        async with limits.hold(BOB.key):
            pass
    async with limits.hold(ALICE.key):
        pass  # released again
