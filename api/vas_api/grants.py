"""Signalling handles (grants) shared by every facade replica through Redis.

A viewer makes one authenticated call for a camera and gets an opaque handle, which the page
then carries instead of the bearer token; any replica must be able to honour it. What Redis
holds for a handle, at ``vas:grant:<sha256(handle)>`` (never the handle itself):

- the owner (username, uid) and the camera (namespace, name), and
- the viewer's bearer token, needed to re-check access on every use, encrypted with AES-GCM
  under a key derived (HKDF-SHA256) from the handle, with the record's key, owner and camera
  as associated data. Redis alone never yields a token: the handle that decrypts it lives only
  in the viewer's page and, while it is in use, in the memory of the replicas serving it.

A grant expires ``ttl`` seconds after its last use (its TTL is renewed on use). Each viewer
holds at most ``per_viewer`` grants: ``vas:grants:viewer:<sha256(owner)>`` is a sorted set of
the viewer's grant keys scored by expiry, and issuing a handle past the limit drops the
viewer's least recently used ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vas_api.auth import Viewer
from vas_api.errors import Unauthenticated
from vas_api.shared import get_json, store_errors, strings

Camera = tuple[str, str]
Owner = tuple[str, str]
GRANT_PREFIX = "vas:grant:"
VIEWER_GRANTS_PREFIX = "vas:grants:viewer:"
MAX_HANDLE = 128
MAX_RECORD_BYTES = 32 * 1024  # an 8 KiB token, encrypted and base64-encoded, fits easily
MAX_NAME = 512  # usernames, uids, namespaces and names are far shorter
_SALT = b"vas signalling grant v1"
_GRANT_KEY = re.compile(rb"vas:grant:[0-9a-f]{64}")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def grant_key(handle: str) -> str:
    """Where Redis holds a handle's grant (its digest: never the handle itself)."""
    return GRANT_PREFIX + digest(handle)


def owner_digest(owner: Owner) -> str:
    return digest(json.dumps(list(owner)))


def _cipher(handle: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=b"bearer token").derive(
        handle.encode()
    )
    return AESGCM(key)


def _aad(key: str, owner: Owner, camera: Camera) -> bytes:
    return json.dumps([key, *owner, *camera]).encode()


def seal(handle: str, token: str, aad: bytes) -> str:
    nonce = secrets.token_bytes(12)
    return base64.b64encode(nonce + _cipher(handle).encrypt(nonce, token.encode(), aad)).decode()


def unseal(handle: str, sealed: str, aad: bytes) -> str | None:
    """The token, or None when ``sealed`` was not made with this handle for this record."""
    try:
        raw = base64.b64decode(sealed, validate=True)
        return _cipher(handle).decrypt(raw[:12], raw[12:], aad).decode()
    except (ValueError, InvalidTag):
        return None


@dataclass(frozen=True)
class Grant:
    """A live handle as one request sees it. ``token`` was decrypted with the handle and stays
    in this process's memory; ``key`` is the Redis key (a hash of the handle)."""

    key: str
    owner: Owner
    camera: Camera
    token: str | None = field(repr=False)

    def __repr__(self) -> str:
        return f"Grant({self.owner[0]}, {self.camera[0]}/{self.camera[1]})"


class GrantStore:
    def __init__(self, client: redis.Redis, ttl: float, per_viewer: int) -> None:
        self._redis = client
        self.ttl = ttl
        self.per_viewer = per_viewer

    def _ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    async def issue(self, viewer: Viewer, token: str | None, camera: Camera) -> str:
        """A new handle for (viewer, camera); the viewer's least recently used handles make
        room beyond ``per_viewer``."""
        handle = secrets.token_urlsafe(32)
        key = grant_key(handle)
        owner: Owner = viewer.key
        mine = VIEWER_GRANTS_PREFIX + owner_digest(owner)
        record = {
            "owner": list(owner),
            "camera": list(camera),
            "token": None if token is None else seal(handle, token, _aad(key, owner, camera)),
        }
        now = time.time()
        with store_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(mine, "-inf", now)
                pipe.zcard(mine)
                _, held = await pipe.execute()
            surplus = int(held) - self.per_viewer + 1
            if surplus > 0:
                oldest = await self._redis.zrange(mine, 0, min(surplus, 1000) - 1)
                # Only what looks like a grant key is deleted, whatever else the set holds.
                doomed = [o for o in oldest if isinstance(o, bytes) and _GRANT_KEY.fullmatch(o)]
                async with self._redis.pipeline(transaction=True) as pipe:
                    if doomed:
                        pipe.delete(*doomed)
                    if oldest:
                        pipe.zrem(mine, *oldest)
                    await pipe.execute()
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, json.dumps(record), px=self._ms(), nx=True)
                pipe.zadd(mine, {key: now + self.ttl})
                pipe.pexpire(mine, self._ms())
                await pipe.execute()
        return handle

    async def use(self, handle: Any, camera: Camera) -> Grant:
        """The grant of a live handle for this camera, its expiry renewed; else 401."""
        if not isinstance(handle, str) or not handle or len(handle) > MAX_HANDLE:
            raise Unauthenticated("a signalling handle is required (ask .../signalling first)")
        key = grant_key(handle)
        with store_errors():
            record = await get_json(self._redis, key, MAX_RECORD_BYTES)
            grant = _parse(handle, key, record)
            if grant is None or grant.camera != camera:
                raise Unauthenticated("the signalling handle is not valid for this camera")
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.pexpire(key, self._ms())
                pipe.zadd(
                    VIEWER_GRANTS_PREFIX + owner_digest(grant.owner),
                    {key: time.time() + self.ttl},
                    xx=True,
                )
                pipe.pexpire(VIEWER_GRANTS_PREFIX + owner_digest(grant.owner), self._ms())
                await pipe.execute()
        return grant

    async def exists(self, grant: Grant) -> bool:
        with store_errors():
            return bool(await self._redis.exists(grant.key))

    async def revoke(self, grant: Grant) -> None:
        with store_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(grant.key)
                pipe.zrem(VIEWER_GRANTS_PREFIX + owner_digest(grant.owner), grant.key)
                await pipe.execute()


def _parse(handle: str, key: str, record: dict[str, Any] | None) -> Grant | None:
    """A grant from its Redis record, or None unless every field has its type and size and
    the token decrypts with this handle for this owner and camera."""
    if record is None:
        return None
    owner, camera = strings(record.get("owner"), 2, MAX_NAME), strings(record.get("camera"), 2, 253)
    sealed = record.get("token")
    if owner is None or camera is None or not (sealed is None or isinstance(sealed, str)):
        return None
    token = None
    if sealed is not None:
        token = unseal(handle, sealed, _aad(key, (owner[0], owner[1]), (camera[0], camera[1])))
        if token is None:
            return None
    return Grant(key, (owner[0], owner[1]), (camera[0], camera[1]), token)


def grant_of(handle: str, viewer: Viewer, token: str | None, camera: Camera) -> Grant:
    """The grant of a handle this request has just issued, as ``GrantStore.use`` would read
    it back from Redis (a round trip saved: the token and the viewer were checked already)."""
    return Grant(grant_key(handle), viewer.key, camera, token)
