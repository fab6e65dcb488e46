"""Everyday bad input, tried on every command it reaches: encodings, delimiters, headers,
dates, sizes, paths and wrong files, refused ledgers and keys, sign-ins, batches that are not
there. Each must give one line, ``Error: ...``, with its documented exit code, never a
traceback or an unmasked NIK, and change nothing: the ledgers, the input files and the places
an output was refused stay as they were."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.cli import Exit, main
from ektpcore.keys import KeyFile

from ._exports import PRINTERS, siak_export
from .conftest import card_intake

OPERATOR, SUPERVISOR = Actor("ani", Role.OPERATOR), Actor("budi", Role.SUPERVISOR)
PASSWORD = "kata sandi yang panjang"
UNKNOWN_NIK = "3271014508990001"


def _write(folder: Path, name: str, data: bytes | str) -> None:
    (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bureau's folder, made once: its ledger (development mode) with batches queued,
    printed and without a ribbon, a ledger with users, a sealed ledger and keys, and files."""
    folder = tmp_path_factory.mktemp("bureau")
    export = siak_export(folder, name="export.csv")
    niks = export.niks
    with Ledger(folder / "bureau.db") as led:
        led.add_records(
            niks[:12],
            OPERATOR,
            state=State.PRINT_READY,
            kecamatan=["Bogor Barat"] * 12,
            **card_intake(niks[:12], str(folder / "foto" / "merah.png")),
        )
        led.blanks.receive("LOT-1", 1, 50, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        led.queue(niks[:5], "B-1", "P1", OPERATOR)
        led.queue(niks[5:7], "B-3", "P3", OPERATOR)  # P3 has no ribbon
        gone = card_intake(niks[15:17], str(folder / "foto" / "gone.png"))
        led.add_records(niks[15:17], OPERATOR, state=State.PRINT_READY, **gone)
        led.queue(niks[15:17], "B-gone", "P1", OPERATOR)  # their photo is not there
        serials = led.queue(niks[7:9], "B-done", "P1", OPERATOR)
        led.transition(
            niks[7:9], State.PRINTED, OPERATOR, batch="B-done", printer="P1", blanks=serials
        )
    with Ledger(folder / "users.db") as led:
        led.users.create_administrator("root", PASSWORD)
        root = led.sign_in("root", PASSWORD)
        led.users.add(root, "ani", Role.OPERATOR, password=PASSWORD)
        led.users.add(root, "budi", Role.SUPERVISOR, password=PASSWORD)
    keys = KeyFile.create(folder / "sealed.keys")
    KeyFile.create(folder / "other.keys")
    with Ledger(folder / "sealed.db", keys=keys) as led:
        led.add_records(niks[:3], OPERATOR)
    shutil.copy(folder / "sealed.keys", folder / "open.keys")
    os.chmod(folder / "open.keys", 0o644)
    _write(folder, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    _write(folder, "bad-bom.csv", b"\xef\xbb\xbfnik\n\xff\xfe\n")
    _write(folder, "book.csv", b"PK\x03\x04 not really a sheet")
    _write(folder, "bad.xlsx", b"not a zip at all")
    _write(folder, "long.csv", f"nik,nama\n{niks[0]},Ani,Bogor\n")
    _write(folder, "nonik.csv", "nama,alamat\nAni,Jl. Pajajaran\n")
    _write(folder, "nocard.csv", f"NIK,NAMA_LGKP\n{UNKNOWN_NIK},Ani\n")
    card = (
        "nik,nama,tmpt_lhr,tgl_lhr,alamat,rt,rw,agama,stat_kwn,jenis_pkrjn,foto,kec_name,kel_name"
    )
    row = f"{UNKNOWN_NIK},Ani,Bogor,05/08/1999,Jl. Pajajaran,001,002,Islam,KAWIN,PNS"
    _write(folder, "noregion.csv", f"{card}\n{row},foto/merah.png,Bogor Barat,Menteng\n")
    card += ",kab_name,prop_name"
    _write(
        folder,
        "nophoto.csv",
        f"{card}\n{row},foto/gone.png,Bogor Barat,Menteng,Kota Bogor,Jawa Barat\n",
    )
    _write(folder, "empty.csv", b"")
    _write(folder, "header.csv", "NIK;NAMA_LGKP;TGL_LHR\r\n")
    _write(folder, "afile.txt", "a file, not a folder\n")
    _write(folder, "existing.csv", "kept as it is\n")
    _write(folder, "printers.toml", PRINTERS)
    dates = "nik,nama,tgl_lhr\n" + "".join(f"{n},Ani,31/02/1990\n" for n in niks[12:15])
    _write(folder, "baddates.csv", dates)
    ready = "nik,ready\n" + "".join(f"{n},besok pagi\n" for n in niks[12:15])
    _write(folder, "badready.csv", ready)
    _write(folder, "recs.csv", "nik\n" + "".join(f"{n}\n" for n in niks[12:15]))
    return folder


@pytest.fixture
def bureau(template: Path, tmp_path: Path) -> Path:
    """A copy of the bureau's folder for one test to break."""
    return Path(shutil.copytree(template, tmp_path / "b"))


_SIGN_INS = ("signed in", "sign-in refused")


def _fingerprint(folder: Path) -> dict[str, Any]:
    """What must not change: every ledger's content, every file's bytes."""
    seen: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".db":
            keys = {"keys": KeyFile(folder / "sealed.keys")} if path.name == "sealed.db" else {}
            with Ledger(path, create=False, **keys) as led:
                seen[path.name] = (
                    led.counts(),
                    led.blanks.counts(),
                    [(r.printer, r.remaining) for r in led.ribbons.in_printers()],
                    [(b.name, b.states) for b in led.batches()],
                    # Every chained row but the sign-ins, which the audit keeps either way.
                    led.verify().rows - len([e for e in led.audit() if e.event in _SIGN_INS]),
                    [(u.name, u.role) for u in led.users.list()],
                )
        elif path.is_file() and not path.name.endswith(("-wal", "-shm")):
            seen[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            seen[path.name] = "folder"
    return seen


# Each case: the command's words ({B} is the bureau's folder), the exit code, and what the
# one line says.
CASES: list[tuple[str, str, Exit, str]] = [
    # encodings and file kinds
    ("xls", "nik check {B}/old.xls", Exit.INPUT, r"old\.xls: not a text file"),
    ("bom", "nik check {B}/bad-bom.csv", Exit.INPUT, r"bad-bom\.csv: a UTF-8 mark, then"),
    (
        "zip",
        "ledger import {B}/bureau.db {B}/book.csv --operator ani",
        Exit.INPUT,
        r"book\.csv: a workbook; name it \.xlsx",
    ),
    ("xlsx", "dedup {B}/bad.xlsx -o {B}/out", Exit.INPUT, r"bad\.xlsx: not a readable \.xlsx"),
    # delimiters and headers
    ("cells", "nik check {B}/long.csv", Exit.INPUT, r"long\.csv, row 2: 3 cells under 2"),
    ("no-nik", "nik check {B}/nonik.csv", Exit.INPUT, r"nonik\.csv: no column for nik"),
    (
        "no-nik-import",
        "ledger import {B}/bureau.db {B}/nonik.csv --operator ani",
        Exit.INPUT,
        r"no column for nik .*headers are nama, alamat",
    ),
    (
        "no-nik-plan",
        "plan {B}/nonik.csv {B}/printers.toml --blanks 5",
        Exit.INPUT,
        r"nonik\.csv: no column for nik",
    ),
    (
        "mapped-header",
        "ledger import {B}/bureau.db {B}/export.csv --column nik=Nomor --operator ani",
        Exit.INPUT,
        r"no column 'Nomor' for nik",
    ),
    (
        "unknown-field",
        "ledger import {B}/bureau.db {B}/export.csv --column nomor=NIK --operator ani",
        Exit.USAGE,
        r"--column: no field 'nomor'",
    ),
    (
        "no-card",
        "ledger import {B}/bureau.db {B}/nocard.csv --operator ani",
        Exit.INPUT,
        r"print-ready records need every field their card shows; no column for photo",
    ),
    (
        "no-region",
        "ledger import {B}/bureau.db {B}/noregion.csv --operator ani --default citizenship=WNI",
        Exit.INPUT,
        r"noregion\.csv: print-ready .* no column for kabupaten, province",
    ),
    (
        "no-photo-file",
        "ledger import {B}/bureau.db {B}/nophoto.csv --operator ani --default citizenship=WNI"
        " --rejects {B}/r.csv",
        Exit.PARTIAL,
        r"1 of 1 rows left out",
    ),
    ("toml", "plan {B}/recs.csv {B}/export.csv --blanks 5", Exit.INPUT, r"export\.csv: "),
    # dates
    (
        "dates",
        "ledger import {B}/bureau.db {B}/baddates.csv --state sent-for-enrolment"
        " --operator ani --rejects {B}/r.csv",
        Exit.PARTIAL,
        r"3 of 3 rows left out",
    ),
    (
        "ready",
        "plan {B}/badready.csv {B}/printers.toml --blanks 5 --rejects {B}/r.csv",
        Exit.NOTHING,
        r"badready\.csv: no record to plan",
    ),
    # sizes
    ("empty", "nik check {B}/empty.csv", Exit.INPUT, r"empty\.csv: the file is empty"),
    (
        "empty-import",
        "ledger import {B}/bureau.db {B}/empty.csv --operator ani",
        Exit.INPUT,
        r"the file is empty",
    ),
    ("header-dedup", "dedup {B}/header.csv -o {B}/out", Exit.INPUT, r"header\.csv: no rows"),
    ("header-nik", "nik check {B}/header.csv", Exit.INPUT, r"header\.csv: no rows"),
    (
        "header-import",
        "ledger import {B}/bureau.db {B}/header.csv --operator ani --state sent-for-enrolment",
        Exit.INPUT,
        r"header\.csv: no rows under the header",
    ),
    ("sample", "nik sample 1000000000000", Exit.USAGE, r"1000000000000 is not in the range"),
    (
        "blanks-huge",
        "plan {B}/recs.csv {B}/printers.toml --blanks " + "9" * 30,
        Exit.USAGE,
        r"--blanks",
    ),
    (
        "serial-huge",
        "blanks receive {B}/bureau.db --lot X --first 1 --last " + "9" * 25 + " --supervisor budi",
        Exit.USAGE,
        r"--last",
    ),
    (
        "lot-huge",
        "blanks receive {B}/bureau.db --lot X --first 100 --last 2000000 --supervisor budi",
        Exit.REFUSED,
        r"at most 1,000,000 cards",
    ),
    ("blank-huge", "ledger where-is {B}/bureau.db --blank " + "9" * 25, Exit.USAGE, r"--blank"),
    ("scenario-toml", "simulate --scenario {B}/export.csv --no-plot", Exit.INPUT, r"export\.csv: "),
    (
        "scenario",
        "simulate --set records.print_ready=1e12 --no-plot",
        Exit.USAGE,
        r"records\.print_ready must be a whole number in",
    ),
    # output paths, checked before the work
    (
        "json",
        "simulate --json {B}/missing/r.json --no-plot --quiet",
        Exit.OUTPUT,
        r"the folder .*missing does not exist",
    ),
    ("plot", "simulate --plot {B}/foto --quiet", Exit.OUTPUT, r"foto: is a folder"),
    (
        "sim-ledger",
        "simulate --ledger {B}/bureau.db --no-plot --quiet",
        Exit.LEDGER,
        r"bureau\.db: exists",
    ),
    (
        "sim-folder",
        "simulate --ledger {B}/missing/x.db --no-plot --quiet",
        Exit.OUTPUT,
        r"the folder .*missing does not exist",
    ),
    (
        "errors",
        "nik check {B}/export.csv --errors {B}/missing/e.csv",
        Exit.OUTPUT,
        r"the folder .*missing does not exist",
    ),
    (
        "cleaned-exists",
        "nik check {B}/export.csv --output {B}/existing.csv",
        Exit.OUTPUT,
        r"existing\.csv: exists; the cleaned sheet is written to a new file",
    ),
    (
        "export",
        "ledger export {B}/bureau.db {B}/existing.csv",
        Exit.OUTPUT,
        r"existing\.csv: exists; the export is written to a new file",
    ),
    (
        "backup",
        "ledger backup {B}/bureau.db {B}/missing/b.db",
        Exit.OUTPUT,
        r"the folder .*missing does not exist",
    ),
    ("dedup-out", "dedup {B}/export.csv -o {B}/afile.txt", Exit.OUTPUT, r"afile\.txt: is a file"),
    (
        "rejects",
        "ledger import {B}/bureau.db {B}/export.csv --rejects {B}/missing/r.csv --operator ani",
        Exit.OUTPUT,
        r"the folder .*missing does not exist",
    ),
    # wrong files for a ledger, and keys
    (
        "csv-ledger",
        "station run {B}/export.csv --printer P1 --address 127.0.0.1:9 --batch B-1",
        Exit.LEDGER,
        r"export\.csv: not a ledger",
    ),
    (
        "no-ledger",
        f"ledger where-is {{B}}/missing.db {UNKNOWN_NIK}",
        Exit.LEDGER,
        r"no ledger there .*\(ledger init makes one\)",
    ),
    ("folder-ledger", "ledger status {B}/foto", Exit.LEDGER, r"is a folder, not a ledger"),
    ("init-existing", "ledger init {B}/export.csv", Exit.LEDGER, r"export\.csv: exists"),
    ("init-folder", "ledger init {B}/missing/new.db", Exit.LEDGER, r"does not exist"),
    (
        "import-into-csv",
        "ledger import {B}/export.csv {B}/export.csv --operator ani"
        " --default citizenship=WNI --rejects {B}/r.csv",
        Exit.LEDGER,
        r"not a ledger",
    ),
    (
        "keys-open",
        "ledger status {B}/bureau.db --keys {B}/sealed.keys",
        Exit.KEYS,
        r"the ledger is not sealed",
    ),
    ("no-keys", "ledger status {B}/sealed.db", Exit.KEYS, r"the ledger is sealed; open it"),
    (
        "other-keys",
        "ledger status {B}/sealed.db --keys {B}/other.keys",
        Exit.KEYS,
        r"these are another ledger's keys",
    ),
    (
        "keys-mode",
        "ledger status {B}/sealed.db --keys {B}/open.keys",
        Exit.KEYS,
        r"the key file is open to others \(mode 0644\)",
    ),
    # the station's batch
    (
        "no-batch",
        "station run {B}/bureau.db --printer P1 --address 127.0.0.1:9 --batch NOPE",
        Exit.UNKNOWN,
        r"no batch NOPE in the ledger",
    ),
    (
        "elsewhere",
        "station run {B}/bureau.db --printer P2 --address 127.0.0.1:9 --batch B-1",
        Exit.ELSEWHERE,
        r"batch B-1 is queued for printer P1 \(5 cards\), not P2",
    ),
    (
        "done",
        "station run {B}/bureau.db --printer P1 --address 127.0.0.1:9 --batch B-done",
        Exit.NOTHING,
        r"batch B-done: nothing left to print \(2 PRINTED\)",
    ),
    (
        "no-ribbon",
        "station run {B}/bureau.db --printer P3 --address 127.0.0.1:9 --batch B-3",
        Exit.SHORT,
        r"printer P3 has no ribbon installed",
    ),
    (
        "photo-gone",
        "station run {B}/bureau.db --printer P1 --address 127.0.0.1:9 --batch B-gone",
        Exit.REFUSED,
        r"record 3271\*{10}\d\d \(W\. C\.\) cannot be printed: its photo file cannot be read",
    ),
    (
        "address",
        "station run {B}/bureau.db --printer P1 --address nowhere --batch B-1",
        Exit.USAGE,
        r"an address is host:port",
    ),
    # who acts
    (
        "role",
        "blanks receive {B}/users.db --lot X --first 900 --last 910 --user ani",
        Exit.DENIED,
        r"ani \(operator\) may not receive a lot of blanks",
    ),
    (
        "declared",
        "ribbon install {B}/users.db --printer P1 --operator ani",
        Exit.DENIED,
        r"this ledger has users: sign in with --user",
    ),
    (
        "dev-user",
        "ribbon install {B}/bureau.db --printer P9 --user ani",
        Exit.DENIED,
        r"this ledger has no users \(development mode\)",
    ),
    ("nobody", "ribbon install {B}/bureau.db --printer P9", Exit.USAGE, r"name who acts"),
    # refused by the ledger
    (
        "hold-queued",
        "record hold {B}/bureau.db {N0} --reason wait --operator ani",
        Exit.REFUSED,
        r"QUEUED -> ON_HOLD refused",
    ),
    (
        "overlap",
        "blanks receive {B}/bureau.db --lot Y --first 40 --last 60 --supervisor budi",
        Exit.REFUSED,
        r"overlap lot 'LOT-1'",
    ),
    (
        "nik-in-text",
        "record hold {B}/bureau.db {N11} --reason {N11} --operator ani",
        Exit.REFUSED,
        r"holds a NIK-shaped number",
    ),
    (
        "second-ribbon",
        "ribbon install {B}/bureau.db --printer P1 --operator ani",
        Exit.REFUSED,
        r"printer P1 has a ribbon \(498 of 500 prints left\)",
    ),
    # unknown and nothing to do
    (
        "unknown-nik",
        f"ledger where-is {{B}}/bureau.db {UNKNOWN_NIK}",
        Exit.UNKNOWN,
        r"no record with NIK 3271\*{10}01",
    ),
    (
        "invalid-nik",
        "ledger where-is {B}/bureau.db 32710145O8990001",
        Exit.USAGE,
        r"invalid NIK 3271\*{10}01",
    ),
    ("manifest", "manifest show {B}/bureau.db 99", Exit.UNKNOWN, r"no manifest 99"),
    (
        "manifest-print",
        "manifest print {B}/bureau.db 99 --region Bogor --output {B}/m.pdf",
        Exit.UNKNOWN,
        r"no manifest 99",
    ),
    (
        "berita-acara",
        f"berita-acara {{B}}/bureau.db {UNKNOWN_NIK} --region Bogor --output {{B}}/ba.pdf",
        Exit.UNKNOWN,
        r"no record with NIK 3271\*{10}01",
    ),
    (
        "request",
        "record approve {B}/bureau.db 42 --supervisor budi",
        Exit.UNKNOWN,
        r"no request 42",
    ),
    (
        "no-card-on-blank",
        "qc pass {B}/bureau.db --blank 49 --operator ani",
        Exit.UNKNOWN,
        r"no card was printed on blank 49",
    ),
    (
        "build",
        "manifest build {B}/bureau.db --operator ani",
        Exit.NOTHING,
        r"no card passed quality control",
    ),
    (
        "qc-nothing",
        "qc pass {B}/bureau.db --batch B-1 --operator ani",
        Exit.NOTHING,
        r"no printed card waits for quality control",
    ),
    (
        "no-ribbon-to-change",
        "ribbon change {B}/bureau.db --printer P7 --operator ani",
        Exit.NOTHING,
        r"printer P7 has no ribbon to change",
    ),
]


def _words(command: str, folder: Path) -> list[str]:
    niks = [str(n) for n in siak_niks(folder)]
    text = command.replace("{B}", str(folder))
    for i in (0, 11):
        text = text.replace(f"{{N{i}}}", niks[i])
    return text.split()


def siak_niks(folder: Path) -> list[int]:
    """The export's NIKs, as the bureau's ledger holds them (intake order)."""
    with Ledger(folder / "bureau.db", create=False) as led:
        return [int(r.nik) for r in led.records()]


def _check_one_line(code: int, stderr: str, stdout: str, expected: Exit, pattern: str) -> None:
    assert code == expected, f"exit {code}, wanted {expected.name}: {stdout}{stderr}"
    assert "Traceback" not in stderr + stdout
    errors = [ln for ln in stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1, stderr
    assert re.search(pattern, errors[0]), errors[0]


@pytest.mark.parametrize(("case", "command", "code", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_is_one_line_its_exit_code_and_nothing_changed(
    bureau: Path, case: str, command: str, code: Exit, says: str
) -> None:
    words = _words(command, bureau)
    before = _fingerprint(bureau)
    result = CliRunner().invoke(
        main, words, env={"EKTPCORE_PASSWORD": PASSWORD}, catch_exceptions=False
    )
    _check_one_line(result.exit_code, result.stderr, result.stdout, code, says)
    shown = result.stdout + result.stderr
    assert not any(str(n) in shown for n in siak_export_niks(bureau))
    after = _fingerprint(bureau)
    if "--rejects" in command:  # the report of the rows left out is what was asked for
        assert after.pop("r.csv", None) is not None or code != Exit.PARTIAL
    assert after == before
    assert not (bureau / "missing").exists()
    assert not (bureau / "missing.db").exists()


def siak_export_niks(folder: Path) -> list[int]:
    """Every NIK in the export, good rows and bad."""
    text = (folder / "export.csv").read_bytes().decode("cp1252")
    return [int(line[:16]) for line in text.splitlines()[1:] if line[:16].isdigit()]


SUBPROCESS = ["csv-ledger", "no-batch", "keys-mode", "empty", "json", "unknown-nik"]


@pytest.mark.parametrize("case", SUBPROCESS)
def test_the_same_from_a_shell(bureau: Path, case: str) -> None:
    _, command, code, says = next(c for c in CASES if c[0] == case)
    env = dict(os.environ, EKTPCORE_PASSWORD=PASSWORD)
    env["PYTHONPATH"] = str(Path(ektpcore.__file__).parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "ektpcore", *_words(command, bureau)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    _check_one_line(done.returncode, done.stderr, done.stdout, code, says)


def test_every_exit_code_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    for code in Exit:
        assert f"| {int(code)} | `{code.name}` |" in doc, code.name
    assert len({c[2] for c in CASES}) >= len(Exit) - 3  # the catalogue reaches nearly every code


def test_a_plan_short_of_blanks_says_so_with_its_code(tmp_path: Path) -> None:
    """No blank in stock: nothing queued, exit 12 (receive blanks). Blanks for some of the
    records: those are queued, the rest named, exit 13 (done in part)."""
    niks = [int(n) for n in ektpcore.sample_niks(3, seed=1611)]
    _write(tmp_path, "printers.toml", PRINTERS)
    with Ledger(tmp_path / "bureau.db") as led:
        led.add_records(niks, OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Barat"] * 3)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
    words = ["plan", str(tmp_path / "printers.toml"), "--ledger", str(tmp_path / "bureau.db")]
    words += ["--commit", "--operator", "ani"]
    none = CliRunner().invoke(main, [*words, "--prefix", "A"])
    _check_one_line(none.exit_code, none.stderr, none.stdout, Exit.SHORT, r"receive blanks first")
    with Ledger(tmp_path / "bureau.db", create=False) as led:
        assert led.counts() == {State.PRINT_READY: 3}
        led.blanks.receive("LOT", 1, 2, SUPERVISOR)
    some = CliRunner().invoke(main, [*words, "--prefix", "B"])
    _check_one_line(
        some.exit_code,
        some.stderr,
        some.stdout,
        Exit.PARTIAL,
        r"1 batch queued; 1 record not planned \(1 record: no blank left for it\)",
    )
    assert "B-00001: 2 cards queued for P1" in some.stdout
    with Ledger(tmp_path / "bureau.db", create=False) as led:
        assert led.counts() == {State.QUEUED: 2, State.PRINT_READY: 1}


def test_a_row_whose_birth_date_or_sex_is_not_its_niks_is_left_out(tmp_path: Path) -> None:
    """The NIK holds the birth date and the sex: a row that says otherwise would print a card
    that contradicts itself, so it is left out with its reason; the others are taken."""
    shutil.copytree(Path(siak_export(tmp_path).path).parent / "foto", tmp_path / "sheet" / "foto")
    born = "05/08/1999"  # UNKNOWN_NIK: a woman born 05-08-99
    head = "NIK;NAMA_LGKP;TMPT_LHR;TGL_LHR;JENIS_KLMIN;ALAMAT;NO_RT;NO_RW;KEL_NAME;KEC_NAME"
    head += ";KAB_NAME;PROP_NAME;AGAMA;STAT_KWN;JENIS_PKRJN;FOTO"
    rest = "Jl. Pajajaran;001;002;Menteng;Bogor Barat;Kota Bogor;Jawa Barat;Islam;KAWIN;PNS"
    rows = [
        f"{UNKNOWN_NIK};Siti Aminah;Bogor;{born};PEREMPUAN;{rest};foto/merah.png",
        f"3271014508990002;Sri Astuti;Bogor;06/08/1999;PEREMPUAN;{rest};foto/merah.png",
        f"3271014508990003;Ani Lestari;Bogor;{born};LAKI-LAKI;{rest};foto/merah.png",
        f"3271014508990004;Dewi Sartika;Bogor;{born};P;{rest};foto/merah.png",
    ]
    sheet = tmp_path / "sheet" / "prr.csv"
    sheet.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    Ledger(tmp_path / "bureau.db").close()
    words = ["ledger", "import", str(tmp_path / "bureau.db"), str(sheet)]
    result = CliRunner().invoke(main, [*words, "--default", "citizenship=WNI", "--operator", "ani"])
    _check_one_line(result.exit_code, result.stderr, result.stdout, Exit.PARTIAL, r"2 of 4 rows")
    assert "2 records added as PRINT_READY; 2 left out" in result.stdout
    rejects = (tmp_path / "sheet" / "prr-rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejects[1:] == [
        "3,3271**********02,S. A.,TGL_LHR,the birth date is not the NIK's",
        "4,3271**********03,A. L.,JENIS_KLMIN,the sex is not the NIK's",
    ]
    with Ledger(tmp_path / "bureau.db", create=False) as led:
        assert led.counts() == {State.PRINT_READY: 2}


def test_a_row_whose_name_or_region_holds_a_control_character_is_left_out(
    tmp_path: Path,
) -> None:
    """A cell with an escape, a bell or a direction override (a SIAK export gone wrong)
    leaves its row out with the reason, by the ledger's own rule for the names it keeps;
    the other rows are taken, and nothing of the bad cell reaches the terminal."""
    head = "NIK;NAMA_LGKP;KEC_NAME;KEL_NAME"
    niks = [f"32710145089900{i:02d}" for i in range(1, 5)]
    rows = [
        f"{niks[0]};Siti Aminah;Bogor Barat;Menteng",
        f"{niks[1]};Sri Astuti;Bogor\x1b[2JBarat;Menteng",
        f"{niks[2]};Ani Lestari;Bogor Barat;Menteng\x07[OK] balanced",
        f"{niks[3]};Dewi\u202eSartika;Bogor Barat;Menteng",
    ]
    sheet = tmp_path / "sfe.csv"
    sheet.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    Ledger(tmp_path / "bureau.db").close()
    words = ["ledger", "import", str(tmp_path / "bureau.db"), str(sheet), "--operator", "ani"]
    result = CliRunner().invoke(main, [*words, "--state", "sent-for-enrolment"])
    _check_one_line(result.exit_code, result.stderr, result.stdout, Exit.PARTIAL, r"3 of 4 rows")
    assert not any(ch in result.output for ch in "\x1b\x07\u202e")
    rejects = (tmp_path / "sfe-rejects.csv").read_text(encoding="utf-8").splitlines()
    assert [r.split(",")[:4] for r in rejects[1:]] == [
        ["3", "3271**********02", "S. A.", "KEC_NAME"],
        ["4", "3271**********03", "A. L.", "KEL_NAME"],
        ["5", "3271**********04", "D.", "NAMA_LGKP"],
    ]
    assert all("control character" in r for r in rejects[1:])
    with Ledger(tmp_path / "bureau.db", create=False) as led:
        assert led.counts() == {State.SENT_FOR_ENROLMENT: 1}


def test_a_row_whose_card_field_or_photo_breaks_the_rule_for_texts_is_left_out(
    ledger_location: str, tmp_path: Path
) -> None:
    """A card field or a photo reference holding a control character (an escape sequence, a
    direction override or isolate, NUL-like C0 and C1 controls, a line break where the field is
    one line) or a name of thousands of characters leaves its row out, the reject naming the
    row and the column; rows as real exports have them (accented names, an address over two
    lines, CRLF and all) are taken, on both stores."""
    folder = tmp_path / "sheet"
    shutil.copytree(Path(siak_export(tmp_path).path).parent / "foto", folder / "foto")
    head = "NIK;NAMA_LGKP;TMPT_LHR;TGL_LHR;JENIS_KLMIN;ALAMAT;NO_RT;NO_RW;KEL_NAME;KEC_NAME"
    head += ";KAB_NAME;PROP_NAME;AGAMA;STAT_KWN;JENIS_PKRJN;FOTO"
    good = {"TMPT_LHR": "Bogor", "ALAMAT": "Jl. Pajajaran", "NO_RT": "001", "JENIS_PKRJN": "PNS"}
    wrong = [
        ("Dédé Sutisna", {"ALAMAT": "Jl. Pajajaran No. 5\r\nKomplek Griya Asri"}, ""),
        ("Zoë Ma'ruf", {"ALAMAT": "Gg. Mawar\nBlok C\t12"}, ""),
        ("Siti Aminah", {"ALAMAT": "Jl. \x1b[2JPajajaran"}, "ALAMAT"),
        ("Sri Astuti", {"TMPT_LHR": "Bo\u202egor"}, "TMPT_LHR"),
        ("Ani Lestari", {"JENIS_PKRJN": "PNS\u2067"}, "JENIS_PKRJN"),
        ("Dewi Sartika", {"NO_RT": "0\x9b01"}, "NO_RT"),
        ("Rina " + "Wati" * 1_250, {}, "NAMA_LGKP"),
        ("Ayu Lestari", {"FOTO": "foto/merah.png\x07"}, "FOTO"),
        ("Tuti Alawiyah", {"TMPT_LHR": "Bogor\nBarat"}, "TMPT_LHR"),
    ]
    niks = [f"32710145089900{i:02d}" for i in range(1, len(wrong) + 1)]
    with (folder / "prr.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(head.split(";"))
        for nik, (name, cells, _) in zip(niks, wrong, strict=True):
            row = {**good, "FOTO": "foto/merah.png", **cells}
            place = ["002", "Menteng", "Bogor Barat", "Kota Bogor", "Jawa Barat", "Islam", "KAWIN"]
            born = [row["TMPT_LHR"], "05/08/1999", "PEREMPUAN", row["ALAMAT"], row["NO_RT"]]
            w.writerow([nik, name, *born, *place, row["JENIS_PKRJN"], row["FOTO"]])
    Ledger(ledger_location).close()
    words = ["ledger", "import", ledger_location, str(folder / "prr.csv"), "--operator", "ani"]
    result = CliRunner().invoke(main, [*words, "--default", "citizenship=WNI"])
    left = len(wrong) - 2
    _check_one_line(
        result.exit_code, result.stderr, result.stdout, Exit.PARTIAL, rf"{left} of 9 rows"
    )
    assert not any(ch in result.output for ch in "\x1b\x07\x9b\u202e\u2067")
    with (folder / "prr-rejects.csv").open(encoding="utf-8", newline="") as f:
        rejects = list(csv.reader(f))[1:]
    expected = [[str(i + 2), column] for i, (_, _, column) in enumerate(wrong) if column]
    assert [[r[0], r[3]] for r in rejects] == expected
    reasons = [r[4] for r in rejects]
    assert all(r.startswith("the cell ") for r in reasons)
    assert "the cell is longer than 200 characters (5,005)" in reasons
    assert sum("holds a control character (U+" in r for r in reasons) == left - 1
    with Ledger(ledger_location, create=False) as led:
        assert led.counts() == {State.PRINT_READY: 2}
        first, second = led.where_is(int(niks[0])), led.where_is(int(niks[1]))
    assert (first.name, first.card.address) == (
        "Dédé Sutisna",
        "Jl. Pajajaran No. 5\r\nKomplek Griya Asri",
    )
    assert (second.name, second.card.address) == ("Zoë Ma'ruf", "Gg. Mawar\nBlok C\t12")


def test_a_cleaned_sheet_is_kept_from_other_users(bureau: Path) -> None:
    """``--output`` writes citizens' data in clear: a new file only its owner reads."""
    cleaned = bureau / "cleaned.csv"
    result = CliRunner().invoke(
        main, ["nik", "check", str(bureau / "export.csv"), "--output", str(cleaned)]
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(cleaned.stat().st_mode) == 0o600
    assert cleaned.read_text(encoding="utf-8").startswith("NIK,NAMA_LGKP,")  # UTF-8, commas


def test_a_printer_that_cannot_be_reached_is_exit_1_and_no_card_moves(bureau: Path) -> None:
    """Nothing was printed: not 'done in part' (13) but the documented 1, the batch's cards
    still queued on their blanks."""
    words = f"station run {bureau}/bureau.db --printer P1 --address 127.0.0.1:9 --batch B-1"
    result = CliRunner().invoke(main, words.split())
    _check_one_line(
        result.exit_code, result.stderr, result.stdout, Exit.ERROR, r"cannot reach the printer"
    )
    assert "B-1: printed 0, spoiled 0, in doubt 0, still queued 5" in result.stdout
    with Ledger(bureau / "bureau.db", create=False) as led:
        assert [b.states for b in led.batches("B-1")] == [{State.QUEUED: 5}]


def test_an_export_taken_in_twice_adds_nothing_and_says_so(tmp_path: Path) -> None:
    """The second time, every row is already in the ledger: left as it is, exit 0, and
    nothing calls those rows 'left out'."""
    export = siak_export(tmp_path)
    Ledger(tmp_path / "bureau.db").close()
    words = ["ledger", "import", str(tmp_path / "bureau.db"), str(export.path)]
    words += ["--default", "citizenship=WNI", "--operator", "ani"]
    first = CliRunner().invoke(main, words)
    assert first.exit_code == Exit.PARTIAL  # the export's four bad rows
    again = CliRunner().invoke(main, words)
    assert again.exit_code == Exit.PARTIAL
    assert "0 records added as PRINT_READY; 4 left out; 18 already in the ledger" in again.stdout
    good = tmp_path / "good.csv"
    good.write_bytes(b"\r\n".join(export.path.read_bytes().splitlines()[:19]) + b"\r\n")
    third = CliRunner().invoke(main, [*words[:3], str(good), *words[4:]])
    assert third.exit_code == 0, third.output
    assert "0 records added as PRINT_READY; 0 left out; 18 already in the ledger" in third.stdout
    assert "left out, with the reason" not in third.stderr
    assert "rows already in the ledger, with the reason: " in third.stderr
