"""The campaign simulator: an office's printing campaign, day by day, before it runs it.

A seeded discrete-event simulation that drives the real planner (:mod:`ektpcore.planning`) and a
real ledger (an SQLite ledger in memory unless a path is given): records arrive from the centre,
batches are queued with their blanks, printers print, jam, break down and run out of ribbon,
chips fail, cards are spoiled, re-planned, sent to the kecamatan and kelurahan and collected.
Everything an office would record is recorded in the ledger, which is verified at the end.

The default scenario is Kota Bogor's, November 2017 (``scenario.toml`` next to this module);
:func:`load_scenario` reads another TOML file over it and applies ``section.key=value``
overrides. :func:`simulate` returns a :class:`CampaignReport`; :func:`plot_report` draws it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import gc
import heapq
import itertools
import json
import math
import queue
import re
import signal
import sys
import threading
import time
import tomllib
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, cast

import numpy as np
import numpy.typing as npt

from .clock import WIB
from .errors import BlankShortageWarning, InvalidArgumentError, LedgerFileError
from .ledger import BlankState, Ledger, Manifest, SqliteStore
from .ledger.schema import drop_read_indexes
from .ledger.store import is_database_url
from .lifecycle import Actor, Role, State
from .planning import (
    BlanksReceived,
    CardSpoiled,
    Jam,
    NewRecords,
    Plan,
    PlanEvent,
    Printer,
    PrinterDown,
    Priority,
    Shift,
)
from .regions import RegionTable
from .sample import sample_niks

__all__ = [
    "CampaignReport",
    "campaign_figure",
    "default_scenario_text",
    "load_scenario",
    "plot_report",
    "simulate",
]

_DAY = 86_400.0
_OPERATOR = Actor("simulated operator", Role.OPERATOR)
_SUPERVISOR = Actor("simulated supervisor", Role.SUPERVISOR)


def default_scenario_text() -> str:
    """The default scenario as TOML (a template for an office's own)."""
    return resources.files(__package__).joinpath("scenario.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], over: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        path = f"{where}{key}"
        if key not in base:
            raise InvalidArgumentError(f"scenario: unknown setting {path!r}")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise InvalidArgumentError(f"scenario: {path!r} is a section, not a value")
            out[key] = _merge(base[key], value, f"{path}.")
        else:
            out[key] = value
    return out


def _override(text: str) -> dict[str, Any]:
    """``a.b=value`` as nested dicts; the value is read as TOML, or as text when it is not."""
    if "=" not in text:
        raise InvalidArgumentError(f"an override is section.key=value, got {text!r}")
    path, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    keys = [k.strip() for k in path.split(".")]
    nested: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        nested = {key: nested}
    return nested


def load_scenario(path: str | Path | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """The default scenario, with the TOML file at ``path`` and then ``overrides``
    (``"printers.count=8"``) applied. Unknown settings are refused by name."""
    scenario = tomllib.loads(default_scenario_text())
    if path is not None:
        try:
            scenario = _merge(scenario, tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as err:
            raise InvalidArgumentError(f"{path}: {err}") from None
    for text in overrides:
        scenario = _merge(scenario, _override(text))
    _check(scenario)
    return scenario


_MOST_RECORDS = 10_000_000
"""The most records of each kind, and blanks, a scenario may hold (a province's campaign)."""


def _check(s: Mapping[str, Any]) -> None:
    """Every setting of a scenario of the right kind and within bounds, named when it is not
    (``blanks.deliveries[2].count``): a scenario comes from an office's own file or the
    command line, and nothing in it should end in a traceback half-way through a run."""

    def fail(where: str, what: str, value: Any) -> NoReturn:
        raise InvalidArgumentError(f"scenario: {where} must be {what}, got {value!r}")

    def number(where: str, value: Any, lo: float = 0.0, hi: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            fail(where, f"a number in [{lo}, {hi}]", value)
        return float(value)

    def whole(where: str, value: Any, lo: int = 0, hi: int = _MOST_RECORDS) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not lo <= value <= hi
            or value != int(value)
        ):
            fail(where, f"a whole number in [{lo}, {hi}]", value)
        return int(value)

    def table(where: str, value: Any, keys: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping) or set(value) != keys:
            fail(where, "a table of " + ", ".join(sorted(keys)), value)
        return value

    def each(section: str, key: str) -> list[tuple[str, Any]]:
        value = s[section][key]
        if not isinstance(value, list):
            fail(f"{section}.{key}", "a list", value)
        return [(f"{section}.{key}[{i}]", item) for i, item in enumerate(value)]

    settings: dict[str, dict[str, tuple[float, float, bool]]] = {
        # section: {key: (lo, hi, whole)}
        "campaign": {
            "target_days": (1, 3650, True),
            "click_limit": (1, 100_000, True),
            "click_overhead_minutes": (0, 1440, False),
            "max_days": (1, 3650, False),
        },
        "records": {
            "print_ready": (0, _MOST_RECORDS, True),
            "sent_for_enrolment": (0, _MOST_RECORDS, True),
            "bio_captured": (0, _MOST_RECORDS, True),
            "replacement_share": (0, 1, False),
        },
        "central": {
            "confirm_days_mean": (0, 365, False),
            "send_hours_mean": (0, 8760, False),
            "dedup_days_mean": (0, 365, False),
            "duplicate_share": (0, 1, False),
            "tranche_hours": (0.01, 8760, False),
        },
        "blanks": {"in_stock": (0, _MOST_RECORDS, True)},
        "ribbons": {
            "capacity": (1, 100_000, True),
            "in_stock": (0, 100_000, True),
            "change_minutes": (0, 1440, False),
        },
        "printers": {
            "count": (1, 1000, True),
            "cards_per_hour": (1, 100_000, False),
            "cards_per_hour_two_sided": (1, 100_000, False),
            "chip_seconds": (0, 3600, False),
        },
        "staffing": {"printers_per_operator": (1, 1000, True)},
        "faults": {
            "jam_rate": (0, 0.5, False),
            "jam_clear_minutes": (0, 1440, False),
            "chip_failure_rate": (0, 0.5, False),
            "qc_reject_rate": (0, 0.5, False),
            "breakdowns_per_printer_day": (0, 100, False),
            "repair_hours": (0, 8760, False),
        },
        "distribution": {
            "dispatch_hour": (0, 23, True),
            "to_kecamatan_days": (0, 365, False),
            "to_kelurahan_days": (0, 365, False),
            "collection_days_mean": (0, 365, False),
        },
    }
    for section, keys in settings.items():
        for key, (lo, hi, integral) in keys.items():
            where, value = f"{section}.{key}", s[section][key]
            if integral:
                whole(where, value, int(lo), int(hi))
            else:
                number(where, value, lo, hi)
    camp = s["campaign"]
    if not isinstance(camp["name"], str):
        fail("campaign.name", "text", camp["name"])
    start = camp["start"]
    if not isinstance(start, _dt.datetime) or not 1970 <= start.year <= 2200:
        fail("campaign.start", "a TOML date-time between 1970 and 2200", start)
    if not isinstance(s["records"]["two_sided"], bool):
        fail("records.two_sided", "true or false", s["records"]["two_sided"])
    days = float(camp["max_days"])
    blanks = int(s["blanks"]["in_stock"])
    for where, item in each("blanks", "deliveries"):
        got = table(where, item, {"day", "count"})
        number(f"{where}.day", got["day"], 0, days)
        blanks += whole(f"{where}.count", got["count"], 1)
    if blanks > _MOST_RECORDS:
        fail("blanks (in stock and delivered)", f"at most {_MOST_RECORDS:,} in all", blanks)
    for where, item in each("ribbons", "deliveries"):
        got = table(where, item, {"day", "count"})
        number(f"{where}.day", got["day"], 0, days)
        whole(f"{where}.count", got["count"], 1, 100_000)
    shifts = s["shifts"]
    if not isinstance(shifts, list) or not shifts:
        fail("shifts", "a list of at least one shift", shifts)
    for i, item in enumerate(shifts):
        where = f"shifts[{i}]"
        got = table(where, item, {"start", "end", "staff"})
        for key in ("start", "end"):
            text = got[key]
            if not isinstance(text, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
                fail(f"{where}.{key}", 'a time of day as "HH:MM"', text)
        whole(f"{where}.staff", got["staff"], 0, 1000)
    dist = s["distribution"]
    kabkota = dist["kabkota"]
    if not isinstance(kabkota, str) or not re.fullmatch(r"\d\d\.?\d\d", kabkota):
        fail("distribution.kabkota", 'a regency or city code such as "32.71"', kabkota)
    places = each("distribution", "kecamatan")
    if not 1 <= len(places) <= 99:
        fail("distribution.kecamatan", "a list of 1 to 99 kecamatan", dist["kecamatan"])
    for where, item in places:
        got = table(where, item, {"name", "kelurahan"})
        if not isinstance(got["name"], str) or not got["name"].strip():
            fail(f"{where}.name", "a name", got["name"])
        whole(f"{where}.kelurahan", got["kelurahan"], 1, 999)


# -- the report ------------------------------------------------------------------------------


@dataclass
class CampaignReport:
    """What a simulated campaign came to. Times are days from the campaign start."""

    scenario: dict[str, Any]
    seed: int
    records: int
    duplicates: int
    printed: int
    issued: int
    spoiled: dict[str, int]
    blanks_in: int
    blank_shortfall: int
    days_to_print: float | None
    days_to_issue: float | None
    printed_by_target: int
    issued_by_target: int
    cards_per_day: list[int]
    utilisation: dict[str, float]
    ribbons_used: int
    ribbon_waits_hours: float
    replans: int
    replan_ms_mean: float
    ledger_verified: bool
    blanks_balanced: bool
    # Wall-clock seconds of the run: planning (the first plan, re-plans, looking up the next
    # batch), the ledger (every call on it), the simulation (the rest), and the total. The
    # ledger's changes run on a thread of their own beside the other two, so the three parts
    # add up to more than the total by as much as they overlapped.
    seconds: dict[str, float] = field(compare=False)
    printed_curve: list[tuple[float, int]] = field(repr=False)
    issued_curve: list[tuple[float, int]] = field(repr=False)
    timeline: dict[str, list[tuple[float, float, str]]] = field(repr=False)

    @property
    def target_days(self) -> int:
        return int(self.scenario["campaign"]["target_days"])

    def summary(self) -> str:
        """The campaign in a few lines a person reads."""
        return "\n".join(self.summary_lines())

    def summary_lines(self) -> list[str]:
        """:meth:`summary`'s lines, one by one (a scenario's names, shown in them, may hold
        line breaks of their own)."""
        name = self.scenario["campaign"]["name"]
        days = (
            "not within the simulation"
            if self.days_to_print is None
            else (f"{self.days_to_print:.1f} days")
        )
        busy_days = [c for c in self.cards_per_day if c]
        per_day = sum(busy_days) / len(busy_days) if busy_days else 0.0
        lines = [
            f"{name}: {self.records:,} records, {self.blanks_in:,} blanks, "
            f"{len(self.utilisation)} printers (seed {self.seed})",
            f"  printed {self.printed:,} cards in {days}; {per_day:,.0f} cards a day on the "
            f"days printing ran (best {max(self.cards_per_day, default=0):,})",
            f"  by day {self.target_days}: {self.printed_by_target:,} printed, "
            f"{self.issued_by_target:,} issued; all issued after "
            + ("-" if self.days_to_issue is None else f"{self.days_to_issue:.1f} days"),
            "  utilisation: " + ", ".join(f"{p} {u:.0%}" for p, u in self.utilisation.items()),
            f"  spoiled blanks: {sum(self.spoiled.values()):,} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(self.spoiled.items()))
            + ")",
            f"  central duplicate check rejected {self.duplicates:,} records",
            f"  ribbons used: {self.ribbons_used}; printers waited {self.ribbon_waits_hours:.0f} h"
            " for ribbons",
        ]
        if self.blank_shortfall > 0:
            covered = self.blanks_in - sum(self.spoiled.values())
            lines.append(
                f"  BLANK SHORTFALL: {self.blank_shortfall:,} print-ready records got no card."
                f" The {self.blanks_in:,} blanks covered {covered:,} cards after spoilage;"
                f" at least {self.blank_shortfall:,} more are needed (first-time cards were"
                " served first; replacements wait)."
            )
        else:
            lines.append("  blanks: enough for every print-ready record")
        lines.append("  bottlenecks:")
        lines += [f"    {line}" for line in self.bottlenecks()]
        lines.append(
            f"  ledger: history chain {'verified' if self.ledger_verified else 'BROKEN'}, "
            f"blank stock {'balanced' if self.blanks_balanced else 'NOT balanced'}; "
            f"{self.replans} re-plans, {self.replan_ms_mean:.1f} ms each on average"
        )
        t = self.seconds
        lines.append(
            f"  run: {t['total']:.1f} s (planning {t['planning']:.1f} s, simulation "
            f"{t['simulation']:.1f} s, and beside them the ledger {t['ledger']:.1f} s)"
        )
        return lines

    def bottlenecks(self) -> list[str]:
        """What held the campaign back, resource by resource: blanks, ribbons, staff and
        printers, each said to be a bottleneck (and by how much) or not."""
        s = self.scenario
        lines = []
        if self.blank_shortfall > 0:
            lines.append(
                f"blanks: a BOTTLENECK: {self.blank_shortfall:,} print-ready records got no"
                f" card; at least {self.blank_shortfall:,} more blanks are needed"
            )
        else:
            lines.append("blanks: not a bottleneck (enough for every print-ready record)")
        if self.ribbon_waits_hours > 0:
            lines.append(
                f"ribbons: a BOTTLENECK: printers waited {self.ribbon_waits_hours:.0f} h for"
                f" ribbons ({self.ribbons_used} used); keep more in stock"
            )
        else:
            lines.append(f"ribbons: not a bottleneck ({self.ribbons_used} used, none waited for)")
        count = int(s["printers"]["count"])
        per = int(s["staffing"]["printers_per_operator"])
        short = [
            f"the {sh['start']}-{sh['end']} shift's {sh['staff']}"
            f" {'operator runs' if int(sh['staff']) == 1 else 'operators run'}"
            f" {min(count, int(sh['staff']) * per)} of {count} printers"
            for sh in s["shifts"]
            if int(sh["staff"]) * per < count
        ]
        if short:
            lines.append("staff: a BOTTLENECK: " + "; ".join(short))
        else:
            every = {1: "the printer", 2: "both printers"}.get(count, f"all {count} printers")
            lines.append(f"staff: not a bottleneck (every shift runs {every})")
        printable = self.records - self.duplicates - self.blank_shortfall
        busy = sum(self.utilisation.values()) / len(self.utilisation) if self.utilisation else 0
        down = sum(
            (b - a) * 24 for spans in self.timeline.values() for a, b, k in spans if k == "down"
        )
        broken = f"; broken down {down:.0f} h in all" if down else ""
        if self.printed_by_target < printable and busy >= 0.85:
            lines.append(
                f"printers: a BOTTLENECK: busy {busy:.0%} of the time, yet"
                f" {self.printed_by_target:,} of {printable:,} printable cards were printed by"
                f" day {self.target_days}{broken}"
            )
        else:
            lines.append(
                f"printers: not a bottleneck (busy {busy:.0%} of the time,"
                f" {self.printed_by_target:,} of {printable:,} printable cards by day"
                f" {self.target_days}{broken})"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["bottlenecks"] = self.bottlenecks()
        doc["scenario"] = json.loads(json.dumps(self.scenario, default=str))
        return doc

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def campaign_figure(report: CampaignReport) -> Any:
    """The campaign's picture as a matplotlib figure (see :func:`plot_report`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plotting needs matplotlib: pip install 'ektpcore[plot]' (or pip install matplotlib)"
        ) from None
    printers = list(report.timeline)
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(11, 7 + 0.25 * len(printers)),
        gridspec_kw={"height_ratios": [3, 1 + 0.25 * len(printers)]},
        sharex=True,
    )
    for curve, label, colour in (
        (report.printed_curve, "printed", "#1f77b4"),
        (report.issued_curve, "issued to citizens", "#2ca02c"),
    ):
        if curve:
            xs, ys = zip(*curve, strict=True)
            top.step(xs, ys, where="post", label=label, color=colour, linewidth=2)
    top.axvline(report.target_days, color="#d62728", linestyle="--", label="target")
    top.axhline(
        report.records - report.duplicates, color="grey", linestyle=":", label="records to print"
    )
    top.axhline(report.blanks_in, color="#ff7f0e", linestyle=":", label="blanks delivered")
    title = f"{report.scenario['campaign']['name']}: {report.printed:,} printed,"
    title += f" {report.issued:,} issued"
    if report.blank_shortfall > 0:
        # The records the summary says got no card: the band between what was printed and
        # what there was to print.
        end = max([report.target_days, *(x for x, _ in report.issued_curve)]) + 1
        top.fill_between(
            [0, end],
            report.printed,
            report.printed + report.blank_shortfall,
            color="#d62728",
            alpha=0.15,
            label=f"blank shortfall: {report.blank_shortfall:,} records without a card",
        )
        title += f"; BLANK SHORTFALL {report.blank_shortfall:,}"
    top.set_ylabel("cards")
    top.set_title(title)
    top.legend(loc="lower right")
    top.grid(alpha=0.3)
    colours = {"print": "#1f77b4", "down": "#d62728", "ribbon": "#ff7f0e"}
    for row, name in enumerate(printers):
        for kind in colours:
            spans = [(a, b - a) for a, b, k in report.timeline[name] if k == kind]
            if spans:
                bottom.broken_barh(spans, (row - 0.4, 0.8), color=colours[kind])
    bottom.set_yticks(range(len(printers)), printers)
    bottom.set_xlabel("days from the campaign start")
    bottom.set_title("printers: printing (blue), broken down (red), waiting for ribbon (orange)")
    bottom.axvline(report.target_days, color="#d62728", linestyle="--")
    last = max([report.target_days, *(x for x, _ in report.issued_curve)])
    bottom.set_xlim(0, last + 1)
    fig.tight_layout()
    return fig


def plot_report(report: CampaignReport, path: str | Path) -> None:
    """A PNG: cumulative cards printed and issued against the target (and the blank
    shortfall, when there is one), and a timeline per printer (batches, breakdowns and
    waits). Needs matplotlib (``pip install 'ektpcore[plot]'``)."""
    import matplotlib.pyplot as plt

    fig = campaign_figure(report)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the simulation --------------------------------------------------------------------------


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    kind: str = field(compare=False)
    data: Any = field(compare=False, default=None)


@dataclass
class _Running:
    """A batch on a printer: its cards, blanks and how it will end."""

    batch: str
    printer: str
    records: list[int]
    serials: Future[dict[str, list[int]]]  # per batch, from Plan.commit
    starts: list[float]
    ends: list[float]
    changes: tuple[int, ...]
    stop_at: int  # cards that will print (the rest go back)
    stop_kind: str  # "done", "jam", "ribbon"


@dataclass
class _Outcome:
    """How a batch's printed cards fared after printing, drawn when the batch ends."""

    printed: int  # cards that went through the printer
    failed_chip: list[int]  # chip encoding failed: the blank is spoiled, the record goes back
    encoded: list[int]
    rejected: list[int]  # rejected at quality control: the same
    passed: list[int]
    spoil_current: bool  # the card in the printer when the batch stopped is spoiled
    why: str  # why the batch ended ("done", "jam", ...)

    def steps(self) -> list[tuple[list[int], State, str | None]]:
        """The records' steps after printing, in order: (NIKs, state, reason)."""
        return [
            (niks, state, reason)
            for niks, state, reason in (
                (self.failed_chip, State.PRINT_READY, "chip encoding failed"),
                (self.encoded, State.ENCODED, None),
                (self.rejected, State.PRINT_READY, "rejected at quality control"),
                (self.passed, State.QC_PASSED, None),
            )
            if niks
        ]


class _CampaignSettings:
    """Two settings of the Python process while campaigns play, then as before:

    - the cycle collector runs a hundred times less often: a campaign allocates millions of
      short-lived rows and tuples, none in cycles, and keeps its own state to the end; at the
      default thresholds the collector walked the growing heap again and again, some 4 % of
      the run;
    - Python's lock passes between threads every 0.2 ms instead of every 5 ms: the ledger's
      thread (see :class:`_LedgerThread`) lets go of it for each of its some 39,000
      statements, and coming back waited for the simulation's thread to give it up, up to the
      whole interval each time; the two then ran one after the other as if on one core.

    Both are the process's: other threads see them while any campaign plays. The first
    campaign to start takes them, the last to end puts back what was there before it, so
    campaigns on several threads at once leave the process as they found it."""

    _lock = threading.Lock()
    _playing = 0
    _before: tuple[tuple[int, int, int], float] = (gc.get_threshold(), sys.getswitchinterval())

    @classmethod
    @contextlib.contextmanager
    def held(cls) -> Iterator[None]:
        with cls._lock:
            if not cls._playing:
                cls._before = (gc.get_threshold(), sys.getswitchinterval())
                thresholds = cls._before[0]
                gc.set_threshold(thresholds[0] * 100, *thresholds[1:])
                sys.setswitchinterval(0.0002)
            cls._playing += 1
        try:
            yield
        finally:
            with cls._lock:
                cls._playing -= 1
                if not cls._playing:
                    thresholds, interval = cls._before
                    gc.set_threshold(*thresholds)
                    sys.setswitchinterval(interval)


@contextlib.contextmanager
def _one_interrupt() -> Iterator[None]:
    """Ctrl-C stops a campaign once: after the first, the ones that follow are ignored until
    the ledger's thread has ended the change it was making, so that no second interrupt
    closes the ledger under it (:meth:`_LedgerThread.stop` waits for it through the
    interrupts it sees, but one landing between two statements would escape the wait). Only
    where Python's own handler is in place, on the main thread; another handler is left as
    it is."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def first(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class _Stopwatch:
    """Wall-clock seconds per part of a run; a call inside a timed call counts for the outer
    one (the ledger reads of making a plan are planning)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._depth = 0

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        if self._depth:
            yield
            return
        self._depth += 1
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began
            self._depth -= 1


class _TimedLedger:
    """The ledger as the simulator sees it: every call on it, on its parts (blanks, ribbons,
    distribution) and on its transactions is timed as the ledger's."""

    def __init__(self, target: Any, watch: _Stopwatch) -> None:
        self._target = target
        self._watch = watch

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                with self._watch.part("ledger"):
                    out = value(*args, **kwargs)
                # A transaction: its entry, its calls and its commit are the ledger's too.
                return _TimedLedger(out, self._watch) if hasattr(out, "__enter__") else out

            return call
        if type(value).__module__.startswith("ektpcore.ledger"):
            return _TimedLedger(value, self._watch)
        return value

    def __enter__(self) -> Any:
        with self._watch.part("ledger"):
            return _TimedLedger(self._target.__enter__(), self._watch)

    def __exit__(self, *exc: Any) -> Any:
        with self._watch.part("ledger"):
            return self._target.__exit__(*exc)


# A change for the ledger's thread: its future, the work and its arguments.
_Change = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _LedgerThread:
    """The campaign's changes of the ledger, made in order on a thread of their own while the
    simulation and the planner go on, as a bureau's stations record what they did while its
    planner looks ahead. The simulation waits only for what it needs to know (the manifests a
    morning sends, what a consignment holds); SQLite and the core work without Python's lock,
    so the ledger's time and the rest overlap on a machine with more than one core.

    The first change that fails stops the ones after it (they would act on a ledger that
    missed it) and is raised where the simulation next waits, at the latest at the end. The
    thread is always waited for before the simulation goes on past :meth:`stop` or
    :meth:`finish`, through further interrupts too: the ledger is closed after, and never
    under a change being made."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Change | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._dropping = False
        # Seconds the thread spent on the ledger's changes, and the simulation waiting for it.
        self.busy = 0.0
        self.waited = 0.0

    def later(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Queues ``work(*args, **kwargs)`` after every change queued before it."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ektpcore-ledger")
            self._thread.start()
        done: Future[Any] = Future()
        self._queue.put((done, work, args, kwargs))
        return done

    def _work(self) -> None:
        while (change := self._queue.get()) is not None:
            done, work, args, kwargs = change
            if self._dropping or not done.set_running_or_notify_cancel():
                done.cancel()
                continue
            if self._failed is not None:
                done.set_exception(self._failed)
                continue
            began = time.perf_counter()
            try:
                done.set_result(work(*args, **kwargs))
            except BaseException as err:
                self._failed = self._failed or err
                done.set_exception(err)
            finally:
                self.busy += time.perf_counter() - began

    def result(self, change: Future[Any]) -> Any:
        """What a queued change returned, once it is made."""
        began = time.perf_counter()
        try:
            return change.result()
        finally:
            self.waited += time.perf_counter() - began

    def now(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` after every change queued before it; its result."""
        return self.result(self.later(work, *args))

    def stop(self) -> None:
        """Drops the changes not yet begun and waits for the one under way (the simulation
        failed or was interrupted)."""
        self._dropping = True
        self._end()

    def finish(self) -> None:
        """Waits for every queued change; raises the first that failed."""
        began = time.perf_counter()
        self._end()
        self.waited += time.perf_counter() - began
        if self._failed is not None:
            raise self._failed

    def _end(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        interrupted: BaseException | None = None
        while self._thread.is_alive():
            try:
                self._thread.join()
            except KeyboardInterrupt as err:
                # Another Ctrl-C: what is not begun is dropped, the change under way ends.
                interrupted, self._dropping = err, True
        if interrupted is not None:
            raise interrupted


class _Campaign:
    def __init__(
        self,
        scenario: Mapping[str, Any],
        seed: int,
        ledger: Ledger,
        regions: RegionTable | None,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.s = scenario
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.watch = _Stopwatch()
        self.began = time.perf_counter()
        self.ledger = cast(Ledger, _TimedLedger(ledger, self.watch))
        # The ledger as the thread of the campaign's changes uses it (see _LedgerThread).
        self.direct = ledger
        self.changes = _LedgerThread()
        self.progress = progress
        camp = scenario["campaign"]
        self.origin: _dt.datetime = camp["start"]
        if self.origin.tzinfo is None:
            self.origin = self.origin.replace(tzinfo=WIB)
        self.max_t = float(camp["max_days"]) * _DAY
        self.events: list[_Event] = []
        self._seq = 0
        self.places = self._places(regions)
        self.printers = self._printers()
        self.shifts = self._shifts()
        self.ribbon_stock = int(scenario["ribbons"]["in_stock"])
        self.ribbons_used = len(self.printers)
        self.spoiled: Counter[str] = Counter()
        self.timeline: dict[str, list[tuple[float, float, str]]] = {p.id: [] for p in self.printers}
        self.printed_at: list[float] = []
        self.issued_at: list[float] = []
        self.running: dict[str, _Running] = {}
        self.started: set[str] = set()
        self.replan_times: list[float] = []
        self.duplicates = 0
        self.record_place: dict[int, int] = {}
        self.record_priority: dict[int, int] = {}
        self.plan: Plan

    # -- setting up --------------------------------------------------------------------------

    def _places(self, regions: RegionTable | None) -> list[tuple[str, str, str]]:
        """(kecamatan code, kecamatan, kelurahan) of every kelurahan in the city."""
        dist = self.s["distribution"]
        out = []
        if regions is not None:
            for code, kec in regions.children(dist["kabkota"]):
                for _, kel in regions.children(code):
                    out.append((code, kec, kel))
            if not out:
                raise InvalidArgumentError(
                    f"the region table has no kecamatan under {dist['kabkota']}"
                )
            return out
        base = "".join(ch for ch in str(dist["kabkota"]) if ch.isdigit())
        for k, kec in enumerate(dist["kecamatan"], start=1):
            for j in range(1, int(kec["kelurahan"]) + 1):
                out.append((f"{base}{k:02d}", kec["name"], f"{kec['name']} {j:02d}"))
        return out

    def _printers(self) -> list[Printer]:
        p, r = self.s["printers"], self.s["ribbons"]
        return [
            Printer(
                f"P{i + 1}",
                float(p["cards_per_hour"]),
                float(p["cards_per_hour_two_sided"]),
                chip_seconds=float(p["chip_seconds"]),
                ribbon_capacity=int(r["capacity"]),
                ribbon_change_minutes=float(r["change_minutes"]),
            )
            for i in range(int(p["count"]))
        ]

    def _shifts(self) -> list[Shift]:
        per = int(self.s["staffing"]["printers_per_operator"])
        out = []
        for sh in self.s["shifts"]:
            start = _dt.time.fromisoformat(str(sh["start"]))
            end = _dt.time.fromisoformat(str(sh["end"]))
            out.append(Shift(start, end, printers=int(sh["staff"]) * per))
        return out

    def at(self, days: float) -> _dt.datetime:
        return self.origin + _dt.timedelta(days=days)

    def when(self, t: float) -> _dt.datetime:
        return self.origin + _dt.timedelta(seconds=t)

    def _utc(self, t: float) -> np.datetime64:
        """The instant ``t`` seconds after the start, in UTC, to the microsecond."""
        moment = self.when(t).astimezone(_dt.UTC).replace(tzinfo=None)
        return np.datetime64(moment, "us")

    def push(self, t: float, kind: str, data: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self.events, _Event(t, self._seq, kind, data))

    def intake(self) -> None:
        rec = self.s["records"]
        counts = [int(rec["print_ready"]), int(rec["sent_for_enrolment"]), int(rec["bio_captured"])]
        n = sum(counts)
        place = self.rng.integers(0, len(self.places), n)
        niks = self._niks(place)
        self.niks = niks
        for v, k in zip(niks.tolist(), place.tolist(), strict=True):
            self.record_place[v] = k
        prr, sfe = niks[: counts[0]], niks[counts[0] : counts[0] + counts[1]]
        bio = niks[counts[0] + counts[1] :]
        replacement = self.rng.random(len(prr)) < float(rec["replacement_share"])
        for v, r in zip(prr.tolist(), replacement.tolist(), strict=True):
            self.record_priority[v] = Priority.REPLACEMENT if r else Priority.FIRST_TIME
        ends = np.cumsum(counts)
        states = (State.PRINT_READY, State.SENT_FOR_ENROLMENT, State.BIO_CAPTURED)
        for start, end, state in zip((ends - counts).tolist(), ends.tolist(), states, strict=True):
            if end > start:
                # Taken in as the centre's lists come, kelurahan by kelurahan: a batch's records
                # then sit side by side in the ledger's tables and indexes.
                order = start + np.argsort(place[start:end], kind="stable")
                group, where = niks[order], place[order].tolist()
                self.changes.later(
                    self.direct.add_records,
                    group,
                    _OPERATOR,
                    state=state,
                    kecamatan=[self.places[k][1] for k in where],
                    kelurahan=[self.places[k][2] for k in where],
                    priority=[self.record_priority.get(v, 0) for v in group.tolist()],
                )
        blanks = int(self.s["blanks"]["in_stock"])
        self.next_serial = 1_000_001
        self.blanks_in = 0
        self.receive_blanks(blanks)
        for p in self.printers:
            self.changes.later(
                self.direct.ribbons.install, p.id, "YMCKO", p.ribbon_capacity, _OPERATOR
            )
        central = self.s["central"]
        tranche = float(central["tranche_hours"]) * 3600.0

        def tranches(
            times: npt.NDArray[np.float64],
            values: npt.NDArray[np.int64],
            kind: str,
            extra: npt.NDArray[np.bool_] | None = None,
        ) -> None:
            slot = np.ceil(times / tranche) * tranche
            for t in np.unique(slot).tolist():
                mask = slot == t
                payload = values[mask] if extra is None else (values[mask], extra[mask])
                self.push(float(t), kind, payload)

        confirm = self.rng.exponential(float(central["confirm_days_mean"]) * _DAY, len(sfe))
        tranches(confirm, sfe, "confirm")
        sent = self.rng.exponential(float(central["send_hours_mean"]) * 3600.0, len(bio))
        tranches(sent, bio, "send")
        answer = sent + self.rng.exponential(float(central["dedup_days_mean"]) * _DAY, len(bio))
        duplicate = self.rng.random(len(bio)) < float(central["duplicate_share"])
        tranches(answer, bio, "central", duplicate)
        for d in self.s["blanks"]["deliveries"]:
            self.push(float(d["day"]) * _DAY, "blanks", int(d["count"]))
        for d in self.s["ribbons"]["deliveries"]:
            self.push(float(d["day"]) * _DAY, "ribbons", int(d["count"]))
        faults = self.s["faults"]
        rate = float(faults["breakdowns_per_printer_day"])
        for p in self.printers:
            t = 0.0
            while rate > 0:
                t += self.rng.exponential(_DAY / rate)
                if t >= self.max_t:
                    break
                self.push(t, "breakdown", p.id)
        dist = self.s["distribution"]
        first = self.origin.astimezone(WIB).replace(
            hour=int(dist["dispatch_hour"]), minute=0, second=0, microsecond=0
        )
        day = 0
        while True:
            t = (first + _dt.timedelta(days=day) - self.origin).total_seconds()
            if t > self.max_t:
                break
            if t >= 0:
                self.push(t, "dispatch")
            day += 1

    def _niks(self, place: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Distinct NIKs, each registered in its record's kecamatan."""
        region = np.array([int(self.places[k][0]) for k in place.tolist()], dtype=np.int64)

        def draw(count: int) -> npt.NDArray[np.int64]:
            seed = int(self.rng.integers(2**31))
            return sample_niks(count, seed=seed, reference_date=self.origin.date()) % 10**10

        out = region * 10**10 + draw(len(place))
        while True:
            repeated = np.ones(len(out), dtype=bool)
            repeated[np.unique(out, return_index=True)[1]] = False
            if not repeated.any():
                return out
            out[repeated] = region[repeated] * 10**10 + draw(int(repeated.sum()))

    def receive_blanks(self, count: int) -> None:
        if count <= 0:
            return
        first = self.next_serial
        self.changes.later(
            self.direct.blanks.receive, f"LOT-{first}", first, first + count - 1, _SUPERVISOR
        )
        self.next_serial += count
        self.blanks_in += count

    def records_for(self, niks: Sequence[int], t: float) -> dict[str, Any]:
        return {
            "id": np.asarray(niks, dtype=np.int64),
            "kecamatan": [self.places[self.record_place[v]][1] for v in niks],
            "kelurahan": [self.places[self.record_place[v]][2] for v in niks],
            "priority": [self.record_priority.get(v, 0) for v in niks],
            # UTC instants as one datetime64 column: the planner reads it without a datetime
            # object per record.
            "ready": np.full(len(niks), self._utc(t)),
            "two_sided": [bool(self.s["records"]["two_sided"])] * len(niks),
        }

    # -- running -----------------------------------------------------------------------------

    def replan(self, t: float, events: list[PlanEvent]) -> None:
        began = time.perf_counter()
        with self.watch.part("planning"):
            self.plan = self.plan.replan(self.when(t), events)
        self.replan_times.append(time.perf_counter() - began)

    def run(self, scratch: SqliteStore | None = None) -> CampaignReport:
        """Plays the campaign and reports it. ``scratch``: the store of the ledger in memory,
        gone after the report, which keeps no indexes for reads it never makes (see
        :func:`drop_read_indexes`)."""
        if scratch is not None:
            with self.watch.part("ledger"):
                drop_read_indexes(scratch)
        with _CampaignSettings.held(), _one_interrupt():
            try:
                self.play()
            except BaseException:
                self.changes.stop()
                raise
            # Every change made (the first that failed raised) before the report reads.
            self.changes.finish()
            return self.report()

    def play(self) -> None:
        self.intake()
        self.changes.now(lambda: None)  # the first plan reads the ledger
        with self.watch.part("planning"):
            self.plan = self._first_plan()
        total = max(1, len(self.niks))
        t = 0.0
        while True:
            with self.watch.part("planning"):
                batch = self.plan.next_batch(self.when(t), self.started)
            event = self.events[0] if self.events else None
            batch_t = math.inf if batch is None else (batch.start - self.origin).total_seconds()
            event_t = math.inf if event is None else event.at
            t = min(batch_t, event_t)
            if t > self.max_t or math.isinf(t):
                break
            # Events first on a tie: a batch ending frees its printer for the next one.
            if batch_t < event_t and batch is not None:
                self.start_batch(batch, batch_t)
            else:
                heapq.heappop(self.events)
                self.handle(event, event_t)  # type: ignore[arg-type]
            if self.progress is not None:
                self.progress(min(1.0, (len(self.printed_at) + self.duplicates) / total))

    def _first_plan(self) -> Plan:
        camp = self.s["campaign"]
        return Plan.from_ledger(
            self.ledger,
            self.printers,
            start=self.origin,
            shifts=self.shifts,
            click_limit=int(camp["click_limit"]),
            click_overhead=_dt.timedelta(minutes=float(camp["click_overhead_minutes"])),
            two_sided=bool(self.s["records"]["two_sided"]),
            prefix="B",
        )

    def start_batch(self, batch: Any, t: float) -> None:
        """Queues the batch with its blanks and decides, card by card, how it will go."""
        self.started.add(batch.id)
        # The serials come when the batch is queued in the ledger: its outcome, recorded
        # after, takes them from there.
        serials = self.changes.later(self.plan.commit, self.direct, _OPERATOR, [batch])
        ids = batch.records.tolist()
        base = np.datetime64(self.origin.astimezone(_dt.UTC).replace(tzinfo=None), "us")
        starts = ((batch.card_start - base) / np.timedelta64(1, "s")).tolist()
        ends = ((batch.card_end - base) / np.timedelta64(1, "s")).tolist()
        faults = self.s["faults"]
        jam = np.flatnonzero(self.rng.random(len(ids)) < float(faults["jam_rate"]))
        stop_at, kind = len(ids), "done"
        if len(jam):
            stop_at, kind = int(jam[0]), "jam"
        # Each ribbon change takes a ribbon from the stock; with none left the batch stops there.
        needed = [c for c in batch.ribbon_changes if c < stop_at]
        if len(needed) > self.ribbon_stock:
            stop_at, kind = needed[self.ribbon_stock], "ribbon"
            needed = needed[: self.ribbon_stock]
        self.ribbon_stock -= len(needed)
        self.ribbons_used += len(needed)
        run = _Running(
            batch.id, batch.printer, ids, serials, starts, ends, tuple(needed), stop_at, kind
        )
        self.running[batch.id] = run
        end_t = ends[stop_at - 1] if stop_at > 0 else t
        stop_t = starts[stop_at] if stop_at < len(ids) else end_t
        self.push(stop_t if kind != "done" else end_t, "batch_end", (batch.id, batch.printer))
        self.timeline[batch.printer].append((t / _DAY, max(end_t, t) / _DAY, "print"))

    def finish_batch(
        self, run: _Running, printed: int, t: float, spoil_current: bool, why: str
    ) -> list[PlanEvent]:
        """Records the batch's outcome in the ledger and returns the plan events it implies."""
        faults = self.s["faults"]
        chip_fail = self.rng.random(printed) < float(faults["chip_failure_rate"])
        qc_fail = ~chip_fail & (self.rng.random(printed) < float(faults["qc_reject_rate"]))
        ok_ids = run.records[:printed]
        outcome = _Outcome(
            printed=printed,
            failed_chip=[v for v, f in zip(ok_ids, chip_fail.tolist(), strict=True) if f],
            encoded=[v for v, f in zip(ok_ids, chip_fail.tolist(), strict=True) if not f],
            rejected=[v for v, f in zip(ok_ids, qc_fail.tolist(), strict=True) if f],
            passed=[
                v for v, f in zip(ok_ids, (chip_fail | qc_fail).tolist(), strict=True) if not f
            ],
            spoil_current=spoil_current,
            why=why,
        )
        self.changes.later(self.record_batch, run, outcome)
        self.spoiled["chip"] += len(outcome.failed_chip)
        self.spoiled["quality control"] += len(outcome.rejected)
        if spoil_current and printed < len(run.records):
            self.spoiled[why] += 1
        events: list[PlanEvent] = [
            CardSpoiled(run.batch, k, "spoiled")
            for k, (f1, f2) in enumerate(zip(chip_fail.tolist(), qc_fail.tolist(), strict=True))
            if f1 or f2
        ]
        # A card counts as printed once it passed quality control.
        bad = (chip_fail | qc_fail).tolist()
        self.printed_at.extend(e for e, b in zip(run.ends[:printed], bad, strict=True) if not b)
        return events

    def record_batch(self, run: _Running, out: _Outcome) -> None:
        """The batch's whole outcome as one change of the ledger, as a print station records a
        batch it has settled: the cards' several steps touch the same rows, written once."""
        printed = out.printed
        serials = run.serials.result()[run.batch]
        ok_ids, ok_serials = run.records[:printed], serials[:printed]
        # Print in chunks between ribbon changes so the ledger's ribbon count stays true.
        changes = [c for c in run.changes if c < printed]
        cuts = sorted({0, *changes, printed})
        ribbon = self.direct.ribbons.current(run.printer) if changes else None
        # What did not print goes back: the current card spoiled (jam, breakdown), the rest
        # unallocated (taking records off a batch returns its spare blanks to stock).
        rest_ids, rest_serials = run.records[printed:], serials[printed:]
        # The cards' steps written once: each record's row updated to where its last step
        # leaves it, every step's history rows chained in one append.
        with self.direct.transaction(_OPERATOR) as tx, tx.transitions() as moves:
            for a, b in itertools.pairwise(cuts):
                if a in changes:
                    tx.ribbons.install(
                        run.printer,
                        ribbon.kind if ribbon else "YMCKO",
                        self.s["ribbons"]["capacity"],
                    )
                if b > a:
                    moves.transition(
                        ok_ids[a:b],
                        State.PRINTED,
                        batch=run.batch,
                        printer=run.printer,
                        blanks=ok_serials[a:b],
                    )
            for niks, state, reason in out.steps():
                moves.transition(niks, state, reason=reason)
            if rest_ids:
                if out.spoil_current:
                    tx.blanks.spoil(rest_serials[:1], reason=out.why)
                moves.transition(
                    rest_ids, State.PRINT_READY, reason=f"{out.why}: taken out of the batch"
                )

    def handle(self, event: _Event, t: float) -> None:
        led, later = self.direct, self.changes.later
        kind = event.kind
        if kind == "confirm":
            niks = event.data.tolist()
            later(led.transition, niks, State.PRINT_READY, _OPERATOR)
            self.replan(t, [NewRecords(self.records_for(niks, t))])
        elif kind == "send":
            later(led.transition, event.data.tolist(), State.SENT_FOR_ENROLMENT, _OPERATOR)
        elif kind == "central":
            niks, duplicate = event.data
            dups = niks[duplicate].tolist()
            fine = niks[~duplicate].tolist()
            if dups:
                later(led.transition, dups, State.DUPLICATE_RECORD, _OPERATOR)
                self.duplicates += len(dups)
            if fine:
                later(led.transition, fine, State.PRINT_READY, _OPERATOR)
                self.replan(t, [NewRecords(self.records_for(fine, t))])
        elif kind == "blanks":
            self.receive_blanks(int(event.data))
            self.replan(t, [BlanksReceived(int(event.data))])
        elif kind == "ribbons":
            # Printers waiting for ribbon were planned to resume at this delivery.
            self.ribbon_stock += int(event.data)
        elif kind == "breakdown":
            self.breakdown(event.data, t)
        elif kind == "batch_end":
            batch, printer = event.data
            self.batch_end(batch, printer, t)
        elif kind == "dispatch":
            self.dispatch(t)
        elif kind == "arrive_kecamatan":
            self.arrive_kecamatan(event.data, t)
        elif kind == "arrive_kelurahan":
            sent, counts, niks = self.changes.result(event.data)
            later(self.receive_at_kelurahan, sent, counts)
            waits = self.rng.exponential(
                float(self.s["distribution"]["collection_days_mean"]) * _DAY, len(niks)
            )
            # Each collection day's citizens, in the manifest's order.
            by_day: dict[float, list[Any]] = {}
            for v, d in zip(niks, np.ceil(waits / _DAY).tolist(), strict=True):
                by_day.setdefault(d, []).append(v)
            for d in sorted(by_day):
                # Citizens come during office hours of that day.
                self.push(t + d * _DAY, "collect", by_day[d])
        elif kind == "collect":
            later(
                led.distribution.hand_over_many,
                event.data,
                _OPERATOR,
                identity_checks=["KK and photo checked"] * len(event.data),
            )
            self.issued_at.extend([t] * len(event.data))

    def batch_end(self, batch: str, printer: str, t: float) -> None:
        run = self.running.pop(batch, None)
        if run is None:
            return  # the batch was stopped earlier by a breakdown
        if run.stop_kind == "done":
            events = self.finish_batch(run, len(run.records), t, False, "done")
            if events:
                self.replan(t, events)
            return
        if run.stop_kind == "jam":
            events = self.finish_batch(run, run.stop_at, t, True, "jam")
            clear = _dt.timedelta(minutes=float(self.s["faults"]["jam_clear_minutes"]))
            self.replan(t, [*events, Jam(run.batch, run.stop_at, cleared_after=clear)])
            return
        # Out of ribbon: the printer waits for the next ribbon delivery.
        events = self.finish_batch(run, run.stop_at, t, False, "no ribbon left")
        delivery = min((e.at for e in self.events if e.kind == "ribbons"), default=None)
        until = None if delivery is None else self.when(delivery)
        self.timeline[printer].append(
            (t / _DAY, (delivery if delivery is not None else self.max_t) / _DAY, "ribbon")
        )
        self.replan(t, [*events, PrinterDown(printer, self.when(t), until)])

    def breakdown(self, printer: str, t: float) -> None:
        work_left = (
            self.running
            or self.plan.next_batch(self.when(t), self.started) is not None
            or any(e.kind in ("confirm", "central", "blanks") for e in self.events)
        )
        if not work_left:
            return  # an idle printer with nothing left to print: nothing to record
        repair = float(self.s["faults"]["repair_hours"]) * 3600.0
        until = t + repair
        self.timeline[printer].append((t / _DAY, until / _DAY, "down"))
        run = next((r for r in self.running.values() if r.printer == printer), None)
        events: list[PlanEvent] = []
        if run is not None:
            printing = next((k for k, e in enumerate(run.ends) if e > t), len(run.records))
            if printing < run.stop_at:
                del self.running[run.batch]
                spoil = run.starts[printing] < t
                run.stop_at = printing
                events = self.finish_batch(run, printing, t, spoil, "printer breakdown")
                span = self.timeline[printer]
                for i in range(len(span) - 1, -1, -1):
                    if span[i][2] == "print":
                        span[i] = (span[i][0], t / _DAY, "print")
                        break
        self.replan(t, [*events, PrinterDown(printer, self.when(t), self.when(until))])

    def dispatch(self, t: float) -> None:
        for m in self.changes.now(self.send_manifests):
            self.push(
                t + float(self.s["distribution"]["to_kecamatan_days"]) * _DAY,
                "arrive_kecamatan",
                m,
            )

    def send_manifests(self) -> list[int]:
        """The morning's manifests, packed and sent in one change of the ledger; their ids."""
        with self.direct.transaction(_OPERATOR) as tx:
            manifests = tx.distribution.build()
            for m in manifests:
                tx.distribution.dispatch(m)
        return manifests

    def arrive_kecamatan(self, manifest_id: int, t: float) -> None:
        # What the consignment holds is known once the ledger has received it; the simulation
        # needs it only when the boxes reach the kelurahan.
        self.push(
            t + float(self.s["distribution"]["to_kelurahan_days"]) * _DAY,
            "arrive_kelurahan",
            self.changes.later(self.receive_at_kecamatan, manifest_id),
        )

    def receive_at_kecamatan(self, manifest_id: int) -> tuple[list[int], list[int], list[int]]:
        """A consignment received at its kecamatan and sent on; the kelurahan manifests, the
        count each kelurahan will find in its box, and the consignment's NIKs."""
        m = self.direct.distribution.manifest(manifest_id)
        niks = [int(nik) for group in m.kelurahan.values() for nik in group]
        sent = self.send_on(m)
        # What each kelurahan will count in its box: its cards of this consignment, the boxes
        # packed in the order of the kelurahan's names (a card naming none stays here). The
        # ledger checks each count against the box's manifest when it is received.
        counts = [len(m.kelurahan[kel]) for kel in sorted(k for k in m.kelurahan if k)]
        return sent, counts, niks

    def receive_at_kelurahan(self, sent: list[int], counts: list[int]) -> None:
        with self.direct.transaction(_OPERATOR) as tx:
            for m, count in zip(sent, counts, strict=True):
                tx.distribution.receive(m, "lurah", count)

    def send_on(self, m: Manifest) -> list[int]:
        """A kecamatan's manifest received with its count checked, then its cards on to each
        kelurahan, one manifest each, packed and sent at once: one change of the ledger.
        Returns the kelurahan manifests' ids."""
        with self.direct.transaction(_OPERATOR) as tx:
            tx.distribution.receive(m.id, "camat", m.count)
            sent = tx.distribution.build_kelurahan(m.kecamatan)
            for each in sent:
                tx.distribution.dispatch(each)
        return sent

    # -- the report --------------------------------------------------------------------------

    def report(self) -> CampaignReport:
        target = float(self.s["campaign"]["target_days"]) * _DAY
        printed = sorted(self.printed_at)
        issued = sorted(self.issued_at)
        horizon_days = math.ceil((printed[-1] if printed else 0.0) / _DAY)
        per_day = (
            np.bincount(
                (np.array(printed) // _DAY).astype(np.int64), minlength=horizon_days
            ).tolist()
            if printed
            else []
        )
        printable = len(self.niks) - self.duplicates
        counts = self.ledger.counts()
        waiting = counts.get(State.PRINT_READY, 0) + counts.get(State.QUEUED, 0)
        shortfall = waiting if self.ledger.blanks.counts().get(BlankState.IN_STOCK, 0) == 0 else 0
        util = {}
        for p in self.printers:
            busy = sum(b - a for a, b, k in self.timeline[p.id] if k == "print") * _DAY
            end = printed[-1] if printed else 0.0
            util[p.id] = 0.0 if end <= 0 else min(1.0, busy / end)
        verified = self.ledger.verify().ok
        with warnings.catch_warnings():
            # The shortage is the report's own subject; no need to warn about it.
            warnings.simplefilter("ignore", BlankShortageWarning)
            balanced = self.ledger.blanks.reconcile().balanced
        seconds = {key: self.watch.seconds.get(key, 0.0) for key in ("planning", "ledger")}
        seconds["total"] = time.perf_counter() - self.began
        # The simulation's own time is what is left of the run's once planning, the ledger's
        # reads and the waits for its changes are taken out; the changes themselves ran
        # beside all three (see _LedgerThread), so the parts may add up to more than the total.
        seconds["simulation"] = (
            seconds["total"] - seconds["planning"] - seconds["ledger"] - self.changes.waited
        )
        seconds["ledger"] += self.changes.busy
        all_printed = len(printed) >= printable and printable > 0
        return CampaignReport(
            scenario=dict(self.s),
            seed=self.seed,
            records=len(self.niks),
            duplicates=self.duplicates,
            printed=len(printed),
            issued=len(issued),
            spoiled=dict(self.spoiled),
            blanks_in=self.blanks_in,
            blank_shortfall=shortfall,
            days_to_print=(printed[-1] / _DAY) if printed and (all_printed or shortfall) else None,
            days_to_issue=(issued[-1] / _DAY) if issued and len(issued) == len(printed) else None,
            printed_by_target=sum(1 for x in printed if x <= target),
            issued_by_target=sum(1 for x in issued if x <= target),
            cards_per_day=per_day,
            utilisation=util,
            ribbons_used=self.ribbons_used,
            ribbon_waits_hours=sum(
                (b - a) * 24
                for spans in self.timeline.values()
                for a, b, k in spans
                if k == "ribbon"
            ),
            replans=len(self.replan_times),
            replan_ms_mean=1000 * float(np.mean(self.replan_times)) if self.replan_times else 0.0,
            ledger_verified=verified,
            blanks_balanced=balanced,
            seconds=seconds,
            printed_curve=_curve(printed),
            issued_curve=_curve(issued),
            timeline=self.timeline,
        )


def _curve(times: Sequence[float], points: int = 400) -> list[tuple[float, int]]:
    """A cumulative count as at most ``points`` (day, count) steps."""
    if not times:
        return []
    step = max(1, len(times) // points)
    out = [(times[i] / _DAY, i + 1) for i in range(step - 1, len(times), step)]
    if out[-1][1] != len(times):
        out.append((times[-1] / _DAY, len(times)))
    return [(0.0, 0), *out]


def simulate(
    scenario: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    ledger: str | Path | None = None,
    regions: RegionTable | None = None,
    progress: Callable[[float], None] | None = None,
) -> CampaignReport:
    """Runs a campaign. ``scenario`` from :func:`load_scenario`, or some of its settings
    (``{"printers": {"count": 8}}``: the default's others kept; default: Kota Bogor 2017);
    ``seed`` makes the run reproducible (default 2017);
    ``ledger`` keeps the ledger at that path, or in the (empty) PostgreSQL database of a
    ``postgresql://`` URL (default: an SQLite ledger in memory, gone after);
    ``regions`` names kecamatan and kelurahan from a region table; ``progress`` is called with
    the fraction of records settled."""
    # A scenario given in part (``{"printers": {"count": 8}}``) is the default with those
    # settings changed, as a scenario file is.
    s = _merge(tomllib.loads(default_scenario_text()), scenario or {})
    _check(s)
    run_seed = 2017 if seed is None else int(seed)
    # A simulated campaign's ledger is scratch: commits are not flushed to disk one by one.
    if ledger is not None:
        if is_database_url(ledger):
            with Ledger(str(ledger)) as led:
                if led.counts() or led.blanks.counts():
                    raise LedgerFileError(
                        f"{led.path} holds a ledger; the simulation starts a new ledger"
                    )
                return _Campaign(s, run_seed, led, regions, progress).run()
        if Path(ledger).exists():
            raise LedgerFileError(f"{ledger} exists; the simulation starts a new ledger")
        with Ledger(SqliteStore(ledger, durable=False)) as led:
            return _Campaign(s, run_seed, led, regions, progress).run()
    # Not kept: the same SQLite ledger in memory, with no file to write pages to and check
    # back into (a fifth of the ledger's time when it was a temporary file).
    store = SqliteStore(":memory:")
    with Ledger(store) as led:
        return _Campaign(s, run_seed, led, regions, progress).run(scratch=store)
