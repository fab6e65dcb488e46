"""Two-person changes: one person requests, another approves, and only the approval changes
the record.

A change whose rule in :data:`~ektpcore.TRANSITIONS` names ``requested_by`` is never made
directly: a reprint of a lost or damaged card (``ISSUED`` → ``PRINT_READY``: a second card
for someone who holds one) and cancelling a record that holds a printed card (which voids the
card). Someone holding the request's permission asks, with a reason; a supervisor other than
the requester approves, and the change is made then, in the approval's transaction, recorded
in the history under the approver with both names in its reason. Requests, approvals and
refusals are rows of the audit.

The audit, not the approvals table, says who asked for what: its request row names the
requester (its actor), the change, the record and a mark of the reason, and its decision row
who decided. An approval is refused when the request's row disagrees with the audit (a
requester's name edited so that the requester may approve, a request written into the table),
and :meth:`~ektpcore.Ledger.verify` names every request the audit does not explain
(:func:`check`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import (
    ApprovalRequiredError,
    IllegalTransitionError,
    InvalidArgumentError,
    SealedDataError,
)
from ..lifecycle import Actor, State, meaningful, transition_rule
from ..nik import Nik, mask_nik
from . import chain, records, sealing, users
from .sealing import (
    check_free_text,
    nik_keys,
    niks_of,
    open_texts,
    row_key,
    seal_text,
    whole_number,
)
from .store import Session

if TYPE_CHECKING:
    from .core import Ledger
    from .transaction import Transaction

__all__ = ["Approval", "ApprovalWrites", "Approvals"]


@dataclass(frozen=True)
class Approval:
    """A request for a two-person change, and what became of it (``outcome`` is ``None``
    while it waits, then ``"approved"`` or ``"refused"``). The NIK shows masked; the repr
    leaves the reason and the note out (free text, sealed in a sealed ledger)."""

    id: int
    nik: Nik
    source: State
    target: State
    reason: str = field(repr=False)
    requested_by: str
    requested_at: str
    outcome: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    note: str | None = field(default=None, repr=False)


_COLUMNS = (
    "a.id, r.nik, a.from_state, a.to_state, a.reason, a.requested_by, a.requested_at,"
    " a.outcome, a.decided_by, a.decided_at, a.note, r.sealed, a.record_id"
)


def _approvals(db: Session, rows: list[tuple[Any, ...]]) -> list[Approval]:
    """Requests from rows of ``_COLUMNS``: NIKs and free text opened in a sealed ledger."""
    niks = niks_of(db, [r[1] for r in rows], [r[11] for r in rows])
    idents = [row_key(r[12], r[6]) for r in rows]  # a request's record and instant
    reasons = open_texts(db, [r[4] for r in rows], "approvals.reason", idents)
    notes = open_texts(db, [r[10] for r in rows], "approvals.note", idents)
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
            _,
        ), nik, reason, note in zip(rows, niks, reasons, notes, strict=True)
    ]


def get(db: Session, approval_id: int) -> Approval:
    approval_id = whole_number(approval_id, "a request's number")
    row = db.one(
        f"SELECT {_COLUMNS} FROM approvals a JOIN records r ON r.id = a.record_id WHERE a.id = ?",
        (approval_id,),
    )
    if row is None:
        raise InvalidArgumentError(f"no request {approval_id}")
    return _approvals(db, [row])[0]


# -- the approvals table against the audit ----------------------------------------------------

_EVENTS = ("approval requested", "approval granted", "approval refused")
_OUTCOMES = {"approval granted": "approved", "approval refused": "refused"}
# A request's audit detail: "<rule>: FROM -> TO; record <id>; reason <mark>" (rows written
# before records and reasons were marked end after the states).
_REQUESTED = re.compile(
    r"^[^:]*: (?P<source>[A-Z_]+) -> (?P<target>[A-Z_]+)"
    r"(?:; record (?P<record>\d+); reason (?P<reason>[0-9a-f]{16}))?$"
)
_RAW = (
    "id, record_id, from_state, to_state, reason, requested_by, requested_role, outcome,"
    " decided_by, decided_role, decided_at"
)


@dataclass
class _Audited:
    """What the audit says of one request: its request row (seq, actor, role, detail) and
    its decision row (seq, outcome, actor, role), and rows it should not have."""

    asked: tuple[int, str, str, str] | None = None
    decided: tuple[int, str, str, str] | None = None
    extra: list[str] = field(default_factory=list)


def _audited(db: Session, subject: str | None = None) -> dict[int, _Audited]:
    """The audit's rows about requests, by request id (all, or one ``subject``)."""
    where = "" if subject is None else " AND subject = ?"
    rows = db.all(
        "SELECT seq, actor, role, event, subject, detail FROM audit WHERE event IN (?, ?, ?)"
        f"{where} ORDER BY seq",
        (*_EVENTS, *(() if subject is None else (subject,))),
    )
    out: dict[int, _Audited] = {}
    for seq, actor, role, event, about, detail in rows:
        found = re.fullmatch(r"request (\d+)", str(about or ""))
        if found is None:
            continue
        entry = out.setdefault(int(found[1]), _Audited())
        if event == "approval requested":
            if entry.asked is not None:
                entry.extra.append(f"the audit asks for it twice (rows {entry.asked[0]}, {seq})")
            entry.asked = entry.asked or (int(seq), str(actor), str(role), str(detail or ""))
        elif entry.decided is not None:
            entry.extra.append(f"the audit decides it twice (rows {entry.decided[0]}, {seq})")
        else:
            entry.decided = (int(seq), _OUTCOMES[str(event)], str(actor), str(role))
    return out


def _unexplained(
    row: tuple[Any, ...], audited: _Audited | None, marks: tuple[str, ...] | None
) -> list[tuple[str, int | None]]:
    """What of a raw approvals row (``_RAW``) the audit does not explain: ``(problem,
    audit row)``. ``marks``: the marks the row's reason may have in the audit (``None``: its
    reason cannot be read here, and is not compared)."""
    aid, record_id, source, target, _, by, role, outcome, decided_by, decided_role, at = row
    name = f"request {aid}"
    if audited is None or audited.asked is None:
        return [(f"{name} is not in the audit: it was written outside the ledger", None)]
    seq, actor, actor_role, detail = audited.asked
    found: list[tuple[str, int | None]] = [(f"{name}: {extra}", seq) for extra in audited.extra]
    if (by, role) != (actor, actor_role):
        found.append(
            (
                f"{name} names {by} ({str(role).lower()}) as its requester but the audit"
                f" says {actor} ({actor_role.lower()})",
                seq,
            )
        )
    said = _REQUESTED.match(detail)
    if said is None:
        return [*found, (f"{name}: audit row {seq} is unreadable", seq)]
    if (source, target) != (said["source"], said["target"]):
        found.append(
            (
                f"{name} asks for {source} -> {target} but the audit says"
                f" {said['source']} -> {said['target']}",
                seq,
            )
        )
    if said["record"] is not None and int(said["record"]) != int(record_id):
        found.append(
            (f"{name} concerns record {record_id} but the audit says record {said['record']}", seq)
        )
    if said["reason"] is not None and marks is not None and said["reason"] not in marks:
        found.append((f"{name}'s reason is not the one the audit recorded", seq))
    decided = audited.decided
    if decided is None:
        if outcome is not None or at is not None or decided_by is not None:
            found.append((f"{name} is {outcome or 'decided'} but the audit has no decision", seq))
    elif (outcome, decided_by, decided_role) != decided[1:]:
        shown = "waiting" if outcome is None else f"{outcome} by {decided_by}"
        found.append(
            (f"{name} is {shown} but the audit says {decided[1]} by {decided[2]}", decided[0])
        )
    return found


def _marks(db: Session | chain.ChainMac | None, reason: str | None) -> tuple[str, ...] | None:
    return None if reason is None else users.text_marks(db, reason)


def check(db: Session, mac: chain.ChainMac | None) -> list[tuple[str, str, int | None]]:
    """Every row of the approvals table replayed against the audit (``(request, problem,
    audit row)``): a request the audit never asked for, one whose requester, change, record,
    reason or decision is not the audit's, and one the audit asked for that is gone. The
    reasons of a sealed ledger checked without its keys are not compared."""
    audited = _audited(db)
    read = db.all(f"SELECT {_RAW}, requested_at FROM approvals ORDER BY id")
    rows = [r[:-1] for r in read]
    reasons = _reasons(db, mac, [r[4] for r in rows], [row_key(r[1], r[-1]) for r in read])
    problems: list[tuple[str, str, int | None]] = []
    for row, reason in zip(rows, reasons, strict=True):
        for problem, seq in _unexplained(row, audited.pop(int(row[0]), None), _marks(mac, reason)):
            problems.append((f"request {row[0]}", problem, seq))
    for aid, gone in sorted(audited.items()):
        seq = None if gone.asked is None else gone.asked[0]
        what = f"request {aid} is in the audit but not in the approvals table"
        problems.append((f"request {aid}", what, seq))
    return problems


def _reasons(
    db: Session, mac: chain.ChainMac | None, values: list[str | None], idents: list[str]
) -> list[str | None]:
    """The requests' reasons as written (``idents``: each request's identity, see
    ``sealing.SEALED_TEXT``): opened with a sealed ledger's keys (``None`` where a value does
    not open, or where the keys are not given)."""
    if mac is None or isinstance(mac, chain.OpenChain):
        sealed = sealing.fingerprint(db) is not None
        return [None] * len(values) if sealed else values
    vault = sealing.Vault(mac)  # type: ignore[arg-type]
    out: list[str | None] = []
    for value, ident in zip(values, idents, strict=True):
        try:
            out.append(vault.open_texts([value], "approvals.reason", [ident])[0])
        except SealedDataError:
            out.append(None)
    return out


def _check_request(db: Session, found: Approval) -> None:
    """Refuses to decide a request whose row the audit does not explain (its requester,
    change, record, reason or decision changed outside the ledger, or written there)."""
    row = db.one(f"SELECT {_RAW} FROM approvals WHERE id = ?", (found.id,))
    assert row is not None
    audited = _audited(db, f"request {found.id}").get(found.id)
    problems = _unexplained(row, audited, _marks(db, found.reason))
    if problems:
        raise ApprovalRequiredError(
            f"{problems[0][0]}; the audit, not the approvals table, says who asked for what,"
            f" so request {found.id} is not decided (verify() lists what else disagrees)."
            " Nothing was changed"
        )


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
                seal_text(tx.db, reason, "approvals.reason", row_key(record_id, tx.now)),
                tx.now,
                actor.name,
                actor.role.name,
            ),
        )
        assert made is not None
        request = int(made[0])
        mark = users.text_marks(tx.db, reason)[0]
        users.audit(
            tx.db,
            tx.now,
            (actor.name, actor.role.name),
            "approval requested",
            f"request {request}",
            f"{rule.rule}: {source.value} -> {target.value}; record {record_id}; reason {mark}",
        )
        return request

    def _waiting(self, approval_id: int) -> Approval:
        found = get(self._tx.db, approval_id)
        if found.outcome is not None:
            raise InvalidArgumentError(f"request {found.id} was {found.outcome} already")
        _check_request(self._tx.db, found)
        return found

    def approve(self, approval_id: int, *, note: str | None = None) -> None:
        """Approves a waiting request and makes its change, as the actor of this
        transaction: someone other than the requester, holding the change's permission."""
        tx = self._tx
        found = self._waiting(approval_id)
        actor = tx.actor
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
        bound = tx.db.one("SELECT record_id, requested_at FROM approvals WHERE id = ?", (found.id,))
        assert bound is not None
        tx.db.execute(
            "UPDATE approvals SET decided_at = ?, decided_by = ?, decided_role = ?,"
            " outcome = ?, note = ? WHERE id = ?",
            (
                tx.now,
                actor.name,
                actor.role.name,
                outcome,
                seal_text(tx.db, note, "approvals.note", row_key(*bound)),
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
