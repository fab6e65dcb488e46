from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import ektpcore
from ektpcore import InvalidArgumentError
from ektpcore.people import MatchWeights, OversizedBlockWarning, find_duplicate_people
from ektpcore.testing import pairwise_precision_recall, synthetic_people


@pytest.fixture(scope="module")
def people() -> dict[str, object]:
    return synthetic_people(6000, seed=4)


def test_finds_most_duplicates_and_few_false_ones(people: dict[str, object]) -> None:
    matches = find_duplicate_people(people)
    precision, recall = pairwise_precision_recall(matches.cluster, people["entity"])  # type: ignore[arg-type]
    assert precision >= 0.95
    assert recall >= 0.93
    assert np.all(matches.left < matches.right)
    assert np.all(matches.score >= 10.0)
    assert matches.candidates >= len(matches)
    assert set(matches.levels) == {"name", "birth_date", "sex", "birth_place", "mother_name"}
    assert matches.n_clusters > 0
    frame = matches.to_pandas()
    assert list(frame.columns[:3]) == ["left", "right", "score"]
    assert "pairs=" in repr(matches)


@pytest.mark.parametrize(
    "make", [pd.DataFrame, pl.DataFrame, pa.table], ids=["pandas", "polars", "arrow"]
)
def test_table_kinds_agree(people: dict[str, object], make: type) -> None:
    base = find_duplicate_people(people)
    other = find_duplicate_people(make(people))
    assert np.array_equal(base.cluster, other.cluster)
    assert np.array_equal(base.score, other.score)


RECORDS = {
    "nama": ["H. Moehammad Soeharto", "Muhamad Suharto", "Siti Aminah", "Soeharto"],
    "tgl_lahir": [
        dt.date(1950, 6, 8),
        dt.date(1950, 8, 6),
        dt.date(1950, 6, 8),
        dt.date(1950, 6, 8),
    ],
    "sex": ["L", "L", "P", "L"],
    "birth_place": ["Kemusuk", "Kemusuk", "Bogor", None],
    "mother_name": ["Sukirah", "Soekirah", "Sukirah", None],
    "nik": ["3404010806500001", "3404010608500002", "3271014806500001", "3404010806500001"],
}


def test_same_person_under_two_niks_and_renamed_columns() -> None:
    matches = find_duplicate_people(RECORDS, columns={"name": "nama", "birth_date": "tgl_lahir"})
    pairs = set(zip(matches.left.tolist(), matches.right.tolist(), strict=True))
    assert (0, 1) in pairs
    # Records 0 and 3 share a NIK: an exact duplicate, left to dedup_niks.
    assert (0, 3) not in pairs
    assert matches.cluster[1] == 0
    assert matches.levels["birth_date"][0] == 1  # day and month swapped


def test_optional_columns_may_be_missing() -> None:
    born = np.array(["1980-01-02"] * 3, dtype="datetime64[D]")
    matches = find_duplicate_people(
        {"name": ["Budi Santoso", "BUDI SANTOSO, S.H.", "Ani"], "birth_date": born}
    )
    assert matches.levels["birth_place"].tolist() == [255]
    assert matches.levels["sex"].tolist() == [255]
    assert matches.cluster.tolist() == [0, 0, 2]
    with pytest.raises(InvalidArgumentError, match="no 'name' column"):
        find_duplicate_people({"nama": ["x"]})


def test_weights_are_the_cores_defaults_and_user_settable() -> None:
    assert MatchWeights().flat() == ektpcore._ektpcore.default_match_weights()
    strict = find_duplicate_people(
        RECORDS,
        columns={"name": "nama", "birth_date": "tgl_lahir"},
        weights=MatchWeights(birth=(7.0, -20.0, 0.5, -3.0, -6.0)),
    )
    assert (0, 1) not in set(zip(strict.left.tolist(), strict.right.tolist(), strict=True))


def test_oversized_blocks_warn_and_stay_bounded() -> None:
    n = 3000
    records = {
        "name": [f"Orang {chr(65 + i % 26)}{chr(65 + i // 26 % 26)}{i}" for i in range(n)],
        "birth_date": np.full(n, np.datetime64("1970-07-01")),
        "sex": ["M"] * n,
    }
    with pytest.warns(OversizedBlockWarning, match="birth date \\+ sex"):
        matches = find_duplicate_people(records, max_block=200, window=10)
    assert matches.candidates <= n * 10 * 4
    assert ("birth date + sex", n) in matches.oversized


def test_pairwise_precision_recall() -> None:
    truth = np.array([0, 0, 1, 1, 2])
    assert pairwise_precision_recall(truth, truth) == (1.0, 1.0)
    assert pairwise_precision_recall(np.array([0, 0, 0, 1, 2]), truth) == (1 / 3, 1 / 2)
    assert pairwise_precision_recall(np.arange(5), truth) == (1.0, 0.0)


def test_sex_codes_from_any_spelling() -> None:
    from ektpcore._columns import sex_codes

    values = np.array(["M", "p", " Laki-laki ", 2, None, float("nan"), "X", 1], dtype=object)
    assert sex_codes(values).tolist() == [1, 2, 1, 2, 0, 0, 0, 1]
    assert sex_codes(np.array([1, 2, 3])).tolist() == [1, 2, 0]
