from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ektpcore

dd = pytest.importorskip("dask.dataframe")
distributed_pkg = pytest.importorskip("distributed")

from ektpcore import distributed  # noqa: E402


@pytest.fixture(scope="module")
def client() -> object:
    with (
        distributed_pkg.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed_pkg.Client(cluster) as c,
    ):
        yield c


def test_dedup_on_a_two_process_cluster_equals_the_single_process_api(client: object) -> None:
    rng = np.random.default_rng(3)
    base = ektpcore.sample_niks(20_000, seed=3).astype(str).astype(object)
    values = np.concatenate([base, rng.choice(base, 2_000), np.array(["bad"] * 7, dtype=object)])
    rng.shuffle(values)
    frame = dd.from_pandas(pd.DataFrame({"nik": values}), npartitions=6)
    result = distributed.dedup_niks(frame).compute().sort_values("row")
    expected = ektpcore.dedup_niks(values)
    assert result["row"].tolist() == list(range(len(values)))
    assert np.array_equal(result["first_index"].to_numpy(), expected.first_index)
    assert np.array_equal(result["first"].to_numpy(), expected.first)
    assert np.array_equal(result["nik"].to_numpy(), expected.values)


def test_refuses_other_frames() -> None:
    with pytest.raises(TypeError, match="dask DataFrame"):
        distributed.dedup_niks(pd.DataFrame({"nik": []}))


def test_people_on_a_two_process_cluster_equal_the_single_process_api(client: object) -> None:
    from ektpcore.testing import synthetic_people

    people = synthetic_people(4000, seed=12)
    frame = pd.DataFrame({k: v for k, v in people.items() if k != "entity"})
    # A crowd on one placeholder birth date, so that a group is capped in both runs.
    frame.loc[:449, "birth_date"] = np.datetime64("1970-07-01")
    frame.loc[:449, "sex"] = "F"
    with pytest.warns(ektpcore.OversizedBlockWarning):
        expected = ektpcore.find_duplicate_people(frame)
    with pytest.warns(ektpcore.OversizedBlockWarning):
        result = distributed.find_duplicate_people(dd.from_pandas(frame, npartitions=5))
    assert np.array_equal(result.left, expected.left)
    assert np.array_equal(result.right, expected.right)
    assert np.array_equal(result.score, expected.score)
    for field in expected.levels:
        assert np.array_equal(result.levels[field], expected.levels[field])
    assert np.array_equal(result.cluster, expected.cluster)
    assert result.candidates == expected.candidates
    assert sorted(result.oversized) == sorted(expected.oversized)
