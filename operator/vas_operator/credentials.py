"""One path from a Secret to RTSP credentials, for cameras, thumbnails and scans.

A Secret is only usable when it opted in with ``type: vas.io/rtsp-credentials`` and holds the
fixed keys ``username`` and ``password``: a tenant who may write Cameras but not read Secrets
must not be able to make the operator send an unrelated Secret (a database password, a token)
to a host of their choosing. What will not heal until the Secret or the spec changes is a
``CredentialsError`` with a condition reason; a failing API server is a
``CredentialsUnavailable``, retried with backoff like any other transient failure.
"""

from __future__ import annotations

import base64
import binascii

from vas_core.kube import Kube, KubeError, core_path
from vas_core.names import CREDENTIALS_SECRET_TYPE, PASSWORD_KEY, USERNAME_KEY
from vas_operator.probe import Credentials

MAX_VALUE_BYTES = 1024  # an RTSP user name or password; anything longer is not one


class CredentialsError(Exception):
    """Permanent until the Secret or the spec changes."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class CredentialsUnavailable(Exception):
    """The Secret could not be read just now (API server error, timeout): retry."""


def from_secret(
    namespace: str, name: str, secret_type: str | None, data: dict[str, str]
) -> Credentials:
    """Credentials from a Secret's type and base64 data, or CredentialsError. Pure."""
    where = f"Secret {namespace}/{name}"
    if secret_type != CREDENTIALS_SECRET_TYPE:
        raise CredentialsError(
            "SecretNotOptedIn",
            f"{where} has type {secret_type or 'Opaque'}; only Secrets of type "
            f"{CREDENTIALS_SECRET_TYPE} can hold camera credentials",
        )
    missing = [k for k in (USERNAME_KEY, PASSWORD_KEY) if k not in data]
    if missing:
        raise CredentialsError("SecretKeyMissing", f"{where} has no key {', '.join(missing)}")
    values = []
    for key in (USERNAME_KEY, PASSWORD_KEY):
        if len(data[key]) > MAX_VALUE_BYTES * 4 // 3 + 4:
            raise CredentialsError("SecretInvalid", f"{where}: {key} is too long")
        try:
            values.append(base64.b64decode(data[key], validate=True).decode())
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError("SecretInvalid", f"{where}: {key} is not UTF-8 text") from None
    return Credentials(values[0], values[1])


async def read_credentials(api: Kube, namespace: str, name: str) -> Credentials:
    """Read the Secret now (never cached, never copied anywhere)."""
    try:
        secret = await api.get(core_path("secrets", namespace, name))
    except KubeError as error:
        if error.status == 404:
            raise CredentialsError(
                "SecretNotFound", f"Secret {namespace}/{name} does not exist"
            ) from None
        if error.status == 403:
            raise CredentialsError(
                "SecretForbidden", f"the operator may not read Secret {namespace}/{name}"
            ) from None
        raise CredentialsUnavailable(
            f"reading Secret {namespace}/{name} failed: {error.status or error.reason}"
        ) from None
    return from_secret(namespace, name, secret.get("type"), secret.get("data") or {})
