"""Where a camera source may be: the operator-wide policy checked before any packet is sent.

A Camera's URL is written by a tenant, and the operator (and the gateway) will connect to it.
Without a policy that makes every tenant a port scanner of whatever the operator can reach:
the Janus Admin API, Redis, the API server, cloud metadata. The policy is an allow-list and
a deny-list of networks (deny wins) plus the endpoints VAS itself serves, which are refused
even inside an allowed network. Hostnames are resolved once and every address must pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never a camera: loopback, "this network", link-local (where cloud metadata lives) and the
# well-known metadata addresses. A cluster's service and pod ranges are added by the chart.
DEFAULT_DENIED = (
    "127.0.0.0/8",
    "::1/128",
    "0.0.0.0/8",
    "169.254.0.0/16",
    "fe80::/10",
    "fd00:ec2::254/128",
    "100.100.100.200/32",
)
DEFAULT_ALLOWED = ("0.0.0.0/0", "::/0")
RTSP_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
REASON = "SourceNotAllowed"


class SourceDenied(Exception):
    """A source the policy refuses; ``reason`` is the condition reason."""

    reason = REASON

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _inside(address: Address, nets: Iterable[Network]) -> bool:
    return any(address.version == n.version and address in n for n in nets)


@dataclass(frozen=True)
class SourcePolicy:
    allowed: tuple[Network, ...] = _networks(DEFAULT_ALLOWED)
    denied: tuple[Network, ...] = _networks(DEFAULT_DENIED)
    # (address, port) that VAS itself serves: refused wherever they are.
    own_endpoints: frozenset[tuple[Address, int]] = field(default_factory=frozenset)
    # The gateway pods' Janus ports at their pod IPs; pods come and go, so this one set is
    # kept current in place by the operator's pod watch (gateways()).
    gateway_endpoints: set[tuple[Address, int]] = field(default_factory=set, compare=False)

    def services(self) -> frozenset[tuple[Address, int]]:
        """Every (address, port) VAS itself serves right now."""
        return self.own_endpoints | frozenset(self.gateway_endpoints)

    def gateways(self, endpoints: Iterable[tuple[str, int]]) -> None:
        """Replace the gateway endpoints with these (ip, port) pairs."""
        fresh = {(same_host(ipaddress.ip_address(ip)), port) for ip, port in endpoints}
        self.gateway_endpoints.clear()
        self.gateway_endpoints.update(fresh)

    @classmethod
    def build(
        cls,
        allowed: Sequence[str],
        denied: Sequence[str],
        own_urls: Iterable[str] = (),
        own_ports: Iterable[int] = (),
    ) -> SourcePolicy:
        """``own_urls`` (Janus Admin, Redis, the API server) and ``own_ports`` (served on every
        address of this host) are what a camera URL must never point at."""
        own: set[tuple[Address, int]] = set()
        for url in own_urls:
            parts = urlsplit(url)
            if not parts.hostname:
                continue
            default = 443 if parts.scheme == "https" else 6379 if "redis" in parts.scheme else 80
            for address in resolve(parts.hostname):
                own.add((same_host(address), parts.port or default))
        for port in own_ports:
            for address in local_addresses():
                own.add((same_host(address), port))
        return cls(_networks(allowed), _networks(denied), frozenset(own))

    def refusal(self, address: Address, port: int | None = None) -> str | None:
        """Why this address (and port) may not be contacted, or None."""
        address = embedded_ipv4(address)
        if _inside(address, self.denied):
            return f"{address} is in a range the operator's source policy denies"
        if not _inside(address, self.allowed):
            return f"{address} is outside the operator's allowed source ranges"
        own = (same_host(address), port)
        if port is not None and (own in self.own_endpoints or own in self.gateway_endpoints):
            return f"{address}:{port} is a VAS service, not a camera"
        return None

    def network_refusal(self, network: Network) -> str | None:
        """Why a whole scan target may not be swept, or None (addresses inside it that are VAS
        services are skipped by the sweep through ``refusal``)."""
        for deny in self.denied:
            if deny.version == network.version and network.overlaps(deny):
                return f"{network} overlaps {deny}, which the operator's source policy denies"
        if not any(
            a.version == network.version and network.subnet_of(a)  # type: ignore[arg-type]
            for a in self.allowed
        ):
            return f"{network} is outside the operator's allowed source ranges"
        return None

    async def check_url(self, url: str) -> list[Address]:
        """The addresses an RTSP URL resolves to, all allowed; else SourceDenied. Run before
        the probe, so a refused source never sees a packet from us."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or RTSP_DEFAULT_PORTS.get(parts.scheme, 554)
        try:
            # A literal needs no lookup, and no thread (a thread hop per camera was a tenth of
            # a restart's CPU with thousands of cameras).
            literal = ip_literal(host)
            addresses = [literal] if literal else await asyncio.to_thread(resolve, host)
        except OSError as error:
            raise SourceDenied(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise SourceDenied(f"{host} has no address")
        for address in addresses:
            why = self.refusal(address, port)
            if why is not None:
                shown = host if host == str(address) else f"{host} ({address})"
                raise SourceDenied(f"source {shown} port {port} refused: {why}")
        return addresses


NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, 6to4, NAT64), so a policy
    on IPv4 ranges cannot be bypassed by writing the address the IPv6 way."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def same_host(address: Address) -> Address:
    """Every loopback address reaches a service bound to all addresses: count them as one."""
    address = embedded_ipv4(address)
    if address.is_loopback:
        return ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return address


def ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str) -> list[Address]:
    """Every address a host name (or literal) stands for."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}, key=str)


def local_addresses() -> list[Address]:
    """Addresses this host answers on: loopback plus what its name resolves to."""
    found: set[Address] = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    with contextlib.suppress(OSError):
        found.update(resolve(socket.gethostname()))
    return sorted(found, key=str)
