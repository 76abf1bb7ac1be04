"""A real Kubernetes node for end-to-end tests: hack/node-up.sh (containerd, runc, CNI bridge,
kubelet, kube-proxy, CoreDNS and its own control plane) under a machine-wide lock, the VAS
images loaded into its containerd, helm driving it, and a headless Chromium on the host that
watches a camera through the facade's Service. Everything is stopped by PID
(hack/node-down.sh), also when a test fails."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.facade_process import CHROMIUM_ARGS
from tests.support import REPO, Cluster, control_plane_bin, free_port

NODE_NAME = "vas-node"
NODE_IP = "10.244.255.1"
POD_CIDR = "10.244.7.0/24"
# Held for the whole life of a test node: one real node per machine (fixed kubelet ports,
# the node address on lo); a second test session waits here.
SESSION_LOCK = Path("/run/vas-node.session.lock")
OWNER = Path("/run/vas-node.state")  # hack/node-up.sh: the STATEDIR of the node that is up
TEST_MARK = ".vas-test-node"  # in a test node's STATEDIR
IMAGES = {
    "vas": "localhost/vas:dev",
    "gateway": "localhost/vas-gateway:dev",
    "redis": "localhost/vas-redis:dev",
}


def run(args: list[str], timeout: float = 600, **kw: Any) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args[:3])} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    return proc.stdout


@dataclass
class RealNode:
    state: Path
    cluster: Cluster
    up_seconds: float

    def ctr(self, *args: str, timeout: float = 300) -> str:
        sock = str(self.state / "run" / "containerd.sock")
        return run(["ctr", "-a", sock, "-n", "k8s.io", *args], timeout=timeout)

    def load_images(self, directory: Path) -> float:
        """Imports {vas,gateway,redis}.tar; returns the seconds it took."""
        started = time.monotonic()
        for name in IMAGES:
            self.ctr("images", "import", str(directory / f"{name}.tar"))
        listed = self.ctr("images", "ls", "-q")
        missing = [ref for ref in IMAGES.values() if ref not in listed]
        assert not missing, f"not in the node's containerd after import: {missing}\n{listed}"
        return time.monotonic() - started

    def log(self, name: str) -> str:
        path = self.state / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def session_lock(timeout: float = 1800) -> Iterator[None]:
    SESSION_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with SESSION_LOCK.open("w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = f"another real node held {SESSION_LOCK} for {timeout:g} s"
                    raise TimeoutError(msg) from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def real_node(state: Path) -> Iterator[RealNode]:
    """hack/node-up.sh STATE on free control-plane ports; hack/node-down.sh STATE afterwards,
    whatever happened (also after a half-started node-up)."""
    with session_lock():
        # Holding the lock, any other test node is left over from a session that was killed.
        stale = Path(OWNER.read_text().strip()) if OWNER.exists() else None
        if stale is not None and stale != state and (stale / TEST_MARK).exists():
            node_down(stale)
        state.mkdir(parents=True, exist_ok=True)
        (state / TEST_MARK).touch()
        port = free_port()
        env = {
            **os.environ,
            "VAS_APISERVER_PORT": str(port),
            "VAS_ETCD_PORT": str(free_port()),
            "VAS_ETCD_PEER_PORT": str(free_port()),
            "VAS_POD_CIDR": "127.1.7.0/24",
        }
        started = time.monotonic()
        try:
            run([str(REPO / "hack" / "node-up.sh"), str(state)], env=env, timeout=1800)
            cluster = Cluster(
                state=state / "cp",
                bin=control_plane_bin(),
                kubeconfig=state / "kubeconfig",
                server=f"https://{NODE_IP}:{port}",
            )
            yield RealNode(state, cluster, time.monotonic() - started)
        finally:
            node_down(state)


def node_down(state: Path) -> None:
    subprocess.run(
        [str(REPO / "hack" / "node-down.sh"), str(state)],
        capture_output=True,
        timeout=300,
        check=False,
    )


def build_images() -> tuple[Path, float]:
    """hack/build-images.sh (reuses images whose inputs did not change); their folder and the
    seconds it took."""
    started = time.monotonic()
    out = run([str(REPO / "hack" / "build-images.sh")], timeout=3600)
    return Path(out.strip().splitlines()[-1]), time.monotonic() - started


def helm_bin() -> Path:
    out = run([str(REPO / "hack" / "build-helm.sh")])
    return Path(out.strip().splitlines()[-1])


# No --allow-loopback-in-peer-connection: gateway pods offer their pod IP, never loopback.
BROWSER_ARGS = [a for a in CHROMIUM_ARGS if a != "--allow-loopback-in-peer-connection"]

STATE_JS = """() => {
    const v = document.getElementById('video');
    return {state: window.vas.state, width: v.videoWidth, t: v.currentTime,
            firstFrameMs: window.vas.firstFrameMs, errors: window.vas.errors,
            message: document.getElementById('p-msg').textContent};
}"""


@contextmanager
def browser_page(url: str, token: str) -> Iterator[Any]:
    """Debian's Chromium, headless, on ``url`` with ``token`` in the tab's session storage.
    No --allow-loopback-in-peer-connection: the gateway pod offers its pod IP."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
            page.add_init_script(f"sessionStorage.setItem('vas-token', {token!r})")
            page.goto(url)
            yield page
        finally:
            browser.close()


def page_state(page: Any) -> dict[str, Any]:
    out: dict[str, Any] = page.evaluate(STATE_JS)
    return out


def wait_playing(page: Any, timeout: float) -> dict[str, Any]:
    """Until the video plays and its clock advances; the last state otherwise."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = page_state(page)
        if last["state"] == "playing" and last["width"] > 0:
            page.wait_for_timeout(700)
            later = page_state(page)
            if later["t"] > last["t"]:
                return later
        page.wait_for_timeout(200)
    raise AssertionError(f"the video never played within {timeout:g} s: {last}")


ICE_JS = """async () => {
    const pc = state.player && state.player.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    let pair = null;
    const remotes = [];
    stats.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) {
            pair = stats.get(s.selectedCandidatePairId);
        }
        if (s.type === 'remote-candidate') remotes.push(s.address || s.ip);
    });
    if (!pair) return null;
    const remote = stats.get(pair.remoteCandidateId), local = stats.get(pair.localCandidateId);
    return {remote: remote.address || remote.ip, local: local.address || local.ip, remotes};
}"""


def ice_pair(page: Any, timeout: float = 10) -> dict[str, Any]:
    """The viewer's selected ICE candidate pair (the app's own RTCPeerConnection) and every
    address the gateway offered."""
    deadline = time.monotonic() + timeout
    while True:
        pair: dict[str, Any] | None = page.evaluate(ICE_JS)
        if pair is not None:
            return pair
        if time.monotonic() > deadline:
            raise AssertionError("the viewer has no selected ICE candidate pair")
        page.wait_for_timeout(250)


def chart_values(**extra: Any) -> dict[str, Any]:
    """The chart's values for this node: our images (never pulled), gateways offering their
    pod IP to viewers, every pod on the real node (kwok's fake node exists too), the cluster's
    ranges, and the node address as the only camera source. ``extra`` is merged on top."""
    repo, tag = IMAGES["vas"].rsplit(":", 1)
    gateway_repo, gateway_tag = IMAGES["gateway"].rsplit(":", 1)
    values: dict[str, Any] = {
        "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
        "gateway": {
            "image": {"repository": gateway_repo, "tag": gateway_tag, "pullPolicy": "Never"},
            # The pod network only: viewers are offered the pod IP (no loopback shim).
            "iceInterfaces": "eth0",
        },
        "redis": {"image": IMAGES["redis"], "pullPolicy": "Never"},
        "nodeSelector": {"kubernetes.io/hostname": NODE_NAME},
        "cluster": {"serviceCIDR": "10.96.0.0/24", "podCIDR": POD_CIDR},
        "operator": {"sourcePolicy": {"allowedCIDRs": [f"{NODE_IP}/32"]}},
    }
    return merged(values, extra)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both else value
    return out


def pod_ready(pod: dict[str, Any]) -> bool:
    """Running, Ready and not on its way out."""
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return (
        pod["status"].get("phase") == "Running"
        and conditions.get("Ready") == "True"
        and pod["metadata"].get("deletionTimestamp") is None
    )
