"""Facade settings from VAS_API_* environment variables, read when the app is built (never at
import time) so tests can build apps with different settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from vas_core.gateways import PoolSettings


class ApiSettings(PoolSettings, BaseSettings):
    """Besides these, ``PoolSettings``: the gateway pods, found through the API server; each
    camera's signalling goes to the pod the operator mounted it on."""

    model_config = SettingsConfigDict(env_prefix="VAS_API_", extra="ignore")

    auth: Literal["kubernetes", "none"] = Field(
        "kubernetes",
        description="kubernetes: bearer tokens checked by TokenReview and SubjectAccessReview. "
        "none: development mode, everyone sees everything (logged loudly).",
    )
    token_audiences: list[str] = Field(
        default_factory=lambda: ["vas"],
        description="TokenReview spec.audiences: tokens must be issued for one of these "
        "(`kubectl create token NAME --audience vas`), so they are useless against the API "
        "server. An empty list accepts API-server tokens (not recommended).",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Live figures, thumbnails, where cameras are mounted, and the signalling "
        "handles and sessions every facade replica shares.",
    )
    janus_api_secret: SecretStr | None = Field(
        None, description="Janus api_secret, added to forwarded requests; never sent to browsers."
    )
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long a TokenReview/SubjectAccessReview answer is "
        "reused: the longest a revoked token or RoleBinding keeps working.",
    )
    auth_failure_cache_seconds: float = Field(
        1.0, ge=0, le=2, description="How long a refused token is remembered."
    )
    auth_cache_entries: int = Field(10_000, ge=1, description="Cached auth answers, at most.")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body.")
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request line plus headers."
    )
    max_token_bytes: int = Field(8 * 1024, ge=256, description="Largest bearer token.")
    max_json_depth: int = Field(8, ge=2, le=64, description="Deepest JSON nesting accepted.")
    signalling_grant_seconds: float = Field(
        90.0,
        ge=5,
        description="A signalling handle expires after this long unused "
        "(a playing page long-polls every 30 s).",
    )
    max_grants_per_viewer: int = Field(
        32, ge=1, description="Live signalling handles per viewer (counted in Redis)."
    )
    max_sessions_per_viewer: int = Field(
        32, ge=1, description="Open Janus sessions per viewer, over all replicas (in Redis)."
    )
    max_longpolls_per_viewer: int = Field(
        8,
        ge=1,
        description="Concurrent Janus long-polls one viewer may hold open (per facade replica).",
    )
    max_requests_per_viewer: int = Field(
        8,
        ge=1,
        description="Concurrent other signalling requests one viewer may have open "
        "(per facade replica).",
    )
    janus_longpoll_connections: int = Field(
        512, ge=1, description="Connections to Janus for long-polls (a pool of their own)."
    )
    janus_request_connections: int = Field(
        64, ge=1, description="Connections to Janus for other requests (a pool of their own)."
    )
    janus_js: str = "/usr/share/javascript/janus-gateway/janus.js"
    adapter_js: str = "/usr/share/javascript/webrtc-adapter/adapter.js"
