"""Prometheus metrics of the operator, served on VAS_METRICS_PORT."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "vas_camera_reconciles_total",
    "Camera reconciles by result (ready, retry, failed, disabled).",
    ["result"],
)
PROBE_SECONDS = Histogram(
    "vas_probe_duration_seconds",
    "Time to probe an RTSP feed with PyAV, by outcome reason.",
    ["reason"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
CAMERAS_BY_PHASE = Gauge("vas_cameras", "Cameras known to this operator, by phase.", ["phase"])
HANDLER_RUNS = Counter(
    "vas_camera_handler_runs_total", "Camera handler runs (create, update, resume) since start."
)
# Set to a function of the operator's progress record at start (lifecycle.startup).
CAMERAS_WAITING = Gauge(
    "vas_cameras_waiting",
    "Cameras owed a handler run: new or changed since start, or not resumed yet.",
)
JANUS_SECONDS = Histogram(
    "vas_janus_request_duration_seconds",
    "Janus Admin API call latency.",
    ["request"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
WATCH_ROUND_SECONDS = Histogram(
    "vas_gateway_watch_round_seconds",
    "One gateway watcher round: every pod listed and compared with its cameras.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JANUS_ERRORS = Counter("vas_janus_errors_total", "Janus Admin API calls that failed.", ["request"])


class PhaseTracker:
    """Keeps the vas_cameras gauge equal to the phases last written, per camera."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}

    def set(self, key: str, phase: str | None) -> None:
        old = self._phases.pop(key, None)
        if old is not None:
            CAMERAS_BY_PHASE.labels(old).dec()
        if phase is not None:
            self._phases[key] = phase
            CAMERAS_BY_PHASE.labels(phase).inc()


GROUP_STATUS_WRITES = Counter(
    "vas_group_status_writes_total", "CameraGroup status writes (at most one per change burst)."
)

GATEWAY_PODS = Gauge(
    "vas_gateway_pods", "Gateway pods in the pool, by state (open, draining, unready).", ["state"]
)
GATEWAY_MOUNTPOINTS = Gauge(
    "vas_gateway_mountpoints", "Cameras assigned to each gateway pod.", ["pod"]
)
GATEWAY_VIEWERS = Gauge(
    "vas_gateway_viewers", "Viewer sessions on each gateway pod (from the facades).", ["pod"]
)
MOVES = Counter(
    "vas_camera_replacements_total", "Cameras mounted on another gateway pod than before."
)
RECREATIONS = Counter(
    "vas_mountpoint_recreations_total",
    "Cameras re-checked because their gateway lost or stopped serving them, by reason.",
    ["reason"],
)
SCALE_DECISIONS = Counter(
    "vas_gateway_scale_decisions_total",
    "Changes the autoscaler made to the gateway pool, by reason (ScaleUp, Draining, ScaleDown, "
    "Undrained).",
    ["reason"],
)

LOOP_LAG_SECONDS = Histogram(
    "vas_event_loop_lag_seconds",
    "How late the operator's event loop ran a task that was due (sampled every 0.1 s).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
GC_PAUSE_SECONDS = Histogram(
    "vas_gc_pause_seconds",
    "Garbage collection pauses, by generation.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
