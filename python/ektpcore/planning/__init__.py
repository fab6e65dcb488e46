"""Batch planning: which printer prints which cards, in which click, and when.

An office sends cards to its printers in batches, one click each. Every click costs a fixed
overhead (network round trips, waiting for the central database) before its first card prints,
so a click of hundreds beats a click of tens. :func:`plan` turns print-ready records, printers,
staffed shifts and the blank stock into :class:`Batch` es of at most ``click_limit`` cards,
grouped by kecamatan then kelurahan so they travel together, the most urgent priority class
first when blanks are short. The scheduling itself runs in the Rust core (``rust/plan``);
this package converts times, names and shifts, and keeps what :meth:`Plan.replan` needs to plan
again after a jam, a printer going down, a blank delivery or new print-ready records.

Times are aware datetimes; naive ones are read as WIB (UTC+7), the zone of the shifts
(:mod:`ektpcore.clock`).

The modules: :mod:`.model` (printers, batches, priority classes, plan events), :mod:`.config`
(the TOML printer setup), :mod:`.inputs` (record columns as the planner reads them),
:mod:`.windows` (printer working windows) and :mod:`.schedule` (:func:`plan` and
:class:`Plan`).
"""

from __future__ import annotations

from ..clock import DEFAULT_SHIFTS, Shift
from .config import PrinterSetup, printers_from_toml
from .model import (
    Batch,
    BlanksReceived,
    CardSpoiled,
    Jam,
    NewRecords,
    PlanEvent,
    Printer,
    PrinterDown,
    Priority,
    Unscheduled,
)
from .schedule import Plan, plan
from .windows import _around_the_clock as _around_the_clock
from .windows import _windows as _windows

__all__ = [
    "DEFAULT_SHIFTS",
    "Batch",
    "BlanksReceived",
    "CardSpoiled",
    "Jam",
    "NewRecords",
    "Plan",
    "PlanEvent",
    "Printer",
    "PrinterDown",
    "PrinterSetup",
    "Priority",
    "Shift",
    "Unscheduled",
    "plan",
    "printers_from_toml",
]
