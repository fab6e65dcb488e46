"""The campaign simulator on its default campaign (Kota Bogor, 61,000 records, seed 2017; target
at most 10 s), against the same simulator driving its ledger one call at a time on a file, as it
did before (``tests/_campaign_stepwise.py``). Both run once, in the same run; the reports must
be the same (apart from their wall-clock figures), the ledger verified and its blank stock
balanced before a figure counts. The smoke run of a plain ``pytest`` simulates a small
campaign instead.

CPU seconds are noted beside wall-clock seconds: on a shared machine the wall clock also
counts the time other jobs held the cores. They are the process's, every thread's: the ledger's
changes run on a thread of their own beside planning and the simulation, so where the two
overlap the CPU seconds exceed the wall clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tests._campaign_stepwise import simulate_stepwise

from ektpcore.simulate import CampaignReport, load_scenario, simulate

from .conftest import NOTES, RESULTS, TARGETS, judge

GROUP = "simulate"
PEER = "one ledger call at a time, file"
SMALL = [
    "records.print_ready=2000",
    "records.sent_for_enrolment=1500",
    "records.bio_captured=500",
    "blanks.in_stock=3900",
    "printers.count=2",
    "campaign.max_days=40",
]

TARGETS.append(
    (
        "the default campaign, recorded in larger changes, vs one ledger call at a time",
        GROUP,
        "ektpcore",
        (PEER,),
        1.3,
    )
)


def _timed(fn: Any, *args: Any) -> tuple[CampaignReport, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    report = fn(*args)
    return report, time.perf_counter() - wall, time.process_time() - cpu


def _answer(report: CampaignReport) -> dict[str, Any]:
    doc = report.to_dict()
    doc.pop("seconds")
    doc.pop("replan_ms_mean")
    return doc


def test_default_campaign(benchmark: Any, pytestconfig: pytest.Config, tmp_path: Path) -> None:
    timed = bool(pytestconfig.getoption("benchmark_enable"))
    scenario = load_scenario(overrides=() if timed else SMALL)
    benchmark.group = GROUP
    benchmark.extra_info["implementation"] = "ektpcore"
    ours, wall, cpu = benchmark.pedantic(
        _timed, args=(lambda: simulate(scenario, seed=2017),), rounds=1
    )
    peer, peer_wall, peer_cpu = _timed(simulate_stepwise, scenario, 2017, tmp_path / "peer.db")
    assert ours.ledger_verified
    assert ours.blanks_balanced
    assert ours.printed > 0
    assert ours.issued > 0
    assert _answer(ours) == _answer(peer)
    RESULTS.setdefault(GROUP, {})["ektpcore"] = wall
    RESULTS[GROUP][PEER] = peer_wall
    split = ", ".join(f"{k} {v:.1f} s" for k, v in ours.seconds.items())
    NOTES.append(
        f"simulate {ours.records:,} records: {wall:.1f} s wall, {cpu:.1f} s CPU ({split});"
        f" one ledger call at a time {peer_wall:.1f} s wall, {peer_cpu:.1f} s CPU"
    )
    judge("simulate the default campaign, s", wall, 10.0, timed, higher_is_better=False)
