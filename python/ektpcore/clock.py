"""Time zones and the shift clock of a print bureau.

Offices on Java and Sumatra keep Western Indonesian Time (WIB, UTC+7, no daylight saving) and
work two 12-hour shifts, 08-20 and 20-08. The ledger stores instants in UTC; shifts, plans and
reports read them in WIB. Every module that needs the zone, a shift's window or a ledger
timestamp takes it from here.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from .errors import InvalidArgumentError

__all__ = [
    "DEFAULT_SHIFTS",
    "WIB",
    "Shift",
    "aware",
    "shift_window",
    "stamp_window",
    "utc_stamp",
    "wib_text",
]

WIB = _dt.timezone(_dt.timedelta(hours=7), "WIB")
"""Western Indonesian Time, the clock of Java and Sumatra offices; shifts are 08-20 and 20-08."""


@dataclass(frozen=True)
class Shift:
    """A staffed window, repeated every day (or on ``weekdays``, Monday = 0), in WIB. A shift
    ending at or before its start runs past midnight. ``printers`` is how many printers the
    staff on duty can run (``None``: all of them); the fastest ones are run."""

    start: _dt.time
    end: _dt.time
    printers: int | None = None
    weekdays: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.printers is not None and self.printers < 0:
            raise InvalidArgumentError("a shift runs zero or more printers")


DEFAULT_SHIFTS: tuple[Shift, ...] = (
    Shift(_dt.time(8), _dt.time(20)),
    Shift(_dt.time(20), _dt.time(8)),
)
"""Two 12-hour shifts, 08-20 and 20-08 WIB, every day."""


def shift_window(day: _dt.date, *, night: bool = False) -> tuple[_dt.datetime, _dt.datetime]:
    """The day shift (08:00-20:00 WIB) or the night shift (20:00-08:00 WIB, starting on
    ``day``) as aware datetimes, for :meth:`~ektpcore.BlankStock.reconcile` and
    :meth:`~ektpcore.Ledger.events`."""
    start = _dt.datetime.combine(day, _dt.time(20 if night else 8), WIB)
    return start, start + _dt.timedelta(hours=12)


def aware(moment: _dt.datetime) -> _dt.datetime:
    """``moment`` itself when it carries a zone; a naive time is read as WIB."""
    return moment.replace(tzinfo=WIB) if moment.tzinfo is None else moment


def utc_stamp(moment: _dt.datetime | None = None) -> str:
    """The ledger's text form of an instant (now by default): ISO 8601 in UTC to the
    microsecond, so stamps sort as text in the order they happened."""
    when = _dt.datetime.now(_dt.UTC) if moment is None else aware(moment).astimezone(_dt.UTC)
    return when.isoformat(timespec="microseconds")


def stamp_window(start: _dt.datetime | None, end: _dt.datetime | None) -> tuple[str, str]:
    """The ledger stamps bounding ``start`` .. ``end`` (a naive time read as WIB; an end not
    given is open), for reads of what happened in a window."""
    lo = _dt.datetime.min.replace(tzinfo=_dt.UTC) if start is None else aware(start)
    hi = _dt.datetime.max.replace(tzinfo=_dt.UTC) if end is None else aware(end)
    return utc_stamp(lo), utc_stamp(hi)


def wib_text(moment: _dt.datetime | str) -> str:
    """An instant (or a ledger stamp) as the bureau's clock shows it, for messages and reports:
    ``2017-11-13 08:00:00 WIB``."""
    when = _dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return aware(when).astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S WIB")
