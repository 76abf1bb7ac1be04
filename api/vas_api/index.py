"""A listing index kept sorted as the watch delivers changes, so a page costs the page (and
the count of what matches), not a filter and sort of every object per request.

Per namespace a ``Shard`` keeps the names in order (``bisect`` on each change), the names per
label ``(key, value)``, per label key and per phase, each item's search text lowercased once per
change, and the search texts of the namespace joined in name order, so a text search is
``str.find`` over one string (C speed) rather than a Python loop over every item; it is
rebuilt lazily, only after a search text changed. Each item's JSON is made once and kept
until the item changes, so a page is served without pydantic validating 50 models.

The answers are those of ``listing.page`` over the same items (the unit tests compare the
two); the index only changes how fast they come. Authorisation is not its business: callers
pass the namespaces the viewer may list.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Mapping
from itertools import accumulate, islice
from typing import Any

from vas_api.listing import MAX_LIMIT, encode_token, search_text
from vas_core.watch import Key, WatchedStore

SEPARATOR = "\x00"  # between items' texts in the joined string; a needle holding it goes slow
_EMPTY: frozenset[str] = frozenset()


class Shard:
    """One namespace's items, indexed."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.labels: dict[tuple[str, str], set[str]] = {}
        self.keys: dict[str, set[str]] = {}
        self.phases: dict[Any, set[str]] = {}
        self.texts: dict[str, str] = {}
        self.json: dict[str, bytes] = {}
        self._joined: str | None = None  # None: rebuild on the next search
        self._starts: list[int] = []

    def add(self, name: str, item: Mapping[str, Any], *, sorted_insert: bool = True) -> None:
        if sorted_insert:
            bisect.insort(self.names, name)
        else:
            self.names.append(name)
        self._index(name, item)
        self._joined = None

    def remove(self, name: str, item: Mapping[str, Any]) -> None:
        i = bisect.bisect_left(self.names, name)
        if i < len(self.names) and self.names[i] == name:
            del self.names[i]
        self._unindex(name, item)
        self.texts.pop(name, None)
        self._joined = None

    def update(self, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self._unindex(name, old)
        text = self.texts.get(name)
        self._index(name, new)
        if self.texts[name] != text:
            self._joined = None

    def _index(self, name: str, item: Mapping[str, Any]) -> None:
        labels = item.get("labels") or {}
        for k, v in labels.items():
            self.labels.setdefault((k, v), set()).add(name)
            self.keys.setdefault(k, set()).add(name)
        self.phases.setdefault(item.get("phase"), set()).add(name)
        self.texts[name] = search_text(item)

    def _unindex(self, name: str, item: Mapping[str, Any]) -> None:
        self.json.pop(name, None)
        for k, v in (item.get("labels") or {}).items():
            _discard(self.labels, (k, v), name)
            _discard(self.keys, k, name)
        _discard(self.phases, item.get("phase"), name)

    def candidates(
        self, selector: Mapping[str, Any] | None, phase: str | None
    ) -> tuple[set[str] | frozenset[str] | None, set[str] | frozenset[str] | None]:
        """(names that may match, or None for all; names that must not) by set operations on
        the label and phase indexes, with ``vas_core.selectors.matches``' semantics. Either
        may be one of the index's own sets: callers only read them."""
        required: list[set[str] | frozenset[str]] = []
        excluded: list[set[str] | frozenset[str]] = []
        if phase:
            required.append(self.phases.get(phase, _EMPTY))
        selector = selector or {}
        for k, v in (selector.get("matchLabels") or {}).items():
            if v is None:  # matches() compares labels.get(k) with it: the label's absence
                excluded.append(self.keys.get(k, _EMPTY) if _hashable(k) else _EMPTY)
            else:
                required.append(self.labels.get((k, v), _EMPTY) if _hashable(v) else _EMPTY)
        for expr in selector.get("matchExpressions") or []:
            k, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
            if op in ("In", "NotIn"):
                union = self._union(k, values)
                (required if op == "In" else excluded).append(union)
            elif op == "Exists":
                required.append(self.keys.get(k, _EMPTY) if _hashable(k) else _EMPTY)
            elif op == "DoesNotExist":
                excluded.append(self.keys.get(k, _EMPTY) if _hashable(k) else _EMPTY)
        if not required:
            excluded = [e for e in excluded if e]
            if not excluded:
                return None, None
            return None, (excluded[0] if len(excluded) == 1 else set().union(*excluded))
        # Each step iterates the smaller side: the smallest required set drives the cost.
        required.sort(key=len)
        include = required[0].intersection(*required[1:]) if len(required) > 1 else required[0]
        for e in excluded:
            if e and include:
                include = include.difference(e)
        return include, None

    def _union(self, key: Any, values: Iterable[Any]) -> set[str] | frozenset[str]:
        if not _hashable(key):
            return _EMPTY
        found = [self.labels.get((key, v), _EMPTY) for v in values if _hashable(v)]
        if len(found) == 1:
            return found[0]
        return set().union(*found)

    def search(self, needle: str) -> list[str]:
        """Names (in order) whose search text holds ``needle`` (already lowercased)."""
        if SEPARATOR in needle:  # could span two items in the joined string
            return [n for n in self.names if needle in self.texts[n]]
        if self._joined is None:
            texts = [self.texts[n] for n in self.names]
            self._joined = SEPARATOR.join(texts)
            # Where each item's text starts, and a sentinel past the end.
            self._starts = [0, *accumulate(len(t) + 1 for t in texts)]
        joined, starts, names = self._joined, self._starts, self.names
        out: list[str] = []
        find, right = joined.find, bisect.bisect_right
        pos = find(needle)
        while pos >= 0:
            i = right(starts, pos) - 1
            out.append(names[i])
            pos = find(needle, starts[i + 1])
        return out

    def select(
        self,
        selector: Mapping[str, Any] | None,
        phase: str | None,
        text: str | None,
        after: str | None,
        want: int,
    ) -> tuple[int, list[str]]:
        """(how many names match, the first ``want`` of them after ``after``)."""
        include, exclude = self.candidates(selector, phase)
        if text:
            found = self.search(text.lower())
            if include is not None:
                found = [n for n in found if n in include]
            elif exclude:
                found = [n for n in found if n not in exclude]
            start = bisect.bisect_right(found, after) if after is not None else 0
            return len(found), found[start : start + want]
        start = bisect.bisect_right(self.names, after) if after is not None else 0
        if include is None and not exclude:
            return len(self.names), self.names[start : start + want]
        if include is None:
            assert exclude is not None
            total = len(self.names) - len(exclude)  # exclude holds only names of this shard
            page = [] if want == 0 or total == 0 else self._walk(start, want, exclude, False)
            return total, page
        total = len(include)
        if want == 0 or total == 0:
            return total, []
        # Walking the ordered names costs about want * len(names) / len(include) look-ups;
        # sorting the candidates about len(include) * log. Take the cheaper; a walk that
        # runs long (the matches bunched after a long gap) ends in the sort anyway.
        budget = 2 * total + 64
        if want * len(self.names) // total <= budget:
            page = self._walk(start, want, include, True, budget)
            if len(page) == want or start + budget >= len(self.names):
                return total, page
        rest = sorted(n for n in include if after is None or n > after)
        return total, rest[:want]

    def _walk(
        self,
        start: int,
        want: int,
        names: set[str] | frozenset[str],
        member: bool,
        budget: int | None = None,
    ) -> list[str]:
        out: list[str] = []
        stop = None if budget is None else start + budget
        for n in islice(self.names, start, stop):
            if (n in names) is member:
                out.append(n)
                if len(out) == want:
                    break
        return out


def _hashable(value: Any) -> bool:
    return isinstance(value, str)


def _discard(index: dict[Any, set[str]], key: Any, name: str) -> None:
    found = index.get(key)
    if found is not None:
        found.discard(name)
        if not found:
            del index[key]


class ListingIndex:
    """Every item of one ``WatchedStore``, indexed per namespace and kept current by the
    store's listener. Built from ``store.items`` the first time it is needed once the store
    has synced (the store's first listing reaches no listener), then changed per event."""

    def __init__(
        self,
        store: WatchedStore[dict[str, Any]],
        serialize: Callable[[dict[str, Any]], bytes],
    ) -> None:
        self._store = store
        self._serialize = serialize
        self._shards: dict[str, Shard] = {}
        self._namespaces: list[str] = []
        self._built = False
        store.listeners.append(self._heard)

    @property
    def items(self) -> Mapping[Key, dict[str, Any]]:
        return self._store.items

    def namespaces(self) -> list[str]:
        """The namespaces holding at least one item, in order."""
        self._ensure()
        return self._namespaces

    def _ensure(self) -> None:
        if self._built or not self._store.synced.is_set():
            return
        self._built = True
        for (ns, name), item in self._store.items.items():
            self._shard(ns).add(name, item, sorted_insert=False)
        for shard in self._shards.values():
            shard.names.sort()

    def _shard(self, ns: str) -> Shard:
        shard = self._shards.get(ns)
        if shard is None:
            shard = self._shards[ns] = Shard()
            bisect.insort(self._namespaces, ns)
        return shard

    def _heard(self, kind: str, key: Key, old: Any, new: Any) -> None:
        if not self._built:
            self._ensure()  # store.items already holds this change
            return
        ns, name = key
        if new is None:
            shard = self._shards.get(ns)
            if shard is None or old is None:
                return
            shard.remove(name, old)
            if not shard.names:
                del self._shards[ns]
                self._namespaces.remove(ns)
        elif old is None:
            self._shard(ns).add(name, new)
        else:
            self._shard(ns).update(name, old, new)

    def page(
        self,
        namespaces: frozenset[str] | None,
        *,
        selector: Mapping[str, Any] | None = None,
        phase: str | None = None,
        text: str | None = None,
        limit: int,
        after: Key | None = None,
    ) -> tuple[list[Key], Key | None, int]:
        """One page of keys in (namespace, name) order, the last key if there are more (the
        continue token names it), and the filtered total: ``listing.page``'s answer."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        self._ensure()
        if namespaces is None:
            scoped = self._namespaces
        elif len(namespaces) > len(self._namespaces):
            scoped = [ns for ns in self._namespaces if ns in namespaces]
        else:
            scoped = sorted(ns for ns in namespaces if ns in self._shards)
        total = 0
        keys: list[Key] = []
        want = limit + 1  # one more tells whether there is a next page
        for ns in scoped:
            if after is not None and ns < after[0]:
                below, page_after, room = True, None, 0
            else:
                below = False
                page_after = after[1] if after is not None and ns == after[0] else None
                room = want - len(keys)
            count, names = self._shards[ns].select(selector, phase, text, page_after, room)
            total += count
            if not below:
                keys += [(ns, n) for n in names]
        more = len(keys) > limit
        keys = keys[:limit]
        return keys, (keys[-1] if more else None), total

    def json(self, key: Key) -> bytes:
        """The item as the list answer shows it, made once per version of the item."""
        shard = self._shards[key[0]]
        found = shard.json.get(key[1])
        if found is None:
            found = shard.json[key[1]] = self._serialize(self._store.items[key])
        return found


def render_page(index: ListingIndex, keys: list[Key], last: Key | None, total: int) -> bytes:
    """The list answer's JSON (``CameraList``/``GroupList``) from the items' kept JSON."""
    token = json.dumps(encode_token(last)) if last is not None else "null"
    return b"".join(
        (
            b'{"items":[',
            b",".join([index.json(k) for k in keys]),
            b'],"total":%d,"continue":%s}' % (total, token.encode()),
        )
    )
