"""The facade's auth caches and settings defaults."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from vas_api.auth import TtlCache, token_digest
from vas_api.settings import ApiSettings


def test_cache_is_bounded_by_count_oldest_first() -> None:
    cache = TtlCache(size=3)
    for i in range(10):
        cache.put(token_digest(f"token-{i}"), i, ttl=60)
    assert len(cache) == 3
    assert cache.get(token_digest("token-9")) == 9
    assert cache.get(token_digest("token-0")) is None


def test_entries_expire_and_zero_ttl_is_not_stored() -> None:
    cache = TtlCache(size=10)
    cache.put("k", "v", ttl=0.05)
    cache.put("never", "v", ttl=0)
    assert cache.get("k") == "v"
    assert cache.get("never") is None
    time.sleep(0.06)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_keys_are_fixed_size_hashes() -> None:
    assert len(token_digest("x" * 1_000_000)) == 64
    assert token_digest("a") != token_digest("b")


def test_defaults_revoke_quickly_and_want_the_vas_audience(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("VAS_API_AUTH_CACHE_SECONDS", "VAS_API_TOKEN_AUDIENCES"):
        monkeypatch.delenv(key, raising=False)
    settings = ApiSettings()
    assert settings.auth_cache_seconds <= 5
    assert settings.auth_failure_cache_seconds <= 2
    assert settings.token_audiences == ["vas"]
    assert settings.max_body_bytes == 64 * 1024


def test_auth_failures_are_not_remembered_for_long() -> None:
    with pytest.raises(ValidationError):
        ApiSettings(auth_failure_cache_seconds=30)
