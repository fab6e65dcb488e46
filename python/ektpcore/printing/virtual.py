"""A virtual Evolis printer: a loopback TCP server that decodes what it receives.

It reads the stream as a printer does (commands as they complete, payloads by their declared
length), takes print time per card, keeps every card it printed with its panels, answers
status commands and, on request, fails the way printers fail: ribbon end after N cards, a
jam at card k, the cover open, a chip-encoding failure, NACK codes, a dropped connection.

Replies end with CR. With ``Pem;4`` (ACK/NACK error management, as a print station uses) it
answers every command ``ACK`` or ``NACK <code>``: ``1`` command, ``2`` parameter, ``T``
mechanical (jam), ``C`` cover open, ``R`` ribbon. Status commands answer in any mode:

| command | reply |
| --- | --- |
| ``Rst`` | ``OK``, or ``ERR <reason>`` while in error |
| ``Rlr;p`` | ``OK`` (no card), ``SMART CARD``, ``CONTACTLESS CARD``, ``ERR CARD`` |
| ``Rco;p`` | cards printed |
| ``Rsn`` / ``Rtp`` | serial number / model |

``Srs`` (software reset) clears an error once its cause is gone (``clear_fault``).

With ``chips``, every blank carries a chip (a :class:`~ektpcore.chip.VirtualChip` made per
card): ``Sis``/``Sic`` bring it to the encoder, :meth:`VirtualPrinter.encoder` reaches it as a
reader would, and it stays with the card: ``card_chips`` holds the chip of each printed card,
``rejected_chips`` those ejected with ``Ser``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import _ektpcore
from .._server import LoopbackServer
from ..errors import ChipConnectionError, StreamDecodeError
from .dialects import DecodedCard, EvolisDialect

if TYPE_CHECKING:
    from ..chip import VirtualChip

__all__ = ["Faults", "VirtualPrinter"]


@dataclass
class Faults:
    """Failures a :class:`VirtualPrinter` stages. Card numbers count printed attempts from 1."""

    ribbon_cards: int | None = None  # the ribbon ends after this many cards
    jam_at: set[int] = field(default_factory=set)  # these cards jam (spoiled, printer stops)
    chip_fail_at: set[int] = field(default_factory=set)  # chip station fails for these cards
    cover_open: bool = False
    drop_after_cards: int | None = None  # the connection drops once this many are printed
    nack_commands: dict[str, str] = field(default_factory=dict)  # command name -> NACK code


class VirtualPrinter(LoopbackServer):
    """A loopback Evolis printer; use as a context manager (it starts and stops its thread)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seconds_per_card: float = 0.0,
        faults: Faults | None = None,
        serial: str = "VIRTUAL0001",
        chips: Callable[[int], VirtualChip] | None = None,
    ) -> None:
        self.faults = faults or Faults()
        self.chips = chips
        self.card_chips: list[VirtualChip | None] = []  # the chip of each printed card
        self.rejected_chips: list[VirtualChip | None] = []
        self._at_encoder: VirtualChip | None = None
        self.seconds_per_card = seconds_per_card
        self.serial = serial
        self.cards: list[DecodedCard] = []  # printed cards, in order
        self.spoiled: list[int] = []  # attempt numbers that jammed
        self.rejected = 0
        self.commands: list[str] = []
        self.attempts = 0
        self.error: str | None = None
        self._ack = False
        self._position = "OK"
        self._lock = threading.Lock()
        super().__init__(host, port, "virtual-printer")
        self._dialect = EvolisDialect()

    def encoder(self) -> _Encoder:
        """The chip encoder's reader: reaches the chip of the card at the chip station."""
        return _Encoder(self)

    def clear_fault(self) -> None:
        """The operator fixed the cause (cleared the jam, closed the cover, new ribbon)."""
        with self._lock:
            self.faults.cover_open = False
            if self.faults.ribbon_cards is not None:
                self.faults.ribbon_cards = self.attempts + 10_000

    # -- the server ----------------------------------------------------------------------

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        parsed = 0  # bytes of `buffer` already handled
        card_start: int | None = None  # where the open card's bytes start in `buffer`
        while not self._stop.is_set():
            try:
                data = conn.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buffer += data
            try:
                commands, used = _ektpcore.evolis_parse_prefix(buffer[parsed:])
            except StreamDecodeError:
                self._reply(conn, ["NACK 1"])
                return
            out: list[str] = []
            # Each command ends where the next begins; the last where the parsed bytes end.
            ends = [c[0] for c in commands[1:]] + [used] if commands else []
            for (offset, name, params, _payload), end in zip(commands, ends, strict=True):
                start, end = parsed + offset, parsed + end
                replies, card_start, drop = self._handle(
                    name, params, buffer, start, end, card_start
                )
                out += replies
                if drop:
                    self._reply(conn, out)
                    conn.close()
                    return
            self._reply(conn, out)
            parsed += used
            # Keep the open card's bytes (its panels decode when it ends), drop the rest.
            cut = parsed if card_start is None else card_start
            buffer, parsed = buffer[cut:], parsed - cut
            if card_start is not None:
                card_start -= cut

    def _reply(self, conn: socket.socket, texts: list[str]) -> None:
        if not texts:
            return
        with contextlib.suppress(OSError):  # the host went away; nothing to tell it
            conn.sendall(b"".join(t.encode("ascii") + b"\r" for t in texts))

    def _status(self, name: str, params: list[str]) -> str:
        if name == "Rst":
            return "OK" if self.error is None else f"ERR {self.error}"
        if name == "Rlr":
            return self._position
        if name == "Rco":
            return str(len(self.cards))
        if name == "Rsn":
            return self.serial
        if name == "Rtp":
            return "Virtual Evolis"
        return "ERR CDE"

    def _handle(
        self,
        name: str,
        params: list[str],
        buffer: bytes,
        offset: int,
        end: int,
        card_start: int | None,
    ) -> tuple[list[str], int | None, bool]:
        """One command: the replies, where the current card's bytes start, whether to drop."""
        with self._lock:
            self.commands.append(name)
            f = self.faults
            if name.startswith("R"):
                return [self._status(name, params)], card_start, False
            if name == "Pem":
                self._ack = params[:1] == ["4"]
                return (["ACK"] if self._ack else []), card_start, False
            if name == "Srs":
                if not f.cover_open and (f.ribbon_cards is None or self.attempts < f.ribbon_cards):
                    self.error = None
                return self._acked("ACK"), card_start, False
            if name in f.nack_commands:
                return self._acked(f"NACK {f.nack_commands[name]}"), card_start, False
            if self.error is not None and name in ("Ss", "Sis", "Sic", "Se"):
                return self._acked(f"NACK {_CODES[self.error]}"), None, False
            if name in ("Sis", "Sic"):
                nth = self.attempts + 1
                if nth in f.chip_fail_at:
                    self._position = "ERR CARD"
                    self._at_encoder = None
                else:
                    self._position = "SMART CARD" if name == "Sis" else "CONTACTLESS CARD"
                    self._at_encoder = self.chips(nth) if self.chips is not None else None
                return self._acked("ACK"), card_start, False
            if name == "Ser":
                self.rejected_chips.append(self._at_encoder)
                self._at_encoder = None
                self.rejected += 1
                self.attempts += 1
                self._position = "OK"
                return self._acked("ACK"), card_start, False
            if name == "Ss":
                if f.cover_open:
                    self.error = "COVER OPEN"
                    return self._acked("NACK C"), None, False
                return self._acked("ACK"), offset, False
            if name == "Se" and card_start is not None:
                return self._print_card(buffer[card_start:end])
            return self._acked("ACK"), card_start, False

    def _print_card(self, segment: bytes) -> tuple[list[str], int | None, bool]:
        f = self.faults
        self.attempts += 1
        nth = self.attempts
        self._position = "OK"
        if f.ribbon_cards is not None and nth > f.ribbon_cards:
            self.error = "RIBBON ENDED"
            return self._acked("NACK R"), None, False
        if self.seconds_per_card:
            time.sleep(self.seconds_per_card)
        if nth in f.jam_at:
            self._at_encoder = None  # the chip is lost with the card
            self.error = "MECHANICAL"
            self.spoiled.append(nth)
            return self._acked("NACK T"), None, False
        card = self._dialect.decode(segment).cards[0]
        self.cards.append(card)
        self.card_chips.append(self._at_encoder)
        self._at_encoder = None
        drop = f.drop_after_cards is not None and len(self.cards) >= f.drop_after_cards
        if drop:
            f.drop_after_cards = None  # once
        return ([] if drop else self._acked("ACK")), None, drop

    def _acked(self, text: str) -> list[str]:
        return [text] if self._ack else []


_CODES = {"MECHANICAL": "T", "COVER OPEN": "C", "RIBBON ENDED": "R"}


class _Encoder:
    """The reader of a :class:`VirtualPrinter`'s chip station (a ``ChipTransport``)."""

    def __init__(self, printer: VirtualPrinter) -> None:
        self._printer = printer

    def transmit(self, apdu: bytes) -> bytes:
        with self._printer._lock:
            chip = self._printer._at_encoder
        if chip is None:
            raise ChipConnectionError("no card with a working chip at the encoder")
        return chip.transmit(apdu)

    def __repr__(self) -> str:
        return f"VirtualPrinter.encoder({self._printer.serial})"
