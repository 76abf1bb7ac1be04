"""Operator settings, from VAS_* environment variables (a Helm chart sets them from values and
Secrets). Read when the operator starts, never at import time, so tests can vary them."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vas_core.gateways import PoolSettings
from vas_operator.sourcepolicy import DEFAULT_ALLOWED, DEFAULT_DENIED


class OperatorSettings(PoolSettings, BaseSettings):
    """Besides these, ``PoolSettings``: the gateway pods, found through the API server."""

    model_config = SettingsConfigDict(env_prefix="VAS_", extra="ignore")

    gateway_statefulset: str = Field(
        "", description="The gateway StatefulSet the autoscaler scales; empty: no autoscaling."
    )
    gateway_unready_grace_seconds: float = Field(
        15.0,
        ge=0,
        description="A gateway pod unready this long (not deleted) has its cameras moved; "
        "before that they wait for it (a Janus restarting in its pod).",
    )
    gateway_min_replicas: int = Field(1, ge=1, description="Fewest gateway pods.")
    gateway_max_replicas: int = Field(4, ge=1, description="Most gateway pods.")
    gateway_max_mountpoints: int = Field(
        100, ge=1, description="Cameras one gateway pod carries at most."
    )
    gateway_max_viewers: int = Field(300, ge=1, description="Viewers one gateway pod carries.")
    gateway_target_utilisation: float = Field(
        0.8,
        gt=0,
        le=1,
        description="The autoscaler keeps pods this full, so a new pod comes before one is full.",
    )
    scale_down_delay_seconds: float = Field(
        60.0, ge=0, description="How long fewer pods must suffice before one is drained."
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
    probe_concurrency: int = Field(
        32,
        ge=1,
        le=256,
        description="Probes at once: each waits ~0.1 s on the network and costs ~4 ms of CPU.",
    )
    retry_base_seconds: float = Field(2.0, gt=0, description="First retry delay.")
    retry_max_seconds: float = Field(60.0, gt=0, description="Longest retry delay.")
    health_interval_seconds: float = Field(
        10.0, gt=0, description="How often each gateway pod is asked for its mountpoints."
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

    @model_validator(mode="after")
    def _replicas_in_order(self) -> OperatorSettings:
        if self.gateway_min_replicas > self.gateway_max_replicas:
            raise ValueError(
                f"VAS_GATEWAY_MIN_REPLICAS ({self.gateway_min_replicas}) is above "
                f"VAS_GATEWAY_MAX_REPLICAS ({self.gateway_max_replicas})"
            )
        return self

    def retry_delay(self, retry: int) -> float:
        """Exponential backoff, capped: 2, 4, 8, ... up to retry_max_seconds."""
        return float(min(self.retry_base_seconds * 2 ** min(retry, 20), self.retry_max_seconds))
