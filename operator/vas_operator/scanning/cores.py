"""The CPU cores this process may use, counted as the gateway image counts them for Janus's
event loops (``janus-image/entrypoint.sh``): the CPUs it may run on (a container's cpuset),
fewer if a CPU limit (a CFS quota, cgroup v2 or v1) allows fewer; rounded up, at least one.
A pod limited to 1.5 CPUs on a 64-core node gets 2 sweep workers, not 64."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def quota(root: Path = CGROUP) -> float | None:
    """CPUs the cgroup's quota allows, or None without a limit."""
    try:
        if (root / "cpu.max").exists():  # cgroup v2: "max 100000" or "150000 100000"
            limit, period = (root / "cpu.max").read_text().split()[:2]
        else:
            limit = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()  # -1: none
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
    except (OSError, ValueError):
        return None
    if not (limit.isdigit() and period.isdigit()) or int(period) == 0:
        return None
    return int(limit) / int(period)


def usable(root: Path = CGROUP) -> int:
    count = len(os.sched_getaffinity(0))
    allowed = quota(root)
    if allowed is not None:
        count = min(count, math.ceil(allowed))
    return max(count, 1)
