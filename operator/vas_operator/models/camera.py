"""Camera: one RTSP feed that the operator checks, mounts on a gateway and keeps mounted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from vas_operator.models import rules
from vas_operator.models.common import (
    AGE_COLUMN,
    ApiModel,
    Condition,
    CredentialsSecretReference,
    KopfState,
    PrinterColumn,
    Resource,
    StatusModel,
    condition_column,
    conditions_field,
    kopf_field,
)

CameraPhase = Literal["Pending", "Ready", "Degraded", "Failed", "Disabled"]


class CameraSource(ApiModel):
    """Where the operator and the gateways pull the stream from."""

    url: Annotated[str, AfterValidator(rules.check_rtsp_url)] = Field(
        min_length=1,
        max_length=2048,
        description="RTSP address of the stream, rtsp:// or rtsps://, for example "
        "rtsp://192.168.1.20:554/stream1. Never put a user name or password here: use "
        "credentialsSecretRef.",
        json_schema_extra=rules.validations(
            rules.URL_SCHEME, rules.URL_NO_USERINFO, rules.URL_HOST, rules.URL_PORT
        ),
    )
    transport: Literal["tcp", "udp"] = Field(
        default="tcp",
        description="RTSP transport the operator uses to probe the stream: tcp (default, works "
        "through NAT) or udp.",
    )
    credentials_secret_ref: CredentialsSecretReference | None = Field(
        default=None,
        description="Secret in this namespace with the camera's user name and password. The "
        "operator reads it when it needs it and never copies the password anywhere.",
    )


class CameraSubstream(ApiModel):
    """A second, lower-resolution stream of the same camera, for grids and walls. Mounted next
    to the main stream on the same gateway pod; a failure here never takes the main one down."""

    url: Annotated[str, AfterValidator(rules.check_rtsp_url)] = Field(
        min_length=1,
        max_length=2048,
        description="RTSP address of the sub-stream, rtsp:// or rtsps://, for example "
        "rtsp://192.168.1.20:554/stream2. Never put a user name or password here: use "
        "credentialsSecretRef.",
        json_schema_extra=rules.validations(
            rules.URL_SCHEME, rules.URL_NO_USERINFO, rules.URL_HOST, rules.URL_PORT
        ),
    )
    transport: Literal["tcp", "udp"] | None = Field(
        default=None,
        description="RTSP transport for probing the sub-stream: tcp or udp; default: the main "
        "source's transport.",
    )
    credentials_secret_ref: CredentialsSecretReference | None = Field(
        default=None,
        description="Secret with the sub-stream's user name and password; default: the main "
        "source's credentialsSecretRef.",
    )


class CameraSnapshot(ApiModel):
    """How often the operator refreshes the camera's thumbnail."""

    interval_seconds: Annotated[int, AfterValidator(rules.check_snapshot_interval)] = Field(
        default=30,
        ge=0,
        le=86400,
        description="Seconds between thumbnails; 0 turns thumbnails off, otherwise at least 5.",
        json_schema_extra=rules.validations(rules.SNAPSHOT_INTERVAL),
    )


class CameraSpec(ApiModel):
    """The desired state of a camera. Tags are labels on the Camera itself."""

    source: CameraSource = Field(description="The RTSP stream to check and mount.")
    substream: CameraSubstream | None = Field(
        default=None,
        description="Optional second, lower-resolution stream of the same camera (the "
        "camera's sub-stream), served beside the main one for grids and walls.",
    )
    enabled: bool = Field(
        default=True,
        description="Start/stop switch: false removes the camera from its gateway and stops "
        "probing it, keeping the resource.",
    )
    snapshot: CameraSnapshot = Field(
        default_factory=CameraSnapshot,
        description="Thumbnail settings.",
        json_schema_extra={"default": {}},
    )
    description: str | None = Field(
        default=None, max_length=1024, description="Free text for people, shown in the viewer."
    )
    location: str | None = Field(
        default=None,
        max_length=256,
        description="Where the camera is, for people (for example 'Gate 3, north side').",
    )


class StreamInfo(StatusModel):
    """What the last successful probe found in the stream."""

    codec: str | None = Field(default=None, max_length=64, description="Video codec, e.g. h264.")
    profile: str | None = Field(default=None, max_length=64, description="Codec profile.")
    width: int | None = Field(default=None, ge=0, description="Frame width in pixels.")
    height: int | None = Field(default=None, ge=0, description="Frame height in pixels.")
    resolution: str | None = Field(
        default=None, max_length=32, description="Width x height, for kubectl columns."
    )
    fps: float | None = Field(default=None, ge=0, description="Frames per second.")
    audio_codec: str | None = Field(
        default=None, max_length=64, description="Audio codec, absent when the stream has none."
    )
    probe_latency_milliseconds: int | None = Field(
        default=None, ge=0, description="How long the last probe took to read the stream facts."
    )
    last_probe_time: datetime | None = Field(
        default=None, description="When the stream was last probed successfully."
    )


class GatewayPlacement(StatusModel):
    """Where the camera is mounted."""

    pod: str | None = Field(default=None, max_length=253, description="Gateway pod name.")
    mountpoint_id: int | None = Field(
        default=None, ge=0, description="Janus streaming mountpoint id on that pod."
    )
    substream_mountpoint_id: int | None = Field(
        default=None,
        ge=0,
        description="Janus streaming mountpoint id of the sub-stream on the same pod, when "
        "the sub-stream is mounted.",
    )


class CameraStatus(StatusModel):
    """What the operator concluded. Clients branch on conditions; phase is for people."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The generation of the spec this status describes."
    )
    phase: CameraPhase | None = Field(
        default=None,
        description="One-word summary for people: Pending, Ready, Degraded, Failed or Disabled. "
        "Programs should read conditions instead.",
    )
    conditions: list[Condition] = conditions_field(
        "CredentialsResolved, StreamReachable, MountpointReady and Ready; SubstreamReady "
        "when spec.substream is set (it never makes the camera unready)."
    )
    stream: StreamInfo | None = Field(default=None, description="Facts from the last probe.")
    substream: StreamInfo | None = Field(
        default=None, description="Facts from the last probe of spec.substream."
    )
    gateway: GatewayPlacement | None = Field(default=None, description="Current placement.")
    kopf: KopfState | None = kopf_field()


class Camera(Resource):
    """An IP camera: an RTSP stream checked by the operator and served to browsers over WebRTC."""

    kind_name: ClassVar[str] = "Camera"
    plural: ClassVar[str] = "cameras"
    short_names: ClassVar[tuple[str, ...]] = ("cam",)
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = (
        condition_column("Ready", "status"),
        condition_column("Reason", "reason"),
        PrinterColumn("Phase", ".status.phase", description="Summary for people."),
        PrinterColumn("Resolution", ".status.stream.resolution", description="Width x height."),
        PrinterColumn("Codec", ".status.stream.codec", description="Video codec."),
        PrinterColumn(
            "Sub",
            ".status.substream.resolution",
            description="Sub-stream width x height.",
            priority=1,
        ),
        PrinterColumn("Gateway", ".status.gateway.pod", description="Gateway pod."),
        AGE_COLUMN,
        PrinterColumn("URL", ".spec.source.url", description="Stream address.", priority=1),
        PrinterColumn("Location", ".spec.location", description="Where it is.", priority=1),
    )
    kind: Literal["Camera"] = "Camera"
    spec: CameraSpec = Field(description="Desired state of the camera.")
    status: CameraStatus | None = Field(
        default=None, description="Observed state, by the operator."
    )
