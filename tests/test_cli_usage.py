"""What a bureau's shell sees when a command is given wrongly: a usage error is one line
naming what is wrong and where the help is (exit 2), a password with no terminal to ask on
is one line naming the variable that gives it, a station token file others can read is
refused like a key file (exit 6), and control characters (an escape sequence, a bell, a line
break) are refused in reasons and notes and never reach the terminal from stored text. Each
run from a real shell, changing nothing."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.cli import Exit

NIKS = [int(v) for v in ektpcore.sample_niks(3, seed=1516)]
OPERATOR = Actor("ani", Role.OPERATOR)
PASSWORD = "kata sandi yang panjang"


def shell(*words: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``ektpcore WORDS`` as a shell runs it, standard input not a terminal."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("EKTPCORE_")}
    full["PYTHONPATH"] = str(Path(ektpcore.__file__).parent.parent)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ektpcore", *(str(w) for w in words)],
        capture_output=True,
        text=True,
        env=full,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str], code: Exit) -> str:
    """The one line on standard error, ``Error: ...``, and nothing on standard output."""
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("Error: "), done.stderr
    return done.stderr.strip()


@pytest.fixture(scope="module")
def bureau(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger with users (root, ani, budi), a station whose token is in a private file, a
    ledger without users, and three print-ready records in each."""
    folder = tmp_path_factory.mktemp("usage")
    with Ledger(folder / "users.db") as led:
        led.users.create_administrator("root", PASSWORD)
        root = led.sign_in("root", PASSWORD)
        led.users.add(root, "ani", Role.OPERATOR, password=PASSWORD)
        led.users.add(root, "budi", Role.SUPERVISOR, password=PASSWORD)
        token = led.users.add_station(root, "P1@pc-1", Role.OPERATOR)
        led.add_records(NIKS, led.sign_in("ani", PASSWORD), state=State.PRINT_READY)
    fd = os.open(folder / "p1.token", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    with Ledger(folder / "dev.db") as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY)
    return folder


def _state(folder: Path) -> list[Any]:
    """What must not change: every ledger's history and users."""
    seen: list[Any] = []
    for name in ("users.db", "dev.db"):
        with Ledger(folder / name, create=False) as led:
            seen.append((led.counts(), led.verify().rows, [u.name for u in led.users.list()]))
    return seen


FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in str(NIKS[0]))
USAGE = [
    ("where-is-short-nik", "ledger where-is {B}/dev.db 12345", r"Invalid value for '\[NIK\]'"),
    ("blank-not-a-number", "ledger where-is {B}/dev.db --blank abc", r"--blank.*'abc'"),
    ("role", "users add {B}/users.db --admin root --name dedi --role boss", r"'boss' is not"),
    (
        "token-file-missing",
        "record hold {B}/users.db {N} --reason jam --token-file {B}/none.token",
        r"--token-file.*does not exist",
    ),
    ("request-not-a-number", "record approve {B}/users.db abc --user budi", r"'abc'"),
    ("note-missing", "reprint refuse {B}/users.db 1 --user budi", r"Missing option '--note'"),
    ("full-width-nik", f"ledger where-is {{B}}/dev.db {FULL_WIDTH}", r"invalid NIK"),
    ("no-such-command", "ledger where {B}/dev.db", r"No such command 'where'"),
    ("no-such-option", "--colour", r"No such option '--colour'"),
]


@pytest.mark.parametrize(("case", "command", "says"), USAGE, ids=[c[0] for c in USAGE])
def test_a_usage_error_is_one_line_with_where_the_help_is(
    bureau: Path, case: str, command: str, says: str
) -> None:
    before = _state(bureau)
    words = command.replace("{B}", str(bureau)).replace("{N}", str(NIKS[0])).split()
    said = one_line(shell(*words, env={"EKTPCORE_PASSWORD": PASSWORD}), Exit.USAGE)
    assert re.search(says, said), said
    command_path = {"no-such-command": "ledger", "no-such-option": ""}.get(
        case, " ".join(words[:2])
    )
    assert said.endswith(f" (see 'python -m ektpcore {command_path}".rstrip() + " --help')"), said
    assert str(NIKS[0]) not in said
    assert _state(bureau) == before


def test_help_is_still_shown_when_nothing_is_given() -> None:
    done = shell("ledger")
    assert "Commands:" in done.stdout + done.stderr
    assert "Error" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        ("users add {B}/users.db --admin root --name dedi --role operator", "EKTPCORE_PASSWORD"),
        ("record hold {B}/users.db {N} --reason jam --user ani", "EKTPCORE_PASSWORD"),
        ("users set-password {B}/users.db --admin root --name ani", "EKTPCORE_NEW_PASSWORD"),
        (
            "users add {B}/users.db --admin root --name dedi --role operator",
            "EKTPCORE_NEW_PASSWORD",
        ),
    ],
)
def test_a_password_with_no_terminal_to_ask_on_is_one_line_naming_its_variable(
    bureau: Path, command: str, variable: str
) -> None:
    before = _state(bureau)
    words = command.replace("{B}", str(bureau)).replace("{N}", str(NIKS[0])).split()
    given = {"EKTPCORE_PASSWORD": PASSWORD, "EKTPCORE_NEW_PASSWORD": PASSWORD}
    del given[variable]
    said = one_line(shell(*words, env=given), Exit.USAGE)
    assert said.endswith(f"no terminal to ask for it on: set {variable}"), said
    assert _state(bureau) == before


def test_a_station_token_file_others_can_read_is_refused_like_a_key_file(
    bureau: Path, tmp_path: Path
) -> None:
    token = tmp_path / "p1.token"
    token.write_bytes((bureau / "p1.token").read_bytes())
    words = ["record", "hold", bureau / "users.db", NIKS[0], "--reason", "jam"]
    for mode in (0o644, 0o640, 0o604):
        token.chmod(mode)
        before = _state(bureau)
        said = one_line(shell(*words, "--token-file", token), Exit.KEYS)
        assert said == (
            f"Error: {token}: the token file is open to others (mode {mode:04o}); make it"
            f" private with: chmod 600 {token}"
        )
        assert _state(bureau) == before
    token.chmod(0o600)
    signed = shell(*words, "--token-file", token)
    assert "open to others" not in signed.stderr
    assert signed.returncode != Exit.KEYS


@pytest.mark.parametrize(
    "text", ["jam\x1b[2J", "bell\x07", "two\nlines", "back\rover", "tab\there", "rtl\u202eedoc"]
)
def test_control_characters_are_refused_in_free_text(bureau: Path, text: str) -> None:
    before = _state(bureau)
    words = ["record", "hold", bureau / "dev.db", NIKS[1], "--operator", "ani", "--reason", text]
    said = one_line(shell(*words), Exit.REFUSED)
    assert "a reason holds a control character (U+" in said, said
    assert not any(ch in said for ch in "\x1b\x07\r\t\u202e")
    assert _state(bureau) == before
    with Ledger(bureau / "dev.db", create=False) as led, pytest.raises(ektpcore.EktpcoreError):
        led.transition([NIKS[1]], State.ON_HOLD, OPERATOR, reason=text)


def test_stored_text_reaches_the_terminal_escaped(bureau: Path, tmp_path: Path) -> None:
    """A reason written before the rule (or behind the ledger's back) holding an escape
    sequence and a line break is shown escaped, on its own line."""
    ledger = tmp_path / "old.db"
    with Ledger(ledger) as led:
        led.add_records(NIKS[:1], OPERATOR, state=State.PRINT_READY)
        led.transition([NIKS[0]], State.ON_HOLD, OPERATOR, reason="foto buram")
    raw = sqlite3.connect(ledger)
    triggers = raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for (name,) in triggers:
        raw.execute(f"DROP TRIGGER {name}")
    raw.execute("UPDATE history SET reason = ? WHERE reason = 'foto buram'", ("a\x1b[2J\nb\x07",))
    raw.commit()
    raw.close()
    done = shell("ledger", "where-is", ledger, NIKS[0], "--history")
    assert done.returncode == 0, done.stderr
    assert not any(ch in done.stdout for ch in "\x1b\x07\r")
    (held,) = [line for line in done.stdout.splitlines() if "-> ON_HOLD" in line]
    assert held.endswith(": a\\x1b[2J\\nb\\x07"), held


def test_a_line_break_kept_in_a_name_or_region_is_shown_escaped(tmp_path: Path) -> None:
    """A kecamatan, kelurahan or name holding a line break or a carriage return (written
    before intake refused them, or behind the ledger's back) never starts a line of its own
    in the command's output: each record stays on the lines the command gives it."""
    ledger = tmp_path / "old.db"
    with Ledger(ledger) as led:
        led.add_records(NIKS[:1], OPERATOR, state=State.PRINT_READY, names=["Siti Aminah"])
        led.blanks.receive("LOT-1", 1, 5, Actor("budi", Role.SUPERVISOR))
        led.queue(NIKS[:1], "B-1", "P1", OPERATOR)
    raw = sqlite3.connect(ledger)
    for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        raw.execute(f"DROP TRIGGER {name}")
    raw.execute(
        "UPDATE records SET kecamatan = ?, kelurahan = ?",
        ("Bogor\nBarat", "Menteng\r[OK] all blanks balanced\nDONE"),
    )
    raw.commit()
    raw.close()
    shown = shell("ledger", "where-is", ledger, NIKS[0])
    assert shown.returncode == 0, shown.stderr
    assert "\r" not in shown.stdout
    lines = shown.stdout.splitlines()
    assert len(lines) == 4, lines  # the record, its region, its card, its last change
    assert (
        "kecamatan Bogor\\nBarat, kelurahan Menteng\\r[OK] all blanks balanced\\nDONE" in lines[1]
    )
    batch = shell("batch", "show", ledger, "B-1")
    assert batch.returncode == 0, batch.stderr
    (row,) = [line for line in batch.stdout.splitlines() if "(S. A.)" in line]
    assert row.endswith("\\nDONE: QUEUED"), batch.stdout
