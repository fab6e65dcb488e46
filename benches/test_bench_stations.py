"""Print stations side by side: eight station processes at once, each claiming its own batch,
printing it through its own zero-delay virtual printer and recording every card (journal rows
before the bytes leave, outcomes after the printer's answer, in durable transactions of a
window of sixteen cards: the outcomes of one window with the journal rows of the next), on
one ledger. The figure is cards settled per second over all eight, from the first station's
start to the last one's end (target at least 500 cards/s on PostgreSQL); SQLite's figure of
the same run stands beside it as the peer in the ratio table, and the same stations with one
card per transaction beside that.

Every run is checked: each station printed its whole batch, every card came out of a printer
exactly once (the printers' trays are logged, the NIK read back from each card), and the
ledger holds exactly those cards, its blanks reconciled and its chains verified.

Sizes shrink for the untimed smoke run of a plain ``pytest``. PostgreSQL's case needs
``EKTPCORE_TEST_POSTGRES`` (skipped without it, except under CI).
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ektpcore
from ektpcore import Actor, BlankState, FileAnchor, Ledger, Role, State

from .conftest import NOTES, RESULTS, STORES, judge

WORKER = Path(__file__).parents[1] / "tests" / "_station_worker.py"
OPERATOR = Actor("bench", Role.OPERATOR)
SUPERVISOR = Actor("bench supervisor", Role.SUPERVISOR)
STATIONS = 8
GROUP = f"stations-{STATIONS}"
TARGET = 500  # cards settled per second, all stations together, on PostgreSQL
# Cards a station journals in one transaction with the outcomes of the cards before them
# (``PrintStation(window=...)``): what a bureau with fast printers on a shared server sets;
# at most this many cards per station are in doubt after a crash. The one-card case runs too.
WINDOW = 16


@pytest.fixture(scope="module")
def sizes(pytestconfig: pytest.Config) -> tuple[int, int]:
    """Stations and cards per station: eight of 250 when timing; the untimed smoke run starts
    two processes of ten cards (starting a process is most of its time)."""
    return (STATIONS, 250) if pytestconfig.getoption("benchmark_enable") else (2, 10)


def _lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines() if line]


# How the stations anchor their ledger (not at all, a checkpoint after every commit, or at
# most one a second: the default period) and how many cards they journal together; the rate
# of the first case, per store, for the others' ratio (that case runs first).
CASES = {
    "no anchor": (None, WINDOW),
    "anchor each commit": (0.0, WINDOW),
    "anchor every 1 s": (1.0, WINDOW),
    "one card per transaction": (None, 1),
}
_UNANCHORED: dict[str, float] = {}


@pytest.mark.parametrize("case", list(CASES))
def test_eight_stations_at_once(
    benchmark: Any, location: str, tmp_path: Path, sizes: tuple[int, int], case: str
) -> None:
    store = "postgresql" if "://" in location else "sqlite"
    period, window = CASES[case]
    stations, per_station = sizes
    niks = [int(v) for v in ektpcore.sample_niks(stations * per_station, seed=51)]
    batches = {f"B-{i}": niks[i * per_station : (i + 1) * per_station] for i in range(stations)}
    with Ledger(location) as ledger:
        ledger.add_records(niks, OPERATOR, state=State.PRINT_READY)
        ledger.blanks.receive("LOT", 1, len(niks), SUPERVISOR)
        for i, (batch, members) in enumerate(batches.items()):
            ledger.ribbons.install(f"P{i}", "K", len(members), OPERATOR)
            ledger.queue(members, batch, f"P{i}", OPERATOR)
    go = tmp_path / "go"
    logs = [tmp_path / f"station-{i}.log" for i in range(stations)]
    procs = []
    for i, batch in enumerate(batches):
        config = {
            "mode": "timed",
            "location": location,
            "name": f"P{i}@bench",
            "printer": f"P{i}",
            "batch": batch,
            "log": str(logs[i]),
            "go": str(go),
            "anchor": None if period is None else str(tmp_path / "anchor.log"),
            "anchor_period": period,
            "window": window,
        }
        procs.append(subprocess.Popen([sys.executable, str(WORKER), json.dumps(config)]))
    try:
        while not all(log.exists() and ["ready"] in _lines(log) for log in logs):
            assert all(p.poll() is None for p in procs), "a station did not start"
            time.sleep(0.01)

        def run() -> None:
            go.touch()
            for p in procs:
                assert p.wait(timeout=600) == 0

        benchmark.group = GROUP
        benchmark.extra_info["implementation"] = STORES[store]
        benchmark.pedantic(run, rounds=1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    timed = [next(w for w in _lines(log) if w[0] == "timed") for log in logs]
    for words in timed:
        assert words[3:] == [str(per_station), "0", "None"], words  # printed, left, stopped
    start, end = min(float(w[1]) for w in timed), max(float(w[2]) for w in timed)
    trays = collections.Counter(int(w[1]) for log in logs for w in _lines(log) if w[0] == "print")
    assert trays == collections.Counter(niks), "a card came out twice, or never"
    with Ledger(location) as ledger:
        assert ledger.counts() == {State.PRINTED: len(niks)}
        assert ledger.blanks.counts() == {BlankState.USED: len(niks)}
        assert ledger.blanks.reconcile().balanced
        assert ledger.verify().ok
        assert all(ledger.journal.sent(f"P{i}") == [] for i in range(stations))
    seconds = end - start
    rate = len(niks) / seconds
    text = (
        f"{stations} station processes on {store}, {len(niks):,} cards, window {window},"
        " settled per s"
    )
    if period is not None or window != WINDOW:
        how = case
        if period is not None:
            with Ledger(location) as ledger:
                assert ledger.verify(anchor=FileAnchor(tmp_path / "anchor.log")).ok
            lines = len((tmp_path / "anchor.log").read_text().splitlines())
            how = f"{case} ({lines:,} checkpoints)"
        base = _UNANCHORED.get(store)
        share = "" if base is None else f", {rate / base:.2f} of the first case's rate"
        NOTES.append(f"{text}, {how}: {rate:,.0f}{share}")
        return
    _UNANCHORED[store] = rate
    if benchmark.stats is not None:
        RESULTS.setdefault(GROUP, {})[STORES[store]] = seconds
    if store == "postgresql":
        judge(text, rate, TARGET, benchmark.stats is not None and stations == STATIONS)
    else:
        NOTES.append(f"{text}: {rate:,.0f}")
