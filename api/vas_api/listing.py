"""Filtering and pagination over the cache. Pure functions: the same answer whatever the
request rate, and unit-tested without a server.

The list endpoints answer from ``vas_api.index`` (kept sorted as the watch delivers changes);
``page`` here is the plain filter-and-sort that defines what they must answer, and the
index's tests compare the two."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vas_api.errors import BadRequest
from vas_core.selectors import matches

MAX_LIMIT = 500


@dataclass(frozen=True)
class Filters:
    namespaces: frozenset[str] | None = None  # None: every namespace the viewer may see
    phase: str | None = None
    selector: dict[str, Any] | None = None
    text: str | None = None


_REQ = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<nkey>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*$"
)


def parse_label_selector(text: str | None) -> dict[str, Any] | None:
    """kubectl's label selector syntax (`a=b,c!=d,e in (x,y),!f,g`) as a LabelSelector."""
    if not text:
        return None
    parts, depth, current = [], 0, ""
    for ch in text:  # split on commas outside parentheses
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for part in parts:
        m = _REQ.match(part)
        if not m:
            raise BadRequest(f"labelSelector: cannot parse {part.strip()!r}")
        if m["nkey"]:
            expressions.append({"key": m["nkey"], "operator": "DoesNotExist"})
        elif m["op"] in ("=", "=="):
            match_labels[m["key"]] = m["value"]
        elif m["op"] == "!=":
            expressions.append({"key": m["key"], "operator": "NotIn", "values": [m["value"]]})
        elif m["setop"]:
            values = [v.strip() for v in m["values"].split(",") if v.strip()]
            op = "In" if m["setop"] == "in" else "NotIn"
            expressions.append({"key": m["key"], "operator": op, "values": values})
        else:
            expressions.append({"key": m["key"], "operator": "Exists"})
    return {"matchLabels": match_labels, "matchExpressions": expressions}


def scope(allowed: frozenset[str] | None, namespace: str | None) -> frozenset[str] | None:
    """The namespaces to list: the one asked for, if the viewer may see it, else all they may
    see (None: no restriction, development mode)."""
    if namespace is None:
        return allowed
    if allowed is None:
        return frozenset({namespace})
    return frozenset({namespace}) & allowed


def encode_token(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ns, name = json.loads(raw)
        return str(ns), str(name)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise BadRequest("continue: not a token this API gave out") from None


def keep(item: dict[str, Any], f: Filters) -> bool:
    if f.namespaces is not None and item["namespace"] not in f.namespaces:
        return False
    if f.phase and item.get("phase") != f.phase:
        return False
    if f.selector is not None and not matches(f.selector, item.get("labels") or {}):
        return False
    return not f.text or f.text.lower() in search_text(item)


def search_text(item: Mapping[str, Any]) -> str:
    """What a text search looks in: name, description and location, lowercased (the index
    makes it once per change of the item)."""
    return " ".join(str(item.get(k) or "") for k in ("name", "description", "location")).lower()


def page(
    items: Iterable[dict[str, Any]], f: Filters, limit: int, token: str | None
) -> tuple[list[dict[str, Any]], str | None, int]:
    """One page in (namespace, name) order, the token for the next, and the filtered total.

    The token names the last item returned, so objects created or deleted between pages
    never make a page repeat or skip one that existed throughout.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    after = decode_token(token) if token else None
    selected = sorted((i for i in items if keep(i, f)), key=lambda i: (i["namespace"], i["name"]))
    total = len(selected)
    if after is not None:
        selected = [i for i in selected if (i["namespace"], i["name"]) > after]
    chunk = selected[:limit]
    more = len(selected) > limit
    next_token = encode_token((chunk[-1]["namespace"], chunk[-1]["name"])) if more else None
    return chunk, next_token, total


def and_selectors(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Both selectors at once (a group's selector narrowed by the query's)."""
    if a is None:
        return b
    return {
        "matchLabels": {**(a.get("matchLabels") or {}), **(b.get("matchLabels") or {})},
        "matchExpressions": [
            *(a.get("matchExpressions") or []),
            *(b.get("matchExpressions") or []),
        ],
    }
