"""``python -m vas_operator.probe_worker CONCURRENCY``: run PyAV probes for the operator.

FFmpeg parses what cameras send, and tenants choose the cameras: a probe that crashes or hangs
must not take the operator with it. Probes also wait on the network most of the time, and
PyAV's deadline check takes the GIL again and again while it waits; beside the operator's busy
event loop that stretched a 120 ms probe to 700 ms (measured here), so they get a process of
their own, with nothing but probes in it.

The protocol is frames on stdin and stdout: a 4-byte big-endian length, then JSON. A request
is ``{"id", "url", "transport", "timeout", "thumbnail", "secrets"}`` (the URL carries the
credentials; ``secrets`` are redacted from any error text); the reply is ``{"id", "facts"}``
or ``{"id", "error": {"reason", "message", "retryable"}}``. The worker's environment holds
none of the operator's settings, and it ends when its stdin closes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from vas_core.memory import give_back, limit_arenas
from vas_operator.frames import json_frame, read_frame
from vas_operator.probe import ProbeError, _probe_blocking, classify

MAX_FRAME = 16 * 1024 * 1024  # a request is small; a reply carries at most one JPEG


def run(request: dict[str, Any]) -> dict[str, Any]:
    """One probe, its outcome as a reply; never raises."""
    timeout = float(request["timeout"])
    secrets = tuple(request.get("secrets") or ())
    started = time.monotonic()
    try:
        facts = _probe_blocking(
            request["url"], request["transport"], timeout, bool(request.get("thumbnail"))
        )
    except ProbeError as known:
        return {"id": request["id"], "error": dataclasses.asdict(known)}
    except Exception as error:
        failed = classify(error, time.monotonic() - started, timeout, bool(secrets), secrets)
        return {"id": request["id"], "error": dataclasses.asdict(failed)}
    out = dataclasses.asdict(facts)
    if facts.keyframe_jpeg is not None:
        out["keyframe_jpeg"] = base64.b64encode(facts.keyframe_jpeg).decode()
    return {"id": request["id"], "facts": out}


def serve(requests: BinaryIO, replies: BinaryIO, concurrency: int) -> None:
    lock = threading.Lock()
    running = [0]

    def answer(request: dict[str, Any]) -> None:
        reply = json_frame(run(request))
        with lock:
            replies.write(reply)
            replies.flush()
            running[0] -= 1
            if not running[0]:
                give_back()  # the last probe of a burst: FFmpeg's buffers go to the kernel

    with ThreadPoolExecutor(concurrency, thread_name_prefix="probe") as pool:
        while (raw := read_frame(requests, MAX_FRAME)) is not None:
            with lock:
                running[0] += 1
            pool.submit(answer, json.loads(raw))
        pool.shutdown(wait=False, cancel_futures=True)


def main() -> int:
    concurrency = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    limit_arenas()  # 32 probe threads would otherwise spread over 16 glibc arenas
    # Replies get a descriptor of their own; whatever a library prints goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, replies, concurrency)
    # Probes still running are abandoned: their operator is gone.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
