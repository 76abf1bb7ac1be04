"""Failure classification, redaction and mountpoint derivation: pure functions."""

from __future__ import annotations

import errno

import av
import pytest

from vas_core.identity import mountpoint_id
from vas_operator.camera import status_changed
from vas_operator.mountpoints import (
    MountpointSpec,
    fingerprint,
    listed_fingerprint,
    mountpoint_secret,
)
from vas_operator.probe import Credentials, classify, with_credentials
from vas_operator.redact import redact

PASSWORD = "p@ss:w/rd!"  # noqa: S105  (a test value, checked to never leak)


def av_error(cls: type[BaseException], code: int = 1) -> BaseException:
    return cls(code, "boom", f"rtsp://admin:{PASSWORD}@10.0.0.1/s")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("error", "elapsed", "reason", "retryable"),
    [
        (av_error(av.error.HTTPUnauthorizedError), 0.1, "Unauthorized", False),
        (av_error(av.error.HTTPNotFoundError), 0.1, "NotFound", True),
        (av_error(av.error.HTTPForbiddenError), 0.1, "Forbidden", False),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), 0.1, "ConnectionRefused", True),
        (OSError(errno.EHOSTUNREACH, "no route"), 0.1, "HostUnreachable", True),
        (av_error(av.error.InvalidDataError), 5.0, "Timeout", True),
        (av_error(av.error.InvalidDataError), 0.2, "NotRTSP", False),
        (TimeoutError(), 5.0, "Timeout", True),
    ],
)
def test_classify(error: BaseException, elapsed: float, reason: str, retryable: bool) -> None:
    failure = classify(error, elapsed, timeout=5.0, has_credentials=True, secrets=(PASSWORD,))
    assert (failure.reason, failure.retryable) == (reason, retryable)
    assert PASSWORD not in failure.message


def test_unknown_errors_are_redacted() -> None:
    error = RuntimeError(f"strange failure opening rtsp://admin:{PASSWORD}@10.0.0.1/s")
    failure = classify(error, 0.1, 5.0, True, (PASSWORD,))
    assert failure.reason == "ProbeFailed"
    assert PASSWORD not in failure.message
    assert "rtsp://***@10.0.0.1/s" in failure.message


def test_redact_masks_userinfo_and_encoded_secrets() -> None:
    text = f"a rtsp://u:{PASSWORD}@h/s b {PASSWORD} c p%40ss%3Aw%2Frd%21"
    out = redact(text, [PASSWORD])
    assert PASSWORD not in out
    assert "p%40ss" not in out


def test_with_credentials_encodes_userinfo() -> None:
    url = with_credentials("rtsp://10.0.0.1:554/s?x=1", Credentials("ad min", PASSWORD))
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd%21@10.0.0.1:554/s?x=1"
    assert PASSWORD not in repr(Credentials("a", PASSWORD))


def test_mountpoint_ids_are_stable_distinct_and_js_safe() -> None:
    ids = {mountpoint_id("ns", f"cam-{i}") for i in range(2000)}
    assert len(ids) == 2000
    assert all(0 < i < 2**48 for i in ids)
    assert mountpoint_id("a", "b") == mountpoint_id("a", "b")
    assert mountpoint_id("a", "b") != mountpoint_id("b", "a")


def test_fingerprint_changes_with_url_and_credentials_and_hides_them() -> None:
    base = fingerprint("k", "rtsp://h/s", "tcp", Credentials("u", PASSWORD))
    assert base != fingerprint("k", "rtsp://h/t", "tcp", Credentials("u", PASSWORD))
    assert base != fingerprint("k", "rtsp://h/s", "tcp", Credentials("u", "other"))
    assert base == fingerprint("k", "rtsp://h/s", "tcp", Credentials("u", PASSWORD))
    spec = MountpointSpec(
        1, mountpoint_secret("k", 1), "ns", "cam", "rtsp://h/s", Credentials("u", PASSWORD), base
    )
    request = spec.create_request("admin-key")
    assert listed_fingerprint(request) == base
    assert PASSWORD not in request["metadata"]
    assert request["rtsp_pwd"] == PASSWORD  # only in the request to Janus itself


def test_status_changed_ignores_probe_time_only() -> None:
    old = {
        "phase": "Ready",
        "stream": {"codec": "h264", "lastProbeTime": "t0", "probeLatencyMilliseconds": 300},
    }
    same = {
        "phase": "Ready",
        "stream": {"codec": "h264", "lastProbeTime": "t1", "probeLatencyMilliseconds": 280},
    }
    assert not status_changed(old, same)
    assert status_changed(old, {**same, "phase": "Failed"})
