"""Printer dialects: the command languages card printers speak.

A :class:`Dialect` turns panels into bytes and bytes back into commands and panels. The
Evolis and Magicard languages are built in (:class:`EvolisDialect`, :class:`MagicardDialect`:
encoders and exact decoders in Rust); a
dialect written in Python plugs in by implementing the same protocol over the same
:class:`~ektpcore.printing.Panels` and registering itself (:func:`register_dialect`).
See ``docs/printing.md`` for a worked example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from .. import _ektpcore
from ..errors import InvalidArgumentError, RibbonMismatchError, StreamDecodeError
from .raster import Bytes, Panels, RasterSettings, check_face

__all__ = [
    "CardFaces",
    "DecodedCard",
    "DecodedCommand",
    "DecodedJob",
    "Dialect",
    "EvolisDialect",
    "MagicardDialect",
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


@runtime_checkable
class Dialect(Protocol):
    """What a printer dialect provides. Encoders return bytes; ``decode`` is their exact
    inverse and raises :class:`~ektpcore.StreamDecodeError` (with the byte offset) on
    malformed input."""

    name: str
    #: Panel geometry: (lines, dots).
    canvas: tuple[int, int]

    def job_start(self) -> bytes: ...

    def encode_card(self, front: Panels, back: Panels | None = None) -> bytes: ...

    def chip_phase(self, station: ChipStation) -> bytes: ...

    def reject(self) -> bytes: ...

    def job_end(self) -> bytes: ...

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

    def _encode_cards(self, arrays: list[Any]) -> bytes:
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

    def encode_faces(self, cards: Sequence[CardFaces]) -> bytes:
        """Rasterises and encodes cards (no job start or end), all cores, GIL released."""
        arrays = []
        for i, card in enumerate(cards):
            f, fb = check_face(card.front, card.front_black, f"card {i} front")
            b, bb = check_face(card.back, card.back_black, f"card {i} back")
            arrays.append((f, fb, b, bb))
        return self._encode_cards(arrays)

    def stream(self, cards: Iterable[CardFaces], *, chunk: int = 8) -> Iterator[bytes]:
        """The whole job as a sequence of byte strings: start, ``chunk`` cards at a time,
        end. The batch is never held in memory at once: only one chunk's panels and bytes."""
        yield self.job_start()
        pending: list[CardFaces] = []
        for card in cards:
            pending.append(card)
            if len(pending) == chunk:
                yield self.encode_faces(pending)
                pending = []
        if pending:
            yield self.encode_faces(pending)
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

    def job_start(self) -> bytes:
        return _ektpcore.evolis_job_part("start", self.job)

    def job_end(self) -> bytes:
        return _ektpcore.evolis_job_part("end", self.job)

    def chip_phase(self, station: ChipStation) -> bytes:
        return _ektpcore.evolis_job_part("chip", self.job, station)

    def reject(self) -> bytes:
        return _ektpcore.evolis_job_part("reject", self.job)

    def encode_card(self, front: Panels, back: Panels | None = None) -> bytes:
        """One card (``Ss`` ... ``Se;1``) from ready panels."""
        return _ektpcore.evolis_encode_panels(
            front.as_core(), None if back is None else back.as_core(), self.depth, self.job
        )

    def _encode_cards(self, arrays: list[Any]) -> bytes:
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

    def job_start(self) -> bytes:
        return b""

    def job_end(self) -> bytes:
        return b""

    def chip_phase(self, station: ChipStation) -> bytes:
        raise InvalidArgumentError(
            "the public Magicard sources do not say how to move a card to the chip encoder; "
            "ektpcore writes no two-phase chip jobs for Magicard"
        )

    def reject(self) -> bytes:
        return self.chip_phase("contact")

    def command(self, text: str) -> bytes:
        """A simple command, e.g. ``command("REQ,STA,MSR,")`` (the serial number)."""
        return _ektpcore.magicard_command(text)

    def encode_card(self, front: Panels, back: Panels | None = None) -> bytes:
        """One card (its front page, and its back page when given) from ready panels."""
        return _ektpcore.magicard_encode_panels(
            front.as_core(), None if back is None else back.as_core(), self.job
        )

    def _encode_cards(self, arrays: list[Any]) -> bytes:
        return _ektpcore.magicard_encode_cards(
            arrays, self.front.as_core(), self.back.as_core(), self.job
        )

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
