"""Two-person changes: one person requests, another approves, and only the approval changes
the record.

A change whose rule in :data:`~ektpcore.TRANSITIONS` names ``requested_by`` is never made
directly: a reprint of a lost or damaged card (``ISSUED`` → ``PRINT_READY``: a second card
for someone who holds one) and cancelling a record that holds a printed card (which voids the
card). Someone holding the request's permission asks, with a reason; a supervisor other than
the requester approves, and the change is made then, in the approval's transaction, recorded
in the history under the approver with both names in its reason. Requests, approvals and
refusals are rows of the audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import (
    ApprovalRequiredError,
    IllegalTransitionError,
    InvalidArgumentError,
)
from ..lifecycle import Actor, State, meaningful, transition_rule
from ..nik import Nik, mask_nik
from . import records, users
from .sealing import check_free_text, nik_keys, niks_of, open_texts, seal_text
from .store import Session

if TYPE_CHECKING:
    from .core import Ledger
    from .transaction import Transaction

__all__ = ["Approval", "ApprovalWrites", "Approvals"]


@dataclass(frozen=True)
class Approval:
    """A request for a two-person change, and what became of it (``outcome`` is ``None``
    while it waits, then ``"approved"`` or ``"refused"``). The NIK shows masked."""

    id: int
    nik: Nik
    source: State
    target: State
    reason: str
    requested_by: str
    requested_at: str
    outcome: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    note: str | None = None


_COLUMNS = (
    "a.id, r.nik, a.from_state, a.to_state, a.reason, a.requested_by, a.requested_at,"
    " a.outcome, a.decided_by, a.decided_at, a.note, r.sealed"
)


def _approvals(db: Session, rows: list[tuple[Any, ...]]) -> list[Approval]:
    """Requests from rows of ``_COLUMNS``: NIKs and free text opened in a sealed ledger."""
    niks = niks_of(db, [r[1] for r in rows], [r[11] for r in rows])
    reasons = open_texts(db, [r[4] for r in rows], "approvals.reason")
    notes = open_texts(db, [r[10] for r in rows], "approvals.note")
    return [
        Approval(
            int(aid),
            Nik.from_int(nik),
            State(source),
            State(target),
            str(reason),
            by,
            at,
            outcome,
            decided_by,
            decided_at,
            note,
        )
        for (
            aid,
            _,
            source,
            target,
            _,
            by,
            at,
            outcome,
            decided_by,
            decided_at,
            _,
            _,
        ), nik, reason, note in zip(rows, niks, reasons, notes, strict=True)
    ]


def get(db: Session, approval_id: int) -> Approval:
    row = db.one(
        f"SELECT {_COLUMNS} FROM approvals a JOIN records r ON r.id = a.record_id WHERE a.id = ?",
        (int(approval_id),),
    )
    if row is None:
        raise InvalidArgumentError(f"no request {approval_id}")
    return _approvals(db, [row])[0]


class ApprovalWrites:
    """The two-person changes of one transaction: ``tx.approvals``."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def request(self, nik: Any, target: State, *, reason: str) -> int:
        """Asks for a two-person change of ``nik``'s record to ``target``; returns the
        request's id. Refused if the change is not a two-person one, is not allowed from the
        record's state, lacks a reason, or one is already waiting for the record."""
        tx = self._tx
        value = records.valid_niks([nik], "request")[0]
        target = State(target)
        check_free_text(reason, "a request's reason")
        users.require_person(tx.db, tx.actor, "asking for a two-person change")
        row = tx.db.one("SELECT id, state FROM records WHERE nik = ?", nik_keys(tx.db, [value]))
        if row is None:
            raise records.unknown(value)
        record_id, source = int(row[0]), State(row[1])
        rule = transition_rule(source, target)
        if rule is None:
            raise IllegalTransitionError(
                mask_nik(value), source, target, "the lifecycle does not allow it"
            )
        if rule.requested_by is None:
            raise InvalidArgumentError(
                f"'{rule.rule}' is made directly (transition), not requested"
            )
        tx.require(rule.requested_by)
        if not meaningful(reason):
            raise IllegalTransitionError(
                mask_nik(value), source, target, f"'{rule.rule}' needs a reason"
            )
        waiting = tx.db.one(
            "SELECT id FROM approvals WHERE record_id = ? AND decided_at IS NULL", (record_id,)
        )
        if waiting is not None:
            raise InvalidArgumentError(
                f"record {mask_nik(value)} has a request waiting already ({waiting[0]})"
            )
        actor = tx.actor
        made = tx.db.one(
            "INSERT INTO approvals (record_id, from_state, to_state, reason, requested_at,"
            " requested_by, requested_role) VALUES (?,?,?,?,?,?,?) RETURNING id",
            (
                record_id,
                source.value,
                target.value,
                seal_text(tx.db, reason, "approvals.reason"),
                tx.now,
                actor.name,
                actor.role.name,
            ),
        )
        assert made is not None
        request = int(made[0])
        users.audit(
            tx.db,
            tx.now,
            (actor.name, actor.role.name),
            "approval requested",
            f"request {request}",
            f"{rule.rule}: {source.value} -> {target.value}",
        )
        return request

    def _waiting(self, approval_id: int) -> Approval:
        found = get(self._tx.db, approval_id)
        if found.outcome is not None:
            raise InvalidArgumentError(f"request {found.id} was {found.outcome} already")
        return found

    def approve(self, approval_id: int, *, note: str | None = None) -> None:
        """Approves a waiting request and makes its change, as the actor of this
        transaction: someone other than the requester, holding the change's permission."""
        tx = self._tx
        found = self._waiting(approval_id)
        actor = tx.actor
        users.require_person(tx.db, actor, "approving a two-person change")
        if users.name_key(actor.name) == users.name_key(found.requested_by):
            raise ApprovalRequiredError(
                f"request {found.id} was made by {found.requested_by}: another person approves"
                " it (two-person rule)"
            )
        value = int(found.nik)
        current = records.state_of(tx.db, value)
        if current is not found.source:
            raise IllegalTransitionError(
                mask_nik(value), current, found.target, "the record moved on since the request"
            )
        rule = transition_rule(found.source, found.target)
        assert rule is not None
        tx.require(rule.permission)
        tx.approving = value
        try:
            records.transition(
                tx,
                [value],
                found.target,
                reason=f"{found.reason} (requested by {found.requested_by},"
                f" approved by {actor.name})",
            )
        finally:
            tx.approving = None
        self._decide(found, "approved", note)

    def refuse(self, approval_id: int, *, note: str) -> None:
        """Refuses a waiting request (the change is not made); by someone who could have
        approved it, or by the requester withdrawing it, with a note."""
        tx = self._tx
        found = self._waiting(approval_id)
        if not meaningful(note):
            raise InvalidArgumentError("refusing a request needs a note")
        if users.name_key(tx.actor.name) != users.name_key(found.requested_by):
            rule = transition_rule(found.source, found.target)
            assert rule is not None
            tx.require(rule.permission)
        self._decide(found, "refused", note)

    def _decide(self, found: Approval, outcome: str, note: str | None) -> None:
        tx = self._tx
        actor = tx.actor
        check_free_text(note, "a decision's note")
        tx.db.execute(
            "UPDATE approvals SET decided_at = ?, decided_by = ?, decided_role = ?,"
            " outcome = ?, note = ? WHERE id = ?",
            (
                tx.now,
                actor.name,
                actor.role.name,
                outcome,
                seal_text(tx.db, note, "approvals.note"),
                found.id,
            ),
        )
        users.audit(
            tx.db,
            tx.now,
            (actor.name, actor.role.name),
            "approval granted" if outcome == "approved" else "approval refused",
            f"request {found.id}",
            f"{found.source.value} -> {found.target.value}, requested by {found.requested_by}",
        )


class Approvals:
    """Two-person changes of a :class:`~ektpcore.Ledger`: ``ledger.approvals``.

    ::

        request = ledger.approvals.request(nik, State.PRINT_READY, desk, reason="lost")
        ledger.approvals.approve(request.id, supervisor)   # another person: reprinted now
    """

    def __init__(self, ledger: Ledger, reads: Session) -> None:
        self._ledger = ledger
        self._db = reads

    def get(self, approval_id: int) -> Approval:
        return get(self._db, approval_id)

    def waiting(self) -> list[Approval]:
        """Requests not yet approved or refused, oldest first."""
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM approvals a JOIN records r ON r.id = a.record_id"
            " WHERE a.decided_at IS NULL ORDER BY a.id"
        )
        return _approvals(self._db, rows)

    def request(self, nik: Any, target: State, actor: Actor, *, reason: str) -> Approval:
        """Asks for a two-person change (see :meth:`ApprovalWrites.request`)."""
        with self._ledger.transaction(actor) as tx:
            request = tx.approvals.request(nik, target, reason=reason)
        return self.get(request)

    def approve(self, approval_id: int, actor: Actor, *, note: str | None = None) -> Approval:
        """Approves a request and makes its change (see :meth:`ApprovalWrites.approve`)."""
        with self._ledger.transaction(actor) as tx:
            tx.approvals.approve(approval_id, note=note)
        return self.get(approval_id)

    def refuse(self, approval_id: int, actor: Actor, *, note: str) -> Approval:
        """Refuses (or, by its requester, withdraws) a request."""
        with self._ledger.transaction(actor) as tx:
            tx.approvals.refuse(approval_id, note=note)
        return self.get(approval_id)
