"""The planner against exact optima: on tiny instances CP-SAT solves the same problem
(tests/_optimum.py); no plan of ektpcore may beat its optimum (that would mean a wrong model
or a plan that breaks a rule) and ektpcore's lower bound may not exceed it (a wrong bound)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ektpcore import Batch

from ._optimum import instance, optimum, plan


@pytest.mark.parametrize(
    ("seed", "n", "k", "click"),
    [(0, 12, 2, 5), (1, 20, 2, 6), (2, 24, 3, 8), (3, 30, 2, 10), (4, 16, 3, 4), (5, 28, 2, 7)],
)
def test_the_optimum_is_never_beaten_and_the_bound_never_exceeds_it(
    seed: int, n: int, k: int, click: int
) -> None:
    inst = instance(seed, n, k, click, groups=4)
    p = plan(inst)
    assert sum(len(b) for b in p.batches) == n
    best = optimum(inst, time_limit_s=10.0)
    makespan = p.makespan.total_seconds()
    # CP-SAT's bound holds whether or not it proved its optimum.
    assert makespan >= best.bound_s - 1e-6
    assert p.lower_bound.total_seconds() <= best.makespan_s + 1e-6
    if best.proven:
        assert makespan >= best.makespan_s - 1e-6


@pytest.mark.parametrize(("seed", "n", "k", "click"), [(11, 60, 2, 20), (14, 120, 2, 40)])
def test_small_plans_come_within_two_percent_of_the_optimum(
    seed: int, n: int, k: int, click: int
) -> None:
    # Instances of benches/test_bench_plan_optimum.py that CP-SAT proves in about a second:
    # a printer's last click or a ribbon change on the critical path, replacements that must
    # start after every first-time card has; list scheduling alone was 24 % above on the first.
    inst = instance(seed, n, k, click)
    p = plan(inst)
    assert sum(len(b) for b in p.batches) == n
    assert all(1 <= len(b) <= click for b in p.batches)
    best = optimum(inst, time_limit_s=30.0)
    assert best.proven
    assert p.makespan.total_seconds() <= 1.02 * best.makespan_s


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 240),
    st.integers(1, 4),
    st.integers(1, 60),
    st.integers(1, 12),
)
def test_property_small_plans_keep_every_rule(
    seed: int, n: int, k: int, click: int, groups: int
) -> None:
    # Small instances, every card ready at once, a few clicks per printer: the plans the
    # search over click sizes rewrites. Every record once, click limit, ribbons, kelurahan
    # print order, priority order, and never below either bound.
    inst = instance(seed, n, k, click, groups=groups)
    p = plan(inst)
    ids = [int(i) for b in p.batches for i in b.records]
    assert sorted(ids) == inst.records["id"].tolist(), "every record exactly once"
    assert all(1 <= len(b) <= click for b in p.batches)
    row = {int(i): j for j, i in enumerate(inst.records["id"])}
    prio = inst.records["priority"]
    place = inst.records["kelurahan"]
    spec = {x.id: x for x in inst.printers}
    left = {x.id: x.ribbon_left for x in inst.printers}
    by_printer: dict[str, list[Batch]] = {}
    for b in sorted(p.batches, key=lambda b: b.start):
        rows = [row[int(i)] for i in b.records]
        assert [place[j] for j in rows] == sorted(place[j] for j in rows)
        for c in range(len(b)):
            if c in b.ribbon_changes:
                left[b.printer] = spec[b.printer].ribbon_capacity
            assert left[b.printer] > 0
            left[b.printer] -= 1
        by_printer.setdefault(b.printer, []).append(b)
    for batches in by_printer.values():
        for a, b in itertools.pairwise(batches):
            assert a.end <= b.start, "a printer runs two batches at once"
    for b in p.batches:
        worst = max(prio[row[int(i)]] for i in b.records)
        for other in p.batches:
            if any(prio[row[int(i)]] < worst for i in other.records):
                assert other.start <= b.start, "a less urgent click before a more urgent one"
    assert p.makespan >= p.lower_bound
