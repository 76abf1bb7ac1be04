"""Keep passwords out of everything a person or a log collector can read.

FFmpeg's errors (and so PyAV's) repeat the whole URL, userinfo included; every message that
may have touched a credential passes through here before it reaches status, events or logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
MASK = "***"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    # Known secrets first: a raw password may itself contain '@' or '/'.
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, MASK)
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
