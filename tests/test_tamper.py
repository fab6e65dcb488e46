"""The tamper catalogue: every way of changing a ledger behind its back that ``verify()`` must
catch, on both stores, each named by the row it concerns; random edits of rows (both stores)
and of the bytes of a SQLite file; and writers killed with their write-ahead log lost.

An open ledger's chain is SHA-256: whoever can write the database can recompute it, so a
rewrite kept consistent everywhere is caught only by the anchor. The cases below say which.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ektpcore
from ektpcore import Actor, FileAnchor, Ledger, Role, State, _ektpcore
from ektpcore.errors import AnchorError
from ektpcore.keys import KeyFile, verify_signature
from ektpcore.ledger import VerifyReport, sealing
from ektpcore.ledger.chain import RECORD_CHAIN, payload

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [str(v) for v in ektpcore.sample_niks(12, seed=23)]
NAMES = [f"Siti Aminah {chr(65 + i)}" for i in range(12)]
HISTORY = "seq, record_id, at, actor, role, from_state, to_state, reason, batch, printer, blank"

Tamper = Callable[..., None]


def _before_the_rule(text: str | None, what: str) -> None:
    """The free-text rule as it was before control characters were refused: the length and
    the NIK shape."""
    sealing.check_free_text(None if text is None else text.replace("\x1f", " "), what)


def _day(led: Ledger) -> None:
    """A small day: an intake, a lot, a batch queued and printed, a card spoiled on a jam (its
    reason holding a unit separator), the rest encoded, a second batch queued."""
    led.add_records(
        NIKS,
        OPERATOR,
        state=State.PRINT_READY,
        names=NAMES,
        kecamatan=["Bogor Selatan"] * 6 + ["Bogor Timur"] * 6,
        kelurahan=[f"Kel {i % 3}" for i in range(12)],
        photos=[f"photos/{i}.jpg" for i in range(12)],
    )
    led.blanks.receive("LOT-1", 100, 119, SUPERVISOR)
    serials = led.queue(NIKS[:6], "B-1", "P1", OPERATOR)
    led.transition(NIKS[:6], State.PRINTED, OPERATOR, batch="B-1", blanks=serials)
    # A reason kept from before free text refused control characters, as a ledger written
    # then holds it: the rule lifted for this one change.
    with (
        mock.patch.object(ektpcore.ledger.records, "check_free_text", _before_the_rule),
        mock.patch.object(ektpcore.ledger.blanks, "check_free_text", _before_the_rule),
    ):
        led.transition(NIKS[:1], State.PRINT_READY, OPERATOR, reason="jam\x1fB-1")
    led.transition(NIKS[1:6], State.ENCODED, OPERATOR)
    led.queue(NIKS[6:8], "B-2", "P2", OPERATOR)


@pytest.fixture
def day(ledger_location: str) -> str:
    with Ledger(ledger_location) as led:
        _day(led)
        assert led.verify().ok
    return ledger_location


def _query(location: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows read straight from the ledger's database (sealed or not)."""
    store = ektpcore.ledger.open_store(location, create=False)
    try:
        return store.query(store.translate(sql), params)
    finally:
        store.close()


def _one(location: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    return _query(location, sql, params)[0][0]


def _verify(location: str, anchor: Any = None) -> VerifyReport:
    with Ledger(location) as led:
        return led.verify(anchor=anchor)


def _named(report: VerifyReport, table: str, row: object) -> bool:
    """Whether the report is a failure with a finding about ``table``'s row ``row``."""
    assert not report.ok
    assert report.problem is not None
    return any((f.table, f.row) == (table, str(row)) for f in report.findings)


def _record(location: str, nik: str) -> int:
    return int(_one(location, "SELECT id FROM records WHERE nik = ?", (int(nik),)))


def _last_seq(location: str, record: int) -> int:
    return int(_one(location, "SELECT max(seq) FROM history WHERE record_id = ?", (record,)))


# -- the catalogue ----------------------------------------------------------------------------


def test_an_edited_history_field_names_its_row(day: str, tamper: Tamper) -> None:
    seq = _one(day, "SELECT min(seq) FROM history WHERE to_state = 'ENCODED'")
    tamper("UPDATE history SET actor = 'mallory' WHERE seq = ?", (seq,))
    report = _verify(day)
    assert report.first_bad_seq == seq
    assert _named(report, "history", seq)
    assert "altered" in report.problem  # type: ignore[operator]


def test_text_moved_from_one_field_to_the_next_is_caught(day: str, tamper: Tamper) -> None:
    seq, reason, batch, printer = _query(
        day, "SELECT seq, reason, batch, printer FROM history WHERE reason LIKE 'jam%'"
    )[0]
    assert (reason, batch, printer) == ("jam\x1fB-1", None, None)
    # The first format joined the fields with 0x1f and wrote NULL as nothing: these two rows
    # had the same payload, so the edit below would have passed.
    before = [seq, reason, batch, printer, None]
    moved = [seq, "jam", "B-1\x1f", printer, None]
    assert payload(before) == payload(moved)
    tamper("UPDATE history SET reason = ?, batch = ? WHERE seq = ?", ("jam", "B-1\x1f", seq))
    report = _verify(day)
    assert (report.first_bad_seq, report.findings[0].table) == (seq, "history")


def test_null_and_empty_text_differ(day: str, tamper: Tamper) -> None:
    seq = _one(day, "SELECT min(seq) FROM history WHERE printer IS NULL AND from_state IS NOT NULL")
    tamper("UPDATE history SET printer = '' WHERE seq = ?", (seq,))
    assert _verify(day).first_bad_seq == seq


def test_a_record_state_edited_without_history_names_the_record(day: str, tamper: Tamper) -> None:
    record = _record(day, NIKS[3])
    tamper("UPDATE records SET state = 'ISSUED' WHERE id = ?", (record,))
    report = _verify(day)
    assert _named(report, "records", record)
    assert report.first_bad_seq == _last_seq(day, record)
    assert "ISSUED" in report.problem
    assert "ENCODED" in report.problem


def test_a_state_no_lifecycle_has_is_a_ledger_error_not_a_crash(day: str, tamper: Tamper) -> None:
    record = _record(day, NIKS[9])
    tamper("UPDATE records SET state = 'DIBATALKAN' WHERE id = ?", (record,))
    with Ledger(day) as led:
        with pytest.raises(ektpcore.LedgerError, match="does not know") as caught:
            led.transition(NIKS[8:10], State.ON_HOLD, OPERATOR, reason="menunggu")
        assert "DIBATALKAN" not in str(caught.value)
        assert led.state_of(NIKS[8]) is State.PRINT_READY  # nothing was changed
        assert _named(led.verify(), "records", record)


def test_a_queued_record_moved_to_another_batch_is_named(day: str, tamper: Tamper) -> None:
    record = _record(day, NIKS[7])
    tamper("UPDATE records SET batch = 'B-9' WHERE id = ?", (record,))
    assert _named(_verify(day), "records", record)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("nik", 3271014508990001),
        ("name", "Mallory"),
        ("kecamatan", "Bogor Barat"),
        ("photo_ref", "photos/someone-else.jpg"),
    ],
)
def test_identity_fields_edited_without_history_break_the_intake_row(
    day: str, tamper: Tamper, column: str, value: object
) -> None:
    record = _record(day, NIKS[4])
    intake = _one(day, "SELECT min(seq) FROM history WHERE record_id = ?", (record,))
    tamper(f"UPDATE records SET {column} = ? WHERE id = ?", (value, record))
    report = _verify(day)
    assert report.first_bad_seq == intake
    assert _named(report, "history", intake)
    assert f"records id {record}" in report.problem  # type: ignore[operator]
    assert str(value) not in str(report)  # nothing personal in the report


def test_a_blank_state_edited_without_history_names_the_blank(day: str, tamper: Tamper) -> None:
    tamper("UPDATE blanks SET state = 'IN_STOCK' WHERE serial = 103")
    report = _verify(day)
    assert _named(report, "blanks", 103)
    assert report.findings[0].seq == _one(
        day, "SELECT max(seq) FROM blank_history WHERE serial = 103"
    )


def test_a_blank_moved_to_another_batch_or_record_is_named(day: str, tamper: Tamper) -> None:
    tamper("UPDATE blanks SET batch = 'B-9' WHERE serial = 106")
    tamper("UPDATE blanks SET record_id = 12 WHERE serial = 101")
    report = _verify(day)
    assert _named(report, "blanks", 106)
    assert _named(report, "blanks", 101)


def test_deleted_and_added_cards_are_named(day: str, tamper: Tamper) -> None:
    tamper("DELETE FROM cards WHERE serial = 102")
    report = _verify(day)
    assert _named(report, "cards", 102)
    assert "missing" in str(report.findings[0])
    tamper(
        "INSERT INTO cards (record_id, serial, valid, created_at) VALUES (?, 110, 0, 'now')",
        (_record(day, NIKS[9]),),
    )
    assert _named(_verify(day), "cards", 110)


def test_a_card_made_valid_again_is_named(day: str, tamper: Tamper) -> None:
    tamper("UPDATE cards SET valid = 1 WHERE serial = 100")  # the spoiled card
    assert _named(_verify(day), "cards", 100)


def test_deleted_blanks_and_records_are_named(day: str, tamper: Tamper) -> None:
    tamper("DELETE FROM blanks WHERE serial = 115")
    report = _verify(day)
    assert _named(report, "blanks", 115)
    assert _named(report, "blank_lots", 1)
    # The blank's receipt chained its lot: the blank history says so too.
    receipt = _one(day, "SELECT min(seq) FROM blank_history WHERE serial = 115")
    assert _named(report, "blank_history", receipt)
    record = _record(day, NIKS[11])
    tamper("DELETE FROM records WHERE id = ?", (record,))
    assert _named(_verify(day), "records", record)


def test_a_lot_stretched_over_serials_never_received_is_named(day: str, tamper: Tamper) -> None:
    tamper("UPDATE blank_lots SET last_serial = 129")
    assert _named(_verify(day), "blank_lots", 1)


def test_deleted_and_inserted_history_rows_are_named(day: str, tamper: Tamper) -> None:
    tamper("DELETE FROM history WHERE seq = 20")
    report = _verify(day)
    assert (report.first_bad_seq, report.findings[0].row) == (21, "20")
    assert "missing" in report.problem  # type: ignore[operator]


def test_a_chain_read_in_many_chunks_is_checked_in_order(
    day: str, tamper: Tamper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of three rows: on PostgreSQL read by two connections in one snapshot, each
    chunk by whichever has less queued; the rows still meet the check in order, so the ledger
    verifies, and an edit and a deletion far down the chain are named where they are."""
    monkeypatch.setattr(ektpcore.ledger.chain, "CHUNK", 3)
    whole = _verify(day)
    assert whole.ok
    last = _one(day, "SELECT max(seq) FROM history")
    assert last > 20
    tamper("UPDATE history SET actor = 'mallory' WHERE seq = ?", (last - 2,))
    report = _verify(day)
    assert (report.first_bad_seq, report.rows) == (last - 2, whole.rows)
    assert _named(report, "history", last - 2)
    tamper("DELETE FROM history WHERE seq = 11")
    report = _verify(day)
    assert (report.first_bad_seq, report.findings[0].row) == (12, "11")


@pytest.mark.parametrize("table", ["history", "blank_history", "audit"])
def test_a_row_renumbered_far_past_the_chain_is_named_without_walking_there(
    day: str, tamper: Tamper, table: str
) -> None:
    """A chained row's number set to 2^62: the gap it leaves and the row itself are named
    (the check reads the rows the chain can hold, not every number up to the largest)."""
    tamper(f"UPDATE {table} SET seq = ? WHERE seq = 2", (2**62,))
    report = _verify(day)
    # First what the walk finds where the row was: missing (the audit's two rows: its tail
    # cut), then the row past the chain.
    assert report.problem is not None
    assert "missing" in report.problem if table != "audit" else "removed" in report.problem
    assert _named(report, table, 2**62)
    assert any("renumbered or added" in f.problem for f in report.findings)


def test_an_epoch_dropped_or_edited_breaks_the_chain(day: str, tamper: Tamper) -> None:
    tamper("DELETE FROM chain_epochs WHERE chain = 'blank_history'")
    report = _verify(day)
    assert (report.first_bad_seq, report.findings[0].table) == (1, "blank_history")
    tamper("UPDATE chain_epochs SET fingerprint = 'someone-else' WHERE chain = 'history'")
    assert _named(_verify(day), "chain_epochs", "history from 1")
    tamper("UPDATE chain_epochs SET fingerprint = NULL, first_seq = 2 WHERE chain = 'history'")
    assert _verify(day).first_bad_seq == 1  # row 1 is read in the first format: it breaks


def test_a_key_ring_or_any_chain_object_checks_what_sha256_checks(day: str) -> None:
    """The chain check takes any object with ``first_break`` (the contract a ``KeyRing``
    keeps); given the open chain's own, it finds what the built-in SHA-256 check finds."""
    from ektpcore.ledger import chain

    with Ledger(day) as led:
        db = led._reads
        (epoch,) = [e for e in chain.epochs(db, RECORD_CHAIN) if e.link is not None]
        rows = chain._read(db, RECORD_CHAIN, 1, 10_000)
        subjects = chain.subject_rows(db, RECORD_CHAIN, [])
        columns = list(range(len(RECORD_CHAIN.columns) + 1))
        subject = chain._subject(RECORD_CHAIN, (subjects, 1))
        args = (epoch.link, epoch.format, b"history", columns, subject)
        assert rows.first_break(None, *args) is None
        assert rows.first_break(chain.OPEN, *args) is None
        moved = (bytes(32), *args[1:])  # another start: both break at the first row
        assert rows.first_break(None, *moved) == rows.first_break(chain.OPEN, *moved) == 0


def test_rows_written_before_the_epochs_keep_verifying(
    ledger_location: str, tamper: Tamper
) -> None:
    """A ledger of schema 8 (its rows joined with 0x1f, as ektpcore wrote them then) migrates
    without a row rewritten: its rows verify as they are, new rows start an epoch of the
    canonical format, and an edit on either side of the epoch is named."""
    store = ektpcore.ledger.open_store(ledger_location)
    at = "2017-11-13T01:00:00.000000+00:00"
    with store.transaction() as conn:
        for number, script in enumerate(ektpcore.ledger._MIGRATIONS[:8], start=1):
            for statement in store.migration(script):
                conn.execute(statement)
            store.set_schema_version(conn, number)
        db = ektpcore.ledger.Session(store, conn)
        link = bytes(32)
        for seq, nik in enumerate(NIKS[:2], start=1):
            db.execute(
                "INSERT INTO records (nik, state, updated_at) VALUES (?,?,?)",
                (int(nik), "PRINT_READY", at),
            )
            row = (seq, seq, at, "ani", "OPERATOR", None, "PRINT_READY", "intake", None, None, None)
            (link,) = _ektpcore.history_chain(link, [payload(row)])
            db.execute(f"INSERT INTO history ({HISTORY}, hash) VALUES ({'?,' * 11}?)", (*row, link))
        db.execute("UPDATE chain_head SET seq = 2, hash = ? WHERE id = 1", (link,))
    store.close()
    with Ledger(ledger_location) as led:
        assert led.verify().ok
        led.transition(NIKS[:2], State.QUEUED, OPERATOR, batch="B-1")
        assert led.verify().ok
    assert _query(
        ledger_location, "SELECT first_seq, format FROM chain_epochs WHERE chain = 'history'"
    ) == [(3, 2)]
    assert _one(ledger_location, "SELECT hash FROM history WHERE seq = 2") == link  # kept
    tamper("UPDATE history SET actor = 'mallory' WHERE seq = 2")
    assert _verify(ledger_location).first_bad_seq == 2
    tamper("UPDATE history SET actor = 'ani' WHERE seq = 2")
    tamper("UPDATE history SET batch = 'B-9' WHERE seq = 4")
    assert _verify(ledger_location).first_bad_seq == 4


# -- what only the anchor catches in an open ledger ----------------------------------------------


def _rechain(location: str, tamper: Tamper, start: int, edit: Callable[[list[Any]], None]) -> None:
    """Rewrites the record history from ``start`` on as an attacker who knows the open format
    would: each row edited, every link after it recomputed with SHA-256, the head moved."""
    rows = [
        list(r) for r in _query(location, f"SELECT {HISTORY} FROM history WHERE seq >= ?", (start,))
    ]
    columns = ", ".join(RECORD_CHAIN.subject.columns)  # type: ignore[union-attr]
    subjects = {r[0]: r[1:] for r in _query(location, f"SELECT id, {columns} FROM records")}
    if start > 1:
        previous = bytes(_one(location, "SELECT hash FROM history WHERE seq = ?", (start - 1,)))
    else:
        previous = bytes(_one(location, "SELECT link FROM chain_epochs WHERE chain = 'history'"))
    for row in rows:
        edit(row)
        fields = (*row, *subjects[row[1]]) if row[5] is None else tuple(row)
        link = _ektpcore.history_chain(previous, _ektpcore.history_payloads(b"history", [fields]))[
            0
        ]
        tamper("UPDATE history SET actor = ?, hash = ? WHERE seq = ?", (row[3], link, row[0]))
        previous = link
    tamper("UPDATE chain_head SET hash = ? WHERE id = 1", (previous,))


def _anchored_day(location: str, anchor: Path) -> None:
    with Ledger(location, anchor=FileAnchor(anchor), anchor_period=0) as led:
        _day(led)


def test_a_rewritten_chain_passes_alone_and_fails_against_the_anchor(
    ledger_location: str, tamper: Tamper, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.log"
    _anchored_day(ledger_location, anchor)
    assert len(anchor.read_text().splitlines()) >= 6  # one per transaction that moved a chain
    assert _verify(ledger_location, FileAnchor(anchor)).ok

    def mallory(row: list[Any]) -> None:
        row[3] = "mallory"

    _rechain(ledger_location, tamper, 1, mallory)  # the whole chain, every link recomputed
    assert _verify(ledger_location).ok  # an open ledger cannot tell by itself
    report = _verify(ledger_location, FileAnchor(anchor))
    assert not report.ok
    assert "rewritten" in report.problem  # type: ignore[operator]


def test_a_forged_row_in_the_middle_is_caught_by_the_anchor(
    ledger_location: str, tamper: Tamper, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.log"
    _anchored_day(ledger_location, anchor)
    seq = _one(ledger_location, "SELECT min(seq) FROM history WHERE to_state = 'QUEUED'")

    def forge(row: list[Any]) -> None:
        if row[0] == seq:
            row[3] = "mallory"

    _rechain(ledger_location, tamper, seq, forge)
    assert _verify(ledger_location).ok
    report = _verify(ledger_location, FileAnchor(anchor))
    assert not report.ok
    assert report.findings[0].table == "history"


def test_the_tail_cut_off_and_the_head_set_back(
    ledger_location: str, tamper: Tamper, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.log"
    _anchored_day(ledger_location, anchor)
    with Ledger(ledger_location, anchor=FileAnchor(anchor), anchor_period=0) as led:
        led.transition(NIKS[5:6], State.QC_PASSED, OPERATOR)
    last = _one(ledger_location, "SELECT max(seq) FROM history")
    record = _record(ledger_location, NIKS[5])
    # Everything set back as it was before the last transaction: the row, the head, the state.
    tamper("DELETE FROM history WHERE seq = ?", (last,))
    previous = _one(ledger_location, "SELECT hash FROM history WHERE seq = ?", (last - 1,))
    tamper("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (last - 1, previous))
    tamper("UPDATE records SET state = 'ENCODED' WHERE id = ?", (record,))
    assert _verify(ledger_location).ok
    report = _verify(ledger_location, FileAnchor(anchor))
    assert (report.first_bad_seq, report.findings[0].row) == (last, str(last))
    assert "lost" in report.problem  # type: ignore[operator]


def test_a_cut_tail_that_leaves_the_tables_ahead_is_caught_without_the_anchor(
    day: str, tamper: Tamper
) -> None:
    last = _one(day, "SELECT max(seq) FROM history")
    record = _one(day, "SELECT record_id FROM history WHERE seq = ?", (last,))
    tamper("DELETE FROM history WHERE seq = ?", (last,))
    previous = _one(day, "SELECT hash FROM history WHERE seq = ?", (last - 1,))
    tamper("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (last - 1, previous))
    assert _named(_verify(day), "records", record)


def test_the_anchor_file_itself(ledger_location: str, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.log"
    with Ledger(ledger_location, anchor=FileAnchor(anchor), anchor_period=3600) as led:
        _day(led)
        lines = anchor.read_text().splitlines()
        assert len(lines) == 1  # the first transaction; the period holds the rest back
    lines = anchor.read_text().splitlines()
    assert len(lines) == 2  # closing anchors what was left
    checkpoint = ektpcore.ledger.Checkpoint.from_line(lines[-1])
    assert set(checkpoint.heads) == {c.table for c in ektpcore.ledger.CHAINS}
    assert checkpoint.signature is None
    assert checkpoint.fingerprint is None
    with anchor.open("a") as f:
        f.write("not a checkpoint\n")
        f.write('{"at": "x"')  # a last line cut short is left out
    report = _verify(ledger_location, FileAnchor(anchor))
    assert [(f.table, f.row) for f in report.findings] == [("anchor", "line 3")]
    assert _verify(ledger_location, [checkpoint]).ok  # any checkpoints will do


def test_one_anchor_per_ledger(ledger_location: str, tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.anchor", tmp_path / "theirs.anchor"
    _anchored_day(ledger_location, ours)
    other = tmp_path / "other.db"
    with Ledger(other, anchor=FileAnchor(theirs), anchor_period=0) as led:
        led.blanks.receive("LOT-9", 1, 5, SUPERVISOR)
        their_identity = led.identity
    with Ledger(ledger_location) as led:
        identity = led.identity
    assert identity is not None
    assert their_identity is not None
    assert identity != their_identity
    lines = ours.read_text().splitlines()
    assert {ektpcore.ledger.Checkpoint.from_line(line).ledger for line in lines} == {identity}
    # Another ledger's anchor: every line named, none held to.
    report = _verify(ledger_location, FileAnchor(theirs))
    assert [f.row for f in report.findings] == ["line 1"]
    assert report.problem == (
        f"the anchor's line 1 is a checkpoint of another ledger ({their_identity}; this one"
        f" is {identity}): one anchor file per ledger"
    )
    # Appending to it is refused before anything is changed.
    before = theirs.read_bytes()
    with pytest.raises(AnchorError, match="holds checkpoints of another ledger"):
        Ledger(ledger_location, anchor=FileAnchor(theirs))
    assert theirs.read_bytes() == before
    # Lines copied into our anchor from theirs are named where they are.
    with ours.open("a") as f:
        f.write(before.decode())
    report = _verify(ledger_location, FileAnchor(ours))
    assert _named(report, "anchor", f"line {len(lines) + 1}")
    with pytest.raises(AnchorError):
        Ledger(ledger_location, anchor=FileAnchor(ours))
    # Another ledger's process writing into the file after it was opened: the next
    # checkpoint is refused (the change it follows was committed, and stands).
    ours.write_text("\n".join(lines) + "\n")
    led = Ledger(ledger_location, anchor=FileAnchor(ours), anchor_period=0)
    led.transition(NIKS[8:9], State.ON_HOLD, OPERATOR, reason="foto buram")
    with ours.open("a") as f:
        f.write(before.decode())
    with pytest.raises(AnchorError):
        led.transition(NIKS[9:10], State.ON_HOLD, OPERATOR, reason="foto buram")
    assert led.state_of(NIKS[9]) is State.ON_HOLD
    with pytest.raises(AnchorError):
        led.close()  # its last checkpoint too (the ledger is closed all the same)


def test_anchor_lines_from_before_ledgers_had_an_identity_still_hold(
    ledger_location: str, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.log"
    _anchored_day(ledger_location, anchor)
    # As lines were written before checkpoints carried the ledger: no "ledger" field.
    old = [
        dataclasses.replace(ektpcore.ledger.Checkpoint.from_line(line), ledger=None).line()
        for line in anchor.read_text().splitlines()
    ]
    assert all('"ledger"' not in line for line in old)
    anchor.write_text("\n".join(old) + "\n")
    assert _verify(ledger_location, FileAnchor(anchor)).ok
    with Ledger(ledger_location, anchor=FileAnchor(anchor), anchor_period=0) as led:
        led.transition(NIKS[8:9], State.ON_HOLD, OPERATOR, reason="foto buram")
    assert _verify(ledger_location, FileAnchor(anchor)).ok


def test_a_sealed_ledgers_checkpoints_sign_its_identity(
    ledger_location: str, keys: KeyFile, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.log"
    _sealed(ledger_location, keys, anchor)
    lines = anchor.read_text().splitlines()
    assert _verify_sealed(ledger_location, keys, FileAnchor(anchor)).ok
    last = ektpcore.ledger.Checkpoint.from_line(lines[-1])
    # The identity taken out (as if written before identities), or another ledger's put in:
    # the signature no longer verifies.
    for ledger in (None, "0" * 32):
        edited = dataclasses.replace(last, ledger=ledger).line()
        anchor.write_text("\n".join([*lines[:-1], edited]) + "\n")
        report = _verify_sealed(ledger_location, keys, FileAnchor(anchor))
        assert _named(report, "anchor", f"line {len(lines)}")


def test_the_ledgers_identity_is_kept_in_its_audit_once(day: str, tamper: Tamper) -> None:
    with Ledger(day) as led:
        identity = led.identity
    (seq,) = [r[0] for r in _query(day, "SELECT seq FROM audit WHERE event = 'ledger identified'")]
    tamper("UPDATE audit SET detail = ? WHERE seq = ?", (f"ledger {'0' * 32}", seq))
    with Ledger(day) as led:
        assert led.identity == "0" * 32
    assert _named(_verify(day), "audit", seq)  # the audit's chain breaks there
    assert identity != "0" * 32


# -- a sealed ledger: links keyed, checkpoints signed -------------------------------------------


@pytest.fixture
def keys(tmp_path: Path) -> KeyFile:
    (tmp_path / "keys").mkdir()
    return KeyFile.create(tmp_path / "keys" / "ledger.keys")


def _sealed(location: str, keys: KeyFile, anchor: Path | None = None) -> None:
    place = None if anchor is None else FileAnchor(anchor)
    with Ledger(location, keys=keys, anchor=place, anchor_period=0) as led:
        _day(led)


def _verify_sealed(location: str, keys: KeyFile, anchor: Any = None) -> VerifyReport:
    with Ledger(location, keys=keys) as led:
        return led.verify(anchor=anchor)


def test_a_sealed_ledger_catches_rows_relinked_with_sha256(
    ledger_location: str, tamper: Tamper, keys: KeyFile
) -> None:
    _sealed(ledger_location, keys)
    assert _verify_sealed(ledger_location, keys).ok
    formats = _query(
        ledger_location, "SELECT DISTINCT format FROM chain_epochs WHERE chain = ?", ("history",)
    )
    assert formats == [(3,)]
    seq = _one(ledger_location, "SELECT min(seq) FROM history WHERE to_state = 'ENCODED'")

    def forge(row: list[Any]) -> None:
        if row[0] == seq:
            row[3] = "mallory"

    _rechain(ledger_location, tamper, seq, forge)  # what an open ledger could not tell
    report = _verify_sealed(ledger_location, keys)
    assert (report.first_bad_seq, report.findings[0].table) == (seq, "history")


def test_a_keyed_chain_downgraded_to_sha256_is_caught_with_the_keys(
    ledger_location: str, tamper: Tamper, keys: KeyFile
) -> None:
    _sealed(ledger_location, keys)
    # The epoch says "open" from the first row on, its link and every row's recomputed with
    # SHA-256: a consistent open chain, as if the ledger had never been keyed.
    descriptor = _ektpcore.history_payloads(b"chain_epochs", [("history", 1, 2, None)])
    (link,) = _ektpcore.history_chain(bytes(32), descriptor)
    tamper(
        "UPDATE chain_epochs SET format = 2, fingerprint = NULL, link = ? WHERE chain = 'history'",
        (link,),
    )
    _rechain(ledger_location, tamper, 1, lambda row: None)
    report = _verify_sealed(ledger_location, keys)
    assert _named(report, "chain_epochs", "history from 1")
    assert "not keyed" in report.problem  # type: ignore[operator]


def test_a_keyed_epoch_moved_later_is_caught(
    ledger_location: str, tamper: Tamper, keys: KeyFile
) -> None:
    _sealed(ledger_location, keys)
    tamper("UPDATE chain_epochs SET first_seq = 13 WHERE chain = 'history'")
    # Rows 1..12 now read as the first format; the epoch's link no longer follows row 12.
    report = _verify_sealed(ledger_location, keys)
    assert not report.ok
    assert report.first_bad_seq == 1


def test_a_sealed_ledgers_checkpoints_are_signed(
    ledger_location: str, keys: KeyFile, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.log"
    _sealed(ledger_location, keys, anchor)
    with Ledger(ledger_location, keys=keys) as ledger:
        assert ledger.identity is not None
        ring = keys.key_ring().bind(bytes.fromhex(ledger.identity), True)
    lines = anchor.read_text().splitlines()
    checkpoints = [ektpcore.ledger.Checkpoint.from_line(line) for line in lines]
    assert all(c.fingerprint == ring.fingerprint for c in checkpoints)
    assert all(
        c.signature is not None and verify_signature(ring.verify_key, c.message(), c.signature)
        for c in checkpoints
    )
    assert _verify_sealed(ledger_location, keys, FileAnchor(anchor)).ok
    # A line moved back to an earlier head (to hide a cut tail) no longer verifies.
    edited = lines[-1].replace('"history":[', '"history":[1', 1)
    anchor.write_text("\n".join([*lines[:-1], edited]) + "\n")
    report = _verify_sealed(ledger_location, keys, FileAnchor(anchor))
    assert _named(report, "anchor", f"line {len(lines)}")
    assert "signature" in report.problem  # type: ignore[operator]


def test_an_open_ledger_sealed_later_keeps_verifying(
    ledger_location: str, tamper: Tamper, keys: KeyFile
) -> None:
    with Ledger(ledger_location) as led:
        _day(led)
    with Ledger(ledger_location) as led:
        assert led.seal(keys) == len(NIKS)
        assert led.verify().ok
    with Ledger(ledger_location, keys=keys) as led:
        led.transition(NIKS[6:8], State.PRINT_READY, OPERATOR, reason="batch undone")
        assert led.verify().ok
    epochs = _query(
        ledger_location, "SELECT chain, format FROM chain_epochs ORDER BY chain, first_seq"
    )
    assert ("history", 2) in epochs
    assert ("history", 3) in epochs
    # The intake rows chained the names in clear; the names are sealed now, and an intake row
    # still answers for its record's: a record's sealed fields swapped with another's break it.
    first, second = _query(ledger_location, "SELECT id, sealed FROM records ORDER BY id LIMIT 2")
    tamper("UPDATE records SET sealed = ? WHERE id = ?", (second[1], first[0]))
    report = _verify_sealed(ledger_location, keys)
    assert _named(report, "records", first[0])  # its sealed fields do not open
    intake = _one(ledger_location, "SELECT min(seq) FROM history WHERE record_id = ?", (first[0],))
    assert _named(report, "history", intake)


# -- SQLite's write-ahead log lost ------------------------------------------------------------

WRITER = """
import sys
from ektpcore import Actor, FileAnchor, Ledger, Role, State
ledger = Ledger(sys.argv[1], anchor=FileAnchor(sys.argv[2]), anchor_period=0)
actor = Actor("ani", Role.OPERATOR)
niks = sys.argv[3].split(",")
step = 0
while True:
    if step % 2 == 0:
        ledger.transition(niks, State.QUEUED, actor, batch=f"b{step}")
    else:
        ledger.transition(niks, State.PRINT_READY, actor, reason="requeued")
    step += 1
    print(step, flush=True)
"""


def _writer(path: Path, anchor: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(anchor), ",".join(NIKS[8:])],
        stdout=subprocess.PIPE,
        text=True,
    )


def _steps(proc: subprocess.Popen[str], n: int) -> None:
    assert proc.stdout is not None
    for _ in range(n):
        assert proc.stdout.readline(), "the writer stopped early"


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def _lose_the_log(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize("when", ["after the kill", "while it writes"])
def test_a_lost_write_ahead_log_is_caught_by_the_anchor(tmp_path: Path, when: str) -> None:
    path, anchor = tmp_path / "bureau.db", tmp_path / "anchor.log"
    with Ledger(path) as led:
        _day(led)
    proc = _writer(path, anchor)
    try:
        _steps(proc, 3)
        if when == "while it writes":
            _lose_the_log(path)
            _steps(proc, 3)
    finally:
        _kill(proc)
    _lose_the_log(path)
    # The file alone is a consistent ledger of before the writer: nothing in it says otherwise.
    assert _verify(str(path)).ok
    report = _verify(str(path), FileAnchor(anchor))
    assert not report.ok
    assert "lost" in report.problem  # type: ignore[operator]
    assert report.findings[0].table == "history"


def test_a_ledger_file_rolled_back_to_an_older_copy(tmp_path: Path) -> None:
    path, anchor = tmp_path / "bureau.db", tmp_path / "anchor.log"
    _anchored_day(str(path), anchor)
    shutil.copy(path, tmp_path / "copy.db")
    with Ledger(path, anchor=FileAnchor(anchor), anchor_period=0) as led:
        led.transition(NIKS[1:6], State.QC_PASSED, OPERATOR)
    shutil.copy(tmp_path / "copy.db", path)
    assert _verify(str(path)).ok
    assert "lost" in _verify(str(path), FileAnchor(anchor)).problem  # type: ignore[operator]


# -- random edits -------------------------------------------------------------------------------

# Every column verify answers for, with the kind of value it holds (records.batch only while the
# record is queued: elsewhere it is what the record last waited in, and nothing reads it).
COVERED: dict[str, tuple[str, dict[str, str]]] = {
    "history": (
        "seq",
        {c: "text" for c in RECORD_CHAIN.columns}
        | {"record_id": "int", "seq": "int", "hash": "blob"},
    ),
    "blank_history": (
        "seq",
        {
            "seq": "int",
            "serial": "int",
            "at": "text",
            "actor": "text",
            "role": "text",
            "from_state": "text",
            "to_state": "text",
            "reason": "text",
            "batch": "text",
            "record_id": "int",
            "hash": "blob",
        },
    ),
    "records": (
        "id",
        {
            "id": "int",
            "nik": "int",
            "name": "text",
            "sex": "int",
            "kecamatan": "text",
            "kelurahan": "text",
            "photo_ref": "text",
            "signature_ref": "text",
            "card": "text",
            "state": "text",
        },
    ),
    "blanks": (
        "serial",
        {"serial": "int", "lot_id": "int", "state": "text", "batch": "text", "record_id": "int"},
    ),
    "cards": ("serial", {"record_id": "int", "serial": "int", "valid": "int"}),
    "blank_lots": ("id", {"id": "int", "first_serial": "int", "last_serial": "int"}),
    "chain_head": ("id", {"seq": "int", "hash": "blob"}),
    "blank_chain_head": ("id", {"seq": "int", "hash": "blob"}),
    "chain_epochs": (
        "first_seq",
        {
            "chain": "text",
            "first_seq": "int",
            "format": "int",
            "fingerprint": "text",
            "link": "blob",
        },
    ),
}


def _values(kind: str, postgres: bool) -> st.SearchStrategy[Any]:
    text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
    typed = {
        "text": text | st.sampled_from(["QUEUED", "ISSUED", "B-1", "USED", "history", ""]),
        "int": st.integers(-3, 130) | st.integers(1, 2**62),
        "blob": st.binary(min_size=0, max_size=33),
    }[kind]
    if postgres:
        return st.none() | typed
    return st.none() | typed | text | st.integers(-3, 130)  # SQLite keeps any type anywhere


@st.composite
def edits(draw: st.DrawFn, postgres: bool) -> tuple[str, str, int, str, Any]:
    """(what, table, row index, column, value): an update, a delete or a copy of a row."""
    table = draw(st.sampled_from(sorted(COVERED)))
    _, columns = COVERED[table]
    column = draw(st.sampled_from(sorted(columns)))
    what = draw(st.sampled_from(["update", "update", "update", "delete", "copy"]))
    return (
        what,
        table,
        draw(st.integers(0, 10_000)),
        column,
        draw(_values(columns[column], postgres)),
    )


def _columns(led: Ledger, table: str) -> list[str]:
    if "://" not in led.path:
        return [str(r[1]) for r in led._query(f"PRAGMA table_info({table})")]
    return [
        str(r[0])
        for r in led._query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " AND table_schema = current_schema() ORDER BY ordinal_position",
            (table,),
        )
    ]


def _where(names: list[str], row: tuple[Any, ...], table: str) -> tuple[str, tuple[Any, ...]]:
    """A WHERE that names exactly this row (its whole key)."""
    if table == "chain_epochs":
        chain, first = row[names.index("chain")], row[names.index("first_seq")]
        return "chain = ? AND first_seq = ?", (chain, first)
    key, _ = COVERED[table]
    return f"{key} = ?", (row[names.index(key)],)


def _refused(err: Exception) -> bool:
    """Whether ``err`` is the database refusing a row (a constraint, a type)."""
    return isinstance(err, sqlite3.Error | ektpcore.LedgerError) or type(err).__module__.startswith(
        "psycopg"
    )


def _apply(
    led: Ledger, tamper: Tamper, edit: tuple[str, str, int, str, Any]
) -> Callable[[], None] | None:
    """Makes ``edit`` behind the ledger's back; returns how to undo it, or ``None`` when it
    changed nothing or the database refused it."""
    what, table, index, column, value = edit
    key_column, _ = COVERED[table]
    names = _columns(led, table)
    rows = led._query(f"SELECT * FROM {table} ORDER BY {key_column}")
    if not rows:
        return None
    row = rows[index % len(rows)]
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({','.join('?' * len(names))})"
    where, key = _where(names, row, table)
    changed = list(row)
    changed[names.index(column)] = value
    new_where, new_key = _where(names, tuple(changed), table)
    try:
        if what == "delete":
            tamper(f"DELETE FROM {table} WHERE {where}", key)
            return lambda: tamper(insert, row)
        if what == "copy":
            if None in new_key:
                return None  # the database would number the copy itself
            tamper(insert, tuple(changed))
            return lambda: tamper(f"DELETE FROM {table} WHERE {new_where}", new_key)
        tamper(f"UPDATE {table} SET {column} = ? WHERE {where}", (value, *key))
    except Exception as err:
        if _refused(err):
            return None
        raise
    old = row[names.index(column)]
    after = led._query(f"SELECT {column} FROM {table} WHERE {new_where}", new_key)

    def undo() -> None:
        tamper(f"UPDATE {table} SET {column} = ? WHERE {new_where}", (old, *new_key))

    if after and _same(after[0][0], old):
        undo()
        return None
    return undo


def _same(a: object, b: object) -> bool:
    if isinstance(a, memoryview | bytearray):
        a = bytes(a)
    if isinstance(b, memoryview | bytearray):
        b = bytes(b)
    return type(a) is type(b) and a == b


@contextmanager
def _behind_the_back(location: str) -> Iterator[Tamper]:
    """Like the ``tamper`` fixture, on one connection kept open: SQLite's triggers are dropped
    for the while (and put back), PostgreSQL's are off for the session."""
    if "://" in location:
        import psycopg

        from ektpcore.ledger.postgres import translate

        with psycopg.connect(location, autocommit=True) as pg:
            pg.execute("SET session_replication_role = replica")
            yield lambda sql, params=(): pg.execute(translate(sql), params) and None
        return
    raw = sqlite3.connect(location, isolation_level=None)
    triggers = raw.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        raw.execute(f"DROP TRIGGER {name}")
    try:
        yield lambda sql, params=(): raw.execute(sql, params) and None
    finally:
        for _, text in triggers:
            raw.execute(text)
        raw.close()


def test_random_row_edits_are_caught(ledger_location: str) -> None:
    postgres = "://" in ledger_location
    led = Ledger(ledger_location)
    _day(led)
    writer = _behind_the_back(ledger_location)
    tamper = writer.__enter__()

    examples = settings().max_examples

    @settings(
        max_examples=min(examples, 40) if postgres else examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(edits(postgres))
    def each(edit: tuple[str, str, int, str, Any]) -> None:
        undo = _apply(led, tamper, edit)
        assume(undo is not None)
        assert undo is not None
        try:
            report = led.verify()
            assert not report.ok, edit
            assert report.findings
            assert report.problem
        finally:
            undo()
        assert led.verify().ok, edit

    try:
        each()
    finally:
        writer.__exit__(None, None, None)
        led.close()


def _covered(path: Path) -> list[Any]:
    """Everything verify answers for in a SQLite file, read straight from its tables (not
    through an index: verify reads none)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.text_factory = bytes
    try:
        out = []
        for table, (_, columns) in sorted(COVERED.items()):
            names = ", ".join(sorted(columns))
            out.append(sorted(db.execute(f"SELECT {names} FROM {table} NOT INDEXED"), key=repr))
        queued = db.execute("SELECT id, batch, state FROM records NOT INDEXED").fetchall()
        out.append(sorted((i, b) for i, b, s in queued if s == b"QUEUED"))
        return out
    finally:
        db.close()


@pytest.fixture(scope="module")
def day_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bytes") / "bureau.db"
    with Ledger(path) as led:
        _day(led)
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_byte_edits_of_a_ledger_file_are_caught(
    day_file: Path, tmp_path: Path, data: st.DataObject
) -> None:
    original = day_file.read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255).filter(lambda v, at=at: v != damaged[at]))
    path = tmp_path / f"damaged-{os.getpid()}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(bytes(damaged))
    refused = ""
    try:
        with Ledger(path, create=False) as led:
            report = led.verify()
    except ektpcore.LedgerFileError:
        return  # a file that no longer opens, or no longer reads, is caught
    except ektpcore.LedgerError as err:
        refused = str(err)
    if refused:
        # The header's schema version made larger: refused like a ledger of a later ektpcore.
        assert "newer than this ektpcore" in refused
        return
    if report.ok:
        # Nothing verify answers for changed (free space, an index, a column it does not
        # cover): reading the file straight must show the same ledger.
        assert _covered(path) == _covered(day_file)
