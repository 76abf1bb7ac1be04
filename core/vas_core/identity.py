"""Identity of a camera's mountpoint, derived from what no tenant can change: its namespace
and name. The operator creates the mountpoint under this id and the facade routes viewers to
it by the same derivation, never by anything in the Camera's status."""

from __future__ import annotations

import hashlib
from functools import lru_cache


@lru_cache(maxsize=1 << 16)  # every round of the gateway watcher asks for every camera's
def mountpoint_id(namespace: str, name: str) -> int:
    """A stable id below 2**48: unique per camera, safe as a JavaScript number in the viewer."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:6], "big") or 1


def substream_id(namespace: str, name: str) -> int:
    """The id of a camera's sub-stream mountpoint (its second, lower-resolution source).

    Derived like the main id from the camera's name plus "/sub"; "/" cannot appear in a
    Kubernetes name, so no camera's main id can ever equal another camera's sub id."""
    return mountpoint_id(namespace, name + "/sub")
