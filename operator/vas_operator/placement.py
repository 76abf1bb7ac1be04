"""Which gateway a camera goes to.

Today one gateway from settings; the pool of gateway pods replaces StaticPlacement behind the
same small interface, so the reconciler does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Gateway:
    name: str  # the pod name shown in status.gateway.pod
    admin_url: str


class Placement(Protocol):
    def place(self, namespace: str, camera: str) -> Gateway: ...


@dataclass(frozen=True)
class StaticPlacement:
    gateway: Gateway

    def place(self, namespace: str, camera: str) -> Gateway:
        return self.gateway
