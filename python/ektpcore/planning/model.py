"""What the planner works with and hands back: printers, priority classes, batches, the
reasons a record is in no batch, and the events a plan is re-planned from."""

from __future__ import annotations

import datetime as _dt
import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidArgumentError

__all__ = [
    "Batch",
    "BlanksReceived",
    "CardSpoiled",
    "Jam",
    "NewRecords",
    "PlanEvent",
    "Printer",
    "PrinterDown",
    "Priority",
    "Unscheduled",
]


class Priority(enum.IntEnum):
    """Priority classes: with blanks or ribbon short, offices print first-time cards first and
    defer replacements of lost or damaged cards."""

    FIRST_TIME = 0
    DATA_CHANGE = 1
    REPLACEMENT = 2


class Unscheduled(str, enum.Enum):
    """Why a record is in no batch."""

    NO_BLANK = "no blank left for it"
    NOT_READY = "not print-ready (ready time unknown)"
    NO_PRINTER = "no printer window left"


_REASONS = {1: Unscheduled.NO_BLANK, 2: Unscheduled.NOT_READY, 3: Unscheduled.NO_PRINTER}


@dataclass(frozen=True)
class Printer:
    """A card printer as the planner sees it.

    ``cards_per_hour`` is the one-sided print rate and ``cards_per_hour_two_sided`` the
    two-sided one (the same when not given); ``chip_seconds`` is added per card for chip
    encoding. ``ribbon_remaining`` is what the installed ribbon still prints (a full ribbon
    when not given). ``downtime`` lists ``(start, end)`` periods the printer is out of service;
    ``available``, when given, the only periods it may work at all (a printer lent for a week,
    a machine kept for the day shift); both are further limited by the staffed shifts.
    """

    id: str
    cards_per_hour: float
    cards_per_hour_two_sided: float | None = None
    chip_seconds: float = 0.0
    ribbon_capacity: int = 500
    ribbon_remaining: int | None = None
    ribbon_change_minutes: float = 10.0
    downtime: tuple[tuple[_dt.datetime, _dt.datetime], ...] = ()
    available: tuple[tuple[_dt.datetime, _dt.datetime], ...] | None = None

    def __post_init__(self) -> None:
        rates = (self.cards_per_hour, self.cards_per_hour_two_sided or self.cards_per_hour)
        if not all(math.isfinite(r) and r > 0 for r in rates):
            raise InvalidArgumentError(f"printer {self.id}: cards per hour must be > 0")
        if self.chip_seconds < 0 or self.ribbon_change_minutes < 0:
            raise InvalidArgumentError(f"printer {self.id}: times must not be negative")
        left = self.ribbon_left
        if self.ribbon_capacity <= 0 or not 0 <= left <= self.ribbon_capacity:
            raise InvalidArgumentError(
                f"printer {self.id}: a ribbon has a positive capacity and 0..capacity left"
            )

    @property
    def ribbon_left(self) -> int:
        return self.ribbon_capacity if self.ribbon_remaining is None else self.ribbon_remaining

    def seconds_per_card(self, two_sided: bool) -> float:
        rate = (self.cards_per_hour_two_sided or self.cards_per_hour) if two_sided else None
        return 3600.0 / (rate or self.cards_per_hour) + self.chip_seconds


@dataclass(frozen=True)
class Batch:
    """One click: the cards a printer prints in one go, in print order (by kecamatan, then
    kelurahan), with the positions before which its ribbon is changed."""

    id: str
    printer: str
    records: npt.NDArray[np.int64]
    start: _dt.datetime
    end: _dt.datetime
    ribbon_changes: tuple[int, ...]
    kecamatan: tuple[str, ...]
    card_start: npt.NDArray[np.datetime64] = field(repr=False)
    card_end: npt.NDArray[np.datetime64] = field(repr=False)
    """When each card starts and is done (UTC ``datetime64[us]``), in print order."""

    @property
    def blanks_needed(self) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return (
            f"Batch({self.id!r}, printer={self.printer!r}, cards={len(self)}, "
            f"start={self.start.isoformat()}, end={self.end.isoformat()})"
        )


# -- events a plan is re-planned from ------------------------------------------------------


@dataclass(frozen=True)
class PrinterDown:
    """The printer is out of service from ``start`` to ``end`` (``None``: until further
    notice). A batch running at ``start`` stops: the card being printed is spoiled and the rest
    of the batch is planned again."""

    printer: str
    start: _dt.datetime
    end: _dt.datetime | None = None


@dataclass(frozen=True)
class Jam:
    """Card ``card`` (0-based position) of batch ``batch`` jammed: it is spoiled, the rest of the
    batch is planned again, and the printer resumes after ``cleared_after``."""

    batch: str
    card: int
    cleared_after: _dt.timedelta = _dt.timedelta(minutes=10)


@dataclass(frozen=True)
class CardSpoiled:
    """Card ``card`` of ``batch`` was printed but spoiled (a chip-encoding failure, a defect at
    quality control): its record needs a new blank and a new place in the plan."""

    batch: str
    card: int
    reason: str = "chip encoding failed"


@dataclass(frozen=True)
class BlanksReceived:
    """A blank delivery: in stock at ``at`` (``None``: now)."""

    count: int
    at: _dt.datetime | None = None


@dataclass(frozen=True)
class NewRecords:
    """Records that became print-ready (same columns as :func:`plan` takes)."""

    records: Any


PlanEvent = PrinterDown | Jam | CardSpoiled | BlanksReceived | NewRecords
