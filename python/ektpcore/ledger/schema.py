"""The ledger's schema: every version, and the migration from each to the next.

A ledger file records its schema version (SQLite's ``user_version``); opening it applies the
missing migrations in one transaction, so a crash mid-upgrade leaves the ledger as it was.
Migrations are frozen: a released one is never edited, a change is a new one. They are written
in SQLite's dialect; another store brings its own translation of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import LedgerBusyError, LedgerConnectionError, LedgerError, LedgerFileError
from . import anchor, users
from .store import LedgerStore, Session

__all__ = [
    "MIGRATIONS",
    "READ_INDEXES",
    "SCHEMA_VERSION",
    "drop_read_indexes",
    "migrate",
]

SCHEMA_VERSION = 18

# Each entry migrates from the version before it; the list index + 1 is the version reached.
# They are written in SQLite's dialect; another store brings its own translation of them.
MIGRATIONS: list[str] = [
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
    # 8: batch claims (one per batch: the station holding it, the claim's generation, which
    # fences every write, and its lease), the batch each queued record waits in, and lots
    # received in parts (a lot of a million blanks is written in chunks, not in one lock).
    """
    CREATE TABLE batch_claims (
        batch TEXT PRIMARY KEY,
        station TEXT NOT NULL,
        generation INTEGER NOT NULL CHECK (generation > 0),
        claimed_at TEXT NOT NULL,
        claimed_by TEXT NOT NULL,
        lease_until TEXT NOT NULL,
        released_at TEXT,
        released_by TEXT,
        release_reason TEXT
    );
    ALTER TABLE records ADD COLUMN batch TEXT;
    UPDATE records SET batch = (SELECT h.batch FROM history h WHERE h.record_id = records.id
        AND h.to_state = 'QUEUED' ORDER BY h.seq DESC LIMIT 1) WHERE state = 'QUEUED';
    CREATE INDEX records_batch ON records (batch);
    ALTER TABLE blank_lots ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;
    """,
    # 9: users (persons with an Argon2id password hash, stations with the SHA-256 of their
    # token), the sessions they signed in to, two-person approvals, and the audit: a chained,
    # append-only history of users, roles, approvals and of this migration itself.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('person', 'station')),
        secret TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        disabled_at TEXT,
        disabled_by TEXT
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id),
        role TEXT NOT NULL,
        signed_in_at TEXT NOT NULL
    );
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        reason TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_role TEXT NOT NULL,
        decided_at TEXT,
        decided_by TEXT,
        decided_role TEXT,
        outcome TEXT CHECK (outcome IN ('approved', 'refused')),
        note TEXT
    );
    CREATE UNIQUE INDEX approvals_one_open ON approvals (record_id) WHERE decided_at IS NULL;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        event TEXT NOT NULL,
        subject TEXT,
        detail TEXT,
        hash BLOB NOT NULL
    );
    CREATE TABLE audit_chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL
    );
    INSERT INTO audit_chain_head VALUES (1, 0, zeroblob(32));
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
    """,
    # 10: sealed ledgers. What a ledger says of itself (whether it is sealed, by which keys'
    # fingerprint), and each record's personal fields sealed together (see ledger.sealing).
    """
    CREATE TABLE ledger_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ALTER TABLE records ADD COLUMN sealed BLOB;
    """,
    # 11: the rest of what the card shows (place and date of birth, address, religion, ...),
    # as JSON in an open ledger; a sealed ledger keeps them in the record's sealed value.
    """
    ALTER TABLE records ADD COLUMN card TEXT;
    """,
    # 12: the kelurahan leg of distribution. Which leg a manifest is (from the bureau to a
    # kecamatan, or from a kecamatan to one of its kelurahan), and the kelurahan it goes to.
    """
    ALTER TABLE manifests ADD COLUMN leg TEXT NOT NULL DEFAULT 'KECAMATAN'
        CHECK (leg IN ('KECAMATAN', 'KELURAHAN'));
    ALTER TABLE manifests ADD COLUMN kelurahan TEXT;
    """,
    # 13: chain epochs. From its first sequence number on, an epoch of a history chain uses one
    # payload format and one way to link (SHA-256, or HMAC under the keys `fingerprint` names).
    # Its `link` chains the epoch itself to the row before it, so an epoch cannot be moved,
    # dropped or swapped for an unkeyed one without breaking the chain; the epochs that began
    # when the ledger was sealed say where every chain was keyed from (`sealed_from`). Rows
    # written before this migration keep their format (no epoch row: the first format from
    # sequence 1).
    """
    CREATE TABLE chain_epochs (
        chain TEXT NOT NULL,
        first_seq INTEGER NOT NULL CHECK (first_seq > 0),
        format INTEGER NOT NULL,
        fingerprint TEXT,
        link BLOB NOT NULL,
        sealed_from TEXT,
        PRIMARY KEY (chain, first_seq)
    );
    CREATE TRIGGER chain_epochs_no_update BEFORE UPDATE ON chain_epochs
        BEGIN SELECT RAISE(ABORT, 'the chain epochs are append-only'); END;
    CREATE TRIGGER chain_epochs_no_delete BEFORE DELETE ON chain_epochs
        BEGIN SELECT RAISE(ABORT, 'the chain epochs are append-only'); END;
    """,
    # 14: indexes for the reads a page makes on a large ledger: the changes in a window of
    # time (a shift's figures: covering, so counted from the index alone), the changes of a
    # batch (its summary, its queued cards; only rows that name a batch), a record's showings
    # in the audit, and the manifests in one state (those still on their way).
    """
    CREATE INDEX history_at ON history (at, to_state, printer);
    CREATE INDEX history_batch ON history (batch, to_state, printer) WHERE batch IS NOT NULL;
    CREATE INDEX audit_subject ON audit (subject, event);
    CREATE INDEX manifests_state ON manifests (state);
    """,
    # 15: the references that bulk writes make by the tens of thousands (an intake's history
    # rows, a lot's blanks, a bulk printing's cards) are checked once per statement where a
    # store checks them row by row with a row lock each (PostgreSQL, where that check was
    # most of an intake's time). SQLite checks them row by row, cheaply, and runs this as a
    # plain SELECT; the rows they name are never deleted by the ledger.
    """
    SELECT 'references checked per statement',
        'history.record_id -> records.id', 'blank_history.serial -> blanks.serial',
        'cards.record_id -> records.id', 'cards.serial -> blanks.serial',
        'blanks.lot_id -> blank_lots.id'
    """,
    # 16: the ledger's identity, which its anchor's checkpoints carry (one anchor per ledger):
    # written by the follow-up as a row of the audit chain (anchor.identify); its reads find
    # it by the event.
    """
    CREATE INDEX audit_event ON audit (event);
    """,
    # 17: each user's row carries a tag over all its columns (an HMAC under a sealed ledger's
    # key, SHA-256 in an open one), so that a row written or changed outside the ledger signs
    # nobody in; each session keeps the tag of the row it signed in with. Existing users are
    # tagged when the ledger is next opened (with its keys, when sealed), where the audit
    # explains their rows (``ledger.users.tag_untagged``).
    """
    ALTER TABLE users ADD COLUMN tag TEXT;
    ALTER TABLE sessions ADD COLUMN user_tag TEXT;
    """,
    # 18: a sealed ledger's keys are bound to it (derived from the key file and the ledger's
    # identity; sealed values in format 2), which an older ektpcore cannot open: it refuses
    # the ledger by this version. A ledger sealed before is bound in its data keys when it
    # next opens with its keys, in an audit row (``ledger_meta`` 'keys bound' says how).
    """
    SELECT 'sealed values bound to their ledger'
    """,
]

# What a migration also writes that SQL alone cannot (a chained row's hash), by the version it
# reaches; each is called in the migration's transaction, once every migration has run (a
# chained row is written in the format of the latest schema), with the version migrated from.
FOLLOW_UPS: dict[int, Callable[[Session, int], None]] = {
    9: users.introduced,
    16: anchor.identify,
}


def migrate(store: LedgerStore) -> None:
    """Brings the store's tables to :data:`SCHEMA_VERSION` in one transaction (two processes
    opening a new ledger at once migrate it once); refuses a newer schema. A ledger already
    current is only read: opening it does not wait for the write lock. A ledger whose tables
    do not match the version it says it is at is damaged (:class:`~ektpcore.LedgerFileError`)."""
    if store.current_version() == SCHEMA_VERSION:
        return
    version = 0
    try:
        with store.transaction() as db:
            version = store.schema_version(db)
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"{store.name}: schema version {version} is newer than this ektpcore "
                    f"({SCHEMA_VERSION})"
                )
            if version < 0:
                raise LedgerFileError(f"{store.name}: schema version {version}: damaged")
            for number in range(version, SCHEMA_VERSION):
                run_script(db, store.migration(MIGRATIONS[number]))
                store.set_schema_version(db, number + 1)
            # Follow-ups write chained rows, which need the whole schema (chain epochs).
            for number in range(version, SCHEMA_VERSION):
                follow_up = FOLLOW_UPS.get(number + 1)
                if follow_up is not None:
                    follow_up(Session(store, db), version)
    except (LedgerBusyError, LedgerConnectionError, LedgerFileError):
        raise
    except LedgerError as err:
        if not 0 < version < SCHEMA_VERSION:
            raise
        raise LedgerFileError(
            f"{store.name}: the tables do not match schema version {version}; the ledger is"
            f" damaged ({err})"
        ) from None


# The history's indexes that serve reads only (a record's history, a shift's figures, a
# batch's summary) and hold no rule: no write checks anything against them.
READ_INDEXES = ("history_record", "history_at", "history_batch")


def drop_read_indexes(store: LedgerStore) -> None:
    """Drops :data:`READ_INDEXES`: for a ledger written in one run and gone after it (a
    simulated campaign's, in memory), whose only reads (counts, the blank reconciliation,
    verify) use none of them. Kept up row by row, they cost each history row about three times
    what the row itself costs. Nothing the ledger records, and no rule it keeps, depends on
    them."""
    with store.transaction() as db:
        for name in READ_INDEXES:
            db.execute(f"DROP INDEX IF EXISTS {name}")


def schema_version(store: LedgerStore) -> int:
    return store.current_version()


def run_script(db: Any, statements: list[str]) -> None:
    """Runs a migration's statements, as the store translated them, one by one."""
    for statement in statements:
        db.execute(statement)
