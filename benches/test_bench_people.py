"""Demographic duplicates on synthetic people with known truth: time, precision and recall.

``EKTPCORE_BENCH_PEOPLE_N`` records (default 1,000,000 when timing, 5,000 for the smoke run),
10 % of them extra records of people already present under a new NIK, with old spellings,
typos, swapped words, titles, swapped day and month, a wrong digit in the birth date or a
missing field (see ``ektpcore.testing``). When Splink is installed, it runs on the same records
(DuckDB backend, blocking on the same keys, Jaro-Winkler names, exact-or-fuzzy dates, EM-trained
weights) and its time, precision and recall are reported beside ektpcore's.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from ektpcore.people import find_duplicate_people
from ektpcore.testing import pairwise_precision_recall, synthetic_people

from .conftest import NOTES, RESULTS, Measure

GROUP = "people"


@pytest.fixture(scope="session")
def records(pytestconfig: pytest.Config) -> dict[str, Any]:
    timing = pytestconfig.getoption("benchmark_enable")
    n = int(os.environ.get("EKTPCORE_BENCH_PEOPLE_N", 1_000_000 if timing else 5_000))
    return synthetic_people(n, seed=2017)


def test_people_ektpcore(measure: Measure, records: dict[str, Any]) -> None:
    matches = measure(GROUP, "ektpcore", find_duplicate_people, records)
    precision, recall = pairwise_precision_recall(matches.cluster, records["entity"])
    NOTES.append(
        f"people (n = {len(records['name']):,}): ektpcore precision {precision:.4f}, "
        f"recall {recall:.4f}, {matches.candidates:,} candidate pairs"
    )
    print(
        f"\nektpcore: precision {precision:.4f}, recall {recall:.4f}, "
        f"{matches.candidates:,} candidate pairs"
    )
    assert precision >= 0.95
    assert recall >= 0.95


def test_people_splink(benchmark: Any, records: dict[str, Any]) -> None:
    splink = pytest.importorskip("splink")
    import pandas as pd
    from splink import Linker, SettingsCreator, block_on
    from splink import comparison_library as cl
    from splink.backends.duckdb import DuckDBAPI

    frame = pd.DataFrame({k: v for k, v in records.items() if k != "entity"})
    frame["unique_id"] = np.arange(len(frame))
    frame["birth_date"] = frame["birth_date"].astype(str)
    frame["name"] = frame["name"].str.lower()
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("birth_date", "sex"),
            block_on("substr(name, 1, 4)", "substr(birth_date, 1, 4)"),
            block_on("mother_name", "birth_place"),
        ],
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.92, 0.8]),
            cl.DamerauLevenshteinAtThresholds("birth_date", [1, 2]),
            cl.ExactMatch("sex"),
            cl.JaroWinklerAtThresholds("birth_place", [0.9]),
            cl.JaroWinklerAtThresholds("mother_name", [0.9]),
        ],
    )

    def run() -> Any:
        linker = Linker(DuckDBAPI().register(frame), settings)
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
        pairs = linker.inference.predict(threshold_match_probability=0.9)
        return linker.clustering.cluster_pairwise_predictions_at_threshold(
            pairs, 0.9
        ).as_pandas_dataframe()

    benchmark.group = GROUP
    # One round: at 10^6 records Splink takes minutes; its time is reported, not averaged.
    clusters = benchmark.pedantic(run, rounds=1, iterations=1)
    if benchmark.stats is not None:
        RESULTS.setdefault(GROUP, {})["splink (DuckDB), trained"] = benchmark.stats.stats.median
    cluster = np.arange(len(frame))
    cluster[clusters["unique_id"].to_numpy()] = pd.factorize(clusters["cluster_id"])[0] + len(frame)
    precision, recall = pairwise_precision_recall(cluster, records["entity"])
    NOTES.append(
        f"people (n = {len(frame):,}): splink {splink.__version__} precision {precision:.4f}, "
        f"recall {recall:.4f}"
    )
    print(f"\nsplink {splink.__version__}: precision {precision:.4f}, recall {recall:.4f}")
