"""Redis keys shared by the operator and the facade: live figures and thumbnails (operator
writes, facade reads), where each mountpoint is served (operator writes, facade routes by it
after checking the pod is in the pool), and viewer sessions per pod and per camera (facade
writes, operator's autoscaler reads). Values live with TTLs or are rewritten each round: Redis
is a cache the operator and the facades can always refill."""

from __future__ import annotations


def live_key(namespace: str, name: str) -> str:
    return f"vas:live:{namespace}/{name}"


def thumbnail_key(namespace: str, name: str) -> str:
    return f"vas:thumb:{namespace}/{name}"


# Where each mountpoint is served: {mountpoint id: gateway pod name}, written by the operator
# from what the gateways list (never from a Camera's status), read by the facade to route.
PLACEMENT_KEY = "vas:placement"


def pod_viewers_key(pod: str) -> str:
    """A sorted set of the viewer sessions on one gateway pod, written by every facade
    replica: member = Janus session id (decimal), score = unix time (seconds, float) the
    session was last used. The pod's viewer count is ``ZCOUNT key (now - VIEWER_SEEN_SECONDS)
    +inf``; members older than that are gone and anyone may prune them
    (``ZREMRANGEBYSCORE key -inf (now - VIEWER_SEEN_SECONDS)``). A session is counted on the pod
    it was created on for its whole life, and removed when its viewer destroys it."""
    return f"vas:viewers:pod:{pod}"


def camera_viewers_key(namespace: str, name: str) -> str:
    """The same sorted set per camera (member = session id, score = last use): what the
    facade's camera detail reports as ``viewers``, the same on every replica."""
    return f"vas:viewers:cam:{namespace}/{name}"


# A viewer session counts while seen within this many seconds (janus.js long-polls at least
# every 30 s while it plays; Janus drops a REST session after 60 s without one).
VIEWER_SEEN_SECONDS = 120
