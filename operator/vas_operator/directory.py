"""What one gateway has mounted, from one Janus ``list`` shared by every reconcile.

Asking per camera (``info``) costs a round-trip each and its answer carries the camera's RTSP
credentials; a restart of the operator with thousands of cameras would ask thousands of times.
One ``list`` (no credentials in it) answers every camera on the gateway for ``max_age``
seconds, and the gateway watcher refreshes it on its own interval. Reads that only need to know
what the operator itself did (which pods hold a camera it is moving or removing, what it adopts
at start) accept an older listing: between listings every create and destroy is noted here, so
only a gateway that lost its mountpoints (a restart) makes it wrong, and the watcher's next
round sees that.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from vas_operator.clients.janus import JanusAdmin


class GatewayDirectory:
    def __init__(self, janus: JanusAdmin, max_age: float = 2.0) -> None:
        self.janus = janus
        self.max_age = max_age
        self._by_id: dict[int, dict[str, Any]] = {}
        self._at: float | None = None
        self._lock = asyncio.Lock()

    def put(self, listed: list[dict[str, Any]]) -> None:
        """A fresh listing, from here or from the gateway watcher."""
        self._by_id = {int(e["id"]): e for e in listed if isinstance(e.get("id"), int)}
        self._at = time.monotonic()

    def note(self, mountpoint_id: int, entry: dict[str, Any] | None) -> None:
        """Our own create (its configuration) or destroy (None), until the next listing: a
        burst of new cameras must not cost one full listing each."""
        if entry is None:
            self._by_id.pop(mountpoint_id, None)
        else:
            self._by_id[mountpoint_id] = entry

    async def entry(
        self, mountpoint_id: int, max_age: float | None = None
    ) -> dict[str, Any] | None:
        """The listed mountpoint, from a listing at most ``max_age`` seconds old (by default
        the directory's own), or None; raises JanusError when the gateway is away."""
        age = self.max_age if max_age is None else max_age
        if self._at is None or time.monotonic() - self._at > age:
            async with self._lock:  # one list for everyone waiting, not one each
                if self._at is None or time.monotonic() - self._at > age:
                    self.put(await self.janus.list_mountpoints())
        return self._by_id.get(mountpoint_id)
