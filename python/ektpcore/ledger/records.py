"""Records: intake, lifecycle transitions (with the blank-card side of printing), and reads.

Every write here runs inside a :class:`~ektpcore.ledger.Transaction` and is checked against
:data:`~ektpcore.TRANSITIONS`: a bulk change is applied whole or not at all.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from ..clock import stamp_window, wib_text
from ..dedup import dedup_niks
from ..errors import (
    ApprovalRequiredError,
    IllegalTransitionError,
    InvalidArgumentError,
    LedgerError,
    RecordClaimedError,
    UnknownRecordError,
)
from ..lifecycle import RECORD_PERMISSIONS, Permission, State, meaningful, transition_rule
from ..nik import (
    Nik,
    NikMismatch,
    crosscheck_niks,
    mask_digits,
    mask_nik,
    nik_objects,
    parse_niks,
)
from . import blanks as _blanks
from . import chain, ribbons
from .blanks import BlankState
from .sealing import (
    CARD_FIELDS,
    CardFields,
    Person,
    card_json,
    check_free_text,
    check_label,
    check_texts,
    member,
    nik_keys,
    niks_of,
    open_texts,
    seal_text,
    text_rule,
    whole_number,
)
from .store import Column, Same, Session, column_values, same_or_each

if TYPE_CHECKING:
    from .transaction import Transaction

# A state by its stored value.
_STATES = {state.value: state for state in State}

__all__ = [
    "CARD_FIELDS",
    "CARD_HOLDING",
    "REVEAL_PURPOSES",
    "CardFields",
    "Change",
    "HistoryEntry",
    "Intake",
    "IntakeReport",
    "Moves",
    "Record",
    "Reveal",
]

# States in which a record may hold a printed card.
CARD_HOLDING = frozenset(
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

# States before a card is in progress (and CANCELLED): what `issued_index` leaves out.
_NOT_ISSUED = (
    State.BIO_CAPTURED,
    State.SENT_FOR_ENROLMENT,
    State.ENROLMENT_FAILED,
    State.DUPLICATE_RECORD,
    State.ADJUDICATE_RECORD,
    State.PRINT_READY,
    State.ON_HOLD,
    State.CANCELLED,
)

_ENTRY_STATES = (State.BIO_CAPTURED, State.SENT_FOR_ENROLMENT, State.PRINT_READY)


class Intake(TypedDict, total=False):
    """What an intake may say about its records besides their NIKs (see
    :meth:`~ektpcore.Ledger.add_records`): one value per NIK, ``priority`` also one for all."""

    state: State
    names: Sequence[str | None] | None
    kecamatan: Sequence[str | None] | None
    kelurahan: Sequence[str | None] | None
    photos: Sequence[str | None] | None
    signatures: Sequence[str | None] | None
    priority: Sequence[int] | int
    card: Mapping[str, Sequence[str | None]] | None


class Change(TypedDict, total=False):
    """What a transition may record besides its target (see
    :meth:`~ektpcore.Ledger.transition`)."""

    reason: str | None
    batch: str | None
    printer: str | None
    blanks: Sequence[int] | None


def _only(given: Mapping[str, object], allowed: type, call: str) -> None:
    """Keyword arguments pass through ``**`` here, so a misspelt one is refused by name
    instead of being ignored."""
    unknown = sorted(set(given) - set(allowed.__annotations__))
    if unknown:
        raise TypeError(f"{call}() got unexpected keyword arguments: {', '.join(unknown)}")


@dataclass(frozen=True)
class IntakeReport:
    """What :meth:`~ektpcore.Ledger.add_records` did: rows added, and rows refused with the
    reason (invalid NIK, repeated within the intake, already in the ledger)."""

    added: int
    refused: list[tuple[int, str]]


def mask_name(name: str | None) -> str | None:
    """A name with all but the first letter of each word hidden, for reprs and logs."""
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
    card: CardFields = field(default_factory=CardFields)

    def __repr__(self) -> str:
        return (
            f"Record(nik={self.nik!r}, name={mask_name(self.name)!r}, state={self.state.value},"
            f" kecamatan={self.kecamatan!r}, kelurahan={self.kelurahan!r},"
            f" card_serial={self.card_serial}, manifest={self.manifest})"
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a record's history: when, who (name and role), from which state to which,
    why, and the batch, printer and blank it concerned. The repr leaves the reason out: it is
    free text a clerk typed, sealed in a sealed ledger, and may name the citizen, so a log line
    that shows an entry does not carry it."""

    seq: int
    at: str
    actor: str
    role: str
    source: State | None
    target: State
    reason: str | None = field(repr=False)
    batch: str | None
    printer: str | None
    blank: str | None


# -- writes ---------------------------------------------------------------------------------


def add(tx: Transaction, niks: Any, **intake: Unpack[Intake]) -> IntakeReport:
    """See :meth:`~ektpcore.Ledger.add_records`."""
    _only(intake, Intake, "add_records")
    tx.require(Permission.ENROL)
    state = member(State, intake.get("state", State.BIO_CAPTURED), "the state records enter")
    priority = intake.get("priority", 0)
    if state not in _ENTRY_STATES:
        raise InvalidArgumentError(f"records enter as one of {[s.value for s in _ENTRY_STATES]}")
    parsed = parse_niks(niks)
    dedup = dedup_niks(parsed.values, validate=False)
    n = len(parsed)

    def column(values: Sequence[str | None] | None) -> list[str | None]:
        if values is None:
            return [None] * n
        if len(values) != n:
            raise InvalidArgumentError("every column must have one value per NIK")
        return list(values)

    name_col, kec_col = column(intake.get("names")), column(intake.get("kecamatan"))
    kel_col = column(intake.get("kelurahan"))
    check_texts(name_col, "a name", text_rule("name"))
    # Kecamatan and kelurahan stay in clear (the planner and manifests group by them).
    check_texts(kec_col, "a kecamatan", text_rule("kecamatan"))
    check_texts(kel_col, "a kelurahan", text_rule("kelurahan"))
    prio_col = _priorities(priority, n)
    photo_col, signature_col = column(intake.get("photos")), column(intake.get("signatures"))
    check_texts(photo_col, "a photo reference", text_rule("photo"))
    check_texts(signature_col, "a signature reference", text_rule("signature"))
    card_cols = _card_columns(intake.get("card"), column)
    decomposed_sex = parsed.sex
    refused: list[tuple[int, str]] = [
        (int(i), f"invalid NIK: {parsed.message(i)}") for i in np.flatnonzero(parsed.error)
    ]
    refused += [(int(i), "NIK repeated in this intake") for i in np.flatnonzero(dedup.duplicated)]
    candidates = np.flatnonzero(dedup.first)
    # A birth date other than the one its NIK holds: the card would contradict itself.
    contradicted = _birth_dates_not_the_niks(parsed.values, card_cols.get("birth_date"))
    if contradicted is not None:
        refused += [
            (int(i), "the birth date is not the NIK's") for i in candidates if contradicted[i]
        ]
        candidates = candidates[~contradicted[candidates]]
    db, now, actor = tx.db, tx.now, tx.actor
    # The NIK column's value of each row: the NIK, or its blind index in a sealed ledger.
    key_of = np.zeros(n, dtype=np.int64)
    key_of[candidates] = nik_keys(db, parsed.values[candidates].tolist())
    existing = {
        row[0]
        for chunk in range(0, len(candidates), 50_000)
        for row in db.all(
            f"SELECT nik FROM records WHERE {db.member_of('nik')}",
            (db.as_list(key_of[candidates[chunk : chunk + 50_000]].tolist()),),
        )
    }
    keep = [int(i) for i in candidates if int(key_of[i]) not in existing]
    refused += [(int(i), "already in the ledger") for i in candidates if int(key_of[i]) in existing]
    keys = [int(key_of[i]) for i in keep]
    state_value = state.value
    count = len(keep)

    def kept(values: Sequence[Any]) -> list[Any]:
        return [values[i] for i in keep]

    # The rows go as columns (see Column): never built as tuples to be taken apart again.
    columns: list[Column]
    if db.vault is None:
        card_text = [card_json(_card_of(card_cols, i)) for i in keep] if card_cols else Same(None)
        columns = [
            keys,
            kept(name_col),
            decomposed_sex[keep].tolist(),
            kept(kec_col),
            kept(kel_col),
            Same(state_value),
            Same(now),
            kept(photo_col),
            kept(signature_col),
            kept(prio_col),
            Same(None),
            card_text,
        ]
    else:
        sealed = db.vault.seal_columns(
            [int(parsed.values[i]) for i in keep],
            [kept(col) for col in (name_col, photo_col, signature_col)],
            {f: kept(values) for f, values in card_cols.items()},
        )
        columns = [
            keys,
            Same(None),
            Same(None),
            kept(kec_col),
            kept(kel_col),
            Same(state_value),
            Same(now),
            Same(None),
            Same(None),
            kept(prio_col),
            sealed,
            Same(None),
        ]
    db.insert_columns("records", _INTAKE_COLUMNS, columns, count)
    ids = dict(
        db.all(f"SELECT nik, id FROM records WHERE {db.member_of('nik')}", (db.as_list(keys),))
    )
    # The intake rows' reason is ektpcore's own word, kept as it is in a sealed ledger too: it
    # says nothing an intake row's empty from-state does not, and a copy sealed to each row
    # would add a seal and an encoding per record to a bulk intake. The keyed chain covers it
    # like any field.
    intake_reason = "intake"
    who, role = actor.name, actor.role.name
    # The intake rows chain their records' fields as just written (not read back).
    subjects = list(
        zip(
            *(column_values(columns[_INTAKE_COLUMNS.index(c)], count) for c in _SUBJECT_COLUMNS),
            strict=True,
        )
    )
    chain.append(
        db,
        [
            (ids[key], now, who, role, None, state_value, intake_reason, None, None, None)
            for key in keys
        ],
        chain.RECORD_CHAIN,
        subjects=subjects,
        seal=False,
    )
    return IntakeReport(len(keep), sorted(refused))


# The columns an intake writes, in the order of its rows.
_INTAKE_COLUMNS = (
    "nik",
    "name",
    "sex",
    "kecamatan",
    "kelurahan",
    "state",
    "updated_at",
    "photo_ref",
    "signature_ref",
    "priority",
    "sealed",
    "card",
)
assert chain.RECORD_CHAIN.subject is not None
_SUBJECT_COLUMNS = chain.RECORD_CHAIN.subject.columns


def _priorities(priority: object, n: int) -> list[int]:
    """The intake's priority classes, one for all or one per record, each 0 to 255."""
    what = "a priority (a class from 0, most urgent, to 255)"
    if isinstance(priority, (int, np.integer)) and not isinstance(priority, bool):
        return [whole_number(priority, what, most=255)] * n
    if isinstance(priority, (str, bytes)) or not isinstance(priority, Iterable):
        raise InvalidArgumentError(f"{what} is one whole number, or one per NIK")
    classes = priority.tolist() if isinstance(priority, np.ndarray) else list(priority)
    if len(classes) != n:
        raise InvalidArgumentError(f"{what} is one whole number, or one per NIK")
    if not all(type(p) is int and 0 <= p <= 255 for p in classes):
        classes = [whole_number(p, what, most=255) for p in classes]
    return classes


def _birth_dates_not_the_niks(
    niks: npt.NDArray[np.int64], dates: Sequence[str | None] | None
) -> npt.NDArray[np.bool_] | None:
    """Which records' birth dates (``YYYY-MM-DD``, checked) are not the one their NIK holds
    (day, month, the year's last two digits: :func:`~ektpcore.crosscheck_niks`); ``None``
    when the intake gives no birth date. An invalid NIK is left to its own refusal."""
    if dates is None:
        return None
    days = np.array(["NaT" if d is None else d for d in dates], dtype="datetime64[D]")
    flags = crosscheck_niks(niks, days, np.zeros(len(days), dtype=np.uint8))
    wrong = NikMismatch.BIRTH_DAY | NikMismatch.BIRTH_MONTH | NikMismatch.BIRTH_YEAR
    compared = (flags & int(NikMismatch.NIK_INVALID)) == 0
    return np.asarray(compared & ((flags & int(wrong)) != 0), dtype=np.bool_)


def _card_columns(
    given: Mapping[str, Sequence[str | None]] | None,
    column: Any,
) -> dict[str, list[str | None]]:
    """The intake's card fields, each one value per NIK; unknown fields are refused by name
    and dates are checked (``YYYY-MM-DD``)."""
    if not given:
        return {}
    unknown = sorted(set(given) - set(CARD_FIELDS))
    if unknown:
        raise InvalidArgumentError(
            f"no card field {', '.join(unknown)} (fields: {', '.join(CARD_FIELDS)})"
        )
    cols: dict[str, list[str | None]] = {}
    for name, values in given.items():
        given_values = column(values)
        check_texts(given_values, f"the card's {name}", text_rule(name))
        cols[name] = [None if v is None or v.strip() == "" else v.strip() for v in given_values]
    for i, value in enumerate(cols.get("birth_date", [])):
        if value is not None:
            date = _iso_date(value)
            if date is None:
                # Masked as a NIK is: the shape of what was given, never the date itself.
                raise InvalidArgumentError(
                    f"row {i}: birth_date {mask_digits(value)!r} is not a date (YYYY-MM-DD)"
                )
            cols["birth_date"][i] = date
    return cols


def _iso_date(text: str) -> str | None:
    """``text`` as a ``YYYY-MM-DD`` date, or ``None`` (raised outside the parser's own
    error, whose message would quote the date)."""
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def _card_of(cols: Mapping[str, list[str | None]], i: int) -> dict[str, str]:
    return {name: v for name, values in cols.items() if (v := values[i]) is not None}


def valid_niks(niks: Any, what: str) -> list[int]:
    """``niks`` (any column :func:`~ektpcore.parse_niks` takes) as a list of ints; a bulk
    change takes valid NIKs only."""
    values = parse_niks(niks).values
    if (values < 0).any():
        raise InvalidArgumentError(f"{what} takes valid NIKs only")
    return list(values.tolist())


_Row = tuple[int, int, str, str | None]  # a record's id, NIK, state and batch


class Moves:
    """Several transitions in one transaction, written once (``tx.transitions()``): records
    are looked up once, each record's row is updated once to where its last step leaves it,
    and the history rows of every step are chained in one append, in the order and with the
    contents the steps would have written one by one (``verify()`` cannot tell them apart).

    A batch's outcome takes most of its cards through PRINTED, ENCODED and QC_PASSED: three
    look-ups, three updates of the same rows and three history appends become one of each.
    Until :meth:`write` (the end of the ``with`` block), the records' rows still hold their
    states from before the first step; a transition made outside it in the same transaction
    writes these first."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._view: dict[int, _Row] = {}  # NIK -> the record as the steps so far left it
        self._rows: dict[int, tuple[str, str | None]] = {}  # record id -> (state, batch)
        self._queued: set[int] = set()  # record ids whose batch is set (queued by a step)
        self._history: list[tuple[list[Any], int]] = []  # each step's history columns

    def transition(self, niks: Any, target: State, **change: Unpack[Change]) -> int:
        """Moves the records as :meth:`~ektpcore.ledger.Transaction.transition` does, after
        the steps before it; returns how many were moved."""
        values = valid_niks(niks, "transition")
        return transition(
            self._tx, values, member(State, target, "the state to move to"), moves=self, **change
        )

    def rows(self, niks: list[int], known: list[_Row] | None) -> list[_Row]:
        """The records of ``niks`` the ledger holds, as the steps so far left them."""
        if known is not None:
            for row in known:
                self._view.setdefault(row[1], row)
        missing = [v for v in niks if v not in self._view]
        if missing:
            for row in lookup(self._tx.db, missing):
                self._view[row[1]] = row
        view = self._view
        return [view[v] for v in dict.fromkeys(niks) if v in view]

    def moved(self, rows: list[_Row], target: State, batch: str | None, columns: list[Any]) -> None:
        """A step's records now in ``target`` (queued in ``batch``), its history columns."""
        to = target.value
        queued = target is State.QUEUED
        for rid, nik, _, in_batch in rows:
            kept = batch if queued else in_batch
            self._view[nik] = (rid, nik, to, kept)
            self._rows[rid] = (to, kept)
            if queued:
                self._queued.add(rid)
        self._history.append((columns, len(rows)))

    def write_records(self) -> None:
        """Updates the records moved so far (their rows only, not yet their history)."""
        if not self._rows:
            return
        db, now = self._tx.db, self._tx.now
        groups: dict[tuple[str, str | None, bool], list[int]] = {}
        for rid, (state, batch) in self._rows.items():
            queued = rid in self._queued
            groups.setdefault((state, batch if queued else None, queued), []).append(rid)
        for (state, batch, queued), ids in groups.items():
            ids.sort()
            _update(db, now, ids, state, batch if queued else _KEEP)
        self._rows.clear()
        self._queued.clear()

    def write(self) -> None:
        """Writes the records' rows and the steps' history rows, then starts afresh."""
        self.write_records()
        parts, self._history = self._history, []
        count = sum(n for _, n in parts)
        if count:
            columns = [
                _joined([(cols[k], n) for cols, n in parts]) for k in range(len(parts[0][0]))
            ]
            chain.append_columns(self._tx.db, columns, count, chain.RECORD_CHAIN)
        self._view.clear()


_KEEP = object()  # the batch a record is in stays as it is


def _update(db: Session, now: str, ids: list[int], state: str, batch: object) -> None:
    """Records ``ids`` (in the table's order) now in ``state``, and in ``batch`` unless
    ``_KEEP``."""
    if batch is _KEEP:
        db.execute(
            "UPDATE records SET state = ?, updated_at = ? WHERE " + db.member_of("id"),
            (state, now, db.as_list(ids)),
        )
    else:
        db.execute(
            "UPDATE records SET state = ?, updated_at = ?, batch = ? WHERE " + db.member_of("id"),
            (state, now, batch, db.as_list(ids)),
        )


def _joined(parts: list[tuple[Any, int]]) -> Any:
    """One history column of several steps': one value bound once when every step's rows share
    it, else each row's value in order."""
    first = parts[0][0]
    if isinstance(first, Same) and all(
        isinstance(c, Same) and c.value == first.value and type(c.value) is type(first.value)
        for c, _ in parts
    ):
        return first
    out: list[Any] = []
    for column, n in parts:
        out.extend([column.value] * n if isinstance(column, Same) else column)
    return out


def transition(
    tx: Transaction,
    niks: list[int],
    target: State,
    *,
    known: list[_Row] | None = None,
    moves: Moves | None = None,
    **change: Unpack[Change],
) -> int:
    """See :meth:`~ektpcore.Ledger.transition`; ``niks`` are valid NIKs as ints. ``known``:
    each record's (id, NIK, state, batch) as the caller has just read them in this
    transaction (a manifest's cards, read by the manifest), instead of looking each NIK up.
    ``moves``: a step of several written once (see :class:`Moves`); without it, the change is
    written before this returns."""
    _only(change, Change, "transition")
    pending = tx.moves
    if moves is None and pending is not None:
        # Steps of tx.transitions() not yet written: this change reads and writes after them.
        pending.write()
    tx.require(*RECORD_PERMISSIONS, what="change records")
    reason, batch = change.get("reason"), change.get("batch")
    printer, blanks = change.get("printer"), change.get("blanks")
    db, now, actor = tx.db, tx.now, tx.actor
    check_free_text(reason, "a reason")
    check_label(batch, "a batch's name")
    check_label(printer, "a printer's name")
    if moves is None:
        rows = lookup(db, niks) if known is None else list(known)
    else:
        rows = moves.rows(niks, known)
    # In the table's order: the records' and the history's index pages are then written one
    # after the other rather than all over the file (a bulk change touches 10^5 rows).
    rows.sort()
    # Enum members looked up by value from a dict: bulk changes touch 10^5 rows.
    try:
        found = {nik: (rid, _STATES[state]) for rid, nik, state, _ in rows}
    except KeyError:
        # Not shown: text written into the state column by hand could be anything.
        raise LedgerError(
            "a record holds a state ektpcore does not know (its database was edited by"
            " hand): verify() names it; nothing was changed"
        ) from None
    if len(found) != len(set(niks)):
        for v in niks:
            if v not in found:
                raise UnknownRecordError(f"no record with NIK {mask_nik(v)} in the ledger")
    if tx.station:
        # An unattended station's token moves only the records of the batch it claims.
        touched = {in_batch for _, _, _, in_batch in rows}
        tx.require_claimed(touched if batch is None else touched | {batch}, "change a record")
    if tx.beside:
        claimed = None if tx.claim is None else tx.claim.batch
        for _, nik, _, in_batch in rows:
            if in_batch != claimed:
                raise InvalidArgumentError(
                    f"record {mask_nik(nik)} is not in batch {claimed}: a station's"
                    " transaction changes only the batch it holds"
                )
    # Batches that records leave the queue of: no desk may take them while a station holds
    # the batch, and their spare blanks go back to stock (printed or in-doubt cards keep
    # theirs, so only the other ways out of the queue return any).
    _check_journal(tx, niks)
    leaving: dict[str, int] = {}
    if target is not State.QUEUED:
        queued = State.QUEUED.value
        for _, nik, state, in_batch in rows:
            if state == queued and in_batch is not None:
                leaving.setdefault(in_batch, nik)
        _check_claims(tx, leaving)
    # The rule depends on the source state only: check it once per state present (the NIK
    # an error names is found only then).
    for value in sorted({state for _, _, state, _ in rows}):
        source = _STATES[value]
        nik = next(nik for _, nik, state, _ in rows if state == value)
        rule = transition_rule(source, target)
        if rule is None:
            raise IllegalTransitionError(
                mask_nik(nik), source, target, "the lifecycle does not allow it"
            )
        tx.require(rule.permission)
        if rule.requested_by is not None and niks != [tx.approving]:
            raise ApprovalRequiredError(
                f"record {mask_nik(nik)}: '{rule.rule}' takes two people: one requests it"
                " (approvals.request), another approves it"
            )
        if rule.reason_required and not meaningful(reason):
            raise IllegalTransitionError(
                mask_nik(nik), source, target, f"'{rule.rule}' needs a reason"
            )
    serial_of = _bind_blanks(tx, niks, found, target, blanks, reason, batch)
    if target is State.PRINTED and printer is not None:
        ribbons.consume(db, printer, len(found))
    # Enum values looked up once, not once per record.
    who, role, to = actor.name, actor.role.name, target.value
    rid_list = [rid for rid, _, _, _ in rows]
    # Sealed by chain.append_columns in a sealed ledger, one value per row, bound to it (rows
    # of one change must not show which ones share a reason).
    why = Same(reason)
    serials = [serial_of.get(rid) for rid in rid_list] if serial_of else Same(None)
    columns: list[list[Any] | Same] = [
        rid_list,
        Same(now),
        Same(who),
        Same(role),
        # A change usually moves records out of one state: one value, bound once.
        same_or_each([state for _, _, state, _ in rows]),
        Same(to),
        why,
        Same(batch),
        Same(printer),
        serials,
    ]
    if moves is None:
        _update(db, now, rid_list, to, batch if target is State.QUEUED else _KEEP)
        chain.append_columns(db, columns, len(rows), chain.RECORD_CHAIN)
    else:
        moves.moved(rows, target, batch, columns)
        if leaving and target not in (State.PRINTED, State.IN_DOUBT):
            # Returning spare blanks counts the records still waiting in their batch.
            moves.write_records()
    if target not in (State.PRINTED, State.IN_DOUBT):
        for left in leaving:
            _return_spare_blanks(tx, left)
    if target is State.PRINT_READY:
        # A reprint of a lost or damaged card is served after first-time cards.
        reprints = [rid for rid, source in found.values() if source is State.ISSUED]
        if reprints:
            db.execute(
                "UPDATE records SET priority = 2 WHERE " + db.member_of("id"),
                (db.as_list(reprints),),
            )
    return len(found)


def lookup(db: Session, niks: list[int]) -> list[tuple[int, int, str, str | None]]:
    """Each record's (id, NIK, state, batch) of ``niks`` that the ledger holds."""
    keys = nik_keys(db, niks)
    nik_of = dict(zip(keys, niks, strict=True))
    return [
        (rid, nik_of[key], state, in_batch)
        for rid, key, state, in_batch in db.all(
            "SELECT r.id, r.nik, r.state, r.batch FROM records AS r WHERE " + db.member_of("r.nik"),
            (db.as_list(keys),),
        )
    ]


def _check_journal(tx: Transaction, niks: list[int]) -> None:
    """A card in the print stations' journal is the journal's: one sent to a printer is
    settled by its station under the batch's claim, one in doubt by :func:`journal.settle`
    (which accounts for the blank that went through the printer). Any other change to it is
    refused, so no card leaves the journal with its blank unaccounted for."""
    if tx.journal_step:
        return
    db = tx.db
    # The journal holds a few cards at most; look into it only when it holds any (a station
    # settling its card knows it does).
    if tx.claim is None and db.one("SELECT 1 FROM station_journal LIMIT 1") is None:
        return
    keys = nik_keys(db, niks)
    nik_of = dict(zip(keys, niks, strict=True))
    rows = db.all(
        "SELECT r.nik, j.batch, j.printer, j.state FROM station_journal j JOIN records r"
        " ON r.id = j.record_id WHERE " + db.member_of("r.nik"),
        (db.as_list(keys),),
    )
    for key, batch, printer, state in rows:
        nik = nik_of[key]
        if state == "sent" and tx.claim is not None and tx.claim.batch == batch:
            continue  # the station settling its own card
        if state == "sent":
            raise RecordClaimedError(
                f"record {mask_nik(nik)}'s card was sent to printer {printer} and its outcome"
                f" is not recorded yet; it becomes IN_DOUBT for a supervisor to settle when"
                f" batch {batch} is next run, claimed or released"
            )
        raise RecordClaimedError(
            f"record {mask_nik(nik)}'s card is in doubt at printer {printer}: a supervisor"
            " settles it with settle (printed or not), which accounts for its blank"
        )


def _check_claims(tx: Transaction, leaving: dict[str, int]) -> None:
    """A record waiting in a batch that a station holds may be on its way through the printer:
    only the holder, writing under its claim, may move it out of the queue."""
    if not leaving or tx.beside:
        return  # a station beside others changes only the batch it holds (checked)
    db = tx.db
    held = db.all(
        "SELECT batch, station, lease_until FROM batch_claims WHERE released_at IS NULL AND "
        + db.member_of("batch"),
        (db.as_list(sorted(leaving)),),
    )
    for batch, station, lease_until in held:
        if tx.claim is not None and tx.claim.batch == batch:
            continue
        raise RecordClaimedError(
            f"record {mask_nik(leaving[batch])} waits in batch {batch}, which station"
            f" {station} is printing (lease until {wib_text(lease_until)});"
            " wait until the station has settled it, or ask a supervisor to release the claim"
        )


def _return_spare_blanks(tx: Transaction, batch: str) -> None:
    """Keeps a batch's allocation equal to the records still waiting in it: blanks allocated
    to ``batch`` beyond them (records taken off the batch) go back to stock, highest serials
    first. Blanks a station's journal holds are the cards in flight and stay."""
    db = tx.db
    free = [
        int(r[0])
        for r in db.all(
            "SELECT serial FROM blanks WHERE batch = ? AND state = ? AND serial NOT IN"
            " (SELECT serial FROM station_journal) ORDER BY serial DESC",
            (batch, BlankState.ALLOCATED.value),
        )
    ]
    waiting_row = db.one(
        "SELECT count(*) FROM records r WHERE r.batch = ? AND r.state = ? AND NOT EXISTS"
        " (SELECT 1 FROM station_journal j WHERE j.record_id = r.id)",
        (batch, State.QUEUED.value),
    )
    waiting = int(waiting_row[0]) if waiting_row else 0
    spare = free[: max(0, len(free) - waiting)]
    if spare:
        _blanks.move(
            tx,
            spare,
            BlankState.IN_STOCK,
            reason=f"records taken off batch {batch}",
            allowed={(BlankState.ALLOCATED, BlankState.IN_STOCK): Permission.PRINT},
        )


def _valid_cards(db: Session, record_ids: list[int]) -> dict[int, int]:
    """The serial of each record's valid card, for those that hold one."""
    rows = db.all(
        "SELECT c.record_id, c.serial FROM cards c WHERE c.valid = 1 AND "
        + db.member_of("c.record_id"),
        (db.as_list(record_ids),),
    )
    return {int(rid): int(serial) for rid, serial in rows}


def _bind_blanks(
    tx: Transaction,
    niks: list[int],
    found: dict[int, tuple[int, State]],
    target: State,
    blanks: Sequence[int] | None,
    reason: str | None,
    batch: str | None,
) -> dict[int, int]:
    """The blank-card side of a transition; returns the serial bound per record id."""
    db, now = tx.db, tx.now
    if target is State.PRINTED and blanks is None:
        # An in-doubt card found whole keeps the card it already has.
        held = _valid_cards(db, [rid for rid, _ in found.values()])
        if len(held) == len(found):
            return held
    if target is State.PRINTED:
        if blanks is None or len(blanks) != len(niks) or len(set(niks)) != len(niks):
            raise InvalidArgumentError(
                "printing binds one blank per record: pass blanks=[serial, ...] with one "
                "serial per NIK, in the same order"
            )
        record_ids = [found[nik][0] for nik in niks]
        serials = [int(b) for b in blanks]
        _blanks.move(
            tx,
            serials,
            BlankState.USED,
            batch=batch,
            allowed={(BlankState.ALLOCATED, BlankState.USED): Permission.PRINT},
            record_ids=record_ids,
        )
        db.insert_columns(
            "cards",
            ("record_id", "serial", "created_at"),
            [record_ids, serials, Same(now)],
            len(serials),
        )
        return dict(zip(record_ids, serials, strict=True))
    if blanks is not None:
        raise InvalidArgumentError("blanks are given only when printing")
    if target not in (State.PRINT_READY, State.CANCELLED):
        return {}
    ids = [rid for rid, source in found.values() if source in CARD_HOLDING]
    if not ids:
        return {}
    cards = list(_valid_cards(db, ids).items())
    db.executemany(
        "UPDATE cards SET valid = 0, invalidated_at = ?, reason = ? WHERE serial = ?",
        [(now, seal_text(db, reason, "cards.reason", serial), serial) for _, serial in cards],
    )
    source_of = dict(found.values())
    spoiled = [
        serial
        for rid, serial in cards
        if target is State.PRINT_READY and source_of[rid] is not State.ISSUED
    ]
    voided = [serial for rid, serial in cards if target is State.CANCELLED]
    used_to = {
        (BlankState.USED, BlankState.SPOILED): Permission.PRINT,
        (BlankState.USED, BlankState.VOIDED): Permission.VOID,
    }
    if spoiled:
        _blanks.move(tx, spoiled, BlankState.SPOILED, reason=reason, allowed=used_to)
    if voided:
        _blanks.move(tx, voided, BlankState.VOIDED, reason=reason, allowed=used_to)
    return {}


# -- reads ----------------------------------------------------------------------------------

_RECORD_QUERY = (
    "SELECT r.nik, r.name, r.state, r.kecamatan, r.kelurahan,"
    " (SELECT c.serial FROM cards c WHERE c.record_id = r.id AND c.valid = 1),"
    " (SELECT max(i.manifest_id) FROM manifest_items i WHERE i.record_id = r.id),"
    " r.updated_at, r.photo_ref, r.signature_ref, r.sealed, r.card FROM records r"
)


def _records(db: Session, rows: Sequence[Sequence[Any]]) -> list[Record]:
    """Records from rows of ``_RECORD_QUERY``, their sealed fields opened in one go."""
    if db.vault is None:
        people = [
            (int(r[0]), Person(r[1], r[8], r[9], json.loads(r[11]) if r[11] else {})) for r in rows
        ]
    else:
        people = db.vault.open_records([r[0] for r in rows], [r[10] for r in rows])
    objects = nik_objects([nik for nik, _ in people])
    return [
        Record(
            nik,
            person.name,
            State(state),
            kec,
            kel,
            serial,
            manifest,
            updated,
            person.photo_ref,
            person.signature_ref,
            CardFields(**person.card),
        )
        for nik, (_, person), (_, _, state, kec, kel, serial, manifest, updated, *_) in zip(
            objects, people, rows, strict=True
        )
    ]


def _one_nik(nik: Any) -> int:
    return int(parse_niks([nik]).values[0])


def _key(db: Session, nik: Any) -> int:
    """The NIK column's value for one NIK given in any form."""
    return nik_keys(db, [_one_nik(nik)])[0]


def unknown(nik: Any) -> UnknownRecordError:
    return UnknownRecordError(f"no record with NIK {mask_nik(nik)} in the ledger")


def state_of(db: Session, nik: Any) -> State:
    row = db.one("SELECT state FROM records WHERE nik = ?", (_key(db, nik),))
    if row is None:
        raise unknown(nik)
    return State(row[0])


def where_is(db: Session, nik: Any) -> Record:
    row = db.one(f"{_RECORD_QUERY} WHERE r.nik = ?", (_key(db, nik),))
    if row is None:
        raise unknown(nik)
    return _records(db, [row])[0]


def in_batch(db: Session, batch: str, *, current: bool = False) -> list[Record]:
    if current:  # the batch each record was last queued in
        rows = db.all(f"{_RECORD_QUERY} WHERE r.batch = ? ORDER BY r.id", (batch,))
    else:
        rows = db.all(
            f"{_RECORD_QUERY} WHERE r.id IN (SELECT record_id FROM history WHERE batch = ?)"
            " ORDER BY r.id",
            (batch,),
        )
    return sorted(_records(db, rows), key=lambda r: int(r.nik))


def on_blank(db: Session, serial: int) -> Record:
    """The record a card was printed for, by the serial of the blank it is on."""
    serial = whole_number(serial, "a blank's serial")
    row = db.one(
        f"{_RECORD_QUERY} WHERE r.id = (SELECT c.record_id FROM cards c WHERE c.serial = ?)",
        (serial,),
    )
    if row is None:
        raise UnknownRecordError(f"no card was printed on blank {serial}")
    return _records(db, [row])[0]


def listed(db: Session, states: Sequence[State] = ()) -> list[Record]:
    """Every record (in ``states``, when given), in intake order."""
    where, params = "", [member(State, s, "a state").value for s in states]
    if params:
        where = f" WHERE r.state IN ({','.join('?' * len(params))})"
    return _records(db, db.all(f"{_RECORD_QUERY}{where} ORDER BY r.id", params))


def queued(db: Session, batch: str, printer: str) -> list[Record]:
    """The batch's records still ``QUEUED`` for ``printer``, in print order: by kecamatan,
    then kelurahan, so the cards leave the printer grouped."""
    q = State.QUEUED.value
    # From the batch's records (an index), each with the printer of its latest queueing (an
    # index look-up per record): linear in the batch whatever the server's statistics say
    # (a join from the history side went quadratic on a freshly filled table).
    rows = db.all(
        f"{_RECORD_QUERY} WHERE r.state = ? AND r.batch = ? AND (SELECT h.printer"
        " FROM history h WHERE h.record_id = r.id AND h.to_state = ?"
        " ORDER BY h.seq DESC LIMIT 1) = ?"
        " ORDER BY r.kecamatan NULLS FIRST, r.kelurahan NULLS FIRST, r.nik",
        (q, batch, q, printer),
    )
    return _records(db, rows)


def batch_printers(db: Session, batch: str) -> dict[str, int]:
    """How many of ``batch``'s records wait ``QUEUED`` at each printer."""
    rows = db.all(
        "SELECT h.printer, count(DISTINCT r.id) FROM records r JOIN history h"
        " ON h.record_id = r.id WHERE r.state = ? AND r.batch = ? AND h.to_state = ?"
        " AND h.batch = ? GROUP BY h.printer",
        (State.QUEUED.value, batch, State.QUEUED.value, batch),
    )
    return {str(p): int(n) for p, n in rows if p is not None}


def print_ready(db: Session) -> dict[str, npt.NDArray[Any]]:
    """The ``PRINT_READY`` records as columns for the planner, in intake order."""
    rows = db.all(
        "SELECT nik, priority, kecamatan, kelurahan, sealed FROM records WHERE state = ?"
        " ORDER BY id",
        (State.PRINT_READY.value,),
    )
    niks = niks_of(db, [r[0] for r in rows], [r[4] for r in rows])
    return {
        "nik": np.array(niks, dtype=np.int64),
        "priority": np.array([r[1] for r in rows], dtype=np.int64),
        "kecamatan": np.array([r[2] or "" for r in rows], dtype=object),
        "kelurahan": np.array([r[3] or "" for r in rows], dtype=object),
    }


def _history_entries(db: Session, rows: Sequence[Sequence[Any]]) -> list[HistoryEntry]:
    reasons = open_texts(db, [row[6] for row in rows], "history.reason", [row[0] for row in rows])
    return [
        HistoryEntry(
            seq, at, who, role, State(src) if src else None, State(dst), why, batch, printer, blank
        )
        for (seq, at, who, role, src, dst, _, batch, printer, blank), why in zip(
            rows, reasons, strict=True
        )
    ]


_HISTORY_COLUMNS = (
    "h.seq, h.at, h.actor, h.role, h.from_state, h.to_state, h.reason, h.batch, h.printer, h.blank"
)


def events(db: Session, start: _dt.datetime, end: _dt.datetime) -> list[tuple[Nik, HistoryEntry]]:
    lo, hi = (t.astimezone(_dt.UTC).isoformat(timespec="microseconds") for t in (start, end))
    rows = db.all(
        f"SELECT r.nik, r.sealed, {_HISTORY_COLUMNS} FROM history h JOIN records r"
        " ON r.id = h.record_id WHERE h.at >= ? AND h.at < ? ORDER BY h.seq",
        (lo, hi),
    )
    niks = niks_of(db, [row[0] for row in rows], [row[1] for row in rows])
    entries = _history_entries(db, [row[2:] for row in rows])
    return list(zip(nik_objects(niks), entries, strict=True))


def transition_counts(
    db: Session, start: _dt.datetime, end: _dt.datetime
) -> dict[tuple[State, str | None], int]:
    """See :meth:`~ektpcore.Ledger.transition_counts`."""
    rows = db.all(
        "SELECT to_state, printer, count(*) FROM history WHERE at >= ? AND at < ?"
        " GROUP BY to_state, printer",
        stamp_window(start, end),
    )
    return {(State(state), printer): int(n) for state, printer, n in rows}


def history(db: Session, nik: Any) -> list[HistoryEntry]:
    rows = db.all(
        f"SELECT {_HISTORY_COLUMNS} FROM history h JOIN records r ON r.id = h.record_id"
        " WHERE r.nik = ? ORDER BY h.seq",
        (_key(db, nik),),
    )
    if not rows:
        raise unknown(nik)
    return _history_entries(db, rows)


def issued_niks(db: Session) -> npt.NDArray[np.int64]:
    """NIKs with a card or a card in progress (queued and beyond, not cancelled)."""
    marks = ",".join("?" * len(_NOT_ISSUED))
    rows = db.all(
        f"SELECT nik, sealed FROM records WHERE state NOT IN ({marks})",
        [s.value for s in _NOT_ISSUED],
    )
    return np.array(niks_of(db, [r[0] for r in rows], [r[1] for r in rows]), dtype=np.int64)


_GROUPABLE = ("state", "kecamatan", "kelurahan")


def counts_by(db: Session, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of ``(*columns, count)``; ``columns`` are checked against the groupable ones
    before they reach the SQL text."""
    if not columns or any(c not in _GROUPABLE for c in columns):
        raise InvalidArgumentError(f"group by one or more of {_GROUPABLE}")
    cols = ", ".join(columns)
    order = ", ".join(f"{c} NULLS FIRST" for c in columns)
    return db.all(f"SELECT {cols}, count(*) FROM records GROUP BY {cols} ORDER BY {order}")


REVEALED = "personal data shown"
"""The audit event of :func:`reveal`: a record's NIK and name shown in full to someone."""


def _subject(record_id: int) -> str:
    return f"record {record_id}"


REVEAL_PURPOSES = (
    "citizen at the desk",
    "data correction",
    "card hand-over",
    "complaint or inquiry",
    "supervision or audit",
)
"""Why a record's personal data may be shown in full (:func:`reveal`). A fixed list, not free
text: the audit keeps the purpose in clear, even in a sealed ledger, so it must never be able
to name anyone."""


def reveal(tx: Transaction, nik: Any, purpose: str) -> Record:
    """See :meth:`~ektpcore.Ledger.reveal`."""
    from .users import audit

    tx.require(Permission.READ)
    if purpose not in REVEAL_PURPOSES:
        listed = ", ".join(REVEAL_PURPOSES)
        raise InvalidArgumentError(
            f"showing a record's personal data needs a purpose, one of: {listed}"
        )
    row = tx.db.one("SELECT id FROM records WHERE nik = ?", (_key(tx.db, nik),))
    if row is None:
        raise unknown(nik)
    actor = tx.actor
    audit(tx.db, tx.now, (actor.name, actor.role.name), REVEALED, _subject(int(row[0])), purpose)
    return where_is(tx.db, nik)


@dataclass(frozen=True)
class Reveal:
    """One showing of a record's personal data in full: when (UTC, ISO 8601), to whom (name
    and role), and the purpose they gave."""

    at: str
    actor: str
    role: str
    purpose: str | None


def reveals(db: Session, nik: Any) -> list[Reveal]:
    """See :meth:`~ektpcore.Ledger.reveals`."""
    row = db.one("SELECT id FROM records WHERE nik = ?", (_key(db, nik),))
    if row is None:
        raise unknown(nik)
    rows = db.all(
        "SELECT at, actor, role, detail FROM audit WHERE event = ? AND subject = ? ORDER BY seq",
        (REVEALED, _subject(int(row[0]))),
    )
    return [Reveal(str(a), str(b), str(c), None if d is None else str(d)) for a, b, c, d in rows]
