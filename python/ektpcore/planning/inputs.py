"""The record columns as the planner reads them: ids, ready times in seconds from the plan's
origin, priority classes, (kecamatan, kelurahan) codes and sidedness, as parallel arrays."""

from __future__ import annotations

import datetime as _dt
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from .. import _ektpcore
from .._columns import column, has_column
from ..clock import aware
from ..errors import InvalidArgumentError
from .model import Priority


class _Places:
    """The (kecamatan, kelurahan) pairs a plan has seen, coded as small integers."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []
        self._code: dict[tuple[str, str], int] = {}

    def codes(self, kecamatan: Any, kelurahan: Any) -> npt.NDArray[np.uint32]:
        """One code per record (in Rust: categorical columns repeat a few string objects,
        looked up by address)."""
        codes, pairs = _ektpcore.factorize_pairs(
            np.asarray(kecamatan, dtype=object), np.asarray(kelurahan, dtype=object), self.pairs
        )
        for pair in pairs[len(self.pairs) :]:
            self._code[pair] = len(self.pairs)
            self.pairs.append(pair)
        return codes

    def rank(self) -> npt.NDArray[np.uint32]:
        """Each code's position in (kecamatan, kelurahan) order: the print order."""
        order = sorted(range(len(self.pairs)), key=self.pairs.__getitem__)
        rank = np.empty(len(order), dtype=np.uint32)
        rank[order] = np.arange(len(order), dtype=np.uint32)
        return rank


_COLUMNS = ("ids", "ready", "priority", "place", "two_sided")


class _Jobs:
    """The planner's record columns (parallel arrays): ``ids``; ``ready``, seconds from the
    plan's origin, NaN unknown, or None: every record ready at the origin (the common case,
    where the core needs no column of zeros); ``priority`` classes; ``place``, codes into the
    plan's _Places; ``two_sided``.

    A re-plan's records are those of the plan before in a new order (:meth:`view`): they are
    kept as that plan's records and an index, and a column is gathered only when read. The
    next re-plan hands the core the records where they are with the composed index (one index
    array taken, not five columns), so a campaign's chain of re-plans never gathers them.

    The records' ids in ascending order are kept once known (:meth:`sorted_ids`): a re-plan
    that adds records checks the new ids against them and merges them in, instead of sorting
    every id again."""

    __slots__ = ("_base", "_cols", "_index", "_n", "_sorted")

    def __init__(
        self,
        ids: npt.NDArray[np.int64],
        ready: npt.NDArray[np.float64] | None,
        priority: npt.NDArray[np.uint8],
        place: npt.NDArray[np.uint32],
        two_sided: npt.NDArray[np.bool_],
    ) -> None:
        self._cols: dict[str, Any] = {
            "ids": ids,
            "ready": ready,
            "priority": priority,
            "place": place,
            "two_sided": two_sided,
        }
        self._base: _Jobs | None = None
        self._index: npt.NDArray[np.int64] | None = None
        self._n = len(ids)
        self._sorted: npt.NDArray[np.int64] | None = None

    @classmethod
    def view(cls, jobs: _Jobs, index: npt.NDArray[np.int64]) -> _Jobs:
        """The records of ``jobs`` at ``index``, gathered when a column is read."""
        base, at = jobs.where()
        out = cls.__new__(cls)
        out._cols = {}
        out._base = base
        out._index = np.ascontiguousarray(index if at is None else at[index], dtype=np.int64)
        out._n = len(index)
        out._sorted = None
        return out

    def where(self) -> tuple[_Jobs, npt.NDArray[np.int64] | None]:
        """Gathered records as (records, index), others as (themselves, None)."""
        if self._base is None:
            return self, None
        return self._base, self._index

    def _get(self, name: str) -> Any:
        if name not in self._cols:
            assert self._base is not None
            assert self._index is not None
            source = self._base._get(name)
            self._cols[name] = None if source is None else source[self._index]
        return self._cols[name]

    def sorted_ids(self) -> npt.NDArray[np.int64]:
        """The ids in ascending order (sorted at the first call unless set by :meth:`same_ids`)."""
        if self._sorted is None:
            self._sorted = np.sort(self.ids)
        return self._sorted

    @property
    def known_sorted(self) -> npt.NDArray[np.int64] | None:
        """The ids in ascending order if already known, else None (nothing sorted)."""
        return self._sorted

    def same_ids(self, sorted_ids: npt.NDArray[np.int64] | None) -> _Jobs:
        """These records' ids are ``sorted_ids`` in another order (None: not known)."""
        self._sorted = sorted_ids
        return self

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        return cast("npt.NDArray[np.int64]", self._get("ids"))

    @property
    def ready(self) -> npt.NDArray[np.float64] | None:
        return cast("npt.NDArray[np.float64] | None", self._get("ready"))

    @property
    def priority(self) -> npt.NDArray[np.uint8]:
        return cast("npt.NDArray[np.uint8]", self._get("priority"))

    @property
    def place(self) -> npt.NDArray[np.uint32]:
        return cast("npt.NDArray[np.uint32]", self._get("place"))

    @property
    def two_sided(self) -> npt.NDArray[np.bool_]:
        return cast("npt.NDArray[np.bool_]", self._get("two_sided"))

    def take(self, name: str, members: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Column ``name`` of the records at ``members`` (a batch's), without gathering the
        whole column."""
        if name in self._cols or self._base is None or self._index is None:
            return cast("npt.NDArray[Any]", self._get(name)[members])
        return cast("npt.NDArray[Any]", self._base._get(name)[self._index[members]])

    def __len__(self) -> int:
        return self._n

    def gather(self, index: npt.NDArray[np.intp], *tails: _Jobs) -> _Jobs:
        """The records at ``index`` followed by those of ``tails``, each column written once."""
        k = len(index)
        size = k + sum(len(t) for t in tails)
        columns: list[Any] = []
        for name in _COLUMNS:
            if name == "ready" and all(j.ready is None for j in (self, *tails)):
                columns.append(None)
                continue
            source = self._column(name)
            out = np.empty(size, dtype=source.dtype)
            np.take(source, index, out=out[:k], mode="clip")
            at = k
            for t in tails:
                part = t._column(name)
                out[at : at + len(part)] = part
                at += len(part)
            columns.append(out)
        return _Jobs(*columns)

    def _column(self, name: str) -> npt.NDArray[Any]:
        values: npt.NDArray[Any] | None = self._get(name)
        return np.zeros(self._n) if values is None else values


def _distinct(ids: npt.NDArray[np.int64], message: str = "record ids must be distinct") -> None:
    problem = _ektpcore.plan_ids_check(np.ascontiguousarray(ids, dtype=np.int64))
    if problem == 1:
        raise InvalidArgumentError("record ids are NIKs or other non-negative integers")
    if problem == 2:
        raise InvalidArgumentError(message)


def _added(known: npt.NDArray[np.int64], ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``known`` (distinct, ascending) and the new ``ids`` merged in ascending order; refused
    if a new id is negative, repeats another new one or one already known. Checked against
    the sorted ids by binary search: a re-plan on arrival sorts only what arrived."""
    new = np.sort(np.asarray(ids, dtype=np.int64))
    if len(new) and new[0] < 0:
        raise InvalidArgumentError("record ids are NIKs or other non-negative integers")
    at = np.searchsorted(known, new)
    inside = at < len(known)
    if np.any(new[1:] == new[:-1]) or np.any(known[at[inside]] == new[inside]):
        raise InvalidArgumentError("new records repeat records the plan already has")
    merged = np.concatenate([known, new])
    # Two ascending runs: the stable sort (a merge of runs for 64-bit integers) is linear.
    merged.sort(kind="stable")
    return merged


def _seconds(moments: npt.NDArray[Any], origin: _dt.datetime) -> npt.NDArray[np.float64]:
    base = np.datetime64(origin.astimezone(_dt.UTC).replace(tzinfo=None), "us")
    delta = moments.astype("datetime64[us]") - base
    out = delta.astype(np.float64) / 1e6
    out[np.isnat(moments.astype("datetime64[us]"))] = np.nan
    return out


def _jobs_from(records: Any, origin: _dt.datetime, places: _Places) -> _Jobs:
    """Reads the record columns: ``id`` (NIKs or other integer ids, required), ``priority``,
    ``ready`` (datetimes; a missing column: ready at the start; ``None``/NaT: not yet),
    ``kecamatan``, ``kelurahan``, ``two_sided``."""
    if not has_column(records, "id"):
        raise InvalidArgumentError("records need an 'id' column (NIKs or integer ids)")
    ids = np.asarray(column(records, "id")).astype(np.int64, copy=False)
    n = len(ids)

    def optional(name: str, default: Any, dtype: Any) -> npt.NDArray[Any]:
        if not has_column(records, name):
            return np.full(n, default, dtype=dtype)
        values = np.asarray(column(records, name))
        if len(values) != n:
            raise InvalidArgumentError(f"column {name!r} must have one value per record")
        return values.astype(dtype, copy=False)

    ready: npt.NDArray[np.float64] | None = None
    if has_column(records, "ready"):
        raw = column(records, "ready")
        seconds = (
            _seconds(raw, origin)
            if raw.dtype.kind == "M"
            else np.array(
                [
                    np.nan if r is None else (aware(r) - origin).total_seconds()
                    for r in raw.tolist()
                ],
                dtype=np.float64,
            )
        )
        if len(seconds) != n:
            raise InvalidArgumentError("column 'ready' must have one value per record")
        ready = seconds
    priority = _ektpcore.plan_classes(
        np.ascontiguousarray(optional("priority", Priority.FIRST_TIME, np.int64))
    )
    if priority is None:
        raise InvalidArgumentError("priority classes are 0 (most urgent) to 255")
    return _Jobs(
        ids=ids,
        ready=ready,
        priority=priority,
        place=places.codes(optional("kecamatan", "", object), optional("kelurahan", "", object)),
        two_sided=optional("two_sided", True, np.bool_),
    )
