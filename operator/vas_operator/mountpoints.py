"""Janus mountpoints derived from Cameras: ids, secrets and request bodies, all deterministic.

Everything here is a pure function of the camera and the operator's key, so a retry, an
operator restart or a second replica arrives at the same mountpoint id and secret, and never
creates a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from vas_operator.probe import Credentials

MAIN, SUB = "main", "sub"


def _mac(key: str, *parts: str) -> str:
    return hmac.new(key.encode(), "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def mountpoint_secret(key: str, mp_id: int) -> str:
    """The per-mountpoint secret Janus requires to edit or destroy it; only the operator can
    compute it, and it never needs storing."""
    return _mac(key, "mountpoint-secret", str(mp_id))[:32]


def fingerprint(key: str, url: str, transport: str, credentials: Credentials | None) -> str:
    """Identifies the configuration a mountpoint was built from, without revealing it: a change
    of URL or credentials changes it, so the operator knows to rebuild the mountpoint."""
    user, password = (credentials.username, credentials.password) if credentials else ("", "")
    return _mac(key, "mountpoint-config", url, transport, user, password)[:24]


@dataclass(frozen=True)
class MountpointSpec:
    id: int
    secret: str
    namespace: str
    camera: str
    url: str
    credentials: Credentials | None
    fingerprint: str
    stream: str = MAIN  # MAIN, or SUB for the camera's sub-stream (its own derived id)

    def create_request(self, admin_key: str) -> dict[str, Any]:
        label = f"{self.namespace}/{self.camera}" + (" (sub)" if self.stream == SUB else "")
        meta = {"namespace": self.namespace, "camera": self.camera, "fingerprint": self.fingerprint}
        if self.stream == SUB:
            meta["stream"] = SUB  # lets the pool tell it from the main stream's mountpoint
        request: dict[str, Any] = {
            "type": "rtsp",
            "id": self.id,
            "name": label,
            "description": label,
            "metadata": json.dumps(meta, separators=(",", ":")),
            "url": self.url,
            "video": True,
            "audio": False,
            "videobufferkf": True,  # a new viewer gets the last keyframe at once
            "secret": self.secret,
            "admin_key": admin_key,
            "is_private": False,
            "permanent": False,
            # Connect at create time: the camera was just probed, so this makes the stream
            # watchable at once (otherwise Janus connects ~3 s later) and a gateway that
            # cannot reach the camera is reported now. Later drops are reconnected by Janus.
            "rtsp_failcheck": True,
            "rtsp_reconnect_delay": 2,
            "rtsp_conn_timeout": 5,
            "rtsp_timeout": 10,
        }
        if self.credentials:
            request["rtsp_user"] = self.credentials.username
            request["rtsp_pwd"] = self.credentials.password
        return request


@lru_cache(maxsize=1 << 16)  # each watcher round reads every mountpoint's metadata
def _parsed_meta(text: str) -> Mapping[str, Any]:
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        return MappingProxyType({})
    return MappingProxyType(meta if isinstance(meta, dict) else {})


def listed_meta(entry: dict[str, Any]) -> Mapping[str, Any]:
    """A listed mountpoint's metadata as VAS wrote it (read-only); empty when it is not
    VAS's."""
    text = entry.get("metadata")
    return _parsed_meta(text) if isinstance(text, str) and len(text) <= 4096 else {}


def listed_fingerprint(entry: dict[str, Any]) -> str | None:
    """The fingerprint a listed mountpoint was created with, if VAS created it."""
    value = listed_meta(entry).get("fingerprint")
    return value if isinstance(value, str) else None
