"""A loopback TCP server that serves each connection in its own thread, with timeouts and a
cap on sessions: the shape of the virtual printer and of a chip reader served over TCP.

A client cannot hold the server hostage: a connection idle (or half-open: its peer gone
without closing) for ``idle_timeout`` seconds is closed, a reply the peer does not read
within the same time ends its session, a session that raises ends only itself, and
:meth:`LoopbackServer.stop` closes every connection and joins every session thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Self

# How often a waiting session looks at the stop flag.
_POLL = 0.1


class LoopbackServer:
    """Accepts connections on ``host:port`` (port 0 picks a free one) and hands each to
    :meth:`_session` in a thread of its own until stopped. At most ``max_sessions`` are
    served at once; a connection beyond them is closed at once. Use as a context manager."""

    def __init__(
        self,
        host: str,
        port: int,
        name: str,
        *,
        idle_timeout: float = 30.0,
        max_sessions: int = 64,
    ) -> None:
        if not idle_timeout > 0 or max_sessions < 1:
            raise ValueError("idle_timeout must be > 0 and max_sessions >= 1")
        self._server = socket.create_server((host, port))
        self._server.settimeout(_POLL)
        self._stop = threading.Event()
        self._name = name
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self._sessions: dict[threading.Thread, socket.socket] = {}
        self._sessions_lock = threading.Lock()
        self.refused = 0  # connections closed because max_sessions were being served
        self.session_errors: list[str] = []  # what ended sessions that raised (most recent 100)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops accepting, closes every connection and joins every session thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._server.close()
        with self._sessions_lock:
            sessions = dict(self._sessions)
        for conn in sessions.values():
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in sessions:
            thread.join()

    def threads(self) -> list[threading.Thread]:
        """The server's threads still alive: its accept loop and its sessions."""
        with self._sessions_lock:
            sessions = list(self._sessions)
        return [t for t in [self._thread, *sessions] if t.is_alive()]

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
            with self._sessions_lock:
                if len(self._sessions) >= self.max_sessions:
                    self.refused += 1
                    conn.close()
                    continue
                thread = threading.Thread(
                    target=self._run, args=(conn,), name=f"{self._name}-session", daemon=True
                )
                self._sessions[thread] = conn
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            with conn:
                self._session(conn)
        except Exception as err:  # one session's failure ends that session only
            with self._sessions_lock:
                self.session_errors = [*self.session_errors[-99:], repr(err)]
        finally:
            with self._sessions_lock:
                self._sessions.pop(threading.current_thread(), None)

    def _session(self, conn: socket.socket) -> None:
        raise NotImplementedError

    # -- for sessions ---------------------------------------------------------------------

    def _recv(self, conn: socket.socket, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` when the peer closed, the server stops, or nothing
        came for ``idle_timeout`` seconds."""
        deadline = time.monotonic() + self.idle_timeout
        conn.settimeout(_POLL)
        while not self._stop.is_set():
            try:
                return conn.recv(size)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return b""
            except OSError:
                return b""
        return b""

    def _recv_exact(self, conn: socket.socket, size: int) -> bytes | None:
        """Exactly ``size`` bytes, or ``None`` (closed, stopped or idle)."""
        data = b""
        while len(data) < size:
            part = self._recv(conn, size - len(data))
            if not part:
                return None
            data += part
        return data

    def _hang_up(self, conn: socket.socket, limit: int = 4 << 20) -> None:
        """Closes our side after a last reply, and reads what the peer still sends (up to
        ``limit`` bytes, for at most a second) so the reply is not lost to a reset: a socket
        closed with unread data resets the connection."""
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + min(1.0, self.idle_timeout)
        conn.settimeout(_POLL)
        while limit > 0 and time.monotonic() < deadline and not self._stop.is_set():
            try:
                part = conn.recv(min(limit, 1 << 16))
            except TimeoutError:
                continue
            except OSError:
                return
            if not part:
                return
            limit -= len(part)

    def _send(self, conn: socket.socket, data: bytes) -> bool:
        """Sends ``data`` within ``idle_timeout``; ``False`` when the peer is gone or does not
        read."""
        try:
            conn.settimeout(self.idle_timeout)
            conn.sendall(data)
        except OSError:
            return False
        return True
