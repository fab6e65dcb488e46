"""Printer working windows: the staffed shifts, day by day, less downtime and within the
periods a printer is available, as ``(start, end)`` seconds from the plan's origin."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence

from ..clock import WIB, Shift, aware
from .model import Printer


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
    out: list[list[tuple[float, float]]] = [[] for _ in printers]
    speed_order = sorted(
        range(len(printers)), key=lambda i: (printers[i].seconds_per_card(True), i)
    )
    down = [
        [
            (
                (aware(a) - origin).total_seconds(),
                math.inf if b is None else (aware(b) - origin).total_seconds(),
            )
            for a, b in p.downtime
        ]
        + list(extra_down.get(p.id, ()))
        for p in printers
    ]
    only = [
        None
        if p.available is None
        else sorted(
            ((aware(a) - origin).total_seconds(), (aware(b) - origin).total_seconds())
            for a, b in p.available
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
    if spans and _around_the_clock(spans, len(printers)):
        # Every printer staffed every hour of every day: one stretch from the start to the
        # last shift's end, less downtime (what the day-by-day union below would merge to).
        hi = max(midnight + days * 86_400.0 + finish for _, _, finish in spans)
        for i in range(len(printers)):
            pieces = _subtract([(t0, hi)], down[i]) if down[i] else [(t0, hi)]
            allowed = only[i]
            out[i] = _intersect(pieces, allowed) if allowed is not None else pieces
        return [_merge(sorted(w)) for w in out]
    for d in range(days + 1):
        weekday = (first_day.weekday() + d) % 7
        for shift, begin, finish in spans:
            if shift.weekdays is not None and weekday not in shift.weekdays:
                continue
            lo = max(midnight + d * 86_400.0 + begin, t0)
            hi = midnight + d * 86_400.0 + finish
            if hi <= lo:
                continue
            capacity = len(printers) if shift.printers is None else shift.printers
            running = 0
            for i in speed_order:
                if running >= capacity:
                    break
                pieces = _subtract([(lo, hi)], down[i]) if down[i] else [(lo, hi)]
                allowed = only[i]
                if allowed is not None:
                    pieces = _intersect(pieces, allowed)
                if not pieces:
                    continue
                out[i].extend(pieces)
                running += 1
    for windows in out:
        windows.sort()
    return [_merge(w) for w in out]


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


def _subtract(
    windows: list[tuple[float, float]], holes: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    for h0, h1 in holes:
        cut: list[tuple[float, float]] = []
        for a, b in windows:
            if h1 <= a or h0 >= b:
                cut.append((a, b))
                continue
            if a < h0:
                cut.append((a, h0))
            if h1 < b:
                cut.append((h1, b))
        windows = cut
    return windows


def _intersect(
    windows: list[tuple[float, float]], allowed: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    return [(max(a, c), min(b, d)) for a, b in windows for c, d in allowed if max(a, c) < min(b, d)]


def _merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in windows:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
