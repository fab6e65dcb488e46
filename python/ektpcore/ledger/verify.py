"""What :meth:`~ektpcore.Ledger.verify` checks, in one read snapshot of the ledger:

1. every chain of :data:`~ektpcore.ledger.chain.CHAINS`, epoch by epoch, row by row, and its
   head (:func:`~ektpcore.ledger.chain.check`), keyed epochs with the ledger's keys;
2. the history replayed against the tables (``rust/ledger/replay.rs``): each record's state
   (and batch, while queued) is what its last history row says, each blank's state, batch and
   record what its blank history says, each card a printing of the history on its blank (valid
   exactly while nothing took it back), each lot holds every blank of its range, and every row
   the history names exists;
3. with an anchor, that every checkpoint the anchor holds (signed, in a sealed ledger) is
   this ledger's (the identity it carries) and a point of the current chains: nothing after
   it was lost, nothing before it rewritten; the ledger's identity is in its audit once;
4. in a sealed ledger, that every sealed field and text opens and belongs to its row, and
   that no text is in clear where the ledger keeps it sealed (``ektpcore.ledger.sealing.check``,
   ``unopened_texts``; a history's reasons are covered by its keyed chain);
5. the users and the two-person requests against the audit that made them
   (``ektpcore.ledger.users.check``, ``ektpcore.ledger.approvals.check``), each user's row
   against its tag, and every chained row's actor and role against what the audit gave that
   user at that time (``ektpcore.ledger.users.Acting``, fed the rows the chain check reads).

Rows are read in bulk, once, as one text a table or span (JSON on SQLite, row values on
PostgreSQL), and every per-row check (links, replay, actors) runs in the Rust core: a million
history rows in a few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import _ektpcore
from ..lifecycle import State
from ..nik import parse_niks
from . import approvals, chain, sealing, users
from .anchor import Checkpoint, checkpoint_probes, identity, identity_findings
from .chain import BLANK_CHAIN, CHAINS, RECORD_CHAIN, ChainMac, Finding, VerifyReport
from .records import CARD_HOLDING
from .store import OneThread, Session

__all__ = ["verify", "verify_chain"]

# How a finding about a row of each table names it.
_NAMES = {
    "records": "record",
    "blanks": "blank",
    "cards": "the card on blank",
    "blank_lots": "lot",
    "history": "history row",
    "blank_history": "blank history row",
}

OPEN, KEYED = chain.OPEN_FORMAT, chain.KEYED_FORMAT

_RECORD_LEADING = ("state", "batch")
_CARDS = ("record_id", "serial", "valid")
_LOTS = ("id", "first_serial", "last_serial", "complete")
_BLANK_LEADING = ("lot_id", "state", "batch", "record_id")


def _columns(
    each: chain.Chain, key: str, source: str, target: str, batch: str, other: str
) -> tuple[int, int, int, int, int, int]:
    """Where the replay's fields are in a chain's rows as read (sequence number first)."""
    at = each.columns.index
    return (0, at(key) + 1, at(source) + 1, at(target) + 1, at(batch) + 1, at(other) + 1)


def verify(
    db: Session,
    *,
    mac: ChainMac | None = None,
    anchor: Iterable[Checkpoint] | None = None,
    chains: tuple[chain.Chain, ...] = CHAINS,
    beside: Session | None = None,
) -> VerifyReport:
    """Checks the ledger ``db`` reads (one snapshot) as the module says; ``mac`` is a sealed
    ledger's key ring, ``anchor`` the checkpoints to hold the chains to. One thread of its
    own reads the chains' rows, ahead of the one checking them. Given ``beside`` (a second
    connection in the same snapshot, where the store has one), a second thread reads the
    tables on it, then chains' rows too, whichever thread has less queued: a server writes
    on both at once. Else the one thread reads the tables first."""
    reader = OneThread()
    second = None if beside is None else OneThread()
    try:
        tables = db.on(reader) if beside is None or second is None else beside.on(second)
        helper = None if beside is None or second is None else (tables, second)
        return _verify(db.on(reader), reader, tables, second or reader, helper, mac, anchor, chains)
    finally:
        reader.close()
        if second is not None:
            second.close()


def _verify(
    db: Session,
    reader: OneThread,
    tables_db: Session,
    tables_reader: OneThread,
    helper: tuple[Session, OneThread] | None,
    mac: ChainMac | None,
    anchor: Iterable[Checkpoint] | None,
    chains: tuple[chain.Chain, ...],
) -> VerifyReport:
    findings: list[Finding] = []
    read: list[Finding] = []  # what the reader found, in the order it read
    submit = tables_reader.submit
    tables = [
        submit(chain.subject_rows, tables_db, RECORD_CHAIN, read, _RECORD_LEADING),
        submit(chain.subject_rows, tables_db, BLANK_CHAIN, read, _BLANK_LEADING),
        submit(chain.table_rows, tables_db, _CARDS, "cards", "serial", read),
        submit(chain.table_rows, tables_db, _LOTS, "blank_lots", "id", read),
    ]
    sealed: Future[list[tuple[int, str]]] | None = None
    if mac is not None:
        # The records' sealed fields, read next and opened in the core on a thread of their
        # own while the chains are checked: they need nothing the chain check finds.
        records_sealed = submit(sealing.sealed_rows, tables_db)
        opener = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ektpcore-opener")
        sealed = opener.submit(_open_sealed, records_sealed, mac)
        opener.shutdown(wait=False)  # the thread ends once the check is done
    probes: dict[str, dict[int, list[tuple[bytes, str]]]] = {}
    if anchor is not None:
        probes, anchor_findings = checkpoint_probes(anchor, mac, identity(db))
        findings += anchor_findings
    # What reading the tables found goes here, once they are read: the chains are checked
    # meanwhile (each table is waited for where a check first needs it).
    read_at = len(findings)
    record_replay = _ektpcore.RecordReplay(
        _columns(RECORD_CHAIN, "record_id", "from_state", "to_state", "batch", "blank"),
        State.QUEUED.value,
        State.PRINTED.value,
        [State.PRINT_READY.value, State.CANCELLED.value],
        sorted(s.value for s in CARD_HOLDING),
    )
    blank_replay = _ektpcore.BlankReplay(
        _columns(BLANK_CHAIN, "serial", "from_state", "to_state", "batch", "record_id")
    )
    record_subjects = {f: (tables[0], 1 + len(_RECORD_LEADING)) for f in (OPEN, KEYED)}
    if mac is not None and any(e.format == OPEN for e in chain.epochs(db, RECORD_CHAIN)):
        # Sealed after rows of the open format: those took their records in in clear.
        record_subjects[OPEN] = (_records_in_clear(db, mac), 1)
    blank_subjects = {f: (tables[1], 1 + len(_BLANK_LEADING)) for f in (OPEN, KEYED)}
    replays: dict[str, tuple[Any, Any]] = {
        RECORD_CHAIN.table: (record_subjects, record_replay.feed),
        BLANK_CHAIN.table: (blank_subjects, blank_replay.feed),
    }
    known = db.as_list([each.table for each in chains])
    for name, first_seq in db.all(
        f"SELECT chain, first_seq FROM chain_epochs WHERE NOT {db.member_of('chain')}",
        (known,),
    ):
        what = f"an epoch of a chain this ledger does not have ({name!r}, from {first_seq})"
        findings.append(Finding("chain_epochs", f"{name} from {first_seq}", what))
    rows = 0
    checks = {}
    # Who acted: the users as the audit made them, each chain's rows held to them as read.
    acting = users.Acting(db)
    for each in chains:
        subjects, replay = replays.get(each.table, (None, None))
        checked = checks[each.table] = chain.check(
            db,
            each,
            mac=mac,
            subjects=subjects,
            probes=probes.get(each.table),
            sink=_sink(replay, each.table, acting),
            reader=reader,
            helper=helper,
        )
        rows += checked.rows
        findings += checked.findings
    if mac is not None:
        findings += chain.keyed_where_said(checks)
    records, blanks, cards, lots = (t.result() for t in tables)
    findings[read_at:read_at] = read
    for replayed in (
        record_replay.check(records, cards),
        blank_replay.check(blanks, lots, records),
    ):
        kept, total = replayed
        findings += [
            Finding(table, row, f"{_NAMES.get(table, table)} {row}: {problem}", seq)
            for table, row, seq, problem in kept
        ]
        if total > len(kept):
            findings.append(Finding("ledger", "-", f"and {total - len(kept)} more like these"))
    if sealed is not None:
        findings += _sealing(db, mac, sealed.result())
    findings += identity_findings(db)
    findings += [
        Finding("users", user, problem, seq) for user, problem, seq in users.check(db, mac)
    ]
    findings += [
        Finding(table, row, problem, seq) for table, row, problem, seq in acting.findings(db)
    ]
    findings += [
        Finding("approvals", request, problem, seq)
        for request, problem, seq in approvals.check(db, mac)
    ]
    if not findings:
        return VerifyReport(True, rows)
    first = findings[0]
    return VerifyReport(False, rows, first.seq, first.problem, tuple(findings))


def _sink(replay: chain.RowSink | None, table: str, acting: users.Acting) -> chain.RowSink:
    """What each chunk of ``table``'s rows goes to: its replay (if it has one) and the
    actors' check."""

    def feed(rows: Any) -> None:
        if replay is not None:
            replay(rows)
        acting.feed(table, rows)

    return feed


def verify_chain(db: Session, which: chain.Chain, *, mac: ChainMac | None = None) -> VerifyReport:
    """Checks one chain alone (rows and head), nothing else."""
    found: list[Finding] = []
    subjects = None
    if which.subject is not None:
        rows = chain.subject_rows(db, which, found)
        subjects = {OPEN: (rows, 1), KEYED: (rows, 1)}
    checked = chain.check(db, which, mac=mac, subjects=subjects)
    checked.findings[:0] = found
    if not checked.findings:
        return VerifyReport(True, checked.rows)
    first = checked.findings[0]
    return VerifyReport(False, checked.rows, first.seq, first.problem, tuple(checked.findings))


def _records_in_clear(db: Session, ring: Any) -> Any:
    """The records table's subject columns as they were before the ledger was sealed: the NIK,
    name and references opened from each sealed value, the sex the NIK gives."""
    subject = RECORD_CHAIN.subject
    assert subject is not None
    columns = subject.columns
    rows = db.all(f"SELECT id, {', '.join(columns)} FROM records ORDER BY id")
    people = sealing.opened(db, ring)
    niks = [p[0] for p in people.values() if p is not None]
    sexes = dict(zip(niks, parse_niks(np.array(niks, dtype=np.int64)).sex.tolist(), strict=True))
    out = []
    for row in rows:
        values = dict(zip(columns, row[1:], strict=True))
        person = people.get(int(row[0]))
        if person is not None:
            nik, fields = person
            values |= {
                "nik": nik,
                "name": fields.name,
                "sex": sexes[nik],
                "photo_ref": fields.photo_ref,
                "signature_ref": fields.signature_ref,
                "card": sealing.card_json(fields.card),
            }
        out.append([row[0], *(values[c] for c in columns)])
    text = json.dumps([[None if v is None else str(v) for v in r] for r in out])
    return _ektpcore.LedgerRows(text.encode(), 1 + len(columns))


def _open_sealed(read: Future[tuple[Any, bytes]], ring: Any) -> list[tuple[int, str]]:
    """The records' sealed fields checked, once the reader has read them."""
    return sealing.check_rows(*read.result(), ring)


def _sealing(db: Session, ring: Any, records: list[tuple[int, str]]) -> list[Finding]:
    """A sealed ledger's own check of its sealed fields (``records``, what
    ``ektpcore.ledger.sealing.check_rows`` found) and texts."""
    return [
        Finding("records", str(record), f"record {record}: {problem}")
        for record, problem in records
    ] + [Finding(table, row, problem) for table, row, problem in sealing.unopened_texts(db, ring)]
