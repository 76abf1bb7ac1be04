"""Is there an RTSP camera on this open port, at which paths, and which credentials open it?

A real RTSP exchange (OPTIONS, then DESCRIBE per candidate path): an open port that is not
RTSP is not a camera. 200 means a stream; 401 means a stream behind credentials. Credentials
are only ever sent as the answer to the camera's own challenge: never on a first request,
Digest whenever the camera offers it, Basic only when Basic is all it offers, nothing for a
scheme we do not know. Results name the Secret that worked, never the password.

Everything read from a scanned host is bounded (reply head, header count, body), and nothing
goes into a request line or header that could break out of it: a scanned host is untrusted,
and so are the paths and Secrets a tenant names.
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
MAX_HEAD_BYTES = 16 * 1024  # status line and headers of one reply
MAX_HEADERS = 64
MAX_BODY_BYTES = 64 * 1024  # an SDP is a few hundred bytes; more is not a camera we want
MAX_CHALLENGES = 8
_STATUS = re.compile(rb"^RTSP/1\.\d (\d{3})")
# What may stand in a request line: printable ASCII without spaces (an RTSP URI).
_URI = re.compile(r"[!-~]+")
# Header values we write: printable ASCII and spaces, no CR/LF or other controls.
_HEADER_VALUE = re.compile(r"[ -~]*")
# A Digest challenge parameter we echo back: quoted-string content without quotes/backslashes.
_PARAM_VALUE = re.compile(r"[ !#-\[\]-~]*")
_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)=(?:"([^"]*)"|([^\s,"]*))')


class UnsafeRequest(ValueError):
    """A value that would change the meaning of an RTSP request; never sent."""


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
    challenges: list[str]


def check_uri(uri: str) -> str:
    """An RTSP request URI, or UnsafeRequest: printable ASCII, no spaces, no controls."""
    if not _URI.fullmatch(uri):
        raise UnsafeRequest("an RTSP request URI must be printable ASCII without spaces")
    return uri


def _check_header(name: str, value: str) -> None:
    if not _HEADER_VALUE.fullmatch(value) or not _URI.fullmatch(name) or ":" in name:
        raise UnsafeRequest(f"header {name} carries characters that cannot be sent")


class RtspSession:
    """One TCP connection speaking RTSP/1.0 requests in turn."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.cseq = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RtspSession:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=MAX_HEAD_BYTES), self.timeout
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return check_uri(f"rtsp://{host}:{self.port}{path}")

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> Reply:
        if self.reader is None or self.writer is None:
            raise RuntimeError("use RtspSession as an async context manager")
        check_uri(method)
        check_uri(url)
        for key, value in (headers or {}).items():
            _check_header(key, value)
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        await self.writer.drain()
        return await asyncio.wait_for(self._read_reply(), self.timeout)

    async def _read_reply(self) -> Reply:
        assert self.reader is not None
        # The reader's limit bounds the head: a longer one raises LimitOverrunError.
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = _STATUS.match(head)
        if not status:
            raise ValueError("not an RTSP reply")
        lines = head.decode(errors="replace").split("\r\n")[1:]
        if len(lines) > MAX_HEADERS + 2:
            raise ValueError("too many headers")
        headers: dict[str, str] = {}
        challenges: list[str] = []
        for line in lines:
            if ":" in line:
                key, value = line.split(":", 1)
                key, value = key.strip().lower(), value.strip()
                headers.setdefault(key, value)
                if key == "www-authenticate" and len(challenges) < MAX_CHALLENGES:
                    challenges.append(value)
        length = headers.get("content-length", "0").strip() or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise ValueError("reply body missing a valid length or too large")
        if int(length):
            await self.reader.readexactly(int(length))
        return Reply(int(status.group(1)), headers, challenges)


def choose_challenge(challenges: list[str]) -> str | None:
    """The challenge to answer: Digest when offered, else Basic, else none (unknown schemes
    and a 401 without any challenge get no credentials at all)."""
    for scheme in ("digest", "basic"):
        for challenge in challenges:
            if challenge and challenge.split(None, 1)[0].lower() == scheme:
                return challenge
    return None


def authorization(challenge: str, method: str, url: str, cand: Candidate) -> str:
    """The Authorization header answering one WWW-Authenticate challenge (Basic or Digest).
    Raises UnsafeRequest when the challenge or the credentials cannot be put in a header."""
    scheme = challenge.split(None, 1)[0].lower() if challenge else ""
    if scheme == "digest":
        params: dict[str, str] = {}
        for key, quoted, bare in _PARAM.findall(challenge[6:]):
            params.setdefault(key.lower(), quoted or bare)
        for value in params.values():
            if not _PARAM_VALUE.fullmatch(value):
                raise UnsafeRequest("the Digest challenge carries characters we will not echo")
        if not _PARAM_VALUE.fullmatch(cand.username):
            raise UnsafeRequest("the user name cannot be sent in a Digest header")
        algorithm = params.get("algorithm", "MD5")
        if algorithm.upper() != "MD5":
            raise UnsafeRequest(f"Digest algorithm {algorithm} is not supported")
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        ha1 = hashlib.md5(f"{cand.username}:{realm}:{cand.password}".encode()).hexdigest()  # noqa: S324  (RFC 2617)
        ha2 = hashlib.md5(f"{method}:{url}".encode()).hexdigest()  # noqa: S324
        opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
        if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
            cnonce, nc = secrets.token_hex(8), "00000001"
            response = hashlib.md5(  # noqa: S324
                f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()
            ).hexdigest()
            return (
                f'Digest username="{cand.username}", realm="{realm}", nonce="{nonce}", '
                f'uri="{url}", qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}"'
                f"{opaque}"
            )
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
        return (
            f'Digest username="{cand.username}", realm="{realm}", nonce="{nonce}", '
            f'uri="{url}", response="{response}"{opaque}'
        )
    if scheme == "basic":
        if ":" in cand.username:
            raise UnsafeRequest("a Basic user name cannot contain ':'")
        token = base64.b64encode(f"{cand.username}:{cand.password}".encode()).decode()
        return f"Basic {token}"
    raise UnsafeRequest(f"authentication scheme {scheme or '(none)'} is not supported")


async def _describe_with(
    rtsp: RtspSession, url: str, challenges: list[str], cand: Candidate
) -> tuple[bool, list[str]]:
    """One DESCRIBE answering the latest challenge with one candidate: (opened, challenges
    of the answer). A candidate that cannot be sent safely is skipped."""
    challenge = choose_challenge(challenges)
    if challenge is None:
        return False, challenges
    try:
        header = authorization(challenge, "DESCRIBE", url, cand)
    except UnsafeRequest:
        return False, challenges
    answer = await rtsp.request(
        "DESCRIBE", url, {"Accept": "application/sdp", "Authorization": header}
    )
    return answer.status == 200, answer.challenges or challenges


async def _confirm(
    host: str, port: int, paths: list[str], candidates: list[Candidate], answer_timeout: float
) -> list[Stream]:
    async with RtspSession(host, port, answer_timeout) as rtsp:
        options = await rtsp.request("OPTIONS", rtsp.url("/"))
        server = options.headers.get("server")
        found = []
        for path in paths:
            try:
                url = rtsp.url(path)
            except UnsafeRequest:
                continue  # never sent (the API server refuses such paths already)
            reply = await rtsp.request("DESCRIBE", url, {"Accept": "application/sdp"})
            server = server or reply.headers.get("server")
            if reply.status == 200:
                found.append(Stream(host, port, path, False, None, server))
            elif reply.status == 401:
                worked = None
                challenges = reply.challenges
                for cand in candidates:
                    opened, challenges = await _describe_with(rtsp, url, challenges, cand)
                    if opened:
                        worked = cand.secret_name
                        break
                found.append(Stream(host, port, path, True, worked, server))
        return found


def budget(paths: int, candidates: int, answer_timeout: float) -> float:
    """How long one endpoint may take in all: every request at its timeout, capped at 5 min,
    so a host that answers slowly cannot hold a confirmation slot for hours."""
    return min(answer_timeout * (2 + paths * (1 + candidates)), 300.0)


async def confirm(
    host: str, port: int, paths: list[str], candidates: list[Candidate], answer_timeout: float
) -> list[Stream]:
    """The RTSP streams at this endpoint; [] when it does not speak RTSP or has none.
    ``answer_timeout`` bounds the connect and each RTSP answer; ``budget`` the whole."""
    try:
        return await asyncio.wait_for(
            _confirm(host, port, paths, candidates, answer_timeout),
            budget(len(paths), len(candidates), answer_timeout),
        )
    except (
        OSError,
        ValueError,
        TimeoutError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
    ):
        return []
