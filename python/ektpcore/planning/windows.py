"""Printer working windows: the staffed shifts, day by day, less downtime and within the
periods a printer is available, as ``(start, end)`` seconds from the plan's origin.

The windows are built in the Rust core (``rust/plan/windows.rs``); this module turns
datetimes and shift times into the seconds it reads."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _ektpcore
from ..clock import WIB, Shift, aware
from .model import Printer

_ALL_WEEKDAYS = 0x7F


def _staffing(
    printers: Sequence[Printer],
    shifts: Sequence[Shift],
    origin: _dt.datetime,
    start: _dt.datetime,
    extra_down: Mapping[str, Sequence[tuple[float, float]]],
) -> tuple[list[tuple[float, float, list[tuple[float, float]], Any]], tuple[Any, ...]]:
    """What the core builds windows from: per printer ``(one-sided s, two-sided s, downtime,
    available)`` in seconds from ``origin``, and the staffing ``(spans, t0, midnight,
    first_weekday, around_the_clock)``."""
    own = [
        (
            p.seconds_per_card(False),
            p.seconds_per_card(True),
            [
                (
                    (aware(a) - origin).total_seconds(),
                    math.inf if b is None else (aware(b) - origin).total_seconds(),
                )
                for a, b in p.downtime
            ]
            + list(extra_down.get(p.id, ())),
            None
            if p.available is None
            else sorted(
                ((aware(a) - origin).total_seconds(), (aware(b) - origin).total_seconds())
                for a, b in p.available
            ),
        )
        for p in printers
    ]
    first_day = start.astimezone(WIB).date() - _dt.timedelta(days=1)
    t0 = (start - origin).total_seconds()
    # WIB keeps no daylight saving: every day is 86,400 s and shifts are fixed offsets.
    midnight = (_dt.datetime.combine(first_day, _dt.time(0), WIB) - origin).total_seconds()

    def offset(moment: _dt.time) -> float:
        return moment.hour * 3600.0 + moment.minute * 60.0 + moment.second

    spans = []
    for shift in shifts:
        begin, finish = offset(shift.start), offset(shift.end)
        spans.append((shift, begin, finish if finish > begin else finish + 86_400.0))
    core_spans = [
        (
            begin,
            finish,
            _ALL_WEEKDAYS
            if shift.weekdays is None
            else sum(1 << d for d in shift.weekdays if 0 <= d < 7),
            shift.printers,
        )
        for shift, begin, finish in spans
    ]
    around = bool(spans) and _around_the_clock(spans, len(printers))
    return own, (core_spans, t0, midnight, first_day.weekday(), around)


def _windows(
    printers: Sequence[Printer],
    shifts: Sequence[Shift],
    origin: _dt.datetime,
    start: _dt.datetime,
    days: int,
    extra_down: Mapping[str, Sequence[tuple[float, float]]],
) -> list[list[tuple[float, float]]]:
    """Each printer's working windows in seconds from ``origin``: the staffed shifts from
    ``start`` on, the fastest printers first when a shift cannot run them all, less downtime."""
    own, staffing = _staffing(printers, shifts, origin, start, extra_down)
    return _ektpcore.plan_windows([(two, down, only) for _, two, down, only in own], staffing, days)


def _around_the_clock(spans: Sequence[tuple[Shift, float, float]], printers: int) -> bool:
    """Whether the shifts, every day, run every printer at every hour."""
    if any(
        shift.weekdays is not None or (shift.printers is not None and shift.printers < printers)
        for shift, _, _ in spans
    ):
        return False
    pieces = []
    for _, begin, finish in spans:
        pieces += [(begin, min(finish, 86_400.0))]
        if finish > 86_400.0:
            pieces.append((0.0, finish - 86_400.0))
    covered = 0.0
    for begin, finish in sorted(pieces):
        if begin > covered:
            return False
        covered = max(covered, finish)
    return covered >= 86_400.0
