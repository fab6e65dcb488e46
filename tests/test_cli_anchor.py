"""A bureau's anchor from the command line: set once (``EKTPCORE_ANCHOR``), every command
that changes the ledger appends its checkpoint, a command that only reads adds nothing, and
``ledger verify --anchor`` finds a tail cut off, a file rolled back to an older copy and an
anchor deleted or emptied (exit 14). Sealing starts a new anchor, whose checkpoints are
signed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.cli import Exit, main
from ektpcore.ledger import FileAnchor

NIKS = [int(v) for v in ektpcore.sample_niks(4, seed=1515)]
OPERATOR = Actor("ani", Role.OPERATOR)


def run(*words: object, code: int = 0, **env: str) -> Result:
    result = CliRunner().invoke(main, [str(w) for w in words], env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def one_error(result: Result) -> str:
    """The one line a failed command says, on standard error."""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    return result.stderr.strip()


def _one(location: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """A value read straight from the ledger's database."""
    store = ektpcore.ledger.open_store(location, create=False)
    try:
        return store.query(store.translate(sql), params)[0][0]
    finally:
        store.close()


def receive_lot(ledger: Path, lot: str, first: int, last: int, **env: str) -> Result:
    """``blanks receive`` of serials ``first``..``last`` by a supervisor."""
    words = ["--lot", lot, "--first", first, "--last", last, "--supervisor", "budi"]
    return run("blanks", "receive", ledger, *words, **env)


def _lines(anchor: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in anchor.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def anchored(ledger_location: str, tmp_path: Path) -> tuple[str, Path]:
    """A ledger made by ``ledger init`` with its anchor on "another disk" (a folder of its
    own), four print-ready records taken in, and their anchor as the environment gives it."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    anchor = mount / "bureau.anchor"
    made = run("ledger", "init", ledger_location, EKTPCORE_ANCHOR=str(anchor))
    assert f"anchored in {anchor}" in made.stdout
    with Ledger(ledger_location, create=False, anchor=FileAnchor(anchor)) as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Barat"] * 4)
    return ledger_location, anchor


def test_changes_append_checkpoints_reads_do_not_and_verify_holds_to_them(
    anchored: tuple[str, Path],
) -> None:
    location, anchor = anchored
    env = {"EKTPCORE_ANCHOR": str(anchor)}
    before = anchor.read_bytes()
    run("ledger", "status", location, **env)
    run("ledger", "where-is", location, NIKS[0], "--history", **env)
    run("record", "requests", location, **env)
    assert anchor.read_bytes() == before  # nothing changed: no line added
    run("record", "hold", location, NIKS[0], "--reason", "foto buram", "--operator", "ani", **env)
    receive = ["blanks", "receive", location, "--supervisor", "budi", "--lot"]
    run(*receive, "L1", "--first", 1, "--last", 20)  # no anchor given: no line
    run(*receive, "L2", "--first", 21, "--last", 40, **env)
    lines = _lines(anchor)
    assert len(lines) == len(before.splitlines()) + 2  # the hold's and the second lot's
    assert lines[-1]["heads"]["history"][0] == _one(location, "SELECT max(seq) FROM history")
    assert lines[-1]["heads"]["blank_history"][0] == 40
    verified = run("ledger", "verify", location, "--anchor", anchor)
    assert "history verified" in verified.stdout
    assert f"anchor {anchor}: every checkpoint found in the ledger" in verified.stdout
    size = anchor.stat().st_size
    run("ledger", "verify", location, **env)
    assert anchor.stat().st_size == size  # verify writes no checkpoint


def test_a_tail_cut_off_with_its_head_set_back_fails_verify_with_the_anchor(
    anchored: tuple[str, Path], tamper: Any
) -> None:
    location, anchor = anchored
    env = {"EKTPCORE_ANCHOR": str(anchor)}
    run("record", "hold", location, NIKS[1], "--reason", "foto buram", "--operator", "ani", **env)
    last = _one(location, "SELECT max(seq) FROM history")
    record = _one(location, "SELECT record_id FROM history WHERE seq = ?", (last,))
    previous = _one(location, "SELECT hash FROM history WHERE seq = ?", (last - 1,))
    tamper("DELETE FROM history WHERE seq = ?", (last,))
    tamper("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (last - 1, previous))
    tamper("UPDATE records SET state = 'PRINT_READY' WHERE id = ?", (record,))
    assert "history verified" in run("ledger", "verify", location).stdout  # alone: consistent
    found = run("ledger", "verify", location, code=Exit.CHECK, **env)
    said = one_error(found)
    assert f"saw history row {last}, but the history rows end at {last - 1}" in said, said
    assert "committed rows were lost" in said
    assert f"history {last}: " in found.stdout  # the finding, with the row it concerns


def test_a_file_rolled_back_to_an_older_copy_fails_verify(tmp_path: Path) -> None:
    ledger, anchor = tmp_path / "bureau.db", tmp_path / "mnt" / "bureau.anchor"
    anchor.parent.mkdir()
    env = {"EKTPCORE_ANCHOR": str(anchor)}
    run("ledger", "init", ledger, **env)
    receive_lot(ledger, "L1", 1, 10, **env)
    shutil.copy(ledger, tmp_path / "yesterday.db")
    receive_lot(ledger, "L2", 11, 20, **env)
    run("ledger", "verify", ledger, **env)
    shutil.copy(tmp_path / "yesterday.db", ledger)  # the older copy put back
    assert "history verified: 12 rows" in run("ledger", "verify", ledger).stdout
    said = one_error(run("ledger", "verify", ledger, code=Exit.CHECK, **env))
    assert "saw blank history row 20, but the blank history rows end at 10" in said
    # A reader on the rolled-back file does not hide it: it refuses to anchor the older heads
    # (archiving the lines before them would otherwise leave a clean anchor of the copy).
    lines = anchor.read_bytes()
    said = one_error(run("ledger", "status", ledger, code=Exit.CHECK, **env))
    assert f"{anchor}: the ledger's blank history chain does not hold the row" in said, said
    assert anchor.read_bytes() == lines
    run("ledger", "verify", ledger, code=Exit.CHECK, **env)


@pytest.mark.parametrize("harm", ["deleted", "emptied"])
def test_an_anchor_deleted_or_emptied_fails_verify(tmp_path: Path, harm: str) -> None:
    ledger, anchor = tmp_path / "bureau.db", tmp_path / "bureau.anchor"
    run("ledger", "init", ledger, "--anchor", anchor)
    assert len(_lines(anchor)) == 1  # the new ledger's first checkpoint
    if harm == "deleted":
        anchor.unlink()
    else:
        anchor.write_bytes(b"")
    said = one_error(run("ledger", "verify", ledger, "--anchor", anchor, code=Exit.CHECK))
    assert said.startswith(f"Error: {anchor}: the anchor ")
    assert "cannot be held to" in said


def test_a_new_ledger_or_a_sealing_takes_a_new_anchor(tmp_path: Path) -> None:
    """A used anchor holds another history's checkpoints (or the open ledger's, unsigned):
    refused before anything is made; the sealed ledger's checkpoints are signed."""
    ledger, anchor = tmp_path / "bureau.db", tmp_path / "bureau.anchor"
    run("ledger", "init", ledger, "--anchor", anchor)
    said = one_error(
        run("ledger", "init", tmp_path / "b2.db", "--anchor", anchor, code=Exit.OUTPUT)
    )
    assert "holds checkpoints already" in said
    assert not (tmp_path / "b2.db").exists()
    keys = tmp_path / "keys" / "bureau.keys"
    keys.parent.mkdir(mode=0o700)
    words = ["ledger", "seal", ledger, "--keys", keys, "--new-keys"]
    one_error(run(*words, "--anchor", anchor, code=Exit.OUTPUT))
    assert not keys.exists()  # refused before the key file was made
    sealed = tmp_path / "sealed.anchor"
    run(*words, "--anchor", sealed)
    (line,) = _lines(sealed)
    assert line["signature"] is not None
    assert line["keys"] is not None
    env = {"EKTPCORE_ANCHOR": str(sealed), "EKTPCORE_LEDGER_KEYS": str(keys)}
    receive_lot(ledger, "L1", 1, 5, **env)
    assert all(line["signature"] for line in _lines(sealed))
    assert "every checkpoint found" in run("ledger", "verify", ledger, **env).stdout


def test_another_ledgers_anchor_is_refused(anchored: tuple[str, Path], tmp_path: Path) -> None:
    location, anchor = anchored
    other, theirs = tmp_path / "other.db", tmp_path / "other.anchor"
    run("ledger", "init", other, "--anchor", theirs)
    receive_lot(other, "L1", 1, 5, EKTPCORE_ANCHOR=str(theirs))
    before = anchor.read_bytes()
    # Verifying one ledger against the other's anchor: exit 14, the lines named.
    found = run("ledger", "verify", other, "--anchor", anchor, code=Exit.CHECK)
    said = one_error(found)
    assert "the anchor's line 1 is a checkpoint of another ledger" in said, said
    assert "one anchor file per ledger" in said
    # A change with the other's anchor: refused before anything is changed, exit 14.
    words = ["--lot", "L2", "--first", 6, "--last", 9, "--supervisor", "budi"]
    refused = run("blanks", "receive", other, *words, code=Exit.CHECK, EKTPCORE_ANCHOR=str(anchor))
    assert "holds checkpoints of another ledger" in one_error(refused)
    assert anchor.read_bytes() == before
    with Ledger(other, create=False) as led:
        assert sum(led.blanks.counts().values()) == 5
    # Lines of the other ledger copied into this one's anchor are found.
    with anchor.open("ab") as f:
        f.write(theirs.read_bytes())
    said = one_error(run("ledger", "verify", location, "--anchor", anchor, code=Exit.CHECK))
    assert "is a checkpoint of another ledger" in said


def test_an_anchor_on_a_disk_that_is_not_mounted_changes_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "bureau.db"
    run("ledger", "init", ledger)
    missing = tmp_path / "mnt" / "bureau.anchor"
    words = ["blanks", "receive", ledger, "--lot", "L1", "--first", 1, "--last", 5]
    said = one_error(run(*words, "--supervisor", "budi", "--anchor", missing, code=Exit.OUTPUT))
    assert "is its disk mounted?" in said
    with Ledger(ledger, create=False) as led:
        assert led.blanks.counts() == {}


def test_ledger_init_refuses_a_key_file_serving_another_ledger_unless_shared(
    ledger_location: str, tmp_path: Path
) -> None:
    keys = tmp_path / "bureau.keys"
    run("ledger", "init", tmp_path / "first.db", "--keys", keys, "--new-keys")
    refused = run("ledger", "init", ledger_location, "--keys", keys, code=int(Exit.KEYS))
    line = one_error(refused)
    assert f"{keys}: this key file already serves ledger" in line
    assert "--shared-keys" in line
    if "://" not in ledger_location:
        assert not Path(ledger_location).exists()  # refused before anything was made
    made = run("ledger", "init", ledger_location, "--keys", keys, "--shared-keys")
    assert "sealed with" in made.output
    assert len(ektpcore.keys.KeyFile(keys).served()) == 2
    run("ledger", "verify", ledger_location, "--keys", keys)


def test_ledger_purge_says_nothing_replaced_is_left(ledger_location: str, tmp_path: Path) -> None:
    keys = tmp_path / "bureau.keys"
    run("ledger", "init", ledger_location)
    run("ledger", "seal", ledger_location, "--keys", keys, "--new-keys")
    done = run("ledger", "purge", ledger_location, "--keys", keys, "--wait", "60")
    assert "no replaced row version is left" in done.output
