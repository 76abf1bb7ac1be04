"""How VAS configures Kopf, apart from any handler, so that the benchmarks' bare-Kopf floor
runs with exactly the same settings."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import kopf

from vas_core.names import API_GROUP

KOPF_PREFIX = f"operator.{API_GROUP}"  # where releases before 0.2 kept Kopf's state
FINALIZER = f"{API_GROUP}/finalizer"  # releases before 0.2 put it on every Camera


class StatusDiffBase(kopf.StatusDiffBaseStorage):
    """The last handled configuration in ``status.kopf``, read from the annotation that
    earlier releases wrote when status has none: an upgraded operator resumes its existing
    Cameras as unchanged (no probe, no write) instead of taking each for a new one.

    In status, handling a Camera is one write (status) instead of two (an annotation on the
    object, then status): the API server spends ~5 ms of CPU per write here, its largest cost
    per camera. Status is writable by whoever may write ``cameras/status``; what Kopf keeps
    there only decides whether the operator looks at that same camera again, as annotations
    (writable by whoever may write the camera) did before."""

    def __init__(self) -> None:
        super().__init__(name="kopf")
        self._legacy = kopf.AnnotationsDiffBaseStorage(
            prefix=KOPF_PREFIX, key="last-handled-configuration"
        )

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return super().fetch(body=body) or self._legacy.fetch(body=body)


# Kopf's own connection pool to the API server has no limit: a burst of cameras on 200
# workers opened a TLS connection per worker, each a handshake on both sides. Watches hold
# a few of these for good; the rest are reused.
API_CONNECTIONS = 32


async def api_session(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.AiohttpSession | None:
    """Kopf's API credentials as Kopf finds them (service account, then kubeconfig), on a
    bounded, long-lived connection pool."""
    info = kopf.login_with_service_account(settings=settings, **kwargs) or (
        kopf.login_with_kubeconfig(settings=settings, **kwargs)
    )
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=API_CONNECTIONS, ssl=info.as_ssl_context(), keepalive_timeout=120
        ),
        headers=info.as_http_headers(),
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        aiohttp_session=session,
    )


def configure_kopf(settings: kopf.OperatorSettings, verbose: bool = False) -> None:
    # No Camera handler needs a finalizer (deletions are seen by the operator's own watch and
    # swept from the gateways); naming it lets Kopf remove it from Cameras of older releases.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.StatusProgressStorage(name="kopf")
    settings.persistence.diffbase_storage = StatusDiffBase()
    # The first listing in pages: 10,000 Cameras in one answer were ~30 MB of JSON and ten
    # times that parsed, all at once.
    settings.watching.chunk_size = 500
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # Bounded workers with a short idle timeout cap memory when thousands of cameras arrive
    # at once (shared/reference/kopf-scale). Safe only because no Kopf index is declared:
    # with indexes, every worker waits for all objects to be indexed, and the objects beyond
    # the limit never get a worker (watched.py).
    settings.queueing.worker_limit = 200
    settings.queueing.idle_timeout = 0.05
    settings.posting.level = logging.WARNING
    if not verbose:
        # Two INFO lines per camera and change ("Handler succeeded", "... is processed") cost
        # formatting and writing at every burst and every restart; failures still log.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
