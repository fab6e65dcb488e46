"""The print station's journal and the chip log.

A card is written to the journal, with its blank, *before* its bytes leave for the printer,
and its row is removed in the same transaction that records the outcome. A row left over after
a crash is a card whose outcome nobody knows: it becomes ``IN_DOUBT`` and stays in the journal
(marked ``in_doubt``, its blank still allocated to the batch) until a supervisor settles it.

The chip log is append-only: every personalisation attempted on a blank's chip, written or
failed, with the chip's serial (its UID) when it answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..lifecycle import Role
from ..nik import parse_niks
from .blanks import BlankState
from .store import Session

if TYPE_CHECKING:
    from .transaction import Transaction

__all__ = ["ChipLogEntry", "Journal", "JournalWrites"]


@dataclass(frozen=True)
class ChipLogEntry:
    """One attempt at a blank's chip: which blank, which printer, the chip's serial (its
    UID, when it answered), and whether it was written and read back intact."""

    seq: int
    at: str
    serial: int
    printer: str
    chip_serial: str | None
    outcome: str  # "written" or "failed"
    reason: str | None


class JournalWrites:
    """The journal changes of one transaction: ``tx.journal``."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def sent(self, nik: int, batch: str, printer: str, serial: int) -> None:
        """Notes that ``nik``'s card, on blank ``serial``, is about to leave for ``printer``."""
        tx = self._tx
        tx.require(Role.OPERATOR)
        tx.db.execute(
            "INSERT INTO station_journal (record_id, batch, printer, serial, state, sent_at)"
            " SELECT id, ?, ?, ?, 'sent', ? FROM records WHERE nik = ?",
            (batch, printer, serial, tx.now, nik),
        )

    def mark_in_doubt(self, niks: list[int]) -> None:
        """Keeps these cards in the journal as in doubt (their outcome is unknown)."""
        db = self._tx.db
        db.execute(
            "UPDATE station_journal SET state = 'in_doubt' WHERE record_id IN"
            " (SELECT id FROM records WHERE " + db.member_of("nik") + ")",
            (db.as_list(niks),),
        )

    def mark_printer_in_doubt(self, printer: str) -> None:
        """Every card still marked sent at ``printer`` becomes in doubt (after a crash)."""
        self._tx.db.execute(
            "UPDATE station_journal SET state = 'in_doubt' WHERE printer = ? AND state = 'sent'",
            (printer,),
        )

    def forget(self, niks: list[int]) -> None:
        """Removes these cards from the journal: their outcome is recorded (or nothing
        happened to them)."""
        db = self._tx.db
        db.execute(
            "DELETE FROM station_journal WHERE record_id IN (SELECT id FROM records WHERE "
            + db.member_of("nik")
            + ")",
            (db.as_list(niks),),
        )

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
        chip serial (the card row exists once the record is ``PRINTED``)."""
        tx = self._tx
        tx.db.execute(
            "INSERT INTO chip_log (at, record_id, serial, printer, chip_serial, outcome, reason)"
            " SELECT ?, id, ?, ?, ?, ?, ? FROM records WHERE nik = ?",
            (tx.now, serial, printer, chip_serial, "written" if written else "failed", reason, nik),
        )
        if written:
            tx.db.execute(
                "UPDATE cards SET chip_serial = ? WHERE serial = ? AND valid = 1",
                (chip_serial, serial),
            )


class Journal:
    """What the print stations' journal holds: ``ledger.journal``."""

    def __init__(self, reads: Session) -> None:
        self._db = reads

    def sent(self, printer: str) -> list[int]:
        """NIKs of the cards sent to ``printer`` whose outcome was never recorded."""
        rows = self._db.all(
            "SELECT r.nik FROM station_journal j JOIN records r ON r.id = j.record_id"
            " WHERE j.printer = ? AND j.state = 'sent'",
            (printer,),
        )
        return [int(r[0]) for r in rows]

    def in_doubt(self, printer: str) -> list[tuple[int, str, int]]:
        """In-doubt cards of ``printer``: (NIK, batch, blank serial), oldest first."""
        rows = self._db.all(
            "SELECT r.nik, j.batch, j.serial FROM station_journal j"
            " JOIN records r ON r.id = j.record_id WHERE j.printer = ? AND j.state = 'in_doubt'"
            " ORDER BY j.sent_at",
            (printer,),
        )
        return [(int(n), str(b), int(s)) for n, b, s in rows]

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
        value = int(parse_niks([nik]).values[0])
        rows = self._db.all(
            "SELECT c.seq, c.at, c.serial, c.printer, c.chip_serial, c.outcome, c.reason"
            " FROM chip_log c JOIN records r ON r.id = c.record_id WHERE r.nik = ?"
            " ORDER BY c.seq",
            (value,),
        )
        return [ChipLogEntry(*row) for row in rows]
