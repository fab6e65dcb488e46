from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ektpcore
from ektpcore import Nik, dedup_niks, nik_conflicts

from .conftest import valid_niks


def reference_first_index(keys: list[int]) -> list[int]:
    seen: dict[int, int] = {}
    return [seen.setdefault(k, i) if 0 <= k < 10**16 else -1 for i, k in enumerate(keys)]


@given(st.lists(st.integers(-3, 60), max_size=400))
def test_fast_path_equals_a_reference(keys: list[int]) -> None:
    result = dedup_niks(np.array(keys, dtype=np.int64), validate=False)
    expected = reference_first_index(keys)
    assert result.first_index.tolist() == expected
    assert result.first.tolist() == [e == i for i, e in enumerate(expected)]
    assert result.n_unique == len({k for k in keys if k >= 0})
    assert result.n_invalid == sum(k < 0 for k in keys)


@given(st.lists(valid_niks(), min_size=1, max_size=12), st.data())
def test_validated_dedup_over_text(pool: list[str], data: st.DataObject) -> None:
    texts = data.draw(st.lists(st.sampled_from([*pool, "bad", "3271013508990001"]), max_size=60))
    result = dedup_niks(texts)
    keys = [int(t) if t in pool else -1 for t in texts]
    expected = reference_first_index(keys)
    assert result.first_index.tolist() == expected
    assert result.first.tolist() == [e == i for i, e in enumerate(expected)]


def test_large_input_matches_pandas() -> None:
    rng = np.random.default_rng(5)
    base = ektpcore.sample_niks(150_000, seed=5)
    keys = np.concatenate([base, rng.choice(base, 10_000)])
    rng.shuffle(keys)
    result = dedup_niks(keys)
    assert np.array_equal(result.first, ~pd.Series(keys).duplicated(keep="first").to_numpy())
    assert result.n_duplicates == len(keys) - len(np.unique(keys))
    assert np.array_equal(keys[result.first_index], keys)


def test_groups_list_every_occurrence_first_first() -> None:
    a, b = "3271014508990001", "3271014508990002"
    result = dedup_niks([b, a, "x", a, b, a, "3271014508990003"])
    groups = result.groups()
    assert [(g.nik, g.indices.tolist()) for g in groups] == [
        (Nik(b), [0, 4]),
        (Nik(a), [1, 3, 5]),
    ]
    assert "4508990001" not in repr(groups)
    assert result.duplicated.tolist() == [False, False, False, True, True, True, False]
    assert repr(result) == "NikDedup(n=7, unique=3, duplicates=3, invalid=1)"
    assert dedup_niks([]).groups() == []


def test_fast_path_needs_a_contiguous_int64_array() -> None:
    with pytest.raises(TypeError):
        dedup_niks(np.zeros(10, dtype=np.int64)[::2], validate=False)


RECORDS = {
    "nik": [
        "3271014508990001",
        "3271014508990001",
        "3271014508990001",
        "3271010101800001",
        "3271010101800001",
        "3271014508990002",
    ],
    "name": ["Soeharto", "SUHARTO, S.H.", "Siti Aminah", "Budi Santoso", "Santoso Budi", "Ani"],
    "birth_date": [
        dt.date(1999, 8, 5),
        dt.date(1999, 8, 5),
        dt.date(1999, 8, 6),
        dt.date(1980, 1, 1),
        None,
        dt.date(1999, 8, 5),
    ],
    "sex": ["F", "F", "F", "M", "F", "F"],
}


@pytest.mark.parametrize(
    "make", [dict, pd.DataFrame, pl.DataFrame, pa.table], ids=["dict", "pandas", "polars", "arrow"]
)
def test_conflicts_name_the_fields_that_differ(make: type) -> None:
    conflicts = nik_conflicts(make(RECORDS))
    assert [(c.first, c.other, c.fields) for c in conflicts] == [
        (0, 2, ("name", "birth_date")),
        (3, 4, ("sex",)),
    ]
    assert conflicts[0].nik == Nik("3271014508990001")
    assert "4508990001" not in repr(conflicts)


def test_no_conflicts_without_repeats() -> None:
    assert (
        nik_conflicts(
            {"nik": ["3271014508990001"], "name": ["A"], "birth_date": [None], "sex": ["F"]}
        )
        == []
    )


def test_no_records_no_conflicts() -> None:
    """An empty sheet's columns (empty lists) are no records, not a float array."""
    empty: dict[str, list[str]] = {"nik": [], "name": [], "birth_date": [], "sex": []}
    assert nik_conflicts(empty) == []
    assert len(dedup_niks([]).duplicated) == 0


def test_conflicts_ignore_missing_values_of_any_kind() -> None:
    frame = pd.DataFrame(
        {
            "nik": ["3271014508990001"] * 3,
            "name": ["Siti", None, float("nan")],
            "birth_date": [dt.date(1999, 8, 5), None, dt.date(1999, 8, 5)],
            "sex": ["F", float("nan"), None],
        }
    )
    assert nik_conflicts(frame) == []
