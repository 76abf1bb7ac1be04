"""The gateway autoscaler: sizes the gateway StatefulSet through its ``scale`` subresource.

Each round it reads the demand (enabled Cameras, viewer sessions per pod from the facades
through Redis) and asks ``autoscale.decide``. Up is immediate. Down is never a pod vanishing
under its viewers: the highest pod (the one a StatefulSet removes) is first marked draining,
its cameras are re-placed by the gateway watcher (Janus tells the viewers of each destroyed
mountpoint; the viewer reconnects to the new pod), and only when it carries nothing is the
StatefulSet shrunk. Every change is an Event on the StatefulSet with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from vas_core.gateways import DRAINING, GatewayPod
from vas_core.kube import Kube, KubeError, core_path
from vas_operator import autoscale
from vas_operator.clients.kube import post_event
from vas_operator.clients.live import LiveWriter
from vas_operator.metrics import SCALE_DECISIONS
from vas_operator.pool import GatewayPool
from vas_operator.settings import OperatorSettings
from vas_operator.watched import Watched

log = logging.getLogger("vas.scaler")


def statefulset_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"


class PoolScaler:
    def __init__(
        self,
        api: Kube,
        pool: GatewayPool,
        watched: Watched,
        cfg: OperatorSettings,
        live: LiveWriter | None,
        wake: asyncio.Event,
    ) -> None:
        self.api, self.pool, self.watched, self.cfg, self.live = api, pool, watched, cfg, live
        self.wake = wake  # the gateway watcher's: a drain starts moving cameras at once
        self.namespace, self.name = cfg.gateway_namespace, cfg.gateway_statefulset
        self.low_since: float | None = None
        self.last: autoscale.Decision | None = None

    async def run(self) -> None:
        await self.watched.cameras.synced.wait()
        await self.pool.adopted.wait()
        while True:
            try:
                await self.step()
            except (KubeError, OSError) as error:
                log.warning(f"scaling {self.name}: {error}")
            await asyncio.sleep(self.cfg.health_interval_seconds)

    async def demand(self) -> tuple[int, int]:
        """Cameras that want a mountpoint and viewer sessions across the pool."""
        cameras = sum(1 for c in self.watched.cameras.items.values() if c.enabled)
        if self.live is not None:
            counted = await self.live.pod_viewers(list(self.pool.members()))
            if counted is not None:
                self.pool.viewers = counted
        return cameras, sum(self.pool.viewers.values())

    async def step(self) -> autoscale.Decision:
        scale = await self.api.get(statefulset_path(self.namespace, self.name) + "/scale")
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        cameras, viewers = await self.demand()
        now = asyncio.get_running_loop().time()
        decision, self.low_since = autoscale.decide(
            current,
            cameras,
            viewers,
            self.pool.capacity,
            self.cfg.gateway_target_utilisation,
            self.cfg.gateway_min_replicas,
            self.cfg.gateway_max_replicas,
            self.low_since,
            now,
            self.cfg.scale_down_delay_seconds,
        )
        self.last = decision
        draining = [p for p in self.pool.members().values() if p.draining]
        if decision.reason != "ScaleDown":
            for pod in draining:  # demand came back: keep the pod
                await self.mark(pod, False, f"{decision.message}; {pod.name} stays")
        if decision.reason == "ScaleUp":
            await self.resize(decision.replicas, "ScaleUp", decision.message)
        elif decision.reason == "ScaleDown":
            await self.scale_down(current, decision)
        return decision

    async def scale_down(self, current: int, decision: autoscale.Decision) -> None:
        """Drain the highest pod; shrink once it carries nothing."""
        highest = max(self.pool.members().values(), key=lambda p: p.ordinal, default=None)
        if highest is None or highest.ordinal != current - 1:
            return  # the StatefulSet is still settling: decide again next round
        if not highest.draining:
            await self.mark(highest, True, decision.message)
            return
        if any(name == highest.name for name in self.pool.assigned.values()):
            return  # still moving its cameras
        if await self.pool.carried(highest):
            return  # Janus still lists some (removal in flight)
        await self.resize(current - 1, "ScaleDown", f"{decision.message}; {highest.name} drained")
        self.low_since = None  # the next step down waits a full window again

    async def mark(self, pod: GatewayPod, draining: bool, message: str) -> None:
        value = "true" if draining else None
        await self.api.merge_patch(
            core_path("pods", self.namespace, pod.name),
            {"metadata": {"annotations": {DRAINING: value}}},
        )
        reason = "Draining" if draining else "Undrained"
        await self.event(reason, f"{pod.name}: {message}")
        self.wake.set()

    async def resize(self, replicas: int, reason: str, message: str) -> None:
        await self.api.merge_patch(
            statefulset_path(self.namespace, self.name) + "/scale", {"spec": {"replicas": replicas}}
        )
        await self.event(reason, message)

    async def event(self, reason: str, message: str) -> None:
        SCALE_DECISIONS.labels(reason).inc()
        log.info(f"gateway pool {reason}: {message}")
        sts: dict[str, Any] = await self.api.get(statefulset_path(self.namespace, self.name))
        ref = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": self.name,
            "namespace": self.namespace,
            "uid": sts["metadata"]["uid"],
        }
        await post_event(self.api, ref, "Normal", reason, message)
