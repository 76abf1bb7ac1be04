"""The app's wiring without a cluster: one error shape for everything, limits before any
work, security headers, and an access log without query strings."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from vas_api.app import create_app
from vas_api.auth import NoAuth
from vas_api.limits import HideQueryStrings
from vas_api.relay import Relay
from vas_api.settings import ApiSettings


@pytest.fixture
def http() -> TestClient:
    settings = ApiSettings(auth="none", gateways={"gw": "http://127.0.0.1:9/janus"})
    app = create_app(settings)
    # No lifespan: nothing is started; dev-mode auth and an empty, unsynced cache stand in.
    app.state.auth = NoAuth()
    app.state.cache = SimpleNamespace(cameras={}, groups={}, synced=False)
    app.state.relay = Relay(settings)
    return TestClient(app, raise_server_exceptions=False)


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
    assert shape(http.get("/readyz"))["reason"] == "ServiceUnavailable"


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
