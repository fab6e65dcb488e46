"""Benchmark setup: input sizes, shared data, and the ratio table printed after a run.

Sizes: ``EKTPCORE_BENCH_N`` elements (default 10,000,000 when timing with
``--benchmark-enable``, 20,000 for the untimed smoke run of a plain ``pytest``). The ratio
table is printed at the end and saved as JSON to ``EKTPCORE_BENCH_RATIOS``
(default ``.benchmarks/ratios.json``).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# group -> implementation -> median seconds
RESULTS: dict[str, dict[str, float]] = {}
# (description, group, subject, peers, factor): subject must be `factor` times faster than the
# fastest of `peers` (factor < 1 reads "no slower than 1/factor times").
TARGETS: list[tuple[str, str, str, tuple[str, ...], float]] = []
SUBJECT = "ektpcore"
# Figures that are not timings (precision, recall, peak memory), printed after the ratios.
NOTES: list[str] = []


def bench_n(config: pytest.Config) -> int:
    if "EKTPCORE_BENCH_N" in os.environ:
        return int(os.environ["EKTPCORE_BENCH_N"])
    timing = config.getoption("benchmark_enable") or not config.getoption("benchmark_disable")
    return 10_000_000 if timing else 20_000


@pytest.fixture(scope="session")
def n(pytestconfig: pytest.Config) -> int:
    return bench_n(pytestconfig)


Measure = Callable[..., Any]


@pytest.fixture
def measure(benchmark: Any) -> Measure:
    """``measure(group, name, fn, *args)``: times ``fn(*args)`` and records the median."""

    def run(group: str, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        benchmark.group = group
        benchmark.extra_info["implementation"] = name
        result = benchmark(fn, *args)
        if benchmark.stats is not None:
            RESULTS.setdefault(group, {})[name] = benchmark.stats.stats.median
        return result

    return run


@dataclass(frozen=True)
class Paired:
    """Times of a subject and its peer taken in alternating rounds of one run."""

    subject: list[float]
    peer: list[float]

    @property
    def of_medians(self) -> float:
        """The peer's median time over the subject's: how many times faster the subject is."""
        return statistics.median(self.peer) / statistics.median(self.subject)

    @property
    def of_minima(self) -> float:
        return min(self.peer) / min(self.subject)


def alternate(
    subject: Callable[[], Any], peer: Callable[[], Any], rounds: int, per_round: int = 1
) -> Paired:
    """Times ``subject`` and ``peer`` in alternating rounds (the peer once, then the subject
    ``per_round`` times): a busy stretch of a shared machine slows both sides alike, so the
    ratio of their medians holds where the medians of separate benchmarks, taken minutes
    apart, do not. Both run once untimed first (imports, caches, allocator)."""
    subject()
    peer()
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        began = time.perf_counter()
        peer()
        theirs.append(time.perf_counter() - began)
        for _ in range(per_round):
            began = time.perf_counter()
            subject()
            ours.append(time.perf_counter() - began)
    return Paired(ours, theirs)


def judge(
    text: str, achieved: float, required: float, judged: bool, higher_is_better: bool = True
) -> None:
    """Reports a figure against an absolute target; judged only at the sizes the target names
    (the untimed smoke run uses tiny inputs, where fixed costs dominate)."""
    if not judged:
        NOTES.append(f"{text}: {achieved:,.3f} (smoke run, not judged)")
        return
    met = achieved >= required if higher_is_better else achieved <= required
    NOTES.append(
        f"target {text}: {achieved:,.3f} (need {'>=' if higher_is_better else '<='} "
        f"{required:,}) -> {'met' if met else 'NOT MET'}"
    )


def ratio_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = []
    for group, timings in sorted(RESULTS.items()):
        ours = timings.get(SUBJECT)
        for name, seconds in sorted(timings.items(), key=lambda kv: kv[1]):
            rows.append(
                {
                    "group": group,
                    "implementation": name,
                    "median_ms": seconds * 1e3,
                    "ratio_to_ektpcore": None if ours is None else seconds / ours,
                }
            )
    verdicts = []
    for text, group, subject, peers, factor in TARGETS:
        timings = RESULTS.get(group, {})
        present = [timings[p] for p in peers if p in timings]
        if subject not in timings or not present:
            continue
        achieved = min(present) / timings[subject]
        verdicts.append(
            {"target": text, "achieved": achieved, "required": factor, "met": achieved >= factor}
        )
    return rows, verdicts


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows, verdicts = ratio_rows()
    if not rows and not NOTES:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"ektpcore ratios (n = {bench_n(config):,})")
    write(f"{'group':<14} {'implementation':<34} {'median ms':>11} {'x ektpcore':>11}")
    for r in rows:
        ratio = "" if r["ratio_to_ektpcore"] is None else f"{r['ratio_to_ektpcore']:.2f}"
        write(f"{r['group']:<14} {r['implementation']:<34} {r['median_ms']:>11.2f} {ratio:>11}")
    for v in verdicts:
        status = "met" if v["met"] else "NOT MET"
        write(f"target {v['target']}: {v['achieved']:.2f}x (need {v['required']:.2f}x) -> {status}")
    for note in NOTES:
        write(note)
    out = Path(os.environ.get("EKTPCORE_BENCH_RATIOS", ".benchmarks/ratios.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"n": bench_n(config), "rows": rows, "targets": verdicts, "notes": NOTES}
    out.write_text(json.dumps(report, indent=2))
    write(f"ratio table saved to {out}")


# The store a ledger figure was measured on, as the ratio table names it: SQLite is the peer.
STORES = {"sqlite": "ektpcore", "postgresql": "ektpcore on postgresql"}


@pytest.fixture(params=list(STORES))
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new ledger's location: a SQLite file, or a PostgreSQL database of its own (under CI
    the PostgreSQL figures must run)."""
    if request.param == "sqlite":
        yield str(tmp_path / "bench.db")
        return
    server = os.environ.get("EKTPCORE_TEST_POSTGRES")
    if not server:
        reason = "no PostgreSQL server: set EKTPCORE_TEST_POSTGRES=postgresql://USER@HOST:PORT/DB"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; under CI the PostgreSQL figures must run")
        pytest.skip(reason)
    from ektpcore.ledger.postgres import scratch_database

    with scratch_database(server) as url:
        yield url
