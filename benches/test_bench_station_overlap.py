"""The station keeps the printer busy: a batch printed through a virtual printer that takes
0.5 s a card (its print-time model), each card's faces rendered from its record (template,
photo, text) and encoded for Evolis, every outcome recorded in an SQLite ledger. The figure is
what the station adds to the printing time, ``run time / (cards x 0.5 s) - 1``: the next
cards are rendered and encoded on another thread while the printer prints (target: under
5 %). The peer in the ratio table is the same station making each card when its turn comes
(``prefetch=0``).

The printer runs in a process of its own, as a real printer is a machine of its own (in the
station's process its threads would compete with the station's for the interpreter).

Every run is checked: the whole batch printed, every card out of the printer exactly once,
the ledger balanced. The untimed smoke run of a plain ``pytest`` prints four cards at 0.05 s.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.printing import PrintStation, TcpTransport
from ektpcore.printing.layout import faces_from_record
from ektpcore.testing import card_intake

from .conftest import NOTES, RESULTS, judge

OPERATOR = Actor("bench", Role.OPERATOR)
SUPERVISOR = Actor("bench supervisor", Role.SUPERVISOR)
GROUP = "station-overlap"
TARGET = 5.0  # per cent of the printing time
SECONDS_PER_CARD = 0.5


@pytest.fixture(scope="module")
def sizes(pytestconfig: pytest.Config) -> tuple[int, float]:
    """Cards and print time per card: forty at 0.5 s when timing (20 s of printing)."""
    if pytestconfig.getoption("benchmark_enable"):
        return 40, SECONDS_PER_CARD
    return 4, 0.05


def _ledger(path: Path, cards: int) -> Ledger:
    photo = path.parent / "foto.png"
    Image.new("RGB", (300, 400), (200, 30, 30)).save(photo)
    niks = [int(v) for v in ektpcore.sample_niks(cards, seed=17)]
    ledger = Ledger(str(path))
    ledger.add_records(
        niks,
        OPERATOR,
        state=State.PRINT_READY,
        **card_intake(niks, str(photo)),
    )
    ledger.blanks.receive("LOT", 1, cards, SUPERVISOR)
    ledger.ribbons.install("P1", "YMCKOK", cards, OPERATOR)
    ledger.queue(niks, "B-1", "P1", OPERATOR)
    return ledger


# A virtual printer in a process of its own: it says its address, and when its standard input
# closes, how many cards it printed and how many of them had a back.
_PRINTER = """
import sys
from ektpcore.printing import VirtualPrinter
with VirtualPrinter(seconds_per_card=float(sys.argv[1])) as printer:
    print(*printer.address, flush=True)
    sys.stdin.read()
    print(len(printer.cards), sum(c.back is not None for c in printer.cards), flush=True)
"""


@contextlib.contextmanager
def _printer(seconds: float) -> Iterator[tuple[tuple[str, int], list[int]]]:
    """The printer's address, and (once the block ends) its cards printed and two-sided."""
    with subprocess.Popen(
        [sys.executable, "-c", _PRINTER, str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        counts: list[int] = []
        try:
            host, port = proc.stdout.readline().split()
            yield (host, int(port)), counts
            proc.stdin.close()
            counts += [int(w) for w in proc.stdout.readline().split()]
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def _print(tmp_path: Path, cards: int, seconds: float, prefetch: int) -> float:
    """One batch through a fresh ledger and printer; the run's seconds."""
    ledger = _ledger(tmp_path / f"prefetch-{prefetch}" / "ledger.db", cards)
    with ledger, _printer(seconds) as (address, printed):
        station = PrintStation(
            ledger,
            printer="P1",
            connect=lambda: TcpTransport(*address, timeout=30),
            faces=lambda record: faces_from_record(record, check_photo=False),
            actor=OPERATOR,
            prefetch=prefetch,
        )
        start = time.perf_counter()
        report = station.run("B-1")
        took = time.perf_counter() - start
        assert (len(report.printed), report.left, report.stopped) == (cards, 0, None)
        assert ledger.counts() == {State.PRINTED: cards}
        assert ledger.blanks.reconcile().balanced
    assert printed == [cards, cards]  # every card out once, with its back
    return took


@pytest.mark.parametrize("prefetch", [2, 0], ids=["overlap", "no-overlap"])
def test_station_overhead_over_printing_time(
    benchmark: Any, tmp_path: Path, sizes: tuple[int, float], prefetch: int
) -> None:
    cards, seconds = sizes
    (tmp_path / f"prefetch-{prefetch}").mkdir()
    took: list[float] = []
    benchmark.group = GROUP
    name = "ektpcore" if prefetch else "station without overlap"
    benchmark.extra_info["implementation"] = name
    benchmark.pedantic(lambda: took.append(_print(tmp_path, cards, seconds, prefetch)), rounds=1)
    printing = cards * seconds
    overhead = (took[0] / printing - 1) * 100
    timed = benchmark.stats is not None
    if timed:
        RESULTS.setdefault(GROUP, {})[name] = took[0]
    text = f"station overhead over {cards} cards x {seconds:g} s of printing, %"
    if prefetch:
        judge(text, overhead, TARGET, timed and cards >= 40, higher_is_better=False)
    else:
        NOTES.append(f"{text}, without overlap: {overhead:.1f}")
