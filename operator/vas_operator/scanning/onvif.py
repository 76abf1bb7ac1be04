"""ONVIF WS-Discovery: a multicast Probe for NetworkVideoTransmitters and the ProbeMatches
that answer it (device endpoint, scopes, XAddrs).

Multicast reaches only the operator's own network segment; cameras elsewhere are found by the
sweep. Run as a module to probe from a shell: ``python -m vas_operator.scanning.onvif``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import uuid
import xml.etree.ElementTree as ET  # expat refuses entity-expansion bombs since 2.4.1
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

GROUP, PORT = "239.255.255.250", 3702
MAX_DEVICES = 256  # answers kept from one Probe; anyone on the segment may answer
MAX_LIST = 16  # XAddrs, Scopes, Types kept per answer
MAX_ITEM = 512  # characters per kept item
NS = {
    "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsd": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}
PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
 <soap:Header>
  <wsa:MessageID>{message_id}</wsa:MessageID>
  <wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>
  <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>
 </soap:Header>
 <soap:Body><wsd:Probe><wsd:Types>dn:NetworkVideoTransmitter</wsd:Types></wsd:Probe></soap:Body>
</soap:Envelope>"""


@dataclass(frozen=True)
class Device:
    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def hosts(self) -> tuple[str, ...]:
        out = []
        for xaddr in self.xaddrs:
            try:
                host = urlsplit(xaddr).hostname
            except ValueError:  # what any device on the segment sends: "http://[::1", ...
                continue
            if host:
                out.append(host)
        return tuple(out)


def parse_matches(data: bytes, message_id: str) -> list[Device]:
    """ProbeMatches answering our MessageID; anything else (other probes, junk) is ignored."""
    try:
        root = ET.fromstring(data)  # noqa: S314  (see the import)
    except ET.ParseError:
        return []
    relates = root.findtext("soap:Header/wsa:RelatesTo", default="", namespaces=NS).strip()
    if relates != message_id:
        return []
    devices = []
    for match in root.iterfind("soap:Body/wsd:ProbeMatches/wsd:ProbeMatch", NS):
        text = {
            tag: [
                item[:MAX_ITEM]
                for item in (match.findtext(f"wsd:{tag}", default="", namespaces=NS) or "").split()
            ][:MAX_LIST]
            for tag in ("XAddrs", "Scopes", "Types")
        }
        endpoint = match.findtext(
            "wsa:EndpointReference/wsa:Address", default="", namespaces=NS
        ).strip()[:MAX_ITEM]
        devices.append(
            Device(endpoint, tuple(text["XAddrs"]), tuple(text["Scopes"]), tuple(text["Types"]))
        )
    return devices


def probe(timeout: float = 3.0, interface_address: str | None = None) -> list[Device]:
    """Send one Probe to the WS-Discovery group and collect matches for ``timeout`` seconds."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        if interface_address:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_address)
            )
            sock.bind((interface_address, 0))
        sock.sendto(PROBE.format(message_id=message_id).encode(), (GROUP, PORT))
        found: dict[str, Device] = {}
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(65535)
            except TimeoutError:
                break
            for device in parse_matches(data, message_id):
                key = device.endpoint or ",".join(device.xaddrs)
                if key in found or len(found) < MAX_DEVICES:
                    found[key] = device
        return list(found.values())
    finally:
        sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--interface-address", help="send from this local IPv4 address")
    args = parser.parse_args(argv)
    print(json.dumps([asdict(d) for d in probe(args.timeout, args.interface_address)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
