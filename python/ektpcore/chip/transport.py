"""Reaching a chip: the :class:`ChipTransport` interface, :class:`ChipChannel` (the T=0
habits of ``61xx`` and ``6Cxx`` handled once, for every caller), :class:`PcscTransport` for a
PC/SC reader through pyscard (the ``pcsc`` extra), and a reader shared over TCP
(:class:`ChipServer` serves any transport, :class:`TcpChipTransport` reaches it) so a station
can use an encoder attached to another process or machine.

The TCP framing is a 2-byte big-endian length and the bytes, one APDU per request and one
answer per reply; an empty reply means the device behind the server did not answer.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading
from typing import Any, Protocol, runtime_checkable

from .._server import LoopbackServer
from ..errors import ChipConnectionError
from .codec import CommandApdu, ResponseApdu

__all__ = ["ChipChannel", "ChipServer", "ChipTransport", "PcscTransport", "TcpChipTransport"]

#: PC/SC's pseudo-APDU for the card's UID (answered by the reader, not the card).
GET_UID = bytes.fromhex("FFCA000000")


@runtime_checkable
class ChipTransport(Protocol):
    """Sends one APDU and returns the raw answer (data and status word); raises
    :class:`~ektpcore.errors.ChipConnectionError` when nothing answers."""

    def transmit(self, apdu: bytes) -> bytes: ...


class ChipChannel:
    """A transport plus the exchange rules every caller needs: a ``61xx`` answer is
    followed by GET RESPONSE until the data is complete; a ``6Cxx`` answer (wrong Le) is
    resent once with Le = xx. Counts the APDUs sent."""

    def __init__(self, transport: ChipTransport) -> None:
        self.transport = transport
        self.sent = 0

    def _send(self, apdu: bytes) -> bytes:
        self.sent += 1
        answer = self.transport.transmit(apdu)
        if len(answer) < 2:
            raise ChipConnectionError(f"the chip answered {len(answer)} bytes, not a status word")
        return answer

    def transmit(self, apdu: bytes) -> bytes:
        answer = self._send(apdu)
        if answer[-2] == 0x6C:
            # Wrong Le: the exact length is in SW2; the command goes again once with it.
            cmd = CommandApdu.parse(apdu)
            answer = self._send(bytes(dataclasses.replace(cmd, ne=answer[-1] or 256)))
        data = bytearray()
        while answer[-2] == 0x61:
            data += answer[:-2]
            answer = self._send(bytes(CommandApdu(0x00, 0xC0, 0x00, 0x00, ne=answer[-1] or 256)))
        return bytes(data) + answer

    def command(self, apdu: CommandApdu, what: str) -> ResponseApdu:
        """Sends a plain command and checks for ``9000``."""
        return ResponseApdu.parse(self.transmit(bytes(apdu))).check(what)

    def uid(self) -> bytes:
        """The chip's UID as the reader reports it."""
        return ResponseApdu.parse(self.transmit(GET_UID)).check("GET UID").data


class PcscTransport:
    """A PC/SC reader (``pip install 'ektpcore[pcsc]'``): ``reader`` is a reader's name, a
    part of it, or an index into the reader list. Use as a context manager."""

    def __init__(self, reader: str | int = 0) -> None:
        try:
            from smartcard.System import readers  # type: ignore[import-not-found]
        except ImportError:
            raise ChipConnectionError("PC/SC needs pyscard: pip install 'ektpcore[pcsc]'") from None
        found = readers()
        if isinstance(reader, int):
            if reader >= len(found):
                raise ChipConnectionError(f"no PC/SC reader {reader} ({len(found)} found)")
            chosen = found[reader]
        else:
            named = [r for r in found if reader in str(r)]
            if not named:
                raise ChipConnectionError(f"no PC/SC reader named like {reader!r}")
            chosen = named[0]
        self.name = str(chosen)
        self._connection: Any = chosen.createConnection()
        try:
            self._connection.connect()
        except Exception as err:  # pyscard raises its own exception types
            raise ChipConnectionError(f"{self.name}: {err}") from None

    def transmit(self, apdu: bytes) -> bytes:
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except Exception as err:
            raise ChipConnectionError(f"{self.name}: {err}") from None
        return bytes(data) + bytes([sw1, sw2])

    def close(self) -> None:
        self._connection.disconnect()

    def __enter__(self) -> PcscTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PcscTransport({self.name!r})"


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise ConnectionError("the peer closed the connection")
        data += part
    return data


def _frame(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


class TcpChipTransport:
    """A reader served by a :class:`ChipServer` (``ektpcore printer virtual --chips`` serves
    the virtual printer's encoder this way). Use as a context manager."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            raise ChipConnectionError(f"chip reader at {host}:{port}: {err}") from None
        self._address = f"{host}:{port}"

    def transmit(self, apdu: bytes) -> bytes:
        try:
            self._sock.sendall(_frame(bytes(apdu)))
            (n,) = struct.unpack(">H", _recv_exact(self._sock, 2))
            answer = _recv_exact(self._sock, n)
        except OSError as err:
            raise ChipConnectionError(f"chip reader at {self._address}: {err}") from None
        if not answer:
            raise ChipConnectionError(f"the chip at {self._address} does not answer")
        return answer

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> TcpChipTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TcpChipTransport({self._address!r})"


class ChipServer(LoopbackServer):
    """Serves ``transport`` on a TCP port until stopped, each client in its own thread (the
    transport itself is reached by one at a time). A frame shorter than an APDU's header or
    longer than ``max_frame`` gets the empty answer (what a silent chip gives) and closes
    that connection; a client idle for ``idle_timeout`` seconds is closed. Use as a context
    manager (it starts and stops its threads)."""

    def __init__(
        self,
        transport: ChipTransport,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = 30.0,
        max_frame: int = 65_535,
        max_sessions: int = 16,
    ) -> None:
        super().__init__(
            host, port, "chip-server", idle_timeout=idle_timeout, max_sessions=max_sessions
        )
        self.transport = transport
        self.max_frame = max_frame
        self._transmit = threading.Lock()

    def _session(self, conn: socket.socket) -> None:
        while True:
            head = self._recv_exact(conn, 2)
            if head is None:
                return
            (n,) = struct.unpack(">H", head)
            if not 4 <= n <= self.max_frame:
                if self._send(conn, _frame(b"")):
                    self._hang_up(conn)
                return
            apdu = self._recv_exact(conn, n)
            if apdu is None:
                return
            with self._transmit:
                try:
                    answer = self.transport.transmit(apdu)
                except ChipConnectionError:
                    answer = b""
            if not self._send(conn, _frame(answer)):
                return
