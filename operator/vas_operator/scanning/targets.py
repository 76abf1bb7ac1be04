"""What a scan may touch: targets expanded to endpoints, bounded by the operator's allow-list."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Endpoint = tuple[str, int]
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


@dataclass(frozen=True)
class Plan:
    """The endpoints of a sweep: host addresses as integer ranges (address-major) times ports.

    Cheap to split into shards and to send to a worker process, and cheap to expand: the
    addresses of a /16 as ``ipaddress`` objects cost 2.7 µs an endpoint here, a fifth of the
    sweep's whole budget per connect; from integers they cost a tenth of that."""

    ranges: tuple[tuple[int, range], ...]  # (IP version, host addresses as integers)
    ports: tuple[int, ...]

    def count(self) -> int:
        return sum(len(hosts) for _, hosts in self.ranges) * len(self.ports)

    def endpoints(self, skip: Callable[[str, int], bool] | None = None) -> Iterator[Endpoint]:
        """Every (address, port) in order, without materialising the list; ``skip`` leaves
        out endpoints that must never be connected to."""
        ports = self.ports
        for version, hosts in self.ranges:
            for number in hosts:
                host = (
                    socket.inet_ntoa(number.to_bytes(4, "big"))
                    if version == 4
                    else str(ipaddress.IPv6Address(number))
                )
                for port in ports:
                    if skip is None or not skip(host, port):
                        yield host, port

    def shards(self, count: int) -> list[Plan]:
        """``count`` plans that hold every endpoint of this one exactly once between them.
        Address i of the whole plan goes to shard i mod count, so a stretch of silent hosts
        (connects that wait for their timeout) is spread over every shard instead of holding
        one back while the others idle."""
        out = []
        for shard in range(count):
            ranges, offset = [], 0
            for version, hosts in self.ranges:
                part = hosts[(shard - offset) % count :: count]
                if part:
                    ranges.append((version, part))
                offset += len(hosts)
            out.append(Plan(tuple(ranges), self.ports))
        return out


def plan(targets: Sequence[str], ports: Sequence[int]) -> Plan:
    """A network of more than two addresses leaves out what ``hosts()`` leaves out: the
    network and broadcast addresses in IPv4, the subnet-router anycast address in IPv6, as a
    host sweep should."""
    ranges = []
    for net in networks(targets):
        first, last = int(net.network_address), int(net.broadcast_address)
        if net.num_addresses > 2:
            first += 1
            last -= 1 if net.version == 4 else 0
        ranges.append((net.version, range(first, last + 1)))
    return Plan(tuple(ranges), tuple(ports))


def endpoints(
    targets: Sequence[str],
    ports: Sequence[int],
    skip: Callable[[str, int], bool] | None = None,
) -> Iterator[Endpoint]:
    """Every (address, port) of the targets, address-major (see ``plan``)."""
    return plan(targets, ports).endpoints(skip)


def endpoint_count(targets: Sequence[str], ports: Sequence[int]) -> int:
    return plan(targets, ports).count()
