"""A sealed ledger: citizens' data unreadable without its keys, on both stores.

A whole worked day (intake with names and photo paths, planning, a print station through the
virtual printer, quality control, distribution and hand-over, a hold and a cancellation) runs
on a ledger sealed by a key file; then the database file, its WAL, a backup and a
``pg_dump`` are searched byte by byte for every name, NIK and photo path, and the ledger
still answers every question by NIK. Wrong, missing and leaked keys are refused; key rotation
re-seals while another process keeps writing.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Plan, Printer, Role, State
from ektpcore._ektpcore import KeyRing, sealed_format, sealed_key_id
from ektpcore.errors import (
    AuthenticationError,
    InvalidArgumentError,
    LedgerKeyError,
    PermissionDeniedError,
    ReplacedRowsKeptWarning,
    SealedDataError,
)
from ektpcore.keys import EnvironmentKeys, KeyFile, verify_signature
from ektpcore.ledger import sealing
from ektpcore.printing import CardFaces, PrintStation, TcpTransport, VirtualPrinter

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
BORN = "1987-03-29"
# Every citizen born on BORN, as their NIKs say (an intake refuses a birth date that is not
# the NIK's), so the byte scan looks for one date.
NIKS = [
    int(ektpcore.Nik.compose("32.71.01", dt.date.fromisoformat(BORN), "M", 1 + i))
    for i in range(60)
]
NAMES = [f"Siti Rahmawati Kusumadewi {chr(65 + i % 26)}{i}" for i in range(60)]
PHOTOS = [f"/srv/capture/foto/{nik}.jpg" for nik in NIKS]
SIGNATURES = [f"/srv/capture/ttd/{nik}.png" for nik in NIKS]
FACE = np.full((648, 1016, 3), 220, dtype=np.uint8)
TEXT = np.full((648, 1016), 255, dtype=np.uint8)


def faces(_record: Any) -> CardFaces:
    return CardFaces(front=FACE, front_black=TEXT, back_black=TEXT)


@pytest.fixture
def keys(tmp_path: Path) -> KeyFile:
    """A bureau's key file, kept apart from the ledger."""
    (tmp_path / "keys").mkdir()
    return KeyFile.create(tmp_path / "keys" / "ledger.keys")


def a_day(ledger: Ledger) -> None:
    """The worked example: every kind of personal data the ledger takes, through a day."""
    kec = ["Bogor Barat" if i % 2 else "Bogor Timur" for i in range(60)]
    report = ledger.add_records(
        NIKS,
        OPERATOR,
        state=State.PRINT_READY,
        names=NAMES,
        kecamatan=kec,
        kelurahan=["Menteng"] * 60,
        photos=PHOTOS,
        signatures=SIGNATURES,
        card={
            "birth_place": ["Tasikmalaya"] * 60,
            "birth_date": [BORN] * 60,
            "address": ["Jl. Kebon Kelapa Gang Mawar 17"] * 60,
            "religion": ["Kepercayaan Sunda Wiwitan"] * 60,
        },
    )
    assert report.added == 60
    ledger.blanks.receive("LOT-7", 1_000, 1_099, SUPERVISOR)
    ledger.ribbons.install("P1", "YMCKOK", 500, OPERATOR)
    ledger.transition([NIKS[59]], State.ON_HOLD, OPERATOR, reason="data di KK belum cocok")
    ledger.transition([NIKS[58]], State.CANCELLED, SUPERVISOR, reason="pindah domisili ke Depok")
    plan = Plan.from_ledger(ledger, [Printer("P1", 120, 90)], click_limit=30, prefix="B")
    plan.commit(ledger, OPERATOR)
    with VirtualPrinter() as printer:
        station = PrintStation(
            ledger,
            printer="P1",
            connect=lambda: TcpTransport(*printer.address, timeout=10),
            faces=faces,
            actor=OPERATOR,
            reply_timeout=10,
        )
        for batch in plan.batches:
            assert station.run(batch.id).left == 0
    printed = NIKS[:58]
    ledger.transition(printed, State.ENCODED, OPERATOR)
    ledger.transition(printed, State.QC_PASSED, OPERATOR)
    for manifest in ledger.distribution.build(OPERATOR):
        ledger.distribution.dispatch(manifest.id, OPERATOR)
        ledger.distribution.receive(manifest.id, "Pak Camat", manifest.count, OPERATOR)
    ledger.distribution.hand_over(
        NIKS[0], OPERATOR, identity_check="KTP lama dan KK dicocokkan", receiver="Ibu Sumiati"
    )
    ledger.approvals.request(NIKS[0], State.PRINT_READY, OPERATOR, reason="hilang di angkot")


def needles() -> list[bytes]:
    """What must not be found in clear: NIKs (as text and as SQLite stores integers), names
    (whole and each distinctive word) and photo/signature paths."""
    found = [str(n).encode() for n in NIKS] + [n.to_bytes(8, "big") for n in NIKS]
    found += [name.encode() for name in NAMES] + [b"Rahmawati", b"Kusumadewi"]
    found += [p.encode() for p in PHOTOS + SIGNATURES] + [b"/srv/capture"]
    found += [b"Sumiati", b"KTP lama", b"pindah domisili", b"belum cocok", b"angkot"]
    found += [b"Pak Camat"]
    found += [b"Tasikmalaya", b"Kebon Kelapa", b"Sunda Wiwitan", BORN.encode()]
    return found


def clear_text_in(data: bytes) -> list[bytes]:
    return [needle for needle in needles() if needle in data]


def test_a_day_on_a_sealed_ledger_leaves_nothing_in_clear(
    ledger_location: str, keys: KeyFile, tmp_path: Path
) -> None:
    with Ledger(ledger_location, keys=keys) as ledger:
        assert ledger.sealed
        a_day(ledger)
        # Everything still answers by NIK, through the blind index.
        record = ledger.where_is(NIKS[0])
        assert (record.state, record.name, record.photo_ref) == (State.ISSUED, NAMES[0], PHOTOS[0])
        assert (record.card.birth_place, record.card.birth_date) == ("Tasikmalaya", BORN)
        assert ledger.state_of(NIKS[58]) is State.CANCELLED
        assert [h.reason for h in ledger.history(NIKS[59])][-1] == "data di KK belum cocok"
        assert ledger.issued_index().values.tolist() == sorted(NIKS[:58])
        assert int(ledger.print_ready()["nik"].size) == 0
        assert ledger.verify().ok
        assert ledger.blanks.reconcile().balanced
        repr_text = repr(record)
        assert str(NIKS[0]) not in repr_text
        assert NAMES[0] not in repr_text
        if "://" in ledger_location:
            dump = pg_dump(ledger_location)
            assert clear_text_in(dump) == []
            assert b"Menteng" in dump  # the scan can see what is left in clear
            return
        # The WAL holds the day's last pages before they reach the file.
        wal = Path(ledger_location + "-wal")
        assert wal.exists()
        assert clear_text_in(wal.read_bytes()) == []
        backup = tmp_path / "backup.db"
        # Closed before the ledger is: its close, the last, copies the log into the file.
        with (
            closing(sqlite3.connect(ledger_location)) as source,
            closing(sqlite3.connect(backup)) as target,
        ):
            source.backup(target)
    for path in (Path(ledger_location), backup):
        data = path.read_bytes()
        assert b"Menteng" in data
        assert clear_text_in(data) == [], path
    for suffix in ("", "-wal", "-shm"):
        path = Path(ledger_location + suffix)
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, suffix


def pg_dump(url: str) -> bytes:
    tool = shutil.which("pg_dump") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))), None
    )
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("pg_dump is missing")
        pytest.skip("pg_dump is not installed")
    return subprocess.run([str(tool), url], check=True, capture_output=True).stdout


def test_an_open_ledger_of_the_same_day_shows_what_sealing_hides(tmp_path: Path) -> None:
    # The byte scan's control: without keys the same day is readable in the file.
    path = tmp_path / "open.db"
    with Ledger(path) as ledger:
        a_day(ledger)
    data = path.read_bytes()  # closed: the WAL is in the file
    assert len(clear_text_in(data)) > 100


def test_a_sealed_ledger_opens_only_with_its_own_keys(
    ledger_location: str, keys: KeyFile, tmp_path: Path
) -> None:
    with Ledger(ledger_location, keys=keys) as ledger:
        ledger.add_records(NIKS[:5], OPERATOR, names=NAMES[:5])
    with pytest.raises(LedgerKeyError, match="sealed; open it with its keys"):
        Ledger(ledger_location)
    (tmp_path / "other").mkdir()
    stranger = KeyFile.create(tmp_path / "other" / "keys")
    with pytest.raises(LedgerKeyError, match="another ledger's keys"):
        Ledger(ledger_location, keys=stranger)
    with Ledger(ledger_location, keys=keys) as again:
        assert again.where_is(NIKS[3]).name == NAMES[3]
        # Dedup by NIK works through the index: the same NIKs are refused.
        report = again.add_records(NIKS[:7], OPERATOR)
        assert report.added == 2
        assert [why for _, why in report.refused] == ["already in the ledger"] * 5


on_postgres = pytest.mark.parametrize("ledger_location", ["postgres"], indirect=True)


def _server_files(url: str) -> bytes:
    """Every data file of ``url``'s database on the server (run where the server's folder can
    be read, as the tests' server is; skipped otherwise), after a checkpoint."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        folder = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
        oid = conn.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]  # type: ignore[index]
    base = Path(folder) / "base" / str(oid)
    try:
        files = [p for p in base.iterdir() if p.is_file()]
        return b"".join(p.read_bytes() for p in files)
    except PermissionError:
        pytest.skip("the server's data folder cannot be read from here")


@on_postgres
def test_sealing_later_leaves_no_clear_row_in_the_servers_files(
    ledger_location: str, keys: KeyFile, request: Any
) -> None:
    import psycopg

    from ektpcore.ledger.postgres import scratch_database

    with Ledger(ledger_location) as ledger:
        ledger.add_records(NIKS[:10], OPERATOR, names=NAMES[:10], photos=PHOTOS[:10])
    assert NAMES[3].encode() in _server_files(ledger_location)  # the scan sees clear rows
    clear = [n.encode() for n in NAMES[:10] + PHOTOS[:10]]
    # A transaction in another database, begun before the sealing and holding a transaction
    # id: every snapshot on the server, VACUUM FULL's own too, may still see the replaced
    # rows, so the server keeps them. The sealing says so and names it.
    server = request.getfixturevalue("postgres_server")
    with scratch_database(server) as elsewhere, psycopg.connect(elsewhere) as holder:
        holder.execute("CREATE TEMPORARY TABLE held (x INT)")
        pid = holder.info.backend_pid
        with Ledger(ledger_location, busy_timeout=1) as ledger:
            with pytest.warns(ReplacedRowsKeptWarning, match=f"process {pid} ") as caught:
                assert ledger.seal(keys) == 10
            assert "ledger purge" in str(caught[0].message)
            assert [n for n in clear if n in _server_files(ledger_location)] != []
        holder.rollback()
    # Once it has ended, a purge removes them; what the purge reports is what the files hold
    # (other databases' old transactions on a shared server may hold them longer).
    with Ledger(ledger_location, keys=keys) as ledger, warnings.catch_warnings(record=True):
        warnings.simplefilter("always", ReplacedRowsKeptWarning)
        holders = ledger.purge(wait=60)
    left = [n for n in clear if n in _server_files(ledger_location)]
    assert (left == []) == (holders == []), holders
    with Ledger(ledger_location, keys=keys) as ledger:
        assert ledger.where_is(NIKS[3]).name == NAMES[3]
        assert ledger.verify().ok


def test_sealing_a_sqlite_ledger_another_process_has_open_leaves_no_clear_page_in_its_log(
    tmp_path: Path, keys: KeyFile
) -> None:
    # A station keeps the ledger open across the sealing: the log is not removed by a last
    # close, and the pages the sealing replaced must not wait in it for one.
    path = tmp_path / "bureau.db"
    clear = [n.encode() for n in NAMES[:10] + PHOTOS[:10]] + [b"Kebon Kelapa"]
    with Ledger(path) as ledger:
        card = {"address": ["Jl. Kebon Kelapa"] * 10}
        ledger.add_records(NIKS[:10], OPERATOR, names=NAMES[:10], photos=PHOTOS[:10], card=card)
    station = Ledger(path)
    try:
        station.counts()
        with Ledger(path) as ledger:
            ledger.add_records(NIKS[10:12], OPERATOR, names=NAMES[10:12])
            wal = Path(f"{path}-wal")
            assert [n for n in clear if n in wal.read_bytes()] != []  # the scan sees them
            assert ledger.seal(keys) == 12
            assert [n for n in [*clear, NAMES[11].encode()] if n in wal.read_bytes()] == []
        assert [n for n in clear if n in path.read_bytes()] == []
    finally:
        station.close()
    with Ledger(path, keys=keys) as ledger:
        assert ledger.where_is(NIKS[3]).name == NAMES[3]
        assert ledger.verify().ok


def test_a_reader_holding_the_log_is_named_and_purge_empties_it_later(
    tmp_path: Path, keys: KeyFile
) -> None:
    path = tmp_path / "bureau.db"
    with Ledger(path) as ledger:
        ledger.add_records(NIKS[:5], OPERATOR, names=NAMES[:5])
    with (
        Ledger(path, busy_timeout=0.2) as ledger,
        closing(sqlite3.connect(path, isolation_level=None)) as reader,
    ):
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM records").fetchall()  # a snapshot from before
        with pytest.warns(ReplacedRowsKeptWarning, match="older snapshot"):
            ledger.seal(keys)
        files = (path, Path(f"{path}-wal"))
        # The reader's snapshot is the file's old pages: the log cannot be copied over them.
        assert NAMES[2].encode() in b"".join(f.read_bytes() for f in files)
        reader.execute("ROLLBACK")
        assert ledger.purge() == []
        assert NAMES[2].encode() not in b"".join(f.read_bytes() for f in files)


def test_an_open_ledger_with_records_is_sealed_only_on_purpose(
    ledger_location: str, keys: KeyFile
) -> None:
    with Ledger(ledger_location) as ledger:
        card = {"birth_place": ["Tasikmalaya"] * 10, "address": ["Jl. Kebon Kelapa"] * 10}
        ledger.add_records(NIKS[:10], OPERATOR, names=NAMES[:10], photos=PHOTOS[:10], card=card)
        ledger.transition(NIKS[:3], State.SENT_FOR_ENROLMENT, OPERATOR)
    with pytest.raises(LedgerKeyError, match="holds records in clear"):
        Ledger(ledger_location, keys=keys)
    with Ledger(ledger_location) as ledger:
        assert ledger.seal(keys) == 10
        assert ledger.where_is(NIKS[2]).photo_ref == PHOTOS[2]
        with pytest.raises(LedgerKeyError, match="sealed already"):
            ledger.seal(keys)
    with Ledger(ledger_location, keys=keys) as ledger:
        assert ledger.state_of(NIKS[1]) is State.SENT_FOR_ENROLMENT
        assert ledger.where_is(NIKS[9]).name == NAMES[9]
        assert ledger.verify().ok
        assert ledger.where_is(NIKS[4]).card.birth_place == "Tasikmalaya"
        assert ledger._query(
            "SELECT count(*) FROM records WHERE name IS NOT NULL OR card IS NOT NULL"
        ) == [(0,)]


def test_reprs_leave_free_text_out(ledger_location: str, keys: KeyFile) -> None:
    # Reasons are sealed at rest because a clerk's words may name the citizen; a log line
    # that prints an entry must not undo that.
    with Ledger(ledger_location, keys=keys) as ledger:
        ledger.add_records(NIKS[:2], OPERATOR, state=State.PRINT_READY, names=NAMES[:2])
        ledger.transition([NIKS[0]], State.ON_HOLD, OPERATOR, reason="foto milik Ibu Sumiati")
        ledger.blanks.receive("LOT-1", 1, 5, SUPERVISOR)
        ledger.blanks.move([2], BlankState.VOIDED, SUPERVISOR, reason="dicoret oleh Sumiati")
        history, movements = ledger.history(NIKS[0]), ledger.blanks.movements()
        day = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        shown = repr(history) + repr(movements) + repr(ledger.events(*day)) + str(history)
        assert "Sumiati" not in shown
        assert "ON_HOLD" in shown  # the rest of the entry shows
        assert history[-1].reason == "foto milik Ibu Sumiati"
        assert [m.reason for m in movements if m.serial == 2][-1] == "dicoret oleh Sumiati"


def test_free_text_with_a_nik_in_it_is_refused(ledger_location: str, keys: KeyFile) -> None:
    with Ledger(ledger_location, keys=keys) as ledger:
        ledger.add_records(NIKS[:2], OPERATOR)
        nik = str(NIKS[1])
        wide = "".join(chr(0xFF10 + int(d)) for d in nik)  # full-width digits
        written = [
            f"chip failed for {nik} Siti",
            f"see {nik[:6]} {nik[6:12]} {nik[12:]}",
            f"no. {nik[:4]}.{nik[4:]}",
            "/".join([nik[:4], nik[4:8], nik[8:12], nik[12:]]),
            "\n".join([nik[:8], nik[8:]]),
            "\u200b".join(nik),
            f"{nik[:4]} -{nik[4:8]}- {nik[8:12]} -{nik[12:]}",
            wide,
            "".join(chr(0x2775 + int(d)) if d != "0" else "\u24ff" for d in nik),  # ❶ and ⓿
            "\u3164".join(nik),  # Hangul fillers: letters that show nothing
        ]
        for reason in written:
            with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
                ledger.transition([NIKS[0]], State.ON_HOLD, OPERATOR, reason=reason)
        for meaningless in (".", "\u3164", "\u2800"):
            with pytest.raises(ektpcore.IllegalTransitionError, match="needs a reason"):
                ledger.transition([NIKS[0]], State.ON_HOLD, OPERATOR, reason=meaningless)
        with pytest.raises(InvalidArgumentError, match=r"control character \(U\+0000\)"):
            ledger.transition([NIKS[0]], State.ON_HOLD, OPERATOR, reason="\x00")
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            ledger.transition([NIKS[0]], State.QUEUED, OPERATOR, batch=nik, printer="P1")
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            ledger.add_records(NIKS[1:2], OPERATOR, kecamatan=[f"Kec {nik}"])
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            Actor(nik, Role.OPERATOR)
        # Names kept in clear beside the sealed fields: batches, printers, stations, ribbons.
        spaced = f"B-{nik[:4]} {nik[4:8]} {nik[8:12]} {nik[12:]}"
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            ledger.blanks.allocate(spaced, 1, SUPERVISOR)
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            ledger.ribbons.install(spaced, "YMCKO", 100, OPERATOR)
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            ledger.ribbons.install("P1", spaced, 100, OPERATOR)
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            ledger.claims.claim("B-1", spaced, OPERATOR)
        with pytest.raises(InvalidArgumentError, match="NIK-shaped"):
            ledger.claims.claim(spaced, "station 1", OPERATOR)
        # Shorter numbers (a blank serial, a KK date) are ordinary text.
        ledger.transition([NIKS[0]], State.ON_HOLD, OPERATOR, reason="blank 1000234, KK 2019")
        assert ledger.state_of(NIKS[0]) is State.ON_HOLD


def _ledger_ring(ledger: Ledger, keys: KeyFile) -> KeyRing:
    """The ring a ledger sealed from its start works with: the key file's, bound whole."""
    assert ledger.identity is not None
    return keys.key_ring().bind(bytes.fromhex(ledger.identity), True)


def test_a_sealed_value_moved_or_altered_is_found(
    ledger_location: str, keys: KeyFile, tamper: Any
) -> None:
    with Ledger(ledger_location, keys=keys) as ledger:
        ledger.add_records(NIKS[:4], OPERATOR, names=NAMES[:4])
        ring = _ledger_ring(ledger, keys)
        ids = [r[0] for r in ledger._query("SELECT id FROM records ORDER BY id")]
        # Swap two records' sealed fields: each is bound to its own row's index.
        tamper(
            "UPDATE records SET sealed = (SELECT sealed FROM records WHERE id = ?) WHERE id = ?",
            (ids[1], ids[0]),
        )
        assert sealing.check(ledger._reads, ring) == [
            (ids[0], "its sealed fields do not open with the ledger's keys")
        ]
        with pytest.raises(SealedDataError, match="do not open"):
            ledger.where_is(NIKS[0])
        assert ledger.where_is(NIKS[2]).name == NAMES[2]


def test_records_moved_with_their_index_are_named(
    ledger_location: str, keys: KeyFile, tamper: Any
) -> None:
    # A record's sealed fields are bound to its NIK index; moved together with the index to
    # another row, the intake row that took that row in answers for it.
    with Ledger(ledger_location, keys=keys) as ledger:
        ledger.add_records(NIKS[:3], OPERATOR, names=NAMES[:3])
        (a, ka, sa), (b, kb, sb), _ = ledger._query(
            "SELECT id, nik, sealed FROM records ORDER BY id"
        )
        tamper("UPDATE records SET nik = 1 WHERE id = ?", (a,))
        tamper("UPDATE records SET nik = ?, sealed = ? WHERE id = ?", (ka, sa, b))
        tamper("UPDATE records SET nik = ?, sealed = ? WHERE id = ?", (kb, sb, a))
        report = ledger.verify()
        named = {(f.table, f.row) for f in report.findings}
        intakes = dict(ledger._query("SELECT record_id, seq FROM history ORDER BY seq"))
        assert not report.ok
        assert ("history", str(intakes[a])) in named  # the chain's first break
        assert f"records id {a}" in report.problem


def _handed_over_twice(ledger: Ledger) -> None:
    a_day(ledger)
    ledger.distribution.hand_over(
        NIKS[1], OPERATOR, identity_check="KK dicocokkan di loket dua", receiver="Bapak Wiryo"
    )


def test_sealed_text_moved_to_another_row_does_not_open(
    ledger_location: str, keys: KeyFile, tamper: Any
) -> None:
    with Ledger(ledger_location, keys=keys) as ledger:
        _handed_over_twice(ledger)
        assert ledger.verify().ok
        first, second = ledger._query(
            "SELECT id, identity_check, receiver FROM handovers ORDER BY id"
        )
        # One hand-over's identity check and receiver copied onto the other's row (same
        # table, same columns): each is bound to its own hand-over.
        tamper(
            "UPDATE handovers SET identity_check = ?, receiver = ? WHERE id = ?",
            (first[1], first[2], second[0]),
        )
        with pytest.raises(SealedDataError, match=r"handovers\.identity_check does not open"):
            ledger.distribution.handovers(NIKS[1])
        assert ledger.distribution.handovers(NIKS[0])[0].receiver == "Ibu Sumiati"
        # One manifest's receiver copied onto another's.
        (m1, by), (m2, _) = ledger._query("SELECT id, received_by FROM manifests ORDER BY id")[:2]
        tamper("UPDATE manifests SET received_by = ? WHERE id = ?", (by, m2))
        with pytest.raises(SealedDataError, match=r"manifests\.received_by"):
            ledger.distribution.manifest(m2)
        assert ledger.distribution.manifest(m1).received_by == "Pak Camat"
        # A history row's reason moved to another history row.
        seqs = {
            r[0]: r[1]
            for r in ledger._query("SELECT to_state, seq FROM history WHERE reason IS NOT NULL")
            if r[0] in ("ON_HOLD", "CANCELLED")
        }
        (moved,) = ledger._query("SELECT reason FROM history WHERE seq = ?", (seqs["CANCELLED"],))
        tamper("UPDATE history SET reason = ? WHERE seq = ?", (moved[0], seqs["ON_HOLD"]))
        with pytest.raises(SealedDataError, match=r"history\.reason does not open"):
            ledger.history(NIKS[59])
        report = ledger.verify()
        assert not report.ok
        problems: dict[tuple[str, str], list[str]] = {}
        for f in report.findings:
            problems.setdefault((f.table, f.row), []).append(f.problem)
        assert problems[("handovers", str(second[0]))] == [
            f"handovers id {second[0]}: its sealed {column} does not open with the ledger's"
            " keys (altered, or moved from another row)"
            for column in ("identity_check", "receiver")
        ]
        assert ("handovers", str(first[0])) not in problems
        assert ("manifests", str(m2)) in problems
        assert ("history", str(seqs["ON_HOLD"])) in problems  # the keyed chain breaks there
        # Text written in clear where a sealed ledger keeps it sealed is named too.
        tamper("UPDATE manifests SET received_by = 'Pak Lurah' WHERE id = ?", (m1,))
        found = {(f.table, f.row): f.problem for f in ledger.verify().findings}
        assert "in clear" in found[("manifests", str(m1))]


def _seal_format_1(self: sealing.Vault, texts: Any, column: str, rows: Any) -> list[str | None]:
    """How a ledger sealed free text before it was bound to its row (format 1): bound to its
    table and column only."""
    present = [t for t in texts if t is not None]
    sealed = iter(
        self.ring.seal([t.encode() for t in present], [f"text/{column}".encode()] * len(present))
    )
    return [
        None if t is None else "sealed:" + base64.b64encode(next(sealed)).decode() for t in texts
    ]


def test_text_sealed_before_it_was_bound_to_its_row_still_opens(
    ledger_location: str, keys: KeyFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger(ledger_location, keys=keys) as ledger:
        with monkeypatch.context() as old:
            old.setattr(sealing.Vault, "seal_texts", _seal_format_1)
            _handed_over_twice(ledger)
        checks = [r[0] for r in ledger._query("SELECT identity_check FROM handovers")]
        assert {sealing.text_format(v) for v in checks} == {1}
        reasons = ledger._query("SELECT reason FROM history WHERE from_state IS NOT NULL")
        assert {sealing.text_format(r[0]) for r in reasons if r[0] is not None} == {1}
        # The intake rows' reason is ektpcore's own word, kept as it is.
        intake = ledger._query("SELECT DISTINCT reason FROM history WHERE from_state IS NULL")
        assert intake == [("intake",)]
        # Everything opens and verifies as before; what is written now is bound.
        assert ledger.distribution.handovers(NIKS[1])[0].receiver == "Bapak Wiryo"
        assert ledger.history(NIKS[59])[-1].reason == "data di KK belum cocok"
        assert ledger.verify().ok
        ledger.transition([NIKS[59]], State.CANCELLED, SUPERVISOR, reason="foto buram")
        (new,) = ledger._query("SELECT reason FROM history ORDER BY seq DESC LIMIT 1")
        assert sealing.text_format(new[0]) == 2
        # A rotation (to a new data key, or under the same one) rewrites what it may, bound.
        keys.rotate()
        report = ledger.rotate_keys()
        assert report.resealed >= 3
        for column in ("identity_check", "receiver"):
            values = [r[0] for r in ledger._query(f"SELECT {column} FROM handovers")]
            assert {sealing.text_format(v) for v in values if v is not None} == {2}
        assert ledger.distribution.handovers(NIKS[0])[0].identity_check == (
            "KTP lama dan KK dicocokkan"
        )
        assert ledger.distribution.manifests()[0].received_by == "Pak Camat"
        # The append-only history keeps its format 1 reasons, which still open.
        assert ledger.history(NIKS[58])[-1].reason == "pindah domisili ke Depok"
        assert report.still_needed == [1]
        assert ledger.verify().ok


def test_key_rotation_reseals_while_another_process_writes(
    ledger_location: str, keys: KeyFile
) -> None:
    with Ledger(ledger_location, keys=keys) as ledger:
        ledger.add_records(NIKS, OPERATOR, names=NAMES, photos=PHOTOS)
        ledger.transition(NIKS[:5], State.ON_HOLD, OPERATOR, reason="menunggu konfirmasi")
        new_key = keys.rotate()
        assert new_key == 2
    assert keys.key_ring().current_key == 2
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, ledger_location, str(keys.path)],
        env={**os.environ, "PYTHONPATH": str(Path(ektpcore.__file__).parents[1])},
    )
    with Ledger(ledger_location, keys=KeyFile(keys.path)) as ledger:
        rotation = ledger.rotate_keys_in_background(chunk=7)
        report = rotation.join(timeout=120)
        assert writer.wait(timeout=120) == 0
        assert report.current == 2
        assert report.resealed >= 60
        # The history keeps the reasons it was given under key 1.
        assert report.still_needed == [1]
        sealed = [bytes(r[0]) for r in ledger._query("SELECT sealed FROM records")]
        assert {sealed_key_id(v) for v in sealed} == {2}
        assert ledger.where_is(NIKS[10]).photo_ref == PHOTOS[10]
        assert ledger.history(NIKS[0])[-1].reason == "menunggu konfirmasi"
        assert ledger.state_of(NIKS[20]) is State.SENT_FOR_ENROLMENT
        assert ledger.verify().ok
        with pytest.raises(LedgerKeyError, match="data key 1 still seals values"):
            ledger.retire_key(1)  # the history's reasons were sealed under it


def test_a_process_open_before_a_rotation_follows_it(ledger_location: str, keys: KeyFile) -> None:
    with Ledger(ledger_location, keys=KeyFile(keys.path)) as station:
        station.add_records(NIKS[:3], OPERATOR, names=NAMES[:3])
        # Another process rotates the key file and re-seals the records.
        other = KeyFile(keys.path)
        other.rotate()
        with Ledger(ledger_location, keys=other) as desk:
            assert desk.rotate_keys().current == 2
        assert station.where_is(NIKS[1]).name == NAMES[1]
        station.add_records(NIKS[3:4], OPERATOR, names=NAMES[3:4])
        (new,) = station._query("SELECT sealed FROM records ORDER BY id DESC LIMIT 1")
        assert sealed_key_id(bytes(new[0])) == 2


_WRITER = """
import sys
from ektpcore import Actor, Ledger, Role, State
from ektpcore.keys import KeyFile
import ektpcore
import datetime as dt
born = dt.date(1987, 3, 29)
niks = [int(ektpcore.Nik.compose("32.71.01", born, "M", 1 + i)) for i in range(60)]
with Ledger(sys.argv[1], keys=KeyFile(sys.argv[2])) as ledger:
    for nik in niks[10:40]:
        ledger.transition([nik], State.SENT_FOR_ENROLMENT, Actor("desk", Role.OPERATOR))
"""


def test_key_files_are_private_and_providers_keep_their_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    keys = KeyFile.create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(LedgerKeyError, match="not overwritten"):
        KeyFile.create(path)
    text = path.read_text()
    secrets_in_file = [
        line.split()[-1] for line in text.splitlines() if line[:4] in ("root", "data")
    ]
    # And what a sealed ledger holds them in: its vault, with the ring bound to the ledger.
    with Ledger(tmp_path / "bureau.db", keys=keys) as ledger:
        vault = ledger._vault
    for holder in (keys, keys.key_ring(), vault):
        for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
            with pytest.raises(TypeError, match="holds key material"):
                attempt(holder)
        shown = repr(holder) + str(getattr(holder, "__dict__", "")) + str(dir(holder))
        assert not any(s in shown for s in secrets_in_file)
    path.chmod(0o640)
    with pytest.raises(LedgerKeyError, match="open to others"):
        KeyFile(path)
    path.chmod(0o600)
    path.write_text(text.replace("root", "rot"))
    with pytest.raises(LedgerKeyError, match="line 2 is not understood"):
        KeyFile(path)
    with pytest.raises(LedgerKeyError, match="no such key file"):
        KeyFile(tmp_path / "missing")


def test_signatures_check_with_the_public_key_alone(keys: KeyFile) -> None:
    ring = keys.key_ring()
    signature = ring.sign(b"history 42")
    assert verify_signature(ring.verify_key, b"history 42", signature)
    assert not verify_signature(ring.verify_key, b"history 43", signature)


def test_environment_keys_for_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EKTPCORE_LEDGER_KEY", EnvironmentKeys.generate())
    one, two = EnvironmentKeys(), EnvironmentKeys()
    assert one.key_ring().fingerprint == two.key_ring().fingerprint
    monkeypatch.setenv("EKTPCORE_LEDGER_KEY", "c2hvcnQ=")
    with pytest.raises(LedgerKeyError, match="32 bytes"):
        EnvironmentKeys()
    monkeypatch.delenv("EKTPCORE_LEDGER_KEY")
    with pytest.raises(LedgerKeyError, match="no ledger key"):
        EnvironmentKeys()


@pytest.fixture
def sealed_memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("EKTPCORE_TEST_KEY", EnvironmentKeys.generate())
    with Ledger(":memory:", keys=EnvironmentKeys("EKTPCORE_TEST_KEY")) as ledger:
        yield ledger


def test_a_throwaway_ledger_can_be_sealed_too(sealed_memory: Ledger) -> None:
    sealed_memory.add_records(NIKS[:3], OPERATOR, state=State.PRINT_READY, names=NAMES[:3])
    assert sealed_memory.print_ready()["nik"].tolist() == NIKS[:3]
    sealed_memory.blanks.receive("L", 1, 10, SUPERVISOR)
    serials = sealed_memory.queue(NIKS[:3], "B1", "P1", OPERATOR)
    sealed_memory.transition(NIKS[:3], State.PRINTED, OPERATOR, blanks=serials, batch="B1")
    assert [r.card_serial for r in sealed_memory.batch("B1")] == serials
    assert sealed_memory.blanks.counts()[BlankState.USED] == 3


def test_on_a_ledger_with_users_only_a_signed_in_administrator_seals_or_rotates(
    ledger_location: str, keys: KeyFile
) -> None:
    """Sealing decides who can open the ledger at all: on a ledger with users nobody
    unsigned, and no role but an administrator's, seals it, rotates or retires its keys;
    each refusal leaves the ledger as it was, and the audit names who did each."""
    with Ledger(ledger_location) as ledger:
        ledger.users.create_administrator("root", "root-password-123")
        root = ledger.sign_in("root", "root-password-123")
        ledger.users.add(root, "budi", Role.SUPERVISOR, password="budi-password-123")
        budi = ledger.sign_in("budi", "budi-password-123")
        ledger.blanks.receive("L-1", 1, 10, budi)
        before = ledger.audit()
        with pytest.raises(AuthenticationError, match="only an administrator"):
            ledger.seal(keys)
        with pytest.raises(AuthenticationError, match="not signed in"):
            ledger.seal(keys, Actor("root", Role.ADMINISTRATOR))  # declared, not signed in
        with pytest.raises(PermissionDeniedError, match="may not seal the ledger"):
            ledger.seal(keys, budi)
        assert not ledger.sealed
        signing = ("signed in", "sign-in refused")  # the audit keeps every sign-in, refused too
        assert [e for e in ledger.audit() if e.event not in signing] == [
            e for e in before if e.event not in signing
        ]
        assert ledger._query("SELECT value FROM ledger_meta WHERE name = 'sealed'") == []
        assert ledger.seal(keys, root) == 0
        sealed = ledger.audit()[-1]
        assert (sealed.actor, sealed.role, sealed.event) == (
            "root",
            "ADMINISTRATOR",
            "ledger sealed",
        )
        assert keys.key_ring().fingerprint in (sealed.detail or "")
    with Ledger(ledger_location, keys=KeyFile(keys.path)) as ledger:
        assert ledger.verify().ok, ledger.verify().problem
        root = ledger.sign_in("root", "root-password-123")
        budi = ledger.sign_in("budi", "budi-password-123")
        keys.rotate()
        for refused in (
            lambda: ledger.rotate_keys(),
            lambda: ledger.rotate_keys(budi),
            lambda: ledger.rotate_keys_in_background(budi).join(timeout=60),
            lambda: ledger.retire_key(1),
            lambda: ledger.retire_key(1, budi),
        ):
            with pytest.raises((AuthenticationError, PermissionDeniedError)):
                refused()
        assert [e for e in ledger.audit() if e.event not in signing][-1] == sealed
        assert ledger.rotate_keys_in_background(root).join(timeout=60).current == 2
        ledger.retire_key(1, root)
        events = [(e.actor, e.event, e.detail) for e in ledger.audit()[-2:]]
        assert events == [
            ("root", "keys rotated", "data key 2"),
            ("root", "key retired", "data key 1"),
        ]
        assert ledger.verify().ok


# -- one key file, several ledgers: each ledger's keys are bound to it --------------------------


@contextlib.contextmanager
def _another_ledger(ledger_location: str, tmp_path: Path, request: Any) -> Iterator[str]:
    """A second ledger's location on the same store as ``ledger_location``."""
    if "://" not in ledger_location:
        yield str(tmp_path / "other.db")
        return
    from ektpcore.ledger.postgres import scratch_database

    with scratch_database(request.getfixturevalue("postgres_server")) as url:
        yield url


def test_a_value_row_or_index_copied_from_another_ledger_of_the_same_key_file_does_not_open(
    ledger_location: str, keys: KeyFile, tamper: Any, tmp_path: Path, request: Any
) -> None:
    nik = NIKS[0]
    with _another_ledger(ledger_location, tmp_path, request) as other:
        with Ledger(other, keys=keys) as a:
            a.add_records([nik], OPERATOR, names=["Ani of ledger A"])
            ((a_token, a_sealed),) = a._query("SELECT nik, sealed FROM records")
        # The same key file for a second ledger: refused unless said on purpose.
        with pytest.raises(LedgerKeyError, match=f"^{keys.path}: this key file already serves"):
            Ledger(ledger_location, keys=keys)
        with Ledger(ledger_location, keys=keys, shared_keys=True) as b:
            b.add_records([nik, NIKS[1]], OPERATOR, names=["Ani of ledger B", "Budi"])
            rid = b._query("SELECT id FROM records ORDER BY id")[0][0]
            # Each ledger's own blind index: the same NIK is not the same row in both.
            assert b._query("SELECT nik FROM records WHERE id = ?", (rid,))[0][0] != a_token
            assert b.verify().ok
    copies = [
        ("UPDATE records SET sealed = ? WHERE id = ?", (a_sealed, rid)),  # a sealed value
        ("UPDATE records SET nik = ?, sealed = ? WHERE id = ?", (a_token, a_sealed, rid)),  # row
        ("UPDATE records SET nik = ? WHERE id = ?", (a_token, rid)),  # a blind index
    ]
    for sql, params in copies:
        with Ledger(ledger_location, keys=keys) as b:
            (saved,) = b._query("SELECT nik, sealed FROM records WHERE id = ?", (rid,))
        tamper(sql, params)
        with Ledger(ledger_location, keys=keys) as b:
            if "nik = ?," not in sql and "SET nik" not in sql:
                with pytest.raises(SealedDataError):
                    b.where_is(nik)
            report = b.verify()
            assert not report.ok
            assert any(
                f.table == "records" and f.row == str(rid) and "do not open" in f.problem
                for f in report.findings
            ), sql
        tamper("UPDATE records SET nik = ?, sealed = ? WHERE id = ?", (*saved, rid))
        with Ledger(ledger_location, keys=keys) as b:
            assert b.verify().ok


def test_a_key_file_serves_one_ledger_unless_shared_on_purpose(
    ledger_location: str, keys: KeyFile, tmp_path: Path, request: Any
) -> None:
    with _another_ledger(ledger_location, tmp_path, request) as other:
        Ledger(other, keys=keys).close()
        assert len(keys.served()) == 1
        with Ledger(ledger_location) as ledger:  # an open ledger, sealed later
            ledger.add_records(NIKS[:2], OPERATOR, names=NAMES[:2])
            with pytest.raises(LedgerKeyError, match="already serves") as refused:
                ledger.seal(keys)
            assert "\n" not in str(refused.value)
            assert not ledger.sealed
            assert ledger.seal(keys, shared_keys=True) == 2
            assert ledger.identity in keys.served()
        with Ledger(ledger_location, keys=keys) as ledger:
            assert ledger.where_is(NIKS[1]).name == NAMES[1]
            assert ledger.verify().ok
        # A rotation keeps the list of ledgers the file serves.
        keys.rotate()
        assert len(KeyFile(keys.path).served()) == 2


def _seal_as_before_binding(location: str, keys: KeyFile) -> None:
    """A ledger as an ektpcore before keys were bound to ledgers left it: sealed with the
    key file's own keys (format 1 values, the file's index and chain key), at schema 17."""
    from ektpcore.ledger import chain, users
    from ektpcore.ledger.store import Session

    with Ledger(location) as ledger:
        ledger.add_records(NIKS[:6], OPERATOR, names=NAMES[:6], photos=PHOTOS[:6])
        store = ledger._store
        ring = keys.key_ring()
        with store.transaction() as conn:
            sealing.seal_existing(Session(store, conn), ring, ring)
            conn.execute(store.translate("DELETE FROM ledger_meta WHERE name = 'keys bound'"))
            keyed = Session(store, conn, sealing.Vault(ring))
            chain.key_chains(keyed)
            users.retag_sealed(keyed)
            store.set_schema_version(conn, 17)


def test_a_ledger_sealed_before_binding_opens_and_a_rotation_binds_its_values(
    ledger_location: str, keys: KeyFile
) -> None:
    _seal_as_before_binding(ledger_location, keys)
    with Ledger(ledger_location, keys=keys) as ledger:
        assert ledger.schema_version == ektpcore.ledger.SCHEMA_VERSION
        assert ledger.where_is(NIKS[2]).name == NAMES[2]
        assert ledger.verify().ok
        assert [e.event for e in ledger.audit()][-1] == "keys bound"
        ledger.add_records(NIKS[6:8], OPERATOR, names=NAMES[6:8])

        def formats() -> list[int | None]:
            rows = ledger._query("SELECT sealed FROM records ORDER BY id")
            return [sealed_format(bytes(r[0])) for r in rows]

        assert formats() == [1] * 6 + [2] * 2
        report = ledger.rotate_keys()
        assert report.resealed == 6
        assert formats() == [2] * 8
        assert ledger.where_is(NIKS[7]).name == NAMES[7]
        assert ledger.verify().ok
    with Ledger(ledger_location, keys=keys) as ledger:
        assert ledger.where_is(NIKS[0]).photo_ref == PHOTOS[0]
        assert ledger.verify().ok
