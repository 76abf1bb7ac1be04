"""What the facade accepts from Janus while it opens a stream for a viewer (pure rules of
``vas_api.signalling``): only the offer for the handle it attached, bounded, and the plugin's
refusals as the facade's errors."""

from __future__ import annotations

from typing import Any

import pytest

from vas_api.auth import Viewer
from vas_api.errors import BadGateway
from vas_api.grants import GRANT_PREFIX, digest, grant_of
from vas_api.proxy import MAX_SDP
from vas_api.signalling import NotMounted, _offer_of
from vas_core.gateways import GatewayPod

POD = GatewayPod("gw-0", "127.0.0.1", True, 8088, 7088, 0, False, False)
OFFER = {"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"}


def event(sender: int = 7, data: Any = None, jsep: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"janus": "event", "sender": sender, "plugindata": {"data": data or {}}}
    if jsep is not None:
        out["jsep"] = jsep
    return out


def test_only_the_offer_for_the_attached_handle_is_taken() -> None:
    assert _offer_of(event(jsep=OFFER), 7, POD) == OFFER
    assert _offer_of(event(sender=8, jsep=OFFER), 7, POD) is None  # another handle's
    for other in ({"janus": "ack"}, {"janus": "keepalive"}, [], None, "x", event()):
        assert _offer_of(other, 7, POD) is None
    assert _offer_of(event(jsep={"type": "answer", "sdp": "v=0"}), 7, POD) is None
    extra = {**OFFER, "trickle": True, "e2ee": True}  # nothing but type and sdp goes on
    assert _offer_of(event(jsep=extra), 7, POD) == OFFER


def test_refusals_and_oversized_offers_are_errors() -> None:
    with pytest.raises(NotMounted):
        _offer_of(event(data={"error_code": 455, "error": "No such mountpoint"}), 7, POD)
    with pytest.raises(BadGateway):
        _offer_of(event(data={"error_code": 453, "error": "x" * 10_000}), 7, POD)
    for sdp in (None, 1, "x" * (MAX_SDP + 1)):
        with pytest.raises(BadGateway):
            _offer_of(event(jsep={"type": "offer", "sdp": sdp}), 7, POD)


def test_a_grant_issued_in_the_request_is_the_one_redis_would_give_back() -> None:
    viewer = Viewer("alice", "u1")
    grant = grant_of("handle-1", viewer, "token", ("a", "lobby"))
    assert grant.key == GRANT_PREFIX + digest("handle-1")
    assert grant.owner == viewer.key
    assert grant.camera == ("a", "lobby")
    assert "token" not in repr(grant)
