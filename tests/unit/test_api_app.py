"""The app's wiring without a cluster: one error shape for everything, limits before any
work, security headers, and an access log without query strings."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.media.fixtures import RedisServer
from tests.support import free_port
from vas_api.app import create_app
from vas_api.limits import HideQueryStrings
from vas_api.settings import ApiSettings
from vas_core.kube import Kube


@pytest.fixture(scope="module")
def http() -> Iterator[TestClient]:
    """The app with its lifespan, in development mode, against a real Redis and an API server
    that is not there (the watches keep retrying: caches and the gateway pool never sync)."""
    with RedisServer() as redis:
        settings = ApiSettings(auth="none", redis_url=redis.url)
        nowhere = Kube(f"https://127.0.0.1:{free_port()}", timeout=1)
        with TestClient(
            create_app(settings, api_client=nowhere), raise_server_exceptions=False
        ) as c:
            yield c


def shape(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert "detail" not in body
    error: dict[str, object] = body["error"]
    assert set(error) == {"code", "reason", "message"}
    assert error["code"] == response.status_code  # type: ignore[attr-defined]
    return error


def test_framework_errors_use_the_facade_shape(http: TestClient) -> None:
    assert shape(http.get("/api/v1/cameras", params={"limit": "x"}))["reason"] == "Invalid"
    assert shape(http.get("/nowhere"))["reason"] == "NotFound"
    assert shape(http.put("/api/v1/cameras"))["reason"] == "MethodNotAllowed"
    assert shape(http.get("/api/v1/cameras", params={"continue": "!"}))["reason"] == "BadRequest"
    not_ready = http.get("/readyz")
    assert shape(not_ready)["reason"] == "ServiceUnavailable"
    assert "has not synced" in shape(not_ready)["message"]  # type: ignore[operator]


def test_bodies_and_headers_are_limited_before_any_work(http: TestClient) -> None:
    big = http.post("/gateway/a/b/janus", content=b"x" * (65 * 1024))
    assert big.status_code == 413
    assert shape(big)["reason"] == "PayloadTooLarge"
    unannounced = http.post("/gateway/a/b/janus", content=(b" " * 32768 for _ in range(8)))
    assert unannounced.status_code == 413
    assert shape(unannounced)["reason"] == "PayloadTooLarge"
    huge = http.get("/api/v1/me", headers={"X-Filler": "y" * 20_000})
    assert huge.status_code == 431
    deep = http.post("/gateway/a/b/janus", content=b'{"janus": ' + b"[" * 100 + b"]" * 100 + b"}")
    assert deep.status_code == 400
    assert deep.json()["janus"] == "error"
    assert "deeper" in shape(deep)["message"]  # type: ignore[operator]


def test_signalling_needs_a_handle_not_a_bearer_token(http: TestClient) -> None:
    reply = http.post("/gateway/a/b/janus", json={"janus": "create", "token": "bearer-token"})
    assert reply.status_code == 401
    assert reply.json()["janus"] == "error"
    missing = http.post("/gateway/a/b/janus/12", json={"janus": "keepalive", "transaction": "t"})
    assert missing.status_code == 401
    assert missing.json()["transaction"] == "t"


def test_answers_carry_security_headers(http: TestClient) -> None:
    reply = http.get("/healthz")
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in reply.headers
    assert "default-src 'self'" in http.get("/").headers["content-security-policy"]


def test_access_log_shows_no_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/gateway/a/b/janus/1?rid=1&token=SECRET", "1.1", 200),
        None,
    )
    HideQueryStrings().filter(record)
    assert "SECRET" not in record.getMessage()
    assert "/gateway/a/b/janus/1" in record.getMessage()


def test_without_redis_signalling_says_why_and_listings_still_answer() -> None:
    settings = ApiSettings(auth="none", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    nowhere = Kube(f"https://127.0.0.1:{free_port()}", timeout=1)
    with TestClient(create_app(settings, api_client=nowhere), raise_server_exceptions=False) as c:
        reply = c.post("/gateway/a/b/janus", json={"janus": "create", "token": "h" * 43})
        assert reply.status_code == 503
        assert reply.json()["janus"] == "error"
        assert "Redis" in shape(reply)["message"]  # type: ignore[operator]
        assert reply.headers["retry-after"] == "2"
        assert c.get("/api/v1/cameras").status_code == 200
