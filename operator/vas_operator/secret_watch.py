"""Re-check the Cameras that use a credentials Secret when it appears, changes or goes away,
by stamping its revision on them: Kopf sees the annotation as a change and runs the Camera
handler, which stays the only writer of the camera's status. The watch itself only receives
Secrets of type vas.io/rtsp-credentials (see watched.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from vas_core.watch import Key
from vas_operator.clients import kube
from vas_operator.watched import SECRET_REVISION, Watched

log = logging.getLogger("vas.secrets")


def stamps(watched: Watched, key: Key, revision: str) -> list[tuple[str, str]]:
    """(namespace, camera) pairs to stamp with this Secret revision."""
    namespace, secret = key
    return [
        (namespace, c.name)
        for c in watched.cameras_in(namespace)
        if secret in (c.secret, c.sub_secret) and c.triggers[0] != revision
    ]


class SecretWatch:
    def __init__(self, api: Any, watched: Watched) -> None:
        self.api, self.watched = api, watched
        self.queue: asyncio.Queue[tuple[Key, str]] = asyncio.Queue()
        watched.secrets.listeners.append(self.changed)

    def changed(self, kind: str, key: Key, old: str | None, new: str | None) -> None:
        revision = new if new is not None else f"deleted-{old or ''}"
        self.queue.put_nowait((key, revision))

    async def run(self) -> None:
        while True:
            key, revision = await self.queue.get()
            for namespace, camera in stamps(self.watched, key, revision):
                log.info(f"Secret {key[1]} changed: re-checking Camera {camera}")
                try:
                    await kube.annotate_camera(
                        self.api, namespace, camera, {SECRET_REVISION: revision}
                    )
                except Exception as error:  # the camera may be gone by now
                    log.warning(f"could not re-check {camera}: {type(error).__name__}")
