"""The dialect as the station's plug-in point, and the printer status model: a dialect written
in Python (the worked example of docs/printing.md) and the built-in Evolis and Magicard
dialects each drive whole station runs against a virtual printer, and every condition of the
status model is produced by the virtual printer and acted on by the station (wait, pause with
a message, spoil, stop). The ledger is checked after each run."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Role, State
from ektpcore.printing import (
    CardFaces,
    Condition,
    Dialect,
    EvolisDialect,
    Faults,
    MagicardDialect,
    PrintStation,
    TcpTransport,
    VirtualPrinter,
)
from ektpcore.printing import station as station_module

from .conftest import card_intake
from .test_printing import worked_example

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [int(v) for v in ektpcore.sample_niks(12, seed=91)]
BATCH = "B-1"
TEXT = np.full((648, 1016), 255, dtype=np.uint8)
TEXT[100:120, 40:400] = 0
FACE = np.full((648, 1016, 3), 210, dtype=np.uint8)


def evolis_faces(_record: Any) -> CardFaces:
    return CardFaces(front=FACE, front_black=TEXT, back_black=TEXT)


def mono_faces(_record: Any) -> CardFaces:
    return CardFaces(front_black=TEXT)


def magicard_faces(_record: Any) -> CardFaces:
    return CardFaces(front=FACE[:642], front_black=TEXT[:642], back_black=TEXT[:642])


@pytest.fixture
def ledger(tmp_path: Path, card_photo: str) -> Iterator[Ledger]:
    with Ledger(str(tmp_path / "ledger.db")) as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY, **card_intake(NIKS, card_photo))
        led.blanks.receive("LOT", 1, 20, SUPERVISOR)
        led.ribbons.install("P1", "YMCKOK", 500, OPERATOR)
        led.queue(NIKS, BATCH, "P1", OPERATOR)
        yield led


def station(ledger: Ledger, printer: VirtualPrinter, **kw: Any) -> PrintStation:
    kw.setdefault("faces", evolis_faces)
    return PrintStation(
        ledger,
        printer="P1",
        connect=lambda: TcpTransport(*printer.address, timeout=10),
        actor=OPERATOR,
        reply_timeout=10,
        poll=0.02,
        **kw,
    )


def accounted(ledger: Ledger) -> None:
    """Every blank somewhere, no record with two valid cards, nothing left in the journal."""
    assert ledger.verify().ok
    assert ledger.blanks.reconcile().balanced
    rows = ledger._query("SELECT record_id, count(*) FROM cards WHERE valid = 1 GROUP BY 1")
    assert all(n == 1 for _, n in rows)
    assert ledger.journal.sent("P1") == []


# -- the dialect is the plug-in point ----------------------------------------------------------


def test_the_station_holds_no_printer_language() -> None:
    source = inspect.getsource(station_module)
    for word in ("Pem", "Srs", '"ACK"', "NACK", "\\x1b", "Se;1", "commands("):
        assert word not in source, word
    hints = inspect.signature(PrintStation).parameters["dialect"].annotation
    assert "Dialect" in str(hints)


def test_a_python_dialect_prints_a_batch_through_a_station(ledger: Ledger) -> None:
    mono = worked_example()
    assert isinstance(mono, Dialect)
    with VirtualPrinter(dialect=mono, faults=Faults(jam_at={4})) as printer:
        s = station(ledger, printer, dialect=mono, faces=mono_faces)
        first = s.run(BATCH)
        assert (len(first.printed), len(first.spoiled)) == (3, 1)
        assert "jammed (NACK T)" in (first.stopped or "")
        assert "print-ready again for the next plan" in (first.stopped or "")
        printer.clear_fault()
        second = s.run(BATCH)
    assert (len(second.printed), second.left, second.stopped) == (8, 0, None)
    assert len(printer.cards) == 11
    expected = mono.encode_cards([mono_faces(None)])[0]
    (card,) = mono.decode(expected).cards
    assert all(
        c.front.k is not None and np.array_equal(c.front.k, card.front.k) for c in printer.cards
    )
    assert ledger.counts() == {State.PRINTED: 11, State.PRINT_READY: 1}
    assert ledger.blanks.counts()[BlankState.SPOILED] == 1
    accounted(ledger)


def test_the_magicard_dialect_prints_a_batch_confirmed_by_its_counter(ledger: Ledger) -> None:
    magicard = MagicardDialect()
    with VirtualPrinter(dialect="magicard") as printer:
        report = station(ledger, printer, dialect=magicard, faces=magicard_faces).run(BATCH)
    assert (len(report.printed), report.left, report.stopped) == (12, 0, None)
    assert len(printer.cards) == 12
    assert printer.cards[0].back is not None
    assert ledger.counts() == {State.PRINTED: 12}
    accounted(ledger)


def test_a_magicard_card_the_printer_does_not_confirm_is_left_in_doubt(ledger: Ledger) -> None:
    with VirtualPrinter(dialect="magicard", faults=Faults(drop_after_cards=2)) as printer:
        report = station(ledger, printer, dialect=MagicardDialect(), faces=magicard_faces).run(
            BATCH
        )
    assert (len(report.printed), len(report.in_doubt)) == (1, 1)
    assert "connection lost" in (report.stopped or "")
    assert ledger.state_of(report.in_doubt[0]) is State.IN_DOUBT
    assert len(printer.cards) == 2  # the second is out; only a supervisor may say so


# -- the status model, per condition -------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "condition"),
    [
        ("ACK", Condition.READY),
        ("OK", Condition.READY),
        ("BUSY", Condition.BUSY),
        ("PRINTING", Condition.PRINTING),
        ("NACK 1", Condition.NEEDS_ACTION),
        ("ERR HEAD TEMP", Condition.NEEDS_ACTION),
        ("WAR RIBBON LOW", Condition.RIBBON_LOW),
        ("NACK R", Condition.RIBBON_OUT),
        ("ERR RIBBON ENDED", Condition.RIBBON_OUT),
        ("NACK C", Condition.COVER_OPEN),
        ("ERR COVER OPEN", Condition.COVER_OPEN),
        ("NACK T", Condition.JAM),
        ("ERR MECHANICAL", Condition.MECHANICAL),
        ("NACK F", Condition.FEEDER_EMPTY),
        ("FEEDER EMPTY", Condition.FEEDER_EMPTY),
        ("ERR REJECT BOX FULL", Condition.REJECT_FULL),
        ("SESSION HELD", Condition.SESSION_HELD),
    ],
)
def test_evolis_replies_map_onto_the_status_model(reply: str, condition: Condition) -> None:
    status = EvolisDialect().status(reply)
    assert (status.condition, status.reply) == (condition, reply)
    assert status.ok is (condition.action == "go")


def test_magicard_replies_map_onto_the_status_model() -> None:
    m = MagicardDialect()
    status = m.status("\x01STA,TCQ42,")
    assert (status.condition, status.cards) == (Condition.READY, 42)
    assert m.status("\x01STA,MSR,VIRTUAL0001,").cards is None
    assert m.status("garbage").condition is Condition.NEEDS_ACTION
    assert m.status_query().replies == 1


def test_the_virtual_printer_says_printing_and_held_to_another_client() -> None:
    d = EvolisDialect(ribbon="k")
    card = d.encode_cards([mono_faces(None)])[0]
    with VirtualPrinter(seconds_per_card=0.5) as printer:
        with TcpTransport(*printer.address) as holder, TcpTransport(*printer.address) as other:
            assert holder.command("Pem;4") == "ACK"
            assert d.status(other.command("Rst")).condition is Condition.SESSION_HELD
            assert d.status(holder.command("Rst")).condition is Condition.READY
        with TcpTransport(*printer.address) as one, TcpTransport(*printer.address) as two:
            sending = threading.Thread(target=one.write, args=(d.job_start() + card,))
            sending.start()
            seen = set()
            while not printer.cards:
                seen.add(d.status(two.command("Rst")).condition)
            sending.join()
    assert Condition.PRINTING in seen


def test_a_busy_printer_is_waited_for(ledger: Ledger) -> None:
    with VirtualPrinter(faults=Faults(busy_for=0.4)) as printer:
        report = station(ledger, printer, wait=30).run(BATCH)
    assert (len(report.printed), report.stopped) == (12, None)
    accounted(ledger)


def test_a_printer_busy_too_long_stops_the_run_before_any_card(ledger: Ledger) -> None:
    with VirtualPrinter(faults=Faults(busy_for=60)) as printer:
        report = station(ledger, printer, wait=0.2).run(BATCH)
    assert "busy" in (report.stopped or "")
    assert (report.printed, report.left, printer.attempts) == ([], 12, 0)
    accounted(ledger)


def test_a_printer_held_by_another_client_is_waited_for_then_left(ledger: Ledger) -> None:
    with VirtualPrinter() as printer:
        with TcpTransport(*printer.address) as other:
            assert other.command("Pem;4") == "ACK"
            held = station(ledger, printer, wait=0.2).run(BATCH)
        assert "another client" in (held.stopped or "")
        assert held.printed == []
        report = station(ledger, printer, wait=5).run(BATCH)
    assert (len(report.printed), report.stopped) == (12, None)
    accounted(ledger)


def test_a_low_ribbon_is_a_warning(ledger: Ledger) -> None:
    with VirtualPrinter(faults=Faults(ribbon_cards=20, ribbon_low=10)) as printer:
        report = station(ledger, printer).run(BATCH)
    assert (len(report.printed), report.stopped) == (12, None)
    assert len(report.warnings) == 1
    assert "ribbon is nearly used up" in report.warnings[0]


def test_a_ribbon_ending_mid_card_pauses_and_the_card_goes_again(ledger: Ledger) -> None:
    messages: list[str] = []
    with VirtualPrinter(faults=Faults(ribbon_cards=3)) as printer:

        def operator(message: str) -> None:
            messages.append(message)
            printer.clear_fault()  # a new ribbon

        report = station(ledger, printer, pause=operator, pause_timeout=10).run(BATCH)
    assert (len(report.printed), report.stopped, report.left) == (12, None, 0)
    assert len(messages) == 1
    assert "ribbon" in messages[0]
    assert report.paused == messages
    assert len(printer.cards) == 12  # the refused card printed once, after the pause
    assert ledger.counts() == {State.PRINTED: 12}
    accounted(ledger)


def test_a_ribbon_ending_without_a_pause_stops_with_the_card_queued(ledger: Ledger) -> None:
    with VirtualPrinter(faults=Faults(ribbon_cards=3)) as printer:
        report = station(ledger, printer).run(BATCH)
    assert (len(report.printed), report.left) == (3, 9)
    assert "NACK R" in (report.stopped or "")
    accounted(ledger)


@pytest.mark.parametrize(
    ("faults", "words"),
    [
        (Faults(cover_open=True), "cover is open"),
        (Faults(feeder_cards=0), "feeder is empty"),
        (Faults(reject_capacity=0), "reject tray is full"),
    ],
)
def test_a_printer_that_needs_the_operator_pauses_the_run(
    ledger: Ledger, faults: Faults, words: str
) -> None:
    with VirtualPrinter(faults=faults) as printer:
        unattended = station(ledger, printer, pause_timeout=0.1).run(BATCH)
        assert words in (unattended.stopped or "")
        assert "not cleared" in (unattended.stopped or "")
        assert (unattended.printed, unattended.left, printer.attempts) == ([], 12, 0)
        told: list[str] = []

        def operator(message: str) -> None:
            told.append(message)
            printer.clear_fault()

        attended = station(ledger, printer, pause=operator, pause_timeout=10).run(BATCH)
    assert words in told[0]
    assert (len(attended.printed), attended.stopped) == (12, None)
    accounted(ledger)


def test_the_feeder_running_empty_mid_batch_pauses_before_the_next_card(ledger: Ledger) -> None:
    told: list[str] = []
    with VirtualPrinter(faults=Faults(feeder_cards=5)) as printer:

        def operator(message: str) -> None:
            told.append(message)
            printer.clear_fault()  # blanks loaded

        report = station(ledger, printer, pause=operator, pause_timeout=10).run(BATCH)
    assert (len(report.printed), report.stopped) == (12, None)
    assert len(told) == 1
    assert "feeder" in told[0]


def test_a_mechanical_fault_stops_the_run_before_any_card(ledger: Ledger) -> None:
    with VirtualPrinter(faults=Faults(mechanical=True)) as printer:
        report = station(ledger, printer, pause_timeout=10).run(BATCH)
    assert "mechanical fault" in (report.stopped or "")
    assert (report.printed, report.spoiled, report.left) == ([], [], 12)
    accounted(ledger)


def test_a_card_refused_again_after_a_pause_stops_the_run(ledger: Ledger) -> None:
    with VirtualPrinter(faults=Faults(nack_commands={"Se": "1"})) as printer:
        report = station(ledger, printer, pause_timeout=10).run(BATCH)
    assert "again" in (report.stopped or "")
    assert (report.printed, report.left, len(printer.cards)) == ([], 12, 0)
    accounted(ledger)


# -- the next cards are made while the printer prints ---------------------------------------------


def test_the_next_cards_are_made_on_another_thread_while_one_prints(ledger: Ledger) -> None:
    made: list[tuple[int, str, int]] = []  # (nik, thread, cards printed when it was made)
    with VirtualPrinter(seconds_per_card=0.1) as printer:

        def faces(record: Any) -> CardFaces:
            made.append((int(record.nik), threading.current_thread().name, len(printer.cards)))
            return evolis_faces(record)

        report = station(ledger, printer, faces=faces, prefetch=2).run(BATCH)
    assert (len(report.printed), report.stopped) == (12, None)
    assert [nik for nik, _, _ in made] == report.printed
    assert all(name.startswith("station-encode") for _, name, _ in made)
    # Every card after the first was made before the card ahead of it had printed.
    assert all(printed < i for i, (_, _, printed) in enumerate(made) if i)


# -- from the command line ------------------------------------------------------------------------


def test_the_cli_prints_through_a_magicard_and_waits_for_the_operator(
    ledger: Ledger, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from ektpcore.cli import main

    path = str(tmp_path / "ledger.db")
    with VirtualPrinter(dialect="magicard") as printer:
        host, port = printer.address
        args = ["station", "run", path, "--printer", "P1", "--address", f"{host}:{port}"]
        result = CliRunner().invoke(
            main, [*args, "--batch", BATCH, "--dialect", "magicard", "--no-photo-check"]
        )
    assert result.exit_code == 0, result.output
    assert "printed 12, spoiled 0, in doubt 0, still queued 0" in result.output
    assert len(printer.cards) == 12
    assert (printer.cards[0].front.lines, printer.cards[0].front.dots) == (1016, 642)


def test_the_cli_says_what_the_printer_needs(ledger: Ledger, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ektpcore.cli import main

    path = str(tmp_path / "ledger.db")
    with VirtualPrinter(faults=Faults(cover_open=True)) as printer:
        host, port = printer.address
        args = ["station", "run", path, "--printer", "P1", "--address", f"{host}:{port}"]
        result = CliRunner().invoke(
            main, [*args, "--batch", BATCH, "--pause-for", "0.3", "--no-photo-check"]
        )
    assert result.exit_code != 0
    assert "printer P1: the printer's cover is open: close it (ERR COVER OPEN)" in result.output
    assert "not cleared within 0.3 s" in result.output
    assert "Traceback" not in result.output
    assert printer.attempts == 0
