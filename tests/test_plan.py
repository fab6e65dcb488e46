"""The batch planner: what it schedules, where, when, and what it refuses."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ektpcore
from ektpcore import (
    BlanksReceived,
    CardSpoiled,
    InvalidArgumentError,
    Jam,
    NewRecords,
    Plan,
    Printer,
    PrinterDown,
    Priority,
    Shift,
    Unscheduled,
)
from ektpcore.clock import WIB

START = dt.datetime(2017, 11, 13, 8, tzinfo=WIB)
KECAMATAN = ["Bogor Barat", "Bogor Selatan", "Bogor Tengah", "Tanah Sareal"]


def records(n: int, seed: int = 0, *, kelurahan: int = 5, classes: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "id": np.arange(1, n + 1, dtype=np.int64) * 7,
        "kecamatan": np.array(KECAMATAN, dtype=object)[rng.integers(0, 4, n)],
        "kelurahan": np.array([f"Kel {i}" for i in range(kelurahan)], dtype=object)[
            rng.integers(0, kelurahan, n)
        ],
        "priority": rng.integers(0, classes, n),
        "two_sided": rng.random(n) < 0.8,
    }


def printers(k: int = 3, **kw: Any) -> list[Printer]:
    return [Printer(f"P{i}", 120 + 10 * i, 80 + 5 * i, chip_seconds=5, **kw) for i in range(k)]


def check(p: Plan, click_limit: int = 300) -> None:
    """Invariants every plan keeps."""
    seen: set[int] = set()
    by_printer: dict[str, list[ektpcore.Batch]] = {}
    for b in p.batches:
        assert 1 <= len(b) <= click_limit
        assert b.start < b.end
        ids = b.records.tolist()
        assert not seen & set(ids), "a record is in two batches"
        seen |= set(ids)
        by_printer.setdefault(b.printer, []).append(b)
    for batches in by_printer.values():
        for a, b in itertools.pairwise(batches):
            assert a.end <= b.start, "a printer runs two batches at once"
    unscheduled = {int(x) for ids in p.unscheduled.values() for x in ids}
    assert not seen & unscheduled
    assert len(seen) + len(unscheduled) == len(p.records)


def test_a_plan_schedules_every_record_once_in_clicks_of_at_most_the_limit() -> None:
    p = ektpcore.plan(records(5_000), printers(), blanks=10_000, start=START, click_limit=250)
    check(p, 250)
    assert sum(len(b) for b in p.batches) == 5_000
    assert p.unscheduled == {}
    assert 1.0 <= p.quality <= 1.02
    assert p.finish == p.start + p.makespan
    assert set(p.utilisation) == {"P0", "P1", "P2"}
    assert all(0.9 < u <= 1.0 for u in p.utilisation.values())


def test_cards_print_grouped_by_kecamatan_then_kelurahan_within_a_batch() -> None:
    recs = records(2_000, seed=3)
    p = ektpcore.plan(recs, printers(2), blanks=2_000, start=START)
    place = {
        int(i): (k, kel)
        for i, k, kel in zip(recs["id"], recs["kecamatan"], recs["kelurahan"], strict=True)
    }
    for b in p.batches:
        order = [place[int(i)] for i in b.records]
        assert order == sorted(order)
        assert list(b.kecamatan) == sorted(set(k for k, _ in order))


def test_short_blanks_serve_first_time_cards_before_replacements() -> None:
    recs = records(1_000, seed=1)
    p = ektpcore.plan(recs, printers(), blanks=600, start=START)
    check(p)
    refused = p.unscheduled[Unscheduled.NO_BLANK]
    assert len(refused) == 400
    prio = dict(zip(recs["id"].tolist(), recs["priority"].tolist(), strict=True))
    served = [prio[int(i)] for b in p.batches for i in b.records]
    assert max(served) <= min(prio[int(i)] for i in refused)


def test_unknown_ready_times_wait_and_known_ones_are_honoured() -> None:
    recs = records(300)
    ready: list[dt.datetime | None] = [START + dt.timedelta(hours=i % 48) for i in range(300)]
    ready[0] = None
    recs["ready"] = ready
    p = ektpcore.plan(recs, printers(), blanks=1_000, start=START)
    assert p.unscheduled[Unscheduled.NOT_READY].tolist() == [int(recs["id"][0])]
    ready_of = dict(zip(recs["id"].tolist(), ready, strict=True))
    for b in p.batches:
        assert all(ready_of[int(i)] <= b.start for i in b.records)
    eta = p.eta(int(recs["id"][5]))
    ready5 = ready[5]
    assert eta is not None
    assert ready5 is not None
    assert eta >= ready5
    assert p.eta(int(recs["id"][0])) is None


def test_printers_work_only_in_staffed_shifts_and_the_fastest_run_first() -> None:
    day_only = [Shift(dt.time(8), dt.time(16), printers=2)]
    p = ektpcore.plan(records(3_000), printers(4), blanks=3_000, start=START, shifts=day_only)
    check(p)
    used = {b.printer for b in p.batches}
    assert used == {"P2", "P3"}, "the two fastest printers run"
    for b in p.batches:
        s, e = b.start.astimezone(WIB), b.end.astimezone(WIB)
        assert s.date() == e.date()
        assert s.hour >= 8
        assert (e.hour, e.minute) <= (16, 0)


def test_downtime_is_respected() -> None:
    down = ((START + dt.timedelta(hours=2), START + dt.timedelta(hours=30)),)
    p = ektpcore.plan(
        records(3_000),
        [Printer("A", 150, 100, downtime=down), Printer("B", 150, 100)],
        blanks=3_000,
        start=START,
    )
    for b in p.batches:
        if b.printer == "A":
            assert b.end <= down[0][0] or b.start >= down[0][1]


def test_ribbon_changes_come_where_the_ribbon_runs_out() -> None:
    p = ektpcore.plan(
        {"id": np.arange(1, 1_201)},
        [Printer("A", 200, ribbon_capacity=500, ribbon_remaining=100)],
        blanks=2_000,
        start=START,
    )
    positions = []
    done = 0
    for b in p.batches:
        positions += [done + c for c in b.ribbon_changes]
        done += len(b)
    assert positions == [100, 600, 1_100]


def test_replan_never_moves_printed_or_printing_cards() -> None:
    p = ektpcore.plan(records(6_000), printers(), blanks=6_000, start=START)
    now = START + dt.timedelta(hours=20)
    q = p.replan(now)
    check(q)
    before = dict(zip(p.records.tolist(), p.etas.tolist(), strict=True))
    after = dict(zip(q.records.tolist(), q.etas.tolist(), strict=True))
    for b in p.batches:
        if b.start <= now:
            assert q.batch(b.id).records.tolist() == b.records.tolist()
            for i in b.records.tolist():
                assert after[i] == before[i]
    assert q.start == now
    assert all(b.start >= now for b in q.batches if b.id not in {x.id for x in p.batches})


def test_a_jam_spoils_one_card_and_plans_the_rest_of_its_batch_again() -> None:
    p = ektpcore.plan(records(3_000), printers(), blanks=3_000, start=START)
    first = p.batches[0]
    jam_at = 10
    now = first.start + dt.timedelta(minutes=30)
    q = p.replan(now, [Jam(first.id, jam_at, cleared_after=dt.timedelta(minutes=20))])
    check(q)
    kept = q.batch(first.id)
    assert kept.records.tolist() == first.records[:jam_at].tolist()
    # One blank went to the jammed card: with exactly as many blanks as records, one record
    # now has none.
    assert len(q.unscheduled[Unscheduled.NO_BLANK]) == 1
    later = [b for b in q.batches if b.printer == first.printer and b.start > kept.start]
    assert later[0].start >= kept.end + dt.timedelta(minutes=20)
    q2 = q.replan(now, [BlanksReceived(5)])
    assert q2.unscheduled == {}


def test_a_printer_going_down_moves_its_work_to_the_others() -> None:
    p = ektpcore.plan(records(3_000), printers(), blanks=3_100, start=START)
    now = START + dt.timedelta(hours=1)
    q = p.replan(now, [PrinterDown("P2", now)])
    check(q)
    assert all(b.start < now for b in q.batches if b.printer == "P2")
    assert q.unscheduled == {}
    assert q.finish > p.finish


def test_spoiled_cards_and_new_records_are_planned_again() -> None:
    p = ektpcore.plan(records(1_000), printers(), blanks=2_000, start=START)
    first = p.batches[0]
    now = first.end + dt.timedelta(minutes=1)
    spoiled_id = int(first.records[3])
    extra = {"id": np.array([999_991, 999_992]), "priority": [Priority.FIRST_TIME] * 2}
    q = p.replan(now, [CardSpoiled(first.id, 3), NewRecords(extra)])
    check(q)
    assert spoiled_id not in q.batch(first.id).records.tolist()
    planned = {int(i) for b in q.batches if b.start >= now for i in b.records}
    assert {spoiled_id, 999_991, 999_992} <= planned


def test_new_records_ready_later_wait_in_a_plan_whose_records_were_all_ready() -> None:
    # The first plan has no ready column (every record ready at the start); the new records
    # bring one, and those not yet ready are planned no earlier than they are.
    p = ektpcore.plan(records(600), printers(), blanks=2_000, start=START)
    now = p.batches[0].end
    later = now + dt.timedelta(hours=3)
    extra = {
        "id": np.array([999_991, 999_992, 999_993]),
        "ready": [now, later, None],
    }
    q = p.replan(now, [NewRecords(extra)])
    check(q)
    eta = {int(i): q.eta(int(i)) for i in extra["id"]}
    soon, waited = eta[999_991], eta[999_992]
    assert soon is not None
    assert soon > now
    assert waited is not None
    assert waited > later
    assert eta[999_993] is None
    assert [int(i) for i in q.unscheduled[Unscheduled.NOT_READY]] == [999_993]
    # The records of the first plan are all planned, none of them waiting on a ready time.
    assert sum(len(b) for b in q.batches) == 602


def test_replan_refuses_bad_events() -> None:
    p = ektpcore.plan(records(3_000), printers(), blanks=3_000, start=START)
    later = p.batches[-1]
    with pytest.raises(InvalidArgumentError, match="has not started"):
        p.replan(START, [Jam(later.id, 0)])
    with pytest.raises(InvalidArgumentError, match="no printer"):
        p.replan(START, [PrinterDown("nope", START)])
    with pytest.raises(InvalidArgumentError, match="forward"):
        p.replan(START - dt.timedelta(hours=1))
    with pytest.raises(InvalidArgumentError, match="repeat"):
        p.replan(START, [NewRecords({"id": p.records[:1]})])


def test_records_arriving_over_several_replans_are_never_planned_twice() -> None:
    # Each re-plan checks the new ids against every record the plan has: those of the first
    # plan, of earlier arrivals (including a re-plan without arrivals in between), and each
    # other.
    p = ektpcore.plan(records(800), printers(), blanks=3_000, start=START)
    now = p.batches[0].end
    q = p.replan(now, [NewRecords({"id": np.array([900_005, 900_001])})])
    r = q.replan(now + dt.timedelta(minutes=5))
    s = r.replan(now + dt.timedelta(minutes=10), [NewRecords({"id": np.array([900_003])})])
    check(s)
    later = now + dt.timedelta(minutes=15)
    for plan in (q, r, s):
        for repeated in ([900_001], [7, 900_002], [900_004, 900_004]):
            with pytest.raises(InvalidArgumentError, match="repeat"):
                plan.replan(later, [NewRecords({"id": np.array(repeated)})])
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        s.replan(later, [NewRecords({"id": np.array([-1])})])
    assert 900_003 in {int(i) for b in s.batches for i in b.records}
    ids = [int(i) for b in s.batches for i in b.records]
    assert len(ids) == len(set(ids)) == 803


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(InvalidArgumentError, match="cards per hour"):
        Printer("X", 0)
    with pytest.raises(InvalidArgumentError, match="ribbon"):
        Printer("X", 100, ribbon_capacity=10, ribbon_remaining=11)
    with pytest.raises(InvalidArgumentError, match="distinct"):
        ektpcore.plan({"id": [1, 1]}, printers(), blanks=2, start=START)
    with pytest.raises(InvalidArgumentError, match="printer ids"):
        ektpcore.plan({"id": [1]}, [Printer("A", 1), Printer("A", 2)], blanks=2)
    with pytest.raises(InvalidArgumentError, match="'id'"):
        ektpcore.plan({"nik": [1]}, printers(), blanks=2)
    with pytest.raises(InvalidArgumentError, match="click_limit"):
        ektpcore.plan({"id": [1]}, printers(), blanks=2, click_limit=0)


def test_no_printers_means_no_printer_for_anyone() -> None:
    p = ektpcore.plan({"id": [1, 2]}, [], blanks=2, start=START)
    assert p.unscheduled[Unscheduled.NO_PRINTER].tolist() == [1, 2]
    assert p.batches == []


def test_json_and_csv_exports(tmp_path: Any) -> None:
    p = ektpcore.plan(records(700), printers(2), blanks=650, start=START)
    doc = json.loads(p.to_json(tmp_path / "plan.json"))
    assert doc["cards"] == 650
    assert doc["unscheduled"] == {"NO_BLANK": 50}
    assert sum(len(b["records"]) for b in doc["batch_list"]) == 650
    p.to_csv(tmp_path / "plan.csv")
    rows = (tmp_path / "plan.csv").read_text().splitlines()
    assert len(rows) == 701
    assert sum(1 for r in rows if r.endswith("NO_BLANK")) == 50
    assert "Plan(batches=" in repr(p)
    # A plan of a ledger's records names them by NIK: new files of mode 0600, never one
    # written over.
    for name in ("plan.json", "plan.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        p.to_json(tmp_path / "plan.json")
    with pytest.raises(FileExistsError):
        p.to_csv(tmp_path / "plan.csv")
    assert len((tmp_path / "plan.csv").read_text().splitlines()) == 701


# -- properties ----------------------------------------------------------------------------


@st.composite
def instances(draw: st.DrawFn) -> tuple[dict[str, Any], list[Printer], int, int]:
    n = draw(st.integers(0, 400))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    recs = records(n, seed, kelurahan=draw(st.integers(1, 30)))
    hours = rng.integers(-5, 60, n)
    recs["ready"] = [START + dt.timedelta(hours=int(h)) for h in hours]
    k = draw(st.integers(1, 4))
    ps = [
        Printer(
            f"P{i}",
            draw(st.floats(20, 300)),
            draw(st.floats(20, 300)),
            chip_seconds=draw(st.floats(0, 30)),
            ribbon_capacity=(cap := draw(st.integers(1, 300))),
            ribbon_remaining=draw(st.integers(0, cap)),
            ribbon_change_minutes=draw(st.floats(0, 30)),
        )
        for i in range(k)
    ]
    return recs, ps, draw(st.integers(0, 500)), draw(st.integers(1, 120))


@given(instances(), st.booleans())
def test_property_plans_keep_every_limit(
    instance: tuple[dict[str, Any], list[Printer], int, int], day_only: bool
) -> None:
    recs, ps, blanks, click = instance
    shifts = [Shift(dt.time(8), dt.time(20), printers=2)] if day_only else ektpcore.DEFAULT_SHIFTS
    p = ektpcore.plan(recs, ps, blanks=blanks, start=START, click_limit=click, shifts=shifts)
    check(p, click)
    scheduled = sum(len(b) for b in p.batches)
    assert scheduled <= blanks
    ready_of = dict(zip(recs["id"].tolist(), recs["ready"], strict=True))
    prio = dict(zip(recs["id"].tolist(), recs["priority"].tolist(), strict=True))
    capacity = {x.id: x.ribbon_capacity for x in ps}
    left = {x.id: x.ribbon_left for x in ps}
    for b in p.batches:
        # Never before a card is ready; in the day shift only when that is all there is.
        assert all(ready_of[int(i)] <= b.start for i in b.records)
        if day_only:
            s, e = b.start.astimezone(WIB), b.end.astimezone(WIB)
            assert s.hour >= 8
            assert s.date() == e.date()
            assert (e.hour, e.minute, e.second) <= (20, 0, 0)
        # The ribbon never prints more than it holds between changes.
        for k in range(len(b)):
            if k in b.ribbon_changes:
                left[b.printer] = capacity[b.printer]
            assert left[b.printer] > 0
            left[b.printer] -= 1
    # Priorities: a card waiting (ready) when a batch of lower-class cards starts is not
    # started after it.
    start_of = {int(i): b.start for b in p.batches for i in b.records}
    for b in p.batches:
        worst = max(prio[int(i)] for i in b.records)
        for i, s in start_of.items():
            if prio[i] < worst and ready_of[i] <= b.start:
                assert s <= b.start


@given(instances(), st.integers(0, 72), st.integers(0, 5))
def test_property_replan_keeps_finished_cards_where_they_were(
    instance: tuple[dict[str, Any], list[Printer], int, int], hours: int, jam: int
) -> None:
    recs, ps, blanks, click = instance
    p = ektpcore.plan(recs, ps, blanks=blanks, start=START, click_limit=click)
    now = START + dt.timedelta(hours=hours)
    started = [b for b in p.batches if b.start <= now]
    events: list[ektpcore.PlanEvent] = []
    if started and jam < len(started[-1]):
        events.append(Jam(started[-1].id, jam))
    q = p.replan(now, events)
    check(q, click)
    eta_before = dict(zip(p.records.tolist(), p.etas.tolist(), strict=True))
    eta_after = dict(zip(q.records.tolist(), q.etas.tolist(), strict=True))
    for b in started:
        cut = jam if events and b.id == started[-1].id else len(b)
        assert q.batch(b.id).records.tolist() == b.records[:cut].tolist() if cut else True
        for i in b.records[:cut].tolist():
            assert eta_after[i] == eta_before[i]
    assert sum(len(b) for b in q.batches) + len(events) <= blanks


def test_a_printer_works_only_when_it_is_available() -> None:
    lent = ((START + dt.timedelta(hours=10), START + dt.timedelta(hours=16)),)
    p = ektpcore.plan(
        records(3_000),
        [Printer("own", 120, 90), Printer("lent", 120, 90, available=lent)],
        blanks=3_000,
        start=START,
    )
    check(p)
    lent_batches = [b for b in p.batches if b.printer == "lent"]
    assert lent_batches
    assert all(lent[0][0] <= b.start and b.end <= lent[0][1] for b in lent_batches)


def test_around_the_clock_windows_equal_the_day_by_day_union(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ektpcore.planning import windows as planning

    down = ((START + dt.timedelta(hours=5), START + dt.timedelta(hours=9)),)
    ps = [Printer("A", 100, downtime=down), Printer("B", 90)]
    args = (ps, ektpcore.DEFAULT_SHIFTS, START, START + dt.timedelta(hours=3), 6, {})
    fast = planning._windows(*args)
    monkeypatch.setattr(planning, "_around_the_clock", lambda *_: False)
    assert planning._windows(*args) == fast
    assert len(fast[0]) == 2
    assert len(fast[1]) == 1


# -- mixed fleets --------------------------------------------------------------------------


@st.composite
def mixed_fleets(draw: st.DrawFn) -> dict[str, Any]:
    """A bureau's fleet of different models (one- and two-sided speeds, with or without chip
    encoding), some down for a while, ribbons part used; records of many kelurahan, some
    replacements, some ready later; blanks partly delivered later. Drawn as settings (the
    records are built from a seed) so that a failing example reads in a few lines."""
    k = draw(st.integers(2, 5))
    printers = []
    for _ in range(k):
        cap = draw(st.integers(100, 800))
        printers.append(
            {
                "one": draw(st.floats(60, 240)),
                "two": draw(st.floats(0.25, 1.0)),
                "chip": draw(st.sampled_from([0.0, 5.0, 10.0])),
                "cap": cap,
                "left": draw(st.integers(0, cap)),
                "change": draw(st.floats(0, 20)),
                "down": draw(st.none() | st.tuples(st.floats(0, 24), st.floats(0.5, 8))),
            }
        )
    return {
        "printers": printers,
        "per_printer": draw(st.sampled_from([50, 400, 3_000])),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "kelurahan": draw(st.sampled_from([3, 40, 400])),
        "two_sided": draw(st.floats(0.0, 1.0)),
        "late": draw(st.floats(0.0, 0.3)),
        "replacements": draw(st.sampled_from([0.0, 0.1])),
        "delivery": draw(st.none() | st.floats(1, 12)),
    }


def mixed_instance(s: dict[str, Any]) -> tuple[dict[str, Any], list[Printer], int, dict[str, Any]]:
    n = len(s["printers"]) * s["per_printer"]
    rng = np.random.default_rng(s["seed"])
    recs = records(n, s["seed"], kelurahan=s["kelurahan"])
    recs["two_sided"] = rng.random(n) < s["two_sided"]
    recs["priority"] = np.where(
        rng.random(n) < s["replacements"], Priority.REPLACEMENT, Priority.FIRST_TIME
    )
    late = rng.random(n) < s["late"]
    hours = rng.uniform(0, 12, n)
    recs["ready"] = [
        START + dt.timedelta(hours=float(h)) if x else START
        for h, x in zip(hours, late, strict=True)
    ]
    ps = [
        Printer(
            f"P{i}",
            x["one"],
            x["one"] * x["two"],
            chip_seconds=x["chip"],
            ribbon_capacity=x["cap"],
            ribbon_remaining=x["left"],
            ribbon_change_minutes=x["change"],
            downtime=()
            if x["down"] is None
            else (
                (
                    START + dt.timedelta(hours=x["down"][0]),
                    START + dt.timedelta(hours=x["down"][0] + x["down"][1]),
                ),
            ),
        )
        for i, x in enumerate(s["printers"])
    ]
    if s["delivery"] is None:
        return recs, ps, n, {}
    return (
        recs,
        ps,
        n // 2,
        {"blank_deliveries": [(START + dt.timedelta(hours=s["delivery"]), n - n // 2)]},
    )


CLICK = 150


@settings(max_examples=60, deadline=None)
@given(mixed_fleets())
def test_property_mixed_fleets_keep_every_rule_and_come_close_to_the_bound(
    settings_: dict[str, Any],
) -> None:
    recs, ps, blanks, kw = mixed_instance(settings_)
    p = ektpcore.plan(
        recs,
        ps,
        blanks=blanks,
        start=START,
        click_limit=CLICK,
        click_overhead=dt.timedelta(minutes=4),
        **kw,
    )
    check(p, CLICK)
    n = len(recs["id"])
    assert sum(len(b) for b in p.batches) == n, "every record gets a blank and a printer"
    ready_of = dict(zip(recs["id"].tolist(), recs["ready"], strict=True))
    prio = dict(zip(recs["id"].tolist(), recs["priority"].tolist(), strict=True))
    place = {
        int(i): (a, b)
        for i, a, b in zip(recs["id"], recs["kecamatan"], recs["kelurahan"], strict=True)
    }
    spec = {x.id: x for x in ps}
    left = {x.id: x.ribbon_left for x in ps}
    delivered = kw.get("blank_deliveries", [])
    printed_before = 0
    for b in sorted(p.batches, key=lambda b: b.start):
        ids = [int(i) for i in b.records]
        assert all(ready_of[i] <= b.start for i in ids)
        # Kelurahan groups print together: each batch in (kecamatan, kelurahan) order.
        assert [place[i] for i in ids] == sorted(place[i] for i in ids)
        for a, z in spec[b.printer].downtime:
            assert b.end <= a or b.start >= z, "a batch in a printer's downtime"
        # Blanks: only the stock until the delivery arrives.
        if delivered and b.start < delivered[0][0]:
            printed_before += len(b)
        for k in range(len(b)):
            if k in b.ribbon_changes:
                left[b.printer] = spec[b.printer].ribbon_capacity
            assert left[b.printer] > 0
            left[b.printer] -= 1
    assert printed_before <= blanks
    start_of = {int(i): b.start for b in p.batches for i in b.records}
    for b in p.batches:
        worst = max(prio[int(i)] for i in b.records)
        for i, s in start_of.items():
            if prio[i] < worst and ready_of[i] <= b.start:
                assert s <= b.start, "a ready urgent card started after a less urgent batch"
    assert p.makespan >= p.lower_bound
    if n / len(ps) >= 20 * CLICK and not (recs["priority"] > 0).any():
        # Twenty clicks a printer and more, one class: the fluid bound is tight enough to
        # judge by (it does not know that every urgent card starts before any other).
        assert p.quality <= 1.02, p.quality


def test_two_sided_cards_go_to_the_printers_relatively_best_at_them() -> None:
    fleet = [
        Printer("S1", 150, 140, chip_seconds=5),
        Printer("S2", 150, 60, chip_seconds=5),
        Printer("S3", 100, 95),
        Printer("S4", 120, 50),
    ]
    n = 8_000
    p = ektpcore.plan(
        {"id": np.arange(1, n + 1), "two_sided": np.arange(n) % 2 == 0},
        fleet,
        blanks=n,
        start=START,
        click_limit=300,
        click_overhead=dt.timedelta(minutes=4),
    )
    check(p)
    assert p.quality <= 1.02
    two = {}
    for b in p.batches:
        sides = (b.records - 1) % 2 == 0
        two.setdefault(b.printer, []).extend(sides.tolist())
    share = {k: sum(v) / len(v) for k, v in two.items()}
    # S1 and S3 barely slow down on two-sided cards; S2 and S4 take more than twice as long.
    assert min(share["S1"], share["S3"]) > 0.6
    assert max(share["S2"], share["S4"]) < 0.1


def test_printers_that_each_find_the_others_better_do_not_wait_on_each_other() -> None:
    """An instance the properties drew: every printer left found the others better placed for
    what was left, and they deferred to each other a microsecond at a time, for ever. Each
    defers once at a moment now; then the one asked takes the click."""
    data = json.loads(
        (Path(__file__).parent / "data" / "plan_printers_waiting_on_each_other.json").read_text()
    )
    n = len(data["ids"])
    recs = {
        "id": np.array(data["ids"]),
        "priority": np.array([int(c) for c in data["priority"]]),
        "two_sided": np.array([c == "1" for c in data["two_sided"]]),
        "ready": [START + dt.timedelta(hours=h) for h in data["ready_hours"]],
        "kecamatan": np.array(["Bogor Tengah"] * n, dtype=object),
        "kelurahan": np.array(["Kel 0"] * n, dtype=object),
    }
    ps = [Printer(**p) for p in data["printers"]]
    p = ektpcore.plan(recs, ps, blanks=data["blanks"], start=START, click_limit=data["click"])
    check(p, data["click"])
    assert sum(len(b) for b in p.batches) == data["blanks"]
