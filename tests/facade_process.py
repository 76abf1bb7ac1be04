"""Run the real facade (``python -m vas_api``) as a subprocess against the test cluster, and
what the facade tests share: viewer Roles, audience-bound tokens, a headless Chromium viewer,
and a round-robin proxy in front of several facade replicas."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import httpx

from tests.media.fixtures import stop_pid
from tests.support import Cluster, free_port, wait_serving

# Headless Chromium for a viewer on this machine: Janus at 127.0.0.1 (with the loopback ICE
# shim) is reachable only with loopback candidates allowed.
CHROMIUM_ARGS = [
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


@dataclass
class FacadeProcess:
    cluster: Cluster
    log_path: Path
    redis_url: str
    gateway_namespace: str  # where the gateway pods are (``tests.support.pool_settings``)
    gateway_selector: str
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
            "VAS_API_GATEWAY_NAMESPACE": self.gateway_namespace,
            "VAS_API_GATEWAY_SELECTOR": self.gateway_selector,
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


VIEWER_VERBS = ("get", "list", "watch")


def role_binding(
    namespace: str,
    sa_namespace: str,
    sa: str,
    subject: dict[str, str] | None = None,
    role: str = "vas-viewer",
    verbs: tuple[str, ...] = VIEWER_VERBS,
) -> list[dict[str, Any]]:
    """A Role ``role`` with ``verbs`` (by default: watch) on cameras and groups in
    ``namespace``, and a RoleBinding of it to a ServiceAccount (or to ``subject``, e.g. every
    ServiceAccount of a namespace as a Group)."""
    subject = subject or {"kind": "ServiceAccount", "name": sa, "namespace": sa_namespace}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role, "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["vas.io"],
                    "resources": ["cameras", "cameragroups"],
                    "verbs": list(verbs),
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{role}-{sa}", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [subject],
        },
    ]


def add_viewer(cluster: Cluster, namespace: str, sa: str = "viewer") -> None:
    """A ServiceAccount ``sa`` in ``namespace`` that may watch the cameras there."""
    cluster.kubectl("create", "serviceaccount", sa, "-n", namespace)
    items = role_binding(namespace, namespace, sa)
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": items})


class Served(Protocol):
    """Anything a browser can open: a facade, or a proxy in front of several."""

    @property
    def url(self) -> str: ...


def run_browser(
    facade: Served,
    token: str,
    play: str,
    shot: Path,
    while_playing: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Open the viewer in headless Chromium (Debian's, driven by playwright) with ``token``
    and play camera ``play`` ("namespace/name"); what the page ends up showing, and every URL
    the page requested (``urls``). Once it plays, ``while_playing(page)`` runs with the page
    still open and its answer is ``result["while_playing"]``; the page's player events
    (``window.vas.events``) are ``result["events"]``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
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
                if while_playing is not None:
                    result["while_playing"] = while_playing(page)
            result["events"] = page.evaluate("window.vas.events")
            page.screenshot(path=str(shot))
            result["urls"] = urls
            return result
        finally:
            browser.close()


HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "content-length",
    "content-encoding",
    "host",
    "accept-encoding",
}


class RoundRobinProxy:
    """An HTTP reverse proxy in front of several facade replicas, as a load balancer without
    affinity would be: each request goes to the next replica in turn. ``served`` counts, per
    replica, the signalling requests (grants and Janus requests) it was sent."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.served = dict.fromkeys(backends, 0)
        self._turn = itertools.count()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    backend = proxy.backends[next(proxy._turn) % len(proxy.backends)]
                    if "/gateway/" in self.path or self.path.endswith("/signalling"):
                        proxy.served[backend] += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    upstream = httpx.request(
                        self.command,
                        backend + self.path,
                        headers=headers,
                        content=body,
                        timeout=httpx.Timeout(10, read=70),
                    )
                except httpx.HTTPError:
                    self.send_error(502)
                    return
                try:
                    self.send_response(upstream.status_code)
                    for key, value in upstream.headers.multi_items():
                        if key.lower() not in HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(upstream.content)))
                    self.end_headers()
                    self.wfile.write(upstream.content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser went away (page closed mid long-poll)

            do_GET = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RoundRobinProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
