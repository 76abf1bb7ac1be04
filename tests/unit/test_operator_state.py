"""Pure parts of the operator's own state: progress (liveness), the source policy, Secrets as
credentials, adoption on restart."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from vas_operator import camera as camera_logic
from vas_operator.credentials import CredentialsError, from_secret
from vas_operator.models import Camera
from vas_operator.progress import Progress
from vas_operator.sourcepolicy import SourceDenied, SourcePolicy
from vas_operator.watched import camera_view, in_scope

KEY = ("ns", "cam")


def test_busy_operator_is_not_stalled() -> None:
    p = Progress(stall_seconds=10, started=0)
    p.expect(KEY, 0)
    p.expect(("ns", "other"), 0)
    p.done(("ns", "other"), 15)
    assert p.stalled(20) is None  # one waits long, but handlers keep finishing


def test_operator_that_handles_nothing_is_stalled() -> None:
    p = Progress(stall_seconds=10, started=0)
    p.expect_existing([KEY, ("ns", "b")], 1)
    assert p.stalled(5) is None
    assert "2 Camera(s) waiting" in (p.stalled(12) or "")


def test_idle_operator_is_not_stalled() -> None:
    p = Progress(stall_seconds=10, started=0)
    assert p.stalled(10_000) is None


def test_resume_that_ran_before_the_listing_is_not_expected_again() -> None:
    p = Progress(stall_seconds=10, started=0)
    p.done(KEY, 1)
    p.expect_existing([KEY], 2)
    assert p.waiting == {}


def test_deleted_camera_is_not_waited_for() -> None:
    p = Progress(stall_seconds=10, started=0)
    p.expect(KEY, 0)
    p.forget(KEY)
    assert p.stalled(100) is None


POLICY = SourcePolicy.build(
    ["0.0.0.0/0", "::/0"],
    ["127.0.0.0/8", "169.254.0.0/16", "10.96.0.0/12"],
    own_urls=["http://192.0.2.10:7088/admin", "redis://192.0.2.11:6379/0"],
)


@pytest.mark.parametrize(
    ("address", "port", "why"),
    [
        ("169.254.169.254", 80, "denies"),
        ("127.0.0.1", 554, "denies"),
        ("10.96.0.1", 443, "denies"),
        ("::ffff:127.0.0.1", 554, "denies"),  # v4-mapped loopback is loopback
        ("2002:a9fe:a9fe::1", 80, "denies"),  # 6to4 for 169.254.169.254
        ("64:ff9b::a9fe:a9fe", 80, "denies"),  # NAT64 for 169.254.169.254
        ("192.0.2.10", 7088, "VAS service"),
        ("192.0.2.11", 6379, "VAS service"),
    ],
)
def test_policy_refuses(address: str, port: int, why: str) -> None:
    assert why in (POLICY.refusal(ipaddress.ip_address(address), port) or "")


def test_every_loopback_address_is_the_same_host_for_vas_services() -> None:
    loopback_ok = SourcePolicy.build(["0.0.0.0/0"], [], own_urls=["http://127.0.0.1:7088/admin"])
    assert "VAS service" in (loopback_ok.refusal(ipaddress.ip_address("127.0.0.2"), 7088) or "")
    assert loopback_ok.refusal(ipaddress.ip_address("127.0.0.2"), 8554) is None


def test_policy_allows_a_camera_beside_a_vas_service() -> None:
    assert POLICY.refusal(ipaddress.ip_address("192.0.2.10"), 554) is None


def test_allow_list_bounds_sources() -> None:
    narrow = SourcePolicy.build(["192.168.0.0/16"], [])
    assert "outside" in (narrow.refusal(ipaddress.ip_address("8.8.8.8"), 554) or "")
    assert narrow.network_refusal(ipaddress.ip_network("192.168.1.0/24")) is None
    assert narrow.network_refusal(ipaddress.ip_network("192.0.0.0/8")) is not None


async def test_url_check_names_the_reason() -> None:
    with pytest.raises(SourceDenied, match="refused") as raised:
        await POLICY.check_url("rtsp://169.254.169.254/latest")
    assert raised.value.reason == "SourceNotAllowed"
    assert await POLICY.check_url("rtsp://192.0.2.50:8554/cam") == [
        ipaddress.ip_address("192.0.2.50")
    ]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_must_opt_in() -> None:
    with pytest.raises(CredentialsError) as raised:
        from_secret("ns", "db", "Opaque", {"username": b64("u"), "password": b64("p")})
    assert raised.value.reason == "SecretNotOptedIn"


def test_secret_keys_are_fixed() -> None:
    with pytest.raises(CredentialsError) as raised:
        from_secret("ns", "s", "vas.io/rtsp-credentials", {"user": b64("u"), "pass": b64("p")})
    assert raised.value.reason == "SecretKeyMissing"


def test_opted_in_secret_gives_credentials() -> None:
    creds = from_secret(
        "ns", "s", "vas.io/rtsp-credentials", {"username": b64("u"), "password": b64("p")}
    )
    assert (creds.username, creds.password) == ("u", "p")


def ready_camera(generation: int = 3, observed: int = 3, phase: str = "Ready") -> Camera:
    return Camera.model_validate(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": "cam", "namespace": "ns", "generation": generation},
            "spec": {"source": {"url": "rtsp://192.0.2.1/x"}},
            "status": {"observedGeneration": observed, "phase": phase},
        }
    )


LISTED = {"id": 1, "metadata": '{"fingerprint":"abc"}', "media": [{"age_ms": 40}]}


@pytest.mark.parametrize(
    ("camera", "listed", "fingerprint", "adopt"),
    [
        (ready_camera(), LISTED, "abc", True),
        (ready_camera(), LISTED, "changed", False),  # URL or credentials changed meanwhile
        (ready_camera(), None, "abc", False),  # the gateway lost it
        (ready_camera(generation=4), LISTED, "abc", False),  # spec changed while we were away
        (ready_camera(phase="Degraded"), LISTED, "abc", False),
        (ready_camera(), {**LISTED, "media": [{"age_ms": 60_000}]}, "abc", False),
    ],
)
def test_adoption_on_restart(
    camera: Camera, listed: dict[str, object] | None, fingerprint: str, adopt: bool
) -> None:
    assert camera_logic.adoptable(camera, listed, fingerprint) is adopt


def test_camera_view_takes_no_placement_from_status() -> None:
    """Where a camera is mounted is the operator's own record (the pool), never status."""
    view = camera_view(
        {
            "metadata": {"name": "cam", "namespace": "ns", "generation": 1},
            "spec": {"source": {"url": "rtsp://x/"}, "enabled": False},
            "status": {"phase": "Ready", "gateway": {"pod": "gw-0", "mountpointId": 42}},
        }
    )
    assert not hasattr(view, "gateway")
    assert not hasattr(view, "mountpoint_id")
    assert view.enabled is False


def test_namespace_scope_accepts_globs() -> None:
    assert in_scope((), "any")
    assert in_scope(("team-*",), "team-a")
    assert not in_scope(("team-*",), "other")


def test_discovery_pairs_main_and_sub_paths_on_the_same_endpoint() -> None:
    from vas_operator import discovery
    from vas_operator.models.scan import DiscoveryScanSpec
    from vas_operator.scanning.rtsp import Stream

    def found(address: str, path: str, secret: str | None = None) -> Stream:
        return Stream(address, 554, path, secret is not None, secret, None)

    main, sub = found("10.0.0.1", "/main", "creds"), found("10.0.0.1", "/sub", "creds")
    lone = found("10.0.0.2", "/main")  # its sub path did not answer
    elsewhere = found("10.0.0.3", "/sub")  # a sub path without its main on that endpoint
    pairs = discovery.pair_substreams([main, sub, lone, elsewhere], {"/main": "/sub"})
    assert pairs == {main: sub}
    assert discovery.pair_substreams([main, sub], None) == {}

    spec = DiscoveryScanSpec.model_validate(
        {"targets": ["10.0.0.0/24"], "cameraTemplate": {"substreamPaths": {"/main": "/sub"}}}
    )
    manifest = discovery.camera_manifest("scan", "ns", spec, main, sub)
    assert manifest["spec"]["substream"] == {"url": "rtsp://10.0.0.1:554/sub"}  # same Secret
    other = found("10.0.0.1", "/sub", "other-creds")
    manifest = discovery.camera_manifest("scan", "ns", spec, main, other)
    assert manifest["spec"]["substream"]["credentialsSecretRef"] == {"name": "other-creds"}
    Camera.model_validate(manifest)
    assert "substream" not in discovery.camera_manifest("scan", "ns", spec, lone)["spec"]


def test_camera_view_expects_the_substream_only_when_it_was_mounted() -> None:
    def view(status: str | None, substream: bool = True) -> bool:
        spec: dict[str, object] = {"source": {"url": "rtsp://h/s"}}
        if substream:
            spec["substream"] = {"url": "rtsp://h/sub", "credentialsSecretRef": {"name": "x"}}
        conditions = [] if status is None else [{"type": "SubstreamReady", "status": status}]
        obj = {
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": spec,
            "status": {"conditions": conditions},
        }
        return camera_view(obj).substream_ready

    assert view("True")
    assert not view("False")
    assert not view(None)
    assert not view("True", substream=False)  # dropped from the spec: nothing to expect
