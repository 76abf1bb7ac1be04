"""The gateway pool as the API server tells it: the Janus pods a label selector matches in the
gateway namespace, each addressed by its pod IP and its named container ports.

The operator and the facade both find the pool this way; no endpoint list is configured
anywhere. Pods in the gateway namespace belong to the platform team (tenants cannot write
them), so a pod's IP, ports and the operator's ``vas.io/draining`` annotation are trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from vas_core.kube import Kube, core_path
from vas_core.names import API_GROUP
from vas_core.watch import WatchedStore

DRAINING = f"{API_GROUP}/draining"  # set by the operator on a pod it is emptying
HTTP_PORT, ADMIN_PORT = "http", "admin"  # the Janus container's port names
_ORDINAL = re.compile(r"-([0-9]{1,6})$")


class PoolSettings(BaseModel):
    """Where the gateway pods are: the same two settings in the operator (``VAS_GATEWAY_*``)
    and the facade (``VAS_API_GATEWAY_*``); no gateway address is configured anywhere."""

    gateway_namespace: str = Field(
        "vas-system", description="Namespace of the gateway pods (and their StatefulSet)."
    )
    gateway_selector: str = Field(
        "app.kubernetes.io/component=gateway",
        description="Label selector of the gateway pods; each is reached at its pod IP on its "
        "container ports named http and admin.",
    )


@dataclass(frozen=True)
class GatewayPod:
    name: str
    ip: str
    ready: bool
    http_port: int
    admin_port: int
    ordinal: int  # the StatefulSet ordinal (name suffix), -1 when there is none
    draining: bool
    deleting: bool

    @property
    def live(self) -> bool:
        """Serves viewers and may keep its mountpoints."""
        return self.ready and not self.deleting

    @property
    def open(self) -> bool:
        """May take new cameras."""
        return self.live and not self.draining

    @property
    def _host(self) -> str:
        return f"[{self.ip}]" if ":" in self.ip else self.ip

    @property
    def http_url(self) -> str:
        return f"http://{self._host}:{self.http_port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://{self._host}:{self.admin_port}/admin"


def _ports(spec: dict[str, Any]) -> dict[str, int]:
    ports: dict[str, int] = {}
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if isinstance(port.get("name"), str) and isinstance(port.get("containerPort"), int):
                ports.setdefault(port["name"], port["containerPort"])
    return ports


def gateway_pod(obj: dict[str, Any]) -> GatewayPod | None:
    """The pod as a pool member, or None while it has no IP or no Janus ports."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ports = _ports(spec)
    ip = status.get("podIP")
    if not ip or HTTP_PORT not in ports or ADMIN_PORT not in ports:
        return None
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ordinal = _ORDINAL.search(meta["name"])
    return GatewayPod(
        name=meta["name"],
        ip=str(ip),
        ready=conditions.get("Ready") == "True" and status.get("phase") == "Running",
        http_port=ports[HTTP_PORT],
        admin_port=ports[ADMIN_PORT],
        ordinal=int(ordinal.group(1)) if ordinal else -1,
        draining=(meta.get("annotations") or {}).get(DRAINING) == "true",
        deleting=meta.get("deletionTimestamp") is not None,
    )


def pool_store(api: Kube, namespace: str, selector: str) -> WatchedStore[GatewayPod]:
    """The gateway pods, kept current by a watch (start() it)."""
    return WatchedStore(
        api,
        core_path("pods", namespace),
        gateway_pod,
        what="gateway pods",
        label_selector=selector,
    )


def members(store: WatchedStore[GatewayPod]) -> dict[str, GatewayPod]:
    return {pod.name: pod for pod in store.items.values()}
