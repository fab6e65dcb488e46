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
import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..clock import stamp_window
from ..errors import (
    BatchClaimedError,
    BlankShortageError,
    BlankShortageWarning,
    InvalidArgumentError,
)
from ..lifecycle import Actor, Permission, State, meaningful
from . import chain
from .sealing import (
    check_free_text,
    check_label,
    member,
    open_texts,
    whole_number,
    whole_numbers,
)
from .store import Same, Session, same_or_each

if TYPE_CHECKING:
    from .core import Ledger
    from .transaction import Transaction

__all__ = ["BlankMovement", "BlankState", "BlankStock", "BlankWrites", "Lot", "Reconciliation"]

_MAX_LOT = 1_000_000


class BlankState(str, enum.Enum):
    """Where a blank card is. The values are stored in the ledger and never change."""

    IN_STOCK = "IN_STOCK"
    ALLOCATED = "ALLOCATED"
    USED = "USED"
    SPOILED = "SPOILED"
    VOIDED = "VOIDED"
    RETURNED = "RETURNED"


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


@dataclass(frozen=True)
class BlankMovement:
    """One row of the blank-card history: when, who (name and role), which blank, from which
    state to which (``source`` ``None``: received in a lot), why, and the batch. The repr
    leaves the reason out (free text, sealed in a sealed ledger), as a record's history does."""

    seq: int
    at: str
    serial: int
    actor: str
    role: str
    source: BlankState | None
    target: BlankState
    reason: str | None = field(repr=False)
    batch: str | None


@dataclass(frozen=True)
class Lot:
    """A delivered lot of blanks: its reference, serials ``first``..``last``, when and by whom
    it was received, and whether every serial is in (a large lot is received in parts)."""

    reference: str
    first: int
    last: int
    received_at: str
    received_by: str
    complete: bool

    @property
    def count(self) -> int:
        return self.last - self.first + 1


# The movements a person may make directly, and the permission each needs; binding at print
# and spoiling after it come with their own rules from the record's transition.
_MOVES: dict[tuple[BlankState, BlankState], Permission] = {
    (BlankState.IN_STOCK, BlankState.ALLOCATED): Permission.QUEUE,
    (BlankState.ALLOCATED, BlankState.IN_STOCK): Permission.QUEUE,
    (BlankState.ALLOCATED, BlankState.SPOILED): Permission.PRINT,
    (BlankState.IN_STOCK, BlankState.VOIDED): Permission.VOID,
    (BlankState.ALLOCATED, BlankState.VOIDED): Permission.VOID,
    (BlankState.IN_STOCK, BlankState.RETURNED): Permission.RECEIVE_BLANKS,
}


class BlankWrites:
    """The blank-card changes of one transaction: ``tx.blanks``."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def receive(self, reference: str, first: int, last: int) -> int:
        """Records a delivered lot of serials ``first``..``last``, whole, in this transaction;
        returns how many. A range overlapping any earlier lot is refused."""
        first, last = _lot_range(reference, first, last)
        lot, _ = _open_lot(self._tx, reference, first, last, complete=True)
        _add_blanks(self._tx, lot, first, last, reference)
        return last - first + 1

    def allocate(self, batch: str, count: int) -> list[int]:
        """Allocates ``count`` blanks (lowest serials first) to ``batch``."""
        tx = self._tx
        tx.require(Permission.QUEUE)
        check_label(batch, "a batch's name")
        count = whole_number(count, "the count of blanks")
        held = tx.db.one(
            "SELECT station, lease_until FROM batch_claims WHERE batch = ? AND released_at IS NULL",
            (batch,),
        )
        if held is not None and (tx.claim is None or tx.claim.batch != batch):
            raise BatchClaimedError(
                f"batch {batch} is being printed by station {held[0]}; allocate to it when the"
                " station is done",
                batch,
                held[0],
                _dt.datetime.fromisoformat(held[1]),
            )
        serials = [
            r[0]
            for r in tx.db.all(
                "SELECT serial FROM blanks WHERE state = ? ORDER BY serial LIMIT ?",
                (BlankState.IN_STOCK.value, count),
            )
        ]
        if len(serials) < count:
            raise BlankShortageError(
                f"batch {batch} needs {count} blanks; {len(serials)} are in stock"
            )
        move(tx, serials, BlankState.ALLOCATED, batch=batch)
        return serials

    def move(self, serials: Sequence[int], target: BlankState, *, reason: str) -> None:
        """Unallocates (``IN_STOCK``), spoils before printing (``SPOILED``), voids
        (``VOIDED``) or returns (``RETURNED``) blanks, with a reason."""
        if not meaningful(reason):
            raise InvalidArgumentError("a blank's movement needs a reason")
        serials = whole_numbers(serials, "a blank's serial")
        move(self._tx, serials, member(BlankState, target, "a blank's state"), reason=reason)

    def spoil(self, serials: Sequence[int], *, reason: str | None) -> None:
        """Spoils allocated blanks that went through a printer without becoming a card (a
        jam, a failed chip, a card ejected to the reject tray)."""
        spoil(self._tx, whole_numbers(serials, "a blank's serial"), reason)


def spoil(tx: Transaction, serials: list[int], reason: str | None) -> None:
    """Allocated blanks that went through a printer without becoming a card: ``SPOILED``."""
    move(
        tx,
        serials,
        BlankState.SPOILED,
        reason=reason,
        allowed={(BlankState.ALLOCATED, BlankState.SPOILED): Permission.PRINT},
    )


def _lot_range(reference: str, first: int, last: int) -> tuple[int, int]:
    """A lot's reference and serials, checked before anything is computed from them."""
    if not meaningful(reference):
        raise InvalidArgumentError("a lot's reference is some text")
    check_label(reference, "a lot's reference")
    return (
        whole_number(first, "a lot's first serial", least=1),
        whole_number(last, "a lot's last serial", least=1),
    )


def _open_lot(
    tx: Transaction, reference: str, first: int, last: int, *, complete: bool
) -> tuple[int, int]:
    """Records a lot's range (refusing any overlap) and returns its id and the first serial
    still to write. An unfinished lot of the same reference and range (its receipt was cut
    short) is taken up where it stopped."""
    tx.require(Permission.RECEIVE_BLANKS)
    if not (0 < first <= last) or last - first + 1 > _MAX_LOT:
        raise InvalidArgumentError(
            f"a lot is a serial range first..last with 0 < first <= last, at most "
            f"{_MAX_LOT:,} cards; got {first}..{last}"
        )
    db = tx.db
    clash = db.one(
        "SELECT id, reference, first_serial, last_serial, complete FROM blank_lots"
        " WHERE NOT (last_serial < ? OR first_serial > ?)",
        (first, last),
    )
    if clash:
        lot, ref, lo, hi, done = clash
        if not done and (ref, lo, hi) == (reference, first, last):
            top = db.one("SELECT max(serial) FROM blanks WHERE lot_id = ?", (lot,))
            return int(lot), (first if top is None or top[0] is None else int(top[0]) + 1)
        raise InvalidArgumentError(f"serials {first}..{last} overlap lot {ref!r} ({lo}..{hi})")
    row = db.one(
        "INSERT INTO blank_lots (reference, first_serial, last_serial, received_at, actor,"
        " complete) VALUES (?,?,?,?,?,?) RETURNING id",
        (reference, first, last, tx.now, tx.actor.name, 1 if complete else 0),
    )
    assert row is not None
    return int(row[0]), first


def _add_blanks(tx: Transaction, lot: int, first: int, last: int, reference: str) -> None:
    serials = range(first, last + 1)
    tx.db.executemany(
        "INSERT INTO blanks (serial, lot_id, state, updated_at) VALUES (?,?,?,?)",
        ((s, lot, BlankState.IN_STOCK.value, tx.now) for s in serials),
    )
    _history(tx, [(s, None, BlankState.IN_STOCK) for s in serials], reason=f"lot {reference}")


_PART = 50_000
"""Serials written per transaction when a large lot is received: a million-blank lot then
holds the write lock about a second at a time, and stations keep printing in between."""


def move(
    tx: Transaction,
    serials: list[int],
    target: BlankState,
    *,
    batch: str | None = None,
    reason: str | None = None,
    allowed: dict[tuple[BlankState, BlankState], Permission] | None = None,
    record_ids: list[int] | None = None,
) -> None:
    """Moves blanks to ``target`` under the rules ``allowed`` (the direct movements by
    default), naming the batch and the records they were bound to."""
    if len(set(serials)) != len(serials):
        raise InvalidArgumentError("a serial is given twice")
    db = tx.db
    rows = db.all(
        "SELECT serial, state, batch FROM blanks WHERE " + db.member_of("serial"),
        (db.as_list(serials),),
    )
    found = {serial: state for serial, state, _ in rows}
    # Each movement names its batch: the one given, else the batch the blank was allocated
    # to (a card spoiled at quality control is counted against the batch it was printed in).
    in_batches = {serial: held for serial, _, held in rows}
    if tx.station:
        # An unattended station's token moves only the blanks of the batch it claims.
        tx.require_claimed({held for _, _, held in rows}, "move a blank")
    if tx.beside:
        # A station beside others moves only its own batch's blanks (no claim to look up).
        claimed = None if tx.claim is None else tx.claim.batch
        for serial, _, in_batch in rows:
            if in_batch != claimed:
                raise InvalidArgumentError(
                    f"blank {serial} is not allocated to batch {claimed}: a station's"
                    " transaction moves only the batch it holds"
                )
    else:
        _check_claimed_blanks(tx, serials)
    moves = allowed or _MOVES
    # The rule depends on the source state only: checked at the first blank in each state
    # (once per blank was a fifth of a batch's Python time).
    sources: dict[str, BlankState] = {}
    for serial in serials:
        text = found.get(serial)
        if text is None:
            raise InvalidArgumentError(f"no blank with serial {serial}")
        if text in sources:
            continue
        source = BlankState(text)
        needs = moves.get((source, target))
        if needs is None:
            raise InvalidArgumentError(
                f"blank {serial}: {source.value} -> {target.value} is not allowed"
            )
        tx.require(needs)
        sources[text] = source
    records: list[int | None] = list(record_ids) if record_ids else [None] * len(serials)
    # One statement for all: a batch's blanks move alike, each printed one bound to its record.
    db.execute(
        "UPDATE blanks SET state = ?, batch = coalesce(?, batch), updated_at = ? WHERE "
        + db.member_of("serial"),
        (target.value, batch, tx.now, db.as_list(serials)),
    )
    if record_ids:
        db.update_each("blanks", "serial", serials, "record_id", list(record_ids))
    # The movements' history rows as columns: one target, and mostly one source, batch and
    # reason, each bound once.
    check_free_text(reason, "a blank's reason")
    froms = [found[s] for s in serials]
    batches = [batch or in_batches[s] for s in serials]
    chain.append_columns(
        db,
        [
            serials,
            Same(tx.now),
            Same(tx.actor.name),
            Same(tx.actor.role.name),
            same_or_each(froms),
            Same(target.value),
            Same(reason),  # sealed by the chain, bound to each row, in a sealed ledger
            same_or_each(batches),
            records if record_ids else Same(None),
        ],
        len(serials),
        chain.BLANK_CHAIN,
    )


def _check_claimed_blanks(tx: Transaction, serials: list[int]) -> None:
    """Blanks allocated to a batch a station holds, or on their way through a printer, are the
    station's: a desk moving one could send a card onto a blank the ledger calls void."""
    if tx.journal_step:
        return
    db = tx.db
    if db.one("SELECT 1 FROM batch_claims WHERE released_at IS NULL LIMIT 1") is None:
        return
    rows = db.all(
        "SELECT b.serial, c.batch, c.station, c.lease_until FROM blanks b JOIN batch_claims c"
        " ON c.batch = b.batch WHERE b.state = 'ALLOCATED' AND c.released_at IS NULL AND "
        + db.member_of("b.serial"),
        (db.as_list(serials),),
    )
    for serial, batch, station, lease_until in rows:
        if tx.claim is None or tx.claim.batch != batch:
            raise BatchClaimedError(
                f"blank {serial} is allocated to batch {batch}, which station {station} is"
                " printing; wait until it is done, or ask a supervisor to release the claim",
                batch,
                station,
                _dt.datetime.fromisoformat(lease_until),
            )


def _history(
    tx: Transaction,
    moves: Sequence[tuple[int, BlankState | None, BlankState]],
    *,
    reason: str | None = None,
    batch: str | Sequence[str | None] | None = None,
    records: Sequence[int | None] | None = None,
) -> None:
    """The movements' history rows: ``batch`` one for all, or one per movement."""
    records = records or [None] * len(moves)
    batches = [batch] * len(moves) if batch is None or isinstance(batch, str) else list(batch)
    who, role, now = tx.actor.name, tx.actor.role.name, tx.now
    check_free_text(reason, "a blank's reason")
    # The reason is sealed by chain.append in a sealed ledger, bound to each row.
    chain.append(
        tx.db,
        [
            (s, now, who, role, src.value if src else None, dst.value, reason, b, r)
            for (s, src, dst), r, b in zip(moves, records, batches, strict=True)
        ],
        chain.BLANK_CHAIN,
    )


class BlankStock:
    """The blank cards of a :class:`~ektpcore.Ledger`: ``ledger.blanks``. Each write is one
    transaction of its own; inside a larger change use ``tx.blanks``."""

    def __init__(self, ledger: Ledger, reads: Session) -> None:
        self._ledger = ledger
        self._db = reads

    def __repr__(self) -> str:
        return f"BlankStock({self.counts()})"

    def receive(self, reference: str, first: int, last: int, actor: Actor) -> int:
        """Records a delivered lot of serials ``first``..``last``; returns how many. A range
        overlapping any earlier lot is refused and nothing is recorded.

        A large lot is written in parts of 50,000 serials, one transaction each, so stations
        are not held up for the whole of it; until the last part is in, the lot shows as
        incomplete (``reconcile`` lists its missing serials), and receiving the same lot again
        continues where it stopped."""
        first, last = _lot_range(reference, first, last)
        with self._ledger.transaction(actor) as tx:
            if last - first + 1 <= _PART:
                return tx.blanks.receive(reference, first, last)
            lot, start = _open_lot(tx, reference, first, last, complete=False)
        for part in range(start, last + 1, _PART):
            with self._ledger.transaction(actor) as tx:
                _add_blanks(tx, lot, part, min(part + _PART - 1, last), reference)
        with self._ledger.transaction(actor) as tx:
            tx.db.execute("UPDATE blank_lots SET complete = 1 WHERE id = ?", (lot,))
        return last - first + 1

    def allocate(self, batch: str, count: int, actor: Actor) -> list[int]:
        """Allocates ``count`` blanks (lowest serials first) to ``batch``; all or none."""
        with self._ledger.transaction(actor) as tx:
            return tx.blanks.allocate(batch, count)

    def move(
        self, serials: Sequence[int], target: BlankState, actor: Actor, *, reason: str
    ) -> None:
        """Unallocates (``IN_STOCK``), spoils before printing (``SPOILED``), voids
        (``VOIDED``) or returns (``RETURNED``) blanks; all or none, with a reason."""
        if not meaningful(reason):
            raise InvalidArgumentError("a blank's movement needs a reason")
        with self._ledger.transaction(actor) as tx:
            tx.blanks.move(serials, target, reason=reason)

    def lots(self) -> list[Lot]:
        """Every lot received, in the order it was."""
        rows = self._db.all(
            "SELECT reference, first_serial, last_serial, received_at, actor, complete"
            " FROM blank_lots ORDER BY id"
        )
        return [Lot(r, int(a), int(b), at, who, bool(done)) for r, a, b, at, who, done in rows]

    def state_of(self, serial: int) -> BlankState:
        serial = whole_number(serial, "a blank's serial")
        row = self._db.one("SELECT state FROM blanks WHERE serial = ?", (serial,))
        if row is None:
            raise InvalidArgumentError(f"no blank with serial {serial}")
        return BlankState(row[0])

    def counts(self) -> dict[BlankState, int]:
        """How many blanks are in each state (states with none left out); counted as
        :meth:`~ektpcore.Ledger.counts` counts records."""
        return {BlankState(s): n for s, n in self._ledger._counted("blanks").items()}

    def movements(
        self, start: _dt.datetime | None = None, end: _dt.datetime | None = None
    ) -> list[BlankMovement]:
        """Every blank movement between ``start`` and ``end`` (aware datetimes; see
        :func:`~ektpcore.shift_window`; open ends when not given), in order: what a shift
        report counts by kind, cause and operator."""
        rows = self._db.all(
            "SELECT seq, at, serial, actor, role, from_state, to_state, reason, batch"
            " FROM blank_history WHERE at >= ? AND at < ? ORDER BY seq",
            stamp_window(start, end),
        )
        reasons = open_texts(
            self._db, [r[7] for r in rows], "blank_history.reason", [r[0] for r in rows]
        )
        return [
            BlankMovement(
                int(seq),
                at,
                int(serial),
                actor,
                role,
                BlankState(src) if src else None,
                BlankState(dst),
                why,
                batch,
            )
            for (seq, at, serial, actor, role, src, dst, _, batch), why in zip(
                rows, reasons, strict=True
            )
        ]

    def _missing_from_lots(self, limit: int = 1_000) -> list[tuple[int, str]]:
        """Serials of received lots that have no blank row (deleted behind the ledger's back):
        each one, up to ``limit`` per lot."""
        query = self._db.all
        short = query(
            "SELECT l.id, l.first_serial, l.last_serial FROM blank_lots l"
            " WHERE (SELECT count(*) FROM blanks b WHERE b.lot_id = l.id)"
            " < l.last_serial - l.first_serial + 1"
        )
        missing: list[tuple[int, str]] = []
        for lot, first, last in short:
            have = {int(r[0]) for r in query("SELECT serial FROM blanks WHERE lot_id = ?", (lot,))}
            gaps = (n for n in range(int(first), int(last) + 1) if n not in have)
            missing += [(n, "missing from its lot") for n in itertools.islice(gaps, limit)]
        return missing

    def _allocated_to_nobody(self) -> list[tuple[int, str]]:
        """Blanks allocated to a batch beyond the records waiting in it (allocated, then never
        queued, or records taken off without their blanks), highest serials first; blanks a
        station's journal holds are cards in flight and count as used by their record."""
        rows = self._db.all(
            "SELECT b.batch, b.serial FROM blanks b WHERE b.state = 'ALLOCATED'"
            " AND b.serial NOT IN (SELECT serial FROM station_journal) ORDER BY b.batch,"
            " b.serial DESC"
        )
        waiting = dict(
            self._db.all(
                "SELECT r.batch, count(*) FROM records r WHERE r.state = 'QUEUED' AND NOT EXISTS"
                " (SELECT 1 FROM station_journal j WHERE j.record_id = r.id) GROUP BY r.batch"
            )
        )
        by_batch: dict[str, list[int]] = {}
        for batch, serial in rows:
            if batch is not None:
                by_batch.setdefault(batch, []).append(int(serial))
        return [
            (serial, f"allocated to batch {batch}, but no record waits in it for this blank")
            for batch, serials in by_batch.items()
            for serial in serials[: max(0, len(serials) - int(waiting.get(batch, 0)))]
        ]

    def reconcile(
        self, start: _dt.datetime | None = None, end: _dt.datetime | None = None
    ) -> Reconciliation:
        """Checks received = in stock + allocated + used + spoiled + voided + returned, lists
        every blank that does not add up, counts the movements between ``start`` and ``end``
        (see :func:`~ektpcore.shift_window`), and warns when print-ready records outnumber the
        stock."""
        query = self._db.all
        received = query("SELECT coalesce(sum(last_serial - first_serial + 1), 0) FROM blank_lots")[
            0
        ][0]
        # A check counts the table itself, not the tally kept from the history.
        counts = {
            BlankState(s): int(n)
            for s, n in query("SELECT state, count(*) FROM blanks GROUP BY state")
        }
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
        ]
        for sql, problem in checks:
            problems += [(row[0], problem) for row in query(sql)]
        problems += self._missing_from_lots()
        problems += self._allocated_to_nobody()
        movements: dict[BlankState, int] = {}
        if start is not None or end is not None:
            movements = {
                BlankState(s): n
                for s, n in query(
                    "SELECT to_state, count(*) FROM blank_history WHERE at >= ? AND at < ?"
                    " GROUP BY to_state",
                    stamp_window(start, end),
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
