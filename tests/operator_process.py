"""Run the real operator (``python -m vas_operator``) as a subprocess against the test cluster."""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.media.fixtures import JanusGateway, stop_pid
from tests.support import Cluster, free_port, gateway_pod, pool_settings, wait_serving


@dataclass
class OperatorProcess:
    cluster: Cluster
    log_path: Path
    env_extra: dict[str, str]
    namespace: str
    metrics_port: int = field(default_factory=free_port)
    liveness_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **self.cluster.env(),
            # Test cameras, Janus and Redis all live on loopback, which the default source
            # policy denies; VAS's own endpoints stay refused by the policy regardless.
            "VAS_SOURCE_DENIED_CIDRS": '["169.254.0.0/16"]',
            **self.env_extra,
            "VAS_METRICS_PORT": str(self.metrics_port),
            "VAS_METRICS_ADDRESS": "127.0.0.1",
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vas_operator",
                "--namespace",
                self.namespace,
                "--liveness",
                f"http://127.0.0.1:{self.liveness_port}/healthz",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_serving(
                self.proc,
                f"http://127.0.0.1:{self.liveness_port}/healthz",
                self.log_path,
                "operator",
            )
        except RuntimeError:
            self.stop()  # never leave a half-started process behind
            raise

    def stop(self) -> None:
        stop_pid(self.proc, timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def metric(self, name: str, **labels: str) -> float:
        """Current value of one metric sample, 0 when absent."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            sample = key.split("{", 1)
            if sample[0] != name:
                continue
            got = ",".join(sorted(sample[1].rstrip("}").split(","))) if len(sample) > 1 else ""
            if got == want:
                return float(value)
        return 0.0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def environment(**settings: str) -> dict[str, str]:
    return {f"VAS_{k.upper()}": v for k, v in settings.items()}


def operator_for(
    cluster: Cluster,
    janus: JanusGateway,
    namespace: str,
    log_path: Path,
    gateway: str = "gateway-test-0",
    gateway_namespace: str | None = None,
    **settings: str,
) -> OperatorProcess:
    """An operator watching one namespace, whose gateway pool is ``janus`` registered as the
    pod ``gateway`` (in ``gateway_namespace``, by default the watched one), found through the
    API server like real gateway pods. Not started yet."""
    pool, where = namespace, gateway_namespace or namespace
    gateway_pod(cluster, where, gateway, janus.http_port, janus.admin_port, pool)
    env = environment(
        janus_admin_secret=janus.admin_secret,
        janus_streaming_admin_key=janus.admin_key,
        **{**pool_settings(where, pool), **settings},
    )
    return OperatorProcess(cluster=cluster, log_path=log_path, namespace=namespace, env_extra=env)


def live_operator(
    cluster: Cluster,
    janus: JanusGateway,
    namespace: str,
    log_path: Path,
    gateway: str,
    redis_url: str,
) -> OperatorProcess:
    """An operator that writes live figures to Redis every 2 s (what the facade serves)."""
    return operator_for(
        cluster,
        janus,
        namespace,
        log_path,
        gateway=gateway,
        mountpoint_key=secrets.token_hex(8),
        redis_url=redis_url,
        health_interval_seconds="2",
    )
