"""Specs a person might plausibly write that VAS must refuse, with what the refusal must say.

The same table is fed to the live API server (the CRDs' OpenAPI and CEL rules) and to the
pydantic models, so the two validators cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

URL = "rtsp://192.0.2.10:554/stream1"


@dataclass(frozen=True)
class BadInput:
    id: str
    kind: str
    spec: dict[str, Any]
    says: str  # a fragment of the message the person gets back

    def manifest(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "vas.io/v1alpha1",
            "kind": self.kind,
            "metadata": {"name": name},
            "spec": self.spec,
        }


def cam(source: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"source": {"url": URL, **(source or {})}, **spec}


def scan(**spec: Any) -> dict[str, Any]:
    return {"targets": ["192.0.2.0/24"], **spec}


def group(*expressions: dict[str, Any], **selector: Any) -> dict[str, Any]:
    sel: dict[str, Any] = dict(selector)
    if expressions:
        sel["matchExpressions"] = list(expressions)
    return {"selector": sel}


BAD_INPUTS = [
    BadInput(
        "url-with-credentials",
        "Camera",
        cam({"url": "rtsp://admin:hunter2@192.0.2.10/stream1"}),
        "must not carry user:password",
    ),
    BadInput("http-url", "Camera", cam({"url": "http://192.0.2.10/video"}), "rtsp:// or rtsps://"),
    BadInput("not-a-url", "Camera", cam({"url": "camera at the gate"}), "rtsp:// or rtsps://"),
    BadInput("url-without-host", "Camera", cam({"url": "rtsp:///stream1"}), "must name a host"),
    BadInput("missing-url", "Camera", {"source": {"transport": "tcp"}}, "url"),
    BadInput("missing-source", "Camera", {"enabled": True}, "source"),
    BadInput("url-port-0", "Camera", cam({"url": "rtsp://192.0.2.10:0/s"}), "between 1 and 65535"),
    BadInput(
        "url-port-70000",
        "Camera",
        cam({"url": "rtsp://cam.example:70000/s"}),
        "between 1 and 65535",
    ),
    BadInput("unknown-transport", "Camera", cam({"transport": "quic"}), "quic"),
    BadInput("password-in-source", "Camera", cam({"password": "hunter2"}), "unknown field"),
    BadInput(
        "inline-credentials",
        "Camera",
        cam({"credentialsSecretRef": {"name": "cam-creds", "password": "hunter2"}}),
        "unknown field",
    ),
    BadInput(
        "secret-name-not-dns",
        "Camera",
        cam({"credentialsSecretRef": {"name": "Cam Creds"}}),
        "credentialsSecretRef.name",
    ),
    BadInput("enabled-as-string", "Camera", cam(enabled="yes"), "boolean"),
    BadInput("snapshot-too-often", "Camera", cam(snapshot={"intervalSeconds": 2}), "at least 5"),
    BadInput("snapshot-negative", "Camera", cam(snapshot={"intervalSeconds": -30}), "0"),
    BadInput("description-too-long", "Camera", cam(description="x" * 1025), "1024"),
    BadInput("scan-port-0", "DiscoveryScan", scan(ports=[0]), "greater than or equal to 1"),
    BadInput(
        "scan-port-70000", "DiscoveryScan", scan(ports=[70000]), "less than or equal to 65535"
    ),
    BadInput("scan-port-as-string", "DiscoveryScan", scan(ports=["554"]), "integer"),
    BadInput(
        "bad-cidr-prefix", "DiscoveryScan", {"targets": ["10.1.0.0/33"]}, "IP address or a CIDR"
    ),
    BadInput("bad-cidr-text", "DiscoveryScan", {"targets": ["office-lan"]}, "IP address or a CIDR"),
    BadInput(
        "scan-slash-0", "DiscoveryScan", {"targets": ["0.0.0.0/0"]}, "at most 65536 addresses"
    ),
    BadInput(
        "scan-slash-8", "DiscoveryScan", {"targets": ["10.0.0.0/8"]}, "at most 65536 addresses"
    ),
    BadInput(
        "scan-ipv4-mapped-ipv6",
        "DiscoveryScan",
        {"targets": ["::ffff:127.0.0.0/120"]},
        "IP address or a CIDR",
    ),
    BadInput("scan-ipv4-mapped-address", "DiscoveryScan", {"targets": ["::ffff:10.0.0.1"]}, "CIDR"),
    BadInput("scan-ipv6-too-wide", "DiscoveryScan", {"targets": ["fd00::/64"]}, "at most 65536"),
    BadInput("scan-no-targets", "DiscoveryScan", {"targets": []}, "targets"),
    BadInput(
        "scan-negative-timeout",
        "DiscoveryScan",
        scan(connectTimeoutMilliseconds=-1),
        "greater than or equal to 10",
    ),
    BadInput("scan-concurrency-huge", "DiscoveryScan", scan(concurrency=100000), "4096"),
    BadInput("scan-interval-too-short", "DiscoveryScan", scan(intervalSeconds=5), "60"),
    BadInput("scan-path-no-slash", "DiscoveryScan", scan(paths=["stream1"]), "starting with /"),
    BadInput(
        "scan-path-crlf-injection",
        "DiscoveryScan",
        scan(paths=["/cam1\r\nAuthorization:Basic\tYWRtaW46YWRtaW4="]),
        "without spaces or control characters",
    ),
    BadInput(
        "scan-path-lf", "DiscoveryScan", scan(paths=["/cam1\nX-Evil:1"]), "control characters"
    ),
    BadInput("scan-path-tab", "DiscoveryScan", scan(paths=["/cam\t1"]), "control characters"),
    BadInput("scan-path-nul", "DiscoveryScan", scan(paths=["/cam\u00001"]), "control characters"),
    BadInput("scan-path-del", "DiscoveryScan", scan(paths=["/cam\u007f"]), "control characters"),
    BadInput(
        "scan-path-unicode-line-separator",
        "DiscoveryScan",
        scan(paths=["/cam\u2028X-Evil:1"]),
        "printable ASCII",
    ),
    BadInput("scan-path-space", "DiscoveryScan", scan(paths=["/cam 1"]), "without spaces"),
    BadInput("scan-unknown-field", "DiscoveryScan", scan(range="10.0.0.0/24"), "unknown field"),
    BadInput(
        "selector-in-without-values",
        "CameraGroup",
        group({"key": "site", "operator": "In"}),
        "values must be set for In and NotIn",
    ),
    BadInput(
        "selector-exists-with-values",
        "CameraGroup",
        group({"key": "site", "operator": "Exists", "values": ["hq"]}),
        "left empty for Exists",
    ),
    BadInput(
        "selector-bad-operator",
        "CameraGroup",
        group({"key": "site", "operator": "Equals", "values": ["hq"]}),
        "Equals",
    ),
    BadInput("group-columns-0", "CameraGroup", {**group(), "layout": {"columns": 0}}, "columns"),
]
