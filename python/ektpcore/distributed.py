"""Exact NIK dedup beyond one machine, on Dask (``pip install 'ektpcore[dask]'``).

The column is shuffled so that every NIK lands in the partition its hash picks, then each
partition goes through the same Rust kernel as :func:`ektpcore.dedup_niks`, a whole partition
per call. Keep-first semantics hold across partitions because every row carries its global
position: inside a partition the rows are put back in that order before the kernel runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import _ektpcore
from .nik import parse_niks

__all__ = ["dedup_niks"]

_NIK_LIMIT = 10**16


def _first_rows(part: pd.DataFrame) -> pd.DataFrame:
    part = part.sort_values("row", kind="stable")
    keys = np.ascontiguousarray(part["key"].to_numpy(dtype=np.int64))
    local, _, _ = _ektpcore.first_occurrences(keys, _NIK_LIMIT)
    rows = part["row"].to_numpy()
    first_row = np.where(local >= 0, rows[np.maximum(local, 0)], -1)
    return pd.DataFrame(
        {"row": rows, "nik": keys, "first_index": first_row, "first": first_row == rows},
        index=part.index,
    )


def dedup_niks(frame: Any, column: str = "nik") -> Any:
    """Keep-first dedup of ``frame[column]`` over a ``dask.dataframe.DataFrame``.

    Returns a lazy Dask DataFrame with one row per input row: ``row`` (the global position),
    ``nik`` (``int64``, -1 where invalid), ``first_index`` (the global position of the NIK's first
    occurrence, -1 where invalid) and ``first``. Sorted by ``row`` after ``compute()``, it equals
    :func:`ektpcore.dedup_niks` on the whole column.
    """
    import dask.dataframe as dd

    if not isinstance(frame, dd.DataFrame):
        raise TypeError(f"expected a dask DataFrame, not {type(frame).__name__}")

    def keyed(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"key": parse_niks(part[column]).values}, index=part.index)

    keys = frame.map_partitions(keyed, meta={"key": "int64"})
    # Global row positions: a running count over the partitions in order.
    keys = keys.assign(
        row=keys["key"].map_partitions(lambda s: pd.Series(1, index=s.index)).cumsum() - 1
    )
    shuffled = keys.shuffle(on="key")
    meta = pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "nik": pd.Series(dtype="int64"),
            "first_index": pd.Series(dtype="int64"),
            "first": pd.Series(dtype="bool"),
        }
    )
    return shuffled.map_partitions(_first_rows, meta=meta)
