"""The life of an E-KTP record, from biometric capture to the card in the citizen's hand.

One table, :data:`TRANSITIONS`, says which state may follow which, who may make the change and
whether a reason is required; every change the :class:`~ektpcore.Ledger` makes is checked
against it. SIAK's own statuses map onto these (see ``docs/domain``): Bio Captured, Sent For
Enrolment (SFE), the central duplicate check's outcomes, and Print Ready Record (PRR).
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

from .errors import InvalidArgumentError

__all__ = [
    "TRANSITIONS",
    "Actor",
    "Role",
    "State",
    "Transition",
    "meaningful",
    "transition_rule",
]


class State(str, enum.Enum):
    """Where a record is. The values are stored in the ledger and never change."""

    BIO_CAPTURED = "BIO_CAPTURED"
    SENT_FOR_ENROLMENT = "SENT_FOR_ENROLMENT"
    ENROLMENT_FAILED = "ENROLMENT_FAILED"
    DUPLICATE_RECORD = "DUPLICATE_RECORD"
    ADJUDICATE_RECORD = "ADJUDICATE_RECORD"
    PRINT_READY = "PRINT_READY"
    QUEUED = "QUEUED"
    PRINTED = "PRINTED"
    ENCODED = "ENCODED"
    QC_PASSED = "QC_PASSED"
    IN_TRANSIT_TO_KECAMATAN = "IN_TRANSIT_TO_KECAMATAN"
    AT_KECAMATAN = "AT_KECAMATAN"
    IN_TRANSIT_TO_KELURAHAN = "IN_TRANSIT_TO_KELURAHAN"
    AT_KELURAHAN = "AT_KELURAHAN"
    ISSUED = "ISSUED"
    IN_DOUBT = "IN_DOUBT"
    ON_HOLD = "ON_HOLD"
    CANCELLED = "CANCELLED"


class Role(enum.IntEnum):
    """Who may write. A higher role may do everything a lower one may; auditors only read."""

    AUDITOR = 0
    OPERATOR = 1
    SUPERVISOR = 2


def meaningful(text: object) -> bool:
    """Whether ``text`` says something: not empty, and not only spaces or invisible characters
    (zero-width spaces and other format characters), which a required reason or name may not
    be."""
    return isinstance(text, str) and any(
        not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text
    )


@dataclass(frozen=True)
class Actor:
    """A person acting on the ledger; every write names one. ``role`` may be given as a
    :class:`Role`, its number or its name."""

    name: str
    role: Role

    def __post_init__(self) -> None:
        if not meaningful(self.name):
            raise InvalidArgumentError("an actor has a name (not empty, not only blanks)")
        role = self.role
        try:
            if isinstance(role, str) and not isinstance(role, Role):
                role = Role[role.strip().upper()]
            elif not isinstance(role, Role):
                role = Role(role)
        except (KeyError, ValueError, TypeError):
            names = ", ".join(r.name.lower() for r in Role)
            raise InvalidArgumentError(f"a role is one of {names}; got {role!r}") from None
        object.__setattr__(self, "role", role)


@dataclass(frozen=True)
class Transition:
    """One allowed change: from, to, the least role that may make it, whether a reason must be
    given, and the rule's name for error messages."""

    source: State
    target: State
    role: Role
    reason_required: bool
    rule: str


S, R = State, Role
_RULES: list[tuple[State, tuple[State, ...], Role, bool, str]] = [
    (S.BIO_CAPTURED, (S.SENT_FOR_ENROLMENT,), R.OPERATOR, False, "send for enrolment"),
    (S.SENT_FOR_ENROLMENT, (S.PRINT_READY,), R.OPERATOR, False, "central confirmation"),
    (
        S.SENT_FOR_ENROLMENT,
        (S.DUPLICATE_RECORD, S.ADJUDICATE_RECORD, S.ENROLMENT_FAILED),
        R.OPERATOR,
        False,
        "central duplicate check",
    ),
    (S.ENROLMENT_FAILED, (S.BIO_CAPTURED,), R.OPERATOR, False, "re-capture"),
    (S.DUPLICATE_RECORD, (S.ADJUDICATE_RECORD,), R.OPERATOR, False, "adjudication"),
    (S.DUPLICATE_RECORD, (S.BIO_CAPTURED,), R.SUPERVISOR, True, "duplicate cleared, re-capture"),
    (
        S.ADJUDICATE_RECORD,
        (S.PRINT_READY, S.DUPLICATE_RECORD),
        R.OPERATOR,
        False,
        "adjudication outcome",
    ),
    (S.PRINT_READY, (S.QUEUED,), R.OPERATOR, False, "queue in a batch"),
    (S.QUEUED, (S.PRINT_READY,), R.OPERATOR, True, "taken out of the batch"),
    (S.QUEUED, (S.PRINTED,), R.OPERATOR, False, "printed"),
    (S.PRINTED, (S.ENCODED,), R.OPERATOR, False, "chip encoded"),
    (S.ENCODED, (S.QC_PASSED,), R.OPERATOR, False, "quality check passed"),
    ((S.PRINTED), (S.PRINT_READY,), R.OPERATOR, True, "spoiled attempt"),
    ((S.ENCODED), (S.PRINT_READY,), R.OPERATOR, True, "spoiled attempt"),
    (S.QC_PASSED, (S.IN_TRANSIT_TO_KECAMATAN,), R.OPERATOR, False, "dispatched to the kecamatan"),
    (S.IN_TRANSIT_TO_KECAMATAN, (S.AT_KECAMATAN,), R.OPERATOR, False, "received at the kecamatan"),
    (
        S.AT_KECAMATAN,
        (S.IN_TRANSIT_TO_KELURAHAN,),
        R.OPERATOR,
        False,
        "dispatched to the kelurahan",
    ),
    (S.IN_TRANSIT_TO_KELURAHAN, (S.AT_KELURAHAN,), R.OPERATOR, False, "received at the kelurahan"),
    (S.AT_KECAMATAN, (S.ISSUED,), R.OPERATOR, False, "handed to the citizen"),
    (S.AT_KELURAHAN, (S.ISSUED,), R.OPERATOR, False, "handed to the citizen"),
    (S.ISSUED, (S.PRINT_READY,), R.SUPERVISOR, True, "reprint of a lost or damaged card"),
    (S.QUEUED, (S.IN_DOUBT,), R.OPERATOR, True, "outcome unknown"),
    (S.PRINTED, (S.IN_DOUBT,), R.OPERATOR, True, "outcome unknown"),
    (S.ENCODED, (S.IN_DOUBT,), R.OPERATOR, True, "outcome unknown"),
    (
        S.IN_DOUBT,
        (S.PRINT_READY, S.PRINTED, S.ENCODED, S.QC_PASSED),
        R.SUPERVISOR,
        True,
        "in-doubt resolution",
    ),
]
for _source in (S.BIO_CAPTURED, S.SENT_FOR_ENROLMENT, S.PRINT_READY):
    _RULES.append((_source, (S.ON_HOLD,), R.OPERATOR, True, "put on hold"))
    _RULES.append((S.ON_HOLD, (_source,), R.SUPERVISOR, True, "released from hold"))
for _source in State:
    if _source not in (S.CANCELLED, S.ISSUED):
        _RULES.append((_source, (S.CANCELLED,), R.SUPERVISOR, True, "cancelled"))

TRANSITIONS: dict[tuple[State, State], Transition] = {
    (source, target): Transition(source, target, role, reason, rule)
    for source, targets, role, reason, rule in _RULES
    for target in targets
}
"""Every allowed change, keyed by ``(from, to)``. Anything not here is refused."""


def transition_rule(source: State, target: State) -> Transition | None:
    """The rule allowing ``source`` → ``target``, or ``None``."""
    return TRANSITIONS.get((source, target))
