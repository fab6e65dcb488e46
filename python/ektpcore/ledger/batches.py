"""Print batches as the ledger knows them: which printer each was queued for, where its
records are now, and where its blanks went (``ledger.batches()``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..lifecycle import State
from .blanks import BlankState
from .store import Session

__all__ = ["BatchSummary"]


@dataclass(frozen=True)
class BatchSummary:
    """One batch: ``printers`` maps each printer to the records queued for it, ``states``
    counts the records whose current batch it is by state (a record spoiled and queued again
    elsewhere counts in its new batch), ``blanks`` counts the blanks allocated to it by state,
    and ``queued_at`` is when its first record was queued (UTC, ISO 8601)."""

    name: str
    printers: dict[str, int]
    states: dict[State, int]
    blanks: dict[BlankState, int]
    queued_at: str

    @property
    def waiting(self) -> int:
        """Records still ``QUEUED`` in the batch."""
        return self.states.get(State.QUEUED, 0)


def summaries(
    db: Session, name: str | None = None, holding: Sequence[State] = ()
) -> list[BatchSummary]:
    """Every batch (or the one named), oldest first; with ``holding``, only those with
    records now in one of its states."""
    names: list[str] | None = None if name is None else [name]
    if holding:
        # Found through the records' states (indexed), not by reading every batch's history.
        marks = ",".join("?" * len(holding))
        found = db.all(
            f"SELECT DISTINCT batch FROM records WHERE state IN ({marks}) AND batch IS NOT NULL",
            [State(s).value for s in holding],
        )
        held = sorted(str(b) for (b,) in found)
        names = held if names is None else [b for b in names if b in held]
        if not names:
            return []
    where, params = "", tuple(names or ())
    if names is not None:
        where = f" AND batch IN ({','.join('?' * len(names))})"
    queued = db.all(
        "SELECT batch, printer, count(DISTINCT record_id), min(at) FROM history"
        f" WHERE to_state = ? AND batch IS NOT NULL{where} GROUP BY batch, printer",
        (State.QUEUED.value, *params),
    )
    states = db.all(
        f"SELECT batch, state, count(*) FROM records WHERE batch IS NOT NULL{where}"
        " GROUP BY batch, state",
        params,
    )
    blanks = db.all(
        f"SELECT batch, state, count(*) FROM blanks WHERE batch IS NOT NULL{where}"
        " GROUP BY batch, state",
        params,
    )
    printers: dict[str, dict[str, int]] = {}
    first: dict[str, str] = {}
    for batch, printer, count, at in queued:
        printers.setdefault(batch, {})[printer or ""] = int(count)
        first[batch] = min(first.get(batch, at), at)
    by_state: dict[str, dict[State, int]] = {}
    for batch, state, count in states:
        by_state.setdefault(batch, {})[State(state)] = int(count)
    by_blank: dict[str, dict[BlankState, int]] = {}
    for batch, state, count in blanks:
        by_blank.setdefault(batch, {})[BlankState(state)] = int(count)
    return [
        BatchSummary(b, printers[b], by_state.get(b, {}), by_blank.get(b, {}), first[b])
        for b in sorted(first, key=lambda b: (first[b], b))
    ]
