"""Length-prefixed frames on the pipes between the operator and its worker processes (probes,
sweeps): a 4-byte big-endian length, then the body. A reader names the largest body it
accepts, so a length past it is refused before anything is read. Imports nothing of the
operator: each worker loads it and little else."""

from __future__ import annotations

import json
import struct
from typing import IO, Any

HEADER = struct.Struct(">I")


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def json_frame(message: dict[str, Any]) -> bytes:
    return frame(json.dumps(message, separators=(",", ":")).encode())


def read_frame(stream: IO[bytes], max_size: int) -> bytes | None:
    """One frame's body, or None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    if size > max_size:
        raise ValueError(f"a frame of {size} bytes")
    body = stream.read(size)
    return body if len(body) == size else None
