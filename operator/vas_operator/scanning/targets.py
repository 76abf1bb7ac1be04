"""What a scan may touch: targets expanded to endpoints, bounded by the operator's allow-list."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# IPv6 ranges that reach IPv4 hosts: a socket connecting to ::ffff:127.0.0.1 talks to
# 127.0.0.1, so an IPv6 target here would slip past IPv4 deny ranges. Scan the IPv4 range.
IPV4_IN_IPV6 = (
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated), includes :: and ::1
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local NAT64
    ipaddress.IPv6Network("2002::/16"),  # 6to4
)


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


def embedded_ipv4_refusal(targets: Sequence[str]) -> str | None:
    """Why an IPv6 target that stands for IPv4 addresses may not be swept, or None."""
    for target, net in zip(targets, networks(targets), strict=True):
        if isinstance(net, ipaddress.IPv6Network):
            for embedded in IPV4_IN_IPV6:
                if net.overlaps(embedded):
                    return (
                        f"target {target} overlaps {embedded}, IPv6 addresses that reach "
                        "IPv4 hosts; scan the IPv4 range itself"
                    )
    return None


def endpoints(
    targets: Sequence[str],
    ports: Sequence[int],
    skip: Callable[[Address, int], bool] | None = None,
) -> Iterator[tuple[str, int]]:
    """Every (address, port), address-major, without materialising the list. A /24 or wider
    network skips its network and broadcast addresses, as a host sweep should; ``skip``
    leaves out endpoints that must never be connected to."""
    for net in networks(targets):
        hosts = net.hosts() if net.num_addresses > 2 else iter(net)
        for address in hosts:
            for port in ports:
                if skip is not None and skip(address, port):  # type: ignore[arg-type]
                    continue
                yield str(address), port


def endpoint_count(targets: Sequence[str], ports: Sequence[int]) -> int:
    total = 0
    for net in networks(targets):
        hosts = net.num_addresses - 2 if net.num_addresses > 2 else net.num_addresses
        total += hosts * len(ports)
    return total
