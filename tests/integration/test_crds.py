"""The CRDs in a live kube-apiserver, used with kubectl exactly as a person would."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.bad_inputs import BAD_INPUTS, BadInput
from tests.support import CRDS, EXAMPLES, Cluster, load_examples
from vas_operator.models import Camera, CameraGroup, CameraSpec, DiscoveryScan

pytestmark = pytest.mark.cluster
NS = "crd-tests"


@pytest.fixture(scope="module")
def kube(crds_installed: Cluster) -> Cluster:
    crds_installed.kubectl("create", "namespace", NS)
    return crds_installed


def test_crds_are_established_with_names_and_category(kube: Cluster) -> None:
    for plural, short in (
        ("cameras", "cam"),
        ("cameragroups", "camgrp"),
        ("discoveryscans", "dscan"),
    ):
        crd = kube.get_json("crd", f"{plural}.vas.io")
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"
        assert crd["spec"]["names"]["shortNames"] == [short]
        assert crd["spec"]["names"]["categories"] == ["vas"]
        assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_examples_apply_and_show_printer_columns(kube: Cluster) -> None:
    kube.kubectl("apply", "-n", NS, "-f", str(EXAMPLES))
    out = kube.kubectl("get", "-n", NS, "cam,camgrp,dscan").stdout
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "READY",
        "REASON",
        "PHASE",
        "RESOLUTION",
        "CODEC",
        "GATEWAY",
        "AGE",
    ]
    assert any(line.split()[0:4] == ["NAME", "MEMBERS", "READY", "STATUS"] for line in lines)
    assert any(line.split()[0:4] == ["NAME", "PHASE", "PROGRESS", "FOUND"] for line in lines)
    for name in ("camera.vas.io/lobby", "cameragroup.vas.io/hq", "discoveryscan.vas.io/lab"):
        assert name in out
    wide = kube.kubectl("get", "-n", NS, "cam", "-o", "wide").stdout
    assert "URL" in wide.splitlines()[0]
    assert "rtsp://127.0.0.1:8554/cam1" in wide
    # The category lists all three kinds at once.
    everything = kube.kubectl("get", "-n", NS, "vas", "-o", "name").stdout.split()
    assert "camera.vas.io/parking" in everything
    assert "cameragroup.vas.io/outdoor" in everything
    assert "discoveryscan.vas.io/lab" in everything


def test_examples_read_back_from_the_server_validate_as_models(kube: Cluster) -> None:
    kube.kubectl("apply", "-n", NS, "-f", str(EXAMPLES))
    kinds = {"Camera": Camera, "CameraGroup": CameraGroup, "DiscoveryScan": DiscoveryScan}
    for doc in load_examples():
        if doc["kind"] not in kinds:
            continue
        stored = kube.get_json("-n", NS, doc["kind"].lower(), doc["metadata"]["name"])
        model = kinds[doc["kind"]].model_validate(stored)
        # What the person wrote is what was stored (the server only adds defaults).
        written = model.model_dump(by_alias=True, mode="json")["spec"]
        assert _contains(written, doc["spec"])


def _contains(big: Any, small: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(_contains(big.get(k), v) for k, v in small.items())
    return bool(big == small)


def test_server_defaults_match_the_models(kube: Cluster) -> None:
    minimal = {"source": {"url": "rtsp://192.0.2.5/stream1"}}
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": "minimal", "namespace": NS},
            "spec": minimal,
        }
    )
    stored = kube.get_json("-n", NS, "cam", "minimal")["spec"]
    assert stored == CameraSpec.model_validate(minimal).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )


def test_explain_reads_like_documentation(kube: Cluster) -> None:
    source = kube.kubectl("explain", "camera.spec.source").stdout
    assert "Never put a user name or password here" in source
    assert "credentialsSecretRef" in source
    targets = kube.kubectl("explain", "discoveryscan.spec.targets").stdout
    assert "65536" in targets
    conditions = kube.kubectl("explain", "cam.status.conditions").stdout
    assert "lastTransitionTime" in conditions


def test_ready_column_comes_from_the_ready_condition(kube: Cluster) -> None:
    kube.apply(
        {
            "apiVersion": "vas.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": "columns", "namespace": NS},
            "spec": {"source": {"url": "rtsp://192.0.2.6/s"}},
        }
    )
    status = {
        "status": {
            "phase": "Ready",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Mounted",
                    "message": "playing",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
            "stream": {"codec": "h264", "resolution": "640x480", "width": 640, "height": 480},
            "gateway": {"pod": "vas-gateway-0", "mountpointId": 12},
            "undeclared": "pruned",
        }
    }
    kube.kubectl(
        "patch",
        "-n",
        NS,
        "cam",
        "columns",
        "--subresource=status",
        "--type=merge",
        "-p",
        yaml.safe_dump(status),
    )
    row = kube.kubectl("get", "-n", NS, "cam", "columns", "--no-headers").stdout.split()
    assert row[:7] == ["columns", "True", "Mounted", "Ready", "640x480", "h264", "vas-gateway-0"]
    stored = kube.get_json("-n", NS, "cam", "columns")["status"]
    assert "undeclared" not in stored  # structural schemas prune what status does not declare


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_live_apiserver_rejects_bad_input(kube: Cluster, case: BadInput) -> None:
    name = f"bad-{case.id}"
    result = kube.apply(
        {**case.manifest(name), "metadata": {"name": name, "namespace": NS}}, check=False
    )
    assert result.returncode != 0, f"{case.id} was accepted"
    assert case.says in result.stderr, result.stderr
    # Nothing was stored.
    lookup = kube.kubectl("get", "-n", NS, case.kind.lower(), name, check=False)
    assert lookup.returncode != 0
    assert "NotFound" in lookup.stderr or "not found" in lookup.stderr


def test_crd_files_apply_cleanly_twice(kube: Cluster) -> None:
    out = kube.kubectl("apply", "-f", str(CRDS)).stdout
    assert "unchanged" in out or "configured" in out
