"""A stand-in for a Janus gateway's Admin API, for benchmarks with more cameras than Janus
could carry on this machine (ten thousand mountpoints are ten thousand relay threads and RTSP
sessions): it keeps the mountpoints the operator creates in memory and lists them as receiving
media, and answers ``create``, ``destroy`` and ``list`` as Janus's streaming plugin does (the
same JSON, the same error codes). Nothing else; benchmarks that say so use it, tests never.

    .venv/bin/python -m bench.janus_stub --port 7088 --admin-secret S
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from aiohttp import web

NO_SUCH_MOUNTPOINT, MOUNTPOINT_EXISTS = 455, 456


class Stub:
    def __init__(self, admin_secret: str) -> None:
        self.admin_secret = admin_secret
        self.mountpoints: dict[int, dict[str, Any]] = {}

    def streaming(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = request.get("request")
        if kind == "list":
            return {"streaming": "list", "list": list(self.mountpoints.values())}
        mp_id = request.get("id")
        if not isinstance(mp_id, int):
            return {"error_code": 453, "error": "missing id"}
        if kind == "create":
            if mp_id in self.mountpoints:
                return {"error_code": MOUNTPOINT_EXISTS, "error": f"{mp_id} exists"}
            self.mountpoints[mp_id] = {
                "id": mp_id,
                "type": "live",
                "description": request.get("description", ""),
                "metadata": request.get("metadata", ""),
                "enabled": True,
                "media": [{"mid": "v", "type": "video", "age_ms": 40}],
            }
            return {"streaming": "created", "stream": {"id": mp_id}}
        if kind == "destroy":
            if self.mountpoints.pop(mp_id, None) is None:
                return {"error_code": NO_SUCH_MOUNTPOINT, "error": f"no such mountpoint {mp_id}"}
            return {"streaming": "destroyed", "id": mp_id}
        return {"error_code": 499, "error": f"unsupported request {kind}"}

    async def admin(self, request: web.Request) -> web.Response:
        body = await request.json()
        reply: dict[str, Any] = {"transaction": body.get("transaction")}
        if body.get("admin_secret") != self.admin_secret:
            reply |= {"janus": "error", "error": {"code": 403, "reason": "Unauthorized request"}}
        else:
            reply |= {"janus": "success", "response": self.streaming(body.get("request") or {})}
        return web.Response(text=json.dumps(reply), content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin-secret", required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/admin", Stub(args.admin_secret).admin)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
