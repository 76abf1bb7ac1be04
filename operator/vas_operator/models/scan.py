"""DiscoveryScan: sweep address ranges for RTSP cameras and, optionally, create Cameras."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from vas_operator.models import rules
from vas_operator.models.camera import CameraSnapshot
from vas_operator.models.common import (
    AGE_COLUMN,
    ApiModel,
    Condition,
    KopfState,
    PrinterColumn,
    Resource,
    SecretReference,
    StatusModel,
    conditions_field,
    kopf_field,
)

ScanPhase = Literal["Pending", "Running", "Completed", "Failed", "Suspended"]
Port = Annotated[int, Field(ge=1, le=65535)]
ScanTarget = Annotated[
    str,
    AfterValidator(rules.check_scan_target),
    Field(
        min_length=1,
        max_length=64,
        json_schema_extra=rules.validations(rules.SCAN_CIDR, rules.SCAN_CIDR_SIZE),
    ),
]
RtspPath = Annotated[
    str,
    AfterValidator(rules.check_scan_path),
    Field(
        min_length=1,
        max_length=256,
        json_schema_extra=rules.validations(rules.SCAN_PATH, rules.SCAN_PATH_CHARACTERS),
    ),
]

DEFAULT_PATHS = [
    "/",
    "/stream1",
    "/live",
    "/h264",
    "/cam1",
    "/Streaming/Channels/101",
    "/cam/realmonitor?channel=1&subtype=0",
]


class OnvifDiscovery(ApiModel):
    """ONVIF WS-Discovery: a multicast Probe on the operator's own network segment."""

    enabled: bool = Field(
        default=False, description="Send a WS-Discovery Probe and report replies."
    )


class CameraTemplateMetadata(ApiModel):
    """Labels and annotations for Cameras created from findings."""

    labels: dict[str, str] | None = Field(default=None, max_length=64, description="Labels.")
    annotations: dict[str, str] | None = Field(
        default=None, max_length=64, description="Annotations."
    )


class CameraTemplateSpec(ApiModel):
    """The parts of a Camera spec that discovery does not fill in itself (the URL and the
    credentials come from what the scan found)."""

    enabled: bool = Field(default=True, description="Whether created Cameras start enabled.")
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    snapshot: CameraSnapshot | None = Field(default=None, description="Thumbnail settings.")
    description: str | None = Field(default=None, max_length=1024, description="Free text.")
    location: str | None = Field(default=None, max_length=256, description="Location text.")


class CameraTemplate(ApiModel):
    """With a template, the scan creates one Camera per confirmed stream, named after the scan,
    the address, the port and the path, so a re-scan never duplicates one."""

    metadata: CameraTemplateMetadata | None = Field(default=None, description="Metadata.")
    spec: CameraTemplateSpec | None = Field(default=None, description="Camera spec defaults.")
    substream_paths: dict[RtspPath, RtspPath] | None = Field(
        default=None,
        max_length=16,
        description='Main path to sub-stream path, for example {"/main": "/sub"}: when '
        "both paths answer on the same address and port, one Camera is created for the main "
        "path with spec.substream.url set to the sub path, and none for the sub path. Both "
        "paths must be among spec.paths to be tried.",
        json_schema_extra=rules.validations(rules.SUBSTREAM_PATH_KEYS),
    )


class DiscoveryScanSpec(ApiModel):
    """What to sweep and how hard."""

    targets: list[ScanTarget] = Field(
        min_length=1,
        max_length=16,
        description="Addresses or CIDRs to sweep, for example 192.168.10.0/24; each at most "
        "65536 addresses. The operator's allow-list bounds what may be scanned.",
    )
    ports: list[Port] = Field(
        default=[554, 8554],
        min_length=1,
        max_length=16,
        description="TCP ports to try on every address.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    paths: list[RtspPath] = Field(
        default=DEFAULT_PATHS,
        min_length=1,
        max_length=32,
        description="Candidate RTSP paths, tried with DESCRIBE on every open port.",
    )
    credentials_secret_refs: list[SecretReference] | None = Field(
        default=None,
        max_length=8,
        description="Secrets of type vas.io/rtsp-credentials (keys username and password) to "
        "offer to cameras that ask for credentials, only in answer to their challenge; other "
        "Secrets are reported in the Credentials condition and never used. Status names the "
        "Secret that worked, never the password.",
    )
    onvif: OnvifDiscovery = Field(
        default_factory=OnvifDiscovery,
        description="ONVIF WS-Discovery settings.",
        json_schema_extra={"default": {}},
    )
    concurrency: int = Field(
        default=256, ge=1, le=4096, description="Connection attempts in flight at once."
    )
    connect_timeout_milliseconds: int = Field(
        default=500, ge=10, le=30000, description="How long to wait for a TCP connect."
    )
    rtsp_timeout_milliseconds: int = Field(
        default=3000, ge=100, le=60000, description="How long to wait for each RTSP answer."
    )
    interval_seconds: int | None = Field(
        default=None,
        ge=60,
        le=604800,
        description="Repeat the scan this often; unset scans once.",
    )
    suspend: bool = Field(
        default=False, description="True pauses repeats and stops a running scan."
    )
    camera_template: CameraTemplate | None = Field(
        default=None, description="Create a Camera for each confirmed stream from this template."
    )


class Finding(StatusModel):
    """One confirmed RTSP stream."""

    address: str = Field(max_length=64, description="IP address of the camera.")
    port: int = Field(ge=1, le=65535, description="TCP port.")
    path: str = Field(max_length=256, description="RTSP path that answered DESCRIBE.")
    auth_required: bool = Field(description="The camera answered 401 without credentials.")
    credentials_secret: str | None = Field(
        default=None, max_length=253, description="Name of the Secret whose credentials worked."
    )
    server: str | None = Field(default=None, max_length=256, description="RTSP Server header.")
    source: Literal["Sweep", "ONVIF"] = Field(default="Sweep", description="How it was found.")
    camera: str | None = Field(default=None, max_length=253, description="Camera created for it.")


class DiscoveryScanStatus(StatusModel):
    """Progress and findings of the current or last sweep."""

    observed_generation: int | None = Field(default=None, ge=0, description="Generation seen.")
    phase: ScanPhase | None = Field(
        default=None, description="Pending, Running, Completed, Failed or Suspended."
    )
    scanned: int | None = Field(default=None, ge=0, description="Address and port pairs tried.")
    total: int | None = Field(default=None, ge=0, description="Address and port pairs to try.")
    skipped: int | None = Field(
        default=None,
        ge=0,
        description="Pairs never connected to because they are VAS's own services.",
    )
    progress: str | None = Field(
        default=None, max_length=64, description="scanned/total, for kubectl columns."
    )
    found: int | None = Field(default=None, ge=0, description="Confirmed RTSP streams.")
    start_time: datetime | None = Field(default=None, description="When the sweep started.")
    completion_time: datetime | None = Field(default=None, description="When it finished.")
    next_scan_time: datetime | None = Field(default=None, description="When it repeats.")
    findings: list[Finding] = Field(
        default_factory=list,
        max_length=1024,
        description="Confirmed streams, the first 1024 by address, port and path.",
    )
    conditions: list[Condition] = conditions_field("Ready, Allowed and Credentials.")
    kopf: KopfState | None = kopf_field()


class DiscoveryScan(Resource):
    """A sweep of address ranges for RTSP cameras, optionally creating Cameras for them."""

    kind_name: ClassVar[str] = "DiscoveryScan"
    plural: ClassVar[str] = "discoveryscans"
    short_names: ClassVar[tuple[str, ...]] = ("dscan",)
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Phase", ".status.phase", description="Where the sweep is."),
        PrinterColumn("Progress", ".status.progress", description="Pairs tried / to try."),
        PrinterColumn("Found", ".status.found", type="integer", description="Streams found."),
        AGE_COLUMN,
        PrinterColumn("Targets", ".spec.targets", priority=1, description="What is swept."),
    )
    kind: Literal["DiscoveryScan"] = "DiscoveryScan"
    spec: DiscoveryScanSpec = Field(description="What to scan.")
    status: DiscoveryScanStatus | None = Field(default=None, description="Observed state.")
