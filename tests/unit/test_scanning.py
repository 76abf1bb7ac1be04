"""Scan targets, the allow-list, naming and RTSP auth headers: pure."""

from __future__ import annotations

import hashlib

import pytest

from vas_operator.discovery import camera_name, finding, stream_url
from vas_operator.scanning import rtsp, targets


def test_endpoints_skip_network_and_broadcast_and_count_matches() -> None:
    eps = list(targets.endpoints(["192.0.2.0/30", "198.51.100.7"], [554, 8554]))
    assert eps == [
        ("192.0.2.1", 554),
        ("192.0.2.1", 8554),
        ("192.0.2.2", 554),
        ("192.0.2.2", 8554),
        ("198.51.100.7", 554),
        ("198.51.100.7", 8554),
    ]
    assert targets.endpoint_count(["192.0.2.0/30", "198.51.100.7"], [554, 8554]) == len(eps)
    assert targets.endpoint_count(["10.0.0.0/16"], [554, 8554]) == 65534 * 2


@pytest.mark.parametrize(
    ("wanted", "allowed", "limit", "says"),
    [
        (["10.1.2.0/24"], ["10.0.0.0/8"], 65536, None),
        (["10.1.2.0/24"], [], 65536, "allow-list (VAS_DISCOVERY_ALLOWED_CIDRS) is empty"),
        (["10.1.2.0/24"], ["10.1.2.0/25"], 65536, "10.1.2.0/24 is outside"),
        (["2001:db8::/120"], ["10.0.0.0/8"], 65536, "outside"),
        (["10.1.0.0/16", "10.2.0.0/16"], ["10.0.0.0/8"], 65536, "covers 131072 addresses"),
    ],
)
def test_refusal(wanted: list[str], allowed: list[str], limit: int, says: str | None) -> None:
    reason = targets.refusal(wanted, allowed, limit)
    if says is None:
        assert reason is None
    else:
        assert reason is not None
        assert says in reason


def test_camera_names_are_deterministic_and_valid() -> None:
    stream = rtsp.Stream("2001:db8::7", 554, "/Streaming/Channels/101", True, "creds", None)
    name = camera_name("lab", stream)
    assert name == camera_name("lab", stream)
    assert name.startswith("lab-2001-db8-7-554-")
    assert name != camera_name("lab", rtsp.Stream("2001:db8::7", 554, "/x", True, None, None))
    assert stream_url(stream) == "rtsp://[2001:db8::7]:554/Streaming/Channels/101"
    assert finding(stream, name)["credentialsSecret"] == "creds"


def test_basic_and_digest_answers() -> None:
    cand = rtsp.Candidate("s", "admin", "secret")
    assert (
        rtsp.authorization('Basic realm="x"', "DESCRIBE", "rtsp://h/p", cand)
        == "Basic YWRtaW46c2VjcmV0"
    )
    header = rtsp.authorization('Digest realm="cam", nonce="abc"', "DESCRIBE", "rtsp://h/p", cand)
    ha1 = hashlib.md5(b"admin:cam:secret").hexdigest()  # noqa: S324
    ha2 = hashlib.md5(b"DESCRIBE:rtsp://h/p").hexdigest()  # noqa: S324
    expected = hashlib.md5(f"{ha1}:abc:{ha2}".encode()).hexdigest()  # noqa: S324
    assert f'response="{expected}"' in header
    assert "secret" not in repr(cand)


def test_onvif_hosts_are_added_only_when_not_already_targets() -> None:
    from vas_operator.discovery import extra_hosts
    from vas_operator.models.scan import DiscoveryScanSpec

    spec = DiscoveryScanSpec.model_validate({"targets": ["192.0.2.0/28"]})
    hosts = ["192.0.2.5", "198.51.100.9", "198.51.100.9", "camera.local"]
    assert extra_hosts(spec, hosts) == ["198.51.100.9"]


def test_probe_matches_are_parsed_and_filtered_by_relates_to() -> None:
    from vas_operator.scanning.onvif import parse_matches

    reply = b"""<?xml version="1.0"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
 <s:Header><a:RelatesTo>urn:uuid:1</a:RelatesTo></s:Header>
 <s:Body><d:ProbeMatches><d:ProbeMatch>
  <a:EndpointReference><a:Address>urn:uuid:cam</a:Address></a:EndpointReference>
  <d:Types>dn:NetworkVideoTransmitter</d:Types>
  <d:Scopes>onvif://www.onvif.org/name/Gate</d:Scopes>
  <d:XAddrs>http://192.0.2.7/onvif/device_service http://[2001:db8::7]/onvif</d:XAddrs>
 </d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"""
    (device,) = parse_matches(reply, "urn:uuid:1")
    assert device.endpoint == "urn:uuid:cam"
    assert device.hosts == ("192.0.2.7", "2001:db8::7")
    assert parse_matches(reply, "urn:uuid:2") == []
    assert parse_matches(b"<not-xml", "urn:uuid:1") == []
