"""An exact model of the planner's problem in OR-Tools CP-SAT, for small instances: which
printer prints how many cards of each priority class and side in which click, and when, with
click limits, click overheads, ribbon changes and priority order, minimising the makespan.

It is the planner's problem with every card ready at the start and every printer working
around the clock: the planner keeps kelurahan groups together by choice, not as a rule, so the
model leaves groups free and its optimum is a lower reference for any grouping. Card times are
whole seconds so that the model is exact.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import ektpcore
from ektpcore import Plan, Printer
from ektpcore.clock import WIB

START = dt.datetime(2017, 11, 13, 8, tzinfo=WIB)
# Cards per hour with a whole number of seconds per card.
RATES = (40, 45, 60, 72, 90, 100, 120, 144, 150, 180, 200, 240)


@dataclass(frozen=True)
class Instance:
    """Cards as columns (kelurahan groups, classes, sides) and a fleet of printers."""

    records: dict[str, Any]
    printers: tuple[Printer, ...]
    click_limit: int
    overhead_s: int

    @property
    def n(self) -> int:
        return len(self.records["id"])


def instance(
    seed: int, n: int, k: int, click_limit: int, *, overhead_s: int = 240, groups: int = 12
) -> Instance:
    """A random small instance: ``n`` cards of ``groups`` kelurahan (a tenth replacements,
    a random share two-sided) on ``k`` printers of different models, ribbons part used."""
    rng = np.random.default_rng(seed)
    printers = []
    for i in range(k):
        one = int(rng.choice(RATES))
        two = int(rng.choice([r for r in RATES if r <= one]))
        capacity = int(rng.integers(max(20, n // (2 * k)), max(40, n // k) + 1))
        printers.append(
            Printer(
                f"P{i + 1}",
                one,
                two,
                chip_seconds=int(rng.choice([0, 5, 10])),
                ribbon_capacity=capacity,
                ribbon_remaining=int(rng.integers(0, capacity + 1)),
                ribbon_change_minutes=int(rng.integers(2, 16)),
            )
        )
    records = {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "kecamatan": np.array(["Bogor Barat"] * n, dtype=object),
        "kelurahan": np.array([f"Kel {g:02d}" for g in range(groups)], dtype=object)[
            rng.integers(0, groups, n)
        ],
        "priority": np.where(rng.random(n) < 0.1, 2, 0),
        "two_sided": rng.random(n) < rng.uniform(0.2, 0.8),
    }
    return Instance(records, tuple(printers), click_limit, overhead_s)


def plan(inst: Instance) -> Plan:
    """ektpcore's plan of the instance (every card ready at the start, around the clock)."""
    return ektpcore.plan(
        inst.records,
        list(inst.printers),
        blanks=inst.n,
        start=START,
        click_limit=inst.click_limit,
        click_overhead=dt.timedelta(seconds=inst.overhead_s),
    )


@dataclass(frozen=True)
class Optimum:
    makespan_s: float  # the best schedule found (infinite: none within the time limit)
    bound_s: float  # no schedule finishes earlier
    proven: bool  # the two are equal: the optimum
    seconds: float  # wall time of the solve


def optimum(inst: Instance, time_limit_s: float, workers: int = 2) -> Optimum:
    """Solves the instance exactly (or to the time limit) with CP-SAT."""
    from ortools.sat.python import cp_model

    prio = inst.records["priority"].tolist()
    two = inst.records["two_sided"].tolist()
    classes = sorted(set(prio))
    count = {(c, s): 0 for c in classes for s in (False, True)}
    for c, s in zip(prio, two, strict=True):
        count[c, s] += 1
    n, click = inst.n, inst.click_limit
    seconds = {
        (i, s): round(p.seconds_per_card(s)) for i, p in enumerate(inst.printers) for s in (0, 1)
    }
    for (i, s), t in seconds.items():
        assert t == inst.printers[i].seconds_per_card(bool(s)), "whole seconds per card"
    changes_s = {i: round(p.ribbon_change_minutes * 60) for i, p in enumerate(inst.printers)}
    horizon = sum(
        n * max(seconds[i, 0], seconds[i, 1])
        + n * inst.overhead_s
        + (n // p.ribbon_capacity + 1) * changes_s[i]
        for i, p in enumerate(inst.printers)
    )
    m = cp_model.CpModel()
    makespan = m.new_int_var(0, horizon, "makespan")
    taken: dict[tuple[int, bool], list[Any]] = {key: [] for key in count}
    starts_with: dict[int, list[tuple[Any, Any]]] = {c: [] for c in classes}
    slots = math.ceil(n / click) + len(classes)
    for i, p in enumerate(inst.printers):
        prev_end: Any = 0
        busy: Any = 0
        prev_used: Any = None
        prev_changes: Any = 0
        printed: Any = 0
        for b in range(slots):
            used = m.new_bool_var(f"u{i}_{b}")
            x = {key: m.new_int_var(0, min(click, count[key]), f"x{i}_{b}_{key}") for key in count}
            cards = sum(x.values())
            m.add(cards <= click * used)
            m.add(cards >= used)
            if prev_used is not None:
                m.add_implication(used, prev_used)  # clicks in order, unused ones last
            printed = printed + cards
            changes = m.new_int_var(0, n // p.ribbon_capacity + 1, f"r{i}_{b}")
            m.add(p.ribbon_capacity * changes >= printed - p.ribbon_left)
            m.add(changes >= prev_changes)
            start = m.new_int_var(0, horizon, f"s{i}_{b}")
            end = m.new_int_var(0, horizon, f"e{i}_{b}")
            m.add(start >= prev_end)
            work = sum(x[c, s] * seconds[i, int(s)] for c, s in count)
            m.add(
                end
                == start + inst.overhead_s * used + work + changes_s[i] * (changes - prev_changes)
            )
            m.add(makespan >= end)
            busy = busy + inst.overhead_s * used + work
            for c in classes:
                has = m.new_bool_var(f"h{i}_{b}_{c}")
                m.add(x[c, False] + x[c, True] >= 1).only_enforce_if(has)
                m.add(x[c, False] + x[c, True] == 0).only_enforce_if(~has)
                starts_with[c].append((has, start))
            for key in count:
                taken[key].append(x[key])
            prev_end, prev_used, prev_changes = end, used, changes
        # Redundant (the clicks run one after another) but it tightens the relaxation.
        m.add(makespan >= busy + changes_s[i] * prev_changes)
    for key, xs in taken.items():
        m.add(sum(xs) == count[key])
    # Priority order: no click with a less urgent card starts before the last click with a
    # more urgent one has started (every card is ready at the start).
    for c, later in itertools.pairwise(classes):
        last = m.new_int_var(0, horizon, f"last{c}")
        first = m.new_int_var(0, horizon, f"first{later}")
        for has, start in starts_with[c]:
            m.add(last >= start).only_enforce_if(has)
        for has, start in starts_with[later]:
            m.add(first <= start).only_enforce_if(has)
        m.add(last <= first)
    m.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    began = time.perf_counter()
    status = solver.solve(m)
    elapsed = time.perf_counter() - began
    assert status != cp_model.INFEASIBLE, "the model refuses a problem every plan solves"
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return Optimum(
        makespan_s=solver.objective_value if found else math.inf,
        bound_s=solver.best_objective_bound,
        proven=status == cp_model.OPTIMAL,
        seconds=elapsed,
    )
