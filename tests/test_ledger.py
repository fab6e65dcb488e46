from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ektpcore
from ektpcore import (
    Actor,
    IllegalTransitionError,
    Ledger,
    PermissionDeniedError,
    Role,
    State,
    UnknownRecordError,
)
from ektpcore.ledger import SqliteStore
from ektpcore.ledger.schema import READ_INDEXES, drop_read_indexes

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
AUDITOR = Actor("citra", Role.AUDITOR)
NIKS = [str(v) for v in ektpcore.sample_niks(20, seed=5)]


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        yield led


def test_intake_refuses_invalid_repeated_and_known_niks(ledger: Ledger) -> None:
    report = ledger.add_records([*NIKS[:5], "bad", NIKS[0]], OPERATOR, state=State.PRINT_READY)
    assert report.added == 5
    assert [i for i, _ in report.refused] == [5, 6]
    assert "invalid NIK" in report.refused[0][1]
    again = ledger.add_records(NIKS[:6], OPERATOR)
    assert again.added == 1
    assert [reason for _, reason in again.refused] == ["already in the ledger"] * 5
    assert ledger.counts() == {State.PRINT_READY: 5, State.BIO_CAPTURED: 1}
    with pytest.raises(ektpcore.InvalidArgumentError):
        ledger.add_records(NIKS[6:8], OPERATOR, state=State.ISSUED)


def test_the_whole_way_to_the_citizen(ledger: Ledger) -> None:
    ledger.add_records(NIKS[:3], OPERATOR)
    ledger.blanks.receive("KEMENDAGRI-2017-11", 1000, 1099, SUPERVISOR)
    serials = ledger.blanks.allocate("B-001", 3, OPERATOR)
    path = [
        State.SENT_FOR_ENROLMENT,
        State.PRINT_READY,
        State.QUEUED,
        State.PRINTED,
        State.ENCODED,
        State.QC_PASSED,
        State.IN_TRANSIT_TO_KECAMATAN,
        State.AT_KECAMATAN,
        State.IN_TRANSIT_TO_KELURAHAN,
        State.AT_KELURAHAN,
        State.ISSUED,
    ]
    for state in path:
        blanks = serials if state is State.PRINTED else None
        assert ledger.transition(NIKS[:3], state, OPERATOR, batch="B-001", blanks=blanks) == 3
    assert ledger.state_of(NIKS[0]) is State.ISSUED
    history = ledger.history(NIKS[0])
    assert [h.target for h in history] == [State.BIO_CAPTURED, *path]
    assert history[3].batch == "B-001"
    assert history[4].blank == str(serials[0])
    assert ledger.blanks.state_of(serials[0]) is ektpcore.BlankState.USED
    assert ledger.verify().ok


def test_a_ledger_without_its_read_indexes_records_and_reads_the_same(tmp_path: Path) -> None:
    # A simulated campaign's ledger in memory drops them for its run.
    store = SqliteStore(str(tmp_path / "ledger.db"))
    with Ledger(store) as led:
        drop_read_indexes(store)
        indexes = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert indexes.isdisjoint(READ_INDEXES)
        led.add_records(NIKS[:3], OPERATOR, state=State.PRINT_READY)
        led.blanks.receive("KEMENDAGRI-2017-11", 1000, 1099, SUPERVISOR)
        serials = led.queue(NIKS[:3], "B-001", "P1", OPERATOR)
        led.transition(NIKS[:3], State.PRINTED, OPERATOR, batch="B-001", blanks=serials)
        led.transition(NIKS[:3], State.ENCODED, OPERATOR)
        led.transition(NIKS[:3], State.QC_PASSED, OPERATOR)
        (manifest,) = led.distribution.build(OPERATOR)
        led.distribution.dispatch(manifest.id, OPERATOR)
        led.distribution.receive(manifest.id, "camat", 3, OPERATOR)
        led.distribution.hand_over_many(NIKS[:2], OPERATOR, identity_checks=["KK"] * 2)
        assert [h.target for h in led.history(NIKS[0])][-3:] == [
            State.IN_TRANSIT_TO_KECAMATAN,
            State.AT_KECAMATAN,
            State.ISSUED,
        ]
        assert led.history(NIKS[0])[2].blank == str(serials[0])
        assert led.counts() == {State.ISSUED: 2, State.AT_KECAMATAN: 1}
        assert [h.card_serial for h in led.distribution.handovers(NIKS[1])] == [serials[1]]
        bound = store.query(
            "SELECT r.nik, b.serial FROM blanks b JOIN records r ON r.id = b.record_id"
            " ORDER BY b.serial"
        )
        assert bound == [(int(n), s) for n, s in zip(NIKS[:3], serials, strict=True)]
        assert led.verify().ok


def test_illegal_changes_are_refused_whole_with_the_rule(ledger: Ledger) -> None:
    ledger.add_records(NIKS[:2], OPERATOR, state=State.PRINT_READY)
    ledger.add_records(NIKS[2:3], OPERATOR)
    before = ledger.verify().rows
    with pytest.raises(IllegalTransitionError) as info:
        ledger.transition(NIKS[:3], State.QUEUED, OPERATOR)
    assert info.value.source is State.BIO_CAPTURED
    assert NIKS[2][4:14] not in str(info.value)
    assert ledger.counts() == {State.PRINT_READY: 2, State.BIO_CAPTURED: 1}
    assert ledger.verify().rows == before
    with pytest.raises(UnknownRecordError) as missing:
        ledger.transition([NIKS[0], NIKS[10]], State.QUEUED, OPERATOR)
    assert NIKS[10][4:14] not in str(missing.value)
    assert ledger.state_of(NIKS[0]) is State.PRINT_READY


def test_roles_and_reasons(ledger: Ledger) -> None:
    ledger.add_records(NIKS[:1], OPERATOR, state=State.PRINT_READY)
    with pytest.raises(PermissionDeniedError):
        ledger.transition(NIKS[:1], State.QUEUED, AUDITOR)
    with pytest.raises(PermissionDeniedError):
        ledger.add_records(NIKS[1:2], AUDITOR)
    with pytest.raises(PermissionDeniedError):
        ledger.transition(NIKS[:1], State.CANCELLED, OPERATOR, reason="moved away")
    with pytest.raises(IllegalTransitionError, match="needs a reason"):
        ledger.transition(NIKS[:1], State.ON_HOLD, OPERATOR)
    ledger.transition(NIKS[:1], State.ON_HOLD, OPERATOR, reason="photo unclear")
    with pytest.raises(PermissionDeniedError):
        ledger.transition(NIKS[:1], State.PRINT_READY, OPERATOR, reason="ok now")
    ledger.transition(NIKS[:1], State.PRINT_READY, SUPERVISOR, reason="new photo")
    assert ledger.history(NIKS[0])[-1].actor == "budi"


def test_every_allowed_change_is_in_one_table() -> None:
    for (source, target), rule in ektpcore.TRANSITIONS.items():
        assert (rule.source, rule.target) == (source, target)
        assert source is not State.CANCELLED
    assert ektpcore.lifecycle.transition_rule(State.ISSUED, State.PRINT_READY).reason_required


def test_verify_names_the_edited_inserted_or_deleted_row(
    ledger_location: str, tamper: Callable[..., None]
) -> None:
    with Ledger(ledger_location) as led:
        led.add_records(NIKS[:5], OPERATOR, state=State.PRINT_READY)
        led.transition(NIKS[:5], State.QUEUED, OPERATOR)
        assert led.verify().ok
        refused = (sqlite3.IntegrityError, ektpcore.LedgerError)
        with pytest.raises(refused, match="append-only"), led._write() as db:
            db.execute("UPDATE history SET reason = 'x' WHERE seq = 3")
        with pytest.raises(refused, match="append-only"), led._write() as db:
            db.execute("DELETE FROM history WHERE seq = 3")
    tamper("UPDATE history SET actor = 'mallory' WHERE seq = 7")
    with Ledger(ledger_location) as led:
        report = led.verify()
        assert (report.ok, report.first_bad_seq) == (False, 7)
    tamper("UPDATE history SET actor = 'ani' WHERE seq = 7")
    tamper("DELETE FROM history WHERE seq = 4")
    with Ledger(ledger_location) as led:
        assert led.verify().first_bad_seq == 5


def test_verify_names_a_row_added_behind_the_ledgers_back(
    ledger_location: str, tamper: Callable[..., None]
) -> None:
    with Ledger(ledger_location) as led:
        led.add_records(NIKS[:3], OPERATOR, state=State.PRINT_READY)
    tamper(
        "INSERT INTO history (seq, record_id, at, actor, role, to_state, hash)"
        " VALUES (4, 1, 'now', 'mallory', 'OPERATOR', 'ISSUED', ?)",
        (bytes(32),),
    )
    with Ledger(ledger_location) as led:
        report = led.verify()
        assert (report.ok, report.first_bad_seq) == (False, 4)
        assert "altered" in report.problem or "added" in report.problem


def test_reopening_keeps_everything_and_the_schema(
    ledger_location: str, tamper: Callable[..., None]
) -> None:
    with Ledger(ledger_location) as led:
        led.add_records(NIKS[:2], OPERATOR)
    with Ledger(ledger_location) as led:
        assert led.schema_version == ektpcore.ledger.SCHEMA_VERSION
        assert led.counts() == {State.BIO_CAPTURED: 2}
        assert led.verify().ok
    if "://" in ledger_location:
        tamper("UPDATE ektpcore_schema SET version = 99")
    else:
        tamper("PRAGMA user_version = 99")
    with pytest.raises(ektpcore.EktpcoreError, match="newer"):
        Ledger(ledger_location)


def test_the_ledger_runs_on_any_store_and_writes_once_per_change() -> None:
    from ektpcore.ledger import SqliteStore

    class CountingStore(SqliteStore):
        """The embedded store, counting the write transactions the ledger opens."""

        transactions = 0

        def transaction(self):  # type: ignore[no-untyped-def]
            CountingStore.transactions += 1
            return super().transaction()

    with Ledger(CountingStore(":memory:")) as led:
        start = CountingStore.transactions
        led.add_records(NIKS[:10], OPERATOR, state=State.PRINT_READY)
        led.transition(NIKS[:10], State.QUEUED, OPERATOR)
        assert CountingStore.transactions - start == 2
        assert led.path == ":memory:"
