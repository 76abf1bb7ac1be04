"""``python -m vas_operator``: run the operator (the same as ``kopf run -m vas_operator.handlers``
with VAS's defaults), or print its help."""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vas_operator",
        description="VAS operator: reconciles Camera, CameraGroup and DiscoveryScan resources "
        "(group vas.io). Settings also come from VAS_* environment variables.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch this namespace (repeatable; globs allowed)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (default)"
    )
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from vas_core.memory import limit_arenas

    limit_arenas()  # before any thread starts
    import kopf

    import vas_operator.handlers  # noqa: F401  # registers the handlers

    kopf.configure(verbose=args.verbose)
    kopf.run(
        standalone=True,
        clusterwide=not args.namespaces,
        namespaces=args.namespaces or (),
        liveness_endpoint=args.liveness,
        # Our own watches (watched.py) use the same scope; the source policy refuses the
        # liveness port like every other VAS endpoint.
        memo=kopf.Memo(
            namespaces=tuple(args.namespaces or ()), liveness=args.liveness, verbose=args.verbose
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
