"""A real TCP listener on loopback that records every connection and every byte, so a test
checks "never sent" where it would have arrived."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Connection:
    data: bytearray = field(default_factory=bytearray)

    def requests(self) -> list[str]:
        return [r for r in bytes(self.data).decode(errors="replace").split("\r\n\r\n") if r]


class Recorder:
    """A TCP listener that records every connection and every byte. ``answer`` turns one
    received request head (and the connection's history) into a reply, or None for silence."""

    def __init__(
        self, address: str, port: int, answer: Callable[[str], bytes | None] | None = None
    ) -> None:
        self.address, self.port, self.answer = address, port, answer
        self.connections: list[Connection] = []
        self.sock = socket.create_server((address, port))
        self.threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            record = Connection()
            self.connections.append(record)
            thread = threading.Thread(target=self._serve, args=(conn, record), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, conn: socket.socket, record: Connection) -> None:
        pending = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                record.data += chunk
                pending += chunk
                while b"\r\n\r\n" in pending and self.answer is not None:
                    head, pending = pending.split(b"\r\n\r\n", 1)
                    reply = self.answer(head.decode(errors="replace"))
                    if reply is None:
                        continue
                    try:
                        conn.sendall(reply)
                    except OSError:
                        return

    def received(self) -> bytes:
        return b"".join(bytes(c.data) for c in self.connections)

    def close(self) -> None:
        self.sock.close()
