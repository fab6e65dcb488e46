"""Demographic duplicates: different NIKs, probably the same person.

The central office's *penunggalan* makes each person appear once; a bureau that finds these
pairs before printing saves a blank card and a citizen's second card. :func:`find_duplicate_people`
blocks the records on several keys, compares every candidate pair in Rust (names after
:func:`~ektpcore.normalize_name`, birth dates allowing swapped day and month or a one-digit
slip, sex, birth place, mother's name), adds Fellegi-Sunter weights, and joins the matches into
clusters. It never merges anything: the result is a review list.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _columns, _ektpcore
from .errors import InvalidArgumentError, OversizedBlockWarning
from .nik import parse_niks

__all__ = [
    "FIELDS",
    "MatchWeights",
    "OversizedBlockWarning",
    "PeopleMatches",
    "find_duplicate_people",
]

FIELDS = ("name", "birth_date", "sex", "birth_place", "mother_name")
"""The compared fields, in the order of :attr:`PeopleMatches.levels`."""


@dataclass(frozen=True)
class MatchWeights:
    """Weights (log2 of m/u) of the comparison levels; agreement adds, disagreement subtracts.
    A missing value on either side weighs nothing.

    The defaults were tuned on :func:`ektpcore.testing.synthetic_people` (recall and precision
    both above 0.95 at 10^6 records): a birth place or mother's name that plainly differs
    speaks strongly against a match, since neither changes over a life, while a birth date one
    digit off says little once the blocking has already paired records born close together.
    """

    name: tuple[float, float, float, float] = (8.0, 5.0, -2.0, -7.0)
    """same name key, close (Jaro-Winkler >= 0.92 or one edit), fuzzy (>= 0.80), different"""
    name_frequency_offset: float = 3.0
    """an exact name weighs at most log2(records / records with that name) minus this (but no
    less than a close name): a common name alone says less than a rare one"""
    birth: tuple[float, float, float, float, float] = (7.0, 4.0, 0.5, -3.0, -6.0)
    """exact, day and month swapped, one digit off, same year, different"""
    birth_placeholder: float = 3.0
    """an exact birth date that is a placeholder (1 July, 31 December) instead of birth[0]"""
    sex: tuple[float, float] = (1.0, -6.0)
    place: tuple[float, float, float] = (3.0, 2.0, -6.5)
    mother: tuple[float, float, float] = (5.0, 3.0, -6.5)

    def flat(self) -> list[float]:
        return [
            *self.name,
            self.name_frequency_offset,
            *self.birth,
            self.birth_placeholder,
            *self.sex,
            *self.place,
            *self.mother,
        ]


@dataclass(frozen=True, repr=False)
class PeopleMatches:
    """Pairs of records that are probably the same person, and the clusters they form.

    Attributes:
        left, right: record indices of each matching pair (``left < right``).
        score: the pair's summed weight (at least the threshold).
        levels: per field (:data:`FIELDS`), the comparison level of each pair (0 = agree,
            higher = less alike, 255 = missing on either side).
        cluster: per record, the smallest record index of its cluster; a record alone in its
            cluster carries its own index.
        candidates: how many pairs the blocking rules produced and were compared.
        oversized: ``(rule, size)`` of each blocking group that was capped.
    """

    left: npt.NDArray[np.uint32]
    right: npt.NDArray[np.uint32]
    score: npt.NDArray[np.float32]
    levels: dict[str, npt.NDArray[np.uint8]]
    cluster: npt.NDArray[np.int64]
    candidates: int
    oversized: list[tuple[str, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.left)

    def __repr__(self) -> str:
        return (
            f"PeopleMatches(pairs={len(self)}, clusters={self.n_clusters}, "
            f"candidates={self.candidates})"
        )

    @property
    def n_clusters(self) -> int:
        """Clusters of two or more records."""
        return int(np.count_nonzero(np.bincount(self.cluster) > 1)) if len(self.cluster) else 0

    def to_pandas(self) -> Any:
        """The pairs as a pandas DataFrame (left, right, score and one level column per field)."""
        import pandas as pd

        return pd.DataFrame(
            {"left": self.left, "right": self.right, "score": self.score}
            | {f"{name}_level": lv for name, lv in self.levels.items()}
        )


def people_columns(records: Any, columns: dict[str, str] | None = None) -> dict[str, Any]:
    """The columns the core reads, from any table kind: names, birth (days), sex (ISO 5218),
    places, mothers, niks (int64, -1 where invalid or absent)."""
    names = {f: f for f in (*FIELDS, "nik")} | (columns or {})
    if not _columns.has_column(records, names["name"]):
        raise InvalidArgumentError(f"the records have no {names['name']!r} column")
    n = len(_columns.column(records, names["name"]))

    def present(key: str) -> bool:
        return _columns.has_column(records, names[key])

    def optional_text(key: str) -> list[str | None]:
        return _columns.texts(_columns.column(records, names[key])) if present(key) else [None] * n

    return {
        "names": optional_text("name"),
        "birth": _columns.days(_columns.column(records, names["birth_date"]))
        if present("birth_date")
        else np.full(n, _columns.NAT, dtype=np.int64),
        "sex": _columns.sex_codes(_columns.column(records, names["sex"]))
        if present("sex")
        else np.zeros(n, dtype=np.uint8),
        "places": optional_text("birth_place"),
        "mothers": optional_text("mother_name"),
        "niks": np.ascontiguousarray(parse_niks(_columns.column(records, names["nik"])).values)
        if present("nik")
        else np.full(n, -1, dtype=np.int64),
    }


def warn_oversized(oversized: list[tuple[str, int]]) -> None:
    for rule, size in oversized:
        warnings.warn(
            f"blocking group of {size:,} records on {rule!r} compared by nearest neighbours only",
            OversizedBlockWarning,
            stacklevel=3,
        )


def find_duplicate_people(
    records: Any,
    *,
    columns: dict[str, str] | None = None,
    weights: MatchWeights | None = None,
    threshold: float = 10.0,
    max_block: int = 400,
    window: int = 20,
) -> PeopleMatches:
    """Finds records that are probably the same person under different NIKs.

    ``records`` is a pandas or polars DataFrame, a pyarrow Table or a mapping of columns. The
    columns read are ``name`` (required), ``birth_date``, ``sex`` (``M``/``F``, ``L``/``P`` or
    ISO 5218 codes), ``birth_place``, ``mother_name`` and ``nik``; any but ``name`` may be
    absent. ``columns`` renames them, e.g. ``{"name": "nama", "birth_date": "tgl_lahir"}``.
    Pairs sharing a valid NIK are left to :func:`~ektpcore.dedup_niks`.

    Groups larger than ``max_block`` are compared by sorted neighbourhood (``window``
    neighbours each) and reported with an :class:`OversizedBlockWarning`.
    """
    people = people_columns(records, columns)
    left, right, score, levels, cluster, candidates, oversized = _ektpcore.find_people_matches(
        people, (weights or MatchWeights()).flat(), threshold, max_block, window
    )
    warn_oversized(oversized)
    return PeopleMatches(
        left, right, score, dict(zip(FIELDS, levels, strict=True)), cluster, candidates, oversized
    )
