"""What the facade passes on from Redis: known figures as numbers, thumbnails only as JPEG."""

from __future__ import annotations

from vas_api.live import is_jpeg, parse_figures


def test_only_known_numeric_and_boolean_figures_pass() -> None:
    raw = {
        b"receiving": b"1",
        b"lastFrameAgeMs": b"120",
        b"gateway": b"<img src=x onerror=alert(1)>",
        b"note": b"<script>alert(1)</script>",
    }
    assert parse_figures(raw) == {"receiving": True, "lastFrameAgeMs": 120}
    assert parse_figures({"lastFrameAgeMs": "<b>1</b>", "receiving": "maybe"}) == {}
    assert parse_figures({"lastFrameAgeMs": "9" * 40}) == {}


def test_thumbnails_must_be_jpeg_by_magic_bytes() -> None:
    assert is_jpeg(b"\xff\xd8\xff\xe0rest")
    assert not is_jpeg(b"<html><script>alert(1)</script></html>")
    assert not is_jpeg(b"\x89PNG\r\n")
    assert not is_jpeg("text")
    assert not is_jpeg(b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024))
