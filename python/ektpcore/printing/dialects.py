"""Printer dialects: the command languages card printers speak.

A :class:`Dialect` turns panels into bytes and bytes back into commands and panels. The
Evolis language is built in (:class:`EvolisDialect`, encoder and exact decoder in Rust); a
dialect written in Python plugs in by implementing the same protocol over the same
:class:`~ektpcore.printing.Panels` and registering itself (:func:`register_dialect`).
See ``docs/printing.md`` for a worked example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from .. import _ektpcore
from ..errors import InvalidArgumentError, StreamDecodeError
from .raster import Bytes, Panels, RasterSettings, check_face

__all__ = [
    "CardFaces",
    "DecodedCard",
    "DecodedCommand",
    "DecodedJob",
    "Dialect",
    "EvolisDialect",
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


class EvolisDialect:
    """The Evolis command language (Primacy, Zenius and kin): 1016 lines of 648 dots,
    ``Dbc`` compressed downloads (``Db`` raw for 8-bit colour or ``compress=False``).

    ``front`` and ``back`` are the raster settings of each side; by default the front is
    colour at 5 bits with K from its black layer and a full overlay, and the back black only
    (``ymckok`` ribbon).
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
        self.front = front or RasterSettings()
        self.back = back or RasterSettings(colour=False, overlay="none")

    def __repr__(self) -> str:
        return f"EvolisDialect(ribbon={self.job['ribbon']!r}, compress={self.job['compress']})"

    @property
    def depth(self) -> int:
        return self.front.depth

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

    def encode_faces(self, cards: Sequence[CardFaces]) -> bytes:
        """Rasterises and encodes cards (no job start or end), all cores, GIL released."""
        arrays = []
        for i, card in enumerate(cards):
            f, fb = check_face(card.front, card.front_black, f"card {i} front")
            b, bb = check_face(card.back, card.back_black, f"card {i} back")
            arrays.append((f, fb, b, bb))
        return _ektpcore.evolis_encode_cards(
            arrays, self.front.as_core(), self.back.as_core(), self.job
        )

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
        """The commands of a stream, framing only (payloads kept compressed): what a host
        counting replies or a printer reading a socket needs."""
        data = bytes(stream)
        commands, used = _ektpcore.evolis_parse_prefix(data)
        if used != len(data):
            raise StreamDecodeError(f"at byte {used}: the stream ends inside a command", used)
        return tuple(
            DecodedCommand(offset, name, tuple(params), payload)
            for offset, name, params, payload in commands
        )

    def decode(self, stream: bytes) -> DecodedJob:
        commands, ribbon, cards = _ektpcore.evolis_decode(bytes(stream))
        return DecodedJob(
            commands=tuple(
                DecodedCommand(offset, name, tuple(params), payload)
                for offset, name, params, payload in commands
            ),
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


def _station(name: str | None) -> ChipStation | None:
    if name == "contact":
        return "contact"
    if name == "contactless":
        return "contactless"
    return None


register_dialect("evolis", EvolisDialect)
