"""Janus signalling for browsers, through the facade.

The browser speaks Janus's HTTP protocol to /gateway/{namespace}/{camera}/janus; the facade
forwards to the gateway holding that camera and lets through only what a viewer may do:
sessions, the streaming plugin, and watch/start/pause/stop of that one camera's mountpoint.
Gateway credentials (api_secret, admin) never reach the browser, and a session made for one
camera cannot be used for another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

STREAMING = "janus.plugin.streaming"
VIEWER_REQUESTS = {"watch", "start", "pause", "stop"}
SESSION_VERBS = {"keepalive", "destroy", "attach", "claim"}
HANDLE_VERBS = {"message", "trickle", "detach", "hangup"}
SESSION_TTL_SECONDS = 120.0  # Janus drops a REST session after 60 s without a request


class Refused(Exception):
    """A request a viewer may not make; the message says which rule refused it."""


def check(body: dict[str, Any], level: str, mountpoint_id: int) -> None:
    """Raise Refused unless ``body`` is a viewer request allowed at this path level
    ("root", "session" or "handle")."""
    verb = body.get("janus")
    if level == "root":
        if verb != "create":
            raise Refused(f"only 'create' is allowed here, not {verb!r}")
        return
    if level == "session":
        if verb not in SESSION_VERBS - {"claim"}:
            raise Refused(f"{verb!r} is not allowed on a session")
        if verb == "attach" and body.get("plugin") != STREAMING:
            raise Refused("only the streaming plugin may be attached")
        return
    if verb not in HANDLE_VERBS:
        raise Refused(f"{verb!r} is not allowed on a handle")
    if verb == "message":
        request = (body.get("body") or {}).get("request")
        if request not in VIEWER_REQUESTS:
            raise Refused(f"streaming request {request!r} is not allowed for viewers")
        if request == "watch" and (body.get("body") or {}).get("id") != mountpoint_id:
            raise Refused("a viewer may only watch the mountpoint of this camera")


@dataclass
class Sessions:
    """Which camera each Janus session was created for (sessions are per camera)."""

    _owner: dict[int, tuple[str, str, float]] = field(default_factory=dict)

    def add(self, session: int, camera: str, gateway: str) -> None:
        self._prune()
        self._owner[session] = (camera, gateway, time.monotonic())

    def check(self, session: int, camera: str) -> str:
        """The gateway of a session made for this camera, else Refused."""
        entry = self._owner.get(session)
        if entry is None or entry[0] != camera:
            raise Refused("unknown session for this camera")
        self._owner[session] = (entry[0], entry[1], time.monotonic())
        return entry[1]

    def drop(self, session: int) -> None:
        self._owner.pop(session, None)

    def viewers(self, camera: str) -> int:
        """Live viewer sessions for a camera through this facade (janus.js polls every 30 s
        at most, so a session idle for longer than the TTL has gone)."""
        self._prune()
        return sum(1 for owner, _, _ in self._owner.values() if owner == camera)

    def _prune(self) -> None:
        cutoff = time.monotonic() - SESSION_TTL_SECONDS
        for key in [k for k, v in self._owner.items() if v[2] < cutoff]:
            del self._owner[key]
