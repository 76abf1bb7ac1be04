"""What a scan may touch: targets expanded to endpoints, bounded by the operator's allow-list."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(targets: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(t, strict=False) for t in targets]


def address_count(targets: Sequence[str]) -> int:
    return sum(n.num_addresses for n in networks(targets))


def refusal(targets: Sequence[str], allowed: Sequence[str], max_addresses: int) -> str | None:
    """Why this scan may not run, or None. Checked before a single packet is sent."""
    if not allowed:
        return (
            "no address range is allowed for discovery: the operator's allow-list "
            "(VAS_DISCOVERY_ALLOWED_CIDRS) is empty"
        )
    allow = networks(allowed)
    for target, net in zip(targets, networks(targets), strict=True):
        if not any(net.version == a.version and net.subnet_of(a) for a in allow):  # type: ignore[arg-type]
            return f"target {target} is outside the operator's allow-list ({', '.join(allowed)})"
    total = address_count(targets)
    if total > max_addresses:
        return f"the scan covers {total} addresses; the operator allows at most {max_addresses}"
    return None


def endpoints(targets: Sequence[str], ports: Sequence[int]) -> Iterator[tuple[str, int]]:
    """Every (address, port), address-major, without materialising the list. A /24 or wider
    network skips its network and broadcast addresses, as a host sweep should."""
    for net in networks(targets):
        hosts = net.hosts() if net.num_addresses > 2 else iter(net)
        for address in hosts:
            for port in ports:
                yield str(address), port


def endpoint_count(targets: Sequence[str], ports: Sequence[int]) -> int:
    total = 0
    for net in networks(targets):
        hosts = net.num_addresses - 2 if net.num_addresses > 2 else net.num_addresses
        total += hosts * len(ports)
    return total
