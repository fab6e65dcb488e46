"""The ledger: every record's state and an append-only, hash-chained history of every change.

SQLite by default (one file, WAL, ``synchronous=FULL``, foreign keys on), created on first use
and migrated to the current schema. Every write takes an :class:`~ektpcore.Actor`, is checked
against :data:`~ektpcore.TRANSITIONS`, and happens in one transaction: a bulk change is applied
whole or not at all, and a crash leaves the ledger as it was before the change or after it.

History rows are chained: each stores SHA-256 over the previous row's hash and its own
canonical bytes (computed in Rust). :meth:`Ledger.verify` recomputes the chain and names the
first row that was edited, inserted or deleted.
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _ektpcore
from .dedup import dedup_niks
from .errors import EktpcoreError, InvalidArgumentError
from .lifecycle import Actor, Role, State, transition_rule
from .nik import Nik, mask_nik, parse_niks
from .store import LedgerStore, SqliteStore

if TYPE_CHECKING:
    from .blanks import BlankStock
    from .distribution import Distribution
    from .index import NikIndex
    from .ribbons import Ribbons

__all__ = [
    "ChipLogEntry",
    "HistoryEntry",
    "IllegalTransitionError",
    "IntakeReport",
    "Ledger",
    "PermissionDeniedError",
    "Record",
    "UnknownRecordError",
    "VerifyReport",
]

SCHEMA_VERSION = 7
_GENESIS = bytes(32)

# Each entry migrates from the version before it; the list index + 1 is the version reached.
# They are written in SQLite's dialect; another store brings its own translation of them.
_MIGRATIONS: list[str] = [
    """
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        nik INTEGER NOT NULL UNIQUE CHECK (nik > 0),
        name TEXT,
        birth_date TEXT,
        sex INTEGER,
        kecamatan TEXT,
        kelurahan TEXT,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX records_state ON records (state);
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT,
        batch TEXT,
        printer TEXT,
        blank TEXT,
        hash BLOB NOT NULL
    );
    CREATE INDEX history_record ON history (record_id);
    CREATE TABLE chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL
    );
    INSERT INTO chain_head VALUES (1, 0, zeroblob(32));
    CREATE TRIGGER history_no_update BEFORE UPDATE ON history
        BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
    CREATE TRIGGER history_no_delete BEFORE DELETE ON history
        BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
    """,
    # 2: blank cards (blangko), their lots and movements, and the cards printed on them.
    """
    CREATE TABLE blank_lots (
        id INTEGER PRIMARY KEY,
        reference TEXT NOT NULL,
        first_serial INTEGER NOT NULL,
        last_serial INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        CHECK (0 < first_serial AND first_serial <= last_serial)
    );
    CREATE TABLE blanks (
        serial INTEGER PRIMARY KEY,
        lot_id INTEGER NOT NULL REFERENCES blank_lots (id),
        state TEXT NOT NULL,
        batch TEXT,
        record_id INTEGER REFERENCES records (id),
        updated_at TEXT NOT NULL
    );
    CREATE INDEX blanks_state ON blanks (state);
    CREATE TABLE cards (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        serial INTEGER NOT NULL UNIQUE REFERENCES blanks (serial),
        valid INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        invalidated_at TEXT,
        reason TEXT
    );
    CREATE UNIQUE INDEX cards_one_valid_per_record ON cards (record_id) WHERE valid = 1;
    CREATE TABLE blank_history (
        seq INTEGER PRIMARY KEY,
        serial INTEGER NOT NULL REFERENCES blanks (serial),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT,
        batch TEXT,
        record_id INTEGER,
        hash BLOB NOT NULL
    );
    CREATE TABLE blank_chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL
    );
    INSERT INTO blank_chain_head VALUES (1, 0, zeroblob(32));
    CREATE TRIGGER blank_history_no_update BEFORE UPDATE ON blank_history
        BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
    CREATE TRIGGER blank_history_no_delete BEFORE DELETE ON blank_history
        BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
    """,
    # 3: printer ribbons, distribution manifests and hand-overs.
    """
    CREATE TABLE ribbons (
        id INTEGER PRIMARY KEY,
        printer TEXT NOT NULL,
        kind TEXT NOT NULL,
        capacity INTEGER NOT NULL CHECK (capacity > 0),
        remaining INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= capacity),
        installed_at TEXT NOT NULL,
        installed_by TEXT NOT NULL,
        removed_at TEXT
    );
    CREATE UNIQUE INDEX ribbons_one_per_printer ON ribbons (printer) WHERE removed_at IS NULL;
    CREATE TABLE manifests (
        id INTEGER PRIMARY KEY,
        kecamatan TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        dispatched_at TEXT,
        received_at TEXT,
        received_by TEXT,
        received_count INTEGER
    );
    CREATE TABLE manifest_items (
        manifest_id INTEGER NOT NULL REFERENCES manifests (id),
        record_id INTEGER NOT NULL REFERENCES records (id),
        kelurahan TEXT,
        PRIMARY KEY (manifest_id, record_id)
    );
    CREATE INDEX manifest_items_record ON manifest_items (record_id);
    CREATE TABLE handovers (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        identity_check TEXT NOT NULL,
        receiver TEXT
    );
    """,
    # 4: where the print station finds the photo and signature (paths or URIs; the images
    # themselves stay in the capture system's store).
    """
    ALTER TABLE records ADD COLUMN photo_ref TEXT;
    ALTER TABLE records ADD COLUMN signature_ref TEXT;
    """,
    # 5: the priority class the planner serves records by (0 first-time, 1 data change,
    # 2 replacement of a lost or damaged card).
    """
    ALTER TABLE records ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX blanks_batch ON blanks (batch);
    """,
    # 6: the print station's journal: a card is written here, with its blank, before its
    # bytes leave for the printer, and removed when its outcome is recorded. A row left over
    # after a crash is a card whose outcome nobody knows.
    """
    CREATE TABLE station_journal (
        record_id INTEGER PRIMARY KEY REFERENCES records (id),
        batch TEXT NOT NULL,
        printer TEXT NOT NULL,
        serial INTEGER NOT NULL REFERENCES blanks (serial),
        state TEXT NOT NULL CHECK (state IN ('sent', 'in_doubt')),
        sent_at TEXT NOT NULL
    );
    """,
    # 7: chip personalisation: every attempt on a blank's chip (append-only), and the chip
    # serial of each card.
    """
    ALTER TABLE cards ADD COLUMN chip_serial TEXT;
    CREATE TABLE chip_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        record_id INTEGER NOT NULL REFERENCES records (id),
        serial INTEGER NOT NULL REFERENCES blanks (serial),
        printer TEXT NOT NULL,
        chip_serial TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('written', 'failed')),
        reason TEXT
    );
    CREATE INDEX chip_log_record ON chip_log (record_id);
    CREATE TRIGGER chip_log_no_update BEFORE UPDATE ON chip_log
        BEGIN SELECT RAISE(ABORT, 'the chip log is append-only'); END;
    CREATE TRIGGER chip_log_no_delete BEFORE DELETE ON chip_log
        BEGIN SELECT RAISE(ABORT, 'the chip log is append-only'); END;
    """,
]


class UnknownRecordError(EktpcoreError, KeyError):
    """A NIK the ledger does not hold (the message shows it masked)."""

    def __str__(self) -> str:
        return str(self.args[0])


class PermissionDeniedError(EktpcoreError, PermissionError):
    """The actor's role may not make this change."""


class IllegalTransitionError(EktpcoreError, ValueError):
    """A change the lifecycle does not allow, or one missing its required reason.

    Attributes: ``nik`` (masked), ``source``, ``target`` and ``rule`` (what was broken).
    """

    def __init__(self, nik: str, source: State, target: State, rule: str) -> None:
        super().__init__(f"record {nik}: {source.value} -> {target.value} refused: {rule}")
        self.nik, self.source, self.target, self.rule = nik, source, target, rule


@dataclass(frozen=True)
class IntakeReport:
    """What :meth:`Ledger.add_records` did: rows added, and rows refused with the reason
    (invalid NIK, repeated within the intake, already in the ledger)."""

    added: int
    refused: list[tuple[int, str]]


def _mask_name(name: str | None) -> str | None:
    return None if name is None else " ".join(w[:1] + "*" * (len(w) - 1) for w in name.split())


@dataclass(frozen=True, repr=False)
class Record:
    """Where one record stands. The repr masks the NIK and the name."""

    nik: Nik
    name: str | None
    state: State
    kecamatan: str | None
    kelurahan: str | None
    card_serial: int | None
    manifest: int | None
    updated_at: str
    photo_ref: str | None = None
    signature_ref: str | None = None

    def __repr__(self) -> str:
        return (
            f"Record(nik={self.nik!r}, name={_mask_name(self.name)!r}, state={self.state.value},"
            f" kecamatan={self.kecamatan!r}, kelurahan={self.kelurahan!r},"
            f" card_serial={self.card_serial}, manifest={self.manifest})"
        )


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    at: str
    actor: str
    role: str
    source: State | None
    target: State
    reason: str | None
    batch: str | None
    printer: str | None
    blank: str | None


@dataclass(frozen=True)
class ChipLogEntry:
    """One attempt at a blank's chip: which blank, which printer, the chip's serial (its
    UID, when it answered), and whether it was written and read back intact."""

    seq: int
    at: str
    serial: int
    printer: str
    chip_serial: str | None
    outcome: str  # "written" or "failed"
    reason: str | None


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :meth:`Ledger.verify`: ``ok``, and where it is not, the sequence number
    of the first history row that does not fit and what is wrong."""

    ok: bool
    rows: int
    first_bad_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class _Chain:
    """A hash-chained, append-only history table and the row holding its head."""

    table: str
    head: str
    columns: tuple[str, ...]
    label: str


RECORD_CHAIN = _Chain(
    "history",
    "chain_head",
    (
        "record_id",
        "at",
        "actor",
        "role",
        "from_state",
        "to_state",
        "reason",
        "batch",
        "printer",
        "blank",
    ),
    "history row",
)
BLANK_CHAIN = _Chain(
    "blank_history",
    "blank_chain_head",
    ("serial", "at", "actor", "role", "from_state", "to_state", "reason", "batch", "record_id"),
    "blank history row",
)


def _payload(row: Sequence[Any]) -> bytes:
    """The canonical bytes a history row is hashed over: its fields, unit-separated."""
    return "\x1f".join("" if v is None else str(v) for v in row).encode()


# States in which a record may hold a printed card.
_CARD_HOLDING = frozenset(
    {
        State.PRINTED,
        State.ENCODED,
        State.QC_PASSED,
        State.IN_DOUBT,
        State.ISSUED,
        State.IN_TRANSIT_TO_KECAMATAN,
        State.AT_KECAMATAN,
        State.IN_TRANSIT_TO_KELURAHAN,
        State.AT_KELURAHAN,
    }
)


def _first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    return rows[0] if rows else None


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


class Ledger:
    """The bureau's record of records, states and history, in one SQLite file.

    ``Ledger(path)`` opens or creates it; ``Ledger(":memory:")`` is a throwaway one.
    """

    def __init__(self, path: str | os.PathLike[str] | LedgerStore) -> None:
        self._store: LedgerStore = (
            path if not isinstance(path, (str, os.PathLike)) else SqliteStore(path)
        )
        self.path = self._store.name
        self._migrate()

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.path!r})"

    def _write(self) -> Any:
        """One write transaction of the store (see :meth:`LedgerStore.transaction`)."""
        return self._store.transaction()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._store.query(sql, params)

    def _migrate(self) -> None:
        with self._write() as db:
            version = self._store.schema_version(db)
            if version > SCHEMA_VERSION:
                raise EktpcoreError(
                    f"{self.path}: schema version {version} is newer than this ektpcore "
                    f"({SCHEMA_VERSION})"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number].split(";\n"):
                    if statement.strip():
                        db.execute(statement)
                self._store.set_schema_version(db, number + 1)

    @property
    def schema_version(self) -> int:
        with self._write() as db:
            return self._store.schema_version(db)

    # -- writes ------------------------------------------------------------------------------
    @staticmethod
    def _require(actor: Actor, role: Role) -> None:
        if not isinstance(actor, Actor):
            raise InvalidArgumentError("every write names an Actor")
        if actor.role < role:
            raise PermissionDeniedError(
                f"{actor.name} ({actor.role.name.lower()}) may not do this; "
                f"it needs a {role.name.lower()}"
            )

    def _append_history(
        self, db: sqlite3.Connection, rows: list[tuple[Any, ...]], chain: _Chain | None = None
    ) -> None:
        """Appends rows (without ``seq`` and ``hash``) to a chained history table."""
        chain = chain or RECORD_CHAIN
        seq, head = db.execute(f"SELECT seq, hash FROM {chain.head} WHERE id = 1").fetchone()
        numbered = [(seq + i + 1, *row) for i, row in enumerate(rows)]
        hashes = _ektpcore.history_chain(bytes(head), [_payload(r) for r in numbered])
        names = ", ".join(("seq", *chain.columns, "hash"))
        marks = ",".join("?" * (len(chain.columns) + 2))
        db.executemany(
            f"INSERT INTO {chain.table} ({names}) VALUES ({marks})",
            [(*r, h) for r, h in zip(numbered, hashes, strict=True)],
        )
        if numbered:
            db.execute(
                f"UPDATE {chain.head} SET seq = ?, hash = ? WHERE id = 1",
                (numbered[-1][0], hashes[-1]),
            )

    def add_records(
        self,
        niks: Any,
        actor: Actor,
        *,
        state: State = State.BIO_CAPTURED,
        names: Sequence[str | None] | None = None,
        kecamatan: Sequence[str | None] | None = None,
        kelurahan: Sequence[str | None] | None = None,
        photos: Sequence[str | None] | None = None,
        signatures: Sequence[str | None] | None = None,
        priority: Sequence[int] | int = 0,
    ) -> IntakeReport:
        """Takes records in. Invalid NIKs, NIKs repeated in the intake and NIKs already in the
        ledger are refused (reported per row) and never enter; the rest enter in ``state``
        (``BIO_CAPTURED``, ``SENT_FOR_ENROLMENT`` or ``PRINT_READY`` for records SIAK already
        confirmed), all in one transaction. ``photos`` and ``signatures`` are references (paths
        or URIs) the print station resolves; the ledger keeps only what routes and prints.
        ``priority`` is the class the planner serves the record by (:class:`~ektpcore.Priority`:
        0 first-time, 1 data change, 2 replacement), one for all or one per NIK."""
        self._require(actor, Role.OPERATOR)
        entry_states = (State.BIO_CAPTURED, State.SENT_FOR_ENROLMENT, State.PRINT_READY)
        if state not in entry_states:
            raise InvalidArgumentError(f"records enter as one of {[s.value for s in entry_states]}")
        parsed = parse_niks(niks)
        dedup = dedup_niks(parsed.values, validate=False)
        n = len(parsed)

        def column(values: Sequence[str | None] | None) -> list[str | None]:
            if values is None:
                return [None] * n
            if len(values) != n:
                raise InvalidArgumentError("every column must have one value per NIK")
            return list(values)

        name_col, kec_col, kel_col = column(names), column(kecamatan), column(kelurahan)
        prio_col = [int(priority)] * n if isinstance(priority, int) else [int(p) for p in priority]
        if len(prio_col) != n or any(not 0 <= p <= 255 for p in prio_col):
            raise InvalidArgumentError("priority: one class 0 (most urgent) to 255 per NIK")
        photo_col, signature_col = column(photos), column(signatures)
        decomposed_sex = parsed.sex
        refused: list[tuple[int, str]] = [
            (i, f"invalid NIK: {msg}") for i, msg in enumerate(parsed.messages()) if msg
        ]
        refused += [
            (int(i), "NIK repeated in this intake") for i in np.flatnonzero(dedup.duplicated)
        ]
        candidates = np.flatnonzero(dedup.first)
        now = _now()
        with self._write() as db:
            existing = {
                row[0]
                for chunk in range(0, len(candidates), 50_000)
                for row in db.execute(
                    f"SELECT nik FROM records WHERE {self._store.member_of('nik')}",
                    (
                        self._store.as_list(
                            parsed.values[candidates[chunk : chunk + 50_000]].tolist()
                        ),
                    ),
                )
            }
            keep = [int(i) for i in candidates if int(parsed.values[i]) not in existing]
            refused += [
                (int(i), "already in the ledger")
                for i in candidates
                if int(parsed.values[i]) in existing
            ]
            db.executemany(
                "INSERT INTO records (nik, name, sex, kecamatan, kelurahan, state, updated_at,"
                " photo_ref, signature_ref, priority) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        int(parsed.values[i]),
                        name_col[i],
                        int(decomposed_sex[i]),
                        kec_col[i],
                        kel_col[i],
                        state.value,
                        now,
                        photo_col[i],
                        signature_col[i],
                        prio_col[i],
                    )
                    for i in keep
                ],
            )
            ids = dict(
                db.execute(
                    f"SELECT nik, id FROM records WHERE {self._store.member_of('nik')}",
                    (self._store.as_list([int(parsed.values[i]) for i in keep]),),
                ).fetchall()
            )
            self._append_history(
                db,
                [
                    (
                        ids[int(parsed.values[i])],
                        now,
                        actor.name,
                        actor.role.name,
                        None,
                        state.value,
                        "intake",
                        None,
                        None,
                        None,
                    )
                    for i in keep
                ],
            )
        return IntakeReport(len(keep), sorted(refused))

    def transition(
        self,
        niks: Any,
        target: State,
        actor: Actor,
        *,
        reason: str | None = None,
        batch: str | None = None,
        printer: str | None = None,
        blanks: Sequence[int] | None = None,
    ) -> int:
        """Moves every given record to ``target``, or none of them.

        Printing (``PRINTED``) binds each record to a blank: ``blanks`` gives one allocated
        serial per NIK, in the same order, and each becomes ``USED`` with a valid card on it. A
        spoiled attempt (back to ``PRINT_READY`` from ``PRINTED``, ``ENCODED`` or
        ``IN_DOUBT``) invalidates the card and spoils its blank; cancelling a printed record
        voids it; a reprint (``ISSUED`` → ``PRINT_READY``) invalidates the lost card. At most
        one valid card per record exists at any time.

        Raises:
            UnknownRecordError: a NIK the ledger does not hold.
            IllegalTransitionError: a change the lifecycle forbids, or without its required
                reason (the first such record is named, masked).
            PermissionDeniedError: the actor's role is too low for the change.
        """
        values = parse_niks(niks).values
        if (values < 0).any():
            raise InvalidArgumentError("transition takes valid NIKs only")
        return self._transition_with(
            values.tolist(),
            State(target),
            actor,
            reason=reason,
            batch=batch,
            printer=printer,
            blanks=blanks,
        )

    def _transition_with(
        self,
        niks: list[int],
        target: State,
        actor: Actor,
        *,
        reason: str | None = None,
        batch: str | None = None,
        printer: str | None = None,
        blanks: Sequence[int] | None = None,
        after: Callable[[sqlite3.Connection, str], object] | None = None,
    ) -> int:
        """:meth:`transition` on integer NIKs, with ``after(db, now)`` run in the same
        transaction (manifests and hand-overs record themselves that way)."""
        if actor.role < Role.OPERATOR:
            self._require(actor, Role.OPERATOR)
        now = _now()
        with self._write() as db:
            rows = db.execute(
                "SELECT r.id, r.nik, r.state FROM records AS r WHERE "
                + self._store.member_of("r.nik"),
                (self._store.as_list(niks),),
            ).fetchall()
            found = {nik: (rid, State(state)) for rid, nik, state in rows}
            for v in niks:
                if v not in found:
                    raise UnknownRecordError(f"no record with NIK {mask_nik(v)} in the ledger")
            # The rule depends on the source state only: check it once per state present.
            first_of: dict[State, int] = {}
            for nik, (_, source) in found.items():
                first_of.setdefault(source, nik)
            for source, nik in first_of.items():
                rule = transition_rule(source, target)
                if rule is None:
                    raise IllegalTransitionError(
                        mask_nik(nik), source, target, "the lifecycle does not allow it"
                    )
                self._require(actor, rule.role)
                if rule.reason_required and not (reason and reason.strip()):
                    raise IllegalTransitionError(
                        mask_nik(nik), source, target, f"'{rule.rule}' needs a reason"
                    )
            serial_of = self._bind_blanks(
                db, actor, now, niks, found, target, blanks, reason, batch
            )
            if target is State.PRINTED and printer is not None:
                self.ribbons._consume(db, printer, len(found))
            # Enum values looked up once, not once per record: bulk changes touch 10^5 rows.
            who, role, to = actor.name, actor.role.name, target.value
            sources = [(rid, source.value) for rid, source in found.values()]
            db.execute(
                "UPDATE records SET state = ?, updated_at = ? WHERE " + self._store.member_of("id"),
                (target.value, now, self._store.as_list([rid for rid, _ in found.values()])),
            )
            self._append_history(
                db,
                [
                    (rid, now, who, role, source, to, reason, batch, printer, serial_of.get(rid))
                    for rid, source in sources
                ],
            )
            if target is State.PRINT_READY:
                # A reprint of a lost or damaged card is served after first-time cards.
                reprints = [rid for rid, source in found.values() if source is State.ISSUED]
                if reprints:
                    db.execute(
                        "UPDATE records SET priority = 2 WHERE " + self._store.member_of("id"),
                        (self._store.as_list(reprints),),
                    )
            if after is not None:
                after(db, now)
        return len(found)

    def queue(self, niks: Any, batch: str, printer: str, actor: Actor) -> list[int]:
        """Queues a planned batch: its records go ``PRINT_READY`` → ``QUEUED`` under ``batch``
        and ``printer``, and one blank per record is ``ALLOCATED`` to the batch (lowest
        serials first), in one transaction: all of it or, on any refusal, none. Returns the
        allocated serials, in the batch's print order."""
        values = parse_niks(niks).values
        if (values < 0).any():
            raise InvalidArgumentError("queue takes valid NIKs only")
        allocated: list[int] = []

        def allocate(db: sqlite3.Connection, now: str) -> None:
            allocated.extend(self.blanks._allocate(db, actor, now, batch, len(values)))

        self._transition_with(
            values.tolist(), State.QUEUED, actor, batch=batch, printer=printer, after=allocate
        )
        return allocated

    def _bind_blanks(
        self,
        db: sqlite3.Connection,
        actor: Actor,
        now: str,
        niks: list[int],
        found: dict[int, tuple[int, State]],
        target: State,
        blanks: Sequence[int] | None,
        reason: str | None,
        batch: str | None,
    ) -> dict[int, int]:
        """The blank-card side of a transition; returns the serial bound per record id."""
        from .blanks import BlankState

        stock = self.blanks
        if target is State.PRINTED:
            if blanks is None or len(blanks) != len(niks) or len(set(niks)) != len(niks):
                raise InvalidArgumentError(
                    "printing binds one blank per record: pass blanks=[serial, ...] with one "
                    "serial per NIK, in the same order"
                )
            record_ids = [found[nik][0] for nik in niks]
            stock._move(
                db,
                actor,
                now,
                [int(b) for b in blanks],
                BlankState.USED,
                batch=batch,
                allowed={(BlankState.ALLOCATED, BlankState.USED): Role.OPERATOR},
                record_ids=record_ids,
            )
            db.executemany(
                "INSERT INTO cards (record_id, serial, created_at) VALUES (?,?,?)",
                [(rid, int(b), now) for rid, b in zip(record_ids, blanks, strict=True)],
            )
            return {rid: int(b) for rid, b in zip(record_ids, blanks, strict=True)}
        if blanks is not None:
            raise InvalidArgumentError("blanks are given only when printing")
        ids = [
            rid
            for rid, source in found.values()
            if target in (State.PRINT_READY, State.CANCELLED) and source in _CARD_HOLDING
        ]
        if not ids:
            return {}
        cards = db.execute(
            "SELECT c.record_id, c.serial FROM cards c WHERE c.valid = 1 AND "
            + self._store.member_of("c.record_id"),
            (self._store.as_list(ids),),
        ).fetchall()
        db.executemany(
            "UPDATE cards SET valid = 0, invalidated_at = ?, reason = ? WHERE serial = ?",
            [(now, reason, serial) for _, serial in cards],
        )
        source_of = dict(found.values())
        spoiled = [
            serial
            for rid, serial in cards
            if target is State.PRINT_READY and source_of[rid] is not State.ISSUED
        ]
        voided = [serial for rid, serial in cards if target is State.CANCELLED]
        used_to = {
            (BlankState.USED, BlankState.SPOILED): Role.OPERATOR,
            (BlankState.USED, BlankState.VOIDED): Role.SUPERVISOR,
        }
        if spoiled:
            stock._move(db, actor, now, spoiled, BlankState.SPOILED, reason=reason, allowed=used_to)
        if voided:
            stock._move(db, actor, now, voided, BlankState.VOIDED, reason=reason, allowed=used_to)
        return {}

    @property
    def blanks(self) -> BlankStock:
        """The blank-card stock kept in this ledger."""
        from .blanks import BlankStock

        return BlankStock(self)

    @property
    def ribbons(self) -> Ribbons:
        """The printers' ribbons."""
        from .ribbons import Ribbons

        return Ribbons(self)

    @property
    def distribution(self) -> Distribution:
        """Manifests to kecamatan and kelurahan, and hand-overs to citizens."""
        from .distribution import Distribution

        return Distribution(self)

    # -- reads -------------------------------------------------------------------------------
    def state_of(self, nik: Any) -> State:
        value = int(parse_niks([nik]).values[0])
        row = _first(self._query("SELECT state FROM records WHERE nik = ?", (value,)))
        if row is None:
            raise UnknownRecordError(f"no record with NIK {mask_nik(nik)} in the ledger")
        return State(row[0])

    _RECORD_QUERY = (
        "SELECT r.nik, r.name, r.state, r.kecamatan, r.kelurahan,"
        " (SELECT c.serial FROM cards c WHERE c.record_id = r.id AND c.valid = 1),"
        " (SELECT max(i.manifest_id) FROM manifest_items i WHERE i.record_id = r.id),"
        " r.updated_at, r.photo_ref, r.signature_ref FROM records r"
    )

    @staticmethod
    def _record(row: Sequence[Any]) -> Record:
        nik, name, state, kec, kel, serial, manifest, updated, photo, signature = row
        return Record(
            Nik.from_int(nik),
            name,
            State(state),
            kec,
            kel,
            serial,
            manifest,
            updated,
            photo,
            signature,
        )

    def where_is(self, nik: Any) -> Record:
        """Where a citizen's card is: state, region, the serial of its valid card, manifest."""
        value = int(parse_niks([nik]).values[0])
        row = _first(self._query(f"{self._RECORD_QUERY} WHERE r.nik = ?", (value,)))
        if row is None:
            raise UnknownRecordError(f"no record with NIK {mask_nik(nik)} in the ledger")
        return self._record(row)

    def batch(self, batch: str) -> list[Record]:
        """The records that were ever part of a print batch, in NIK order."""
        rows = self._query(
            f"{self._RECORD_QUERY} WHERE r.id IN (SELECT record_id FROM history WHERE batch = ?)"
            " ORDER BY r.nik",
            (batch,),
        )
        return [self._record(r) for r in rows]

    def events(self, start: _dt.datetime, end: _dt.datetime) -> list[tuple[Nik, HistoryEntry]]:
        """What happened between ``start`` and ``end`` (aware datetimes; see
        :func:`~ektpcore.shift_window` for a shift), in order."""
        lo, hi = (t.astimezone(_dt.UTC).isoformat(timespec="microseconds") for t in (start, end))
        rows = self._query(
            "SELECT r.nik, h.seq, h.at, h.actor, h.role, h.from_state, h.to_state, h.reason,"
            " h.batch, h.printer, h.blank FROM history h JOIN records r ON r.id = h.record_id"
            " WHERE h.at >= ? AND h.at < ? ORDER BY h.seq",
            (lo, hi),
        )
        return [
            (
                Nik.from_int(nik),
                HistoryEntry(
                    seq,
                    at,
                    who,
                    role,
                    State(src) if src else None,
                    State(dst),
                    reason,
                    batch,
                    printer,
                    blank,
                ),
            )
            for nik, seq, at, who, role, src, dst, reason, batch, printer, blank in rows
        ]

    def issued_index(self) -> NikIndex:
        """The NIKs that have a card or a card in progress (queued and beyond, not cancelled),
        as a :class:`~ektpcore.NikIndex`: derived from the ledger, so it is always consistent
        with it. Save it for stations that check new intakes offline."""
        from .index import NikIndex

        before = (
            State.BIO_CAPTURED,
            State.SENT_FOR_ENROLMENT,
            State.ENROLMENT_FAILED,
            State.DUPLICATE_RECORD,
            State.ADJUDICATE_RECORD,
            State.PRINT_READY,
            State.ON_HOLD,
            State.CANCELLED,
        )
        marks = ",".join("?" * len(before))
        rows = self._query(
            f"SELECT nik FROM records WHERE state NOT IN ({marks})", [s.value for s in before]
        )
        return NikIndex(np.array([r[0] for r in rows], dtype=np.int64))

    def counts_by(self, *columns: str, frame: str | None = None) -> Any:
        """Record counts grouped by any of ``state``, ``kecamatan``, ``kelurahan``: a dict
        keyed by tuples, or a ``"pandas"`` / ``"polars"`` frame with a ``count`` column."""
        allowed = ("state", "kecamatan", "kelurahan")
        if not columns or any(c not in allowed for c in columns):
            raise InvalidArgumentError(f"group by one or more of {allowed}")
        cols = ", ".join(columns)
        rows = self._query(f"SELECT {cols}, count(*) FROM records GROUP BY {cols} ORDER BY {cols}")
        if frame is None:
            return {tuple(r[:-1]): r[-1] for r in rows}
        data = {c: [r[i] for r in rows] for i, c in enumerate(columns)} | {
            "count": [r[-1] for r in rows]
        }
        if frame == "pandas":
            import pandas as pd

            return pd.DataFrame(data)
        if frame == "polars":
            import polars as pl

            return pl.DataFrame(data)
        raise InvalidArgumentError("frame is 'pandas', 'polars' or None")

    def history(self, nik: Any) -> list[HistoryEntry]:
        value = int(parse_niks([nik]).values[0])
        rows = self._query(
            "SELECT h.seq, h.at, h.actor, h.role, h.from_state, h.to_state, h.reason, h.batch,"
            " h.printer, h.blank FROM history h JOIN records r ON r.id = h.record_id"
            " WHERE r.nik = ? ORDER BY h.seq",
            (value,),
        )
        if not rows:
            raise UnknownRecordError(f"no record with NIK {mask_nik(nik)} in the ledger")
        return [
            HistoryEntry(
                seq,
                at,
                who,
                role,
                State(src) if src else None,
                State(dst),
                reason,
                batch,
                printer,
                blank,
            )
            for seq, at, who, role, src, dst, reason, batch, printer, blank in rows
        ]

    def chip_log(self, nik: Any) -> list[ChipLogEntry]:
        """Every chip personalisation attempted for ``nik``'s cards, oldest first."""
        value = int(parse_niks([nik]).values[0])
        rows = self._query(
            "SELECT c.seq, c.at, c.serial, c.printer, c.chip_serial, c.outcome, c.reason"
            " FROM chip_log c JOIN records r ON r.id = c.record_id WHERE r.nik = ?"
            " ORDER BY c.seq",
            (value,),
        )
        return [ChipLogEntry(*row) for row in rows]

    def _log_chip(
        self,
        db: sqlite3.Connection,
        now: str,
        nik: int,
        serial: int,
        printer: str,
        chip_serial: str | None,
        written: bool,
        reason: str | None,
    ) -> None:
        """Appends a chip attempt and, when the chip was written, marks the card with its
        chip serial (the card row exists once the record is ``PRINTED``)."""
        db.execute(
            "INSERT INTO chip_log (at, record_id, serial, printer, chip_serial, outcome, reason)"
            " SELECT ?, id, ?, ?, ?, ?, ? FROM records WHERE nik = ?",
            (now, serial, printer, chip_serial, "written" if written else "failed", reason, nik),
        )
        if written:
            db.execute(
                "UPDATE cards SET chip_serial = ? WHERE serial = ? AND valid = 1",
                (chip_serial, serial),
            )

    def counts(self) -> dict[State, int]:
        """How many records are in each state (states with none left out)."""
        return {
            State(s): n
            for s, n in self._query("SELECT state, count(*) FROM records GROUP BY state")
        }

    def verify(self) -> VerifyReport:
        """Recomputes the hash chains of the record history and of the blank-card history;
        names the first row edited, inserted or deleted."""
        rows = 0
        for chain in (RECORD_CHAIN, BLANK_CHAIN):
            report = self._verify_chain(chain)
            if not report.ok:
                return report
            rows += report.rows
        return VerifyReport(True, rows)

    def _verify_chain(self, chain: _Chain) -> VerifyReport:
        # The payload is assembled by SQLite itself (the same text _payload() builds), so only
        # three values per row cross into Python before the chain is checked in Rust.
        parts = ["CAST(seq AS TEXT)", *(f"coalesce({c}, '')" for c in chain.columns)]
        joined = " || char(31) || ".join(parts)
        rows = self._query(f"SELECT seq, {joined}, hash FROM {chain.table} ORDER BY seq")
        head_seq, head_hash = self._query(f"SELECT seq, hash FROM {chain.head} WHERE id = 1")[0]
        for i, row in enumerate(rows):
            if row[0] != i + 1:
                return VerifyReport(False, len(rows), row[0], f"{chain.label} {i + 1} is missing")
        broken = _ektpcore.history_first_break(
            _GENESIS, [r[1].encode() for r in rows], [bytes(r[2]) for r in rows]
        )
        if broken is not None:
            seq = rows[broken][0]
            return VerifyReport(False, len(rows), seq, f"{chain.label} {seq} was altered")
        if head_seq > len(rows):
            return VerifyReport(
                False, len(rows), len(rows) + 1, f"the last {chain.label}s were removed"
            )
        if head_seq < len(rows) or (rows and bytes(rows[-1][2]) != bytes(head_hash)):
            return VerifyReport(
                False, len(rows), head_seq + 1, f"{chain.label}s were added outside the ledger"
            )
        return VerifyReport(True, len(rows))
