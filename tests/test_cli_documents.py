"""The papers from the command line: the kelurahan leg's manifests, a manifest printed for
its box, the hand-over record and the day's report, read back from the PDFs."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.cli import main

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [int(v) for v in ektpcore.sample_niks(4, seed=88)]


def text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_manifests_of_both_legs_a_hand_over_record_and_the_days_report(
    ledger_location: str, tmp_path: Path
) -> None:
    with Ledger(ledger_location) as led:
        led.add_records(
            NIKS,
            OPERATOR,
            state=State.PRINT_READY,
            names=["Siti Aminah", "Budi Santoso", "Agus Salim", "Dewi Lestari"],
            kecamatan=["Bogor Selatan"] * 4,
            kelurahan=["Empang", "Empang", "Batutulis", "Batutulis"],
        )
        led.blanks.receive("LOT", 1, 10, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        serials = led.queue(NIKS, "B-1", "P1", OPERATOR)
        led.transition(NIKS, State.PRINTED, OPERATOR, batch="B-1", printer="P1", blanks=serials)
        led.transition(NIKS, State.ENCODED, OPERATOR)
        led.transition(NIKS, State.QC_PASSED, OPERATOR)
    who = ("--operator", "ani")
    place = ("--region", "Kota Bogor")
    assert "Bogor Selatan, 4 cards" in run("manifest", "build", ledger_location, *who)
    run("manifest", "dispatch", ledger_location, "1", *who)
    run(
        "manifest", "receive", ledger_location, "1", "--receiver", "Pak Camat", "--count", "4", *who
    )
    built = run("manifest", "build", ledger_location, "--leg", "kelurahan", *who)
    assert "Bogor Selatan / Batutulis, 2 cards" in built
    assert "Bogor Selatan / Empang, 2 cards" in built
    empang = next(line.split(":")[0].split()[1] for line in built.splitlines() if "Empang" in line)
    run("manifest", "dispatch", ledger_location, empang, *who)
    run(
        "manifest",
        "receive",
        ledger_location,
        empang,
        "--receiver",
        "Bu Lurah",
        "--count",
        "2",
        *who,
    )
    run("handover", ledger_location, str(NIKS[0]), "--identity-check", "KK dicocokkan", *who)

    pdf = tmp_path / "manifest.pdf"
    run("manifest", "print", ledger_location, empang, *place, "--output", str(pdf))
    printed = text(pdf)
    assert "Empang" in printed
    assert "Halaman 1 dari 1" in printed
    assert str(NIKS[1]) not in printed  # masked on a manifest

    record = tmp_path / "berita-acara.pdf"
    run("berita-acara", ledger_location, str(NIKS[0]), *place, "--output", str(record))
    assert str(NIKS[0]) in text(record)  # the hand-over record binds the full NIK

    # At a desk the NIKs come from standard input (-), never on the command line: a card
    # handed over and both hand-over records printed so. A line that is no NIK is one line
    # naming it, exit 2, and no paper is written.
    handed = CliRunner().invoke(
        main,
        ["handover", ledger_location, "-", "--identity-check", "KK dicocokkan", *who],
        input=f"{NIKS[1]}\n",
    )
    assert handed.exit_code == 0, handed.output
    both = tmp_path / "berita-acara-2.pdf"
    bad = CliRunner().invoke(
        main,
        ["berita-acara", ledger_location, "-", *place, "--output", str(both)],
        input=f"{NIKS[0]}\n{str(NIKS[1])[:-1]}\n",
    )
    assert bad.exit_code == 2, bad.output
    assert bad.output.startswith("Error: standard input, line 2: invalid NIK ")
    assert bad.output.count("\n") == 1
    assert str(NIKS[1])[:-1] not in bad.output
    assert not both.exists()
    run_in = CliRunner().invoke(
        main,
        ["berita-acara", ledger_location, "-", *place, "--output", str(both)],
        input=f"{NIKS[0]}\n\n{NIKS[1]}\n",
    )
    assert run_in.exit_code == 0, run_in.output
    assert "berita acara for 2 card(s)" in run_in.output
    assert str(NIKS[0]) in text(both)
    assert str(NIKS[1]) in text(both)

    report, figures = tmp_path / "report.pdf", tmp_path / "report.csv"
    out = run("report", "day", ledger_location, *place, "-o", str(report), "--csv", str(figures))
    assert "report:" in out
    assert "Halaman 1 dari" in text(report)
    assert figures.read_text().strip()

    # Output paths are checked before any work: a folder is refused with its exit code.
    refused = CliRunner().invoke(
        main, ["report", "day", ledger_location, *place, "--output", str(tmp_path)]
    )
    assert refused.exit_code == 4
    assert "is a folder" in refused.output

    # Every paper is a new file of mode 0600 (docs/cli.md): the berita acara holds the full
    # NIK, the name and the identity check. An existing file is one line naming it, exit 4,
    # and stays as it was; a symbolic link where the file is expected is never written
    # through, whether it points nowhere or at a file.
    for path in (pdf, record, report, figures):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    elsewhere = tmp_path / "elsewhere.pdf"
    (tmp_path / "dangling.pdf").symlink_to(elsewhere)
    decoy = tmp_path / "decoy.pdf"
    decoy.write_bytes(b"kept")
    (tmp_path / "aimed.pdf").symlink_to(decoy)
    before = record.read_bytes()
    for target in (record, tmp_path / "dangling.pdf", tmp_path / "aimed.pdf"):
        for words in (
            ["berita-acara", ledger_location, str(NIKS[0]), *place],
            ["manifest", "print", ledger_location, empang, *place],
            ["report", "day", ledger_location, *place],
        ):
            again = CliRunner().invoke(main, [*words, "--output", str(target)])
            assert again.exit_code == 4, again.output
            assert again.output.count("\n") == 1
            assert str(target) in again.output
    assert record.read_bytes() == before
    assert not elsewhere.exists()
    assert decoy.read_bytes() == b"kept"


def test_a_card_failed_at_quality_control_is_counted_against_its_batch(
    ledger_location: str, tmp_path: Path
) -> None:
    """The day report's spoiled blanks name the batch each card was printed in, also for a
    card spoiled later, at quality control."""
    with Ledger(ledger_location) as led:
        led.add_records(NIKS[:2], OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Barat"] * 2)
        led.blanks.receive("LOT", 1, 10, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        serials = led.queue(NIKS[:2], "B-0711", "P1", OPERATOR)
        led.transition(
            NIKS[:2], State.PRINTED, OPERATOR, batch="B-0711", printer="P1", blanks=serials
        )
    said = run(
        "qc",
        "fail",
        ledger_location,
        "--blank",
        str(serials[0]),
        "--reason",
        "foto buram",
        "--operator",
        "ani",
    )
    assert "SPOILED" in said
    with Ledger(ledger_location) as led:
        spoiled = [m for m in led.blanks.movements() if m.target.value == "SPOILED"]
        assert [(m.serial, m.batch) for m in spoiled] == [(serials[0], "B-0711")]
    report = tmp_path / "laporan.pdf"
    run("report", "day", ledger_location, "--region", "Kota Bogor", "-o", str(report))
    assert "B-0711" in text(report)


def test_a_manifest_lists_the_cards_as_they_lie_in_the_box(
    ledger_location: str, tmp_path: Path
) -> None:
    """Within each kelurahan the cards are listed by blank serial, whatever order the
    records were taken in, so an officer checks the box card by card down the page."""
    names = ["Siti Aminah", "Budi Santoso", "Agus Salim", "Dewi Lestari"]
    with Ledger(ledger_location) as led:
        led.add_records(
            NIKS, OPERATOR, state=State.PRINT_READY, names=names, kecamatan=["Bogor Barat"] * 4
        )
        led.blanks.receive("LOT", 101, 110, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        order = [NIKS[2], NIKS[0], NIKS[3], NIKS[1]]
        serials = led.queue(order, "B-1", "P1", OPERATOR)
        led.transition(order, State.PRINTED, OPERATOR, batch="B-1", printer="P1", blanks=serials)
        led.transition(order, State.ENCODED, OPERATOR)
        led.transition(order, State.QC_PASSED, OPERATOR)
        (built,) = led.distribution.build(OPERATOR)
    pdf = tmp_path / "manifest.pdf"
    run(
        "manifest",
        "print",
        ledger_location,
        str(built.id),
        "--region",
        "Kota Bogor",
        "-o",
        str(pdf),
    )
    listed = [int(s) for s in re.findall(r"\b(10[1-9]|110)\b", text(pdf).split("Daftar kartu")[1])]
    assert listed == sorted(serials)


def test_the_days_report_is_of_the_bureau_day_in_progress(tmp_path: Path) -> None:
    """Without --date, the day report is of the day whose 08.00-08.00 WIB window holds now:
    between midnight and 08.00 the night shift of yesterday's day is still on."""
    import datetime as dt

    from ektpcore.clock import WIB

    ledger = str(tmp_path / "ledger.db")
    Ledger(ledger).close()
    before = (dt.datetime.now(WIB) - dt.timedelta(hours=8)).date()
    report = tmp_path / "laporan.pdf"
    run("report", "day", ledger, "--region", "Kota Bogor", "-o", str(report))
    after = (dt.datetime.now(WIB) - dt.timedelta(hours=8)).date()
    shown = text(report)
    assert (
        f"Laporan harian {before:%d-%m-%Y}" in shown or f"Laporan harian {after:%d-%m-%Y}" in shown
    )
