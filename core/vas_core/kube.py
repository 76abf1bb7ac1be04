"""A small Kubernetes client on aiohttp, for both processes.

The operator and the facade make a dozen kinds of calls, all JSON: get, list, watch, create
and merge-patch. The generated ``kubernetes_asyncio`` client costs ~55 MB of resident memory
just to import (every model class), and Kopf imports it too when it is installed; this one
costs almost nothing. It is built on aiohttp (Kopf's own HTTP client) rather than httpx: on
this project's 2-core machine an httpx request cost 2.5-5 ms of client CPU against aiohttp's
0.3-0.5 ms, which at thousands of cameras was a core's worth of work. Configuration comes from
the pod's service account, or from ``$KUBECONFIG`` / ``~/.kube/config`` (token, client
certificate, CA or ``insecure-skip-tls-verify``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from multidict import CIMultiDict

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply; JSON is YAML
# Extra request headers, as pairs so a name may repeat (``Impersonate-Group``).
Headers = Sequence[tuple[str, str | bytes]]
# A watch event is one line; Kubernetes objects stay below ~1.5 MiB (etcd's request limit).
MAX_EVENT_BYTES = 16 * 1024 * 1024


class KubeError(Exception):
    """The API server refused (``status`` is its HTTP code) or could not be reached (None)."""

    def __init__(self, status: int | None, reason: str, message: str) -> None:
        super().__init__(f"{status or 'unreachable'} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def _query(params: dict[str, Any] | None) -> dict[str, str]:
    """Query parameters as the API server spells them (booleans in lower case), None left out."""
    out = {}
    for key, value in (params or {}).items():
        if value is not None:
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


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
        self._ssl = verify  # aiohttp: a context, True (system CAs) or False (no checks)
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """Made on first use, inside the event loop that uses it."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=64),
                json_serialize=json.dumps,
            )
        return self._session

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
        sent: CIMultiDict[str] = CIMultiDict(own)
        if headers:
            mine = {k.lower() for k in own} | {"authorization", "accept", "content-type"}
            for key, value in headers:
                if key.lower() not in mine:
                    sent.add(key, value.decode() if isinstance(value, bytes) else value)
        try:
            async with self._http().request(
                method,
                self.server + path,
                params=_query(params),
                data=content,
                headers=sent,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as answer:
                return _decode(answer.status, answer.reason or "", await answer.read())
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KubeError(None, type(error).__name__, str(error)) from None

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
        query = _query(params)
        query["watch"] = "true"
        idle = float(query.get("timeoutSeconds", 300)) + 30
        try:
            async with self._http().get(
                self.server + path,
                params=query,
                headers={**self._headers(), "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._timeout, sock_read=idle
                ),
            ) as answer:
                if answer.status >= 400:
                    _decode(answer.status, answer.reason or "", await answer.read())
                async for line in _lines(answer.content):
                    yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KubeError(None, type(error).__name__, str(error)) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            # Lets the connector's SSL transports finish closing (aiohttp's own advice).
            await asyncio.sleep(0)


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Non-empty lines, each at most MAX_EVENT_BYTES (aiohttp's own readline stops at 128 KiB,
    less than a large Secret)."""
    buffer = bytearray()
    async for chunk in stream.iter_any():
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if line.strip():
                yield line
        if len(buffer) > MAX_EVENT_BYTES:
            raise KubeError(None, "EventTooLarge", f"a watch event over {MAX_EVENT_BYTES} bytes")
    if buffer.strip():
        yield bytes(buffer)


def _decode(status: int, reason: str, raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if status >= 400:
        data = data if isinstance(data, dict) else {}
        raise KubeError(
            status,
            str(data.get("reason") or reason),
            str(data.get("message") or raw[:200].decode(errors="replace")),
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
