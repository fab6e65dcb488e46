"""The plan: :func:`plan` calls the Rust core for a schedule, :class:`Plan` reads batches, ETAs
and figures from it, re-plans what remains after events and writes batches to a ledger."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .. import _ektpcore
from .._files import new_private, spreadsheet_cell, write_private
from ..clock import DEFAULT_SHIFTS, WIB, Shift, aware
from ..errors import InvalidArgumentError
from ..nik import mask_nik
from .inputs import _added, _distinct, _Jobs, _jobs_from, _Places
from .model import (
    _REASONS,
    Batch,
    BlanksReceived,
    CardSpoiled,
    Jam,
    NewRecords,
    PlanEvent,
    Printer,
    PrinterDown,
    Unscheduled,
)
from .windows import _staffing

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..lifecycle import Actor

__all__ = ["Plan", "plan"]


@dataclass
class _State:
    """What a re-plan needs besides the records: what happened so far."""

    origin: _dt.datetime
    printers: tuple[Printer, ...]
    shifts: tuple[Shift, ...]
    click_limit: int
    click_overhead: _dt.timedelta
    blanks: int  # blanks in stock at the origin plus deliveries already arrived
    deliveries: list[tuple[float, int]]  # later deliveries, seconds from the origin
    prefix: str
    places: _Places
    spoiled: int = 0  # blanks spoiled since the origin
    named: int = 0  # batch ids handed out so far (ids are never reused)
    down: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


class _Names:
    """A plan's batch ids, in batch order: those of batches kept from an earlier plan, then
    ``count`` new ones ``{prefix}-{first + 1:05d}`` on, written out only when asked for."""

    def __init__(self, prefix: str, first: int, count: int, kept: Sequence[str] = ()) -> None:
        self.prefix, self.first, self.count = prefix, first, count
        self.kept = list(kept)
        self._kept_index: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.kept) + self.count

    def __getitem__(self, b: int) -> str:
        if b < len(self.kept):
            return self.kept[b]
        return f"{self.prefix}-{self.first + b - len(self.kept) + 1:05d}"

    def index(self, name: str) -> int | None:
        """The batch with id ``name``, or ``None``."""
        head, _, number = name.rpartition("-")
        if head == self.prefix and number.isdigit():
            k = int(number) - self.first - 1
            if 0 <= k < self.count and self[len(self.kept) + k] == name:
                return len(self.kept) + k
        if self._kept_index is None:
            self._kept_index = {n: i for i, n in enumerate(self.kept)}
        return self._kept_index.get(name)


class Plan:
    """A schedule of batches over printers, an ETA per record, what could not be scheduled
    and why, and how good the schedule is (makespan against its lower bound).

    Built by :func:`plan` or :meth:`Plan.from_ledger`; :meth:`replan` gives the plan for what
    remains after events; :meth:`commit` writes batches to a ledger.
    """

    def __init__(
        self,
        state: _State,
        jobs: _Jobs,
        columns: dict[str, Any],
        batch_names: _Names,
        lower_bound: float,
        now: float,
    ) -> None:
        self._state = state
        self._jobs = jobs
        self._c = columns
        self._names = batch_names
        self._lower_bound = lower_bound
        self._now = now
        self._batches: list[Batch] | None = None
        self._ends: npt.NDArray[np.float64] | None = None

    # -- what the plan says --------------------------------------------------------------

    @property
    def start(self) -> _dt.datetime:
        """When this plan starts (the origin, or the moment it was re-planned)."""
        return self._state.origin + _dt.timedelta(seconds=self._now)

    @property
    def printers(self) -> tuple[Printer, ...]:
        return self._state.printers

    @property
    def batches(self) -> list[Batch]:
        """All batches in start order (those already started first, as they ran)."""
        if self._batches is None:
            order = np.argsort(self._c["batch_start"], kind="stable")
            self._batches = [self._batch_at(b) for b in order.tolist()]
        return self._batches

    def _batch_at(self, b: int) -> Batch:
        c, jobs, origin = self._c, self._jobs, self._state.origin
        pairs = self._state.places.pairs
        base = np.datetime64(origin.astimezone(_dt.UTC).replace(tzinfo=None), "us")

        def stamp(seconds: npt.NDArray[np.float64]) -> npt.NDArray[np.datetime64]:
            return base + np.round(seconds * 1e6).astype("timedelta64[us]")

        first, n = int(c["batch_first"][b]), int(c["batch_len"][b])
        members = c["order"][first : first + n]
        lo, hi = c["change_offsets"][b], c["change_offsets"][b + 1]
        return Batch(
            id=self._names[b],
            printer=self._state.printers[int(c["batch_printer"][b])].id,
            records=jobs.take("ids", members),
            start=origin + _dt.timedelta(seconds=float(c["batch_start"][b])),
            end=origin + _dt.timedelta(seconds=float(c["batch_end"][b])),
            ribbon_changes=tuple(int(x) for x in c["changes"][lo:hi]),
            kecamatan=tuple(
                dict.fromkeys(pairs[k][0] for k in jobs.take("place", members).tolist())
            ),
            card_start=stamp(c["card_start"][first : first + n]),
            card_end=stamp(c["card_end"][first : first + n]),
        )

    def batch(self, batch_id: str) -> Batch:
        b = self._names.index(batch_id)
        if b is None:
            raise InvalidArgumentError(f"no batch {batch_id!r} in this plan")
        return self._batch_at(b)

    def next_batch(self, after: _dt.datetime, exclude: Iterable[str] = ()) -> Batch | None:
        """The batch that starts first at or after ``after``, skipping the ids in
        ``exclude`` (those already sent), or ``None``."""
        starts = self._c["batch_start"]
        t = (aware(after) - self._state.origin).total_seconds() - 1e-3
        skip = set(exclude)
        for b in np.argsort(starts, kind="stable").tolist():
            if starts[b] >= t and self._names[b] not in skip:
                return self._batch_at(b)
        return None

    @property
    def records(self) -> npt.NDArray[np.int64]:
        """The ids of every record the plan knows, in the order of :attr:`etas`."""
        return self._jobs.ids

    @property
    def etas(self) -> npt.NDArray[np.datetime64]:
        """When each record's card is done (UTC ``datetime64[us]``; NaT when unscheduled)."""
        base = np.datetime64(self._state.origin.astimezone(_dt.UTC).replace(tzinfo=None), "us")
        end = self._record_ends()
        out = base + np.where(np.isnan(end), 0, end * 1e6).astype("timedelta64[us]")
        out[np.isnan(end)] = np.datetime64("NaT")
        return out

    def eta(self, record: int) -> _dt.datetime | None:
        hit = np.flatnonzero(self._jobs.ids == int(record))
        if len(hit) == 0:
            raise InvalidArgumentError(f"record {mask_nik(int(record))} is not in this plan")
        end = float(self._record_ends()[hit[0]])
        return None if math.isnan(end) else self._state.origin + _dt.timedelta(seconds=end)

    def _by_record(self, key: str) -> npt.NDArray[np.float64]:
        """A column of the cards in print order as one per record (NaN unscheduled)."""
        out = np.full(len(self._jobs), np.nan)
        out[self._c["order"]] = self._c[key]
        return out

    def _record_starts(self) -> npt.NDArray[np.float64]:
        return self._by_record("card_start")

    def _record_ends(self) -> npt.NDArray[np.float64]:
        if self._ends is None:
            self._ends = self._by_record("card_end")
        return self._ends

    @property
    def unscheduled(self) -> dict[Unscheduled, npt.NDArray[np.int64]]:
        """Records in no batch, by reason."""
        reason = self._c["reason"]
        return {
            why: self._jobs.ids[reason == code]
            for code, why in _REASONS.items()
            if (reason == code).any()
        }

    @property
    def makespan(self) -> _dt.timedelta:
        """From the plan's start to the end of its last card."""
        ends = self._c["batch_end"]
        last = float(ends.max()) if len(ends) else self._now
        return _dt.timedelta(seconds=max(0.0, last - self._now))

    @property
    def finish(self) -> _dt.datetime:
        return self.start + self.makespan

    @property
    def lower_bound(self) -> _dt.timedelta:
        """No schedule of the scheduled records finishes earlier (from the plan's start):
        work over capacity, with click overheads and ribbon changes amortised, and the bounds
        from the ready times; on small plans (a few clicks per printer, every card ready at
        once) also whole clicks, ribbon changes and cards per printer, where it is tight."""
        return _dt.timedelta(seconds=self._lower_bound)

    @property
    def quality(self) -> float:
        """Makespan ÷ lower bound (1.0 is optimal)."""
        bound = self._lower_bound
        return 1.0 if bound <= 0 else self.makespan.total_seconds() / bound

    @property
    def utilisation(self) -> dict[str, float]:
        """Busy time ÷ available time per printer, from the plan's start to its finish."""
        out = {}
        finish = float(self._c["batch_end"].max()) if len(self._c["batch_end"]) else self._now
        for i, p in enumerate(self._state.printers):
            mask = self._c["batch_printer"] == i
            starts = np.maximum(self._c["batch_start"][mask], self._now)
            busy = float(np.clip(self._c["batch_end"][mask] - starts, 0, None).sum())
            avail = sum(
                max(0.0, min(b, finish) - max(a, self._now)) for a, b in self._windows_of(i)
            )
            out[p.id] = 0.0 if avail <= 0 else min(1.0, busy / avail)
        return out

    @property
    def groups_split(self) -> int:
        """Kelurahan groups whose cards are spread over more than one batch; a group is the
        cards of one kelurahan, of one priority class, released at the same time. After a
        re-plan, of the batches planned again."""
        return int(self._c["groups_split"])

    def _windows_of(self, i: int) -> list[tuple[float, float]]:
        windows: list[tuple[float, float]] = self._c["windows"][i]
        return windows

    def __repr__(self) -> str:
        scheduled = int((self._c["reason"] == 0).sum())
        return (
            f"Plan(batches={len(self._c['batch_start'])}, cards={scheduled}, "
            f"unscheduled={len(self._jobs) - scheduled}, makespan={self.makespan}, "
            f"quality={self.quality:.3f})"
        )

    def summary(self) -> dict[str, Any]:
        """The plan's figures as plain data (what :meth:`to_json` writes besides batches)."""
        return {
            "start": self.start.isoformat(),
            "finish": self.finish.isoformat(),
            "batches": len(self._c["batch_start"]),
            "cards": int((self._c["reason"] == 0).sum()),
            "makespan_hours": self.makespan.total_seconds() / 3600,
            "lower_bound_hours": self._lower_bound / 3600,
            "quality": self.quality,
            "groups_split": self.groups_split,
            "utilisation": self.utilisation,
            "unscheduled": {why.name: len(ids) for why, ids in self.unscheduled.items()},
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The plan as JSON: its figures and every batch with its records in print order
        (written to ``path``, a new file of mode 0600: a plan of a ledger's records names
        them by NIK)."""
        doc = self.summary()
        doc["batch_list"] = [
            {
                "id": b.id,
                "printer": b.printer,
                "start": b.start.isoformat(),
                "end": b.end.isoformat(),
                "records": b.records.tolist(),
                "ribbon_changes": list(b.ribbon_changes),
                "kecamatan": list(b.kecamatan),
            }
            for b in self.batches
        ]
        text = json.dumps(doc, indent=1)
        if path is not None:
            write_private(path, text)
        return text

    def to_csv(self, path: str | Path) -> None:
        """One row per record: id, batch, printer, position, start, ETA, kecamatan,
        kelurahan, or the reason it is unscheduled; a new file of mode 0600 (a plan of a
        ledger's records names them by NIK)."""
        import csv

        position: dict[int, tuple[str, str, int]] = {}
        for b in self.batches:
            for k, rid in enumerate(b.records.tolist()):
                position[rid] = (b.id, b.printer, k)
        origin = self._state.origin
        starts, ends = self._record_starts(), self._record_ends()
        with new_private(path) as f:
            w = csv.writer(f)
            w.writerow(
                [
                    "id",
                    "batch",
                    "printer",
                    "position",
                    "start",
                    "eta",
                    "kecamatan",
                    "kelurahan",
                    "unscheduled",
                ]
            )
            for i, rid in enumerate(self._jobs.ids.tolist()):
                code = int(self._c["reason"][i])
                where = position.get(rid, ("", "", ""))
                start, end = float(starts[i]), float(ends[i])
                row = [
                    rid,
                    *where,
                    "" if code else (origin + _dt.timedelta(seconds=start)).isoformat(),
                    "" if code else (origin + _dt.timedelta(seconds=end)).isoformat(),
                    *self._state.places.pairs[int(self._jobs.place[i])],
                    _REASONS[code].name if code else "",
                ]
                w.writerow([spreadsheet_cell(v) for v in row])

    # -- re-planning ---------------------------------------------------------------------

    def replan(self, now: _dt.datetime, events: Iterable[PlanEvent] = ()) -> Plan:
        """A new plan for what remains at ``now``: batches already started keep their cards
        and times (up to where an event stopped them); everything else is planned again with
        the events applied. Finished and in-progress cards never move."""
        st = dataclasses.replace(
            self._state,
            down={k: list(v) for k, v in self._state.down.items()},
            deliveries=list(self._state.deliveries),
        )
        t_now = (aware(now) - st.origin).total_seconds()
        if t_now < self._now:
            raise InvalidArgumentError("a plan is re-planned forward in time only")
        c = dict(self._c)
        c["batch_end"] = c["batch_end"].copy()  # the one column events change
        jobs = self._jobs
        # A millisecond of slack: datetimes carry microseconds, the core full floats.
        started = c["batch_start"] <= t_now + 1e-3
        # Per batch: cards kept (printed or printing) and the printer's earliest restart.
        kept_len = c["batch_len"].copy()
        stopped = np.zeros(len(kept_len), dtype=bool)
        keep_card = np.zeros(len(jobs), dtype=bool)
        keep_card[c["order"][np.repeat(started, c["batch_len"])]] = True
        free_at = np.full(len(st.printers), t_now)
        new_jobs: list[_Jobs] = []
        printer_index = {p.id: i for i, p in enumerate(st.printers)}

        def stop(b: int, card: int, resume: float, *, spoiled: bool = True) -> None:
            """Batch ``b`` stops at ``card`` (spoiled or not started); the cards from there
            go back to be planned again."""
            first = int(c["batch_first"][b])
            members = c["order"][first : first + int(kept_len[b])]
            if card >= len(members):
                return
            keep_card[members[card:]] = False
            kept_len[b] = card
            stopped[b] = True
            st.spoiled += int(spoiled)
            at = float(c["card_start"][first + card])
            c["batch_end"][b] = at
            p = int(c["batch_printer"][b])
            free_at[p] = max(free_at[p], resume if math.isfinite(resume) else at)

        for event in events:
            if isinstance(event, Jam | CardSpoiled):
                b = self._names.index(event.batch)
                if b is None or not started[b]:
                    raise InvalidArgumentError(f"batch {event.batch!r} has not started")
                if not 0 <= event.card < int(kept_len[b]):
                    raise InvalidArgumentError(f"batch {event.batch!r} has no card {event.card}")
                if isinstance(event, Jam):
                    first = int(c["batch_first"][b])
                    at = float(c["card_start"][first + event.card])
                    stop(b, event.card, at + event.cleared_after.total_seconds())
                else:
                    member = c["order"][int(c["batch_first"][b]) + event.card]
                    keep_card[member] = False
                    st.spoiled += 1
            elif isinstance(event, PrinterDown):
                if event.printer not in printer_index:
                    raise InvalidArgumentError(f"no printer {event.printer!r} in this plan")
                p = printer_index[event.printer]
                a = (aware(event.start) - st.origin).total_seconds()
                z = (
                    math.inf
                    if event.end is None
                    else (aware(event.end) - st.origin).total_seconds()
                )
                st.down.setdefault(event.printer, []).append((a, z))
                for b in np.flatnonzero(started & (c["batch_printer"] == p)).tolist():
                    first = int(c["batch_first"][b])
                    running = np.flatnonzero(c["card_end"][first : first + int(kept_len[b])] > a)
                    if len(running):
                        k = int(running[0])
                        stop(b, k, z, spoiled=bool(c["card_start"][first + k] < a))
            elif isinstance(event, BlanksReceived):
                if event.count < 0:
                    raise InvalidArgumentError("a delivery has a count >= 0")
                at = t_now if event.at is None else (aware(event.at) - st.origin).total_seconds()
                if at <= t_now:
                    st.blanks += event.count
                else:
                    st.deliveries.append((at, event.count))
            elif isinstance(event, NewRecords):
                new_jobs.append(_jobs_from(event.records, st.origin, st.places))
            else:
                raise InvalidArgumentError(f"unknown plan event {event!r}")
        np.maximum.at(free_at, c["batch_printer"][started], c["batch_end"][started])
        known = None
        if new_jobs:
            known = _added(jobs.sorted_ids(), np.concatenate([j.ids for j in new_jobs]))
        frozen = np.flatnonzero(keep_card)
        rest = np.flatnonzero(~keep_card)
        # Blanks left: the stock and arrived deliveries, less every card kept or spoiled.
        arrived = [d for d in st.deliveries if d[0] <= t_now]
        st.deliveries = [d for d in st.deliveries if d[0] > t_now]
        st.blanks += sum(n for _, n in arrived)
        # Cards that used ribbon: all a batch printed, spoiled ones included.
        used_ribbon = np.where(stopped, kept_len, c["batch_used"])
        ribbons = self._ribbons_after(c, started, used_ribbon)
        st.printers = tuple(
            dataclasses.replace(p, ribbon_remaining=ribbons[i]) for i, p in enumerate(st.printers)
        )
        used = len(frozen) + st.spoiled
        if new_jobs:
            # The records left and the new ones, in that order, as the core plans them.
            remaining = jobs.gather(rest, *new_jobs)
            fresh = _run(st, remaining, now=t_now, blanks=max(0, st.blanks - used), free_at=free_at)
            combined = jobs.gather(frozen, remaining).same_ids(known)
        else:
            # The kept records, then the rest, as positions in the records they were gathered
            # from (one index composed, no column gathered); the core reads the rest there.
            combined = _Jobs.view(jobs, np.concatenate([frozen, rest])).same_ids(jobs.known_sorted)
            source, index = combined.where()
            assert index is not None
            fresh = _run(
                st,
                source,
                now=t_now,
                blanks=max(0, st.blanks - used),
                free_at=free_at,
                subset=index[len(frozen) :],
            )
        st.printers = self._state.printers
        c["batch_used"] = used_ribbon
        return _combine(st, combined, keep_card, c, started, kept_len, self._names, fresh, t_now)

    @staticmethod
    def _ribbons_after(
        c: dict[str, Any], started: npt.NDArray[np.bool_], used: npt.NDArray[Any]
    ) -> list[int]:
        """Prints left on each printer's ribbon after the started batches."""
        left = list(c["ribbon_left_start"])
        caps = c["ribbon_capacity"]
        # The started batches in start order (a stable sort of them alone keeps the order
        # they have among all batches); their printers and prints as ints in one go.
        ran = np.flatnonzero(started)
        ran = ran[np.argsort(c["batch_start"][ran], kind="stable")]
        for p, k in zip(c["batch_printer"][ran].tolist(), used[ran].tolist(), strict=True):
            # The ribbon is changed when empty, before the next card.
            left[p] = left[p] - k if k <= left[p] else caps[p] - ((k - left[p] - 1) % caps[p] + 1)
        return left

    # -- the ledger ----------------------------------------------------------------------

    @classmethod
    def from_ledger(
        cls,
        ledger: Ledger,
        printers: Sequence[Printer],
        *,
        start: _dt.datetime | None = None,
        shifts: Sequence[Shift] = DEFAULT_SHIFTS,
        click_limit: int = 300,
        click_overhead: _dt.timedelta = _dt.timedelta(minutes=2),
        blank_deliveries: Sequence[tuple[_dt.datetime, int]] = (),
        two_sided: bool = True,
        prefix: str | None = None,
    ) -> Plan:
        """Plans every ``PRINT_READY`` record of the ledger over the blanks it has in stock,
        with each printer's ribbon as the ledger last recorded it."""
        from ..ledger import BlankState

        ready = ledger.print_ready()
        records = {
            "id": ready["nik"],
            "priority": ready["priority"],
            "kecamatan": ready["kecamatan"],
            "kelurahan": ready["kelurahan"],
            "two_sided": np.full(len(ready["nik"]), two_sided),
        }
        with_ribbons = []
        for p in printers:
            ribbon = ledger.ribbons.current(p.id)
            with_ribbons.append(
                p
                if ribbon is None
                else dataclasses.replace(
                    p, ribbon_capacity=ribbon.capacity, ribbon_remaining=ribbon.remaining
                )
            )
        return plan(
            records,
            with_ribbons,
            blanks=ledger.blanks.counts().get(BlankState.IN_STOCK, 0),
            start=start,
            shifts=shifts,
            click_limit=click_limit,
            click_overhead=click_overhead,
            blank_deliveries=blank_deliveries,
            prefix=prefix,
        )

    def commit(
        self, ledger: Ledger, actor: Actor, batches: Iterable[Batch | str] | None = None
    ) -> dict[str, list[int]]:
        """Writes batches to the ledger: their records ``QUEUED`` under the batch id and
        printer, and as many blanks ``ALLOCATED`` to each, one transaction per batch (a batch
        is queued with its blanks or not at all). Returns the serials allocated per batch."""
        chosen = (
            self.batches
            if batches is None
            else [b if isinstance(b, Batch) else self.batch(b) for b in batches]
        )
        serials: dict[str, list[int]] = {}
        for b in chosen:
            with ledger.transaction(actor) as tx:
                serials[b.id] = tx.queue(b.records, b.id, b.printer)
        return serials


def _run(
    st: _State,
    jobs: _Jobs,
    *,
    now: float,
    blanks: int,
    free_at: npt.NDArray[np.float64] | None,
    subset: npt.NDArray[np.intp] | None = None,
) -> dict[str, Any]:
    """Calls the core for ``jobs`` (those at ``subset`` when given, in that order) from
    ``now`` (seconds from the origin); the core builds the printers' windows and grows their
    horizon until no record lacks a printer only for want of horizon."""
    start = st.origin + _dt.timedelta(seconds=now)
    own, staffing = _staffing(st.printers, st.shifts, st.origin, start, st.down)
    specs = [
        (
            one,
            two,
            p.ribbon_capacity,
            p.ribbon_left,
            p.ribbon_change_minutes * 60.0,
            0.0 if free_at is None else float(free_at[i]) - now,
            down,
            only,
        )
        for i, (p, (one, two, down, only)) in enumerate(zip(st.printers, own, strict=True))
    ]
    got = _ektpcore.plan_run(
        {
            "ready": jobs.ready,
            "priority": jobs.priority,
            "place": jobs.place,
            "two_sided": jobs.two_sided,
        },
        None if subset is None else subset.astype(np.int64, copy=False),
        st.places.rank(),
        now,
        specs,
        staffing,
        st.click_limit,
        st.click_overhead.total_seconds(),
        int(blanks),
        st.deliveries,
    )
    out: dict[str, Any] = got["schedule"]
    out["windows"] = got["windows"]
    out["batch_used"] = got["batch_used"]
    out["ribbon_left_start"] = [p.ribbon_left for p in st.printers]
    out["ribbon_capacity"] = [p.ribbon_capacity for p in st.printers]
    out["names"] = _Names(st.prefix, st.named, len(out["batch_start"]))
    st.named += len(out["batch_start"])
    return out


def _ranges(
    starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """For ranges ``[start, start + length)``: each element's range number and the element,
    every range after the other (the cards of many batches gathered without a Python loop)."""
    label = np.repeat(np.arange(len(lengths)), lengths)
    before = np.cumsum(lengths) - lengths
    index = np.arange(int(lengths.sum()), dtype=np.int64) - before[label] + starts[label]
    return label, index


def _combine(
    st: _State,
    jobs: _Jobs,
    keep: npt.NDArray[np.bool_],
    c: dict[str, Any],
    started: npt.NDArray[np.bool_],
    kept_len: npt.NDArray[Any],
    old_names: _Names,
    fresh: dict[str, Any],
    now: float,
) -> Plan:
    """The started batches (as they ran) followed by the fresh plan for the rest; ``jobs``
    are the kept records followed by those of the fresh plan."""
    old_batches = np.flatnonzero(started & (kept_len > 0))
    nb_old = len(old_batches)
    # Every kept card of the started batches at once, written in place (the core).
    kept = kept_len[old_batches].astype(np.int64)
    f = fresh
    cards = _ektpcore.plan_combine_cards(
        c["order"],
        c["card_start"],
        c["card_end"],
        c["batch_first"][old_batches].astype(np.int64),
        kept,
        keep,
        f["order"],
        f["card_start"],
        f["card_end"],
        f["reason"],
    )
    lens = cards["lens"]
    firsts = np.cumsum(lens) - lens
    pos = int(lens.sum())
    # Ribbon changes before a card the batch still holds.
    lo = c["change_offsets"][old_batches].astype(np.int64)
    hi = c["change_offsets"][old_batches + 1].astype(np.int64)
    change_label, change_at = _ranges(lo, hi - lo)
    values = c["changes"][change_at].astype(np.int64)
    still = values < kept[change_label]
    changes = values[still]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(change_label[still], minlength=nb_old))])
    columns: dict[str, Any] = {
        "card_start": cards["card_start"],
        "card_end": cards["card_end"],
        "reason": cards["reason"],
        "order": cards["order"],
        "batch_printer": np.concatenate([c["batch_printer"][old_batches], f["batch_printer"]]),
        "batch_start": np.concatenate([c["batch_start"][old_batches], f["batch_start"]]),
        "batch_end": np.concatenate([c["batch_end"][old_batches], f["batch_end"]]),
        "batch_first": np.concatenate(
            [np.array(firsts, dtype=np.int64), f["batch_first"].astype(np.int64) + pos]
        ),
        "batch_len": np.concatenate([np.array(lens, dtype=np.int64), f["batch_len"]]),
        "batch_used": np.concatenate([c["batch_used"][old_batches], f["batch_used"]]),
        "change_offsets": np.concatenate(
            [
                np.array(offsets, dtype=np.int64),
                f["change_offsets"][1:].astype(np.int64) + len(changes),
            ]
        ),
        "changes": np.concatenate([np.array(changes, dtype=np.int64), f["changes"]]),
        "groups_split": f["groups_split"],
        "windows": f["windows"],
        "ribbon_left_start": c["ribbon_left_start"],
        "ribbon_capacity": c["ribbon_capacity"],
    }
    new: _Names = f["names"]
    # The kept batches' ids: most were numbered by the plan before, written out here.
    given, head = old_names.kept, len(old_names.kept)
    fmt, base = f"{old_names.prefix}-{{:05d}}", old_names.first + 1 - head
    kept_ids = [given[b] if b < head else fmt.format(base + b) for b in old_batches.tolist()]
    names = _Names(new.prefix, new.first, new.count, kept_ids)
    return Plan(st, jobs, columns, names, float(f["lower_bound"]), now)


def plan(
    records: Any,
    printers: Sequence[Printer],
    *,
    blanks: int,
    start: _dt.datetime | None = None,
    shifts: Sequence[Shift] = DEFAULT_SHIFTS,
    click_limit: int = 300,
    click_overhead: _dt.timedelta = _dt.timedelta(minutes=2),
    blank_deliveries: Sequence[tuple[_dt.datetime, int]] = (),
    prefix: str | None = None,
) -> Plan:
    """Plans print batches.

    Args:
        records: columns (a mapping of name to sequence, or a pandas/polars DataFrame or
            pyarrow Table): ``id`` (NIKs or integer ids), and optionally ``priority``
            (:class:`Priority`, default first-time), ``ready`` (datetimes; missing means ready
            at ``start``, ``None``/NaT means not yet), ``kecamatan``, ``kelurahan``,
            ``two_sided`` (default ``True``).
        printers: the printers, each with its speed, chip time and ribbon.
        blanks: blank cards in stock at ``start``.
        start: when planning starts (default: now).
        shifts: staffed windows (default: 08-20 and 20-08 WIB, every day).
        click_limit: the most cards one click may send.
        click_overhead: what each click costs before its first card prints.
        blank_deliveries: later deliveries as ``(when, count)``.
        prefix: batch ids are ``{prefix}-00001`` and on (default: from ``start``).
    """
    origin = aware(start or _dt.datetime.now(WIB))
    if click_limit < 1:
        raise InvalidArgumentError("click_limit must be at least 1")
    if blanks < 0:
        raise InvalidArgumentError("blanks must not be negative")
    if len({p.id for p in printers}) != len(printers):
        raise InvalidArgumentError("printer ids must be distinct")
    places = _Places()
    jobs = _jobs_from(records, origin, places)
    _distinct(jobs.ids)
    state = _State(
        origin=origin,
        printers=tuple(printers),
        shifts=tuple(shifts),
        click_limit=int(click_limit),
        click_overhead=click_overhead,
        blanks=int(blanks),
        deliveries=[((aware(t) - origin).total_seconds(), int(k)) for t, k in blank_deliveries],
        prefix=prefix or origin.astimezone(WIB).strftime("B%Y%m%d%H%M"),
        places=places,
    )
    arrived = [d for d in state.deliveries if d[0] <= 0]
    state.deliveries = [d for d in state.deliveries if d[0] > 0]
    state.blanks += sum(k for _, k in arrived)
    out = _run(state, jobs, now=0.0, blanks=state.blanks, free_at=None)
    names = out.pop("names")
    columns = {k: v for k, v in out.items() if k not in ("lower_bound",)}
    return Plan(state, jobs, columns, names, float(out["lower_bound"]), 0.0)
