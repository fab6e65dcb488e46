"""The print station's journal and the chip log.

A card is written to the journal, with its blank, *before* its bytes leave for the printer,
and its row is removed in the same transaction that records the outcome. A row left over after
a crash is a card whose outcome nobody knows: it becomes ``IN_DOUBT`` and stays in the journal
(marked ``in_doubt``, its blank still allocated to the batch) until a supervisor settles it.

The chip log is append-only: every personalisation attempted on a blank's chip, written or
failed, with the chip's serial (its UID) when it answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError, RecordClaimedError, UnknownRecordError
from ..lifecycle import Permission, State, meaningful
from ..nik import mask_nik, parse_niks
from . import records
from .blanks import BlankState, move, spoil
from .sealing import (
    check_free_text,
    check_label,
    nik_keys,
    niks_of,
    open_texts,
    row_key,
    seal_text,
)
from .store import Same, Session

if TYPE_CHECKING:
    from .transaction import Transaction

__all__ = ["ChipLogEntry", "Journal", "JournalWrites"]


@dataclass(frozen=True)
class ChipLogEntry:
    """One attempt at a blank's chip: which blank, which printer, the chip's serial (its
    UID, when it answered), and whether it was written and read back intact. The repr leaves
    the reason out (free text, sealed in a sealed ledger)."""

    seq: int
    at: str
    serial: int
    printer: str
    chip_serial: str | None
    outcome: str  # "written" or "failed"
    reason: str | None = field(repr=False)


class JournalWrites:
    """The journal changes of one transaction: ``tx.journal``."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def sent(self, nik: int, batch: str, printer: str, serial: int) -> None:
        """Notes that ``nik``'s card, on blank ``serial``, is about to leave for ``printer``."""
        self.sent_all([(nik, serial)], batch, printer)

    def sent_all(self, cards: Sequence[tuple[int, int]], batch: str, printer: str) -> None:
        """Notes that these cards ``(NIK, blank serial)``, queued in ``batch``, are about to
        leave for ``printer``, in one statement (a station journals a window of cards at
        once). Under the batch's claim when it has one; each card's record waits in the
        batch (a journal row elsewhere would pin a card that no printer holds)."""
        tx = self._tx
        _may_write(tx)
        check_label(batch, "a batch's name")
        check_label(printer, "a printer's name")
        tx.require_claimed([batch], "journal a card")
        if not cards:
            return
        db = tx.db
        keys = nik_keys(db, [nik for nik, _ in cards])
        found = {
            key: (rid, state, held)
            for key, rid, state, held in db.all(
                "SELECT nik, id, state, batch FROM records WHERE " + db.member_of("nik"),
                (db.as_list(keys),),
            )
        }
        for (nik, _), key in zip(cards, keys, strict=True):
            if key not in found:
                raise UnknownRecordError(f"no record with NIK {mask_nik(nik)} in the ledger")
            if found[key][1:] != (State.QUEUED.value, batch):
                raise InvalidArgumentError(
                    f"record {mask_nik(nik)} is not queued in batch {batch}: only a card"
                    " waiting in the batch is sent to its printer"
                )
        ids = {key: row[0] for key, row in found.items()}
        # As columns: one statement for the window (a row each was most of its cost).
        db.insert_columns(
            "station_journal",
            ("record_id", "batch", "printer", "serial", "state", "sent_at"),
            [
                [ids[key] for key in keys],
                Same(batch),
                Same(printer),
                [serial for _, serial in cards],
                Same("sent"),
                Same(tx.now),
            ],
            len(cards),
        )

    def recover(
        self, *, reason: str, batch: str | None = None, printer: str | None = None
    ) -> list[int]:
        """Cards sent whose outcome was never recorded become ``IN_DOUBT`` (see
        :func:`recover`); returns their NIKs."""
        return recover(self._tx, reason=reason, batch=batch, printer=printer)

    def mark_in_doubt(self, niks: list[int]) -> None:
        """Keeps these cards, made ``IN_DOUBT`` in this transaction, in the journal as in
        doubt (their outcome is unknown), under their batch's claim when it has one."""
        rows = self._rows(niks, "mark a card in doubt")
        for nik, _, _state, record in rows:
            if record != State.IN_DOUBT.value:
                raise InvalidArgumentError(
                    f"record {mask_nik(nik)} is {record}: a card is kept in the journal as in"
                    " doubt once its record is IN_DOUBT"
                )
        _mark_in_doubt(self._tx.db, niks)

    def forget(self, niks: list[int]) -> None:
        """Removes these cards from the journal: their outcome is recorded (or nothing
        happened to them). Under their batch's claim when it has one; a card in doubt leaves
        the journal only when a supervisor settles it (:meth:`Ledger.settle`)."""
        for nik, _, state, _ in self._rows(niks, "take a card out of the journal"):
            if state != "sent":
                raise RecordClaimedError(
                    f"record {mask_nik(nik)}'s card is in doubt: it leaves the journal when a"
                    " supervisor settles it (settle), which accounts for its blank"
                )
        _forget(self._tx.db, niks)

    def _rows(self, niks: list[int], what: str) -> list[tuple[int, str, str, str]]:
        """The journal rows of ``niks`` (NIK, batch, row state, record state), once the
        transaction may change them."""
        tx = self._tx
        _may_write(tx)
        if not niks:
            tx.require_claimed([], what)
            return []
        db = tx.db
        keys = nik_keys(db, niks)
        nik_of = dict(zip(keys, niks, strict=True))
        rows = [
            (nik_of[key], str(batch), str(state), str(record))
            for key, batch, state, record in db.all(
                "SELECT r.nik, j.batch, j.state, r.state FROM station_journal j JOIN records r"
                " ON r.id = j.record_id WHERE " + db.member_of("r.nik"),
                (db.as_list(keys),),
            )
        ]
        tx.require_claimed({batch for _, batch, _, _ in rows}, what)
        return rows

    def log_chip(
        self,
        nik: int,
        serial: int,
        printer: str,
        chip_serial: str | None,
        *,
        written: bool,
        reason: str | None,
    ) -> None:
        """Appends a chip attempt and, when the chip was written, marks the card with its
        chip serial: the card printed on blank ``serial`` for this record, ``PRINTED`` in this
        batch run (an issued card's chip is never rewritten). Under the record's batch's claim
        when it has one."""
        tx = self._tx
        _may_write(tx)
        check_free_text(reason, "a chip log reason")
        check_label(printer, "a printer's name")
        check_label(chip_serial, "a chip's serial")
        db = tx.db
        key = nik_keys(db, [nik])[0]
        row = db.one("SELECT id, batch, state FROM records WHERE nik = ?", (key,))
        if row is None:
            raise records.unknown(nik)
        record_id, batch, state = row
        tx.require_claimed([batch], "log a chip attempt")
        if written and (
            state != State.PRINTED.value
            or db.one(
                "SELECT 1 FROM cards WHERE serial = ? AND valid = 1 AND record_id = ?",
                (serial, record_id),
            )
            is None
        ):
            raise InvalidArgumentError(
                f"record {mask_nik(nik)} has no card just printed on blank {serial}: a chip"
                " serial is written on the card a station has just printed"
            )
        outcome = "written" if written else "failed"
        db.execute(
            "INSERT INTO chip_log (at, record_id, serial, printer, chip_serial, outcome, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                tx.now,
                record_id,
                serial,
                printer,
                chip_serial,
                outcome,
                seal_text(db, reason, "chip_log.reason", row_key(key, serial, tx.now)),
            ),
        )
        if written:
            db.execute(
                "UPDATE cards SET chip_serial = ? WHERE serial = ? AND valid = 1 AND record_id = ?",
                (chip_serial, serial, record_id),
            )


def _may_write(tx: Transaction) -> None:
    """A journal write is a print station's (its own cards) or a supervisor's (settling
    them): an auditor, an administrator, or anyone else changes nothing there."""
    tx.require(Permission.PRINT, Permission.SETTLE, what="change the print stations' journal")


def _mark_in_doubt(db: Session, niks: list[int]) -> None:
    db.execute(
        "UPDATE station_journal SET state = 'in_doubt' WHERE record_id IN"
        " (SELECT id FROM records WHERE " + db.member_of("nik") + ")",
        (db.as_list(nik_keys(db, niks)),),
    )


def _forget(db: Session, niks: list[int]) -> None:
    db.execute(
        "DELETE FROM station_journal WHERE record_id IN (SELECT id FROM records WHERE "
        + db.member_of("nik")
        + ")",
        (db.as_list(nik_keys(db, niks)),),
    )


_OPEN = (State.QUEUED.value, State.IN_DOUBT.value)


def recover(
    tx: Transaction, *, reason: str, batch: str | None = None, printer: str | None = None
) -> list[int]:
    """Cards sent whose outcome was never recorded (the station died, or lost its claim) become
    ``IN_DOUBT``, kept in the journal with their blank; returns their NIKs. Only rows of
    ``batch`` or of ``printer`` are looked at; by printer, rows of batches that a station
    still claims are left to that claim. A record that is no longer ``QUEUED`` already has its
    outcome: its stale row is dropped and the record is not touched."""
    _may_write(tx)
    db = tx.db
    if batch is not None:
        where, param = "j.batch = ?", batch
    elif printer is not None:
        where = (
            "j.printer = ? AND j.batch NOT IN"
            " (SELECT batch FROM batch_claims WHERE released_at IS NULL)"
        )
        param = printer
    else:
        raise InvalidArgumentError("recover names a batch or a printer")
    found = db.all(
        "SELECT r.nik, r.sealed, r.state, j.printer, j.batch FROM station_journal j JOIN records r"
        f" ON r.id = j.record_id WHERE j.state = 'sent' AND {where}",
        (param,),
    )
    if found:
        # A live claim's cards are its station's (or, once released, a supervisor's); a
        # station's token recovers only under its own claim.
        tx.require_claimed({str(r[4]) for r in found}, "recover cards sent to a printer")
    niks = niks_of(db, [r[0] for r in found], [r[1] for r in found])
    rows = [(nik, state, at) for nik, (_, _, state, at, _) in zip(niks, found, strict=True)]
    # QUEUED: the card's fate is unknown. IN_DOUBT already: only the row is behind. Anything
    # else: the outcome was recorded and the row is stale.
    stale = [int(nik) for nik, state, _ in rows if state not in _OPEN]
    doubted = [int(nik) for nik, state, _ in rows if state == State.IN_DOUBT.value]
    by_printer: dict[str, list[int]] = {}
    for nik, state, at in rows:
        if state == State.QUEUED.value:
            by_printer.setdefault(str(at), []).append(int(nik))
    if stale:
        _forget(db, stale)
    tx.journal_step = True
    try:
        for at, niks in by_printer.items():
            records.transition(tx, niks, State.IN_DOUBT, reason=reason, printer=at)
            _mark_in_doubt(db, niks)
    finally:
        tx.journal_step = False
    if doubted:
        _mark_in_doubt(db, doubted)
    return [nik for niks in by_printer.values() for nik in niks] + doubted


def settle(
    tx: Transaction, nik: int, *, printed: bool, note: str, serial: int | None = None
) -> None:
    """Settles an ``IN_DOUBT`` card, whatever left it so. ``printed``: the card was found and
    is kept (``PRINTED``; the journal's blank, or ``serial``, is bound unless the record
    already holds a valid card). Not printed: the record goes back to ``PRINT_READY`` and the
    blank that went through the printer is spoiled (a valid card it held is invalidated)."""
    tx.require(Permission.SETTLE)
    if not meaningful(note):
        raise InvalidArgumentError("settling an in-doubt card needs a note")
    db = tx.db
    row = db.one(
        "SELECT r.state, j.serial, j.batch, j.printer,"
        " (SELECT c.serial FROM cards c WHERE c.record_id = r.id AND c.valid = 1)"
        " FROM records r LEFT JOIN station_journal j ON j.record_id = r.id WHERE r.nik = ?",
        (nik_keys(db, [nik])[0],),
    )
    if row is None:
        raise records.unknown(nik)
    state = row[0]
    if state != State.IN_DOUBT.value:
        raise InvalidArgumentError(f"{mask_nik(nik)} is {state}, not in doubt")
    tx.journal_step = True
    try:
        _settle(tx, nik, printed, f"in-doubt resolution: {note}", serial, row)
    finally:
        tx.journal_step = False
    _forget(db, [nik])


def _settle(
    tx: Transaction,
    nik: int,
    printed: bool,
    reason: str,
    serial: int | None,
    row: tuple[Any, ...],
) -> None:
    """Settles one in-doubt card; ``row`` is its record's state, journal serial, batch,
    printer and valid card, as :func:`settle` read them."""
    db = tx.db
    _, journal_serial, batch, printer, card = row
    if serial is not None and journal_serial is not None and int(serial) != int(journal_serial):
        # The journal holds the blank the station fed for this card: a serial read off the
        # card that differs means the stack was out of order, which the blanks' own records
        # must show (spoil or void what was used), not a settlement that leaves the fed
        # blank allocated and takes another from the stock.
        raise InvalidArgumentError(
            f"{mask_nik(nik)}: the journal holds blank {journal_serial} for this card; a serial"
            " is given only for a card whose blank is not known"
        )
    blank = serial if serial is not None else journal_serial
    if printed:
        if card is None and blank is None:
            raise InvalidArgumentError(
                f"{mask_nik(nik)}: no blank is known for this card; give the serial printed on it"
            )
        blanks = None if card is not None else [int(blank)]
        if blanks is not None and _state_of(db, blanks[0]) is BlankState.IN_STOCK:
            move(tx, blanks, BlankState.ALLOCATED, batch=batch, reason=reason)
        records.transition(
            tx, [nik], State.PRINTED, reason=reason, batch=batch, printer=printer, blanks=blanks
        )
    else:
        records.transition(tx, [nik], State.PRINT_READY, reason=reason, batch=batch)
        if journal_serial is not None and _state_of(db, journal_serial) is BlankState.ALLOCATED:
            spoil(tx, [int(journal_serial)], reason)


def _state_of(db: Session, serial: int) -> BlankState | None:
    row = db.one("SELECT state FROM blanks WHERE serial = ?", (serial,))
    return None if row is None else BlankState(row[0])


class Journal:
    """What the print stations' journal holds: ``ledger.journal``."""

    def __init__(self, reads: Session) -> None:
        self._db = reads

    def sent(self, printer: str) -> list[int]:
        """NIKs of the cards sent to ``printer`` whose outcome was never recorded."""
        rows = self._db.all(
            "SELECT r.nik, r.sealed FROM station_journal j JOIN records r ON r.id = j.record_id"
            " WHERE j.printer = ? AND j.state = 'sent'",
            (printer,),
        )
        return niks_of(self._db, [r[0] for r in rows], [r[1] for r in rows])

    def in_doubt(
        self, printer: str | None = None, *, batch: str | None = None
    ) -> list[tuple[int, str, int]]:
        """In-doubt cards (of ``printer``, of ``batch``, or all): (NIK, batch, blank serial),
        oldest first."""
        where, params = "", []
        for column, value in (("j.printer", printer), ("j.batch", batch)):
            if value is not None:
                where += f" AND {column} = ?"
                params.append(value)
        rows = self._db.all(
            "SELECT r.nik, r.sealed, j.batch, j.serial FROM station_journal j"
            " JOIN records r ON r.id = j.record_id WHERE j.state = 'in_doubt'"
            f"{where} ORDER BY j.sent_at",
            params,
        )
        niks = niks_of(self._db, [r[0] for r in rows], [r[1] for r in rows])
        return [(n, str(b), int(s)) for n, (_, _, b, s) in zip(niks, rows, strict=True)]

    def free_blanks(self, batch: str) -> list[int]:
        """Blanks allocated to ``batch`` that no journal row holds, lowest serial first."""
        rows = self._db.all(
            "SELECT serial FROM blanks WHERE batch = ? AND state = ? AND serial NOT IN"
            " (SELECT serial FROM station_journal) ORDER BY serial",
            (batch, BlankState.ALLOCATED.value),
        )
        return [int(r[0]) for r in rows]

    def chip_log(self, nik: Any) -> list[ChipLogEntry]:
        """Every chip personalisation attempted for ``nik``'s cards, oldest first."""
        value = nik_keys(self._db, [int(parse_niks([nik]).values[0])])[0]
        rows = self._db.all(
            "SELECT c.seq, c.at, c.serial, c.printer, c.chip_serial, c.outcome, c.reason"
            " FROM chip_log c JOIN records r ON r.id = c.record_id WHERE r.nik = ?"
            " ORDER BY c.seq",
            (value,),
        )
        reasons = open_texts(
            self._db,
            [row[6] for row in rows],
            "chip_log.reason",
            [row_key(value, row[2], row[1]) for row in rows],
        )
        return [
            ChipLogEntry(seq, at, serial, printer, chip, outcome, why)
            for (seq, at, serial, printer, chip, outcome, _), why in zip(rows, reasons, strict=True)
        ]
