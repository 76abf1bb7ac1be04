"""Run the real facade (``python -m vas_api``) as a subprocess against the test cluster, and
what the facade tests share: viewer Roles, audience-bound tokens, a headless Chromium viewer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}{path}", headers=headers, params=params, timeout=30)

    def grant(self, token: str, namespace: str, name: str) -> httpx.Response:
        """Ask for a signalling handle for one camera (what the viewer does before janus.js)."""
        return httpx.post(
            f"{self.url}/api/v1/namespaces/{namespace}/cameras/{name}/signalling",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def janus(
        self, namespace: str, name: str, path: str, handle: str, body: dict[str, Any]
    ) -> httpx.Response:
        """One Janus request through the facade, carrying the handle in Janus's token slot."""
        return httpx.post(
            f"{self.url}/gateway/{namespace}/{name}/janus{path}",
            json={"transaction": "t", "token": handle, **body},
            timeout=30,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def viewer_token(cluster: Cluster, sa: str, namespace: str, audience: str = "vas") -> str:
    """A ServiceAccount token for the facade's audience (useless against the API server)."""
    args = ["create", "token", sa, "-n", namespace]
    if audience:
        args += ["--audience", audience]
    return cluster.kubectl(*args).stdout.strip()


def role_binding(namespace: str, sa_namespace: str, sa: str) -> list[dict[str, Any]]:
    """A Role to watch cameras in ``namespace`` and a RoleBinding of it to a ServiceAccount."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "vas-viewer", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["vas.io"],
                    "resources": ["cameras", "cameragroups"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"vas-viewer-{sa}", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "vas-viewer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_namespace}],
        },
    ]


def run_browser(facade: FacadeProcess, token: str, play: str, shot: Path) -> dict[str, Any]:
    """Open the viewer in headless Chromium (Debian's, driven by playwright) with ``token``
    and play camera ``play`` ("namespace/name"); what the page ends up showing, and every URL
    the page requested (``urls``)."""
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=args)
        try:
            # bypass_csp: playwright's own wait_for_function evaluates strings, which the
            # viewer's Content-Security-Policy (rightly) forbids.
            page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
            urls: list[str] = []
            page.on("request", lambda request: urls.append(request.url))
            page.add_init_script(f"sessionStorage.setItem('vas-token', {token!r})")
            started = time.monotonic()
            page.goto(f"{facade.url}/?play={play}")
            page.wait_for_function(
                "window.vas && ['playing', 'forbidden', 'offline'].includes(window.vas.state)",
                timeout=30000,
            )
            result: dict[str, Any] = page.evaluate("""() => {
                const v = document.getElementById('video');
                return {state: window.vas.state, width: v.videoWidth, t: v.currentTime,
                        firstFrameMs: window.vas.firstFrameMs, errors: window.vas.errors,
                        message: document.getElementById('p-msg').textContent};
            }""")
            result["wallMs"] = round((time.monotonic() - started) * 1000)
            if result["state"] == "playing":
                page.wait_for_timeout(1500)
                result["t2"] = page.evaluate("document.getElementById('video').currentTime")
            page.screenshot(path=str(shot))
            result["urls"] = urls
            return result
        finally:
            browser.close()
