"""Which Janus requests a viewer may send, as pure rules.

The browser speaks Janus's HTTP protocol to /gateway/{namespace}/{camera}/janus. Every request
is type-checked and rebuilt from the fields a viewer's request may carry (nothing else reaches
Janus): sessions (``create`` without a client-chosen id), the streaming plugin, and
watch/start/pause/stop of that one camera's mountpoints (its main stream and, when it has one,
its sub-stream), whose ids are derived from the camera's identity
(``vas_core.identity.mountpoint_id``/``substream_id``), never read from its status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from vas_api.errors import BadRequest, Forbidden

STREAMING = "janus.plugin.streaming"
VIEWER_REQUESTS = {"watch", "start", "pause", "stop"}
SESSION_VERBS = {"keepalive", "destroy", "attach"}
HANDLE_VERBS = {"message", "trickle", "detach", "hangup"}
MAX_SDP = 32 * 1024
MAX_CANDIDATES = 64
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _str(body: dict[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} must be a string")
    if len(value) > limit:
        raise BadRequest(f"{key!r} is longer than {limit} characters")
    return value


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{what!r} must be a JSON object")
    return value


def _candidate(value: Any) -> dict[str, Any]:
    c = _obj(value, "candidate")
    if c.get("completed") is True:
        return {"completed": True}
    out: dict[str, Any] = {"candidate": _str(c, "candidate", 1024, required=True)}
    mid = _str(c, "sdpMid", 64)
    if mid is not None:
        out["sdpMid"] = mid
    index = c.get("sdpMLineIndex")
    if index is not None:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64:
            raise BadRequest("'sdpMLineIndex' must be a small integer")
        out["sdpMLineIndex"] = index
    return out


def _jsep(value: Any) -> dict[str, Any]:
    jsep = _obj(value, "jsep")
    kind = _str(jsep, "type", 16, required=True)
    if kind != "answer":
        raise Forbidden("a viewer only sends SDP answers")
    out: dict[str, Any] = {"type": kind, "sdp": _str(jsep, "sdp", MAX_SDP, required=True)}
    if isinstance(jsep.get("trickle"), bool):
        out["trickle"] = jsep["trickle"]
    return out


def sanitize(body: Any, level: str, watchable: Collection[int]) -> dict[str, Any]:
    """The request to forward for ``body`` at this path level ("root", "session" or
    "handle"): BadRequest for wrong JSON types, Forbidden for what a viewer may not do.
    ``watchable`` holds the only mountpoint ids a ``watch`` may name: this camera's."""
    body = _obj(body, "body")
    verb = _str(body, "janus", 32, required=True)
    out: dict[str, Any] = {"janus": verb}
    transaction = _str(body, "transaction", 64)
    if transaction is not None:
        out["transaction"] = transaction
    if level == "root":
        if verb != "create":
            raise Forbidden(f"only 'create' is allowed here, not {verb!r}")
        if "id" in body:
            raise Forbidden("a client may not choose its Janus session id")
        return out
    if level == "session":
        if verb not in SESSION_VERBS:
            raise Forbidden(f"{verb!r} is not allowed on a session")
        if verb == "attach":
            plugin = _str(body, "plugin", 64, required=True)
            if plugin != STREAMING:
                raise Forbidden("only the streaming plugin may be attached")
            out["plugin"] = plugin
            opaque = _str(body, "opaque_id", 64)
            if opaque is not None:
                out["opaque_id"] = opaque
        return out
    if verb not in HANDLE_VERBS:
        raise Forbidden(f"{verb!r} is not allowed on a handle")
    if verb == "message":
        message = _obj(body.get("body"), "body")
        request = _str(message, "request", 32, required=True)
        if request not in VIEWER_REQUESTS:
            raise Forbidden(f"streaming request {request!r} is not allowed for viewers")
        out["body"] = {"request": request}
        if request == "watch":
            wanted = message.get("id")
            if not isinstance(wanted, int) or isinstance(wanted, bool):
                raise BadRequest("'id' must be an integer")
            if wanted not in watchable:
                raise Forbidden("a viewer may only watch the mountpoints of this camera")
            out["body"]["id"] = wanted
        if "jsep" in body:
            out["jsep"] = _jsep(body["jsep"])
    elif verb == "trickle":
        if "candidates" in body:
            listed = body["candidates"]
            if not isinstance(listed, list) or len(listed) > MAX_CANDIDATES:
                raise BadRequest(f"'candidates' must be a list of at most {MAX_CANDIDATES}")
            out["candidates"] = [_candidate(c) for c in listed]
        else:
            out["candidate"] = _candidate(body.get("candidate"))
    return out


def json_depth_ok(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests no deeper than ``limit``, checked before parsing (Python's
    parser would recurse on ``[[[[...`` until it fails)."""
    depth = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


def parse_body(raw: bytes, max_depth: int) -> dict[str, Any]:
    """A request body as a JSON object: BadRequest for anything else, nesting checked first."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    if not json_depth_ok(text, max_depth):
        raise BadRequest(f"the body nests deeper than {max_depth} levels")
    try:
        body = json.loads(text)
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body is not a JSON object")
    return body
