"""The pydantic models: they round-trip the examples, refuse the bad-input table, and are the
exact source of the CRDs in crds/."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.bad_inputs import BAD_INPUTS, BadInput
from tests.support import CRDS, load_examples
from vas_operator import crdgen
from vas_operator.models import Camera, CameraGroup, CameraSpec, DiscoveryScan, rules
from vas_operator.models.common import Resource

KINDS: dict[str, type[Resource]] = {
    "Camera": Camera,
    "CameraGroup": CameraGroup,
    "DiscoveryScan": DiscoveryScan,
}
CEL_MESSAGES = [v.message for v in vars(rules).values() if isinstance(v, rules.Rule)]


def vas_examples() -> list[dict[str, Any]]:
    return [d for d in load_examples() if d["apiVersion"].startswith("vas.io/")]


def test_examples_cover_every_kind() -> None:
    assert {d["kind"] for d in vas_examples()} == set(KINDS)


@pytest.mark.parametrize(
    "doc", vas_examples(), ids=lambda d: f"{d['kind']}-{d['metadata']['name']}"
)
def test_models_round_trip_examples(doc: dict[str, Any]) -> None:
    model = KINDS[doc["kind"]].model_validate(doc)
    assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_models_refuse_bad_input(case: BadInput) -> None:
    with pytest.raises(ValidationError) as error:
        KINDS[case.kind].model_validate(case.manifest("bad"))
    if any(case.says in message for message in CEL_MESSAGES):
        # A CEL rule's Python twin must say exactly what the API server says.
        assert case.says in str(error.value)


def test_defaults_fill_a_minimal_camera() -> None:
    spec = CameraSpec.model_validate({"source": {"url": "rtsp://192.0.2.1/s"}})
    assert spec.source.transport == "tcp"
    assert spec.enabled is True
    assert spec.snapshot.interval_seconds == 30
    assert spec.source.credentials_secret_ref is None


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://192.0.2.1/stream1",
        "rtsps://cam.example:322/Streaming/Channels/101",
        "rtsp://[2001:db8::1]:8554/live?channel=1",
        "RTSP://cam.example/x",
        "rtsp://cam.example:65535",
    ],
)
def test_valid_urls_pass(url: str) -> None:
    assert rules.check_rtsp_url(url) == url


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        ("192.0.2.7", True),
        ("192.0.2.0/24", True),
        ("10.20.0.0/16", True),
        ("10.0.0.0/15", False),
        ("2001:db8::/112", True),
        ("2001:db8::/111", False),
        ("192.0.2.0/33", False),
        ("lan", False),
    ],
)
def test_scan_target_rule(target: str, ok: bool) -> None:
    if ok:
        assert rules.check_scan_target(target) == target
    else:
        with pytest.raises(ValueError, match=r"IP address or a CIDR|at most 65536"):
            rules.check_scan_target(target)


@pytest.mark.parametrize("resource", crdgen.RESOURCES, ids=lambda r: r.kind_name)
def test_crd_files_are_generated_from_models(resource: type[Resource]) -> None:
    path = CRDS / crdgen.filename(resource)
    assert path.read_text() == crdgen.render(resource), (
        f"{path} is stale: run `make crds` and commit the result"
    )


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, child in node.get("properties", {}).items():
        found += walk(child, f"{path}.{name}")
    if node.get("items", {}).get("type") == "object":
        found += walk(node["items"], f"{path}[]")
    return found


@pytest.mark.parametrize("resource", crdgen.RESOURCES, ids=lambda r: r.kind_name)
def test_crd_schema_is_structural_and_documented(resource: type[Resource]) -> None:
    schema = crdgen.openapi_schema(resource)
    for path, node in walk(schema):
        assert not {"$ref", "anyOf", "allOf", "oneOf", "title"} & node.keys(), path
        assert node.get("additionalProperties") is not False, path
        assert "type" in node, f"{path} has no type"
        if path.count(".") and path not in (".metadata", ".apiVersion", ".kind"):
            assert node.get("description"), f"{path} has no description for kubectl explain"


def test_status_models_accept_what_kubernetes_adds() -> None:
    """The operator reads objects back from the server: metadata it does not model is fine."""
    doc = {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": "c", "uid": "1", "resourceVersion": "7", "managedFields": []},
        "spec": {"source": {"url": "rtsp://192.0.2.1/s"}},
        "status": {"phase": "Ready", "futureField": 1},
    }
    cam = Camera.model_validate(doc)
    assert isinstance(cam.status, BaseModel)
    assert cam.status.phase == "Ready"


def test_a_substream_names_its_own_url_and_defaults_the_rest() -> None:
    spec = CameraSpec.model_validate(
        {"source": {"url": "rtsp://192.0.2.1/main"}, "substream": {"url": "rtsp://192.0.2.1/sub"}}
    )
    assert spec.substream is not None
    assert spec.substream.transport is None  # the main source's
    assert spec.substream.credentials_secret_ref is None  # the main source's
    assert CameraSpec.model_validate({"source": {"url": "rtsp://h/s"}}).substream is None


@pytest.mark.parametrize(
    ("substream", "says"),
    [
        ({"url": "http://192.0.2.1/sub"}, rules.URL_SCHEME.message),
        ({"url": "rtsp://admin:pw@192.0.2.1/sub"}, rules.URL_NO_USERINFO.message),
        ({"url": "rtsp://192.0.2.1:70000/sub"}, rules.URL_PORT.message),
        ({}, "Field required"),
        ({"url": "rtsp://h/sub", "password": "x"}, "Extra inputs are not permitted"),
        ({"url": "rtsp://h/sub", "transport": "http"}, "Input should be 'tcp' or 'udp'"),
        ({"url": "rtsp://h/sub", "credentialsSecretRef": {"name": "Bad_Name"}}, "pattern"),
    ],
)
def test_bad_substreams_are_refused_with_the_api_servers_words(
    substream: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError) as error:
        CameraSpec.model_validate({"source": {"url": "rtsp://h/main"}, "substream": substream})
    assert says in str(error.value)


def test_substream_paths_are_rtsp_paths() -> None:
    scan = {
        "apiVersion": "vas.io/v1alpha1",
        "kind": "DiscoveryScan",
        "metadata": {"name": "s"},
        "spec": {"targets": ["192.0.2.0/24"], "cameraTemplate": {}},
    }
    scan["spec"]["cameraTemplate"] = {"substreamPaths": {"/main": "/sub"}}  # type: ignore[index]
    DiscoveryScan.model_validate(scan)
    for bad in ({"/main": "sub"}, {"main": "/sub"}, {"/main": "/a b"}):
        scan["spec"]["cameraTemplate"] = {"substreamPaths": bad}  # type: ignore[index]
        with pytest.raises(ValidationError):
            DiscoveryScan.model_validate(scan)


def test_the_wide_listing_shows_the_substream_resolution() -> None:
    columns = {c.name: c for c in Camera.printer_columns}
    assert columns["Sub"].json_path == ".status.substream.resolution"
    assert columns["Sub"].priority == 1
