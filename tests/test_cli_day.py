"""A bureau's whole day from the command line alone: a SIAK export (Windows-1252, SIAK
headers, day-first dates, bad rows) taken in, blanks and a ribbon recorded, batches planned
and queued, printed at a (virtual) printer that drops its connection mid-batch, the card in
doubt settled, quality control with one failure printed again, manifests dispatched and
received, every card handed over: ISSUED, on both stores, open and sealed, with users signed
in. No output names a citizen: NIKs masked, names as initials."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ektpcore import Ledger, State
from ektpcore.cli import main
from ektpcore.keys import KeyFile
from ektpcore.printing import Faults, VirtualPrinter

from ._exports import PRINTERS, Export, siak_export

PASSWORD = "kata sandi yang panjang"


class Day:
    """Runs commands on one ledger, checking each exit code and what it shows."""

    def __init__(self, location: str, export: Export, env: dict[str, str]) -> None:
        self.location, self.export, self.env = location, export, env
        self.outputs: list[str] = []

    def __call__(self, *words: str, code: int = 0) -> Result:
        args = [self.location if w == "LEDGER" else w for w in words]
        result = CliRunner().invoke(main, args, env=self.env, catch_exceptions=False)
        text = result.output
        self.outputs.append(text)
        assert result.exit_code == code, f"{' '.join(words)}: {text}"
        assert "Traceback" not in text
        if code:
            errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error: ")]
            assert len(errors) == 1, result.stderr
        return result


def _never_shown(day: Day, export: Export) -> None:
    shown = "\n".join(day.outputs)
    for nik in export.niks:
        assert str(nik) not in shown
    for name in export.names:
        assert name not in shown
    assert re.search(r"\d{4}\*{10}\d{2}", shown)  # masked NIKs are shown


@pytest.mark.parametrize("sealed", [False, True], ids=["open", "sealed"])
def test_a_whole_day_from_an_export_to_issued(
    ledger_location: str, tmp_path: Path, sealed: bool
) -> None:
    export = siak_export(tmp_path)
    (tmp_path / "printers.toml").write_text(PRINTERS, encoding="utf-8")
    env = {"EKTPCORE_PASSWORD": PASSWORD, "EKTPCORE_NEW_PASSWORD": PASSWORD}
    keys = tmp_path / "private" / "bureau.keys"
    keys.parent.mkdir()
    day = Day(ledger_location, export, env)
    if sealed:
        day("ledger", "init", "LEDGER", "--keys", str(keys), "--new-keys")
        env["EKTPCORE_LEDGER_KEYS"] = str(keys)  # every later command finds the keys here
    else:
        day("ledger", "init", "LEDGER")
    # Setting up, once: the administrator, the staff, the printer's station.
    day("users", "create-administrator", "LEDGER", "--name", "root")
    for name, role in (("budi", "supervisor"), ("ani", "operator")):
        day("users", "add", "LEDGER", "--admin", "root", "--name", name, "--role", role)
    token = tmp_path / "p1.token"
    day(
        "users",
        "add-station",
        "LEDGER",
        "--admin",
        "root",
        "--name",
        "P1@pc-1",
        "--token-file",
        str(token),
    )
    # The morning: the export taken in; the bad rows left out with their reasons.
    rejects = tmp_path / "rejects.csv"
    taken = day(
        "ledger",
        "import",
        "LEDGER",
        str(export.path),
        "--user",
        "ani",
        "--default",
        "citizenship=WNI",
        "--rejects",
        str(rejects),
        code=13,
    )
    assert "18 records added as PRINT_READY; 4 left out" in taken.stdout
    assert "read as windows-1252" in taken.stderr
    with rejects.open(encoding="utf-8") as f:
        left_out = list(csv.DictReader(f))
    assert {int(r["row"]): r["column"] for r in left_out} == export.bad_rows
    reasons = " | ".join(r["reason"] for r in left_out)
    assert "invalid NIK" in reasons
    assert "no such day" in reasons
    assert "repeats row 3" in reasons
    assert "the card lacks rt" in reasons
    # The same export taken in again (tomorrow's holds today's rows too): nothing doubled.
    intake = ["ledger", "import", "LEDGER", str(export.path), "--default", "citizenship=WNI"]
    again = day(*intake, "--user", "ani", "--rejects", str(rejects), code=13)
    assert "0 records added as PRINT_READY; 4 left out; 18 already in the ledger" in again.stdout
    day(
        "blanks",
        "receive",
        "LEDGER",
        "--lot",
        "KEMENDAGRI-2017-11",
        "--first",
        "1001",
        "--last",
        "1100",
        "--user",
        "budi",
    )
    day("ribbon", "install", "LEDGER", "--printer", "P1", "--user", "ani")
    # Planned and queued: batches of at most 8 cards.
    plan = ["plan", str(tmp_path / "printers.toml"), "--ledger", "LEDGER", "--commit"]
    planned = day(*plan, "--user", "ani", "--start", "2017-11-13T08:00", "--prefix", "B1113")
    batches = re.findall(r"^(B1113-\d{5}): (\d+) cards queued", planned.stdout, re.M)
    assert sum(int(n) for _, n in batches) == 18
    assert len(batches) == 3
    assert "B1113-00003" in day("batch", "list", "LEDGER", "--waiting").stdout
    station = ["station", "run", "LEDGER", "--printer", "P1", "--token-file", str(token)]
    # The printer drops its connection after the third card: the card in flight is in doubt.
    with VirtualPrinter(faults=Faults(drop_after_cards=3)) as printer:
        address = "{}:{}".format(*printer.address)
        stopped = day(*station, "--address", address, "--batch", "B1113-00001", code=13)
    assert "printed 2, spoiled 0, in doubt 1, still queued 5" in stopped.stdout
    doubt = day("in-doubt", "list", "LEDGER").stdout
    (serial,) = re.findall(r"^blank (\d+): ", doubt, re.M)
    day(
        "in-doubt",
        "settle",
        "LEDGER",
        "--blank",
        serial,
        "--printed",
        "--user",
        "budi",
        "--note",
        "found whole in the output tray",
    )
    with VirtualPrinter() as printer:
        address = "{}:{}".format(*printer.address)
        for name, _ in batches:
            day(*station, "--address", address, "--batch", name)
        # Quality control: one card smudged, printed again in a batch of its own.
        day("qc", "fail", "LEDGER", "--blank", "1004", "--reason", "photo smudged", "--user", "ani")
        for name, _ in batches:
            day("qc", "pass", "LEDGER", "--batch", name, "--user", "ani")
        day(*plan, "--user", "ani", "--prefix", "R1113")
        day(*station, "--address", address, "--batch", "R1113-00001")
    day("qc", "pass", "LEDGER", "--batch", "R1113-00001", "--user", "ani")
    # Distribution: one manifest per kecamatan, dispatched, received with the count.
    built = day("manifest", "build", "LEDGER", "--user", "ani").stdout
    manifests = re.findall(r"^manifest (\d+): ([^,]+), (\d+) cards", built, re.M)
    assert {k: int(n) for _, k, n in manifests} == export.per_kecamatan()
    for number, _, count in manifests:
        day("manifest", "dispatch", "LEDGER", number, "--user", "ani")
        day(
            "manifest",
            "receive",
            "LEDGER",
            number,
            "--receiver",
            "Ibu Camat",
            "--count",
            count,
            "--user",
            "ani",
        )
    # The collection day: every citizen takes the card.
    collected = tmp_path / "collected.csv"
    with collected.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["NIK", "cek identitas"])
        w.writerows([nik, "KK dan foto cocok"] for nik in export.niks)
    day(
        "handover",
        "LEDGER",
        "--sheet",
        str(collected),
        "--column",
        "identity_check=cek identitas",
        "--user",
        "ani",
    )
    # The end of the day: every blank accounted for, the history whole.
    balanced = day("ledger", "reconcile", "LEDGER").stdout
    assert "balanced" in balanced
    assert "SPOILED             1" in balanced
    day("ledger", "verify", "LEDGER")
    status = day("ledger", "status", "LEDGER").stdout
    assert ("sealed ledger" if sealed else "open ledger") in status
    found = day("ledger", "where-is", "LEDGER", "--blank", serial, "--history").stdout
    assert "ISSUED" in found
    assert "in-doubt resolution" in found
    _never_shown(day, export)
    opened: dict[str, Any] = {"keys": KeyFile(keys)} if sealed else {}
    with Ledger(ledger_location, create=False, **opened) as led:
        assert led.counts() == {State.ISSUED: 18}
        assert led.blanks.reconcile().balanced
        assert led.sealed is sealed
