"""The ledger's speed on this machine: a bulk transition of 100,000 records (target at least
50,000 records/s on SQLite, 25,000 on PostgreSQL; on a sealed ledger at least 80 % of the open
ledger's rate in the same run), an intake of 61,000 records (at most 2 s on either store,
sealed or not) and single transitions (at least 2,000/s, each its own durable transaction);
``verify()`` has its own file (``test_bench_verify.py``). PostgreSQL's figures stand beside
SQLite's of the same run (``EKTPCORE_TEST_POSTGRES`` names the server; without it they are
skipped).

Sizes shrink for the untimed smoke run of a plain ``pytest``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.keys import KeyFile

from .conftest import RESULTS, STORES, judge

OPERATOR = Actor("bench", Role.OPERATOR)


TIMED_SIZES = (100_000, 500_000)


@pytest.fixture(scope="module")
def sizes(pytestconfig: pytest.Config) -> tuple[int, int]:
    return TIMED_SIZES if pytestconfig.getoption("benchmark_enable") else (2_000, 5_000)


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _store(location: str) -> str:
    return "postgresql" if "://" in location else "sqlite"


# Records per second of the open ledger's bulk transition, per store, for the sealed one's
# ratio (the open case runs first).
_OPEN_RATE: dict[str, float] = {}
SEALED = pytest.mark.parametrize("sealed", [False, True], ids=["open", "sealed"])


def _open(location: str, sealed: bool, folder: Path) -> Ledger:
    """A new ledger, sealed by a new key file when asked."""
    return Ledger(location, keys=KeyFile.create(folder / "ledger.keys") if sealed else None)


def _name(store: str, sealed: bool) -> str:
    return STORES[store] + (", sealed" if sealed else "")


@SEALED
def test_bulk_transition(
    benchmark: Any, location: str, sizes: tuple[int, int], sealed: bool, tmp_path: Path
) -> None:
    n, store = sizes[0], _store(location)
    niks = ektpcore.sample_niks(n, seed=11)
    with _open(location, sealed, tmp_path) as ledger:
        ledger.add_records(niks, OPERATOR, state=State.PRINT_READY)
        benchmark.group = "ledger-bulk"
        benchmark.extra_info["implementation"] = _name(store, sealed)
        moved, seconds = benchmark.pedantic(
            _timed, args=(ledger.transition, niks, State.QUEUED, OPERATOR), rounds=1
        )
        if benchmark.stats is not None:
            RESULTS.setdefault("ledger-bulk", {})[_name(store, sealed)] = seconds
        assert moved == n
        assert ledger.counts() == {State.QUEUED: n}
        assert ledger.verify().ok
    timed = sizes == TIMED_SIZES
    rate = n / seconds
    if not sealed:
        _OPEN_RATE[store] = rate
        target = 50_000 if store == "sqlite" else 25_000
        judge(f"bulk transition of {n:,} records on {store}, records/s", rate, target, timed)
    elif store in _OPEN_RATE:
        text = f"bulk transition on a sealed ledger on {store}, share of the open rate"
        judge(text, rate / _OPEN_RATE[store], 0.8, timed)


@SEALED
def test_intake(
    benchmark: Any, location: str, sizes: tuple[int, int], sealed: bool, tmp_path: Path
) -> None:
    n = 61_000 if sizes == TIMED_SIZES else 2_000
    store = _store(location)
    niks = ektpcore.sample_niks(n, seed=14)
    kecamatan = [f"Kecamatan {i % 6}" for i in range(n)]
    kelurahan = [f"Kelurahan {i % 68}" for i in range(n)]
    names = [f"Warga Nomor {i}" for i in range(n)]
    photos = [f"/srv/foto/{nik}.jpg" for nik in niks.tolist()]
    with _open(location, sealed, tmp_path) as ledger:
        benchmark.group = "ledger-intake"
        benchmark.extra_info["implementation"] = _name(store, sealed)
        report, seconds = benchmark.pedantic(
            _timed,
            args=(ledger.add_records, niks, OPERATOR),
            kwargs={
                "state": State.PRINT_READY,
                "kecamatan": kecamatan,
                "kelurahan": kelurahan,
                "names": names,
                "photos": photos,
            },
            rounds=1,
        )
        if benchmark.stats is not None:
            RESULTS.setdefault("ledger-intake", {})[_name(store, sealed)] = seconds
        assert (report.added, report.refused) == (n, [])
        assert ledger.counts() == {State.PRINT_READY: n}
        assert ledger.counts_by("kecamatan")[("Kecamatan 0",)] == len(range(0, n, 6))
        assert ledger.where_is(niks[n // 2]).name == names[n // 2]
    text = f"intake of {n:,} records on {store}{', sealed' if sealed else ''}, seconds"
    judge(text, seconds, 2, sizes == TIMED_SIZES, False)


def test_single_transitions(benchmark: Any, tmp_path: Path, sizes: tuple[int, int]) -> None:
    n = 2_000 if sizes[0] > 10_000 else 200
    niks = ektpcore.sample_niks(n, seed=12)

    def each() -> None:
        for nik in niks:
            ledger.transition([nik], State.QUEUED, OPERATOR)

    with Ledger(tmp_path / "single.db") as ledger:
        ledger.add_records(niks, OPERATOR, state=State.PRINT_READY)
        benchmark.group = "ledger"
        _, seconds = benchmark.pedantic(_timed, args=(each,), rounds=1)
        assert ledger.counts() == {State.QUEUED: n}
    judge(
        "single transitions (one durable transaction each), per s",
        n / seconds,
        2_000,
        sizes == TIMED_SIZES,
    )
