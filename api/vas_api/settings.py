"""Facade settings from VAS_API_* environment variables, read when the app is built (never at
import time) so tests can build apps with different settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VAS_API_", extra="ignore")

    auth: Literal["kubernetes", "none"] = Field(
        "kubernetes",
        description="kubernetes: bearer tokens checked by TokenReview and SubjectAccessReview. "
        "none: development mode, everyone sees everything (logged loudly).",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Live figures, thumbnails.")
    gateways: dict[str, str] = Field(
        default_factory=lambda: {"vas-gateway-0": "http://127.0.0.1:8088/janus"},
        description='Janus HTTP API per gateway pod name, JSON: {"vas-gateway-0": "http://..."}.',
    )
    janus_api_secret: SecretStr | None = Field(
        None, description="Janus api_secret, added to forwarded requests; never sent to browsers."
    )
    auth_cache_seconds: float = Field(30.0, ge=0, description="TokenReview/SAR answer lifetime.")
    janus_js: str = "/usr/share/javascript/janus-gateway/janus.js"
    adapter_js: str = "/usr/share/javascript/webrtc-adapter/adapter.js"
