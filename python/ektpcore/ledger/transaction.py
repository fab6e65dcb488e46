"""The one way a change happens: a :class:`Transaction`.

``with ledger.transaction(actor) as tx:`` opens one write transaction of the store and names
who acts; everything done through ``tx`` (records, blanks, ribbons, the station journal,
distribution) is checked against the lifecycle and the actor's role and is committed together
when the block ends, or not at all if it raises. Callers never see SQL: the print station, the
planner, blanks, ribbons and distribution all change the ledger through this object, so they
cannot disagree about what happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Unpack

from ..clock import wib_text
from ..errors import InvalidArgumentError, PermissionDeniedError, RecordClaimedError
from ..lifecycle import PERMISSIONS, STATION_PERMISSIONS, Actor, Permission, State, permits
from . import journal, records
from .approvals import ApprovalWrites
from .blanks import BlankWrites
from .claims import Claim, ClaimWrites
from .distribution import DistributionWrites
from .journal import JournalWrites
from .records import Change, Intake, IntakeReport, Moves
from .ribbons import RibbonWrites
from .sealing import member, whole_number
from .store import Session

__all__ = ["Transaction", "check_actor"]


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def check_actor(actor: object) -> Actor:
    """``actor`` itself, when it is an :class:`~ektpcore.Actor`."""
    if not isinstance(actor, Actor):
        raise InvalidArgumentError("every write names an Actor")
    return actor


class Transaction:
    """One change to the ledger, made by one actor at one instant (``now``, UTC).

    Attributes:
        actor: who makes the change.
        now: the instant every row written in this transaction carries.
        blanks: blank-card movements (:class:`~ektpcore.ledger.BlankWrites`).
        ribbons: ribbon installs (:class:`~ektpcore.ledger.RibbonWrites`).
        journal: the print station's journal and chip log
            (:class:`~ektpcore.ledger.JournalWrites`).
        distribution: manifests and hand-overs (:class:`~ektpcore.ledger.DistributionWrites`).
        claims: batch claims (:class:`~ektpcore.ledger.ClaimWrites`).
        approvals: two-person changes (:class:`~ektpcore.ledger.ApprovalWrites`).
        claim: the claim this transaction writes under, once fenced.
        station: whether the actor signed in with an unattended station's token (it may then
            do only what :data:`~ektpcore.STATION_PERMISSIONS` lists).
    """

    def __init__(
        self,
        db: Session,
        actor: Actor,
        now: str,
        *,
        beside: bool = False,
        station: bool = False,
    ) -> None:
        self._db: Session | None = db
        self.actor = check_actor(actor)
        self.now = now
        self.station = station
        # Run beside other stations' transactions (a database server's shared lock): it may
        # change only the records of the batch it is fenced to (see Claims.under).
        self.beside = beside
        self.blanks = BlankWrites(self)
        self.ribbons = RibbonWrites(self)
        self.journal = JournalWrites(self)
        self.distribution = DistributionWrites(self)
        self.claims = ClaimWrites(self)
        self.approvals = ApprovalWrites(self)
        self.claim: Claim | None = None  # set by claims.claim/fence: the batch this tx may move
        # True while the journal itself recovers or settles its cards (journal.recover/settle):
        # only then may a transition touch a record the journal holds without a claim.
        self.journal_step = False
        # The record whose two-person change is being approved (approvals.approve): only
        # then may a transition follow a rule that needs a request and an approval.
        self.approving: int | None = None
        # The steps of an open transitions() block, written when it ends.
        self.moves: Moves | None = None

    def __repr__(self) -> str:
        return f"Transaction(actor={self.actor.name!r}, open={self._db is not None})"

    @property
    def db(self) -> Session:
        """The session this transaction writes through (for the ledger package only)."""
        if self._db is None:
            raise InvalidArgumentError("this transaction has ended; open a new one")
        return self._db

    def close(self) -> None:
        """Ends the transaction's use: later calls through it are refused."""
        self._db = None

    def require(self, *permissions: Permission, what: str | None = None) -> None:
        """Refuses the change (:class:`~ektpcore.PermissionDeniedError`) unless the actor's
        role holds one of ``permissions`` in :data:`~ektpcore.PERMISSIONS` (and, for an
        unattended station, in :data:`~ektpcore.STATION_PERMISSIONS`): the one check of who
        may do what that every write of the ledger goes through."""
        actor = self.actor
        if any(permits(actor.role, p, station=self.station) for p in permissions):
            return
        doing = what or " or ".join(p.value for p in permissions)
        if self.station and any(permits(actor.role, p) for p in permissions):
            may = " and ".join(sorted(p.value for p in STATION_PERMISSIONS))
            raise PermissionDeniedError(
                f"{actor.name} is an unattended station: it may not {doing}, a person signed"
                f" in with a password does that (a station's token may only {may})"
            )
        roles = sorted({r for p in permissions for r in PERMISSIONS[p]})
        needs = " or ".join(_a(r.name.lower()) for r in roles) or "a role none has"
        raise PermissionDeniedError(
            f"{actor.name} ({actor.role.name.lower()}) may not {doing}; it needs {needs}"
        )

    def require_claimed(self, batches: Iterable[str | None], what: str) -> None:
        """Refuses the change unless every batch it touches is free or held by the claim this
        transaction writes under (:class:`~ektpcore.RecordClaimedError` naming the station
        that holds it: the change would race its printer); an unattended station's token
        writes only under a claim it holds, to that batch
        (:class:`~ektpcore.PermissionDeniedError`), whatever the batch.

        Records and blanks check the claims their own way (in bulk); the journal, the chip log
        and a station's token go through here."""
        claimed = None if self.claim is None else self.claim.batch
        wanted = set(batches)
        if self.station and (claimed is None or wanted - {claimed}):
            outside = ", ".join(sorted(map(str, wanted - {claimed})))
            where = (
                "it holds no claim in this transaction"
                if claimed is None
                else f"it holds batch {claimed}, not {outside}"
            )
            raise PermissionDeniedError(
                f"{self.actor.name} is an unattended station: it may {what} only under the"
                f" claim it holds, in that batch ({where})"
            )
        others = sorted(b for b in wanted if b is not None and b != claimed)
        if not others:
            return
        db = self.db
        for batch, station, lease_until in db.all(
            "SELECT batch, station, lease_until FROM batch_claims WHERE released_at IS NULL AND "
            + db.member_of("batch"),
            (db.as_list(others),),
        ):
            raise RecordClaimedError(
                f"batch {batch} is held by station {station} (lease until"
                f" {wib_text(lease_until)}): only that station, under its claim, may {what}"
                " there; or a supervisor releases the claim"
            )

    # -- records ---------------------------------------------------------------------------

    def add_records(self, niks: Any, **intake: Unpack[Intake]) -> IntakeReport:
        """Takes records in; see :meth:`~ektpcore.Ledger.add_records`."""
        return records.add(self, niks, **intake)

    def transition(self, niks: Any, target: State, **change: Unpack[Change]) -> int:
        """Moves every given record to ``target``; see :meth:`~ektpcore.Ledger.transition`."""
        values = records.valid_niks(niks, "transition")
        return records.transition(
            self, values, member(State, target, "the state to move to"), **change
        )

    @contextlib.contextmanager
    def transitions(self) -> Iterator[Moves]:
        """Several transitions written once: ``with tx.transitions() as moves:
        moves.transition(printed, State.PRINTED, ...); moves.transition(encoded,
        State.ENCODED)``. Each step is checked as :meth:`transition` checks it, against the
        states the steps before it left; when the block ends each record's row is updated once
        and every step's history rows are chained in one append, the same rows in the same
        order as one transition after another (see :class:`~ektpcore.ledger.Moves`). Other
        writes may come between the steps (a ribbon change); a :meth:`transition` outside the
        block first writes the steps made so far."""
        if self.moves is not None:
            raise InvalidArgumentError("transitions() blocks do not nest")
        moves = self.moves = Moves(self)
        try:
            yield moves
            moves.write()
        finally:
            self.moves = None

    def settle(self, nik: Any, *, printed: bool, note: str, serial: int | None = None) -> None:
        """Settles an ``IN_DOUBT`` card (a supervisor's); see :meth:`~ektpcore.Ledger.settle`."""
        value = records.valid_niks([nik], "settle")[0]
        if serial is not None:
            serial = whole_number(serial, "a blank's serial")
        journal.settle(self, value, printed=printed, note=note, serial=serial)

    def queue(self, niks: Any, batch: str, printer: str) -> list[int]:
        """Queues a planned batch and allocates its blanks; see :meth:`~ektpcore.Ledger.queue`."""
        values = records.valid_niks(niks, "queue")
        records.transition(self, values, State.QUEUED, batch=batch, printer=printer)
        return self.blanks.allocate(batch, len(values))
