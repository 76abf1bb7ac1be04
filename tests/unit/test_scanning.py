"""Scan targets, the allow-list and the source policy, naming, RTSP auth headers (pure), and
the RTSP client against small RTSP servers on loopback that record what they receive."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from collections.abc import Coroutine
from typing import Any, ClassVar, TypeVar

import pytest

from vas_operator import discovery
from vas_operator.discovery import camera_name, finding, stream_url
from vas_operator.models.scan import DiscoveryScanSpec
from vas_operator.scanning import rtsp, targets
from vas_operator.scanning.guard import Guard
from vas_operator.sourcepolicy import SourcePolicy

T = TypeVar("T")


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
    with_qop = rtsp.authorization(
        'Digest realm="cam", nonce="n1", qop="auth,auth-int", opaque="o9"',
        "DESCRIBE",
        "rtsp://h/p",
        cand,
    )
    assert "qop=auth," in with_qop
    assert 'opaque="o9"' in with_qop
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


@pytest.mark.parametrize(
    ("challenges", "chosen"),
    [
        ([], None),
        (["Negotiate abc"], None),
        (['Basic realm="x"'], 'Basic realm="x"'),
        (['Basic realm="x"', 'Digest realm="x", nonce="n"'], 'Digest realm="x", nonce="n"'),
        (['digest realm="x", nonce="n"'], 'digest realm="x", nonce="n"'),
        ([""], None),
    ],
)
def test_the_strongest_offered_challenge_is_answered(
    challenges: list[str], chosen: str | None
) -> None:
    assert rtsp.choose_challenge(challenges) == chosen


@pytest.mark.parametrize(
    ("challenge", "username"),
    [
        ("", "admin"),  # no challenge: nothing is sent
        ("Negotiate", "admin"),
        ('Digest realm="a\u0001b", nonce="n"', "admin"),  # control character to echo
        ('Digest realm="r", nonce="n", algorithm=SHA-256', "admin"),
        ('Digest realm="r", nonce="n"', 'ad"min'),  # would end the quoted user name
        ('Digest realm="r", nonce="n"', "ad\r\nX-Evil: 1"),
        ('Basic realm="r"', "ad:min"),
    ],
)
def test_unsafe_answers_are_never_built(challenge: str, username: str) -> None:
    with pytest.raises(rtsp.UnsafeRequest):
        rtsp.authorization(challenge, "DESCRIBE", "rtsp://h/p", rtsp.Candidate("s", username, "pw"))


@pytest.mark.parametrize(
    "uri", ["rtsp://h:554/a b", "rtsp://h:554/a\r\nX: 1", "rtsp://h/\u00e9", "rtsp://h/\t", ""]
)
def test_request_uris_that_break_the_request_line_are_refused(uri: str) -> None:
    with pytest.raises(rtsp.UnsafeRequest):
        rtsp.check_uri(uri)


LOOPBACK_POLICY = SourcePolicy.build(
    ["127.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"],
    ["169.254.0.0/16", "192.0.2.128/25"],
    own_urls=["http://127.0.0.1:7088/admin", "https://192.0.2.9:6443"],
    own_ports=[9090],
)


@pytest.mark.parametrize(
    ("wanted", "says"),
    [
        (["127.0.0.0/24"], None),
        (["192.0.2.0/25"], None),
        (["192.0.2.0/24"], "overlaps 192.0.2.128/25"),
        (["192.0.2.200"], "overlaps 192.0.2.128/25"),
        (["198.51.100.0/24"], "outside the operator's allowed source ranges"),
        (["::ffff:127.0.0.0/120"], "reach IPv4 hosts"),
        (["::ffff:192.0.2.200"], "reach IPv4 hosts"),
        (["64:ff9b::c000:2c8"], "reach IPv4 hosts"),
        (["2001:db8::/120"], None),
    ],
)
def test_source_policy_refuses_whole_targets(wanted: list[str], says: str | None) -> None:
    why = discovery.policy_refusal(wanted, LOOPBACK_POLICY)
    if says is None:
        assert why is None
    else:
        assert why is not None
        assert says in why


def test_the_sweep_never_lists_vas_service_endpoints() -> None:
    guard = Guard(LOOPBACK_POLICY, [554, 7088, 9090, 6443])
    swept = list(
        targets.endpoints(["127.0.0.0/29", "192.0.2.8/30"], [554, 7088, 9090, 6443], guard)
    )
    # The Janus Admin and metrics ports on every loopback address (a service on a wildcard
    # address answers on all of them), the API server's own address and port.
    assert ("127.0.0.1", 7088) not in swept
    assert ("127.0.0.5", 7088) not in swept
    assert ("127.0.0.3", 9090) not in swept
    assert ("192.0.2.9", 6443) not in swept
    assert ("192.0.2.10", 6443) in swept
    assert ("127.0.0.1", 554) in swept
    assert ("192.0.2.9", 554) in swept
    assert guard.skipped == 6 * 2 + 1
    assert guard.refuses(ipaddress.ip_address("192.0.2.200"), 554)  # denied range


def test_onvif_hosts_pass_the_allow_list_and_the_source_policy() -> None:
    spec = DiscoveryScanSpec.model_validate({"targets": ["127.0.0.0/28"]})
    hosts = ["127.0.0.2", "127.0.0.40", "192.0.2.200", "192.0.2.7", "10.0.0.1", "cam.local"]
    allowed = ["127.0.0.0/16", "192.0.2.0/24"]
    assert discovery.onvif_targets(spec, hosts, allowed, LOOPBACK_POLICY) == [
        "127.0.0.40",
        "192.0.2.7",
    ]
    many = [f"127.0.{i // 250 + 1}.{i % 250 + 1}" for i in range(1000)]
    assert len(discovery.onvif_targets(spec, many, allowed, LOOPBACK_POLICY)) == (
        discovery.MAX_ONVIF_HOSTS
    )


class RecordingCamera:
    """An RTSP server in the test's event loop: answers each request from a script keyed by
    whether it carried Authorization, and records every request it received, whole."""

    def __init__(self, on_describe: list[bytes], options: bytes | None = None) -> None:
        self.requests: list[bytes] = []
        self.on_describe = on_describe
        self.options = options or b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: fake\r\n\r\n"
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RecordingCamera:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        describes = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                if head.startswith(b"OPTIONS"):
                    writer.write(self.options)
                else:
                    index = min(describes, len(self.on_describe) - 1)
                    writer.write(self.on_describe[index])
                    describes += 1
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def authorizations(self) -> list[str]:
        return [
            line.split(":", 1)[1].strip()
            for head in self.requests
            for line in head.decode().split("\r\n")
            if line.lower().startswith("authorization:")
        ]


UNAUTHORIZED = b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n"
OK_SDP = b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nv=0\n"
CAND = [rtsp.Candidate("cam-creds", "admin", "s3cret-pw")]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_no_credentials_go_out_before_or_without_a_challenge() -> None:
    async def go() -> tuple[list[rtsp.Stream], list[str], list[bytes]]:
        async with RecordingCamera([UNAUTHORIZED + b"\r\n"]) as cam:
            found = await rtsp.confirm("127.0.0.1", cam.port, ["/a"], CAND, 2)
            return found, cam.authorizations(), cam.requests

    found, auths, requests = run(go())
    assert [(s.path, s.auth_required, s.credentials_secret) for s in found] == [("/a", True, None)]
    assert auths == []  # a 401 without WWW-Authenticate gets nothing, not Basic
    assert b"s3cret" not in b"".join(requests)


def test_basic_goes_out_only_in_answer_to_a_basic_challenge() -> None:
    challenge = UNAUTHORIZED + b'WWW-Authenticate: Basic realm="cam"\r\n\r\n'

    async def go() -> tuple[list[rtsp.Stream], list[bytes]]:
        async with RecordingCamera([challenge, OK_SDP]) as cam:
            found = await rtsp.confirm("127.0.0.1", cam.port, ["/a"], CAND, 2)
            return found, cam.requests

    found, requests = run(go())
    assert found[0].credentials_secret == CAND[0].secret_name
    first_describe = next(r for r in requests if r.startswith(b"DESCRIBE"))
    assert b"Authorization" not in first_describe
    assert [b"Authorization: Basic" in r for r in requests] == [False, False, True]


def test_digest_is_answered_when_offered_even_next_to_basic() -> None:
    challenge = (
        UNAUTHORIZED + b'WWW-Authenticate: Basic realm="cam"\r\n'
        b'WWW-Authenticate: Digest realm="cam", nonce="abc"\r\n\r\n'
    )

    async def go() -> list[str]:
        async with RecordingCamera([challenge, OK_SDP]) as cam:
            await rtsp.confirm("127.0.0.1", cam.port, ["/a"], CAND, 2)
            return cam.authorizations()

    (auth,) = run(go())
    assert auth.startswith('Digest username="admin", realm="cam", nonce="abc"')
    assert "s3cret" not in auth


@pytest.mark.parametrize(
    "reply",
    [
        b"RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n",
        b"RTSP/1.0 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"RTSP/1.0 200 OK\r\n" + b"X-Pad: 1\r\n" * 100 + b"\r\n",
        b"RTSP/1.0 200 OK\r\nX-Pad: " + b"a" * 40000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ],
    ids=["huge-body", "negative-length", "too-many-headers", "huge-head", "not-rtsp"],
)
def test_replies_beyond_the_bounds_end_the_exchange(reply: bytes) -> None:
    async def go() -> list[rtsp.Stream]:
        async with RecordingCamera([reply], options=reply) as cam:
            return await rtsp.confirm("127.0.0.1", cam.port, ["/a"], [], 2)

    assert run(go()) == []


def test_a_path_that_would_break_the_request_line_is_never_sent() -> None:
    async def go() -> list[bytes]:
        async with RecordingCamera([OK_SDP]) as cam:
            await rtsp.confirm("127.0.0.1", cam.port, ["/a\r\nX-Evil: 1", "/ok"], [], 2)
            return cam.requests

    requests = run(go())
    assert not any(b"X-Evil" in r for r in requests)
    assert any(b"/ok RTSP/1.0" in r for r in requests)


def test_slow_hosts_are_bounded_per_endpoint() -> None:
    assert rtsp.budget(32, 8, 60) == 300
    assert rtsp.budget(1, 0, 1) == 3


def test_a_server_header_cannot_carry_terminal_escapes_into_status() -> None:
    stream = rtsp.Stream("192.0.2.7", 554, "/s", False, None, "cam\x1b]0;pwned\x07" + "x" * 500)
    server = finding(stream, None)["server"]
    assert "\x1b" not in server
    assert "\x07" not in server
    assert len(server) == 256


def test_malformed_onvif_announcements_are_ignored_and_bounded() -> None:
    from vas_operator.scanning.onvif import MAX_LIST, Device, parse_matches

    device = Device("urn:x", ("http://[::1", "http://192.0.2.7/onvif", "junk"), (), ())
    assert device.hosts == ("192.0.2.7",)
    many = " ".join(f"http://192.0.2.{i}/onvif" for i in range(200))
    reply = f"""<?xml version="1.0"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
 <s:Header><a:RelatesTo>urn:uuid:1</a:RelatesTo></s:Header>
 <s:Body><d:ProbeMatches><d:ProbeMatch><d:XAddrs>{many}</d:XAddrs></d:ProbeMatch>
 </d:ProbeMatches></s:Body></s:Envelope>""".encode()
    (parsed,) = parse_matches(reply, "urn:uuid:1")
    assert len(parsed.xaddrs) == MAX_LIST


def test_a_secret_that_cannot_be_read_just_now_retries_the_scan() -> None:
    import kopf

    from vas_operator import scan_run
    from vas_operator.credentials import CredentialsUnavailable
    from vas_operator.models import DiscoveryScan
    from vas_operator.settings import OperatorSettings

    async def unavailable(namespace: str, name: str) -> Any:
        raise CredentialsUnavailable(f"reading Secret {namespace}/{name} failed: HTTP 503")

    class Recorded(scan_run.ScanStatus):
        """Keeps what would be written, with its conditions merged as for the real write."""

        written: ClassVar[list[dict[str, Any]]] = []

        async def write(self, status: dict[str, Any], observed: list[Any]) -> None:
            from vas_operator import conditions as cond

            status["conditions"] = cond.merge([], observed, self.generation)
            self.written.append(status)

    cfg = OperatorSettings(  # type: ignore[call-arg]
        discovery_allowed_cidrs=["192.0.2.0/24"],
        janus_admin_secret="x",  # noqa: S106  (a test value)
        janus_streaming_admin_key="x",
        mountpoint_key="x",
    )
    scan = DiscoveryScan.model_validate(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "DiscoveryScan",
            "metadata": {"name": "s", "namespace": "n", "generation": 1},
            "spec": {"targets": ["192.0.2.0/28"], "credentialsSecretRefs": [{"name": "c"}]},
        }
    )
    out = Recorded(None, "n", "s", {}, 1)
    deps = scan_run.ScanDeps(None, cfg, LOOPBACK_POLICY, unavailable)
    with pytest.raises(kopf.TemporaryError) as error:
        asyncio.run(scan_run.run(scan, out, deps, retry=2))
    assert error.value.delay == cfg.retry_delay(2)
    (status,) = Recorded.written
    assert status["phase"] == "Pending"  # never Failed: nothing is wrong with the spec
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "CredentialsUnavailable"


def test_repeat_schedule_is_the_operators_own() -> None:
    from vas_operator.handlers.scans import Schedule

    schedule = Schedule()
    assert not schedule.is_due("uid", 1e9)  # never ran here: resume runs it, not the timer
    schedule.due["uid"] = 100.0
    assert not schedule.is_due("uid", 99.0)
    assert schedule.is_due("uid", 100.0)
    schedule.running.add("uid")
    assert not schedule.is_due("uid", 200.0)  # one sweep at a time
