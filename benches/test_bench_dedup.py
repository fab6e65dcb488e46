"""Exact keep-first NIK dedup: ektpcore against pandas, polars and a sort-based NumPy version.

Input: n NIKs as int64, 5 % of them repeats of earlier ones, shuffled. Every implementation's
keep-first mask is checked against the NumPy reference in this file.

National scale (270,000,000 NIKs, about a third of this machine's memory) runs only with
``EKTPCORE_BENCH_NATIONAL=1``; it reports time and peak memory.
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pytest

import ektpcore

from .conftest import NOTES, RESULTS, TARGETS, Measure

TARGETS.append(
    (
        "dedup >= 5x the fastest peer",
        "dedup",
        "ektpcore",
        ("pandas duplicated", "polars is_first_distinct", "polars arg_unique", "numpy sort"),
        5.0,
    )
)

GROUP = "dedup"


@pytest.fixture(scope="session")
def keys(n: int) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(270)
    base = ektpcore.sample_niks(n - n // 20, seed=270)
    out = np.concatenate([base, rng.choice(base, n // 20)])
    rng.shuffle(out)
    return out


def numpy_keep_first(x: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Reference: stable argsort, mark the first of each run, scatter back."""
    order = np.argsort(x, kind="stable")
    run_start = np.empty(len(x), dtype=bool)
    run_start[:1] = True
    sorted_x = x[order]
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=run_start[1:])
    first = np.empty(len(x), dtype=bool)
    first[order] = run_start
    return first


@pytest.fixture(scope="session")
def expected(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return numpy_keep_first(keys)


def test_dedup_ektpcore(
    measure: Measure, keys: npt.NDArray[np.int64], expected: npt.NDArray[np.bool_]
) -> None:
    result = measure(GROUP, "ektpcore", lambda: ektpcore.dedup_niks(keys, validate=False))
    assert np.array_equal(result.first, expected)
    assert np.array_equal(keys[result.first_index], keys)


def test_dedup_ektpcore_validating(
    measure: Measure, keys: npt.NDArray[np.int64], expected: npt.NDArray[np.bool_]
) -> None:
    result = measure(GROUP, "ektpcore, NIK rules checked", lambda: ektpcore.dedup_niks(keys))
    assert np.array_equal(result.first, expected)


def test_dedup_pandas(
    measure: Measure, keys: npt.NDArray[np.int64], expected: npt.NDArray[np.bool_]
) -> None:
    series = pd.Series(keys)
    first = measure(GROUP, "pandas duplicated", lambda: ~series.duplicated(keep="first").to_numpy())
    assert np.array_equal(first, expected)


def test_dedup_polars_first_distinct(
    measure: Measure, keys: npt.NDArray[np.int64], expected: npt.NDArray[np.bool_]
) -> None:
    series = pl.Series(keys)
    first = measure(
        GROUP, "polars is_first_distinct", lambda: series.is_first_distinct().to_numpy()
    )
    assert np.array_equal(first, expected)


def test_dedup_polars_arg_unique(
    measure: Measure, keys: npt.NDArray[np.int64], expected: npt.NDArray[np.bool_]
) -> None:
    series = pl.Series(keys)

    def run() -> npt.NDArray[np.bool_]:
        first = np.zeros(len(keys), dtype=bool)
        first[series.arg_unique().to_numpy()] = True
        return first

    assert np.array_equal(measure(GROUP, "polars arg_unique", run), expected)


def test_dedup_numpy_sort(
    measure: Measure, keys: npt.NDArray[np.int64], expected: npt.NDArray[np.bool_]
) -> None:
    assert np.array_equal(measure(GROUP, "numpy sort", numpy_keep_first, keys), expected)


@pytest.mark.skipif(
    os.environ.get("EKTPCORE_BENCH_NATIONAL") != "1",
    reason="national scale (270,000,000 NIKs) runs with EKTPCORE_BENCH_NATIONAL=1",
)
def test_dedup_national_scale() -> None:
    n = 270_000_000
    rng = np.random.default_rng(2017)
    # NIK-shaped keys, drawn straight as numbers: 5 % repeats of earlier ones.
    keys = rng.integers(11 * 10**14, 97 * 10**14, n, dtype=np.int64)
    repeats = rng.integers(0, n, n // 20)
    keys[repeats] = keys[rng.integers(0, n, n // 20)]
    start = time.perf_counter()
    result = ektpcore.dedup_niks(keys, validate=False)
    seconds = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    sample = rng.integers(0, n, 1000)
    assert np.array_equal(keys[result.first_index[sample]], keys[sample])
    assert np.all(result.first_index[sample] <= sample)
    RESULTS.setdefault("dedup-270M", {})["ektpcore"] = seconds
    NOTES.append(f"dedup of 270,000,000 NIKs: {seconds:.1f} s, peak RSS {peak_gib:.1f} GiB")
    print(
        f"\n270,000,000 NIKs deduplicated in {seconds:.1f} s; peak RSS {peak_gib:.1f} GiB; "
        f"{result.n_unique:,} unique"
    )
