"""Helpers the tests share: free ports, the live control plane, kubectl as a user runs it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "manifests" / "examples"
CRDS = REPO / "crds"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def control_plane_bin() -> Path:
    """The Go-built binaries; builds them the first time (minutes), then answers from cache."""
    out = subprocess.run(
        [str(REPO / "hack" / "build-control-plane.sh")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Cluster:
    """A running local control plane, driven with its own kubectl."""

    state: Path
    bin: Path
    kubeconfig: Path
    server: str

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
        }

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Result:
        proc = subprocess.run(
            [str(self.bin / "kubectl"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def apply(self, manifest: dict[str, Any] | str, check: bool = True) -> Result:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.kubectl("apply", "-f", "-", stdin=text, check=check)

    def get_json(self, *args: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return out


def start_cluster(state: Path) -> Cluster:
    binaries = control_plane_bin()
    env = {
        **os.environ,
        "VAS_BIN": str(binaries),
        "VAS_APISERVER_PORT": str(free_port()),
        "VAS_ETCD_PORT": str(free_port()),
        "VAS_ETCD_PEER_PORT": str(free_port()),
        # Pod IPs for this session's fake node; kept apart from `make demo`'s 127.1.0.0/24.
        "VAS_POD_CIDR": os.environ.get("VAS_TEST_POD_CIDR", "127.1.8.0/24"),
    }
    subprocess.run(
        [str(REPO / "hack" / "cluster-up.sh"), str(state)], check=True, env=env, timeout=300
    )
    server = f"https://127.0.0.1:{env['VAS_APISERVER_PORT']}"
    return Cluster(state=state, bin=binaries, kubeconfig=state / "kubeconfig", server=server)


def install_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", str(CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS))


def stop_cluster(cluster: Cluster) -> None:
    subprocess.run([str(REPO / "hack" / "cluster-down.sh"), str(cluster.state)], check=False)


def load_examples() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def wait_serving(
    proc: subprocess.Popen[bytes], url: str, log_path: Path, what: str, timeout: float = 30
) -> None:
    """Until ``url`` answers 200; fails at once, with the log's tail, if the process exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:g} s")


def poll(fetch: Callable[[], T], check: Callable[[T], bool], timeout: float, what: str) -> T:
    """Fetch until check passes; the assertion names what never happened and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never got there: {value}")
        time.sleep(0.3)


def credentials_secret(namespace: str, name: str, username: str, password: str) -> dict[str, Any]:
    """A Secret with the username/password keys Cameras and DiscoveryScans read, opted in with
    the credentials type (the operator reads no other Secret)."""
    import base64

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "vas.io/rtsp-credentials",
        "metadata": {"name": name, "namespace": namespace},
        "data": {
            "username": base64.b64encode(username.encode()).decode(),
            "password": base64.b64encode(password.encode()).decode(),
        },
    }


def kubeconfig_for(kube: Cluster, token: str, path: Path) -> Path:
    """A kubeconfig that acts as the bearer of ``token`` (a ServiceAccount, not the admin)."""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: '{kube.server}', "
        "insecure-skip-tls-verify: true}}]\n"
        f"users: [{{name: u, user: {{token: '{token}'}}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    path.chmod(0o600)
    return path


REFUSAL = re.compile(r"HTTP/1\.1 403|Forbidden|is forbidden|'code': 403")


def refusals(log: str) -> list[str]:
    """Lines of a log that report an HTTP 403 as httpx, Kopf or the API server word it (a bare
    "403" also matches the milliseconds of a log timestamp)."""
    return [line for line in log.splitlines() if REFUSAL.search(line)]


POOL_LABEL = "vas.io/test-pool"


def gateway_pod(
    cluster: Cluster, namespace: str, name: str, http_port: int, admin_port: int, pool: str
) -> dict[str, Any]:
    """A pod standing for a gateway whose Janus runs on this host: kwok "runs" it with
    ``hostNetwork``, so its pod IP is 127.0.0.1 where the test's Janus listens, and its ports
    are named as the chart names them. The operator and the facade find it only through the
    API server (selector ``vas.io/test-pool=<pool>``), as they find real gateway pods."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {POOL_LABEL: pool}},
            "spec": {
                "hostNetwork": True,
                # Bound to kwok's node directly: the scheduler would refuse a second pod with
                # the same host ports (two operators sharing one test Janus).
                "nodeName": "kwok-node-0",
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {
                        "name": "janus",
                        "image": "localhost/vas-gateway:dev",
                        "ports": [
                            {"name": "http", "containerPort": http_port},
                            {"name": "admin", "containerPort": admin_port},
                        ],
                    }
                ],
            },
        }
    )
    pod: dict[str, Any] = poll(
        lambda: cluster.get_json("-n", namespace, "pod", name),
        lambda p: bool(p.get("status", {}).get("podIP")),
        60,
        f"gateway pod {name} running on kwok",
    )
    return pod


def pool_settings(namespace: str, pool: str) -> dict[str, str]:
    """Operator settings (VAS_*) that find the gateway pods of ``gateway_pod(..., pool)``."""
    return {"gateway_namespace": namespace, "gateway_selector": f"{POOL_LABEL}={pool}"}
