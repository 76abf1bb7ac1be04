"""Run the real facade (``python -m vas_api``) as a subprocess against the test cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.media.fixtures import stop_pid
from tests.support import Cluster, free_port, wait_serving


@dataclass
class FacadeProcess:
    cluster: Cluster
    log_path: Path
    redis_url: str
    gateways: dict[str, str]
    auth: str = "kubernetes"
    janus_api_secret: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FacadeProcess:
        env = {
            **self.cluster.env(),
            "VAS_API_AUTH": self.auth,
            "VAS_API_REDIS_URL": self.redis_url,
            "VAS_API_GATEWAYS": json.dumps(self.gateways),
            **(
                {"VAS_API_JANUS_API_SECRET": self.janus_api_secret} if self.janus_api_secret else {}
            ),
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vas_api", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_serving(self.proc, f"{self.url}/readyz", self.log_path, "facade")
        except RuntimeError:
            self.stop()  # never leave a half-started process behind
            raise
        return self

    def stop(self) -> None:
        stop_pid(self.proc)
        self.proc = None

    def get(self, path: str, token: str | None = None, **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}{path}", headers=headers, params=params, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
