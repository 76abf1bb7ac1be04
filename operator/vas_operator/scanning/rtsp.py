"""Is there an RTSP camera on this open port, at which paths, and which credentials open it?

A real RTSP exchange (OPTIONS, then DESCRIBE per candidate path): an open port that is not
RTSP is not a camera. 200 means a stream; 401 means a stream behind credentials, which are
tried with Basic and Digest. Results name the Secret that worked, never the password.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass

USER_AGENT = "vas-discovery/0.1"
_STATUS = re.compile(rb"^RTSP/1\.\d (\d{3})")


@dataclass(frozen=True)
class Candidate:
    """Credentials to try, known to the caller by the Secret they came from."""

    secret_name: str
    username: str
    password: str

    def __repr__(self) -> str:
        return f"Candidate({self.secret_name!r}, {self.username!r}, '***')"


@dataclass(frozen=True)
class Stream:
    address: str
    port: int
    path: str
    auth_required: bool
    credentials_secret: str | None
    server: str | None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]


class RtspSession:
    """One TCP connection speaking RTSP/1.0 requests in turn."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.cseq = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RtspSession:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"rtsp://{host}:{self.port}{path}"

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> Reply:
        if self.reader is None or self.writer is None:
            raise RuntimeError("use RtspSession as an async context manager")
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        return await asyncio.wait_for(self._read_reply(), self.timeout)

    async def _read_reply(self) -> Reply:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = _STATUS.match(head)
        if not status:
            raise ValueError("not an RTSP reply")
        headers: dict[str, str] = {}
        for line in head.decode(errors="replace").split("\r\n")[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers.setdefault(key.strip().lower(), value.strip())
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await self.reader.readexactly(min(length, 1 << 20))
        return Reply(int(status.group(1)), headers)


def authorization(challenge: str, method: str, url: str, cand: Candidate) -> str:
    """The Authorization header answering a WWW-Authenticate challenge (Basic or Digest)."""
    if challenge.lower().startswith("digest"):
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge[6:]))
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        ha1 = hashlib.md5(f"{cand.username}:{realm}:{cand.password}".encode()).hexdigest()  # noqa: S324  (RFC 2617)
        ha2 = hashlib.md5(f"{method}:{url}".encode()).hexdigest()  # noqa: S324
        if "auth" in params.get("qop", "").split(","):
            cnonce, nc = secrets.token_hex(8), "00000001"
            response = hashlib.md5(  # noqa: S324
                f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()
            ).hexdigest()
            return (
                f'Digest username="{cand.username}", realm="{realm}", nonce="{nonce}", '
                f'uri="{url}", qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}"'
            )
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
        return (
            f'Digest username="{cand.username}", realm="{realm}", nonce="{nonce}", '
            f'uri="{url}", response="{response}"'
        )
    token = base64.b64encode(f"{cand.username}:{cand.password}".encode()).decode()
    return f"Basic {token}"


async def confirm(
    host: str, port: int, paths: list[str], candidates: list[Candidate], answer_timeout: float
) -> list[Stream]:
    """The RTSP streams at this endpoint; [] when it does not speak RTSP or has none.
    ``answer_timeout`` bounds the connect and each RTSP answer."""
    try:
        async with RtspSession(host, port, answer_timeout) as rtsp:
            options = await rtsp.request("OPTIONS", rtsp.url("/"))
            server = options.headers.get("server")
            found = []
            for path in paths:
                url = rtsp.url(path)
                reply = await rtsp.request("DESCRIBE", url, {"Accept": "application/sdp"})
                server = server or reply.headers.get("server")
                if reply.status == 200:
                    found.append(Stream(host, port, path, False, None, server))
                elif reply.status == 401:
                    challenge = reply.headers.get("www-authenticate", "Basic")
                    worked = None
                    for cand in candidates:
                        answer = await rtsp.request(
                            "DESCRIBE",
                            url,
                            {
                                "Accept": "application/sdp",
                                "Authorization": authorization(challenge, "DESCRIBE", url, cand),
                            },
                        )
                        if answer.status == 200:
                            worked = cand.secret_name
                            break
                    found.append(Stream(host, port, path, True, worked, server))
            return found
    except (
        OSError,
        ValueError,
        TimeoutError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
    ):
        return []
