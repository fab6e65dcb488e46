from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator

import pytest

import ektpcore
from ektpcore import (
    Actor,
    BlankShortageError,
    BlankShortageWarning,
    BlankState,
    InvalidArgumentError,
    Ledger,
    PermissionDeniedError,
    Role,
    State,
)

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [str(v) for v in ektpcore.sample_niks(10, seed=31)]
B = BlankState


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        led.add_records(NIKS[:4], OPERATOR, state=State.PRINT_READY)
        led.blanks.receive("LOT-A", 100, 119, SUPERVISOR)
        yield led


def _print(ledger: Ledger, niks: list[str], batch: str = "B-1") -> list[int]:
    serials = ledger.blanks.allocate(batch, len(niks), OPERATOR)
    ledger.transition(niks, State.QUEUED, OPERATOR, batch=batch)
    ledger.transition(niks, State.PRINTED, OPERATOR, batch=batch, blanks=serials)
    return serials


def test_lots_refuse_overlaps_and_bad_ranges(ledger: Ledger) -> None:
    with pytest.raises(InvalidArgumentError, match="overlap lot 'LOT-A'"):
        ledger.blanks.receive("LOT-B", 119, 130, SUPERVISOR)
    with pytest.raises(InvalidArgumentError):
        ledger.blanks.receive("LOT-C", 50, 40, SUPERVISOR)
    with pytest.raises(InvalidArgumentError):
        ledger.blanks.receive("LOT-D", -5, 4, SUPERVISOR)
    assert ledger.blanks.receive("LOT-B", 120, 129, SUPERVISOR) == 10
    assert ledger.blanks.counts() == {B.IN_STOCK: 30}


def test_allocation_is_all_or_nothing(ledger: Ledger) -> None:
    with pytest.raises(BlankShortageError):
        ledger.blanks.allocate("B-9", 21, OPERATOR)
    assert ledger.blanks.counts() == {B.IN_STOCK: 20}
    assert ledger.blanks.allocate("B-1", 3, OPERATOR) == [100, 101, 102]
    with pytest.raises(InvalidArgumentError):
        ledger.blanks.allocate("B-1", -1, OPERATOR)


def test_printing_binds_one_blank_per_record(ledger: Ledger) -> None:
    serials = _print(ledger, NIKS[:2])
    assert [ledger.blanks.state_of(s) for s in serials] == [B.USED, B.USED]
    ledger.transition(NIKS[2:3], State.QUEUED, OPERATOR)
    with pytest.raises(InvalidArgumentError, match="one blank per record"):
        ledger.transition(NIKS[2:3], State.PRINTED, OPERATOR)
    with pytest.raises(InvalidArgumentError, match="not allowed"):  # 100 is already used
        ledger.transition(NIKS[2:3], State.PRINTED, OPERATOR, blanks=[serials[0]])
    with pytest.raises(InvalidArgumentError, match="not allowed"):  # 110 was never allocated
        ledger.transition(NIKS[2:3], State.PRINTED, OPERATOR, blanks=[110])
    assert ledger.state_of(NIKS[2]) is State.QUEUED


def test_spoiled_attempt_spoils_the_blank_and_frees_the_record(ledger: Ledger) -> None:
    (first,) = _print(ledger, NIKS[:1])
    ledger.transition(NIKS[:1], State.PRINT_READY, OPERATOR, reason="ribbon wrinkle")
    assert ledger.blanks.state_of(first) is B.SPOILED
    (second,) = _print(ledger, NIKS[:1], batch="B-2")
    assert second != first
    assert ledger.blanks.reconcile().balanced


def test_reprint_invalidates_the_lost_card_and_cancel_voids(ledger: Ledger) -> None:
    (serial,) = _print(ledger, NIKS[:1])
    for state in (
        State.ENCODED,
        State.QC_PASSED,
        State.IN_TRANSIT_TO_KECAMATAN,
        State.AT_KECAMATAN,
        State.ISSUED,
    ):
        ledger.transition(NIKS[:1], state, OPERATOR)
    with pytest.raises(PermissionDeniedError):  # a reprint is never made directly
        ledger.transition(NIKS[:1], State.PRINT_READY, SUPERVISOR, reason="lost")
    lost = ledger.approvals.request(NIKS[0], State.PRINT_READY, OPERATOR, reason="lost")
    ledger.approvals.approve(lost.id, SUPERVISOR, note="police letter 12/XI")
    assert ledger.blanks.state_of(serial) is B.USED  # the lost card was printed on it
    (reprint,) = _print(ledger, NIKS[:1], batch="B-2")
    (other,) = _print(ledger, NIKS[1:2], batch="B-3")
    died = ledger.approvals.request(
        NIKS[1], State.CANCELLED, SUPERVISOR, reason="died before hand-over"
    )
    ledger.approvals.approve(died.id, Actor("citra", Role.SUPERVISOR))
    assert ledger.blanks.state_of(other) is B.VOIDED
    assert ledger._query("SELECT serial FROM cards WHERE valid = 1") == [(reprint,)]
    # A second valid card for one record is impossible, whatever writes to the database.
    with pytest.raises((sqlite3.IntegrityError, ektpcore.LedgerError)), ledger._write() as db:
        db.execute(
            "INSERT INTO cards (record_id, serial, created_at) SELECT record_id, 119, 'x'"
            f" FROM cards WHERE serial = {int(reprint)}"
        )


def test_blank_movements_and_roles(ledger: Ledger) -> None:
    serials = ledger.blanks.allocate("B-1", 4, OPERATOR)
    ledger.blanks.move(serials[:1], B.IN_STOCK, OPERATOR, reason="batch shrank")
    ledger.blanks.move(serials[1:2], B.SPOILED, OPERATOR, reason="jammed in the feeder")
    with pytest.raises(PermissionDeniedError):
        ledger.blanks.move(serials[2:3], B.VOIDED, OPERATOR, reason="test card")
    ledger.blanks.move(serials[2:3], B.VOIDED, SUPERVISOR, reason="test card")
    with pytest.raises(InvalidArgumentError):
        ledger.blanks.move([110], B.RETURNED, SUPERVISOR, reason="")
    ledger.blanks.move([110, 111], B.RETURNED, SUPERVISOR, reason="lent to Kab. Bogor")
    with pytest.raises(InvalidArgumentError):  # not all-or-nothing would leave 112 moved
        ledger.blanks.move([112, 999], B.VOIDED, SUPERVISOR, reason="x")
    assert ledger.blanks.state_of(112) is B.IN_STOCK
    report = ledger.blanks.reconcile()
    # Every blank is counted, but the one left allocated waits for no record: flagged.
    assert report.received == sum(report.counts.values())
    assert report.discrepancies == [
        (103, "allocated to batch B-1, but no record waits in it for this blank")
    ]
    assert report.counts == {
        B.IN_STOCK: 15,
        B.ALLOCATED: 1,
        B.SPOILED: 1,
        B.VOIDED: 1,
        B.RETURNED: 2,
    }
    assert ledger.verify().ok


def test_reconciliation_lists_discrepancies_by_serial(
    ledger: Ledger, tamper: Callable[..., None]
) -> None:
    _print(ledger, NIKS[:1])
    tamper("DELETE FROM blanks WHERE serial = 105")
    tamper("DELETE FROM cards WHERE serial = 100")
    report = ledger.blanks.reconcile()
    assert not report.balanced
    assert report.received == 20
    assert (100, "used but no card was printed on it") in report.discrepancies
    # The very serial deleted is named, wherever it sat in its lot.
    assert [s for s, p in report.discrepancies if p == "missing from its lot"] == [105]


def test_shortage_warning_and_shift_movements(ledger: Ledger) -> None:
    ledger.add_records(NIKS[4:10], OPERATOR, state=State.PRINT_READY)
    ledger.blanks.allocate("B-1", 15, OPERATOR)
    with pytest.warns(BlankShortageWarning, match="10 records are print-ready"):
        report = ledger.blanks.reconcile()
    assert report.print_ready == 10
    now = dt.datetime.now(ektpcore.clock.WIB)
    start, end = ektpcore.shift_window(now.date(), night=now.hour < 8 or now.hour >= 20)
    if now.hour < 8:
        start, end = ektpcore.shift_window(now.date() - dt.timedelta(days=1), night=True)
    with pytest.warns(BlankShortageWarning):
        moved = ledger.blanks.reconcile(start, end).movements
    assert moved == {B.IN_STOCK: 20, B.ALLOCATED: 15}
    assert end - start == dt.timedelta(hours=12)


def test_a_version_1_ledger_is_migrated(ledger_location: str) -> None:
    store = ektpcore.ledger.open_store(ledger_location)
    with store.transaction() as db:
        for statement in store.migration(ektpcore.ledger._MIGRATIONS[0]):
            db.execute(statement)
        store.set_schema_version(db, 1)
    store.close()
    with Ledger(ledger_location) as led:
        assert led.schema_version == ektpcore.ledger.SCHEMA_VERSION
        assert led.blanks.receive("LOT-A", 1, 5, SUPERVISOR) == 5
        assert led.verify().ok
