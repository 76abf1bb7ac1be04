"""Which cameras the gateway watcher re-checks, from one Janus list."""

from __future__ import annotations

from vas_operator.health import Expected, decide, media_stale

CAMS = [Expected("ns", "a", 1), Expected("ns", "b", 2), Expected("ns", "c", 3)]


def entry(mp_id: int, *ages: int) -> dict[str, object]:
    return {"id": mp_id, "media": [{"mid": str(i), "age_ms": a} for i, a in enumerate(ages)]}


def test_healthy_gateway_needs_nothing() -> None:
    assert decide(CAMS, [entry(1, 40), entry(2, 10), entry(3, 900), entry(99, 10)]) == []


def test_lost_and_stale_mountpoints_are_rechecked() -> None:
    out = decide(CAMS, [entry(2, 60_000), {"id": 3, "media": []}])
    assert [(r.name, r.reason) for r in out] == [
        ("a", "MountpointLost"),
        ("b", "MediaStale"),
        ("c", "MediaStale"),
    ]


def test_unreachable_gateway_rechecks_everything_on_it() -> None:
    assert {r.reason for r in decide(CAMS, None)} == {"GatewayUnavailable"}
    assert len(decide(CAMS, None)) == 3


def test_newest_media_counts() -> None:
    assert not media_stale(entry(1, 90_000, 20))
    assert media_stale(None)


def test_fresh_mountpoints_get_time_to_connect() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
    fresh = Expected("ns", "a", 1, ready_since="2026-01-01T00:00:55Z")
    old = Expected("ns", "b", 2, ready_since="2026-01-01T00:00:00Z")
    out = decide([fresh, old], [entry(1, 10**9), entry(2, 10**9)], now=now)
    assert [r.name for r in out] == ["b"]


def test_live_figures_and_due_thumbnails() -> None:
    from vas_operator.health import live_figures, thumbnails_due

    cams = [
        Expected("ns", "a", 1, snapshot_seconds=30),
        Expected("ns", "b", 2),
        Expected("ns", "c", 3, snapshot_seconds=10),
    ]
    figures = live_figures(cams, [entry(1, 40), entry(2, 60_000)], "gw-0")
    assert figures[("ns", "a")] == {"gateway": "gw-0", "receiving": 1, "lastFrameAgeMs": 40}
    assert figures[("ns", "b")]["receiving"] == 0
    assert ("ns", "c") not in figures  # not on the gateway: nothing to say
    last = {("ns", "a"): 95.0, ("ns", "c"): 80.0}
    assert [c.name for c in thumbnails_due(cams, last, now=100.0, limit=5)] == ["c"]
    assert [c.name for c in thumbnails_due(cams, {}, now=100.0, limit=1)] == ["a"]
