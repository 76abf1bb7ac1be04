#!/usr/bin/env python3
"""Print the Debian mirrors apt uses here as one-line sources for mmdebstrap (stdlib only).

Reads /etc/apt/sources.list and /etc/apt/sources.list.d/*.list|*.sources (one-line and deb822),
keeps the suite's own entries (SUITE, SUITE-updates, SUITE-security) and the main component, and
falls back to deb.debian.org when none is found (for example on a non-Debian host).

    python3 debian_sources.py bookworm
"""

from __future__ import annotations

import sys
from pathlib import Path

APT = Path("/etc/apt")


def _entries() -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every enabled deb entry."""
    out: list[tuple[str, list[str], list[str]]] = []
    files = [APT / "sources.list", *sorted((APT / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                suites = fields.get("suites", "").split()
                components = fields.get("components", "").split()
                out.extend((uri, suites, components) for uri in fields.get("uris", "").split())
        elif path.name == "sources.list" or path.suffix == ".list":
            for raw in text.splitlines():
                words = raw.split("#", 1)[0].split()
                if not words or words[0] != "deb":
                    continue
                words = words[1:]
                if words and words[0].startswith("["):  # [arch=... signed-by=...]
                    while words and not words[0].endswith("]"):
                        words = words[1:]
                    words = words[1:]
                if len(words) >= 3:
                    out.append((words[0], [words[1]], words[2:]))
    return out


def sources(suite: str) -> list[str]:
    wanted = (suite, f"{suite}-updates", f"{suite}-security")
    lines: list[str] = []
    for uri, suites, components in _entries():
        for s in suites:
            if s in wanted and "main" in components:
                line = f"deb {uri} {s} main"
                if line not in lines:
                    lines.append(line)
    if not any(f" {suite} " in line for line in lines):
        lines = [
            f"deb http://deb.debian.org/debian {suite} main",
            f"deb http://deb.debian.org/debian {suite}-updates main",
            f"deb http://deb.debian.org/debian-security {suite}-security main",
        ]
    return lines


if __name__ == "__main__":
    print("\n".join(sources(sys.argv[1] if len(sys.argv) > 1 else "bookworm")))
