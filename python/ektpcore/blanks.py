"""Blank cards (*blangko*): every card the ministry delivers, accounted for by serial.

Lots arrive with serial ranges; each blank then moves ``IN_STOCK`` → ``ALLOCATED`` (to a
batch) → ``USED`` (bound to exactly one record's card) or ``SPOILED`` (misprint, chip failure,
jam, failed check), ``VOIDED`` (test card, damaged) or ``RETURNED`` (sent back or lent to another
office). Every movement is a row of the blank history, hash-chained like the record history,
and happens in the same transaction as the change that caused it.
"""

from __future__ import annotations

import datetime as _dt
import enum
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import EktpcoreError, InvalidArgumentError
from .lifecycle import Actor, Role, State

if TYPE_CHECKING:
    import sqlite3

    from .ledger import Ledger

__all__ = [
    "BlankShortageError",
    "BlankShortageWarning",
    "BlankState",
    "BlankStock",
    "Reconciliation",
    "shift_window",
]

WIB = _dt.timezone(_dt.timedelta(hours=7), "WIB")
"""Western Indonesian Time, the clock of Java and Sumatra offices; shifts are 08-20 and 20-08."""

_MAX_LOT = 1_000_000


class BlankState(str, enum.Enum):
    IN_STOCK = "IN_STOCK"
    ALLOCATED = "ALLOCATED"
    USED = "USED"
    SPOILED = "SPOILED"
    VOIDED = "VOIDED"
    RETURNED = "RETURNED"


class BlankShortageError(EktpcoreError):
    """Not enough blanks in stock for an allocation; nothing was allocated."""


class BlankShortageWarning(UserWarning):
    """More records are print-ready than there are blanks in stock."""


@dataclass(frozen=True)
class Reconciliation:
    """Where every received blank is, and what moved in a window.

    ``received`` equals the sum of ``counts`` when the stock is consistent; ``discrepancies``
    lists ``(serial, problem)`` for every blank that does not add up.
    """

    received: int
    counts: dict[BlankState, int]
    movements: dict[BlankState, int] = field(default_factory=dict)
    discrepancies: list[tuple[int, str]] = field(default_factory=list)
    print_ready: int = 0

    @property
    def balanced(self) -> bool:
        return self.received == sum(self.counts.values()) and not self.discrepancies


def shift_window(day: _dt.date, *, night: bool = False) -> tuple[_dt.datetime, _dt.datetime]:
    """The day shift (08:00-20:00 WIB) or the night shift (20:00-08:00 WIB, starting on
    ``day``) as aware datetimes, for :meth:`BlankStock.reconcile`."""
    start = _dt.datetime.combine(day, _dt.time(20 if night else 8), WIB)
    return start, start + _dt.timedelta(hours=12)


_MOVES: dict[tuple[BlankState, BlankState], Role] = {
    (BlankState.IN_STOCK, BlankState.ALLOCATED): Role.OPERATOR,
    (BlankState.ALLOCATED, BlankState.IN_STOCK): Role.OPERATOR,
    (BlankState.ALLOCATED, BlankState.SPOILED): Role.OPERATOR,
    (BlankState.IN_STOCK, BlankState.VOIDED): Role.SUPERVISOR,
    (BlankState.ALLOCATED, BlankState.VOIDED): Role.SUPERVISOR,
    (BlankState.IN_STOCK, BlankState.RETURNED): Role.SUPERVISOR,
}


class BlankStock:
    """The blank cards of a :class:`~ektpcore.Ledger`: ``ledger.blanks``."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __repr__(self) -> str:
        return f"BlankStock({self.counts()})"

    def receive(self, reference: str, first: int, last: int, actor: Actor) -> int:
        """Records a delivered lot of serials ``first``..``last``; returns how many. A range
        overlapping any earlier lot is refused and nothing is recorded."""
        self._ledger._require(actor, Role.OPERATOR)
        if not (0 < first <= last) or last - first + 1 > _MAX_LOT:
            raise InvalidArgumentError(
                f"a lot is a serial range first..last with 0 < first <= last, at most "
                f"{_MAX_LOT:,} cards; got {first}..{last}"
            )
        now = _now()
        with self._ledger._write() as db:
            clash = db.execute(
                "SELECT reference, first_serial, last_serial FROM blank_lots"
                " WHERE NOT (last_serial < ? OR first_serial > ?)",
                (first, last),
            ).fetchone()
            if clash:
                raise InvalidArgumentError(
                    f"serials {first}..{last} overlap lot {clash[0]!r} ({clash[1]}..{clash[2]})"
                )
            lot = db.execute(
                "INSERT INTO blank_lots (reference, first_serial, last_serial, received_at, actor)"
                " VALUES (?,?,?,?,?)",
                (reference, first, last, now, actor.name),
            ).lastrowid
            serials = range(first, last + 1)
            db.executemany(
                "INSERT INTO blanks (serial, lot_id, state, updated_at) VALUES (?,?,?,?)",
                ((s, lot, BlankState.IN_STOCK.value, now) for s in serials),
            )
            self._history(
                db,
                actor,
                now,
                [(s, None, BlankState.IN_STOCK) for s in serials],
                reason=f"lot {reference}",
            )
        return len(serials)

    def allocate(self, batch: str, count: int, actor: Actor) -> list[int]:
        """Allocates ``count`` blanks (lowest serials first) to ``batch``; all or none."""
        self._ledger._require(actor, Role.OPERATOR)
        if count < 0:
            raise InvalidArgumentError("count must not be negative")
        with self._ledger._write() as db:
            return self._allocate(db, actor, _now(), batch, count)

    def _allocate(
        self, db: sqlite3.Connection, actor: Actor, now: str, batch: str, count: int
    ) -> list[int]:
        serials = [
            r[0]
            for r in db.execute(
                "SELECT serial FROM blanks WHERE state = ? ORDER BY serial LIMIT ?",
                (BlankState.IN_STOCK.value, count),
            )
        ]
        if len(serials) < count:
            raise BlankShortageError(
                f"batch {batch} needs {count} blanks; {len(serials)} are in stock"
            )
        self._move(db, actor, now, serials, BlankState.ALLOCATED, batch=batch)
        return serials

    def move(
        self, serials: Sequence[int], target: BlankState, actor: Actor, *, reason: str
    ) -> None:
        """Unallocates (``IN_STOCK``), spoils before printing (``SPOILED``), voids
        (``VOIDED``) or returns (``RETURNED``) blanks; all or none, with a reason."""
        if not (reason and reason.strip()):
            raise InvalidArgumentError("a blank's movement needs a reason")
        now = _now()
        with self._ledger._write() as db:
            self._move(db, actor, now, list(serials), BlankState(target), reason=reason)

    def state_of(self, serial: int) -> BlankState:
        row = next(
            iter(self._ledger._query("SELECT state FROM blanks WHERE serial = ?", (serial,))), None
        )
        if row is None:
            raise InvalidArgumentError(f"no blank with serial {serial}")
        return BlankState(row[0])

    def counts(self) -> dict[BlankState, int]:
        return {
            BlankState(s): n
            for s, n in self._ledger._query("SELECT state, count(*) FROM blanks GROUP BY state")
        }

    def reconcile(
        self, start: _dt.datetime | None = None, end: _dt.datetime | None = None
    ) -> Reconciliation:
        """Checks received = in stock + allocated + used + spoiled + voided + returned, lists
        every blank that does not add up, counts the movements between ``start`` and ``end``
        (see :func:`shift_window`), and warns when print-ready records outnumber the stock."""
        query = self._ledger._query
        received = query("SELECT coalesce(sum(last_serial - first_serial + 1), 0) FROM blank_lots")[
            0
        ][0]
        counts = self.counts()
        problems: list[tuple[int, str]] = []
        checks = [
            (
                "SELECT b.serial FROM blanks b LEFT JOIN cards c ON c.serial = b.serial"
                " WHERE b.state = 'USED' AND c.id IS NULL",
                "used but no card was printed on it",
            ),
            (
                "SELECT serial FROM blanks WHERE state = 'ALLOCATED' AND batch IS NULL",
                "allocated to no batch",
            ),
            (
                "SELECT c.serial FROM cards c JOIN records r ON r.id = c.record_id"
                " WHERE c.valid = 1 AND r.state IN"
                " ('PRINT_READY', 'QUEUED', 'BIO_CAPTURED', 'SENT_FOR_ENROLMENT')",
                "a valid card for a record not yet printed",
            ),
            (
                "SELECT l.first_serial + (SELECT count(*) FROM blanks b WHERE b.lot_id = l.id)"
                " FROM blank_lots l WHERE (SELECT count(*) FROM blanks b WHERE b.lot_id = l.id)"
                " < l.last_serial - l.first_serial + 1",
                "missing from its lot",
            ),
        ]
        for sql, problem in checks:
            problems += [(row[0], problem) for row in query(sql)]
        movements: dict[BlankState, int] = {}
        if start is not None or end is not None:
            lo = (start or _dt.datetime.min.replace(tzinfo=_dt.UTC)).astimezone(_dt.UTC)
            hi = (end or _dt.datetime.max.replace(tzinfo=_dt.UTC)).astimezone(_dt.UTC)
            movements = {
                BlankState(s): n
                for s, n in query(
                    "SELECT to_state, count(*) FROM blank_history WHERE at >= ? AND at < ?"
                    " GROUP BY to_state",
                    (lo.isoformat(timespec="microseconds"), hi.isoformat(timespec="microseconds")),
                )
            }
        print_ready = query(
            "SELECT count(*) FROM records WHERE state = ?", (State.PRINT_READY.value,)
        )[0][0]
        in_stock = counts.get(BlankState.IN_STOCK, 0)
        if print_ready > in_stock:
            warnings.warn(
                f"{print_ready:,} records are print-ready but only {in_stock:,} blanks are"
                " in stock",
                BlankShortageWarning,
                stacklevel=2,
            )
        return Reconciliation(received, counts, movements, sorted(problems), print_ready)

    # -- internals shared with Ledger.transition ---------------------------------------------
    def _move(
        self,
        db: sqlite3.Connection,
        actor: Actor,
        now: str,
        serials: list[int],
        target: BlankState,
        *,
        batch: str | None = None,
        reason: str | None = None,
        allowed: dict[tuple[BlankState, BlankState], Role] | None = None,
        record_ids: list[int] | None = None,
    ) -> None:
        if len(set(serials)) != len(serials):
            raise InvalidArgumentError("a serial is given twice")
        found = dict(
            db.execute(
                "SELECT serial, state FROM blanks WHERE " + self._ledger._store.member_of("serial"),
                (self._ledger._store.as_list(serials),),
            ).fetchall()
        )
        moves = allowed or _MOVES
        for serial in serials:
            if serial not in found:
                raise InvalidArgumentError(f"no blank with serial {serial}")
            source = BlankState(found[serial])
            role = moves.get((source, target))
            if role is None:
                raise InvalidArgumentError(
                    f"blank {serial}: {source.value} -> {target.value} is not allowed"
                )
            self._ledger._require(actor, role)
        records: list[int | None] = list(record_ids) if record_ids else [None] * len(serials)
        db.executemany(
            "UPDATE blanks SET state = ?, batch = coalesce(?, batch), record_id = coalesce(?,"
            " record_id), updated_at = ? WHERE serial = ?",
            [(target.value, batch, r, now, s) for s, r in zip(serials, records, strict=True)],
        )
        self._history(
            db,
            actor,
            now,
            [(s, BlankState(found[s]), target) for s in serials],
            reason=reason,
            batch=batch,
            records=records,
        )

    def _history(
        self,
        db: sqlite3.Connection,
        actor: Actor,
        now: str,
        moves: Sequence[tuple[int, BlankState | None, BlankState]],
        *,
        reason: str | None = None,
        batch: str | None = None,
        records: Sequence[int | None] | None = None,
    ) -> None:
        from .ledger import BLANK_CHAIN

        records = records or [None] * len(moves)
        self._ledger._append_history(
            db,
            [
                (
                    s,
                    now,
                    actor.name,
                    actor.role.name,
                    src.value if src else None,
                    dst.value,
                    reason,
                    batch,
                    r,
                )
                for (s, src, dst), r in zip(moves, records, strict=True)
            ],
            BLANK_CHAIN,
        )


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
