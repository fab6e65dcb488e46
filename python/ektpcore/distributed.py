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

__all__ = ["dedup_niks", "find_duplicate_people"]

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


def _prefixed(columns: dict[str, str] | None, prefix: str) -> dict[str, str]:
    from .people import FIELDS

    names = {f: f for f in (*FIELDS, "nik")} | (columns or {})
    return {field: f"{prefix}{name}" for field, name in names.items()}


def find_duplicate_people(
    frame: Any,
    *,
    columns: dict[str, str] | None = None,
    weights: Any = None,
    threshold: float = 10.0,
    max_block: int = 400,
    window: int = 20,
) -> Any:
    """:func:`ektpcore.find_duplicate_people` over a ``dask.dataframe.DataFrame``.

    Each blocking rule shuffles the records by its key and pairs them partition by partition;
    the candidate pairs are deduplicated, joined back to both records, and scored partition by
    partition, all with the same Rust kernels as the single-process call. Name frequencies are
    counted over the whole frame first, so the result equals the single-process one (pairs in
    the same order, same scores, levels and clusters). Returns a
    :class:`~ektpcore.PeopleMatches` (computed).
    """
    import dask.dataframe as dd

    from .people import FIELDS, MatchWeights, PeopleMatches, people_columns, warn_oversized

    if not isinstance(frame, dd.DataFrame):
        raise TypeError(f"expected a dask DataFrame, not {type(frame).__name__}")
    flat = (weights or MatchWeights()).flat()
    rule_names = _ektpcore.people_rule_names()
    frame = frame.assign(
        _row=frame.iloc[:, 0].map_partitions(lambda s: pd.Series(1, index=s.index))
    )
    frame = frame.assign(_row=frame["_row"].cumsum() - 1)

    def keyed(part: pd.DataFrame) -> pd.DataFrame:
        keys, present, name_keys = _ektpcore.people_keys(people_columns(part, columns))
        out = part.copy()
        for r in range(len(rule_names)):
            out[f"_k{r}"] = keys[r]
            out[f"_h{r}"] = present[r]
        out["_name_key"] = pd.Series(name_keys, index=part.index, dtype=object)
        return out

    records = frame.map_partitions(keyed, meta=keyed(frame._meta))
    total = len(records)
    frequency = records["_name_key"].value_counts().compute()

    def block(part: pd.DataFrame, rule: int) -> pd.DataFrame:
        part = part.sort_values("_row", kind="stable")
        left, right, _ = _ektpcore.people_block(
            people_columns(part, columns), part["_row"].to_numpy(np.int64), rule, max_block, window
        )
        return pd.DataFrame({"left": left, "right": right})

    pair_meta = pd.DataFrame({"left": pd.Series(dtype="int64"), "right": pd.Series(dtype="int64")})
    blocks = []
    oversized: list[tuple[str, int]] = []
    for r, rule in enumerate(rule_names):
        applies = records[records[f"_h{r}"]]
        sizes = applies[f"_k{r}"].value_counts().compute()
        oversized += [(rule, int(size)) for size in sizes[sizes > max_block].tolist()]
        blocks.append(applies.shuffle(on=f"_k{r}").map_partitions(block, r, meta=pair_meta))
    pairs = dd.concat(blocks).drop_duplicates()
    candidates = len(pairs)

    fields = [c for c in _prefixed(columns, "").values() if c in records.columns]
    sides = {
        side: records[[*fields, "_row", "_name_key"]].rename(
            columns={c: f"{side}_{c}" for c in [*fields, "_row", "_name_key"]}
        )
        for side in ("l", "r")
    }
    joined = pairs.merge(sides["l"], left_on="left", right_on="l__row").merge(
        sides["r"], left_on="right", right_on="r__row"
    )

    def score(part: pd.DataFrame) -> pd.DataFrame:
        freq = part["l__name_key"].map(frequency).fillna(1).to_numpy(np.int64)
        keep, scores, levels = _ektpcore.people_score(
            people_columns(part, _prefixed(columns, "l_")),
            people_columns(part, _prefixed(columns, "r_")),
            np.ascontiguousarray(freq),
            total,
            flat,
            threshold,
        )
        out = pd.DataFrame(
            {"left": part["left"].to_numpy(), "right": part["right"].to_numpy(), "score": scores}
            | {f: lv for f, lv in zip(FIELDS, levels, strict=True)}
        )
        return out[keep]

    meta = score(joined._meta)
    matched = joined.map_partitions(score, meta=meta).compute()
    matched = matched.sort_values(["left", "right"], kind="stable")
    left = matched["left"].to_numpy(np.uint32)
    right = matched["right"].to_numpy(np.uint32)
    cluster = _ektpcore.people_clusters(total, left, right)
    warn_oversized(oversized)
    return PeopleMatches(
        left,
        right,
        matched["score"].to_numpy(np.float32),
        {f: matched[f].to_numpy(np.uint8) for f in FIELDS},
        cluster,
        candidates,
        oversized,
    )
