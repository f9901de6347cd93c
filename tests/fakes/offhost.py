"""A guard for real clients: they must make no connection off 127.0.0.1."""

from __future__ import annotations

import socket
import threading


class OffHostGuard:
    """A proxy that lets nothing through and remembers who asked: with HTTP(S)_PROXY pointing here and
    only loopback exempt, any connection a client tries to make elsewhere is recorded."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.attempts.append(connection.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._server.close()
