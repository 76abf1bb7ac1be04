"""The FastAPI application factory; ``uvicorn --factory vas_api.app:create_app`` serves it.

A factory (not a module-level app) so tests can build a fresh app with their own settings.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import make_asgi_app


def create_app() -> FastAPI:
    app = FastAPI(title="VAS", summary="Cameras as Kubernetes resources: read API and viewer")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    app.mount("/metrics", make_asgi_app())
    return app
