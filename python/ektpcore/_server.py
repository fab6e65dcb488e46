"""A loopback TCP server run by one thread, one client at a time: the shape of the virtual
printer and of a chip reader served over TCP."""

from __future__ import annotations

import socket
import threading
from typing import Self


class LoopbackServer:
    """Accepts connections on ``host:port`` (port 0 picks a free one) and hands each to
    :meth:`_session` until stopped. Use as a context manager."""

    def __init__(self, host: str, port: int, name: str) -> None:
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        raise NotImplementedError
