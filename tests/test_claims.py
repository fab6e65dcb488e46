"""Batch claims with leases and fencing: one station per batch, a station that lost its claim
records nothing, desk changes never race the printer, in-doubt cards can always be settled."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Role, State
from ektpcore.printing import CardFaces

AUDITOR, OPERATOR, SUPERVISOR, _ = (Actor(role.name.lower(), role) for role in Role)
NIKS = [int(v) for v in ektpcore.sample_niks(10, seed=11)]
SHORT = dt.timedelta(milliseconds=300)
FACES = CardFaces(
    front=np.full((648, 1016, 3), 220, np.uint8), front_black=np.full((648, 1016), 255, np.uint8)
)


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY)
        led.blanks.receive("LOT", 1, 30, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        led.queue(NIKS[:6], "B-1", "P1", OPERATOR)
        yield led


def _expire() -> None:
    time.sleep(SHORT.total_seconds() + 0.1)


def test_one_station_per_batch_and_the_refusal_names_the_holder(ledger: Ledger) -> None:
    first = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR)
    assert (first.station, first.generation, first.released) == ("P1@pc-1", 1, False)
    with pytest.raises(ektpcore.BatchClaimedError, match="P1@pc-1 until") as refused:
        ledger.claims.claim("B-1", "P2@pc-2", OPERATOR, take_over=True)
    assert refused.value.holder == "P1@pc-1"
    assert refused.value.lease_until == first.lease_until
    ledger.claims.give_back(first, OPERATOR)
    second = ledger.claims.claim("B-1", "P2@pc-2", OPERATOR)
    assert second.generation == 2
    with pytest.raises(ektpcore.LeaseLostError, match="taken over by station P2@pc-2"):
        ledger.claims.renew(first, OPERATOR)


def test_a_lapsed_claim_is_visible_and_taken_over_only_when_asked(ledger: Ledger) -> None:
    dead = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR, lease=SHORT)
    with ledger.transaction(OPERATOR) as tx:  # its card in flight when it died
        tx.claims.fence(dead)
        tx.journal.sent(NIKS[0], "B-1", "P1", ledger.journal.free_blanks("B-1")[0])
    _expire()
    assert [c.station for c in ledger.claims.expired()] == ["P1@pc-1"]
    with pytest.raises(ektpcore.BatchClaimedError, match="ran out"):
        ledger.claims.claim("B-1", "P2@pc-2", OPERATOR)
    taken = ledger.claims.claim("B-1", "P2@pc-2", OPERATOR, take_over=True)
    assert taken.generation == dead.generation + 1
    assert ledger.claims.expired() == []
    # The dead station's card is in doubt, never queued again; the dead station is fenced.
    assert ledger.state_of(NIKS[0]) is State.IN_DOUBT
    assert [n for n, _, _ in ledger.journal.in_doubt("P1")] == [NIKS[0]]
    assert NIKS[0] not in [int(r.nik) for r in ledger.queued("B-1", "P1")]
    with pytest.raises(ektpcore.LeaseLostError), ledger.transaction(OPERATOR) as tx:
        tx.claims.fence(dead)
    assert ledger.verify().ok


def test_a_desk_change_never_races_the_printer(ledger: Ledger) -> None:
    claim = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR)
    before = ledger.blanks.counts()
    with pytest.raises(ektpcore.RecordClaimedError, match="P1@pc-1 is printing"):
        ledger.transition(NIKS[1:2], State.CANCELLED, SUPERVISOR, reason="died")
    with pytest.raises(ektpcore.RecordClaimedError, match="release the claim"):
        ledger.transition(NIKS[1:2], State.PRINT_READY, OPERATOR, reason="address changed")
    assert ledger.state_of(NIKS[1]) is State.QUEUED
    assert ledger.blanks.counts() == before
    # Records outside the claimed batch are the desk's as ever.
    ledger.transition(NIKS[8:9], State.ON_HOLD, OPERATOR, reason="photo unclear")
    ledger.claims.give_back(claim, OPERATOR)
    ledger.transition(NIKS[1:2], State.PRINT_READY, OPERATOR, reason="address changed")
    # Taking a record off a batch returns its blank.
    counts = ledger.blanks.counts()
    assert counts[BlankState.ALLOCATED] == 5
    assert counts[BlankState.IN_STOCK] == 25
    assert ledger.blanks.reconcile().balanced


def test_a_supervisor_release_fences_the_holder_and_its_card_is_settled(ledger: Ledger) -> None:
    claim = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR)
    serial = ledger.journal.free_blanks("B-1")[0]
    with ledger.transaction(OPERATOR) as tx:
        tx.claims.fence(claim)
        tx.journal.sent(NIKS[0], "B-1", "P1", serial)
    with pytest.raises(ektpcore.PermissionDeniedError):
        ledger.claims.release("B-1", OPERATOR, reason="printer moved")
    released = ledger.claims.release("B-1", SUPERVISOR, reason="printer moved")
    assert released.released
    assert ledger.state_of(NIKS[0]) is State.IN_DOUBT
    # The old holder's settlement is refused: it records nothing.
    with (
        pytest.raises(ektpcore.LeaseLostError, match="released"),
        ledger.transaction(OPERATOR) as tx,
    ):
        tx.claims.fence(claim)
    with pytest.raises(ektpcore.PermissionDeniedError):
        ledger.settle(NIKS[0], OPERATOR, printed=True, note="in the tray")
    ledger.settle(NIKS[0], SUPERVISOR, printed=True, note="found in the output tray")
    assert ledger.where_is(NIKS[0]).card_serial == serial
    assert ledger.blanks.state_of(serial) is BlankState.USED
    assert ledger.journal.in_doubt("P1") == []
    assert ledger.blanks.reconcile().balanced
    assert ledger.verify().ok


def test_every_in_doubt_card_can_be_settled_whatever_happened_before(ledger: Ledger) -> None:
    serials = ledger.journal.free_blanks("B-1")
    ledger.transition(
        NIKS[:2], State.PRINTED, OPERATOR, batch="B-1", printer="P1", blanks=serials[:2]
    )
    # A printed card put in doubt by hand (a supervisor unsure it came out whole) ...
    ledger.transition(NIKS[:2], State.IN_DOUBT, SUPERVISOR, reason="tray mixed up")
    # ... settled as printed keeps its card; as not printed spoils it.
    ledger.settle(NIKS[0], SUPERVISOR, printed=True, note="card checked")
    ledger.settle(NIKS[1], SUPERVISOR, printed=False, note="card damaged")
    assert ledger.where_is(NIKS[0]).card_serial == serials[0]
    assert ledger.blanks.state_of(serials[0]) is BlankState.USED
    assert ledger.where_is(NIKS[1]).card_serial is None
    assert ledger.blanks.state_of(serials[1]) is BlankState.SPOILED
    assert ledger.state_of(NIKS[1]) is State.PRINT_READY
    with pytest.raises(ektpcore.InvalidArgumentError, match="not in doubt"):
        ledger.settle(NIKS[0], SUPERVISOR, printed=False, note="again")
    assert ledger.blanks.reconcile().balanced
    assert ledger.verify().ok


def test_reconcile_flags_blanks_allocated_to_no_waiting_record(ledger: Ledger) -> None:
    ledger.blanks.allocate("B-9", 3, OPERATOR)  # allocated, but no record ever queued there
    report = ledger.blanks.reconcile()
    assert not report.balanced
    flagged = [(s, p) for s, p in report.discrepancies if "B-9" in p]
    assert len(flagged) == 3
    assert all("no record waits" in p for _, p in flagged)


def test_a_station_checks_its_operator_and_the_claim_before_touching_the_printer(
    ledger: Ledger,
) -> None:
    from ektpcore.printing import PrintStation

    dialled: list[str] = []

    def connect() -> Any:
        dialled.append("printer")
        raise AssertionError("the printer must not be contacted")

    def station(actor: Actor, name: str) -> PrintStation:
        return PrintStation(
            ledger,
            printer="P1",
            connect=connect,
            faces=lambda _r: CardFaces(),  # never drawn
            actor=actor,
            station=name,
        )

    with pytest.raises(ektpcore.PermissionDeniedError, match="operator"):
        station(AUDITOR, "P1@pc-1").run("B-1")
    held = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR)
    with pytest.raises(ektpcore.BatchClaimedError, match="P1@pc-1"):
        station(OPERATOR, "P1@pc-2").run("B-1")
    assert dialled == []
    assert ledger.claims.get("B-1") == held
    assert ledger.counts()[State.QUEUED] == 6


def test_claims_are_visible_released_and_settled_from_the_command_line(
    ledger: Ledger, ledger_location: str
) -> None:
    from click.testing import CliRunner

    from ektpcore.cli import main

    claim = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR, lease=SHORT)
    with ledger.transaction(OPERATOR) as tx:
        tx.claims.fence(claim)
        tx.journal.sent(NIKS[0], "B-1", "P1", ledger.journal.free_blanks("B-1")[0])

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["station", *args])

    listed = run("claims", ledger_location)
    assert listed.exit_code == 0, listed.output
    assert "B-1: P1@pc-1 (generation 1)" in listed.output
    _expire()
    assert "LAPSED" in run("claims", ledger_location).output
    who = ("--supervisor", "budi")
    released = run("release", ledger_location, "--batch", "B-1", *who, "--reason", "pc-1 died")
    assert released.exit_code == 0, released.output
    assert "1 card(s) in doubt" in released.output
    assert str(NIKS[0]) not in released.output  # masked
    nik = ("--nik", str(NIKS[0]))
    settled = run("settle", ledger_location, *nik, "--not-printed", *who, "--note", "tray empty")
    assert settled.exit_code == 0, settled.output
    assert "PRINT_READY" in settled.output
    again = run("settle", ledger_location, *nik, "--printed", *who, "--note", "x")
    assert again.exit_code == 8  # refused by the ledger
    assert "not in doubt" in again.output
    assert "Traceback" not in again.output
    assert "released" in run("claims", ledger_location, "--all").output


def test_blanks_of_a_claimed_batch_are_the_stations(ledger: Ledger) -> None:
    held = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR)
    free = ledger.journal.free_blanks("B-1")
    with pytest.raises(ektpcore.BatchClaimedError, match="P1@pc-1"):
        ledger.blanks.move(free[:1], BlankState.VOIDED, SUPERVISOR, reason="damaged")
    with pytest.raises(ektpcore.BatchClaimedError, match="P1@pc-1"):
        ledger.blanks.allocate("B-1", 2, OPERATOR)
    assert ledger.journal.free_blanks("B-1") == free
    with ledger.transaction(OPERATOR) as tx:  # the station itself, under its claim
        tx.claims.fence(held)
        tx.blanks.spoil(free[:1], reason="jam in the feeder")
    assert ledger.blanks.state_of(free[0]) is BlankState.SPOILED


def test_a_station_refuses_an_unknown_batch_another_printers_batch_and_no_ribbon(
    ledger: Ledger,
) -> None:
    from ektpcore.printing import PrintStation, TcpTransport, VirtualPrinter

    with VirtualPrinter() as printer:

        def station(name: str) -> PrintStation:
            return PrintStation(
                ledger,
                printer=name,
                connect=lambda: TcpTransport(*printer.address, timeout=5),
                faces=lambda _r: FACES,
                actor=OPERATOR,
            )

        with pytest.raises(ektpcore.StationError, match="no batch B-404"):
            station("P1").run("B-404")
        with pytest.raises(ektpcore.StationError, match="6 at P1"):
            station("P2").run("B-1")
        assert ledger.claims.all() == []  # nothing written
        ledger.ribbons.install("P1", "YMCKO", 500, OPERATOR, remaining=1)
        report = station("P1").run("B-1")
        assert len(report.printed) == 1
        assert report.stopped is not None
        assert "used up its ribbon" in report.stopped
        assert len(printer.cards) == 1  # the second card was never sent
    assert ledger.counts()[State.QUEUED] == 5
    assert ledger.journal.in_doubt() == []


def test_a_supervisor_finds_and_settles_in_doubt_cards_by_their_blank(
    ledger: Ledger, ledger_location: str
) -> None:
    from click.testing import CliRunner

    from ektpcore.cli import main

    claim = ledger.claims.claim("B-1", "P1@pc-1", OPERATOR)
    serial = ledger.journal.free_blanks("B-1")[0]
    with ledger.transaction(OPERATOR) as tx:
        tx.claims.fence(claim)
        tx.journal.sent(NIKS[2], "B-1", "P1", serial)
    ledger.claims.release("B-1", SUPERVISOR, reason="pc-1 froze")
    listed = CliRunner().invoke(main, ["station", "in-doubt", ledger_location])
    assert listed.exit_code == 0, listed.output
    assert f"blank {serial}: " in listed.output
    assert str(NIKS[2]) not in listed.output
    settle = ["station", "settle", ledger_location, "--supervisor", "budi", "--note", "in tray"]
    wrong = CliRunner().invoke(main, [*settle, "--blank", str(serial + 1), "--printed"])
    assert wrong.exit_code == 10  # no such card
    assert "no card in doubt" in wrong.output
    done = CliRunner().invoke(main, [*settle, "--blank", str(serial), "--printed"])
    assert done.exit_code == 0, done.output
    assert ledger.where_is(NIKS[2]).card_serial == serial
