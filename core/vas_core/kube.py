"""A small Kubernetes client on httpx, for both processes.

The operator and the facade make a dozen kinds of calls, all JSON: get, list, watch, create
and merge-patch. The generated ``kubernetes_asyncio`` client costs ~55 MB of resident memory
just to import (every model class), and Kopf imports it too when it is installed; this one
costs almost nothing. Configuration comes from the pod's service account, or from
``$KUBECONFIG`` / ``~/.kube/config`` (token, client certificate, CA or
``insecure-skip-tls-verify``).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply; JSON is YAML
# Extra request headers, as pairs so a name may repeat (``Impersonate-Group``).
Headers = Sequence[tuple[str, str | bytes]]


class KubeError(Exception):
    """The API server refused (``status`` is its HTTP code) or could not be reached (None)."""

    def __init__(self, status: int | None, reason: str, message: str) -> None:
        super().__init__(f"{status or 'unreachable'} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class Kube:
    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.server = server.rstrip("/")
        self._token = token
        self._token_file = token_file
        self._token_read = 0.0
        self._http = httpx.AsyncClient(
            base_url=self.server, verify=verify, timeout=httpx.Timeout(timeout, read=None)
        )
        self._timeout = timeout

    def _headers(self) -> dict[str, str]:
        # A projected service-account token rotates: read it again every minute.
        if self._token_file is not None and time.monotonic() - self._token_read > 60:
            self._token = self._token_file.read_text().strip()
            self._token_read = time.monotonic()
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        headers: Headers | None = None,
    ) -> dict[str, Any]:
        """``headers`` are sent besides the client's own (e.g. impersonation); they may not
        replace Authorization, Accept or Content-Type."""
        own = {**self._headers(), "Accept": "application/json"}
        content = None
        if body is not None:
            own["Content-Type"] = content_type
            content = json.dumps(body).encode()
        pairs: list[tuple[str, str | bytes]] = list(own.items())
        if headers:
            mine = {k.lower() for k in own} | {"authorization", "accept", "content-type"}
            pairs += [(k, v) for k, v in headers if k.lower() not in mine]
        sent = [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in pairs]
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            answer = await self._http.request(
                method,
                path,
                params=clean,
                content=content,
                headers=sent,
                timeout=self._timeout,
            )
        except httpx.HTTPError as error:
            raise KubeError(None, type(error).__name__, str(error)) from None
        return _decode(answer)

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def create(
        self, path: str, body: dict[str, Any], *, headers: Headers | None = None
    ) -> dict[str, Any]:
        return await self.request("POST", path, body=body, headers=headers)

    async def merge_patch(
        self, path: str, body: dict[str, Any], *, headers: Headers | None = None
    ) -> dict[str, Any]:
        return await self.request(
            "PATCH", path, body=body, content_type=MERGE_PATCH, headers=headers
        )

    async def watch(self, path: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Watch events (``{"type", "object"}``) until the server ends the stream."""
        clean = {k: v for k, v in params.items() if v is not None}
        clean["watch"] = "true"
        try:
            async with self._http.stream(
                "GET",
                path,
                params=clean,
                headers=self._headers(),
                timeout=httpx.Timeout(
                    self._timeout, read=float(clean.get("timeoutSeconds", 300)) + 30
                ),
            ) as answer:
                if answer.status_code >= 400:
                    await answer.aread()
                    _decode(answer)
                async for line in answer.aiter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.HTTPError as error:
            raise KubeError(None, type(error).__name__, str(error)) from None

    async def close(self) -> None:
        await self._http.aclose()


def _decode(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if answer.status_code >= 400:
        data = data if isinstance(data, dict) else {}
        raise KubeError(
            answer.status_code,
            str(data.get("reason") or answer.reason_phrase),
            str(data.get("message") or answer.text[:200]),
        )
    return data if isinstance(data, dict) else {}


def _material(entry: dict[str, Any], key: str, workdir: Path) -> str | None:
    """A kubeconfig file reference or inline ``-data`` as a path ssl can load."""
    if entry.get(key):
        return str(entry[key])
    if entry.get(f"{key}-data"):
        path = workdir / key
        path.write_bytes(base64.b64decode(entry[f"{key}-data"]))
        return str(path)
    return None


def from_kubeconfig(path: Path) -> Kube:
    config = yaml.safe_load(path.read_text())
    context_name = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(
        (u.get("user") or {} for u in config.get("users") or [] if u["name"] == context["user"]),
        {},
    )
    verify: ssl.SSLContext | bool = True
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ca = _material(cluster, "certificate-authority", workdir)
        if cluster.get("insecure-skip-tls-verify"):
            verify = False
        elif cluster["server"].startswith("https"):
            verify = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        cert = _material(user, "client-certificate", workdir)
        key = _material(user, "client-key", workdir)
        if cert and key:
            if not isinstance(verify, ssl.SSLContext):
                verify = ssl.create_default_context()
                if cluster.get("insecure-skip-tls-verify"):
                    verify.check_hostname = False
                    verify.verify_mode = ssl.CERT_NONE
            verify.load_cert_chain(cert, key)  # read now: the files go with the directory
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    return Kube(cluster["server"], token=token, verify=verify)


def from_service_account(root: Path = SERVICE_ACCOUNT) -> Kube:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    verify = ssl.create_default_context(cafile=str(root / "ca.crt"))
    return Kube(server, token_file=root / "token", verify=verify)


def api_client() -> Kube:
    """In a pod: the service account; elsewhere: $KUBECONFIG or ~/.kube/config."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT / "token").exists():
        return from_service_account()
    path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    return from_kubeconfig(Path(path).expanduser())


def custom_path(
    group: str, version: str, plural: str, namespace: str | None = None, name: str = ""
) -> str:
    """The REST path of custom objects (all namespaces when ``namespace`` is None)."""
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{group}/{version}{where}/{plural}" + (f"/{name}" if name else "")


def core_path(plural: str, namespace: str | None = None, name: str = "") -> str:
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"/api/v1{where}/{plural}" + (f"/{name}" if name else "")
