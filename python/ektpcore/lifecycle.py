"""The life of an E-KTP record, from biometric capture to the card in the citizen's hand, and
who may do what.

One table, :data:`TRANSITIONS`, says which state may follow which, the permission the change
needs, whether a reason is required and whether a second person must approve it; every change
the :class:`~ektpcore.Ledger` makes is checked against it. Another, :data:`PERMISSIONS`, says
which :class:`Role` holds each :class:`Permission`: the one place the ledger asks. SIAK's own
statuses map onto the states (see ``docs/domain``): Bio Captured, Sent For Enrolment (SFE), the
central duplicate check's outcomes, and Print Ready Record (PRR).
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from typing import Any, NoReturn, SupportsIndex

from .errors import InvalidArgumentError
from .nik import has_nik_shape

__all__ = [
    "PERMISSIONS",
    "STATION_PERMISSIONS",
    "TRANSITIONS",
    "Actor",
    "Permission",
    "Role",
    "State",
    "Transition",
    "as_role",
    "meaningful",
    "permits",
    "plain_name",
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
    """What a user of the ledger is. The roles are not a ladder: what each may do is
    :data:`PERMISSIONS` (an administrator manages users and nothing else; an auditor only
    reads). The numbers are stable identifiers, not ranks."""

    AUDITOR = 0
    OPERATOR = 1
    SUPERVISOR = 2
    ADMINISTRATOR = 3


class Permission(str, enum.Enum):
    """Something a role may be allowed to do; :data:`PERMISSIONS` says which roles may."""

    READ = "read the ledger"
    ENROL = "take records in and move them through enrolment"
    RECEIVE_BLANKS = "receive a lot of blanks, or return blanks"
    INSTALL_RIBBON = "install a ribbon"
    QUEUE = "queue records in a batch and allocate its blanks"
    PRINT = "print queued batches"
    HOLD = "put a record on hold"
    RELEASE_HOLD = "release a record from hold"
    CANCEL = "cancel a record"
    CLEAR_DUPLICATE = "send a cleared duplicate back to capture"
    REQUEST_REPRINT = "request a reprint"
    APPROVE_REPRINT = "approve a reprint"
    VOID = "void blanks or a printed card"
    SETTLE = "settle in-doubt cards and release a station's claim"
    HAND_OVER = "hand a card over"
    DISTRIBUTE = "build, dispatch and receive manifests"
    MANAGE_USERS = "manage users"


_AUDITOR, _OPERATOR, _SUPERVISOR, _ADMIN = (
    Role.AUDITOR,
    Role.OPERATOR,
    Role.SUPERVISOR,
    Role.ADMINISTRATOR,
)
_DESK = frozenset({_OPERATOR, _SUPERVISOR})
_ONLY_SUPERVISOR = frozenset({_SUPERVISOR})
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ: frozenset(Role),
    Permission.ENROL: _DESK,
    Permission.RECEIVE_BLANKS: _ONLY_SUPERVISOR,
    Permission.INSTALL_RIBBON: _DESK,
    Permission.QUEUE: _DESK,
    Permission.PRINT: _DESK,
    Permission.HOLD: _DESK,
    Permission.RELEASE_HOLD: _ONLY_SUPERVISOR,
    Permission.CANCEL: _ONLY_SUPERVISOR,
    Permission.CLEAR_DUPLICATE: _ONLY_SUPERVISOR,
    Permission.REQUEST_REPRINT: _DESK,
    Permission.APPROVE_REPRINT: _ONLY_SUPERVISOR,
    Permission.VOID: _ONLY_SUPERVISOR,
    Permission.SETTLE: _ONLY_SUPERVISOR,
    Permission.HAND_OVER: _DESK,
    Permission.DISTRIBUTE: _DESK,
    Permission.MANAGE_USERS: frozenset({_ADMIN}),
}
"""Which roles hold each permission: the one table every write of the ledger is checked
against (through ``Transaction.require``). Least privilege: an administrator manages users and
may not print, cancel or settle; a supervisor may do what an operator may, and approve, void,
cancel, settle and receive blanks; an auditor only reads."""

STATION_PERMISSIONS: frozenset[Permission] = frozenset({Permission.READ, Permission.PRINT})
"""What an unattended station's token may do, whatever its role: print the batches people
queued (claim a batch, its journal, each card's outcome, its chip log, the ribbon it uses,
a spoiled blank). Everything else is a person's decision, made by someone who signed in with
a password: a token lying on a station's disk takes no record in, holds, cancels or hands
over nothing, and installs no ribbon nor receives blanks."""


def permits(role: Role, permission: Permission, *, station: bool = False) -> bool:
    """Whether ``role`` holds ``permission`` (see :data:`PERMISSIONS`); for an unattended
    ``station``, only if the permission is also one of :data:`STATION_PERMISSIONS`."""
    return role in PERMISSIONS[permission] and (not station or permission in STATION_PERMISSIONS)


# Letters that show nothing: the Hangul fillers, and the blank braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def meaningful(text: object) -> bool:
    """Whether ``text`` says something: at least one visible letter or digit, not only spaces,
    punctuation or invisible characters (zero-width spaces, fillers, control characters),
    which a required reason or name may not be."""
    return isinstance(text, str) and any(
        unicodedata.category(ch)[0] in "LN" and ch not in _BLANK_LETTERS for ch in text
    )


# Control, format (zero-width), private-use, unassigned and line/paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def plain_name(text: object, what: str = "a name") -> str:
    """``text`` when it can name a person or a station in the history: some visible
    character, no invisible or control character anywhere (a zero-width space makes two
    names that look alike), no blank at either end nor two in a row, at most 100 characters,
    the letters of one script only (look-alike letters of another script make two names
    that read the same); else :class:`~ektpcore.InvalidArgumentError`."""
    if not meaningful(text):
        raise InvalidArgumentError(f"{what} is some text (not empty, not only blanks)")
    assert isinstance(text, str)
    if any(unicodedata.category(ch) in _HIDDEN for ch in text):
        raise InvalidArgumentError(
            f"{what} may not hold invisible or control characters (zero-width spaces, tabs,"
            " line breaks)"
        )
    if text != " ".join(text.split()) or len(text) > 100:
        raise InvalidArgumentError(
            f"{what} has no blank at either end nor two in a row, and at most 100 characters"
        )
    if has_nik_shape(text):
        raise InvalidArgumentError(f"{what} may not be or hold a NIK-shaped number")
    scripts = {_script(ch) for ch in text} - {None}
    if len(scripts) > 1:
        raise InvalidArgumentError(
            f"{what} mixes the letters of {len(scripts)} scripts"
            f" ({', '.join(sorted(str(s).title() for s in scripts))}): a Cyrillic letter among"
            " Latin ones makes a second user who reads the same"
        )
    return text


def _script(ch: str) -> str | None:
    """The script of a letter, as the first word of its Unicode name says (LATIN, CYRILLIC,
    GREEK, ARABIC...); ``None`` for what every script shares (digits, punctuation, blanks)."""
    if unicodedata.category(ch)[0] != "L":
        return None
    return unicodedata.name(ch, "UNNAMED").split(" ", 1)[0]


def as_role(value: object) -> Role:
    """A :class:`Role` from a role, its number or its name; anything else (a bool, a float,
    an unknown name) is refused."""
    try:
        if isinstance(value, Role):
            return value
        if isinstance(value, str):
            return Role[value.strip().upper()]
        if isinstance(value, int) and not isinstance(value, bool):
            return Role(value)
    except (KeyError, ValueError):
        pass
    names = ", ".join(r.name.lower() for r in Role)
    raise InvalidArgumentError(f"a role is one of {names}; got {value!r}")


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting on the ledger; every write names one. ``role`` may be given as a
    :class:`Role`, its number or its name.

    On a ledger with users only an actor returned by ``Ledger.sign_in`` or
    ``Ledger.sign_in_station`` is taken: it carries a ``credential`` issued by that ledger,
    valid on any connection to the same ledger, in any process, until its user is disabled or
    given another role. A ledger without users (development mode) takes any actor as it
    declares itself.

    The credential signs its holder in, so it is kept like a key: never shown in the repr,
    no ``vars()`` (the actor has slots, no ``__dict__``), and an actor holding one refuses
    ``pickle`` and copies (a pickle in a queue or a cache, a copy kept behind its owner's
    back). A worker process is handed it on purpose:
    ``Actor(actor.name, actor.role, actor.credential)`` on its side."""

    name: str
    role: Role
    credential: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain_name(self.name, "an actor's name")
        object.__setattr__(self, "role", as_role(self.role))
        if self.credential is not None and not isinstance(self.credential, str):
            raise InvalidArgumentError("an actor's credential is the text a ledger issued")

    def _refuse(self) -> NoReturn:
        raise TypeError(
            f"the actor {self.name!r} holds the credential of a signed-in session: it cannot be"
            " pickled or copied (hand a worker Actor(name, role, credential) on purpose)"
        )

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        if self.credential is not None:
            self._refuse()
        return (Actor, (self.name, self.role))  # a declared actor holds no secret

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__reduce_ex__(2)

    def __getstate__(self) -> NoReturn:
        self._refuse()

    def __copy__(self) -> Actor:
        if self.credential is not None:
            self._refuse()
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Actor:
        return self.__copy__()


@dataclass(frozen=True)
class Transition:
    """One allowed change: from, to, the permission needed to make it, whether a reason must
    be given, and the rule's name for error messages. A two-person change also names the
    permission needed to request it (``requested_by``): it is then made only by another
    person approving that request (``ledger.approvals``), never directly."""

    source: State
    target: State
    permission: Permission
    reason_required: bool
    rule: str
    requested_by: Permission | None = None


S, P = State, Permission
_RULES: list[tuple[State, tuple[State, ...], Permission, bool, str]] = [
    (S.BIO_CAPTURED, (S.SENT_FOR_ENROLMENT,), P.ENROL, False, "send for enrolment"),
    (S.SENT_FOR_ENROLMENT, (S.PRINT_READY,), P.ENROL, False, "central confirmation"),
    (
        S.SENT_FOR_ENROLMENT,
        (S.DUPLICATE_RECORD, S.ADJUDICATE_RECORD, S.ENROLMENT_FAILED),
        P.ENROL,
        False,
        "central duplicate check",
    ),
    (S.ENROLMENT_FAILED, (S.BIO_CAPTURED,), P.ENROL, False, "re-capture"),
    (S.DUPLICATE_RECORD, (S.ADJUDICATE_RECORD,), P.ENROL, False, "adjudication"),
    (
        S.DUPLICATE_RECORD,
        (S.BIO_CAPTURED,),
        P.CLEAR_DUPLICATE,
        True,
        "duplicate cleared, re-capture",
    ),
    (
        S.ADJUDICATE_RECORD,
        (S.PRINT_READY, S.DUPLICATE_RECORD),
        P.ENROL,
        False,
        "adjudication outcome",
    ),
    (S.PRINT_READY, (S.QUEUED,), P.QUEUE, False, "queue in a batch"),
    (S.QUEUED, (S.PRINT_READY,), P.PRINT, True, "taken out of the batch"),
    (S.QUEUED, (S.PRINTED,), P.PRINT, False, "printed"),
    (S.PRINTED, (S.ENCODED,), P.PRINT, False, "chip encoded"),
    (S.ENCODED, (S.QC_PASSED,), P.PRINT, False, "quality check passed"),
    (S.PRINTED, (S.PRINT_READY,), P.PRINT, True, "spoiled attempt"),
    (S.ENCODED, (S.PRINT_READY,), P.PRINT, True, "spoiled attempt"),
    (S.QC_PASSED, (S.IN_TRANSIT_TO_KECAMATAN,), P.DISTRIBUTE, False, "dispatched to the kecamatan"),
    (
        S.IN_TRANSIT_TO_KECAMATAN,
        (S.AT_KECAMATAN,),
        P.DISTRIBUTE,
        False,
        "received at the kecamatan",
    ),
    (
        S.AT_KECAMATAN,
        (S.IN_TRANSIT_TO_KELURAHAN,),
        P.DISTRIBUTE,
        False,
        "dispatched to the kelurahan",
    ),
    (
        S.IN_TRANSIT_TO_KELURAHAN,
        (S.AT_KELURAHAN,),
        P.DISTRIBUTE,
        False,
        "received at the kelurahan",
    ),
    (S.AT_KECAMATAN, (S.ISSUED,), P.HAND_OVER, False, "handed to the citizen"),
    (S.AT_KELURAHAN, (S.ISSUED,), P.HAND_OVER, False, "handed to the citizen"),
    (S.QUEUED, (S.IN_DOUBT,), P.PRINT, True, "outcome unknown"),
    (S.PRINTED, (S.IN_DOUBT,), P.PRINT, True, "outcome unknown"),
    (S.ENCODED, (S.IN_DOUBT,), P.PRINT, True, "outcome unknown"),
    (
        S.IN_DOUBT,
        (S.PRINT_READY, S.PRINTED, S.ENCODED, S.QC_PASSED),
        P.SETTLE,
        True,
        "in-doubt resolution",
    ),
]
for _source in (S.BIO_CAPTURED, S.SENT_FOR_ENROLMENT, S.PRINT_READY):
    _RULES.append((_source, (S.ON_HOLD,), P.HOLD, True, "put on hold"))
    _RULES.append((S.ON_HOLD, (_source,), P.RELEASE_HOLD, True, "released from hold"))

TRANSITIONS: dict[tuple[State, State], Transition] = {
    (source, target): Transition(source, target, permission, reason, rule)
    for source, targets, permission, reason, rule in _RULES
    for target in targets
}
"""Every allowed change, keyed by ``(from, to)``. Anything not here is refused."""

# Two-person changes: requested by one person, approved (and so made) by another. A reprint
# makes a second card for someone who holds one; cancelling a printed card voids it.
TRANSITIONS[S.ISSUED, S.PRINT_READY] = Transition(
    S.ISSUED,
    S.PRINT_READY,
    P.APPROVE_REPRINT,
    True,
    "reprint of a lost or damaged card",
    requested_by=P.REQUEST_REPRINT,
)
# Where a record may hold a printed card that has not reached its citizen.
_CARD_STATES = frozenset(
    {
        S.PRINTED,
        S.ENCODED,
        S.QC_PASSED,
        S.IN_DOUBT,
        S.IN_TRANSIT_TO_KECAMATAN,
        S.AT_KECAMATAN,
        S.IN_TRANSIT_TO_KELURAHAN,
        S.AT_KELURAHAN,
    }
)
for _source in State:
    if _source in _CARD_STATES:
        TRANSITIONS[_source, S.CANCELLED] = Transition(
            _source, S.CANCELLED, P.VOID, True, "printed card cancelled", requested_by=P.CANCEL
        )
    elif _source not in (S.CANCELLED, S.ISSUED):
        TRANSITIONS[_source, S.CANCELLED] = Transition(
            _source, S.CANCELLED, P.CANCEL, True, "cancelled"
        )

RECORD_PERMISSIONS = frozenset(t.permission for t in TRANSITIONS.values())
"""The permissions that move records: a role holding none of them changes no record."""


def transition_rule(source: State, target: State) -> Transition | None:
    """The rule allowing ``source`` → ``target``, or ``None``."""
    return TRANSITIONS.get((source, target))
