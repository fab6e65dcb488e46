"""Exact NIK deduplication: which records repeat a NIK, and which share one but disagree.

Deduplication keeps the first occurrence in input order, like pandas'
``duplicated(keep="first")``. A NIK that appears twice with the same person's data is a
*duplicate*; one that appears with a different name, birth date or sex is a *conflict*, a
different problem (two people under one NIK, or a data-entry error) that needs a person to look.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from . import _columns, _ektpcore
from .names import normalize_names
from .nik import Nik, parse_niks

__all__ = ["DuplicateGroup", "NikConflict", "NikDedup", "dedup_niks", "nik_conflicts"]

_NIK_LIMIT = 10**16


class DuplicateGroup(NamedTuple):
    """One NIK that occurs more than once: the NIK and the indices of its occurrences, first
    occurrence first. The NIK's repr is masked."""

    nik: Nik
    indices: npt.NDArray[np.int64]


@dataclass(frozen=True, repr=False)
class NikDedup:
    """The result of :func:`dedup_niks`, aligned with the input.

    Attributes:
        values: the NIKs as ``int64`` (-1 where invalid).
        first: ``True`` at the first occurrence of each valid NIK.
        first_index: for every element, the index of its NIK's first occurrence (-1 where
            invalid); an element is a later duplicate when ``first_index[i] != i``.
    """

    values: npt.NDArray[np.int64]
    first: npt.NDArray[np.bool_]
    first_index: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return (
            f"NikDedup(n={len(self)}, unique={self.n_unique}, "
            f"duplicates={self.n_duplicates}, invalid={self.n_invalid})"
        )

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        return np.greater_equal(self.first_index, 0)

    @property
    def n_unique(self) -> int:
        """How many distinct valid NIKs."""
        return int(np.count_nonzero(self.first))

    @property
    def n_invalid(self) -> int:
        return int(np.count_nonzero(self.first_index < 0))

    @property
    def n_duplicates(self) -> int:
        """How many elements repeat an earlier one (all occurrences but the first)."""
        return len(self) - self.n_unique - self.n_invalid

    @property
    def duplicated(self) -> npt.NDArray[np.bool_]:
        """``True`` at every later occurrence: pandas' ``duplicated(keep="first")``."""
        return np.logical_and(self.valid, ~self.first)

    def groups(self) -> list[DuplicateGroup]:
        """Every NIK that occurs more than once, in order of first occurrence."""
        later = np.flatnonzero(self.duplicated)
        if later.size == 0:
            return []
        firsts = self.first_index[later]
        order = np.argsort(firsts, kind="stable")
        firsts, later = firsts[order], later[order]
        bounds = np.flatnonzero(np.r_[True, firsts[1:] != firsts[:-1], True])
        out = []
        for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            head = int(firsts[start])
            indices = np.concatenate(([head], later[start:end])).astype(np.int64)
            out.append(DuplicateGroup(Nik.from_int(int(self.values[head])), indices))
        return out


def _keys(niks: Any, validate: bool) -> npt.NDArray[np.int64]:
    if not validate and isinstance(niks, np.ndarray) and niks.dtype == np.int64:
        if not niks.flags.c_contiguous or niks.ndim != 1:
            raise TypeError("expected a contiguous 1-D int64 array")
        return niks
    return parse_niks(niks).values


def dedup_niks(niks: Any, *, validate: bool = True) -> NikDedup:
    """Finds repeated NIKs, keeping the first occurrence in input order.

    ``niks`` is anything :func:`parse_niks` accepts; invalid NIKs are left out (``first`` is
    ``False`` and ``first_index`` -1 for them). For an ``int64`` array, ``validate=False``
    skips the NIK rules and deduplicates the numbers as they are, leaving out only those that
    cannot be a NIK (negative, or more than 16 digits): the fast path for columns already
    validated. Runs in Rust with the GIL released, on every core.
    """
    keys = _keys(niks, validate)
    first_index, first, invalid = _ektpcore.first_occurrences(keys, _NIK_LIMIT)
    values = np.where(first_index >= 0, keys, -1) if invalid and not validate else keys
    return NikDedup(values, first, first_index)


@dataclass(frozen=True)
class NikConflict:
    """Two records sharing a NIK but disagreeing on ``fields`` (a tuple of column names).

    ``first`` is the index of the NIK's first record, ``other`` the index of the disagreeing
    one. The NIK shows masked in the repr."""

    nik: Nik
    first: int
    other: int
    fields: tuple[str, ...]


def _names_differ(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Both names present and their keys (canonical words in any order) unequal."""
    ka = normalize_names(_columns.texts(a), key=True)
    kb = normalize_names(_columns.texts(b), key=True)
    pairs = zip(ka, kb, strict=True)
    return np.fromiter(
        (x is not None and y is not None and x != y for x, y in pairs), bool, len(ka)
    )


def _values_differ(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Both values present (not None, not NaN) and unequal."""

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and v != v)

    pairs = zip(a.tolist(), b.tolist(), strict=True)
    flags = (not missing(x) and not missing(y) and x != y for x, y in pairs)
    return np.fromiter(flags, bool, len(a))


def nik_conflicts(
    records: Any,
    *,
    nik: str = "nik",
    fields: Sequence[str] = ("name", "birth_date", "sex"),
) -> list[NikConflict]:
    """Records that share a NIK but disagree on name, birth date or sex.

    ``records`` is a pandas or polars DataFrame, a pyarrow Table, or a mapping of column name to
    sequence. Each later record of a NIK is compared with its first; names are compared after
    :func:`~ektpcore.normalize_name` (so *Soeharto* and *Suharto* agree), birth dates as
    dates, other fields as values. Missing values (``None``, ``NaN``, ``NaT``, empty names)
    never count as disagreement.
    """
    result = dedup_niks(_columns.column(records, nik))
    later = np.flatnonzero(result.duplicated)
    if later.size == 0:
        return []
    head = result.first_index[later]
    differs: dict[str, npt.NDArray[np.bool_]] = {}
    for field in fields:
        column = _columns.column(records, field)
        a, b = column[head], column[later]
        if "name" in field:
            differs[field] = _names_differ(a, b)
        elif column.dtype.kind == "M" or isinstance(column[0] if len(column) else None, _dt.date):
            da, db = _columns.days(a), _columns.days(b)
            differs[field] = (da != db) & (da != _columns.NAT) & (db != _columns.NAT)
        else:
            differs[field] = _values_differ(a, b)
    any_diff = np.logical_or.reduce(list(differs.values()))
    conflicts = []
    for j in np.flatnonzero(any_diff).tolist():
        names = tuple(f for f in fields if differs[f][j])
        first = int(head[j])
        conflicts.append(
            NikConflict(Nik.from_int(int(result.values[first])), first, int(later[j]), names)
        )
    return conflicts
