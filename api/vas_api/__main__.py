"""``python -m vas_api``: serve the read facade and the web viewer with uvicorn."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vas_api",
        description="VAS read facade: camera and group listings, live figures, thumbnails, "
        "metrics and the web viewer.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    args = parser.parse_args(argv)
    import logging

    import uvicorn

    # The facade's own messages at INFO; libraries (httpx logs request URLs) stay at WARNING.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
    own = logging.getLogger("vas_api")
    own.addHandler(handler)
    own.setLevel(logging.INFO)
    own.propagate = False

    uvicorn.run(
        "vas_api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        # Headers beyond 64 KiB are refused by the HTTP parser itself; up to that the app
        # refuses them (VAS_API_MAX_HEADER_BYTES) with its own error shape.
        http="h11",
        h11_max_incomplete_event_size=64 * 1024,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
