"""Validation rules that OpenAPI alone cannot express.

Each rule exists twice on purpose: as a CEL expression the API server evaluates (so bad YAML
is refused at ``kubectl apply`` time), and as a Python check the models run (so the operator
never acts on an object that slipped past an older CRD). Both carry the same message, and the
bad-input tests feed every case to both.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Rule:
    """A CEL rule with its message, rendered into ``x-kubernetes-validations``."""

    cel: str
    message: str

    def schema(self) -> dict[str, Any]:
        return {"rule": self.cel, "message": self.message}


def validations(*rules: Rule) -> dict[str, Any]:
    """``json_schema_extra`` for a field or model that carries CEL rules."""
    return {"x-kubernetes-validations": [r.schema() for r in rules]}


URL_SCHEME = Rule(
    "isURL(self) && url(self).getScheme() in ['rtsp', 'rtsps']",
    "must be an rtsp:// or rtsps:// URL, such as rtsp://camera.example:554/stream1",
)
URL_NO_USERINFO = Rule(
    "!self.matches('^[^:/?#]+://[^/?#]*@')",
    "must not carry user:password; store credentials in a Secret and name it in "
    "source.credentialsSecretRef",
)
URL_HOST = Rule(
    "!isURL(self) || url(self).getHostname() != ''",
    "must name a host, such as rtsp://192.168.1.20/stream1",
)
# CEL's cost estimator cannot bound url(self).getPort(), so the port is matched in the string.
_AUTHORITY = r"^[^:/?#]+://([^/?#@]*@)?(\\[[^]/?#]*\\]|[^:/?#@\\[]*)"
_PORT_1_65535 = (
    r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
)
URL_PORT = Rule(
    f"!self.matches('{_AUTHORITY}:[^/?#@]*([/?#].*)?$') || "
    f"self.matches('{_AUTHORITY}(:{_PORT_1_65535}?)?([/?#].*)?$')",
    "port must be between 1 and 65535",
)
SNAPSHOT_INTERVAL = Rule(
    "self == 0 || self >= 5",
    "must be 0 (no thumbnails) or at least 5 seconds",
)
SCAN_CIDR = Rule(
    "isCIDR(self) || isIP(self)",
    "must be an IP address or a CIDR such as 192.168.1.0/24",
)
SCAN_CIDR_SIZE = Rule(
    "!isCIDR(self) || (cidr(self).ip().family() == 4 ? cidr(self).prefixLength() >= 16 : "
    "cidr(self).prefixLength() >= 112)",
    "may cover at most 65536 addresses: an IPv4 prefix of /16 or longer, IPv6 /112 or longer",
)
SCAN_PATH = Rule(
    "self.startsWith('/') && !self.contains(' ') && !self.contains('@')",
    "must be an RTSP path starting with /, without spaces",
)
# A path goes into the RTSP request line: CR/LF would start a new header (or request), a
# space would end the URI. Only printable ASCII; anything else must be percent-encoded.
SCAN_PATH_CHARACTERS = Rule(
    "self.matches('^[!-~]*$')",
    "must be printable ASCII without spaces or control characters such as CR, LF or tab; "
    "percent-encode anything else",
)
SUBSTREAM_PATH_KEYS = Rule(
    "self.all(k, size(k) <= 256 && k.startsWith('/') && k.matches('^[!-~]*$') && !k.contains('@'))",
    "keys must be RTSP paths starting with /, printable ASCII without spaces or @, at most "
    "256 characters",
)
SELECTOR_VALUES = Rule(
    "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : "
    "(!has(self.values) || size(self.values) == 0)",
    "values must be set for In and NotIn, and left empty for Exists and DoesNotExist",
)

_USERINFO = re.compile(r"^[^:/?#]+://[^/?#]*@")
_SCAN_PATH_BAD = re.compile(r"[ @]")
_SCAN_PATH_CHARACTERS = re.compile(r"[!-~]*")


def check_rtsp_url(value: str) -> str:
    """Python twin of the URL rules; raises ValueError with the CEL message."""
    if _USERINFO.match(value):
        raise ValueError(URL_NO_USERINFO.message)
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in ("rtsp", "rtsps") or not value.lower().startswith(f"{scheme}://"):
        raise ValueError(URL_SCHEME.message)
    if not parts.hostname:
        raise ValueError(URL_HOST.message)
    port = parts.netloc.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in parts.netloc else ""
    if port and not (port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
        raise ValueError(URL_PORT.message)
    return value


def check_snapshot_interval(value: int) -> int:
    if value != 0 and value < 5:
        raise ValueError(SNAPSHOT_INTERVAL.message)
    return value


def check_scan_target(value: str) -> str:
    """Python twin of the target rules: an address or a CIDR no larger than 65536 addresses."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(SCAN_CIDR.message) from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        raise ValueError(SCAN_CIDR.message)  # as the API server's isIP/isCIDR refuse them
    if "/" in value and network.max_prefixlen - network.prefixlen > 16:
        raise ValueError(SCAN_CIDR_SIZE.message)
    return value


def check_scan_path(value: str) -> str:
    """Python twin of the path rules: an RTSP path that cannot break out of a request line."""
    if not _SCAN_PATH_CHARACTERS.fullmatch(value):
        raise ValueError(SCAN_PATH_CHARACTERS.message)
    if not value.startswith("/") or _SCAN_PATH_BAD.search(value):
        raise ValueError(SCAN_PATH.message)
    return value


def check_selector_values(operator: str, values: list[str] | None) -> None:
    if (operator in ("In", "NotIn")) != bool(values):
        raise ValueError(SELECTOR_VALUES.message)
