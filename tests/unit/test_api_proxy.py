"""The signalling filter: what a viewer may send to Janus, type-checked and rebuilt."""

from __future__ import annotations

from typing import Any

import pytest

from vas_api.errors import BadRequest, Forbidden
from vas_api.proxy import json_depth_ok, parse_body, sanitize

MP = 4242
OFFER = {"type": "offer", "sdp": "v=0"}


def test_create_forwards_only_the_verb_and_transaction() -> None:
    body = {"janus": "create", "transaction": "t1", "token": "h", "apisecret": "x", "extra": 1}
    assert sanitize(body, "root", MP) == {"janus": "create", "transaction": "t1"}


def test_a_client_cannot_choose_the_session_id() -> None:
    with pytest.raises(Forbidden, match="session id"):
        sanitize({"janus": "create", "id": 7}, "root", MP)


@pytest.mark.parametrize(
    ("body", "level"),
    [
        ({"janus": "claim", "session_id": 1}, "session"),
        ({"janus": "attach", "plugin": "janus.plugin.videoroom"}, "session"),
        ({"janus": "info"}, "root"),
        ({"janus": "message", "body": {"request": "list"}}, "handle"),
        ({"janus": "message", "body": {"request": "watch", "id": MP + 1}}, "handle"),
        ({"janus": "message", "body": {"request": "start"}, "jsep": OFFER}, "handle"),
        ({"janus": "keepalive"}, "handle"),
    ],
)
def test_refused(body: dict[str, Any], level: str) -> None:
    with pytest.raises(Forbidden):
        sanitize(body, level, MP)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "create",
        {"janus": 1},
        {"janus": None},
        {"janus": "message", "body": "watch"},
        {"janus": "message", "body": {"request": ["watch"]}},
        {"janus": "message", "body": {"request": "watch", "id": "4242"}},
        {"janus": "message", "body": {"request": "watch", "id": True}},
        {"janus": "message", "body": {"request": "start"}, "jsep": "sdp"},
        {"janus": "message", "body": {"request": "start"}, "jsep": {"type": "answer", "sdp": 1}},
        {"janus": "trickle", "candidate": "x"},
        {"janus": "trickle", "candidates": {"candidate": "x"}},
        {"janus": "trickle", "candidates": [{"candidate": "x"}] * 65},
        {"janus": "trickle", "candidate": {"candidate": "x", "sdpMLineIndex": "0"}},
        {"janus": "hangup", "transaction": {"a": 1}},
    ],
)
def test_wrong_json_types_are_bad_requests(body: Any) -> None:
    with pytest.raises(BadRequest):
        sanitize(body, "handle", MP)


def test_watch_start_and_trickle_are_rebuilt_from_known_fields() -> None:
    watch = {"janus": "message", "body": {"request": "watch", "id": MP, "pin": "x"}, "x": 1}
    assert sanitize(watch, "handle", MP) == {
        "janus": "message",
        "body": {"request": "watch", "id": MP},
    }
    start = {
        "janus": "message",
        "transaction": "t",
        "body": {"request": "start", "secret": "x"},
        "jsep": {"type": "answer", "sdp": "v=0", "trickle": True, "x": 1},
    }
    assert sanitize(start, "handle", MP) == {
        "janus": "message",
        "transaction": "t",
        "body": {"request": "start"},
        "jsep": {"type": "answer", "sdp": "v=0", "trickle": True},
    }
    trickle = {"janus": "trickle", "candidate": {"candidate": "c", "sdpMid": "0", "x": 1}}
    assert sanitize(trickle, "handle", MP)["candidate"] == {"candidate": "c", "sdpMid": "0"}
    done = {"janus": "trickle", "candidate": {"completed": True}}
    assert sanitize(done, "handle", MP)["candidate"] == {"completed": True}
    attach = {"janus": "attach", "plugin": "janus.plugin.streaming", "opaque_id": "o", "y": 2}
    assert sanitize(attach, "session", MP) == {
        "janus": "attach",
        "plugin": "janus.plugin.streaming",
        "opaque_id": "o",
    }


def test_json_depth_is_checked_without_parsing() -> None:
    assert json_depth_ok('{"a": [1, {"b": 2}]}', 3)
    assert not json_depth_ok('{"a": [1, {"b": [2]}]}', 3)
    assert json_depth_ok('{"a": "[[[[[[[[[[\\"[[[[", "b": [[1]]}', 3)  # brackets in strings
    assert not json_depth_ok("[" * 100_000 + "]" * 100_000, 8)


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1]", b"\xff\xfe", b'{"a": ' + b"[" * 50 + b"]" * 50 + b"}", b""]
)
def test_only_shallow_json_objects_are_parsed(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_body(raw, 8)


def test_a_json_object_is_parsed() -> None:
    assert parse_body(b'{"janus": "create"}', 8) == {"janus": "create"}
