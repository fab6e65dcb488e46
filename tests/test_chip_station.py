"""Two-phase jobs: the print station personalises each card's chip at the virtual printer's
encoder, then prints it or rejects it, and the ledger holds every outcome (chip serials, the
chip log, spoiled blanks) — checked afterwards like every station test."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Plan, Printer, Role, State
from ektpcore.chip import (
    LDS1,
    ChipData,
    ChipFaults,
    Personaliser,
    SoftwareKeyProvider,
    VirtualChip,
    data_groups,
)
from ektpcore.printing import (
    CardFaces,
    ChipEncoding,
    Faults,
    PrintStation,
    TcpTransport,
    VirtualPrinter,
)

from .conftest import card_intake

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [int(v) for v in ektpcore.sample_niks(24, seed=91)]
FACE = np.full((648, 1016, 3), 220, dtype=np.uint8)
TEXT = np.full((648, 1016), 255, dtype=np.uint8)
TEXT[100:120, 40:400] = 0
KEYS = SoftwareKeyProvider(b"office master key 16", algorithm="aes128")
PROFILE = dataclasses.replace(LDS1, algorithm="aes128")


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (120, 160), (30, 60, 200)).save(buf, "JPEG", quality=75)
    return buf.getvalue()


PHOTO = _jpeg()


def chip_data(record: Any) -> ChipData:
    nik = ektpcore.Nik(int(record.nik))
    return ChipData(
        nik=str(nik),
        name=record.name or "WARGA",
        birth_place="BOGOR",
        birth_date=nik.birth_date or dt.date(1970, 1, 1),
        photo=PHOTO,
        signature=b"SIG" + str(nik).encode(),
        fingerprints=(b"R" * 300, b"L" * 280),
        kecamatan=record.kecamatan or "",
    )


def blank_chip(faults: dict[int, ChipFaults] | None = None) -> Any:
    """The chip in the printer's k-th blank: a UID per blank, keys from the office's master."""

    def make(k: int) -> VirtualChip:
        uid = bytes.fromhex("04E0") + k.to_bytes(5, "big")
        return VirtualChip(uid, KEYS.chip_keys(uid), faults=(faults or {}).get(k))

    return make


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Tengah"] * 24)
        led.blanks.receive("LOT", 1_000, 1_029, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        yield led


def plan_batches(ledger: Ledger) -> list[str]:
    plan = Plan.from_ledger(ledger, [Printer("P1", 120, 90)], click_limit=12, prefix="C")
    plan.commit(ledger, OPERATOR)
    return [b.id for b in plan.batches]


def station(
    ledger: Ledger, printer: VirtualPrinter, data: Callable[[Any], ChipData] = chip_data
) -> PrintStation:
    return PrintStation(
        ledger,
        printer="P1",
        connect=lambda: TcpTransport(*printer.address, timeout=10),
        faces=lambda _r: CardFaces(front=FACE, front_black=TEXT, back_black=TEXT),
        actor=OPERATOR,
        reply_timeout=10,
        chip=ChipEncoding(Personaliser(PROFILE, KEYS), printer.encoder, data),
    )


def check_ledger(ledger: Ledger) -> None:
    assert ledger.verify().ok
    assert ledger.blanks.reconcile().balanced
    rows = ledger._query("SELECT record_id, count(*) FROM cards WHERE valid = 1 GROUP BY 1")
    assert all(n == 1 for _, n in rows)
    assert sum(ledger.blanks.counts().values()) == 30


def test_each_card_is_personalised_then_printed(ledger: Ledger) -> None:
    ids = plan_batches(ledger)
    with VirtualPrinter(chips=blank_chip()) as printer:
        s = station(ledger, printer)
        reports = [s.run(b) for b in ids]
    assert sum(len(r.printed) for r in reports) == 24
    assert all(r.stopped is None for r in reports)
    assert ledger.counts() == {State.PRINTED: 24}
    assert len(printer.cards) == 24
    # Each printed card carries its holder's chip, written as the profile says.
    for nik, chip in zip([n for r in reports for n in r.printed], printer.card_chips, strict=True):
        assert chip is not None
        record = ledger.where_is(nik)
        expected = dict(data_groups(PROFILE, chip_data(record)))
        assert {fid: bytes(body) for fid, body in chip.files.items()} == expected
        (entry,) = ledger.chip_log(nik)
        assert entry.outcome == "written"
        assert entry.chip_serial == chip.uid.hex().upper()
        assert entry.serial == record.card_serial
        history = ledger.history(nik)
        assert f"chip {entry.chip_serial} written" in (history[-1].reason or "")
    serials = ledger._query("SELECT chip_serial FROM cards WHERE valid = 1")
    assert len({s for (s,) in serials}) == 24
    check_ledger(ledger)


def test_a_failed_chip_spoils_its_blank_and_the_batch_goes_on(ledger: Ledger) -> None:
    ids = plan_batches(ledger)
    faults = {
        2: ChipFaults(bad_mac_at={4}),
        4: ChipFaults(status_at={3: 0x6982}),
        6: ChipFaults(dead=True),
        8: ChipFaults(truncate_at={5}),
    }
    # Attempt 10: the chip station itself fails (no chip reachable).
    with VirtualPrinter(chips=blank_chip(faults), faults=Faults(chip_fail_at={10})) as printer:
        report = station(ledger, printer).run(ids[0])
    assert report.stopped is None
    assert len(report.chip_failed) == 5
    assert len(report.printed) == 7
    assert printer.rejected == 5
    assert len(printer.cards) == 7
    for nik in report.chip_failed:
        assert ledger.state_of(nik) is State.PRINT_READY
        (entry,) = ledger.chip_log(nik)
        assert entry.outcome == "failed"
        assert ledger.blanks.state_of(entry.serial) is BlankState.SPOILED
        assert str(nik) not in (entry.reason or "")
    reasons = " ".join(e.reason or "" for n in report.chip_failed for e in ledger.chip_log(n))
    for expected in ("MAC", "6982", "does not answer", "declares", "no card"):
        assert expected in reasons
    assert ledger.blanks.counts()[BlankState.SPOILED] == 5
    check_ledger(ledger)


def test_records_whose_chip_failed_are_planned_again_on_new_blanks(ledger: Ledger) -> None:
    ids = plan_batches(ledger)
    with VirtualPrinter(chips=blank_chip({1: ChipFaults(dead=True)})) as printer:
        s = station(ledger, printer)
        first = s.run(ids[0])
        (failed,) = first.chip_failed
        # The second batch, then a new plan for the record sent back.
        s.run(ids[1])
        again = plan_batches(ledger)
        assert len(again) == 1
        last = s.run(again[0])
    assert last.printed == [failed]
    log = ledger.chip_log(failed)
    assert [e.outcome for e in log] == ["failed", "written"]
    assert log[0].serial != log[1].serial
    assert ledger.counts() == {State.PRINTED: 24}
    check_ledger(ledger)


def test_a_refusal_after_the_chip_is_written_rejects_the_card(ledger: Ledger) -> None:
    ids = plan_batches(ledger)
    with VirtualPrinter(chips=blank_chip(), faults=Faults(ribbon_cards=3)) as printer:
        report = station(ledger, printer).run(ids[0])
    assert len(report.printed) == 3
    assert "NACK R" in (report.stopped or "")
    (spoiled,) = report.spoiled
    (entry,) = ledger.chip_log(spoiled)
    assert entry.outcome == "failed"
    assert "after its chip was written" in (entry.reason or "")
    assert ledger.state_of(spoiled) is State.PRINT_READY
    assert printer.rejected == 1
    check_ledger(ledger)


def test_chip_data_that_cannot_be_written_stops_the_run_before_a_card_moves(
    ledger: Ledger,
) -> None:
    ids = plan_batches(ledger)

    def not_a_jpeg(record: Any) -> ChipData:
        return dataclasses.replace(chip_data(record), photo=b"GIF89a...")

    with VirtualPrinter(chips=blank_chip()) as printer:
        with pytest.raises(ektpcore.InvalidArgumentError, match="JPEG"):
            station(ledger, printer, not_a_jpeg).run(ids[0])
        assert "Sic" not in printer.commands
    assert ledger.counts() == {State.QUEUED: 24}
    assert ledger._query("SELECT count(*) FROM station_journal") == [(0,)]
    check_ledger(ledger)


def test_the_chip_log_is_append_only(ledger: Ledger) -> None:
    ids = plan_batches(ledger)
    with VirtualPrinter(chips=blank_chip()) as printer:
        station(ledger, printer).run(ids[0])
    import sqlite3

    refused = (sqlite3.DatabaseError, ektpcore.LedgerError)
    with pytest.raises(refused, match="append-only"), ledger._write() as db:
        db.execute("UPDATE chip_log SET outcome = 'failed'")
    with pytest.raises(refused, match="append-only"), ledger._write() as db:
        db.execute("DELETE FROM chip_log")


def test_the_cli_runs_a_chip_station_against_a_served_encoder(
    tmp_path: Path, ledger_location: str
) -> None:
    from click.testing import CliRunner

    from ektpcore.chip import ChipServer
    from ektpcore.cli import main

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(PHOTO)
    prints = tmp_path / "prints"
    prints.mkdir()
    niks = NIKS[:6]
    for nik in niks:
        (prints / f"{nik}.right").write_bytes(b"R" * 300)
        (prints / f"{nik}.left").write_bytes(b"L" * 280)
    key_file = tmp_path / "master.hex"
    key_file.write_text("00112233445566778899aabbccddeeff\n")
    path = ledger_location
    with Ledger(path) as led:
        led.add_records(niks, OPERATOR, state=State.PRINT_READY, **card_intake(niks, str(photo)))
        led.blanks.receive("LOT", 1, 10, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        (batch,) = plan_batches(led)
    keys = SoftwareKeyProvider(bytes.fromhex("00112233445566778899aabbccddeeff"))

    def chips(k: int) -> VirtualChip:
        uid = bytes([4, k, 0, 0, 0, 0, 1])
        return VirtualChip(uid, keys.chip_keys(uid), faults=ChipFaults(dead=k == 2))

    with VirtualPrinter(chips=chips) as printer, ChipServer(printer.encoder()) as encoder:
        host, port = printer.address
        eh, ep = encoder.address
        result = CliRunner().invoke(
            main,
            [
                *("station", "run", str(path), "--printer", "P1"),
                *("--address", f"{host}:{port}", "--batch", batch, "--no-photo-check"),
                *("--chip-reader", f"tcp:{eh}:{ep}", "--key-file", str(key_file)),
                *("--fingerprints", str(prints)),
            ],
        )
    assert result.exit_code == 0, result.output
    assert "printed 5, spoiled 1 (1 chips failed)" in result.output
    assert all(chip is not None and chip.files for chip in printer.card_chips)
    with Ledger(path) as led:
        assert (
            sorted(e.outcome for n in niks for e in led.chip_log(n)) == ["failed"] + ["written"] * 5
        )
    served = CliRunner().invoke(
        main,
        [
            *("printer", "virtual", "--port", "0", "--for-seconds", "0.3"),
            *("--chips", str(key_file), "--encoder-port", "0"),
        ],
    )
    assert served.exit_code == 0, served.output
    assert "chip encoder's reader listens on" in served.output
    missing = CliRunner().invoke(
        main,
        [
            *("station", "run", str(path), "--printer", "P1", "--address", "127.0.0.1:1"),
            *("--batch", batch, "--chip-reader", "tcp:127.0.0.1:2"),
        ],
    )
    assert missing.exit_code != 0
    assert "--key-file and --fingerprints" in missing.output
