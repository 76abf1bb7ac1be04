"""Limits applied before any work: header and body sizes (ASGI middleware), and headers that
tell browsers to take every answer for exactly what it says it is."""

from __future__ import annotations

import json
import logging
from typing import Any

from vas_api.errors import ApiError, BadRequest, HeadersTooLarge, PayloadTooLarge

Scope = dict[str, Any]
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
CSP = (
    b"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    b"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)


class RequestLimits:
    """Refuses requests whose headers or body are too large before the app reads them; adds
    security headers to every answer."""

    def __init__(self, app: Any, *, max_body: int, max_header: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_header = max_header

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope.get("path") or ""
        viewer_page = path == "/" or path.startswith("/static/")

        async def send_secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if viewer_page and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP))
                message = {**message, "headers": headers}
            await send(message)

        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or [])
        refusal: ApiError | None = None
        length: int | None = None
        if size > self.max_header:
            refusal = HeadersTooLarge(f"request headers are larger than {self.max_header} bytes")
        else:
            for key, value in scope.get("headers") or []:
                if key == b"content-length":
                    if not value.isdigit() or len(value) > 18:
                        refusal = BadRequest("Content-Length is not a number")
                    else:
                        length = int(value)
            if length is not None and length > self.max_body:
                refusal = PayloadTooLarge(f"the body is larger than {self.max_body} bytes")
        if refusal is not None:
            await _answer(send_secured, refusal)
            return

        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise PayloadTooLarge(f"the body is larger than {self.max_body} bytes")
            return message

        await self.app(scope, limited_receive, send_secured)


async def _answer(send: Any, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HideQueryStrings(logging.Filter):
    """uvicorn's access log shows the path without its query string, so no handle or token
    that a client put there reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def hide_query_strings_in_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideQueryStrings) for f in access.filters):
        access.addFilter(HideQueryStrings())
