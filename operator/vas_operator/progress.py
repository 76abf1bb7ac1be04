"""Whether the operator is making progress, for the liveness endpoint.

A healthy operator can be busy (10,000 cameras to resume) or idle (nothing changed); a stalled
one has work it was given and finishes none of it. Work is what surely runs a Camera handler:
a Camera seen for the first time since start, a new generation, a re-check annotation. It is
never derived from status, which tenants can write. Stalled means: some work has waited longer
than ``stall_seconds`` and no handler finished within ``stall_seconds`` either. Pure, so the
rule is unit-tested; the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field


@dataclass
class Progress:
    stall_seconds: float
    started: float
    waiting: dict[Hashable, float] = field(default_factory=dict)  # key -> since when
    handled_once: set[Hashable] = field(default_factory=set)
    last_done: float | None = None
    done_total: int = 0

    def expect(self, key: Hashable, now: float) -> None:
        self.waiting.setdefault(key, now)

    def expect_existing(self, keys: Iterable[Hashable], now: float) -> None:
        """Objects listed at start: each gets a resume unless a handler already ran for it."""
        for key in keys:
            if key not in self.handled_once:
                self.expect(key, now)

    def forget(self, key: Hashable) -> None:
        """The object is gone: nothing to wait for, nothing to remember."""
        self.waiting.pop(key, None)
        self.handled_once.discard(key)

    def done(self, key: Hashable, now: float) -> None:
        self.waiting.pop(key, None)
        self.handled_once.add(key)
        self.last_done = now
        self.done_total += 1

    def stalled(self, now: float) -> str | None:
        """Why the operator counts as stalled, or None."""
        if not self.waiting:
            return None
        oldest = min(self.waiting.values())
        quiet_since = self.last_done if self.last_done is not None else self.started
        if now - oldest > self.stall_seconds and now - quiet_since > self.stall_seconds:
            return (
                f"{len(self.waiting)} Camera(s) waiting for up to {now - oldest:.0f} s and no "
                f"Camera handled for {now - quiet_since:.0f} s"
            )
        return None
