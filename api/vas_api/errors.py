"""One error base class for the facade; one exception handler in ``app.py`` renders it.

Every answer that is not a success has the shape ``{"error": {code, reason, message}}``.
Errors on the signalling path add Janus's own ``"janus": "error"`` and ``transaction`` keys,
so a Janus client (the viewer, janus.js) reads them as it reads errors from Janus itself.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """An answer a client gets instead of a success; ``reason`` is one CamelCase word."""

    code: int = 500
    reason: str = "InternalError"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "reason": self.reason, "message": self.message}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.code, headers=self.headers)


class BadRequest(ApiError):
    """A request a person got wrong; the message says how."""

    code, reason = 400, "BadRequest"


class Unauthenticated(ApiError):
    """No token, or a token the cluster does not accept."""

    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    """A known user without the permission."""

    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class PayloadTooLarge(ApiError):
    code, reason = 413, "PayloadTooLarge"


class Invalid(ApiError):
    """Parameters of the wrong type or out of range (what FastAPI calls a validation error)."""

    code, reason = 422, "Invalid"


class TooManyRequests(ApiError):
    code, reason = 429, "TooManyRequests"


class HeadersTooLarge(ApiError):
    code, reason = 431, "RequestHeaderFieldsTooLarge"


class BadGateway(ApiError):
    code, reason = 502, "BadGateway"


class Unavailable(ApiError):
    code, reason = 503, "ServiceUnavailable"


class SignallingError(ApiError):
    """Wraps another error for the Janus signalling path: same status and ``error`` object,
    plus ``"janus": "error"`` and the request's ``transaction``."""

    def __init__(self, cause: ApiError, transaction: str | None = None) -> None:
        super().__init__(cause.message, headers=cause.headers)
        self.cause = cause
        self.code, self.reason = cause.code, cause.reason
        self.transaction = transaction

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"janus": "error", **self.cause.body()}
        if self.transaction is not None:
            out["transaction"] = self.transaction
        return out


STATUS_ERRORS: dict[int, type[ApiError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        Invalid,
        TooManyRequests,
        HeadersTooLarge,
        BadGateway,
        Unavailable,
    )
}


def for_status(code: int, message: str) -> ApiError:
    """The facade's error for an HTTP status raised by the framework (404 route, 405)."""
    cls = STATUS_ERRORS.get(code)
    if cls is None:
        cls = BadRequest if 400 <= code < 500 else Unavailable
    return cls(message)
