"""The signalling filter: what a viewer may send to Janus, type-checked and rebuilt."""

from __future__ import annotations

from typing import Any

import pytest

from vas_api.errors import BadRequest, Forbidden
from vas_api.proxy import json_depth_ok, parse_body, sanitize
from vas_api.signalling import watchable
from vas_api.summaries import summarize_camera
from vas_core.identity import mountpoint_id, substream_id

MP = 4242
ONLY_MAIN = frozenset({MP})
OFFER = {"type": "offer", "sdp": "v=0"}


def test_create_forwards_only_the_verb_and_transaction() -> None:
    body = {"janus": "create", "transaction": "t1", "token": "h", "apisecret": "x", "extra": 1}
    assert sanitize(body, "root", ONLY_MAIN) == {"janus": "create", "transaction": "t1"}


def test_a_client_cannot_choose_the_session_id() -> None:
    with pytest.raises(Forbidden, match="session id"):
        sanitize({"janus": "create", "id": 7}, "root", ONLY_MAIN)


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
        sanitize(body, level, ONLY_MAIN)


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
        sanitize(body, "handle", ONLY_MAIN)


def test_watch_start_and_trickle_are_rebuilt_from_known_fields() -> None:
    watch = {"janus": "message", "body": {"request": "watch", "id": MP, "pin": "x"}, "x": 1}
    assert sanitize(watch, "handle", ONLY_MAIN) == {
        "janus": "message",
        "body": {"request": "watch", "id": MP},
    }
    start = {
        "janus": "message",
        "transaction": "t",
        "body": {"request": "start", "secret": "x"},
        "jsep": {"type": "answer", "sdp": "v=0", "trickle": True, "x": 1},
    }
    assert sanitize(start, "handle", ONLY_MAIN) == {
        "janus": "message",
        "transaction": "t",
        "body": {"request": "start"},
        "jsep": {"type": "answer", "sdp": "v=0", "trickle": True},
    }
    trickle = {"janus": "trickle", "candidate": {"candidate": "c", "sdpMid": "0", "x": 1}}
    assert sanitize(trickle, "handle", ONLY_MAIN)["candidate"] == {"candidate": "c", "sdpMid": "0"}
    done = {"janus": "trickle", "candidate": {"completed": True}}
    assert sanitize(done, "handle", ONLY_MAIN)["candidate"] == {"completed": True}
    attach = {"janus": "attach", "plugin": "janus.plugin.streaming", "opaque_id": "o", "y": 2}
    assert sanitize(attach, "session", ONLY_MAIN) == {
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


def _camera(namespace: str, name: str, spec: dict[str, Any], status: dict[str, Any]) -> Any:
    obj = {"metadata": {"namespace": namespace, "name": name}, "spec": spec, "status": status}
    return summarize_camera(obj)


def test_a_viewer_may_watch_the_cameras_main_and_sub_stream_and_nothing_else() -> None:
    """The sub-stream's id is derived from the camera's identity like the main one, and only
    allowed when the spec names a sub-stream; a forged status changes nothing."""
    forged = {"gateway": {"substreamMountpointId": mountpoint_id("b", "victim")}}
    spec = {"source": {"url": "rtsp://h/main"}, "substream": {"url": "rtsp://h/sub"}}
    cam = _camera("a", "door", spec, forged)
    assert cam["hasSubstream"] is True
    ids = watchable(("a", "door"), cam)
    assert ids == {mountpoint_id("a", "door"), substream_id("a", "door")}

    def watch(mp: int) -> dict[str, Any]:
        return {"janus": "message", "body": {"request": "watch", "id": mp}}

    for mp in ids:
        assert sanitize(watch(mp), "handle", ids)["body"] == {"request": "watch", "id": mp}
    for other in (
        mountpoint_id("b", "victim"),
        substream_id("b", "victim"),
        substream_id("a", "door2"),
        substream_id("a", "door") + 1,
    ):
        with pytest.raises(Forbidden, match="mountpoints of this camera"):
            sanitize(watch(other), "handle", ids)


def test_without_a_sub_stream_only_the_main_stream_may_be_watched() -> None:
    cam = _camera("a", "door", {"source": {"url": "rtsp://h/main"}}, {})
    assert cam["hasSubstream"] is False
    ids = watchable(("a", "door"), cam)
    assert ids == {mountpoint_id("a", "door")}
    watch = {"janus": "message", "body": {"request": "watch", "id": substream_id("a", "door")}}
    with pytest.raises(Forbidden):
        sanitize(watch, "handle", ids)
