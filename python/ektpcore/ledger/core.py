"""The :class:`Ledger`: every record's state and an append-only, hash-chained history of every
change.

SQLite by default (one file, WAL, ``synchronous=FULL``, foreign keys on), created on first use
and migrated to the current schema. Every write takes an :class:`~ektpcore.Actor`, is checked
against :data:`~ektpcore.TRANSITIONS`, and happens in one :class:`~ektpcore.ledger.Transaction`:
a bulk change is applied whole or not at all, and a crash leaves the ledger as it was before the
change or after it.
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, Unpack

import numpy.typing as npt

from ..clock import utc_stamp
from ..errors import InvalidArgumentError, LedgerError, LedgerKeyError, ReplacedRowsKeptWarning
from ..keys import KeyFile, LedgerKeys
from ..lifecycle import Actor, State
from ..nik import Nik
from . import anchor as anchors
from . import batches, chain, records, schema, sealing, users
from .anchor import Anchor, Anchoring, Checkpoint, heads
from .approvals import Approvals
from .batches import BatchSummary
from .blanks import BlankStock
from .claims import Claims
from .distribution import Distribution
from .journal import ChipLogEntry, Journal
from .postgres import ConnectionUrl
from .records import Change, HistoryEntry, Intake, IntakeReport, Record, Reveal
from .ribbons import Ribbons
from .sealing import Vault
from .store import LedgerStore, Session, is_database_url, open_store
from .tallies import Tally
from .transaction import Transaction, check_actor
from .users import AuditEntry, Users
from .verify import verify, verify_chain

if TYPE_CHECKING:
    from ..index import NikIndex

__all__ = ["DEFAULT_ANCHOR_PERIOD", "Ledger"]

DEFAULT_ANCHOR_PERIOD = 1.0
"""Seconds between two checkpoints at most (see ``docs/ledger.md#the-anchor``): a checkpoint
after every transaction costs a second flush to disk per commit."""


class Ledger:
    """The bureau's record of records, states and history, in one SQLite file.

    ``Ledger(path)`` opens or creates it; ``Ledger(":memory:")`` is a throwaway one;
    ``Ledger("postgresql://...")`` keeps it in a PostgreSQL database; a
    :class:`~ektpcore.ledger.LedgerStore` puts it in another database.

    ``keys`` seal a new ledger; a key file that already serves another ledger is refused
    unless ``shared_keys`` says it may serve this one too (each ledger's working keys are
    derived from the file and the ledger's identity either way).

    ``anchor`` (a :class:`~ektpcore.ledger.FileAnchor`, or any callable taking a
    :class:`~ektpcore.ledger.Checkpoint`) receives a checkpoint of the chains' heads after a
    committed transaction that moved them, at most every ``anchor_period`` seconds (0: after
    every one), and when the ledger is closed; ``verify(anchor=...)`` holds the chains to them.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | LedgerStore,
        *,
        create: bool = True,
        busy_timeout: float = 30.0,
        keys: LedgerKeys | None = None,
        anchor: Anchor | None = None,
        anchor_period: float = DEFAULT_ANCHOR_PERIOD,
        shared_keys: bool = False,
    ) -> None:
        self._store: LedgerStore = (
            path
            if not isinstance(path, (str, os.PathLike))
            else open_store(path, create=create, busy_timeout=busy_timeout)
        )
        self.path = self._store.name
        # Where reopen() connects; a database URL (which may hold a password) in a holder
        # that shows it masked and cannot be copied or pickled.
        self._location: str | os.PathLike[str] | LedgerStore | ConnectionUrl = (
            ConnectionUrl(path) if is_database_url(path) else path  # type: ignore[arg-type]
        )
        self._busy_timeout = busy_timeout
        self._keys = keys
        try:
            schema.migrate(self._store)
            self._vault = self._open_keys(keys, shared_keys)
            users.tag_untagged(self._store, self._vault)
        except BaseException:
            if self._store is not path:  # opened here: not left open behind a refusal
                self._store.close()
            raise
        self._reads = Session(self._store, vault=self._vault)
        # Counts by state, kept from one read to the next (see ledger.tallies).
        self._tallies = {
            "records": Tally("records", "history"),
            "blanks": Tally("blanks", "blank_history"),
        }
        self.identity: str | None = anchors.identity(self._reads)
        """The ledger's identity (32 hex digits, made once with it), which every checkpoint
        of its anchor carries."""
        try:
            self._anchoring = (
                None
                if anchor is None
                else Anchoring(anchor, anchor_period, self._mac, self.identity)
            )
        except BaseException:
            if self._store is not path:
                self._store.close()
            raise

    @property
    def _mac(self) -> chain.ChainMac | None:
        """How this ledger's history is chained: its key ring when sealed, else SHA-256."""
        return None if self._vault is None else self._vault.ring

    def _open_keys(self, keys: LedgerKeys | None, shared: bool) -> Vault | None:
        """The vault of a sealed ledger (its keys checked against the fingerprint it keeps,
        bound to the ledger), ``None`` for an open one. A new, empty ledger given keys is
        sealed by them (``keys.serve`` first: a key file serving another ledger is refused
        unless ``shared``). A ledger sealed before keys were bound to ledgers is bound in its
        data keys the first time it opens, and the audit says so."""
        reads = Session(self._store)
        sealed = sealing.fingerprint(reads)
        if keys is None:
            if sealed is not None:
                raise LedgerKeyError(
                    f"{self.path}: the ledger is sealed; open it with its keys"
                    " (keys=KeyFile(...) or --keys FILE)"
                )
            return None
        ring = keys.key_ring()
        identity = anchors.identity(reads)
        if sealed is None:
            if identity is not None:
                keys.serve(identity, shared=shared)
            with self._store.transaction() as conn:
                sealing.seal_new(Session(self._store, conn), ring, self.path)
            sealed = sealing.fingerprint(reads)
        if sealed != ring.fingerprint:
            raise LedgerKeyError(
                f"{self.path}: these are another ledger's keys (fingerprint {ring.fingerprint};"
                f" the ledger was sealed by {sealed})"
            )
        vault = Vault(keys, sealing.binding(reads, identity, self.path))
        if sealing.needs_marking(reads):
            with self._store.transaction() as conn:
                db = Session(self._store, conn, vault)
                if sealing.needs_marking(db):
                    sealing.mark_bound(db, False)
                    users.audit(
                        db,
                        utc_stamp(),
                        users.SYSTEM,
                        "keys bound",
                        None,
                        "values sealed from now on are bound to this ledger (format 2);"
                        " rotate_keys() re-seals the older ones",
                    )
        if chain.never_keyed(reads):  # sealed before chains were keyed, or just now
            with self._store.transaction() as conn:
                chain.key_chains(Session(self._store, conn, vault))
        return vault

    def seal(
        self, keys: LedgerKeys, actor: Actor | None = None, *, shared_keys: bool = False
    ) -> int:
        """Seals an open ledger with ``keys`` (a :class:`~ektpcore.keys.KeyFile`), in one
        transaction: every record's NIK becomes its blind index and its personal fields are
        sealed; hand-overs' identity checks and receivers too. Returns the records sealed.
        From then on the ledger opens only with these keys. The history written before keeps
        its reasons in clear (it is append-only evidence); reasons written after are sealed.

        On a ledger with users, ``actor`` is an administrator it signed in: whoever seals
        decides who can open the ledger at all, so anyone else (or no one signed in) is
        refused before anything changes. The audit records the sealing, who did it and the
        keys' fingerprint. Everyone signs in again afterwards.

        A key file that already serves another ledger is refused unless ``shared_keys``
        (the ledger's working keys are derived from the file and its identity either way)."""
        if self._vault is not None:
            raise LedgerKeyError(f"{self.path}: the ledger is sealed already")
        if self.identity is None:
            raise LedgerKeyError(
                f"{self.path}: the ledger's audit holds no readable identity to bind its keys"
                " to; verify() names what is wrong"
            )
        binding = (bytes.fromhex(self.identity), True)
        with self._store.transaction() as conn:
            if sealing.fingerprint(Session(self._store, conn)) is not None:
                raise LedgerKeyError(f"{self.path}: the ledger is sealed already")
            now = utc_stamp()
            who = users.key_keeper(Session(self._store, conn), actor, "seal the ledger", now)
            ring = keys.key_ring()
            keys.serve(self.identity, shared=shared_keys)
            bound = ring.bind(*binding)
            count = sealing.seal_existing(Session(self._store, conn), ring, bound)
            keyed = Session(self._store, conn, Vault(bound))
            chain.key_chains(keyed)
            users.retag_sealed(keyed)
            users.audit(
                keyed, now, who, "ledger sealed", None, f"{count} records; keys {ring.fingerprint}"
            )
        self._keys = keys
        self._vault = Vault(keys, binding)
        self._reads = Session(self._store, vault=self._vault)
        if self._anchoring is not None:
            self._anchoring.ring = self._vault.ring
        # The clear values the sealing replaced, gone from the database's files too.
        self.purge(wait=self._busy_timeout)
        return count

    def purge(self, *, wait: float = 0.0) -> list[str]:
        """Removes from the database's files the row versions that sealing replaced (clear
        personal data), where the database keeps them (PostgreSQL: ``VACUUM FULL`` of the
        sealed tables; SQLite: its write-ahead log, copied into the file and truncated).
        :meth:`seal` does it; run it again when it warned
        (:class:`~ektpcore.ReplacedRowsKeptWarning`). A PostgreSQL server keeps a replaced
        version while any transaction older than the change runs on it, in any database
        (``docs/security.md``): this waits up to ``wait`` seconds for them, and warns naming
        the ones still running. Returns them, one line each (empty: nothing replaced is left
        in the files)."""
        holders = self._store.rewrite(sealing.SEALED_TABLES, wait)
        if holders:
            warnings.warn(
                ReplacedRowsKeptWarning(
                    f"{self.path}: the database still keeps replaced clear row versions in"
                    f" its files, held by {len(holders)} older reader(s) or transaction(s):"
                    f" {'; '.join(holders)}; when they have ended, run Ledger.purge()"
                    " (ektpcore ledger purge)"
                ),
                stacklevel=2,
            )
        return holders

    @property
    def sealed(self) -> bool:
        """Whether the ledger keeps personal data sealed (opened with its keys)."""
        return self._vault is not None

    def reopen(self) -> Ledger | None:
        """A second connection to the same ledger, for another thread (a station's heartbeat);
        ``None`` when there is none to make (a throwaway in-memory ledger)."""
        location = self._location
        if isinstance(location, ConnectionUrl):
            location = location.reveal()
        if not isinstance(location, (str, os.PathLike)) or self.path == ":memory:":
            return None
        return Ledger(location, create=False, busy_timeout=self._busy_timeout, keys=self._keys)

    def close(self) -> None:
        """Closes the ledger, after a last checkpoint of anything not yet anchored."""
        self._close(anchor=True)

    def _close(self, *, anchor: bool) -> None:
        try:
            if anchor and self._anchoring is not None:
                self._anchoring.write(heads(self._reads, chain.CHAINS), self._link_at)
        finally:
            self._store.close()

    def backup(self, path: str | os.PathLike[str]) -> None:
        """Copies a SQLite ledger into a new file (mode 0600), one consistent snapshot even
        while stations write; a sealed ledger's copy stays sealed. A PostgreSQL ledger is
        backed up with the server's own tools (``pg_dump``)."""
        backup = getattr(self._store, "backup", None)
        if backup is None:
            raise LedgerError(
                f"{self.path}: a ledger on a database server is backed up with its own tools"
                " (pg_dump)"
            )
        backup(path)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        # Leaving on an error, the error is what the caller sees: no checkpoint is attempted
        # (the last one written stands; the next ledger opened writes the next).
        self._close(anchor=kind is None)

    def __repr__(self) -> str:
        return f"Ledger({self.path!r})"

    def _refuse(self, *args: object) -> NoReturn:
        raise TypeError(
            "a Ledger cannot be copied or pickled: it holds a connection, and its keys or"
            " database password; open the ledger again where it is needed (reopen())"
        )

    __reduce__ = __reduce_ex__ = __getstate__ = __copy__ = __deepcopy__ = _refuse

    @property
    def schema_version(self) -> int:
        return schema.schema_version(self._store)

    # -- changes ----------------------------------------------------------------------------

    @contextmanager
    def transaction(self, actor: Actor) -> Iterator[Transaction]:
        """One change by ``actor``: everything done through the yielded
        :class:`~ektpcore.ledger.Transaction` is committed when the block ends, or nothing of
        it if the block raises.

        ::

            with ledger.transaction(operator) as tx:
                tx.transition(niks, State.QUEUED, batch="B-001", printer="P1")
                tx.blanks.allocate("B-001", len(niks))
        """
        with self._transaction(actor) as tx:
            yield tx

    @contextmanager
    def _transaction(self, actor: Actor, *, beside: bool = False) -> Iterator[Transaction]:
        """:meth:`transaction`; ``beside``: run beside other stations' transactions where
        the store can (see :meth:`~ektpcore.ledger.Claims.under`)."""
        check_actor(actor)
        anchoring = self._anchoring
        current = None
        # Side by side only where the store can run writers so (PostgreSQL); elsewhere the
        # transaction is exclusive, and the rules of a station's transaction hold all the same.
        shared = beside and hasattr(self._store, "shared_transaction")
        opened = self._store.shared_transaction() if shared else self._store.transaction()  # type: ignore[attr-defined]
        with opened as conn:
            db = Session(self._store, conn, self._vault, shared=shared)
            station = users.authenticate(db, actor)  # before anything is written
            tx = Transaction(db, actor, utc_stamp(), beside=beside, station=station)
            try:
                yield tx
            finally:
                tx.close()
            if anchoring is not None and anchoring.due():
                current = heads(db, chain.CHAINS)  # what this commit leaves
        if current is not None and anchoring is not None:
            anchoring.write(current, self._link_at)

    def _link_at(self, table: str, seq: int) -> set[bytes]:
        """The links chain ``table`` (named by an anchor: checked against the chains) had
        at row ``seq``: the row's own, and that of an epoch started right after it (a head
        moves to it with no row); none when the ledger has no such row."""
        if table not in {c.table for c in chain.CHAINS}:
            return set()
        rows = self._reads.all(
            f"SELECT hash FROM {table} WHERE seq = ? UNION ALL"
            " SELECT link FROM chain_epochs WHERE chain = ? AND first_seq = ? AND link IS NOT NULL",
            (seq, table, seq + 1),
        )
        return {bytes(r[0]) for r in rows}

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A write transaction that names no actor, for the ledger package's own steps that
        come before one exists (creating the first administrator, signing in)."""
        with self._store.transaction() as conn:
            yield Session(self._store, conn, self._vault)

    # -- who acts -----------------------------------------------------------------------------

    @property
    def users(self) -> Users:
        """The ledger's users (see :mod:`ektpcore.ledger.users`)."""
        return Users(self, self._reads)

    def sign_in(self, name: str, password: str) -> Actor:
        """Signs a person in: the :class:`~ektpcore.Actor` returned (name and role as the
        ledger holds them) is taken by any connection to this ledger, in any process, until
        the user is disabled or given another role, or its row changes. An unknown name and a
        wrong password are refused alike (:class:`~ektpcore.AuthenticationError`), and so is
        a user whose row does not match its tag or the audit (written or changed outside the
        ledger). Every sign-in and every refusal is an audit row."""
        return users.sign_in(self, self._reads, name, password)

    def sign_in_station(self, token: str) -> Actor:
        """Signs an unattended station in with the token an administrator made for it
        (``users.add_station``)."""
        return users.sign_in_station(self, self._reads, token)

    def sign_out(self, actor: Actor) -> None:
        """Ends ``actor``'s session: its credential is refused from now on."""
        users.sign_out(self, actor)

    @property
    def approvals(self) -> Approvals:
        """Two-person changes: a reprint, cancelling a printed card (see
        :mod:`ektpcore.ledger.approvals`)."""
        return Approvals(self, self._reads)

    def audit(self) -> list[AuditEntry]:
        """The audit, oldest first: users created, roles granted and revoked, users
        disabled or tagged, sign-ins and refused sign-ins, two-person requests and their
        outcomes, and the migration that introduced users. Chained like the histories
        (:meth:`verify`)."""
        return users.entries(self._reads)

    # -- changes, continued -------------------------------------------------------------------

    def add_records(self, niks: Any, actor: Actor, **intake: Unpack[Intake]) -> IntakeReport:
        """Takes records in (the columns are those of :class:`~ektpcore.ledger.Intake`, each
        one value per NIK). Invalid NIKs, NIKs repeated in the intake and NIKs already in the
        ledger are refused (reported per row) and never enter; the rest enter in ``state``
        (``BIO_CAPTURED``, ``SENT_FOR_ENROLMENT`` or ``PRINT_READY`` for records SIAK already
        confirmed), all in one transaction. ``photos`` and ``signatures`` are references (paths
        or URIs) the print station resolves; the ledger keeps only what routes and prints.
        ``priority`` is the class the planner serves the record by (:class:`~ektpcore.Priority`:
        0 first-time, 1 data change, 2 replacement), one for all or one per NIK."""
        with self.transaction(actor) as tx:
            return tx.add_records(niks, **intake)

    def transition(self, niks: Any, target: State, actor: Actor, **change: Unpack[Change]) -> int:
        """Moves every given record to ``target``, or none of them; ``change`` may name the
        ``reason``, ``batch``, ``printer`` and ``blanks`` (:class:`~ektpcore.ledger.Change`).

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
        values = records.valid_niks(niks, "transition")
        state = sealing.member(State, target, "the state to move to")
        with self.transaction(actor) as tx:
            return records.transition(tx, values, state, **change)

    def queue(self, niks: Any, batch: str, printer: str, actor: Actor) -> list[int]:
        """Queues a planned batch: its records go ``PRINT_READY`` → ``QUEUED`` under ``batch``
        and ``printer``, and one blank per record is ``ALLOCATED`` to the batch (lowest
        serials first), in one transaction: all of it or, on any refusal, none. Returns the
        allocated serials, in the batch's print order."""
        values = records.valid_niks(niks, "queue")
        with self.transaction(actor) as tx:
            return tx.queue(values, batch, printer)

    @property
    def blanks(self) -> BlankStock:
        """The blank-card stock kept in this ledger."""
        return BlankStock(self, self._reads)

    @property
    def ribbons(self) -> Ribbons:
        """The printers' ribbons."""
        return Ribbons(self, self._reads)

    @property
    def distribution(self) -> Distribution:
        """Manifests to kecamatan and kelurahan, and hand-overs to citizens."""
        return Distribution(self, self._reads)

    @property
    def claims(self) -> Claims:
        """Which station holds which batch, and for how long (see
        :mod:`ektpcore.ledger.claims`)."""
        return Claims(self, self._reads)

    def settle(
        self, nik: Any, supervisor: Actor, *, printed: bool, note: str, serial: int | None = None
    ) -> None:
        """Settles an ``IN_DOUBT`` card, whatever left it so: ``printed`` (found in the output
        tray: ``PRINTED``, its blank ``USED``; ``serial`` names the blank when the journal
        does not) or not (its blank ``SPOILED``, the record back to ``PRINT_READY``). A
        supervisor's decision, with a note of what was found."""
        with self.transaction(supervisor) as tx:
            tx.settle(nik, printed=printed, note=note, serial=serial)

    @property
    def journal(self) -> Journal:
        """The print stations' journal: cards sent, cards in doubt, blanks free to print on."""
        return Journal(self._reads)

    # -- reads ------------------------------------------------------------------------------

    def state_of(self, nik: Any) -> State:
        return records.state_of(self._reads, nik)

    def where_is(self, nik: Any) -> Record:
        """Where a citizen's card is: state, region, the serial of its valid card, manifest."""
        return records.where_is(self._reads, nik)

    def batch(self, batch: str, *, current: bool = False) -> list[Record]:
        """The records that were ever part of a print batch, in NIK order; with ``current``,
        only those whose last batch it is (not those spoiled and queued again elsewhere)."""
        return records.in_batch(self._reads, batch, current=current)

    def batches(
        self, name: str | None = None, *, holding: Iterable[State] = ()
    ) -> list[BatchSummary]:
        """Every print batch (or the one named), oldest first: the printer it was queued
        for, its records by state, its blanks by state. With ``holding``, only the batches
        with records now in one of those states (``holding=[State.QUEUED]``: the batches
        still waiting), found without reading every batch's history."""
        states = tuple(sealing.member(State, s, "a state") for s in holding)
        return batches.summaries(self._reads, name, states)

    def records(self, *states: State) -> list[Record]:
        """Every record, or those in ``states``, in intake order."""
        return records.listed(self._reads, states)

    def where_is_card(self, serial: int) -> Record:
        """The record a card was printed for, found by the serial of its blank (read off the
        card in hand)."""
        return records.on_blank(self._reads, serial)

    def queued(self, batch: str, printer: str) -> list[Record]:
        """The records of ``batch`` still ``QUEUED`` for ``printer``, in print order (by
        kecamatan, then kelurahan, so the cards leave the printer grouped)."""
        return records.queued(self._reads, batch, printer)

    def batch_printers(self, batch: str) -> dict[str, int]:
        """How many of ``batch``'s records wait ``QUEUED`` at each printer."""
        return records.batch_printers(self._reads, batch)

    def print_ready(self) -> dict[str, npt.NDArray[Any]]:
        """The ``PRINT_READY`` records as columns, in intake order: ``nik`` (int64),
        ``priority`` (int64), ``kecamatan`` and ``kelurahan`` (str, ``''`` when unknown); what
        :meth:`~ektpcore.Plan.from_ledger` plans."""
        return records.print_ready(self._reads)

    def events(self, start: _dt.datetime, end: _dt.datetime) -> list[tuple[Nik, HistoryEntry]]:
        """What happened between ``start`` and ``end`` (aware datetimes; see
        :func:`~ektpcore.shift_window` for a shift), in order."""
        return records.events(self._reads, start, end)

    def transition_counts(
        self, start: _dt.datetime, end: _dt.datetime
    ) -> dict[tuple[State, str | None], int]:
        """How many records entered each state between ``start`` and ``end`` (aware
        datetimes), by state and printer (``None`` for changes at no printer): a day's figures
        (cards printed per printer, cards put in doubt) counted by the database, without
        reading each change as :meth:`events` does."""
        return records.transition_counts(self._reads, start, end)

    def issued_index(self) -> NikIndex:
        """The NIKs that have a card or a card in progress (queued and beyond, not cancelled),
        as a :class:`~ektpcore.NikIndex`: derived from the ledger, so it is always consistent
        with it. Save it for stations that check new intakes offline."""
        from ..index import NikIndex

        return NikIndex(records.issued_niks(self._reads))

    def counts_by(self, *columns: str, frame: str | None = None) -> Any:
        """Record counts grouped by any of ``state``, ``kecamatan``, ``kelurahan``: a dict
        keyed by tuples, or a ``"pandas"`` / ``"polars"`` frame with a ``count`` column."""
        rows = records.counts_by(self._reads, columns)
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

    def reveal(self, nik: Any, actor: Actor, *, purpose: str) -> Record:
        """``nik``'s record for showing its personal data in full (the NIK, the name) to
        ``actor``, who gives the purpose (one of
        :data:`~ektpcore.ledger.records.REVEAL_PURPOSES`); the showing is written to the audit
        first (who, when, why, which record), so every full view of a citizen's data is
        accounted for (:meth:`reveals`). Lists and reports show NIKs masked; an application
        that shows one in full asks here."""
        with self.transaction(actor) as tx:
            return records.reveal(tx, nik, purpose)

    def reveals(self, nik: Any) -> list[Reveal]:
        """Every time ``nik``'s personal data was shown in full (:meth:`reveal`), oldest
        first."""
        return records.reveals(self._reads, nik)

    def history(self, nik: Any) -> list[HistoryEntry]:
        """Every change of ``nik``'s record, oldest first."""
        return records.history(self._reads, nik)

    def chip_log(self, nik: Any) -> list[ChipLogEntry]:
        """Every chip personalisation attempted for ``nik``'s cards, oldest first."""
        return self.journal.chip_log(nik)

    def counts(self) -> dict[State, int]:
        """How many records are in each state (states with none left out). The ledger counts
        them once, then adds the changes written since (see ``ledger.tallies``): on a large
        ledger a repeated read costs what changed, not what is there."""
        return {State(s): n for s, n in self._counted("records").items()}

    def _counted(self, table: str) -> dict[str, int]:
        """The rows of ``table`` (``records`` or ``blanks``) counted by state."""
        return self._tallies[table].read(self._store)

    def verify(self, anchor: Iterable[Checkpoint] | None = None) -> chain.VerifyReport:
        """Checks the whole ledger as one commit left it: every chain row by row and its head,
        the tables against the history (states, batches, blanks, cards, lots), and, given an
        ``anchor`` (a :class:`~ektpcore.ledger.FileAnchor` or checkpoints), that no
        checkpoint it holds was lost or rewritten. The report names the first row that does
        not fit and lists every finding (see ``docs/ledger.md#what-verify-checks``)."""
        with self._store.snapshot() as conn, self._store.beside(conn) as twin:
            beside = None if twin is None else Session(self._store, twin)
            return verify(Session(self._store, conn), mac=self._mac, anchor=anchor, beside=beside)

    def rotate_keys(
        self, actor: Actor | None = None, *, chunk: int = 2_000
    ) -> sealing.RotationReport:
        """Re-seals, under the keys' current data key, every value sealed with an older one
        that the ledger may rewrite (records' fields, hand-overs), ``chunk`` rows per
        transaction so stations keep working between them. Run it after
        :meth:`~ektpcore.keys.KeyFile.rotate` (from a thread of its own for a background
        rotation: :meth:`rotate_keys_in_background`). The append-only history keeps the
        reasons it was given under the key of their day: the report says which old keys it
        still needs, and the others may be retired. On a ledger with users, ``actor`` is an
        administrator it signed in (as for :meth:`seal`); the audit records the rotation
        before the first value is re-sealed."""
        if self._vault is None:
            raise LedgerKeyError(f"{self.path}: an open ledger has no keys to rotate")
        current = self._vault.ring.current_key
        self._keys_audit(actor, "rotate the ledger's keys", "keys rotated", f"data key {current}")
        return sealing.rotate(self._store, self._vault, chunk)

    def retire_key(self, key_id: int, actor: Actor | None = None) -> None:
        """Removes an old data key from the ledger's key file, once no value in the ledger is
        sealed with it (refused otherwise: the values sealed with it would be lost). On a
        ledger with users, ``actor`` is an administrator it signed in, and the audit records
        the key retired."""
        if self._vault is None or not isinstance(self._keys, KeyFile):
            raise LedgerKeyError(f"{self.path}: only a sealed ledger's key file retires keys")
        if key_id in sealing.keys_in_use(self._reads):
            raise LedgerKeyError(
                f"{self.path}: data key {key_id} still seals values in the ledger; run"
                " rotate_keys() first (the history keeps the keys its reasons were sealed with)"
            )
        self._keys_audit(actor, "retire a key", "key retired", f"data key {int(key_id)}")
        self._keys.retire(key_id)

    def _keys_audit(self, actor: Actor | None, doing: str, event: str, detail: str) -> None:
        """Refuses ``doing`` to anyone but a signed-in administrator on a ledger with users
        (:func:`~ektpcore.ledger.users.key_keeper`), and writes its audit row."""
        with self._store.transaction() as conn:
            db = Session(self._store, conn, self._vault)
            now = utc_stamp()
            users.audit(db, now, users.key_keeper(db, actor, doing, now), event, None, detail)

    def rotate_keys_in_background(
        self, actor: Actor | None = None, *, chunk: int = 2_000
    ) -> sealing.Rotation:
        """:meth:`rotate_keys` in a thread with a connection of its own; the returned handle's
        ``join()`` gives its report (or raises what stopped it)."""
        if self._vault is None:
            raise LedgerKeyError(f"{self.path}: an open ledger has no keys to rotate")
        return sealing.Rotation(self.reopen, chunk, actor)

    # -- for the ledger's own tests: raw access below the package's rules ---------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._reads.all(sql, params)

    def _write(self) -> Any:
        return self._store.transaction()

    def _verify_chain(self, which: chain.Chain) -> chain.VerifyReport:
        with self._store.snapshot() as conn:
            return verify_chain(Session(self._store, conn), which, mac=self._mac)
