"""Reaching a chip: the :class:`ChipTransport` interface, :class:`ChipChannel` (the T=0
habits of ``61xx`` and ``6Cxx`` handled once, for every caller), and :class:`PcscTransport`
for a PC/SC reader through pyscard (the ``pcsc`` extra)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..errors import ChipConnectionError
from .codec import CommandApdu, ResponseApdu

__all__ = ["ChipChannel", "ChipTransport", "PcscTransport"]

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
        if answer[-2] == 0x6C and len(apdu) >= 5:
            # Wrong Le: the exact length is in SW2 (a short-Le command; resend once).
            answer = self._send(apdu[:-1] + answer[-1:])
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
