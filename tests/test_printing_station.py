"""The print station against the virtual printer: outcomes, faults and crashes, checked in
the ledger afterwards (every blank accounted for, no record with two valid cards)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Plan, Printer, Role, State
from ektpcore.printing import (
    CardFaces,
    Faults,
    PrintStation,
    TcpTransport,
    Transport,
    VirtualPrinter,
)

from .conftest import card_intake

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [int(v) for v in ektpcore.sample_niks(40, seed=77)]
FACE = np.full((648, 1016, 3), 220, dtype=np.uint8)
TEXT = np.full((648, 1016), 255, dtype=np.uint8)
TEXT[100:120, 40:400] = 0


def faces(_record: Any) -> CardFaces:
    return CardFaces(front=FACE, front_black=TEXT, back_black=TEXT)


@pytest.fixture
def ledger(ledger_location: str, card_photo: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        kec = ["Bogor Barat" if i % 2 else "Bogor Timur" for i in range(40)]
        cards = card_intake(NIKS, card_photo)
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY, kecamatan=kec, **cards)
        led.blanks.receive("LOT", 1_000, 1_049, SUPERVISOR)
        led.ribbons.install("P1", "YMCKOK", 500, OPERATOR)
        yield led


def batches(ledger: Ledger) -> list[str]:
    plan = Plan.from_ledger(ledger, [Printer("P1", 120, 90)], click_limit=20, prefix="B")
    plan.commit(ledger, OPERATOR)
    return [b.id for b in plan.batches]


def station(ledger: Ledger, printer: VirtualPrinter, **kw: Any) -> PrintStation:
    return PrintStation(
        ledger,
        printer="P1",
        connect=lambda: TcpTransport(*printer.address, timeout=10),
        faces=faces,
        actor=OPERATOR,
        reply_timeout=10,
        **kw,
    )


def check_ledger(ledger: Ledger) -> None:
    check_ledger_total(ledger, 50)


def test_batches_print_and_every_card_is_recorded(ledger: Ledger) -> None:
    ids = batches(ledger)
    seen: list[tuple[int, int]] = []
    with VirtualPrinter() as printer:
        s = station(ledger, printer, progress=lambda done, total: seen.append((done, total)))
        reports = [s.run(b) for b in ids]
    assert [len(r.printed) for r in reports] == [20, 20]
    assert all(r.stopped is None and r.left == 0 for r in reports)
    assert seen[-1] == (20, 20)
    assert ledger.counts() == {State.PRINTED: 40}
    assert ledger.blanks.counts()[BlankState.USED] == 40
    assert len(printer.cards) == 40
    assert ledger.ribbons.current("P1").remaining == 460  # type: ignore[union-attr]
    check_ledger(ledger)
    # The planner kept each kecamatan in one click.
    assert [{r.kecamatan for r in ledger.batch(b)} for b in ids] == [
        {"Bogor Barat"},
        {"Bogor Timur"},
    ]


def test_a_jam_spoils_one_blank_and_the_batch_resumes(ledger: Ledger) -> None:
    ids = batches(ledger)
    with VirtualPrinter(faults=Faults(jam_at={5})) as printer:
        s = station(ledger, printer)
        first = s.run(ids[0])
        assert (len(first.printed), len(first.spoiled), first.left) == (4, 1, 15)
        assert "jammed" in (first.stopped or "")
        jammed = first.spoiled[0]
        assert ledger.state_of(jammed) is State.PRINT_READY
        printer.clear_fault()
        again = s.run(ids[0])
    assert (len(again.printed), again.left, again.stopped) == (15, 0, None)
    assert ledger.blanks.counts()[BlankState.SPOILED] == 1
    assert ledger.counts()[State.PRINTED] == 19
    assert len(printer.cards) == 19
    check_ledger(ledger)


def test_a_refused_card_stays_queued_with_its_blank(ledger: Ledger) -> None:
    ids = batches(ledger)
    with VirtualPrinter(faults=Faults(ribbon_cards=3)) as printer:
        report = station(ledger, printer).run(ids[0])
    assert len(report.printed) == 3
    assert "NACK R" in (report.stopped or "")
    assert report.left == 17
    assert ledger.blanks.counts()[BlankState.ALLOCATED] == 37
    check_ledger(ledger)


def test_a_lost_connection_leaves_the_card_in_doubt_for_a_supervisor(ledger: Ledger) -> None:
    ids = batches(ledger)
    with VirtualPrinter(faults=Faults(drop_after_cards=3)) as printer:
        s = station(ledger, printer)
        report = s.run(ids[0])
        assert len(report.printed) == 2
        assert len(report.in_doubt) == 1
        doubt = report.in_doubt[0]
        assert ledger.state_of(doubt) is State.IN_DOUBT
        ((nik, batch, serial),) = s.in_doubt()
        assert (nik, batch) == (doubt, ids[0])
        assert ledger.blanks.state_of(serial) is BlankState.ALLOCATED  # its whereabouts
        # The printer did print it (the tray shows it): the supervisor says so.
        s.resolve(doubt, printed=True, supervisor=SUPERVISOR, note="found in the tray")
        assert ledger.state_of(doubt) is State.PRINTED
        rest = s.run(ids[0])
    assert len(rest.printed) == 17
    assert len(printer.cards) == 20  # nothing printed twice
    check_ledger(ledger)


class CrashingTransport(Transport):
    """Sends to the printer, then the process "dies" before any reply is read."""

    def __init__(self, inner: TcpTransport, after_cards: int) -> None:
        super().__init__()
        self.inner, self.after = inner, after_cards
        self.cards = 0

    def _send(self, data: bytes) -> None:
        self.inner._send(data)
        if b"\x1bSe;1\r" in data:
            self.cards += 1

    def _receive(self, timeout: float) -> bytes:
        if self.cards > self.after:
            raise KeyboardInterrupt("killed")
        return self.inner._receive(timeout)

    def _close(self) -> None:
        self.inner.close()


def crashing_station(
    ledger: Ledger, printer: VirtualPrinter, after_cards: int, **kw: Any
) -> PrintStation:
    """A station whose process "dies" once ``after_cards`` cards went to the printer."""
    s = station(ledger, printer, **kw)
    s.connect = lambda: CrashingTransport(TcpTransport(*printer.address, timeout=10), after_cards)
    return s


@pytest.mark.parametrize("window", [1, 5])
def test_a_station_killed_mid_card_recovers_without_printing_twice(
    ledger: Ledger, window: int
) -> None:
    """The process goes down while its seventh card is at the printer: the cards printed
    before it are recorded (with a window of five, on the way out), the cards journalled
    after it leave the journal, and only the card in flight is in doubt."""
    ids = batches(ledger)
    with VirtualPrinter() as printer:
        crashing = crashing_station(ledger, printer, 6, window=window)
        with pytest.raises(KeyboardInterrupt):
            crashing.run(ids[0])
        assert ledger.counts()[State.PRINTED] == 6
        # A new station process: the card sent before the crash is in doubt (put so when
        # the crashing run gave its batch back), never resent.
        s = station(ledger, printer)
        assert s.recover() == []
        assert len(s.in_doubt()) == 1
        report = s.run(ids[0])
        assert (len(report.printed), report.left) == (13, 0)
        ((nik, _, _),) = s.in_doubt()
        s.resolve(nik, printed=False, supervisor=SUPERVISOR, note="not in the tray")
        assert ledger.state_of(nik) is State.PRINT_READY
    assert ledger.blanks.counts()[BlankState.SPOILED] == 1
    assert ledger.counts()[State.PRINTED] == 19
    check_ledger(ledger)
    with pytest.raises(ektpcore.InvalidArgumentError, match="supervisor"):
        s.resolve(NIKS[0], printed=True, supervisor=OPERATOR, note="x")


def test_the_cli_runs_a_station_against_a_virtual_printer(
    ledger: Ledger, ledger_location: str
) -> None:
    from click.testing import CliRunner

    from ektpcore.cli import main

    ids = batches(ledger)
    path = ledger_location
    with VirtualPrinter() as printer:
        host, port = printer.address
        args = ["station", "run", path, "--printer", "P1", "--address", f"{host}:{port}"]
        result = CliRunner().invoke(main, [*args, "--batch", ids[0], "--no-photo-check"])
        windowed = [*args, "--batch", ids[1], "--no-photo-check", "--window", "6"]
        second = CliRunner().invoke(main, windowed)
    assert result.exit_code == 0, result.output
    assert "printed 20, spoiled 0, in doubt 0, still queued 0" in result.output
    assert second.exit_code == 0, second.output
    assert "printed 20, spoiled 0, in doubt 0, still queued 0" in second.output
    assert len(printer.cards) == 40
    assert ledger.journal.sent("P1") == []
    served = CliRunner().invoke(main, ["printer", "virtual", "--port", "0", "--for-seconds", "0.3"])
    assert served.exit_code == 0, served.output
    assert "listening on 127.0.0.1:" in served.output
    bad = CliRunner().invoke(main, [*args[:5], "--address", "nowhere", "--batch", "B"])
    assert bad.exit_code != 0
    assert "host:port" in bad.output


def test_a_batch_of_hundreds_goes_through_with_a_jam_on_the_way(ledger_location: str) -> None:
    niks = [int(v) for v in ektpcore.sample_niks(300, seed=78)]
    with Ledger(ledger_location) as led:
        kec = [f"Kecamatan {i % 6}" for i in range(300)]
        kel = [f"Kelurahan {i % 17}" for i in range(300)]
        led.add_records(niks, OPERATOR, state=State.PRINT_READY, kecamatan=kec, kelurahan=kel)
        led.blanks.receive("LOT", 1, 400, SUPERVISOR)
        led.ribbons.install("P1", "YMCKOK", 500, OPERATOR)
        plan = Plan.from_ledger(led, [Printer("P1", 120, 90)], click_limit=300, prefix="H")
        plan.commit(led, OPERATOR)
        (batch,) = [b.id for b in plan.batches]
        with VirtualPrinter(faults=Faults(jam_at={120})) as printer:
            s = station(led, printer)
            first = s.run(batch)
            printer.clear_fault()
            second = s.run(batch)
        assert (len(first.printed), len(first.spoiled)) == (119, 1)
        assert (len(second.printed), second.left) == (180, 0)
        assert led.counts() == {State.PRINTED: 299, State.PRINT_READY: 1}
        assert len(printer.cards) == 299
        assert led.blanks.counts() == {
            BlankState.USED: 299,
            BlankState.SPOILED: 1,
            BlankState.IN_STOCK: 100,
        }
        check_ledger_total(led, 400)


def check_ledger_total(ledger: Ledger, blanks: int) -> None:
    assert ledger.verify().ok
    assert ledger.blanks.reconcile().balanced
    rows = ledger._query("SELECT record_id, count(*) FROM cards WHERE valid = 1 GROUP BY 1")
    assert all(n == 1 for _, n in rows)
    assert sum(ledger.blanks.counts().values()) == blanks


class _ReleasedMidCard(TcpTransport):
    """A printer link during whose third card a supervisor, at another desk, releases the
    station's claim (the station was thought dead)."""

    def __init__(self, address: tuple[str, int], path: str) -> None:
        super().__init__(*address, timeout=10)
        self.path, self.cards = path, 0

    def write(self, data: Any) -> int:
        sent = super().write(data)
        if isinstance(data, bytes) and b"Dbc" in data:
            self.cards += 1
            if self.cards == 3:
                with Ledger(self.path) as desk:
                    desk.claims.release(ids_of(desk)[0], SUPERVISOR, reason="thought dead")
        return sent


def ids_of(ledger: Ledger) -> list[str]:
    return sorted({c.batch for c in ledger.claims.all()})


@pytest.mark.parametrize(("window", "out", "recorded"), [(1, 3, 2), (4, 4, 0)])
def test_a_station_whose_claim_is_released_mid_card_records_nothing_more(
    ledger: Ledger, ledger_location: str, window: int, out: int, recorded: int
) -> None:
    """Released during its third card, a station records nothing more: with one card in the
    journal at a time, two cards are recorded and the third is in doubt; with a window of
    four, the four journalled together are in doubt (the fourth, already journalled, still
    goes to the printer: the station learns of the release at its next transaction)."""
    ids = batches(ledger)
    with VirtualPrinter() as printer:
        s = station(ledger, printer, window=window)
        s.connect = lambda: _ReleasedMidCard(printer.address, ledger_location)
        report = s.run(ids[0])
        assert len(printer.cards) == out  # physically out
    assert len(report.printed) == recorded
    assert len(report.in_doubt) == out - recorded
    assert report.stopped is not None
    assert "released" in report.stopped
    for nik in report.in_doubt:
        assert ledger.state_of(nik) is State.IN_DOUBT  # by the release, not by the station
        ledger.settle(nik, SUPERVISOR, printed=True, note="found in the tray")
    assert ledger.counts()[State.PRINTED] == len(printer.cards)
    check_ledger(ledger)


class _LedgerLostMidCard(TcpTransport):
    """A printer link during whose third card the ledger stops answering the station: on
    SQLite another program holds the write lock for longer than the station waits; on
    PostgreSQL the server drops every connection to the ledger's database."""

    def __init__(self, address: tuple[str, int], location: str) -> None:
        super().__init__(*address, timeout=10)
        self.location, self.cards = location, 0
        self.holder: threading.Thread | None = None

    def write(self, data: Any) -> int:
        sent = super().write(data)
        if isinstance(data, bytes) and b"Dbc" in data:
            self.cards += 1
            if self.cards == 3:
                self._lose()
        return sent

    def _lose(self) -> None:
        locked = threading.Event()

        def hold_then_drop() -> None:
            # The station's next transaction waits on the journal's lock, and its connection
            # is dropped while it waits (a server restarting mid-transaction).
            import psycopg

            with psycopg.connect(self.location) as conn:
                conn.execute("LOCK TABLE station_journal IN ACCESS EXCLUSIVE MODE")
                locked.set()
                time.sleep(1.0)
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )

        def hold() -> None:
            raw = sqlite3.connect(self.location, isolation_level=None)
            raw.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(2.0)  # the station waits 0.5 s
            raw.execute("ROLLBACK")
            raw.close()

        self.holder = threading.Thread(target=hold_then_drop if "://" in self.location else hold)
        self.holder.start()
        locked.wait()


def test_a_ledger_lost_mid_card_leaves_the_card_in_doubt_and_says_so(
    ledger: Ledger, ledger_location: str
) -> None:
    """The ledger stops answering while the third card prints (locked past the station's
    wait, or its server dropping the connection): the run stops with a report, not an
    exception; the third card, printed but not recorded, is in the report's doubt and not
    counted among the cards still queued, its reason says so, and once the ledger answers
    again the card is in doubt for a supervisor (never queued again)."""
    ids = batches(ledger)
    wait = 30.0 if "://" in ledger_location else 0.5  # the lock outlives it on SQLite
    with Ledger(ledger_location, busy_timeout=wait) as own, VirtualPrinter() as printer:
        s = station(own, printer)
        link = _LedgerLostMidCard(printer.address, ledger_location)
        s.connect = lambda: link
        report = s.run(ids[0])
        if link.holder is not None:
            link.holder.join()
        assert len(printer.cards) == 3  # physically out
    assert len(report.printed) == 2
    assert len(report.in_doubt) == 1
    assert report.left == 17
    assert report.stopped is not None
    assert "1 card(s) sent to the printer could not be recorded" in report.stopped
    lost = "connection" if "://" in ledger_location else "stayed locked"
    assert lost in report.stopped
    (nik,) = report.in_doubt
    if ledger.state_of(nik) is not State.IN_DOUBT:  # the claim could not be given back
        ledger.claims.release(ids[0], SUPERVISOR, reason="the station stopped")
    assert ledger.state_of(nik) is State.IN_DOUBT
    ledger.settle(nik, SUPERVISOR, printed=True, note="found in the tray")
    assert ledger.counts()[State.PRINTED] == len(printer.cards)
    assert len(ledger.queued(ids[0], "P1")) == 17
    check_ledger(ledger)


def test_a_batch_with_more_blanks_than_cards_prints_and_leaves_the_rest_allocated(
    ledger: Ledger,
) -> None:
    """A blank allocated to a batch beyond its cards (the two-call allocate, then queue
    flow) does not stop the station: the cards take the lowest serials, the stray stays
    allocated and reconcile() names it."""
    ids = batches(ledger)
    (extra,) = ledger.blanks.allocate(ids[0], 1, OPERATOR)
    with VirtualPrinter() as printer:
        report = station(ledger, printer).run(ids[0])
    assert (len(report.printed), report.left, report.stopped) == (20, 0, None)
    assert ledger.blanks.state_of(extra) is BlankState.ALLOCATED
    assert extra in [serial for serial, _ in ledger.blanks.reconcile().discrepancies]


def test_a_take_over_reports_the_cards_the_dead_station_left_in_doubt(ledger: Ledger) -> None:
    """A station taking over a dead one's batch says how many cards the claim put in doubt
    (its run's own summary would otherwise read "in doubt 0" while they wait)."""
    import datetime as dt

    ids = batches(ledger)
    # The dead station: it claimed the batch, journalled its first card, and was gone.
    dead = ledger.claims.claim(ids[0], "P1@pc-1", OPERATOR, lease=dt.timedelta(seconds=1))
    first = ledger.queued(ids[0], "P1")[0]
    with ledger.claims.under(dead, OPERATOR) as tx:
        tx.journal.sent(int(first.nik), ids[0], "P1", ledger.journal.free_blanks(ids[0])[0])
    time.sleep(1.1)  # its lease lapses
    with VirtualPrinter() as printer:
        report = station(ledger, printer, take_over=True, station="P1@pc-2").run(ids[0])
    assert report.recovered == [int(first.nik)]
    assert ledger.state_of(first.nik) is State.IN_DOUBT
    assert (len(report.printed), report.in_doubt, report.left) == (19, [], 0)
    assert len(printer.cards) == 19


def test_a_serial_other_than_the_journals_is_refused_when_settling(ledger: Ledger) -> None:
    ids = batches(ledger)
    with VirtualPrinter() as printer:
        crashing = crashing_station(ledger, printer, 0)
        with pytest.raises(KeyboardInterrupt):
            crashing.run(ids[0])
    ((nik, _, serial),) = ledger.journal.in_doubt()
    with pytest.raises(ektpcore.InvalidArgumentError, match=f"holds blank {serial}"):
        ledger.settle(nik, SUPERVISOR, printed=True, note="found", serial=1_049)
    ledger.settle(nik, SUPERVISOR, printed=True, note="found", serial=serial)
    assert ledger.blanks.state_of(1_049) is BlankState.IN_STOCK
    check_ledger(ledger)


def test_the_heartbeat_keeps_a_claim_alive_through_a_batch_longer_than_its_lease(
    ledger: Ledger,
) -> None:
    import datetime as dt

    ids = batches(ledger)
    lease = dt.timedelta(seconds=1.2)
    with VirtualPrinter(seconds_per_card=0.15) as printer:  # 20 cards: about 3 s, 2.5 leases
        report = station(ledger, printer, lease=lease).run(ids[0])
    assert report.stopped is None, report.stopped
    assert len(report.printed) == 20
    assert len(printer.cards) == 20
    claim = ledger.claims.get(ids[0])
    assert claim is not None
    assert claim.released  # given back at the end
    check_ledger(ledger)


def test_a_stop_asked_from_another_thread_ends_the_run_between_cards(ledger: Ledger) -> None:
    """``request_stop`` (a console's pause or stop) finishes the card in the printer and sends
    no other: the rest stay QUEUED with their blanks, nothing in doubt, and the next run
    prints them. ``current`` shows the run's report as it grows, card by card."""
    ids = batches(ledger)
    seen: list[tuple[int, int, int]] = []
    with VirtualPrinter() as printer:
        s = station(ledger, printer)

        def progress(done: int, _total: int) -> None:
            report = s.current
            assert report is not None
            seen.append((done, len(report.printed), len(report.in_doubt)))
            if done == 3:
                s.request_stop("paused at the console by ani")

        s.progress = progress
        first = s.run(ids[0])
        assert first.stopped == "paused at the console by ani"
        assert (len(first.printed), first.left, first.in_doubt) == (3, 17, [])
        assert seen == [(1, 1, 0), (2, 2, 0), (3, 3, 0)]
        assert s.current is first
        assert len(printer.cards) == 3
        assert ledger.batch_printers(ids[0]) == {"P1": 17}
        s.progress = None
        rest = s.run(ids[0])  # the stop held for one run only
    assert (len(rest.printed), rest.left, rest.stopped) == (17, 0, None)
    assert ledger.journal.in_doubt() == []


def test_a_window_of_cards_is_journalled_together_and_never_more(ledger: Ledger) -> None:
    """With ``window=8`` the station journals eight cards in one transaction with the
    outcomes of the eight before: the journal holds more than one card while it prints, never
    more than eight, and every card is recorded once the run ends."""
    ids = batches(ledger)
    held: list[int] = []
    with VirtualPrinter() as printer:
        s = station(ledger, printer, window=8)
        s.progress = lambda _done, _total: held.append(len(ledger.journal.sent("P1")))
        reports = [s.run(b) for b in ids]
    assert [len(r.printed) for r in reports] == [20, 20]
    assert all(r.stopped is None and r.in_doubt == [] for r in reports)
    assert max(held) == 8
    # Within a batch the journal always holds the cards still to go; its last card's
    # outcome is recorded before the callback, and the journal is empty then.
    assert len(held) == 40
    assert held[19] == held[39] == 0
    assert min(held[:19] + held[20:39]) >= 1
    assert ledger.journal.sent("P1") == []
    assert len(printer.cards) == 40
    assert ledger.counts() == {State.PRINTED: 40}
    check_ledger(ledger)


def test_a_window_stops_where_the_ribbon_ends(ledger: Ledger) -> None:
    """A window is never wider than what the ribbon has left: five prints left, a window of
    eight, and five cards print; the run stops asking for a ribbon change, nothing in doubt,
    nothing left in the journal, the other cards still queued with their blanks."""
    ids = batches(ledger)
    ledger.ribbons.install("P1", "YMCKOK", 5, OPERATOR)
    with VirtualPrinter() as printer:
        report = station(ledger, printer, window=8).run(ids[0])
    assert len(report.printed) == 5
    assert report.in_doubt == []
    assert "ribbon" in (report.stopped or "")
    assert report.left == 15
    assert len(printer.cards) == 5
    assert ledger.journal.sent("P1") == []
    check_ledger(ledger)


def test_a_card_refused_in_a_window_is_sent_again_or_leaves_the_journal(ledger: Ledger) -> None:
    """A printer that refuses the fourth card of a window (its ribbon out) stops the run: the
    three before are recorded, the refused card and those journalled after it never left, so
    they leave the journal and stay queued; nothing is in doubt."""
    ids = batches(ledger)
    with VirtualPrinter(faults=Faults(ribbon_cards=3)) as printer:
        report = station(ledger, printer, window=8).run(ids[0])
    assert len(report.printed) == 3
    assert report.in_doubt == []
    assert "NACK R" in (report.stopped or "")
    assert report.left == 17
    assert ledger.journal.sent("P1") == []
    assert ledger.blanks.counts()[BlankState.ALLOCATED] == 37
    check_ledger(ledger)


def test_a_window_must_hold_a_card(ledger: Ledger) -> None:
    with VirtualPrinter() as printer, pytest.raises(ektpcore.InvalidArgumentError, match="window"):
        station(ledger, printer, window=0)
