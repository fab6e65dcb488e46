"""Printer dialects: the command languages card printers speak, and all a print station
knows of a printer.

A :class:`Dialect` turns panels into bytes and bytes back into commands and panels, and tells
a station everything it sends and reads: the handshake, each card with the number of replies
it draws (an :class:`Exchange`), the chip phase, the reject, the status query, and what every
reply means in one status model (:class:`PrinterStatus`, :class:`Condition`). The Evolis and
Magicard languages are built in (:class:`EvolisDialect`, :class:`MagicardDialect`: encoders,
exact decoders and reply meanings in Rust); a dialect written in Python plugs in by
implementing the same protocol over the same :class:`~ektpcore.printing.Panels` and
registering itself (:func:`register_dialect`). See ``docs/printing.md`` for a worked example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, Self, runtime_checkable

from .. import _ektpcore
from ..errors import InvalidArgumentError, RibbonMismatchError, StreamDecodeError
from .raster import Bytes, Panels, RasterSettings, check_face

__all__ = [
    "CardFaces",
    "Condition",
    "DecodedCard",
    "DecodedCommand",
    "DecodedJob",
    "Dialect",
    "EvolisDialect",
    "Exchange",
    "MagicardDialect",
    "PrinterStatus",
    "dialect",
    "dialects",
    "register_dialect",
]

ChipStation = Literal["contact", "contactless"]


@dataclass(frozen=True)
class CardFaces:
    """One card's faces: RGB arrays and black layers for the front and, when printed, the
    back (``uint8``, ``height x width x 3`` and ``height x width``)."""

    front: Bytes | None = field(default=None, repr=False)
    front_black: Bytes | None = field(default=None, repr=False)
    back: Bytes | None = field(default=None, repr=False)
    back_black: Bytes | None = field(default=None, repr=False)

    @property
    def two_sided(self) -> bool:
        return self.back is not None or self.back_black is not None


@dataclass(frozen=True)
class DecodedCommand:
    """One command of a stream: where it starts, its name, parameters and payload."""

    offset: int
    name: str
    params: tuple[str, ...]
    payload: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DecodedCard:
    """A card as a stream prints it."""

    front: Panels
    back: Panels | None
    chip: ChipStation | None
    rejected: bool
    depth: int


@dataclass(frozen=True)
class DecodedJob:
    commands: tuple[DecodedCommand, ...]
    ribbon: str | None
    cards: tuple[DecodedCard, ...]


class Exchange(bytes):
    """Bytes for the printer that draw ``replies`` replies: what a station sends and how many
    answers it then reads, so it never parses what it just encoded. It *is* the bytes
    (write it, concatenate it, decode it)."""

    replies: int

    def __new__(cls, data: bytes = b"", replies: int = 0) -> Self:
        if replies < 0:
            raise InvalidArgumentError(f"an exchange draws 0 or more replies, not {replies}")
        made = super().__new__(cls, data)
        made.replies = replies
        return made

    def __repr__(self) -> str:
        return f"Exchange({len(self)} bytes, replies={self.replies})"


class Condition(StrEnum):
    """What a printer says about itself, in the words every dialect maps its printer's
    answers onto, and what a print station does about it (:attr:`action`)."""

    READY = "ready"
    BUSY = "busy"  # warming up, cooling, cleaning: ready again by itself
    PRINTING = "printing"
    NEEDS_ACTION = "needs_action"  # an error the printer names no better
    RIBBON_LOW = "ribbon_low"
    RIBBON_OUT = "ribbon_out"
    COVER_OPEN = "cover_open"
    JAM = "jam"  # the card in the printer is lost
    MECHANICAL = "mechanical"
    FEEDER_EMPTY = "feeder_empty"
    REJECT_FULL = "reject_full"
    SESSION_HELD = "session_held"  # another client holds the printer

    @property
    def action(self) -> Literal["go", "wait", "pause", "stop"]:
        """``go`` (print; a low ribbon is a warning), ``wait`` (it clears by itself),
        ``pause`` (the operator must act, then printing resumes) or ``stop`` (a card in the
        printer is spoiled; clear the printer and run again)."""
        if self in (Condition.READY, Condition.RIBBON_LOW):
            return "go"
        if self in (Condition.BUSY, Condition.PRINTING, Condition.SESSION_HELD):
            return "wait"
        if self in (Condition.JAM, Condition.MECHANICAL):
            return "stop"
        return "pause"

    @property
    def advice(self) -> str:
        """What the operator is told."""
        return _ADVICE[self]


_ADVICE = {
    Condition.READY: "the printer is ready",
    Condition.BUSY: "the printer is busy (warming up, cooling or cleaning)",
    Condition.PRINTING: "the printer is printing",
    Condition.NEEDS_ACTION: "the printer needs attention: look at its display",
    Condition.RIBBON_LOW: "the ribbon is nearly used up: have a new one ready",
    Condition.RIBBON_OUT: "the ribbon is used up or missing: put in a new one",
    Condition.COVER_OPEN: "the printer's cover is open: close it",
    Condition.JAM: "a card jammed: clear it",
    Condition.MECHANICAL: "the printer has a mechanical fault: clear it",
    Condition.FEEDER_EMPTY: "the card feeder is empty: load blanks",
    Condition.REJECT_FULL: "the reject tray is full: empty it",
    Condition.SESSION_HELD: "another client is using the printer",
}


@dataclass(frozen=True)
class PrinterStatus:
    """One reply as the status model reads it: the condition, the reply as the printer gave
    it, and the printer's card counter where the reply carries one."""

    condition: Condition
    reply: str
    cards: int | None = None

    @property
    def ok(self) -> bool:
        return self.condition.action == "go"

    def __str__(self) -> str:
        return f"{self.condition.advice} ({self.reply})" if self.reply else self.condition.advice


@runtime_checkable
class Dialect(Protocol):
    """What a printer dialect provides, and all a print station uses. Encoders return bytes
    (an :class:`Exchange` where the station reads replies); ``decode`` is their exact inverse
    and raises :class:`~ektpcore.StreamDecodeError` (with the byte offset) on malformed
    input."""

    name: str
    #: Panel geometry: (lines, dots).
    canvas: tuple[int, int]
    #: The byte a reply ends with.
    reply_end: bytes

    def handshake(self) -> Exchange:
        """What a station sends first: the mode it drives the printer in, and the job's
        start. Sent again to resume after the operator cleared a fault."""
        ...

    def job_start(self) -> bytes: ...

    def encode_card(self, front: Panels, back: Panels | None = None) -> bytes: ...

    def encode_cards(self, cards: Sequence[CardFaces]) -> list[Exchange]:
        """Each card, rendered faces to bytes, with the replies it draws; a card drawing no
        replies is confirmed by the printer's card counter (:meth:`status_query`)."""
        ...

    def chip_phase(self, station: ChipStation) -> Exchange: ...

    def reject(self) -> Exchange: ...

    def job_end(self) -> bytes: ...

    def status_query(self) -> Exchange: ...

    def status(self, reply: str) -> PrinterStatus:
        """What one reply says (to a card's commands or to the status query)."""
        ...

    def decode(self, stream: bytes) -> DecodedJob: ...


_REGISTRY: dict[str, Callable[..., Dialect]] = {}


def register_dialect(name: str, factory: Callable[..., Dialect]) -> None:
    """Makes a dialect available by name (:func:`dialect`)."""
    _REGISTRY[name.lower()] = factory


def dialect(name: str, **options: Any) -> Dialect:
    """A dialect by name, e.g. ``dialect("evolis", ribbon="ymckok")``."""
    try:
        factory = _REGISTRY[name.lower()]
    except KeyError:
        raise InvalidArgumentError(
            f"no dialect {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory(**options)


def dialects() -> list[str]:
    return sorted(_REGISTRY)


_SIDES = ("front", "back")
_PanelFlags = tuple[bool, bool, bool]


def _describe(colour: bool, k: bool, o: bool) -> str:
    names = [n for on, n in ((colour, "colour (Y, M, C)"), (k, "K"), (o, "O")) if on]
    if not names:
        return "no panel"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _settings_panels(s: RasterSettings) -> _PanelFlags:
    overlay = not (isinstance(s.overlay, str) and s.overlay == "none")
    return (s.colour, s.black != "none", overlay)


def ribbon_settings(
    dialect_name: str,
    ribbon: str,
    front: RasterSettings | None,
    back: RasterSettings | None,
    depth: int,
) -> tuple[RasterSettings, RasterSettings]:
    """Raster settings for each side as the ribbon decides: by default every panel the ribbon
    has for that side (colour, K from the black layer, a full overlay); given settings may
    print fewer panels, never more (:class:`~ektpcore.RibbonMismatchError`)."""
    sides = _ektpcore.dialect_ribbon(dialect_name, ribbon)
    chosen = []
    for side, given, (colour, k, o) in zip(_SIDES, (front, back), sides, strict=True):
        if given is None:
            given = RasterSettings(
                depth=depth,
                colour=colour,
                black="layer" if k else "none",
                overlay="full" if o else "none",
            )
        asked = _settings_panels(given)
        extra = tuple(a and not h for a, h in zip(asked, (colour, k, o), strict=True))
        if any(extra):
            raise RibbonMismatchError(
                f"the {ribbon} ribbon prints {_describe(colour, k, o)} on the {side}; the "
                f"{side} asks for {_describe(*extra)} too"
            )
        chosen.append(given)
    return chosen[0], chosen[1]


_Commands = list[tuple[int, str, list[str], bytes | None]]


class _PanelDialect:
    """What the built-in dialects share: faces encoded a chunk at a time in Rust, streams
    decoded back into commands and panels."""

    name: str
    canvas: tuple[int, int]
    front: RasterSettings
    back: RasterSettings
    job: dict[str, Any]

    reply_end = b"\r"

    def _encode_cards(self, arrays: list[Any]) -> tuple[bytes, list[tuple[int, int]]]:
        raise NotImplementedError

    def _parse_prefix(self, data: bytes) -> tuple[_Commands, int]:
        raise NotImplementedError

    def _decode(self, data: bytes) -> tuple[_Commands, str | None, list[Any]]:
        raise NotImplementedError

    def job_start(self) -> bytes:
        raise NotImplementedError

    def job_end(self) -> bytes:
        raise NotImplementedError

    @property
    def depth(self) -> int:
        return self.front.depth

    @staticmethod
    def _arrays(cards: Sequence[CardFaces]) -> list[Any]:
        arrays = []
        for i, card in enumerate(cards):
            f, fb = check_face(card.front, card.front_black, f"card {i} front")
            b, bb = check_face(card.back, card.back_black, f"card {i} back")
            arrays.append((f, fb, b, bb))
        return arrays

    def _encoded(self, cards: Sequence[CardFaces]) -> tuple[bytes, list[tuple[int, int]]]:
        return self._encode_cards(self._arrays(cards))

    def encode_faces(self, cards: Sequence[CardFaces]) -> bytes:
        """Rasterises and encodes cards (no job start or end), all cores, GIL released."""
        return self._encoded(cards)[0]

    def encode_cards(self, cards: Sequence[CardFaces]) -> list[Exchange]:
        """Each card's bytes and the replies it draws, counted by the encoder as it wrote
        them; all cores, GIL released."""
        data, spans = self._encoded(cards)
        out, at = [], 0
        for size, replies in spans:
            out.append(Exchange(data[at : at + size], replies))
            at += size
        return out

    def status_query(self) -> Exchange:
        return Exchange(*_ektpcore.dialect_status_query(self.name))

    def status(self, reply: str) -> PrinterStatus:
        return PrinterStatus(Condition(_ektpcore.dialect_condition(self.name, reply)), reply)

    def _pieces(self, cards: Sequence[CardFaces]) -> list[bytes | memoryview]:
        """Cards encoded, as pieces of the stream."""
        return [self.encode_faces(cards)]

    def stream(self, cards: Iterable[CardFaces], *, chunk: int = 8) -> Iterator[bytes | memoryview]:
        """The whole job as a sequence of byte strings (or read-only views of them): start,
        ``chunk`` cards at a time, end. The batch is never held in memory at once: only one
        chunk's panels and bytes."""
        yield self.job_start()
        pending: list[CardFaces] = []
        for card in cards:
            pending.append(card)
            if len(pending) == chunk:
                yield from self._pieces(pending)
                pending = []
        if pending:
            yield from self._pieces(pending)
        yield self.job_end()

    def commands(self, stream: bytes) -> tuple[DecodedCommand, ...]:
        """The commands of a stream, framing only (payloads kept as sent): what a host
        counting replies or a printer reading a socket needs."""
        data = bytes(stream)
        commands, used = self._parse_prefix(data)
        if used != len(data):
            raise StreamDecodeError(f"at byte {used}: the stream ends inside a command", used)
        return _commands(commands)

    def decode(self, stream: bytes) -> DecodedJob:
        """Commands and cards, every panel bit for bit; :class:`~ektpcore.StreamDecodeError`
        (with the byte offset) on malformed input."""
        commands, ribbon, cards = self._decode(bytes(stream))
        return DecodedJob(
            commands=_commands(commands),
            ribbon=ribbon,
            cards=tuple(
                DecodedCard(
                    front=Panels.from_core(front),
                    back=None if back is None else Panels.from_core(back),
                    chip=_station(chip),
                    rejected=rejected,
                    depth=depth,
                )
                for front, back, chip, rejected, depth in cards
            ),
        )


def _commands(commands: _Commands) -> tuple[DecodedCommand, ...]:
    return tuple(
        DecodedCommand(offset, name, tuple(params), payload)
        for offset, name, params, payload in commands
    )


class EvolisDialect(_PanelDialect):
    """The Evolis command language (Primacy, Zenius and kin): 1016 lines of 648 dots,
    ``Dbc`` compressed downloads (``Db`` raw for 8-bit colour or ``compress=False``).

    The ribbon decides the panels: by default each side prints every panel the ribbon has
    for it (``ymckok``: colour at 5 bits, K from the black layer and a full overlay on the
    front, K on the back; ``k``: K only). ``front`` and ``back`` are raster settings that
    print fewer; settings asking for more raise :class:`~ektpcore.RibbonMismatchError`.
    """

    name = "evolis"
    canvas = (1016, 648)

    def __init__(
        self,
        *,
        ribbon: str = "ymckok",
        feeder: Literal["F", "M", "B"] = "F",
        compress: bool = True,
        padding: int = 64,
        front: RasterSettings | None = None,
        back: RasterSettings | None = None,
    ) -> None:
        if not ribbon.isalnum():
            raise InvalidArgumentError(f"ribbon {ribbon!r} is not a ribbon name")
        self.job = {"ribbon": ribbon, "feeder": feeder, "compress": compress, "padding": padding}
        self.front, self.back = ribbon_settings("evolis", ribbon, front, back, 5)

    def __repr__(self) -> str:
        return f"EvolisDialect(ribbon={self.job['ribbon']!r}, compress={self.job['compress']})"

    def handshake(self) -> Exchange:
        """ACK/NACK mode (``Pem;4``: every command answered, a card printed only when its
        ``Se`` is acknowledged), a reset that clears an error whose cause is gone (``Srs``),
        and the job's start (``Pr``, ``Pmi``)."""
        mode = Exchange(*_ektpcore.evolis_job_part("handshake", self.job))
        start = Exchange(*_ektpcore.evolis_job_part("start", self.job))
        return Exchange(mode + start, mode.replies + start.replies)

    def job_start(self) -> bytes:
        return _ektpcore.evolis_job_part("start", self.job)[0]

    def job_end(self) -> bytes:
        return _ektpcore.evolis_job_part("end", self.job)[0]

    def chip_phase(self, station: ChipStation) -> Exchange:
        return Exchange(*_ektpcore.evolis_job_part("chip", self.job, station))

    def reject(self) -> Exchange:
        return Exchange(*_ektpcore.evolis_job_part("reject", self.job))

    def encode_card(self, front: Panels, back: Panels | None = None) -> bytes:
        """One card (``Ss`` ... ``Se;1``) from ready panels."""
        return _ektpcore.evolis_encode_panels(
            front.as_core(), None if back is None else back.as_core(), self.depth, self.job
        )

    def _encode_cards(self, arrays: list[Any]) -> tuple[bytes, list[tuple[int, int]]]:
        return _ektpcore.evolis_encode_cards(
            arrays, self.front.as_core(), self.back.as_core(), self.job
        )

    def _parse_prefix(self, data: bytes) -> tuple[_Commands, int]:
        return _ektpcore.evolis_parse_prefix(data)

    def _decode(self, data: bytes) -> tuple[_Commands, str | None, list[Any]]:
        return _ektpcore.evolis_decode(data)


class MagicardDialect(_PanelDialect):
    """The Magicard language (Tango 2e, Rio 2e, Enduro and kin), as the selphy_print project
    documents it: a page per printed side, 1016 lines of 642 dots, colour at 6 bits sent
    bit-planar, K at one bit, the overcoat all or nothing (``OVRON``).

    Ribbons: ``ymcko`` (``LC1``), ``k`` (``LC3``), ``ko`` (``LC6``), ``ymckok`` (``LC8``);
    the ribbon decides the panels as for :class:`EvolisDialect`. Faces are 642 x 1016. The
    public sources do not say how to move a card to the chip encoder, so
    :meth:`chip_phase` and :meth:`reject` refuse.
    """

    name = "magicard"
    canvas = (1016, 642)

    def __init__(
        self,
        *,
        ribbon: str = "ymckok",
        front: RasterSettings | None = None,
        back: RasterSettings | None = None,
    ) -> None:
        self.job = {"ribbon": ribbon}
        self.front, self.back = ribbon_settings("magicard", ribbon, front, back, 6)

    def __repr__(self) -> str:
        return f"MagicardDialect(ribbon={self.job['ribbon']!r})"

    #: A reply is ``01 STA,<key><value> 2C 03``.
    reply_end = b"\x03"

    def handshake(self) -> Exchange:
        """Nothing: a Magicard takes pages as they come and answers only its status
        requests."""
        return Exchange()

    def job_start(self) -> bytes:
        return b""

    def job_end(self) -> bytes:
        return b""

    def chip_phase(self, station: ChipStation) -> Exchange:
        raise InvalidArgumentError(
            "the public Magicard sources do not say how to move a card to the chip encoder; "
            "ektpcore writes no two-phase chip jobs for Magicard"
        )

    def reject(self) -> Exchange:
        return self.chip_phase("contact")

    def status(self, reply: str) -> PrinterStatus:
        """A ``STA,TCQ`` reply carries the cards printed (the counter that confirms a card);
        the public sources name no error state, so a printer that answers is ready."""
        status = super().status(reply)
        body = reply.lstrip("\x01").rstrip("\x03").rstrip(",")
        count = body.removeprefix("STA,TCQ")
        if body.startswith("STA,TCQ") and count.isdigit():
            return PrinterStatus(status.condition, reply, int(count))
        return status

    def command(self, text: str) -> bytes:
        """A simple command, e.g. ``command("REQ,STA,MSR,")`` (the serial number)."""
        return _ektpcore.magicard_command(text)

    def encode_card(self, front: Panels, back: Panels | None = None) -> bytes:
        """One card (its front page, and its back page when given) from ready panels."""
        return _ektpcore.magicard_encode_panels(
            front.as_core(), None if back is None else back.as_core(), self.job
        )

    def _encode_cards(self, arrays: list[Any]) -> tuple[bytes, list[tuple[int, int]]]:
        return _ektpcore.magicard_encode_cards(
            arrays, self.front.as_core(), self.back.as_core(), self.job
        )

    def _pieces(self, cards: Sequence[CardFaces]) -> list[bytes | memoryview]:
        """Views of the encoder's own memory, not copies: a Magicard card is 1.7 MB of
        uncompressed pages."""
        parts, _ = _ektpcore.magicard_encode_parts(
            self._arrays(cards), self.front.as_core(), self.back.as_core(), self.job
        )
        return [memoryview(part) for part in parts]  # type: ignore[arg-type]

    def _parse_prefix(self, data: bytes) -> tuple[_Commands, int]:
        return _ektpcore.magicard_parse_prefix(data)

    def _decode(self, data: bytes) -> tuple[_Commands, str | None, list[Any]]:
        return _ektpcore.magicard_decode(data)


def _station(name: str | None) -> ChipStation | None:
    if name == "contact":
        return "contact"
    if name == "contactless":
        return "contactless"
    return None


register_dialect("evolis", EvolisDialect)
register_dialect("magicard", MagicardDialect)
