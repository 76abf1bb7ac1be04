"""How VAS configures Kopf, apart from any handler, so that the benchmarks' bare-Kopf floor
runs with exactly the same settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any, cast

import aiohttp
import kopf

from vas_core.names import API_GROUP

KOPF_PREFIX = f"operator.{API_GROUP}"  # where releases before 0.2 kept Kopf's state
FINALIZER = f"{API_GROUP}/finalizer"  # releases before 0.2 put it on every Camera


# Annotations whose change makes Kopf handle a Camera without a new generation.
TRIGGERS = (f"{API_GROUP}/recheck", f"{API_GROUP}/credentials-revision")


class Seal:
    """An HMAC over Kopf's state and what it belongs to.

    Kopf keeps its state in ``status.kopf``, and whoever may write ``cameras/status`` may write
    that too. Unsealed, a forged diffbase could say a spec was handled when it was not, and a
    forged progress record could say a handler succeeded or must wait until 2099: the camera
    would never be handled, and the liveness probe, which counts that work as owed, would
    restart the operator for every tenant. Sealed, forged or copied state fails the check and
    reads as absent, and absent state only ever makes Kopf handle the camera."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"vas kopf state\x00" + key).digest()
        # Progress is sealed for this process only: a record replayed from before a restart
        # reads as absent (its handler starts afresh, as after any restart).
        self._nonce = secrets.token_hex(16)

    def _mac(self, *parts: str) -> str:
        return hmac.new(self._key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _uid(body: Mapping[str, Any]) -> str:
        return str(body.get("metadata", {}).get("uid", ""))

    def configuration(self, body: Mapping[str, Any], encoded: str) -> str:
        return self._mac("diffbase", self._uid(body), encoded)

    def progress(self, body: Mapping[str, Any], key: str, record: Mapping[str, Any]) -> str:
        """Bound to the generation and the triggering annotations too, so a record cannot be
        replayed onto a later change of the same camera."""
        meta = body.get("metadata", {})
        annotations = meta.get("annotations") or {}
        return self._mac(
            "progress",
            self._nonce,
            self._uid(body),
            str(meta.get("generation", "")),
            *(str(annotations.get(name, "")) for name in TRIGGERS),
            key,
            # what the API server keeps: Kopf's None fields are dropped on the way
            json.dumps(
                {k: v for k, v in record.items() if k != SEAL and v is not None}, sort_keys=True
            ),
        )


SEAL = "seal"


def _matches(given: object, wanted: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given, wanted)


class SealedDiffBase(kopf.StatusDiffBaseStorage):
    """The last handled configuration in ``status.kopf`` with its seal beside it, read from
    the annotation that earlier releases wrote when status has none: an upgraded operator
    resumes its existing Cameras as unchanged (no probe, no write) instead of taking each
    for a new one.

    In status, handling a Camera is one write (status) instead of two (an annotation on the
    object, then status): the API server spends ~5 ms of CPU per write here, its largest cost
    per camera."""

    def __init__(self, seal: Seal) -> None:
        super().__init__(name="kopf")
        self._seal = seal
        self._seal_field = ("status", "kopf", "configurationSeal")
        self._legacy = kopf.AnnotationsDiffBaseStorage(
            prefix=KOPF_PREFIX, key="last-handled-configuration"
        )

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        status = body.get("status") or {}
        kopf_status = status.get("kopf") if isinstance(status, Mapping) else None
        if (
            not isinstance(kopf_status, Mapping)
            or kopf_status.get("last-handled-configuration") is None
        ):
            return self._legacy.fetch(body=body)
        encoded = kopf_status["last-handled-configuration"]
        wanted = self._seal.configuration(body, str(encoded))
        if not _matches(kopf_status.get("configurationSeal"), wanted):
            return None  # forged or damaged: handled as a new camera
        return super().fetch(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        super().store(body=body, patch=patch, essence=essence)
        encoded = patch["status"]["kopf"]["last-handled-configuration"]
        patch["status"]["kopf"]["configurationSeal"] = self._seal.configuration(body, encoded)


class SealedProgress(kopf.StatusProgressStorage):
    """Kopf's per-handler retry state in ``status.kopf.progress``, each record sealed; a record
    whose seal does not match reads as none, so its handler runs now."""

    def __init__(self, seal: Seal) -> None:
        super().__init__(name="kopf")
        self._seal = seal

    def fetch(self, *, key: Any, body: kopf.Body) -> Any:
        record = super().fetch(key=key, body=body)
        if not isinstance(record, Mapping):
            return None
        if not _matches(record.get(SEAL), self._seal.progress(body, str(key), record)):
            return None
        return {k: v for k, v in record.items() if k != SEAL}

    def store(self, *, key: Any, record: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        sealed = {**record, SEAL: self._seal.progress(body, str(key), record)}
        super().store(key=key, record=cast(Any, sealed), body=body, patch=patch)


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


def configure_kopf(settings: kopf.OperatorSettings, key: bytes, verbose: bool = False) -> None:
    """``key`` seals Kopf's state in status (``Seal``)."""
    # No Camera handler needs a finalizer (deletions are seen by the operator's own watch and
    # swept from the gateways); naming it lets Kopf remove it from Cameras of older releases.
    settings.persistence.finalizer = FINALIZER
    seal = Seal(key)
    settings.persistence.progress_storage = SealedProgress(seal)
    settings.persistence.diffbase_storage = SealedDiffBase(seal)
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
