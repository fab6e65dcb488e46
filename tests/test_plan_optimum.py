"""The planner against exact optima: on tiny instances CP-SAT solves the same problem
(tests/_optimum.py); no plan of ektpcore may beat its optimum (that would mean a wrong model
or a plan that breaks a rule) and ektpcore's lower bound may not exceed it (a wrong bound)."""

from __future__ import annotations

import pytest

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
