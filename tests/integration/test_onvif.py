"""ONVIF WS-Discovery across a real (virtual) network segment: two network namespaces made by
the test and joined by a veth pair. Multicast never touches the host's own interfaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support import REPO

CAM_IP, OP_IP = "192.168.251.1", "192.168.251.2"  # inside the test's own namespaces only


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def segment() -> Iterator[tuple[str, str]]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = str(os.getpid() % 100000)
    cam, op = f"vas-cam-{tag}", f"vas-op-{tag}"
    ip("netns", "add", cam)
    ip("netns", "add", op)
    try:
        ip("link", "add", f"vc{tag}", "type", "veth", "peer", "name", f"vo{tag}")
        for ns, dev, addr in ((cam, f"vc{tag}", CAM_IP), (op, f"vo{tag}", OP_IP)):
            ip("link", "set", dev, "netns", ns)
            ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up", "multicast", "on")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield cam, op
    finally:
        for ns in (cam, op):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def probe_from(namespace: str, timeout: float) -> list[dict[str, object]]:
    """Run the operator's Probe inside a namespace, as the operator would on that segment."""
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-m",
            "vas_operator.scanning.onvif",
            "--timeout",
            str(timeout),
            "--interface-address",
            OP_IP,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    devices: list[dict[str, object]] = json.loads(out)
    return devices


def test_probe_finds_a_camera_published_by_wsdiscovery(segment: tuple[str, str]) -> None:
    cam, op = segment
    xaddr = f"http://{CAM_IP}/onvif/device_service"
    publisher = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            cam,
            sys.executable,
            str(REPO / "tests/media/onvif_camera.py"),
            "--xaddr",
            xaddr,
            "--name",
            "Gate",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert publisher.stdout is not None
        assert publisher.stdout.readline().strip() == "ready"
        devices = probe_from(op, 3)
        assert len(devices) == 1, devices
        assert devices[0]["xaddrs"] == [xaddr]
        assert "onvif://www.onvif.org/name/Gate" in devices[0]["scopes"]
        assert any(t.endswith("NetworkVideoTransmitter") for t in devices[0]["types"])
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)


def test_announced_hosts_get_the_same_checks_as_scan_targets(segment: tuple[str, str]) -> None:
    """Anyone on the segment answers a Probe naming a host the source policy denies (or the
    operator's own address), hoping the scan sweeps it because it was announced."""
    from vas_operator.discovery import onvif_targets
    from vas_operator.models.scan import DiscoveryScanSpec
    from vas_operator.scanning.onvif import Device
    from vas_operator.sourcepolicy import SourcePolicy

    cam, op = segment
    xaddrs = f"http://{CAM_IP}/onvif http://169.254.169.254/onvif http://[::1"
    publisher = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            cam,
            sys.executable,
            str(REPO / "tests/media/onvif_camera.py"),
            "--xaddr",
            xaddrs,
            "--name",
            "Liar",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert publisher.stdout is not None
        assert publisher.stdout.readline().strip() == "ready"
        (found,) = probe_from(op, 3)
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)
    device = Device(
        str(found["endpoint"]),
        tuple(found["xaddrs"]),  # type: ignore[arg-type]
        tuple(found["scopes"]),  # type: ignore[arg-type]
        tuple(found["types"]),  # type: ignore[arg-type]
    )
    assert device.hosts == (CAM_IP, "169.254.169.254")  # the malformed XAddr is dropped
    spec = DiscoveryScanSpec.model_validate({"targets": ["192.0.2.0/28"]})
    everywhere = ["0.0.0.0/0"]
    policy = SourcePolicy.build(everywhere, ["169.254.0.0/16"])
    assert onvif_targets(spec, list(device.hosts), everywhere, policy) == [CAM_IP]
    denying_the_camera = SourcePolicy.build(everywhere, ["169.254.0.0/16", f"{CAM_IP}/30"])
    assert onvif_targets(spec, list(device.hosts), everywhere, denying_the_camera) == []
    assert onvif_targets(spec, list(device.hosts), ["10.0.0.0/8"], policy) == []


def test_probe_without_cameras_finds_nothing(segment: tuple[str, str]) -> None:
    _, op = segment
    assert probe_from(op, 1) == []
