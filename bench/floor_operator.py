"""The floor the Camera benchmarks compare VAS with, in the same run: Kopf with VAS's own
settings (``vas_operator.kopf_settings``) and Camera handlers that do no work but what VAS must
do in the API anyway: a finalizer, one status write with a Ready condition, one Event. What VAS
costs beyond this is its own (credentials, the PyAV probe, Janus, placement).

    kopf run --standalone --namespace NS bench/floor_operator.py
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import kopf
from prometheus_client import Counter, Gauge, start_http_server

from vas_operator.kopf_settings import api_session, configure_kopf

CAMERAS = ("vas.io", "v1alpha1", "cameras")
# The names of VAS's own figures, so the benchmarks read both operators alike.
HANDLER_RUNS = Counter("vas_camera_handler_runs_total", "Camera handler runs since start.")
Gauge("vas_cameras_waiting", "Always 0: the floor keeps no record.").set(0)


@kopf.on.login()
async def login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.AiohttpSession | None:
    return await api_session(settings, **kwargs)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    configure_kopf(settings, os.environ.get("FLOOR_KEY", "floor").encode())
    start_http_server(int(os.environ["FLOOR_METRICS_PORT"]), addr="127.0.0.1")


@kopf.on.resume(*CAMERAS)
@kopf.on.create(*CAMERAS)
@kopf.on.update(*CAMERAS)
def reconcile(body: kopf.Body, patch: kopf.Patch, meta: kopf.Meta, **_: Any) -> None:
    HANDLER_RUNS.inc()
    status = body.get("status") or {}
    if status.get("observedGeneration") == meta.get("generation"):
        return  # nothing changed: no write, as VAS on resume
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch.status.update(
        {
            "observedGeneration": meta.get("generation"),
            "phase": "Ready",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Floor",
                    "message": "the benchmark's floor operator did nothing",
                    "observedGeneration": meta.get("generation"),
                    "lastTransitionTime": now,
                }
            ],
        }
    )
    kopf.event(body, type="Normal", reason="Floor", message="ready without any work")


@kopf.on.delete(*CAMERAS)
def deleted(**_: Any) -> None:
    """Declared so that Kopf adds a finalizer, as it does for VAS's Cameras."""
