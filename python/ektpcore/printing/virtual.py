"""A virtual printer: a loopback TCP server that decodes what it receives, in the Evolis
language (the default) or the Magicard one.

It reads the stream as a printer does (commands as they complete, payloads by their declared
length), takes print time per card, keeps every card it printed with its panels, answers
status commands and, on request, fails the way printers fail: ribbon end after N cards, a
jam at card k, the cover open, a chip-encoding failure, NACK codes, a dropped connection.

Replies end with CR. With ``Pem;4`` (ACK/NACK error management, as a print station uses) it
answers every command ``ACK`` or ``NACK <code>``: ``1`` command, ``2`` parameter, ``T``
mechanical (jam), ``C`` cover open, ``R`` ribbon. Status commands answer in any mode:

| command | reply |
| --- | --- |
| ``Rst`` | the status (below) |
| ``Rlr;p`` | ``OK`` (no card), ``SMART CARD``, ``CONTACTLESS CARD``, ``ERR CARD`` |
| ``Rco;p`` | cards printed |
| ``Rsn`` / ``Rtp`` | serial number / model |

``Srs`` (software reset) clears an error once its cause is gone (``clear_fault``).

``Rst`` answers, first match first: ``SESSION HELD`` to a client while another holds the
printer (it sent ``Pem;4`` and is still connected), ``ERR <reason>`` while in error (a jam
leaves ``ERR MECHANICAL``), ``ERR MECHANICAL`` / ``ERR COVER OPEN`` for a staged fault,
``PRINTING`` while a card prints, ``BUSY`` for ``busy_for`` seconds after the start,
``FEEDER EMPTY``, ``ERR REJECT BOX FULL``, ``WAR RIBBON LOW`` (the ribbon within
``ribbon_low`` cards of its end; its end is found when a card meets it), else ``OK``.

A dialect of one's own is served in the framing it writes (``language="evolis"`` by
default): the printer reads commands as that language frames them and decodes each card
with the dialect's own ``decode``.

With ``chips``, every blank carries a chip (a :class:`~ektpcore.chip.VirtualChip` made per
card): ``Sis``/``Sic`` bring it to the encoder, :meth:`VirtualPrinter.encoder` reaches it as a
reader would, and it stays with the card: ``card_chips`` holds the chip of each printed card,
``rejected_chips`` those ejected with ``Ser``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .. import _ektpcore
from .._server import LoopbackServer
from ..errors import ChipConnectionError, InvalidArgumentError, StreamDecodeError
from .dialects import DecodedCard, Dialect, EvolisDialect, MagicardDialect

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
    busy_for: float = 0.0  # seconds busy (warming up) after the printer starts
    ribbon_low: int = 0  # warns when the ribbon has this many cards left or fewer
    feeder_cards: int | None = None  # blanks in the feeder (then empty: NACK F)
    reject_capacity: int | None = None  # cards the reject tray holds before it is full
    mechanical: bool = False  # a mechanical fault that only clear_fault() removes


class VirtualPrinter(LoopbackServer):
    """A loopback printer; use as a context manager (it starts and stops its threads).

    ``dialect`` is the language it speaks: an :class:`EvolisDialect` (the default) or a
    :class:`MagicardDialect` (or their names). Each connection is served in its own thread;
    one idle for ``idle_timeout`` seconds is closed, and one whose stream is malformed, or
    holds more than ``max_buffer`` bytes of an unfinished card, gets the dialect's error
    reply (Evolis ``NACK 1``; Magicard has none) and is closed, the others going on.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seconds_per_card: float = 0.0,
        faults: Faults | None = None,
        serial: str = "VIRTUAL0001",
        chips: Callable[[int], VirtualChip] | None = None,
        dialect: Dialect | str = "evolis",
        idle_timeout: float = 30.0,
        max_buffer: int = 16 << 20,
        max_sessions: int = 64,
        language: Literal["evolis", "magicard"] | None = None,
    ) -> None:
        chosen: Dialect
        if isinstance(dialect, str):
            kinds = {"evolis": EvolisDialect, "magicard": MagicardDialect}
            if dialect.lower() not in kinds:
                raise InvalidArgumentError(
                    f"a virtual printer speaks evolis or magicard, not {dialect!r}"
                )
            chosen = kinds[dialect.lower()]()
        else:
            chosen = dialect
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
        self.refused_streams = 0  # connections closed for a malformed or oversized stream
        self.commands: list[str] = []
        self.attempts = 0
        self.error: str | None = None
        self._ack = False
        self._ack_sessions: dict[int, bool] = {}  # session thread -> in ACK/NACK mode
        self._position = "OK"
        self._lock = threading.Lock()
        self.max_buffer = max_buffer
        self.language = language or (
            "magicard" if isinstance(chosen, MagicardDialect) else "evolis"
        )
        if self.language not in ("evolis", "magicard"):
            raise InvalidArgumentError(
                f"a virtual printer frames evolis or magicard, not {self.language!r}"
            )
        self._holder: int | None = None  # the session holding the printer (ACK/NACK mode)
        self._printing = False
        self._busy_until = 0.0
        super().__init__(
            host, port, "virtual-printer", idle_timeout=idle_timeout, max_sessions=max_sessions
        )
        self._dialect = chosen

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def start(self) -> VirtualPrinter:
        self._busy_until = time.monotonic() + self.faults.busy_for
        super().start()
        return self

    def encoder(self) -> _Encoder:
        """The chip encoder's reader: reaches the chip of the card at the chip station."""
        return _Encoder(self)

    def clear_fault(self) -> None:
        """The operator fixed the cause (cleared the jam, closed the cover, new ribbon)."""
        with self._lock:
            self.faults.cover_open = False
            self.faults.mechanical = False
            if self.faults.feeder_cards is not None:
                self.faults.feeder_cards = self.attempts + 10_000
            if self.faults.reject_capacity is not None:
                self.faults.reject_capacity = self.rejected + 10_000
            if self.faults.ribbon_cards is not None:
                self.faults.ribbon_cards = self.attempts + 10_000

    # -- the server ----------------------------------------------------------------------

    def _session(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.language == "magicard":
                self._magicard_session(conn)
            else:
                self._evolis_session(conn)
        finally:
            with self._lock:
                self._ack_sessions.pop(threading.get_ident(), None)
                if self._holder == threading.get_ident():
                    self._holder = None

    def _refuse(self, conn: socket.socket, reply: list[str]) -> None:
        """A malformed or oversized stream: the error reply, then this connection closes."""
        with self._lock:
            self.refused_streams += 1
        if self._reply(conn, reply):
            self._hang_up(conn)

    def _more(
        self,
        conn: socket.socket,
        buffer: bytes,
        parsed: int,
        parse: Callable[[bytes], tuple[_Commands, int]],
        error: list[str],
    ) -> tuple[bytes, _Commands, int] | None:
        """Reads more of the stream: the buffer, the complete commands after ``parsed`` and
        the bytes they take; ``None`` when the session ends (closed, idle, or refused with
        ``error`` for a malformed stream or an unfinished card over ``max_buffer``)."""
        data = self._recv(conn, 1 << 16)
        if not data:
            return None
        buffer += data
        try:
            if len(buffer) > self.max_buffer:
                raise StreamDecodeError("an unfinished card over max_buffer", len(buffer))
            commands, used = parse(buffer[parsed:])
        except StreamDecodeError:
            self._refuse(conn, error)
            return None
        return buffer, commands, used

    def _evolis_session(self, conn: socket.socket) -> None:
        buffer = b""
        parsed = 0  # bytes of `buffer` already handled
        card_start: int | None = None  # where the open card's bytes start in `buffer`
        while True:
            more = self._more(conn, buffer, parsed, _ektpcore.evolis_parse_prefix, ["NACK 1"])
            if more is None:
                return
            buffer, commands, used = more
            out: list[str] = []
            # Each command ends where the next begins; the last where the parsed bytes end.
            ends = [c[0] for c in commands[1:]] + [used] if commands else []
            for (offset, name, params, _payload), end in zip(commands, ends, strict=True):
                start, end = parsed + offset, parsed + end
                try:
                    replies, card_start, drop = self._handle(
                        name, params, buffer, start, end, card_start
                    )
                except StreamDecodeError:
                    # The framing held, the card did not decode (a payload changed inside).
                    self._refuse(conn, [*out, "NACK 1"])
                    return
                out += replies
                if drop:
                    self._reply(conn, out)
                    return
            if not self._reply(conn, out):
                return
            parsed += used
            # Keep the open card's bytes (its panels decode when it ends), drop the rest.
            cut = parsed if card_start is None else card_start
            buffer, parsed = buffer[cut:], parsed - cut
            if card_start is not None:
                card_start -= cut

    def _magicard_session(self, conn: socket.socket) -> None:
        """Pages are printed as they end (a two-sided card when its back page ends); ``REQ,
        STA,<key>,`` is answered ``01 STA,<key> <value> 2C 03``."""
        buffer = b""
        parsed = 0  # bytes of `buffer` already handled
        card_start: int | None = None  # where the open card's first page starts in `buffer`
        tags: list[str] = []  # the tags of the page being read
        while True:
            more = self._more(conn, buffer, parsed, _ektpcore.magicard_parse_prefix, [])
            if more is None:
                return
            buffer, commands, used = more
            replies: list[bytes] = []
            for offset, name, params, _payload in commands:
                at = parsed + offset
                with self._lock:
                    self.commands.append(name)
                if name == "JOB":
                    tags = params
                    if card_start is None:
                        card_start = at
                elif name == "END" and card_start is not None:
                    if "DPXON" in tags and "PAG2" not in tags:
                        continue  # the back page follows
                    try:
                        job = self._dialect.decode(buffer[card_start : at + 1])
                    except StreamDecodeError:
                        self._refuse(conn, [])
                        return
                    card_start = None
                    if self._print_pages(job.cards):
                        return
                elif name == "REQ" and params[:1] == ["STA"] and len(params) >= 2:
                    value = self._magicard_status(params[1])
                    replies.append(b"\x01STA," + params[1].encode() + value + b",\x03")
            if replies and not self._send(conn, b"".join(replies)):
                return
            parsed += used
            cut = parsed if card_start is None else card_start
            buffer, parsed = buffer[cut:], parsed - cut
            if card_start is not None:
                card_start -= cut

    def _print_pages(self, cards: tuple[DecodedCard, ...]) -> bool:
        """Prints decoded cards; whether the connection drops now."""
        with self._lock:
            self.attempts += len(cards)
            self.cards.extend(cards)
            f = self.faults
            if f.drop_after_cards is not None and len(self.cards) >= f.drop_after_cards:
                f.drop_after_cards = None  # once
                return True
        return False

    def _magicard_status(self, key: str) -> bytes:
        with self._lock:
            values = {
                "MSR": self.serial,
                "VRS": "VIRTUAL",
                "TCQ": str(len(self.cards)),
                "MDL": "0",
            }
        return values.get(key, "").encode("ascii")

    def _reply(self, conn: socket.socket, texts: list[str]) -> bool:
        """Sends the replies; ``False`` when the host went away or does not read."""
        if not texts:
            return True
        return self._send(conn, b"".join(t.encode("ascii") + b"\r" for t in texts))

    def _state(self) -> str:
        """The reply to ``Rst`` (see the module documentation)."""
        f, me = self.faults, threading.get_ident()
        if self._holder is None and self._ack_sessions.get(me):
            self._holder = me  # the last holder left: this session takes the printer
        if self._holder not in (None, me):
            return "SESSION HELD"
        if self.error is not None:
            return f"ERR {self.error}"
        if f.mechanical:
            return "ERR MECHANICAL"
        if f.cover_open:
            return "ERR COVER OPEN"
        if self._printing:
            return "PRINTING"
        if time.monotonic() < self._busy_until:
            return "BUSY"
        if f.feeder_cards is not None and self.attempts >= f.feeder_cards:
            return "FEEDER EMPTY"
        if f.reject_capacity is not None and self.rejected >= f.reject_capacity:
            return "ERR REJECT BOX FULL"
        # The end of the ribbon is found when a card meets it (NACK R, then ERR RIBBON ENDED).
        if f.ribbon_cards is not None and 0 < f.ribbon_cards - self.attempts <= f.ribbon_low:
            return "WAR RIBBON LOW"
        return "OK"

    def _status(self, name: str, params: list[str]) -> str:
        if name == "Rst":
            return self._state()
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
                me = threading.get_ident()
                self._ack_sessions[me] = self._ack
                if self._ack and self._holder is None:
                    self._holder = me  # a client taking the printer for its job
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
                if f.feeder_cards is not None and self.attempts >= f.feeder_cards:
                    return self._acked("NACK F"), None, False
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
        # A card takes seconds_per_card from its end arriving to its answer, the printer's own
        # reading of it included; other clients are answered meanwhile (``PRINTING``).
        until = time.monotonic() + self.seconds_per_card
        card = None if nth in f.jam_at else self._dialect.decode(segment).cards[0]
        if self.seconds_per_card:
            self._printing = True
            self._lock.release()
            try:
                time.sleep(max(0.0, until - time.monotonic()))
            finally:
                self._lock.acquire()
                self._printing = False
        if card is None:
            self._at_encoder = None  # the chip is lost with the card
            self.error = "MECHANICAL"
            self.spoiled.append(nth)
            return self._acked("NACK T"), None, False
        self.cards.append(card)
        self.card_chips.append(self._at_encoder)
        self._at_encoder = None
        drop = f.drop_after_cards is not None and len(self.cards) >= f.drop_after_cards
        if drop:
            f.drop_after_cards = None  # once
        return ([] if drop else self._acked("ACK")), None, drop

    def _acked(self, text: str) -> list[str]:
        return [text] if self._ack else []


_Commands = list[tuple[int, str, list[str], bytes | None]]

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
