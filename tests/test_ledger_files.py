"""What a ledger file can be, besides a ledger, and what a busy one does: every case a clear
error that changes nothing, never a raw ``sqlite3`` exception or a silently new ledger."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Role, State

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [str(v) for v in ektpcore.sample_niks(5, seed=3)]


def _ledger(path: Path) -> Path:
    with Ledger(path) as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY)
        led.blanks.receive("LOT", 1, 2_000, SUPERVISOR)
    return path


def test_an_empty_file_is_refused_not_turned_into_a_ledger(tmp_path: Path) -> None:
    empty = tmp_path / "bureau.db"
    empty.touch()
    with pytest.raises(ektpcore.LedgerFileError, match="empty"):
        Ledger(empty)
    assert empty.stat().st_size == 0


def test_a_missing_ledger_is_made_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(ektpcore.LedgerFileError, match="only when asked"):
        Ledger(tmp_path / "typo.db", create=False)
    assert not (tmp_path / "typo.db").exists()
    with pytest.raises(ektpcore.LedgerFileError, match="does not exist"):
        Ledger(tmp_path / "no-such-folder" / "bureau.db")
    with Ledger(tmp_path / "new.db") as led:  # the default: made on first use
        assert led.counts() == {}


def test_a_truncated_ledger_is_named_as_such(tmp_path: Path) -> None:
    path = _ledger(tmp_path / "bureau.db")
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(ektpcore.LedgerFileError, match="truncated"):
        Ledger(path)


def test_damaged_pages_raise_a_ledger_error(tmp_path: Path) -> None:
    path = _ledger(tmp_path / "bureau.db")
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 6] = os.urandom(4096 * 4)  # a few B-tree pages overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(ektpcore.LedgerFileError):
        _read_everything(path)


def _read_everything(path: Path) -> None:
    with Ledger(path) as led:
        led.blanks.reconcile()
        led.verify()


def test_another_programs_file_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "records.csv"
    text.write_text("nik,name\n3271014508990001,Siti\n" * 50)
    with pytest.raises(ektpcore.LedgerFileError, match="not an SQLite"):
        Ledger(text)
    other = tmp_path / "other.sqlite"
    raw = sqlite3.connect(other)
    raw.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    raw.commit()
    raw.close()
    before = other.read_bytes()
    with pytest.raises(ektpcore.LedgerFileError, match="another program"):
        Ledger(other)
    assert other.read_bytes() == before  # untouched: not even switched to WAL
    assert not Path(f"{other}-wal").exists()


def test_a_busy_ledger_raises_ledger_busy_and_changes_nothing(tmp_path: Path) -> None:
    path = _ledger(tmp_path / "bureau.db")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sqlite3, sys, time
                db = sqlite3.connect({str(path)!r}, isolation_level=None)
                db.execute("BEGIN IMMEDIATE")
                print("locked", flush=True)
                time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with Ledger(path, busy_timeout=0.3) as led:
            with pytest.raises(ektpcore.LedgerBusyError, match="locked by other writers"):
                led.transition(NIKS[:2], State.ON_HOLD, OPERATOR, reason="check")
            assert led.counts() == {State.PRINT_READY: 5}
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    with Ledger(path) as led:
        assert led.transition(NIKS[:2], State.ON_HOLD, OPERATOR, reason="check") == 2


def test_a_large_lot_is_received_in_parts_and_resumes_after_a_crash(tmp_path: Path) -> None:
    path = _ledger(tmp_path / "bureau.db")
    script = textwrap.dedent(
        f"""
        import ektpcore
        from ektpcore import Actor, Ledger, Role
        from ektpcore.ledger import blanks

        real = blanks._add_blanks
        parts = []

        def add(tx, lot, first, last, reference):
            real(tx, lot, first, last, reference)
            parts.append(first)
            if len(parts) == 2:
                print("two parts in", flush=True)

        blanks._add_blanks = add
        with Ledger({str(path)!r}) as led:
            led.blanks.receive("KEMENDAGRI-12", 10_001, 210_000, Actor("budi", Role.SUPERVISOR))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "two parts in" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate()
    with Ledger(path) as led:
        partial = led.blanks.reconcile()
        assert not partial.balanced
        assert any("missing from its lot" in p for _, p in partial.discrepancies)
        assert led.verify().ok
        # Receiving the same lot again continues where it stopped; any other overlap is refused.
        with pytest.raises(ektpcore.InvalidArgumentError, match="overlap"):
            led.blanks.receive("KEMENDAGRI-13", 10_001, 210_000, SUPERVISOR)
        assert led.blanks.receive("KEMENDAGRI-12", 10_001, 210_000, SUPERVISOR) == 200_000
        report = led.blanks.reconcile()
        assert report.balanced
        assert report.counts[BlankState.IN_STOCK] == 202_000
        assert led.verify().ok


_HOLD_OPEN = """
import sys
from ektpcore import Ledger
ledger = Ledger(sys.argv[1])
ledger.counts()
print("open", flush=True)
sys.stdin.readline()
ledger.close()
"""


def test_opening_a_ledger_twice_in_one_process_keeps_the_first_ones_commits(
    tmp_path: Path,
) -> None:
    """A process with two ledgers on one file (a station and its heartbeat, a web server's
    requests) while other processes come and go: a commit of the first one is never lost.
    Reading the file's header through a descriptor of its own, then closing it, would drop
    every POSIX lock the process holds on the file; the other processes would then take the
    first ledger for gone, and delete or replace the write-ahead log it still writes to."""
    path = _ledger(tmp_path / "l.db")
    extra = [str(v) for v in ektpcore.sample_niks(12, seed=4)][5:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = Ledger(path)
    first.add_records(extra[:2], OPERATOR, state=State.PRINT_READY)
    Ledger(path).close()  # a second ledger on the same file, in this process
    # Another process opens and closes the ledger, then a third one keeps it open.
    subprocess.run(
        [sys.executable, "-c", _HOLD_OPEN, str(path)],
        input="\n",
        env=env,
        check=True,
        text=True,
        capture_output=True,
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_OPEN, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "open\n"
        first.add_records(extra[2:], OPERATOR, state=State.PRINT_READY)
        assert first.counts() == {State.PRINT_READY: len(NIKS) + len(extra)}
        first.close()
    finally:
        holder.communicate("\n", timeout=60)
    with Ledger(path) as ledger:
        assert ledger.counts() == {State.PRINT_READY: len(NIKS) + len(extra)}
        assert ledger.verify().ok
