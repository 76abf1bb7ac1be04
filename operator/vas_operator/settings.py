"""Operator settings, from VAS_* environment variables (a Helm chart sets them from values and
Secrets). Read when the operator starts, never at import time, so tests can vary them."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from vas_operator.sourcepolicy import DEFAULT_ALLOWED, DEFAULT_DENIED


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VAS_", extra="ignore")

    gateway_name: str = Field("vas-gateway-0", description="Gateway name shown in status.")
    gateway_admin_url: str = Field(
        "http://127.0.0.1:7088/admin", description="Janus Admin API of the gateway."
    )
    janus_admin_secret: SecretStr = Field(description="Janus admin_secret.")
    janus_streaming_admin_key: SecretStr = Field(
        description="Streaming plugin admin_key, needed to create mountpoints."
    )
    mountpoint_key: SecretStr = Field(
        description="HMAC key the per-mountpoint secrets are derived from; keep it stable."
    )
    janus_timeout_seconds: float = Field(10.0, gt=0)
    probe_timeout_seconds: float = Field(5.0, gt=0)
    probe_concurrency: int = Field(8, ge=1, le=256)
    retry_base_seconds: float = Field(2.0, gt=0, description="First retry delay.")
    retry_max_seconds: float = Field(60.0, gt=0, description="Longest retry delay.")
    health_interval_seconds: float = Field(
        10.0, gt=0, description="How often each gateway is asked for its mountpoints."
    )
    stall_seconds: float = Field(
        120.0,
        gt=0,
        description="Liveness fails when Cameras wait this long while no Camera is handled.",
    )
    startup_deadline_seconds: float = Field(
        120.0, gt=0, description="Liveness fails when the watches have not synced by then."
    )
    redis_url: str = Field(
        "", description="Redis for live figures and thumbnails; empty turns both off."
    )
    discovery_allowed_cidrs: list[str] = Field(
        default_factory=list,
        description='CIDRs any DiscoveryScan may touch, JSON: ["10.20.0.0/16"]. Empty: none.',
    )
    source_allowed_cidrs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED),
        description="Networks camera sources (and scans) may be in, JSON. Default: anywhere.",
    )
    source_denied_cidrs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DENIED),
        description="Networks never contacted, JSON; add the cluster's service and pod ranges. "
        "Default: loopback, link-local, cloud metadata addresses.",
    )
    discovery_max_addresses: int = Field(65536, ge=1, description="Addresses per scan, at most.")
    metrics_address: str = "0.0.0.0"  # noqa: S104  (scraped from other pods)
    metrics_port: int = Field(9090, ge=0, le=65535, description="0 turns metrics off.")

    def retry_delay(self, retry: int) -> float:
        """Exponential backoff, capped: 2, 4, 8, ... up to retry_max_seconds."""
        return float(min(self.retry_base_seconds * 2 ** min(retry, 20), self.retry_max_seconds))
