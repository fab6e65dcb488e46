"""The questions a desk asks the ledger besides where one record is: its batches, its lots,
the ribbons in its printers, its manifests, every record, a card by the blank it is on; a
backup; and sealing an open ledger whose records hold the card's fields."""

from __future__ import annotations

import stat
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
