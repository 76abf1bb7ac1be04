"""Which gateway pod a camera's new signalling sessions go to.

The pool is what the API server says: the pods the gateway selector matches in the gateway
namespace (``vas_core.gateways``), watched, never configured. Where a camera is mounted is
what the operator last saw the gateways list, kept in Redis (``livekeys.PLACEMENT_KEY``,
{mountpoint id: pod name}). Redis is data, not authority: a pod named there is used only if it
is a live member of the watched pool, so nothing in Redis (or in a Camera's tenant-writable
status) can send a viewer's requests anywhere else.
"""

from __future__ import annotations

import re

import redis.asyncio as redis

from vas_api.errors import Unavailable
from vas_api.shared import hget_bounded, store_errors
from vas_core.gateways import GatewayPod, pool_store
from vas_core.identity import mountpoint_id
from vas_core.kube import Kube
from vas_core.livekeys import PLACEMENT_KEY

MAX_POD_NAME = 253
_POD_NAME = re.compile(r"[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?")
RETRY_AFTER = {"Retry-After": "2"}


class GatewayPool:
    def __init__(self, api: Kube, namespace: str, selector: str, client: redis.Redis) -> None:
        self.store = pool_store(api, namespace, selector)
        self._redis = client

    def start(self) -> None:
        self.store.start()

    async def stop(self) -> None:
        await self.store.stop()

    @property
    def synced(self) -> bool:
        return self.store.synced.is_set()

    def pods(self) -> list[GatewayPod]:
        return sorted(self.store.items.values(), key=lambda p: p.name)

    def member(self, name: str) -> GatewayPod | None:
        """The pool member of that name, live or not (a session's pod may be draining or
        shutting down and still answer)."""
        return next((p for p in self.store.items.values() if p.name == name), None)

    async def placement(self, camera: tuple[str, str]) -> str | None:
        """The pod name the operator last saw serving the camera's mountpoint, if well-formed."""
        with store_errors():
            name = await hget_bounded(
                self._redis, PLACEMENT_KEY, str(mountpoint_id(*camera)), MAX_POD_NAME
            )
        return name if name is not None and _POD_NAME.fullmatch(name) else None

    async def route(self, camera: tuple[str, str]) -> GatewayPod:
        """The live pod a new session for ``camera`` goes to; 503 with Retry-After when the
        camera is not (yet) mounted on a live member of the pool."""
        if not self.synced:
            raise Unavailable("the gateway pool has not been listed yet", headers=RETRY_AFTER)
        placed = await self.placement(camera)
        live = [p for p in self.pods() if p.live]
        if placed is not None:
            pod = self.member(placed)
            if pod is not None and pod.live:
                return pod
        elif len(live) == 1:
            return live[0]  # one pod: where else could it be (an operator that writes no map)
        raise Unavailable(
            f"camera {camera[0]}/{camera[1]} is not mounted on any gateway yet",
            headers=RETRY_AFTER,
        )
