"""The endpoints inside allowed targets that a sweep still never connects to."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from vas_operator.scanning.targets import Address
from vas_operator.sourcepolicy import SourcePolicy


class Guard:
    """What the policy refuses by address and port (VAS's own services). A service listening
    on a wildcard address answers on every loopback address, so a loopback service port is
    skipped on all of 127.0.0.0/8 and ::1. Called once per endpoint while the endpoints are
    generated, so the common case (a port no VAS service uses) costs one set lookup. It
    pickles, policy included, so a worker process skips exactly what this process would."""

    def __init__(self, policy: SourcePolicy, ports: Sequence[int]) -> None:
        own = policy.services()
        self.policy = policy
        self.ports = {p for _, p in own} & set(ports)
        self.loopback_ports = {p for a, p in own if a.is_loopback}
        self.skipped = 0

    def refuses(self, address: Address, port: int) -> bool:
        if port in self.ports and (
            self.policy.refusal(address, port) is not None
            or (address.is_loopback and port in self.loopback_ports)
        ):
            return True
        return self.policy.refusal(address, None) is not None

    def __call__(self, host: str, port: int) -> bool:
        if port not in self.ports:
            return False  # the target network as a whole passed the policy already
        if self.refuses(ipaddress.ip_address(host), port):
            self.skipped += 1
            return True
        return False
