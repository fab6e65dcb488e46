"""The record columns as the planner reads them: ids, ready times in seconds from the plan's
origin, priority classes, (kecamatan, kelurahan) codes and sidedness, as parallel arrays."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass
from typing import Any

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


@dataclass
class _Jobs:
    """The planner's record columns (parallel arrays)."""

    ids: npt.NDArray[np.int64]
    # Seconds from the plan's origin, NaN unknown; None: every record ready at the origin
    # (the common case, where the core needs no column of zeros).
    ready: npt.NDArray[np.float64] | None
    priority: npt.NDArray[np.uint8]
    place: npt.NDArray[np.uint32]  # code into the plan's _Places
    two_sided: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.ids)

    def gather(self, index: npt.NDArray[np.intp], *tails: _Jobs) -> _Jobs:
        """The records at ``index`` followed by those of ``tails``, each column written once."""
        k = len(index)
        size = k + sum(len(t) for t in tails)
        columns: list[Any] = []
        for f in dataclasses.fields(self):
            if f.name == "ready" and all(j.ready is None for j in (self, *tails)):
                columns.append(None)
                continue
            source = self._column(f.name)
            out = np.empty(size, dtype=source.dtype)
            np.take(source, index, out=out[:k], mode="clip")
            at = k
            for t in tails:
                part = t._column(f.name)
                out[at : at + len(part)] = part
                at += len(part)
            columns.append(out)
        return _Jobs(*columns)

    def _column(self, name: str) -> npt.NDArray[Any]:
        values: npt.NDArray[Any] | None = getattr(self, name)
        return np.zeros(len(self.ids)) if values is None else values


def _distinct(ids: npt.NDArray[np.int64], message: str = "record ids must be distinct") -> None:
    problem = _ektpcore.plan_ids_check(np.ascontiguousarray(ids, dtype=np.int64))
    if problem == 1:
        raise InvalidArgumentError("record ids are NIKs or other non-negative integers")
    if problem == 2:
        raise InvalidArgumentError(message)


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
