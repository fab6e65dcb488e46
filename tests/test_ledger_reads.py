"""The questions a desk asks the ledger besides where one record is: its batches, its lots,
the ribbons in its printers, its manifests, every record, a card by the blank it is on; a
backup; and sealing an open ledger whose records hold the card's fields."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Role, State
from ektpcore.keys import KeyFile

from .conftest import card_intake

OPERATOR, SUPERVISOR = Actor("ani", Role.OPERATOR), Actor("budi", Role.SUPERVISOR)
NIKS = [int(v) for v in ektpcore.sample_niks(8, seed=21)]


def _day(led: Ledger) -> None:
    led.add_records(
        NIKS,
        OPERATOR,
        state=State.PRINT_READY,
        kecamatan=["Bogor Barat"] * 8,
        kelurahan=["Menteng"] * 4 + ["Cilendek"] * 4,
        **card_intake(NIKS, "foto.png"),
    )
    led.blanks.receive("LOT-A", 1, 10, SUPERVISOR)
    led.blanks.receive("LOT-B", 101, 110, SUPERVISOR)
    led.ribbons.install("P2", "YMCKO", 500, OPERATOR)
    led.ribbons.install("P1", "KO", 1000, OPERATOR, remaining=3)
    led.queue(NIKS[:5], "B-1", "P1", OPERATOR)
    led.queue(NIKS[5:], "B-2", "P2", OPERATOR)


def test_batches_lots_ribbons_records_and_cards(ledger_location: str) -> None:
    with Ledger(ledger_location) as led:
        _day(led)
        led.transition(
            NIKS[:2],
            State.PRINTED,
            OPERATOR,
            batch="B-1",
            printer="P1",
            blanks=led.journal.free_blanks("B-1")[:2],
        )
        # A spoiled card goes back and is queued again elsewhere: it leaves B-1's counts.
        led.transition(NIKS[:1], State.PRINT_READY, OPERATOR, reason="jam")
        led.queue(NIKS[:1], "B-3", "P2", OPERATOR)
        b1, b2, b3 = led.batches()
        assert (b1.name, b1.printers, b2.name, b3.name) == ("B-1", {"P1": 5}, "B-2", "B-3")
        assert b1.states == {State.PRINTED: 1, State.QUEUED: 3}
        assert b1.blanks == {BlankState.USED: 1, BlankState.SPOILED: 1, BlankState.ALLOCATED: 3}
        assert (b1.waiting, b3.waiting) == (3, 1)
        assert led.batches("B-9") == []
        assert [b.name for b in led.batches("B-2")] == ["B-2"]
        # The batches still waiting, and those with printed cards, found by their records.
        assert [b.name for b in led.batches(holding=[State.QUEUED])] == ["B-1", "B-2", "B-3"]
        (printed,) = led.batches(holding=[State.PRINTED, State.ENCODED])
        assert printed == b1
        assert led.batches("B-2", holding=[State.PRINTED]) == []
        assert led.batches("B-1", holding=[State.PRINTED]) == [b1]
        assert led.batches(holding=[State.ISSUED]) == []
        assert len(led.batch("B-1")) == 5
        assert len(led.batch("B-1", current=True)) == 4
        lots = led.blanks.lots()
        assert [(lot.reference, lot.first, lot.count, lot.complete) for lot in lots] == [
            ("LOT-A", 1, 10, True),
            ("LOT-B", 101, 10, True),
        ]
        assert [(r.printer, r.remaining) for r in led.ribbons.in_printers()] == [
            ("P1", 1),
            ("P2", 500),
        ]
        assert [int(r.nik) for r in led.records()] == NIKS
        assert [int(r.nik) for r in led.records(State.PRINTED)] == [NIKS[1]]
        serial = led.where_is(NIKS[1]).card_serial
        assert serial is not None
        assert int(led.where_is_card(serial).nik) == NIKS[1]
        with pytest.raises(ektpcore.UnknownRecordError, match="no card was printed on blank 9"):
            led.where_is_card(9)
        assert led.distribution.manifests() == []


def test_a_backup_is_a_private_verified_copy(tmp_path: Path) -> None:
    with Ledger(tmp_path / "bureau.db") as led:
        _day(led)
        led.backup(tmp_path / "copy.db")
        with pytest.raises(ektpcore.LedgerFileError, match="exists"):
            led.backup(tmp_path / "copy.db")
        with pytest.raises(ektpcore.LedgerFileError, match="cannot be written"):
            led.backup(tmp_path / "no-such-folder" / "copy.db")
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600
    with Ledger(tmp_path / "copy.db", create=False) as copy:
        assert copy.verify().ok
        assert copy.counts() == {State.QUEUED: 8}


def test_a_postgres_ledger_is_backed_up_with_its_own_tools(ledger_location: str) -> None:
    if "://" not in ledger_location:
        pytest.skip("a server's ledger only")
    with Ledger(ledger_location) as led, pytest.raises(ektpcore.LedgerError, match="pg_dump"):
        led.backup("copy.db")


def test_sealing_an_open_ledger_seals_the_cards_fields_too(
    ledger_location: str, tmp_path: Path
) -> None:
    keys = KeyFile.create(tmp_path / "bureau.keys")
    with Ledger(ledger_location) as led:
        _day(led)
        assert led.seal(keys) == 8
        assert led._query("SELECT count(*) FROM records WHERE card IS NOT NULL") == [(0,)]
    with Ledger(ledger_location, keys=keys) as led:
        record = led.where_is(NIKS[3])
        assert record.card.missing() == []
        assert record.card.religion == "Islam"
        assert record.card.rt == "001"


def test_a_schema_13_ledger_gains_the_indexes_of_the_pages_reads(ledger_location: str) -> None:
    """Migration 14 adds indexes only: a ledger of schema 13 migrates, keeps verifying, and a
    day's figures, a batch's changes, the manifests in a state and a record's showings are
    read through them."""
    store = ektpcore.ledger.open_store(ledger_location)
    with store.transaction() as conn:
        for number, script in enumerate(ektpcore.ledger._MIGRATIONS[:13], start=1):
            for statement in store.migration(script):
                conn.execute(statement)
            store.set_schema_version(conn, number)
    store.close()
    with Ledger(ledger_location) as led:
        assert led.schema_version == ektpcore.ledger.SCHEMA_VERSION == 14
        _day(led)
        assert [b.name for b in led.batches(holding=[State.QUEUED])] == ["B-1", "B-2"]
        assert led.verify().ok
        if "://" in ledger_location:
            return  # PostgreSQL plans by its statistics: a tiny table is read whole
        window = ("2026-01-01", "2026-01-02")
        plans = {
            "history_at": led._query(
                "EXPLAIN QUERY PLAN SELECT to_state, printer, count(*) FROM history"
                " WHERE at >= ? AND at < ? GROUP BY to_state, printer",
                window,
            ),
            "history_batch": led._query(
                "EXPLAIN QUERY PLAN SELECT record_id FROM history WHERE batch = ?"
                " AND to_state = 'QUEUED'",
                ("B-1",),
            ),
            "manifests_state": led._query(
                "EXPLAIN QUERY PLAN SELECT id FROM manifests WHERE state = ?", ("OPEN",)
            ),
            "audit_subject": led._query(
                "EXPLAIN QUERY PLAN SELECT at FROM audit WHERE event = ? AND subject = ?",
                ("personal data shown", "record 1"),
            ),
        }
        for index, plan in plans.items():
            assert any(index in str(row[-1]) for row in plan), (index, plan)


@pytest.mark.parametrize("recount_after", [100_000, 2])
def test_counts_by_state_follow_every_change_whichever_connection_made_it(
    ledger_location: str, recount_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records and blanks counted by state (counted once, then by the changes since; or
    recounted when many changed) agree at every step with a count of the tables themselves,
    also when another connection made the changes."""
    monkeypatch.setattr(ektpcore.ledger.tallies, "RECOUNT_AFTER", recount_after)

    def agree(led: Ledger) -> None:
        by_state = {State(key[0]): n for key, n in led.counts_by("state").items()}
        assert led.counts() == by_state
        with Ledger(ledger_location) as fresh:
            assert fresh.counts() == by_state
            assert fresh.blanks.counts() == led.blanks.counts()

    with Ledger(ledger_location) as desk, Ledger(ledger_location) as other:
        assert desk.counts() == {} == desk.blanks.counts()
        _day(other)
        assert desk.counts() == {State.QUEUED: 8}
        assert desk.blanks.counts() == {BlankState.IN_STOCK: 12, BlankState.ALLOCATED: 8}
        agree(desk)
        other.transition(
            NIKS[:2],
            State.PRINTED,
            OPERATOR,
            batch="B-1",
            printer="P1",
            blanks=other.journal.free_blanks("B-1")[:2],
        )
        other.transition(NIKS[:1], State.PRINT_READY, OPERATOR, reason="jam")
        assert desk.counts() == {State.PRINT_READY: 1, State.PRINTED: 1, State.QUEUED: 6}
        assert desk.blanks.counts()[BlankState.SPOILED] == 1
        agree(desk)
        desk.transition(NIKS[:1], State.ON_HOLD, OPERATOR, reason="data check")
        assert desk.counts()[State.ON_HOLD] == 1
        agree(desk)


def test_reconcile_counts_the_blanks_themselves_not_the_kept_tally(
    ledger_location: str, tamper: Callable[..., None]
) -> None:
    """The stock's check reads the table: a blank deleted behind the ledger's back is missing
    from it even where the tally, kept from the history, still counts it."""
    with Ledger(ledger_location) as led:
        led.blanks.receive("LOT-A", 1, 10, SUPERVISOR)
        assert led.blanks.counts() == {BlankState.IN_STOCK: 10}
        assert led.blanks.reconcile().received == sum(led.blanks.reconcile().counts.values())
        tamper("DELETE FROM blanks WHERE serial = ?", (7,))
        assert led.blanks.counts() == {BlankState.IN_STOCK: 10}  # the history did not change
        checked = led.blanks.reconcile()
        assert checked.counts == {BlankState.IN_STOCK: 9}
        assert checked.received == 10
