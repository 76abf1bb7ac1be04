"""The listing index against ``listing.page``, the plain filter-and-sort it replaces: the same
pages, tokens and totals for any items, changes and filters, including hostile input."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vas_api import listing
from vas_api.cache import serializer
from vas_api.index import ListingIndex, render_page
from vas_api.listing import Filters
from vas_api.models import CameraList, CameraSummary
from vas_api.summaries import summarize_camera
from vas_core.kube import Kube
from vas_core.watch import Key, WatchedStore


def camera(ns: str, name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return summarize_camera(
        {
            "metadata": {"namespace": ns, "name": name, "labels": labels or {}},
            "spec": {"source": {"url": "rtsp://192.0.2.1/s"}, **spec},
        }
    )


def store_with(items: list[dict[str, Any]]) -> WatchedStore[dict[str, Any]]:
    """A real store as its first listing leaves it (no API server: nothing is started)."""
    store: WatchedStore[dict[str, Any]] = WatchedStore(
        Kube("https://127.0.0.1:9", timeout=1), "/x", lambda o: o, what="cameras"
    )
    store._replace({(i["namespace"], i["name"]): i for i in items})
    store.synced.set()
    return store


def change(store: WatchedStore[dict[str, Any]], item: dict[str, Any] | None, key: Key) -> None:
    """A watch event, applied the way the watch applies it (listeners hear it)."""
    store._apply("DELETED" if item is None else "MODIFIED", key, item)


def walk(
    index: ListingIndex, items: list[dict[str, Any]], f: Filters, limit: int
) -> list[tuple[list[Key], int]]:
    """Every page by both ways; asserts they agree page by page and returns the pages."""
    pages = []
    token: str | None = None
    while True:
        want, want_token, want_total = listing.page(items, f, limit, token)
        after = listing.decode_token(token) if token else None
        keys, last, total = index.page(
            f.namespaces,
            selector=f.selector,
            phase=f.phase,
            text=f.text,
            limit=limit,
            after=after,
        )
        assert keys == [(i["namespace"], i["name"]) for i in want]
        assert total == want_total
        token = listing.encode_token(last) if last is not None else None
        assert token == want_token
        pages.append((keys, total))
        if token is None:
            return pages


def sample(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)  # noqa: S311  (a fixed sample, not a secret)
    return [
        camera(
            rnd.choice(["a", "b", "c"]),
            f"cam-{i:04d}",
            {"zone": f"z{i % 4}", "floor": str(i % 7), **({"x": "1"} if i % 5 == 0 else {})},
            description=f"camera number {i}",
            location="Dock" if i % 10 == 0 else "Hall",
        )
        for i in rnd.sample(range(2000), n)
    ]


FILTERS = [
    Filters(),
    Filters(namespaces=frozenset({"b"})),
    Filters(namespaces=frozenset({"a", "c", "nowhere"})),
    Filters(namespaces=frozenset()),
    Filters(selector=listing.parse_label_selector("zone=z1,floor!=1")),
    Filters(selector=listing.parse_label_selector("zone in (z1,z2),!x")),
    Filters(selector=listing.parse_label_selector("x")),
    Filters(selector=listing.parse_label_selector("floor notin (1,2,3)")),
    Filters(selector=listing.parse_label_selector("zone=nope")),
    Filters(selector=listing.parse_label_selector("zone in ()")),
    Filters(selector=listing.parse_label_selector("zone notin ()")),
    Filters(selector=listing.parse_label_selector("!zone")),
    Filters(text="dock"),
    Filters(text="DOCK", selector=listing.parse_label_selector("zone=z2")),
    Filters(text="12 hall"),  # spans description and location, as the plain filter allows
    Filters(text="number 1", selector=listing.parse_label_selector("floor!=3")),
    Filters(text="cam", namespaces=frozenset({"a"})),
    Filters(text="absent"),
    Filters(phase="Pending"),
    Filters(phase="Ready"),
    Filters(phase="Pending", selector={"matchLabels": {"zone": "z3"}}),
]


@pytest.mark.parametrize("f", FILTERS, ids=repr)
@pytest.mark.parametrize("limit", [1, 7, 50, 500])
def test_pages_tokens_and_totals_match_the_plain_filter(f: Filters, limit: int) -> None:
    items = sample(300)
    walk(ListingIndex(store_with(items), serializer(CameraSummary)), items, f, limit)


def test_changes_from_the_watch_keep_the_index_in_order() -> None:
    items = sample(200)
    store = store_with(items)
    index = ListingIndex(store, serializer(CameraSummary))
    walk(index, items, Filters(), 50)  # built now; what follows reaches it as events
    rnd = random.Random(7)  # noqa: S311  (a fixed sequence of changes)
    for step in range(400):
        current = list(store.items.values())
        op = rnd.random()
        if op < 0.3 and current:
            gone = rnd.choice(current)
            change(store, None, (gone["namespace"], gone["name"]))
        elif op < 0.6 and current:
            old = rnd.choice(current)
            new = camera(
                old["namespace"],
                old["name"],
                {"zone": rnd.choice(["z1", "z9"]), **({"x": "2"} if step % 2 else {})},
                description=rnd.choice(["dock side", "other", None]),
            )
            change(store, new, (new["namespace"], new["name"]))
        else:
            new = camera(rnd.choice(["a", "d", "e"]), f"new-{step}", {"zone": "z1"})
            change(store, new, (new["namespace"], new["name"]))
        if step % 40 == 0:
            current = list(store.items.values())
            for f in FILTERS:
                walk(index, current, f, 13)
    current = list(store.items.values())
    for f in FILTERS:
        walk(index, current, f, 50)
    assert index.namespaces() == sorted({i["namespace"] for i in current})


def test_deleting_a_namespaces_last_item_forgets_the_namespace() -> None:
    store = store_with([camera("a", "one"), camera("b", "two")])
    index = ListingIndex(store, serializer(CameraSummary))
    assert index.namespaces() == ["a", "b"]
    change(store, None, ("a", "one"))
    assert index.namespaces() == ["b"]
    assert index.page(None, limit=5) == ([("b", "two")], None, 1)


def test_a_page_continues_after_its_token_even_when_that_item_is_gone() -> None:
    store = store_with([camera("a", f"c{i}") for i in range(6)])
    index = ListingIndex(store, serializer(CameraSummary))
    keys, last, total = index.page(None, limit=3)
    assert keys == [("a", "c0"), ("a", "c1"), ("a", "c2")]
    assert total == 6
    assert last == ("a", "c2")
    change(store, None, ("a", "c2"))
    change(store, camera("a", "c10"), ("a", "c10"))  # sorts before c2: already behind us
    assert index.page(None, limit=3, after=last) == (
        [("a", "c3"), ("a", "c4"), ("a", "c5")],
        None,
        6,
    )


def test_an_index_made_before_the_first_listing_fills_when_the_store_syncs() -> None:
    store: WatchedStore[dict[str, Any]] = WatchedStore(
        Kube("https://127.0.0.1:9", timeout=1), "/x", lambda o: o, what="cameras"
    )
    index = ListingIndex(store, serializer(CameraSummary))
    assert index.page(None, limit=5) == ([], None, 0)
    store._replace({("a", "x"): camera("a", "x")})
    store.synced.set()
    change(store, camera("a", "y"), ("a", "y"))
    assert index.page(None, limit=5) == ([("a", "x"), ("a", "y")], None, 2)


def test_the_rendered_page_is_what_the_response_model_makes() -> None:
    items = [
        camera("a", "x", {"k": "v"}, description='Ünïcode ☃ "quoted" \\ back'),
        camera("a", "y"),
    ]
    store = store_with(items)
    index = ListingIndex(store, serializer(CameraSummary))
    keys, last, total = index.page(None, limit=1)
    body = json.loads(render_page(index, keys, last, total))
    expected = CameraList.model_validate(
        {"items": items[:1], "total": 2, "continue": listing.encode_token(("a", "x"))}
    ).model_dump(mode="json", by_alias=True)
    assert body == expected
    # A changed item is rendered again, not served from the kept JSON.
    change(store, camera("a", "x", description="new"), ("a", "x"))
    body = json.loads(render_page(index, *index.page(None, limit=1)))
    assert body["items"][0]["description"] == "new"


def test_limits_outside_the_bounds_are_refused() -> None:
    index = ListingIndex(store_with([]), serializer(CameraSummary))
    for limit in (0, listing.MAX_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            index.page(None, limit=limit)


HOSTILE_TEXT = [
    "x" * 100_000,  # far longer than any camera's text
    "\x00",  # the index's own separator
    "a\x00c",
    "İstanbul",  # lowercases to a longer string
    "ß",
    "\ud800",  # a lone surrogate
    "🙂",
    "%",
    ".*",
    " ",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=lambda t: repr(t[:12]))
def test_hostile_search_text_gets_the_plain_filters_answer(text: str) -> None:
    items = [
        camera("a", "plain", description="a\x00c has a NUL"),
        camera("a", "turk", description="İstanbul office"),
        camera("a", "street", description="Straße 5"),
        camera("a", "smile", location="🙂 room 100%"),
        camera("a", "dots", description=".* literal"),
        *sample(40),
    ]
    index = ListingIndex(store_with(items), serializer(CameraSummary))
    walk(index, items, Filters(text=text), 10)


def test_hostile_selectors_get_the_plain_filters_answer() -> None:
    items = sample(100)
    index = ListingIndex(store_with(items), serializer(CameraSummary))
    many = ",".join(f"k{i}!=v{i}" for i in range(300))
    for selector in [
        listing.parse_label_selector(many),
        listing.parse_label_selector("zone in (" + ",".join(f"z{i}" for i in range(500)) + ")"),
        {"matchLabels": {"zone": None}},
        {"matchLabels": {"zone": 3}},
        {"matchExpressions": [{"key": "zone", "operator": "Bogus", "values": ["z1"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": [1, "z1"]}]},
    ]:
        walk(index, items, Filters(selector=selector), 25)


label_value = st.sampled_from(["", "a", "b", "Ü"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["n1", "n2"]),
            st.text(alphabet="abcé-", min_size=1, max_size=4),
            st.dictionaries(st.sampled_from(["k", "l"]), label_value, max_size=2),
            st.text(max_size=6),
        ),
        max_size=30,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.text(max_size=3),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(["k", "l"]), label_value, max_size=2)),
    st.integers(min_value=1, max_value=6),
)
def test_any_items_any_filter(
    rows: list[tuple[str, str, dict[str, str], str]],
    text: str,
    labels: dict[str, str] | None,
    limit: int,
) -> None:
    items = [camera(ns, name, lab, description=d) for ns, name, lab, d in rows]
    index = ListingIndex(store_with(items), serializer(CameraSummary))
    selector = None if labels is None else {"matchLabels": labels}
    walk(index, items, Filters(selector=selector, text=text or None), limit)


def test_the_namespaces_are_those_with_a_camera_or_a_group() -> None:
    store = store_with([camera("b", "x"), camera("a", "y")])
    index = ListingIndex(store, serializer(CameraSummary))
    assert index.namespaces() == sorted({ns for ns, _ in store.items})
    change(store, camera("c", "z"), ("c", "z"))
    change(store, None, ("b", "x"))
    assert index.namespaces() == sorted({ns for ns, _ in store.items}) == ["a", "c"]
