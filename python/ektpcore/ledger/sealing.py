"""What a sealed ledger keeps unreadable, and how it still finds a record by NIK.

In a sealed ledger (``Ledger(path, keys=...)``) a record's NIK column holds the NIK's keyed
blind index (:meth:`~ektpcore._ektpcore.KeyRing.blind`), never the NIK; the NIK, name, birth
data, photo and signature references travel together in one sealed value (``records.sealed``,
AES-256-GCM, bound to the row's blind index so that it cannot be moved to another row), and
free text (reasons, identity checks, receivers) is sealed where it is stored. Exact look-ups
and dedup by NIK go through the index; nothing is decrypted to find a row.

Every function here takes the :class:`~ektpcore.ledger.store.Session` it works in; on an open
ledger (no keys, ``db.vault is None``) it passes values through unchanged, so the rest of the
package has one code path for both.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from .. import _ektpcore
from .._ektpcore import KeyRing, sealed_format, sealed_key_id
from ..chip.keys import KeyHolder
from ..errors import InvalidArgumentError, LedgerKeyError, SealedDataError
from ..nik import has_nik_shape
from .store import Session

if TYPE_CHECKING:
    from ..keys import LedgerKeys
    from ..lifecycle import Actor
    from .core import Ledger
    from .store import LedgerStore

__all__ = [
    "CARD_FIELDS",
    "Person",
    "Rotation",
    "RotationReport",
    "TextColumn",
    "Vault",
    "check",
    "check_free_text",
    "check_label",
    "check_text",
    "check_texts",
    "member",
    "text_rule",
    "whole_number",
    "whole_numbers",
]

_TEXT_PREFIX = "sealed:"

FREE_TEXT_LIMIT = 2_000
"""The longest free text (a reason, a note, an identity check) the ledger keeps."""


# Control characters (C0, DEL, C1, among them ESC, BEL, CR and line breaks), line and
# paragraph separators, and the bidirectional formatting characters: the overrides and
# isolates, which reorder the text shown after them, and the marks (LRM, RLM, ALM), which
# are invisible and move neutral characters about them.
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# The same less the line breaks and the tab a multi-line field may hold.
_CONTROL_BUT_BREAKS = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)

NAME_LIMIT = 200
"""The longest name, kecamatan, kelurahan or card field (place of birth, address, occupation,
...) the ledger takes, in characters. A card prints a name on one or two lines of about 30
characters, an address on two, and SIAK's fields are shorter still; 200 leaves room for every
real value, and refuses a cell of thousands that can only be a mistake or an attack."""

REFERENCE_LIMIT = 1_000
"""The longest photo or signature reference (a path or a URI) the ledger takes, in
characters."""


@dataclass(frozen=True)
class TextRule:
    """What the ledger takes in one kind of text a record holds: at most ``limit``
    characters; no control character, line separator or bidirectional formatting character,
    except, with ``breaks``, line breaks (LF, CR) and tabs (an address exported from SIAK may
    run over two lines); with ``nik``, no NIK-shaped number."""

    limit: int
    breaks: bool = False
    nik: bool = False

    def fault(self, text: str) -> str | None:
        """Why ``text`` is refused under this rule (without quoting it), or ``None``: a lone
        surrogate (:func:`check_text`) too."""
        surrogate = _surrogate(text)
        if surrogate is not None:
            return surrogate
        if len(text) > self.limit:
            return f"is longer than {self.limit:,} characters ({len(text):,})"
        found = (_CONTROL_BUT_BREAKS if self.breaks else _CONTROL).search(text)
        if found is not None:
            kept = "visible characters and line breaks" if self.breaks else "one line of visible"
            return f"holds a control character (U+{ord(found.group()):04X}); it is {kept}" + (
                "" if self.breaks else " characters"
            )
        if self.nik and _may_hold_nik(text) and has_nik_shape(text):
            return "may not hold a NIK-shaped number"
        return None


_ASCII_DIGIT = re.compile(r"[0-9]")


def _may_hold_nik(text: str) -> bool:
    """Whether ``text`` may hold a NIK-shaped number: plain ASCII text (almost every name and
    place) needs sixteen ASCII digits for one, counted far faster than
    :func:`~ektpcore.nik.has_nik_shape` reads it; other text goes to that full check."""
    return not text.isascii() or len(_ASCII_DIGIT.findall(text)) >= 16


TEXT_RULES: dict[str, TextRule] = {
    "name": TextRule(NAME_LIMIT, nik=True),
    "kecamatan": TextRule(NAME_LIMIT, nik=True),
    "kelurahan": TextRule(NAME_LIMIT, nik=True),
    "photo": TextRule(REFERENCE_LIMIT),
    "signature": TextRule(REFERENCE_LIMIT),
    "address": TextRule(NAME_LIMIT, breaks=True),
}
"""The rule of each text a record holds, by the intake's field name (see :func:`text_rule`):
one place for the library's intake (:func:`check_texts`) and a sheet's (``ledger import``,
which leaves a row out with the rule's reason)."""


def text_rule(field: str) -> TextRule:
    """The rule of ``field`` (a card field without a rule of its own: one line, at most
    :data:`NAME_LIMIT` characters)."""
    return TEXT_RULES.get(field, _CARD_FIELD)


_CARD_FIELD = TextRule(NAME_LIMIT)


# -- what the ledger takes: every text and number at its edges is checked here -------------
#
# The ledger's calls take text and numbers from applications, sheets and forms. Each is
# checked once, here, with the argument's name in the error, so no value reaches the
# database driver or a hash that it would fail on with an error of its own (an
# OverflowError, a UnicodeEncodeError, a TypeError), and no text that would act on the
# terminal or page showing it is kept.

_LARGEST = 2**63 - 1
"""The largest whole number the ledger's stores keep (a signed 64-bit integer)."""


def _kind(value: object) -> str:
    return "None" if value is None else type(value).__name__


def check_text(value: object, what: str) -> str:
    """``value`` when it is text the ledger can keep: a :class:`str` (not a number, bytes or
    ``None``) whose every character can be stored; a lone surrogate (half of a UTF-16 pair,
    as a badly decoded file gives) is no character, and no database takes it. Else
    :class:`~ektpcore.InvalidArgumentError` naming ``what``."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} is text, not {_kind(value)}")
    fault = _surrogate(value)
    if fault is not None:
        raise InvalidArgumentError(f"{what} {fault}")
    return value


def _surrogate(text: str) -> str | None:
    if text.isascii():
        return None
    bad = _SURROGATE.search(text)
    if bad is None:
        return None
    return (
        f"holds a lone surrogate (U+{ord(bad.group()):04X}), which is no character: the text"
        " was decoded wrongly"
    )


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _control(text: str, what: str, allowed: str) -> None:
    found = _CONTROL.search(text)
    if found is not None:
        raise InvalidArgumentError(
            f"{what} holds a control character (U+{ord(found.group()):04X}); {allowed}"
        )


def check_texts(values: Sequence[object], what: str, rule: TextRule) -> None:
    """A column of an intake (one value per record, ``None`` where absent): each value text
    as :func:`check_text` says and as ``rule`` says (length, control characters, NIK-shaped
    numbers). A refusal names the column and the row. Checked on the column joined where it
    can be, so a large intake pays for one pass, not one call per value."""
    present = [v for v in values if v is not None]
    try:
        joined = "".join(present)  # type: ignore[arg-type]
    except TypeError:
        joined = None
    control = _CONTROL_BUT_BREAKS if rule.breaks else _CONTROL
    if (
        joined is None
        or (not joined.isascii() and _SURROGATE.search(joined))
        or control.search(joined)
        or max(map(len, present), default=0) > rule.limit  # type: ignore[arg-type]
    ):
        for i, value in enumerate(values):
            if value is not None:
                fault = rule.fault(check_text(value, f"{what} (row {i})"))
                if fault is not None:
                    raise InvalidArgumentError(f"{what} (row {i}) {fault}")
    elif rule.nik:
        shaped = _nik_shaped(present, joined)  # type: ignore[arg-type]
        if shaped:
            i = next(i for i, v in enumerate(values) if v in shaped)
            raise InvalidArgumentError(f"{what} (row {i}) may not hold a NIK-shaped number")


def _nik_shaped(values: list[str], joined: str) -> set[str]:
    """The ``values`` (``joined`` is their concatenation) that hold a NIK-shaped number. A
    column in ASCII (almost every column of names and places) has its digits counted per
    value in one numpy pass, and only a value with sixteen or more goes to
    :func:`~ektpcore.nik.has_nik_shape`, which reads character by character; any other
    column goes to it once per distinct value (a kecamatan repeats)."""
    if joined.isascii():
        text = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        digits = np.concatenate(([0], np.cumsum((text >= 0x30) & (text <= 0x39))))
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        candidates = {values[i] for i in np.flatnonzero(digits[ends] - digits[starts] >= 16)}
    else:
        candidates = set(values)
    return {v for v in candidates if has_nik_shape(v)}


def whole_number(value: object, what: str, *, least: int = 0, most: int = _LARGEST) -> int:
    """``value`` as an ``int`` when it is a whole number (an ``int`` or a numpy integer, not
    a bool, a float or text) from ``least`` to ``most`` (at most what the stores keep, a
    signed 64-bit integer); else :class:`~ektpcore.InvalidArgumentError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"{what} is a whole number, not {_kind(value)}")
    number = int(value)
    if not least <= number <= most:
        raise InvalidArgumentError(f"{what} is a whole number from {least:,} to {most:,}")
    return number


_E = TypeVar("_E", bound=enum.Enum)


def member(kind: type[_E], value: object, what: str) -> _E:
    """``value`` as a member of the enumeration ``kind`` (given as the member or its value);
    anything else is :class:`~ektpcore.InvalidArgumentError` naming ``what`` and the members."""
    try:
        return kind(value)
    except (ValueError, TypeError):
        pass
    names = ", ".join(str(m.value) for m in kind)
    raise InvalidArgumentError(f"{what} is one of {names}; not {_kind(value)} {str(value)[:40]!r}")


def whole_numbers(values: object, what: str, *, least: int = 0, most: int = _LARGEST) -> list[int]:
    """A sequence of :func:`whole_number` values, as a list."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidArgumentError(f"{what} is given in a sequence, not {_kind(values)}")
    return [whole_number(v, what, least=least, most=most) for v in values]


def check_free_text(text: str | None, what: str) -> None:
    """Refuses free text (a reason, a note, a receiver, an identity check) that is not text
    the ledger can keep (:func:`check_text`), holds a NIK-shaped number (see
    :func:`~ektpcore.nik.has_nik_shape`: sixteen digits in a row or in groups, in any
    script), a control character, or is longer than :data:`FREE_TEXT_LIMIT`. A NIK in free
    text would be personal data outside the fields that are sealed and indexed; a reason
    names the card by its blank serial or batch, never by the citizen's NIK. A control
    character (an escape sequence, a bell, a line break, a right-to-left override) would act
    on the terminal or page that shows the history rather than be read: free text is one
    line of visible characters."""
    if text is None:
        return
    check_text(text, what)
    if len(text) > FREE_TEXT_LIMIT:
        raise InvalidArgumentError(f"{what} is longer than {FREE_TEXT_LIMIT:,} characters")
    if has_nik_shape(text):
        raise InvalidArgumentError(
            f"{what} holds a NIK-shaped number; write it without the NIK (the record is"
            " already named by the change)"
        )
    found = _CONTROL.search(text)
    if found is not None:
        code = f"U+{ord(found.group()):04X}"
        raise InvalidArgumentError(
            f"{what} holds a control character ({code}); free text is one line of visible"
            " characters (no escapes, tabs, line breaks or direction overrides)"
        )


@dataclass(frozen=True, repr=False)
class CardFields:
    """What the card shows besides the NIK, name, photo, signature, kecamatan and kelurahan:
    place and date of birth (``birth_date`` as ``YYYY-MM-DD``), blood type, address with RT
    and RW, religion, marital status, occupation, citizenship, kabupaten/kota and province.
    ``None`` where the ledger was not given the field. The repr names the fields present, never
    their values."""

    birth_place: str | None = None
    birth_date: str | None = None
    blood_type: str | None = None
    address: str | None = None
    rt: str | None = None
    rw: str | None = None
    religion: str | None = None
    marital_status: str | None = None
    occupation: str | None = None
    citizenship: str | None = None
    kabupaten: str | None = None
    province: str | None = None

    REQUIRED: ClassVar[tuple[str, ...]] = (
        "birth_place",
        "birth_date",
        "address",
        "rt",
        "rw",
        "religion",
        "marital_status",
        "occupation",
        "citizenship",
    )
    """The fields a card cannot be printed without (blood type prints ``-`` when unknown;
    kabupaten and province come from the bureau when not given)."""

    def missing(self) -> list[str]:
        """The required fields this record lacks."""
        return [f for f in self.REQUIRED if not getattr(self, f)]

    def __repr__(self) -> str:
        present = [f for f in CARD_FIELDS if getattr(self, f) is not None]
        return f"CardFields({', '.join(present) or 'empty'})"


CARD_FIELDS = tuple(f.name for f in fields(CardFields))
"""What a card shows besides the NIK, name, photo, signature, kecamatan and kelurahan (UU
24/2013 Pasal 64(1)), in the order they are sealed."""


@dataclass(frozen=True)
class Person:
    """A record's personal fields, sealed together in a sealed ledger: name, photo and
    signature references, and the card's other fields (``card``, by :data:`CARD_FIELDS`).

    Sealed as the fields in order, each ``+value`` or ``-`` (absent), separated by NUL, which
    no field may contain: a format a later field is appended to without touching old values.
    """

    name: str | None = None
    photo_ref: str | None = None
    signature_ref: str | None = None
    card: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return encode_fields(
            [[self.name], [self.photo_ref], [self.signature_ref]],
            {f: [v] for f, v in self.card.items()},
            1,
        )[0]

    @staticmethod
    def decode(data: bytes) -> Person:
        values = [None if f == "-" else f[1:] for f in data.decode().split("\x00")]
        card = {k: v for k, v in zip(CARD_FIELDS, values[3:], strict=False) if v is not None}
        name, photo, signature = [*values, None, None, None][:3]
        return Person(name, photo, signature, card)


def encode_fields(
    people: Sequence[Sequence[str | None]],
    card: Mapping[str, Sequence[str | None]],
    n: int,
) -> list[bytes]:
    """``n`` records' fields as :class:`Person` seals them, given as columns: ``people`` the
    names, photo and signature references; ``card`` the card fields present, by name (a field
    not given is absent from every record). Column by column, so a bulk intake does not pay
    for one object per record."""
    columns = [*people, *(card.get(f) for f in CARD_FIELDS)]
    for values in columns:
        if values is not None and "\x00" in "".join(v for v in values if v is not None):
            raise InvalidArgumentError("a name, reference or card field holds a NUL character")
    absent = ["-"] * n
    parts = [
        absent if values is None else ["-" if v is None else "+" + v for v in values]
        for values in columns
    ]
    return ["\x00".join(row).encode() for row in zip(*parts, strict=True)]


def card_json(card: Mapping[str, str]) -> str | None:
    """How an open ledger keeps a record's card fields (the ``card`` column): JSON, its keys
    in :data:`CARD_FIELDS` order, so the same fields are always the same text (the history
    chains that text at intake)."""
    ordered = {k: card[k] for k in CARD_FIELDS if k in card}
    return json.dumps(ordered, ensure_ascii=False) if ordered else None


def _record_aad(token: int) -> bytes:
    return b"records/%d" % token


def _record_aads(tokens: Sequence[int]) -> list[bytes]:
    """:func:`_record_aad` of many rows (a verify opens every record)."""
    return [b"records/%d" % t for t in tokens]


def _text_aad(column: str) -> bytes:
    """Format 1 (``sealed:`` and base64): text bound to its table and column only."""
    return b"text/" + column.encode()


_ROW_BOUND = "2:"
"""After :data:`_TEXT_PREFIX`, the mark of format 2: text bound to its row too (base64 has
no colon, so a format 1 value never starts so)."""


def row_key(*parts: object) -> str:
    """A row's identity as its sealed text is bound to (see :data:`SEALED_TEXT`)."""
    return "/".join(str(p) for p in parts)


def _row_aads(column: str, rows: Sequence[object]) -> list[bytes]:
    """Format 2's associated data: the table and column, and the row's identity."""
    head = b"text2/" + column.encode() + b"\x00"
    if isinstance(rows, range):  # a history's sequence numbers: formatted as bytes at once
        return [b"%b%d" % (head, row) for row in rows]
    return [head + str(row).encode() for row in rows]


Binding = tuple[bytes, bool]
"""How a ledger's keys are bound to it (:func:`binding`): the ledger's identity, and whether
every working key is derived from it (``True``) or the data keys only (``False``)."""


class Vault(KeyHolder):
    """A sealed ledger's use of its :class:`~ektpcore._ektpcore.KeyRing`: blind indexes,
    sealed records and sealed text. Holds the ring, or the provider it asks for the ring each
    time (a key file rotated by another process is then read again). With ``binding`` it
    works with the ring bound to the ledger (:meth:`~ektpcore._ektpcore.KeyRing.bind`),
    derived again only when the provider's ring changes. It holds keys, so it refuses to be
    pickled or copied, even shallowly: a copy is a second holder its ledger does not know."""

    __slots__ = ("_binding", "_bound", "_source")

    def __init__(self, source: KeyRing | LedgerKeys, binding: Binding | None = None) -> None:
        self._source = source
        self._binding = binding
        self._bound: tuple[KeyRing, KeyRing] | None = None

    @property
    def ring(self) -> KeyRing:
        source = self._source
        ring = source if isinstance(source, KeyRing) else source.key_ring()
        if self._binding is None:
            return ring
        known = self._bound
        if known is not None and known[0] is ring:
            return known[1]
        bound = ring.bind(*self._binding)
        self._bound = (ring, bound)
        return bound

    def __repr__(self) -> str:
        return f"Vault(fingerprint={self.ring.fingerprint!r})"

    def blind(self, niks: Sequence[int]) -> list[int]:
        return list(self.ring.blind(np.asarray(niks, dtype=np.int64)).tolist())

    def seal_records(self, niks: Sequence[int], people: Sequence[Person]) -> list[bytes]:
        """One sealed value per record: the NIK's 16 digits and the person's fields, bound to
        the NIK's blind index."""
        return self.seal_columns(
            niks,
            [[getattr(p, f) for p in people] for f in ("name", "photo_ref", "signature_ref")],
            {f: [p.card.get(f) for p in people] for f in CARD_FIELDS},
        )

    def seal_columns(
        self,
        niks: Sequence[int],
        people: Sequence[Sequence[str | None]],
        card: Mapping[str, Sequence[str | None]],
    ) -> list[bytes]:
        """:meth:`seal_records` of records given as columns (see :func:`encode_fields`)."""
        tokens = self.blind(niks)
        fields_ = encode_fields(people, card, len(niks))
        plain = [b"%016d" % n + f for n, f in zip(niks, fields_, strict=True)]
        return self.ring.seal(plain, _record_aads(tokens))

    def open_records(
        self, tokens: Sequence[int], sealed: Sequence[bytes | None]
    ) -> list[tuple[int, Person]]:
        """The NIK and fields of each record (its blind index and sealed value, as stored)."""
        opened = self._open_rows(tokens, sealed)
        return [(int(p[:16]), Person.decode(p[16:])) for p in opened]

    def open_niks(self, tokens: Sequence[int], sealed: Sequence[bytes | None]) -> list[int]:
        return [int(p[:16]) for p in self._open_rows(tokens, sealed)]

    def _open_rows(self, tokens: Sequence[int], sealed: Sequence[bytes | None]) -> list[bytes]:
        values = [bytes(s) if s is not None else b"" for s in sealed]
        opened = self.ring.open(values, _record_aads(tokens))
        for value in opened:
            if value is None:
                raise SealedDataError(
                    "a record's sealed fields do not open with the ledger's keys (altered,"
                    " moved from another row, or sealed with a key no longer held); verify()"
                    " names the record"
                )
        return [v for v in opened if v is not None]

    def seal_texts(
        self, texts: Sequence[str | None], column: str, rows: Sequence[object]
    ) -> list[str | None]:
        """Seals each text (format 2) bound to ``column`` (``table.column``) and to its row's
        identity in ``rows`` (:data:`SEALED_TEXT` says what that is for each column): a value
        copied to another row, or another column, does not open."""
        at = [i for i, t in enumerate(texts) if t is not None]
        if not at:
            return list(texts)
        sealed = self.ring.seal(
            [texts[i].encode() for i in at],  # type: ignore[union-attr]
            _row_aads(column, [rows[i] for i in at]),
        )
        out = list(texts)
        prefix = _TEXT_PREFIX + _ROW_BOUND
        for i, value in zip(at, sealed, strict=True):
            out[i] = prefix + base64.b64encode(value).decode()
        return out

    def open_texts(
        self, values: Sequence[str | None], column: str, rows: Sequence[object]
    ) -> list[str | None]:
        """The texts ``values`` hold (as stored in ``column``, in the rows ``rows`` names):
        format 2 opened with its row's identity, format 1 (written before sealed text was
        bound to rows) with the column's; text in clear (written before the ledger was
        sealed) as it is.

        Raises:
            SealedDataError: a value does not open (altered, moved from another row or
                column, or sealed with a key no longer held).
        """
        out = list(values)
        for i, text in zip(*self._open_each(values, column, rows), strict=True):
            if text is None:
                raise SealedDataError(
                    f"a sealed {column} does not open with the ledger's keys (altered, moved"
                    f" from another row, or sealed with a key no longer held); verify() names"
                    " the row"
                )
            out[i] = text
        return out

    def failing(
        self, values: Sequence[str | None], column: str, rows: Sequence[object]
    ) -> list[int]:
        """The positions of the values that are sealed and do not open in their row."""
        at, texts = self._open_each(values, column, rows)
        return [i for i, text in zip(at, texts, strict=True) if text is None]

    def _open_each(
        self, values: Sequence[str | None], column: str, rows: Sequence[object]
    ) -> tuple[list[int], list[str | None]]:
        """The positions of the sealed values, and what each opens to (``None``: it does
        not open, or is not text)."""
        at: list[int] = []
        raw: list[bytes] = []
        aads: list[bytes] = []
        old = _text_aad(column)
        for i, value in enumerate(values):
            if value is None or not value.startswith(_TEXT_PREFIX):
                continue
            bound = value.startswith(_ROW_BOUND, len(_TEXT_PREFIX))
            at.append(i)
            raw.append(_raw(value) or b"")
            aads.append(_row_aads(column, [rows[i]])[0] if bound else old)
        texts: list[str | None] = []
        for opened in self.ring.open(raw, aads) if raw else []:
            try:
                texts.append(None if opened is None else opened.decode())
            except UnicodeDecodeError:
                texts.append(None)
        return at, texts


def _raw(value: str | None) -> bytes | None:
    """The sealed bytes of a stored text (either format), ``None`` for text in clear."""
    if value is None or not value.startswith(_TEXT_PREFIX):
        return None
    start = len(_TEXT_PREFIX)
    if value.startswith(_ROW_BOUND, start):
        start += len(_ROW_BOUND)
    try:
        return base64.b64decode(value[start:], validate=True)
    except (binascii.Error, ValueError):
        return b""


def text_format(value: str | None) -> int | None:
    """1 or 2 for sealed text of that format, ``None`` for text in clear or none."""
    if value is None or not value.startswith(_TEXT_PREFIX):
        return None
    return 2 if value.startswith(_ROW_BOUND, len(_TEXT_PREFIX)) else 1


# -- what the rest of the ledger package calls --------------------------------------------------


def nik_keys(db: Session, niks: Sequence[int]) -> list[int]:
    """The values of the records table's NIK column for ``niks``: the NIKs themselves in an
    open ledger, their blind indexes in a sealed one."""
    return list(niks) if db.vault is None else db.vault.blind(niks)


def seal_texts(
    db: Session, texts: Sequence[str | None], column: str, rows: Sequence[object]
) -> list[str | None]:
    """``texts`` as ``column`` (``table.column``) stores them in the rows ``rows`` names
    (each row's identity, see :data:`SEALED_TEXT`): sealed to that row in a sealed ledger."""
    return list(texts) if db.vault is None else db.vault.seal_texts(texts, column, rows)


def seal_text(db: Session, text: str | None, column: str, row: object) -> str | None:
    return seal_texts(db, [text], column, [row])[0]


def open_texts(
    db: Session, values: Sequence[str | None], column: str, rows: Sequence[object]
) -> list[str | None]:
    """The texts stored in ``column`` of the rows ``rows`` names (see :func:`seal_texts`)."""
    return list(values) if db.vault is None else db.vault.open_texts(values, column, rows)


def niks_of(db: Session, keys: Sequence[int], sealed: Sequence[bytes | None]) -> list[int]:
    """The NIKs of rows read as (NIK column, sealed column)."""
    return [int(k) for k in keys] if db.vault is None else db.vault.open_niks(keys, sealed)


def key_ids(values: Sequence[bytes | None]) -> list[int | None]:
    """The data key each sealed value was sealed with (``None``: not sealed)."""
    return [None if v is None else sealed_key_id(bytes(v)) for v in values]


def check(db: Session, ring: KeyRing) -> list[tuple[int, str]]:
    """Every record whose sealed fields do not open or do not belong to their row (the NIK
    inside does not give the row's blind index): ``(record id, what is wrong)``. A verify
    checks every record of the ledger: the rows come as one text and the values as one blob
    (:func:`sealed_rows`), opened and indexed in the core (``LedgerRows.sealed_records``)."""
    return check_rows(*sealed_rows(db), ring)


def sealed_rows(db: Session) -> tuple[Any, bytes]:
    """Every record's id, NIK index and sealed value's length, and the values one after the
    other, in the order of the ids: what :func:`check_rows` checks."""
    # The length in bytes whatever the value is: an edited row may hold text.
    length = "length(CAST(sealed AS BLOB))"
    text, form = db.rows_text(("id", "nik", length), "records", "id")
    return _ektpcore.LedgerRows(text, 3, form=form), db.joined_blobs("sealed", "records", "id")


_PROBLEMS = {
    1: "its sealed fields do not open with the ledger's keys",
    2: "its sealed NIK does not match the row's NIK index",
}


def check_rows(rows: Any, sealed: bytes, ring: KeyRing) -> list[tuple[int, str]]:
    """:func:`check` of rows :func:`sealed_rows` read."""
    found = []
    for index, problem in rows.sealed_records(ring, sealed):
        record = rows.row(index)[0]
        found.append((int(record) if record is not None else -1, _PROBLEMS[problem]))
    return sorted(found)


def opened(db: Session, ring: KeyRing) -> dict[int, tuple[int, Person] | None]:
    """Each record's NIK and personal fields, opened from its sealed value, by record id
    (``None`` where they do not open; records without a sealed value are left out)."""
    rows = db.all("SELECT id, nik, sealed FROM records WHERE sealed IS NOT NULL ORDER BY id")
    values = ring.open([bytes(r[2]) for r in rows], _record_aads([r[1] for r in rows]))
    out: dict[int, tuple[int, Person] | None] = {}
    for (rid, _, _), value in zip(rows, values, strict=True):
        out[int(rid)] = None
        if value is not None and len(value) >= 16 and value[:16].isdigit():
            # Opened, but not a record's fields: as good as not opening.
            with contextlib.suppress(UnicodeDecodeError, ValueError):
                out[int(rid)] = (int(value[:16]), Person.decode(value[16:]))
    return out


# -- sealing a ledger, and rotating its data key ------------------------------------------------


@dataclass(frozen=True)
class TextColumn:
    """A column of free text a sealed ledger seals: ``table.column``, the row named by
    ``key`` in findings, whether the ledger may rewrite it (rotation, sealing), and the row's
    identity its sealed values are bound to: ``binding``, SQL over ``source`` (the table as
    ``t``, joined to its record as ``r`` where the identity is the record's). An identity is
    known before the row is written and never changes after."""

    table: str
    key: str
    column: str
    rewritable: bool
    binding: str
    source: str = ""

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def rows(self, db: Session, where: str = "", params: Sequence[object] = ()) -> list[Any]:
        """``(key, value, identity)`` of every row holding a value."""
        source = self.source or f"{self.table} t"
        found = db.all(
            f"SELECT t.{self.key}, t.{self.column}, {self.binding} FROM {source}"
            f" WHERE t.{self.column} IS NOT NULL{where}",
            params,
        )
        return [(key, value, row_key(*ident)) for key, value, *ident in found]


_OF_RECORD = "LEFT JOIN records r ON r.id = t.record_id"

SEALED_TEXT: tuple[TextColumn, ...] = (
    TextColumn("history", "seq", "reason", False, "t.seq"),
    TextColumn("blank_history", "seq", "reason", False, "t.seq"),
    TextColumn(
        "chip_log", "seq", "reason", False, "r.nik, t.serial, t.at", f"chip_log t {_OF_RECORD}"
    ),
    TextColumn("cards", "serial", "reason", True, "t.serial"),
    TextColumn(
        "handovers", "id", "identity_check", True, "r.nik, t.at", f"handovers t {_OF_RECORD}"
    ),
    TextColumn("handovers", "id", "receiver", True, "r.nik, t.at", f"handovers t {_OF_RECORD}"),
    TextColumn("approvals", "id", "reason", True, "t.record_id, t.requested_at"),
    TextColumn("approvals", "id", "note", True, "t.record_id, t.requested_at"),
    TextColumn("batch_claims", "batch", "release_reason", True, "t.batch"),
    TextColumn("manifests", "id", "received_by", True, "t.id"),
)
"""Every column of free text a sealed ledger seals, and the identity of the row each value
is bound to (format 2): a history row's sequence number; a chip attempt's record (its NIK
index), blank and instant; a card's blank serial; a hand-over's record and instant; a
request's record and instant; a claim's batch; a manifest's id. The append-only ones
(histories, the chip log) keep what they were given: text written before a ledger was sealed
stays in clear there, text sealed in format 1 (bound to its column only) stays so, and text
sealed under an old data key keeps needing that key. The others are rewritten by a key
rotation in format 2 under the current key."""

SEALED_TABLES: tuple[str, ...] = (
    "records",
    *dict.fromkeys(c.table for c in SEALED_TEXT if c.rewritable),
)
"""The tables whose clear values sealing an open ledger replaces."""


def fingerprint(db: Session) -> str | None:
    """The fingerprint of the keys that sealed the ledger, ``None`` for an open ledger."""
    row = db.one("SELECT value FROM ledger_meta WHERE name = 'sealed'")
    return None if row is None else str(row[0])


_BOUND = "keys bound"
"""The ``ledger_meta`` row saying how the ledger's keys are bound to it: ``whole`` (every
working key derived from the key file and the ledger's identity: a ledger sealed since) or
``data`` (the data keys only: a ledger sealed before, whose blind indexes and chain links
were stored under the key file's own keys)."""


def binding(db: Session, identity: str | None, name: str) -> Binding:
    """How the sealed ledger's keys are bound to it (see :data:`_BOUND`); a ledger sealed
    before binding, not yet marked, is bound in its data keys."""
    if identity is None:
        raise LedgerKeyError(
            f"{name}: the ledger's audit holds no readable identity to bind its keys to;"
            " verify() names what is wrong"
        )
    row = db.one("SELECT value FROM ledger_meta WHERE name = ?", (_BOUND,))
    return bytes.fromhex(identity), row is not None and str(row[0]) == "whole"


def needs_marking(db: Session) -> bool:
    """Whether a sealed ledger was sealed before binding and is not marked yet."""
    return db.one("SELECT 1 FROM ledger_meta WHERE name = ?", (_BOUND,)) is None


def mark_bound(db: Session, whole: bool) -> None:
    db.execute(
        "INSERT INTO ledger_meta (name, value) VALUES (?, ?)",
        (_BOUND, "whole" if whole else "data"),
    )


def seal_new(db: Session, ring: KeyRing, name: str) -> bool:
    """Seals a ledger that holds no record yet with ``ring``'s keys, bound whole to the
    ledger; ``False`` when another process sealed it first (its keys win, and this one is
    told they differ)."""
    if fingerprint(db) is not None:
        return False
    if db.one("SELECT 1 FROM records LIMIT 1") is not None:
        raise LedgerKeyError(
            f"{name}: the ledger holds records in clear; seal them first with"
            " Ledger(...).seal(keys) (or: ektpcore ledger seal)"
        )
    db.execute("INSERT INTO ledger_meta (name, value) VALUES ('sealed', ?)", (ring.fingerprint,))
    mark_bound(db, True)
    return True


_PERSON_COLUMNS = "id, nik, name, photo_ref, signature_ref, card"


def seal_existing(db: Session, ring: KeyRing, bound: KeyRing) -> int:
    """Seals an open ledger's records in place with ``bound`` (``ring``, the key file's, bound
    whole to the ledger): the NIK column becomes the blind index, the personal fields move
    into the sealed value and their clear columns are emptied; returns the records sealed.
    History rows already written keep their text (the history is append-only); everything
    written from now on is sealed."""
    vault = Vault(bound)
    rows = db.all(f"SELECT {_PERSON_COLUMNS} FROM records ORDER BY id")
    niks = [int(r[1]) for r in rows]
    people = [Person(r[2], r[3], r[4], json.loads(r[5]) if r[5] else {}) for r in rows]
    for start in range(0, len(rows), 50_000):
        part = slice(start, start + 50_000)
        tokens = vault.blind(niks[part])
        sealed = vault.seal_records(niks[part], people[part])
        db.executemany(
            "UPDATE records SET nik = ?, sealed = ?, name = NULL, photo_ref = NULL,"
            " signature_ref = NULL, birth_date = NULL, sex = NULL, card = NULL WHERE id = ?",
            [(t, s, r[0]) for t, s, r in zip(tokens, sealed, rows[part], strict=True)],
        )
    for text in SEALED_TEXT:
        if text.rewritable:
            _reseal_text(db, vault, text, lambda v: _raw(v) is None)
    db.execute("INSERT INTO ledger_meta (name, value) VALUES ('sealed', ?)", (ring.fingerprint,))
    mark_bound(db, True)
    return len(rows)


def _reseal_text(db: Session, vault: Vault, text: TextColumn, stale: Callable[[str], bool]) -> int:
    """Seals again, in format 2 under the current data key, the values of ``text`` that
    ``stale`` picks (text in clear when a ledger is sealed; text under an old key, or bound
    to its column only, when it rotates)."""
    rows = [r for r in text.rows(db) if stale(r[1])]
    if not rows:
        return 0
    idents = [r[2] for r in rows]
    clear = vault.open_texts([r[1] for r in rows], text.name, idents)
    sealed = vault.seal_texts(clear, text.name, idents)
    db.executemany(
        f"UPDATE {text.table} SET {text.column} = ? WHERE {text.key} = ?",
        [(v, r[0]) for v, r in zip(sealed, rows, strict=True)],
    )
    return len(rows)


def unopened_texts(db: Session, ring: KeyRing) -> list[tuple[str, str, str]]:
    """Every sealed text that does not open in its row (altered, moved from another row or
    column), and every text in clear in a column a sealed ledger keeps sealed throughout:
    ``(table, row, what is wrong)``. The chained histories are left to their chains, whose
    keyed links cover the stored values (a value moved there breaks the chain at its row)."""
    vault = Vault(ring)
    found: list[tuple[str, str, str]] = []
    for text in SEALED_TEXT:
        if text.table in ("history", "blank_history"):
            continue
        rows = text.rows(db)
        values = [r[1] for r in rows]
        for i in vault.failing(values, text.name, [r[2] for r in rows]):
            found.append(
                (
                    text.table,
                    str(rows[i][0]),
                    f"{text.table} {text.key} {rows[i][0]}: its sealed {text.column} does not"
                    " open with the ledger's keys (altered, or moved from another row)",
                )
            )
        if text.rewritable:
            found += [
                (
                    text.table,
                    str(key),
                    f"{text.table} {text.key} {key}: its {text.column} is in clear in a sealed"
                    " ledger (written outside the ledger)",
                )
                for key, value, _ in rows
                if text_format(value) is None
            ]
    return found


@dataclass(frozen=True)
class RotationReport:
    """What :meth:`~ektpcore.Ledger.rotate_keys` did: values re-sealed under ``current``, and
    the older data keys the append-only history still needs to read its reasons (any other
    old key may be retired from the key file)."""

    resealed: int
    current: int
    still_needed: list[int]


def rotate(store: LedgerStore, vault: Vault, chunk: int) -> RotationReport:
    """Re-seals records and rewritable text under the current data key, ``chunk`` rows per
    write transaction."""
    current = vault.ring.current_key
    done = 0
    last = 0
    while True:
        with store.transaction() as conn:
            db = Session(store, conn, vault)
            rows = db.all(
                "SELECT id, nik, sealed FROM records WHERE id > ? ORDER BY id LIMIT ?",
                (last, chunk),
            )
            if not rows:
                break
            last = int(rows[-1][0])
            stale = [
                r
                for r in rows
                if r[2] is not None
                and (key_ids([r[2]])[0] != current or _stale(bytes(r[2]), current))
            ]
            if stale:
                opened = vault.open_records([r[1] for r in stale], [r[2] for r in stale])
                sealed = vault.seal_records([n for n, _ in opened], [p for _, p in opened])
                db.executemany(
                    "UPDATE records SET sealed = ? WHERE id = ?",
                    [(s, r[0]) for s, r in zip(sealed, stale, strict=True)],
                )
                done += len(stale)
    with store.transaction() as conn:
        db = Session(store, conn, vault)
        for text in SEALED_TEXT:
            if text.rewritable:
                done += _reseal_text(
                    db,
                    vault,
                    text,
                    lambda v: (
                        (raw := _raw(v)) is not None
                        and (_stale(raw, current) or text_format(v) == 1)
                    ),
                )
    reads = Session(store, vault=vault)
    needed = {
        _text_key(v)
        for text in SEALED_TEXT
        if not text.rewritable
        for (v,) in reads.all(
            f"SELECT DISTINCT {text.column} FROM {text.table} WHERE {text.column} LIKE 'sealed:%'"
        )
    }
    return RotationReport(
        done, current, sorted(k for k in needed if k is not None and k != current)
    )


def _stale(value: bytes, current: int) -> bool:
    """Whether a sealed value is due for re-sealing: under an older data key, or in format 1
    (under the key file's data key itself, not bound to the ledger)."""
    key = sealed_key_id(value)
    return key is not None and (key != current or sealed_format(value) == 1)


def keys_in_use(db: Session) -> set[int]:
    """The data keys some value in the ledger is sealed with."""
    used = {
        k
        for (v,) in db.all("SELECT sealed FROM records WHERE sealed IS NOT NULL")
        if (k := sealed_key_id(bytes(v))) is not None
    }
    for text in SEALED_TEXT:
        used |= {
            k
            for (v,) in db.all(
                f"SELECT DISTINCT {text.column} FROM {text.table}"
                f" WHERE {text.column} LIKE 'sealed:%'"
            )
            if (k := _text_key(v)) is not None
        }
    return used


def _text_key(value: str | None) -> int | None:
    raw = _raw(value)
    return None if raw is None else sealed_key_id(raw)


class Rotation:
    """A key rotation running in a thread of its own, on a ledger connection the thread opens
    (a connection belongs to the thread that made it)."""

    def __init__(
        self, reopen: Callable[[], Ledger | None], chunk: int, actor: Actor | None = None
    ) -> None:
        self._report: RotationReport | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(reopen, chunk, actor),
            name="ektpcore key rotation",
            daemon=True,
        )
        self._thread.start()

    def _run(self, reopen: Callable[[], Ledger | None], chunk: int, actor: Actor | None) -> None:
        try:
            ledger = reopen()
            if ledger is None:
                raise LedgerKeyError("a throwaway ledger has no second connection to rotate on")
            with ledger:
                self._report = ledger.rotate_keys(actor, chunk=chunk)
        except BaseException as err:  # handed to join()
            self._error = err

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> RotationReport:
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._report is None:
            raise TimeoutError("the key rotation is still running")
        return self._report


def check_label(label: str | None, what: str) -> None:
    """Refuses a name the ledger keeps in clear (a batch, a printer, a station, a lot, a
    ribbon's kind) that is not text it can keep (:func:`check_text`), holds a control
    character (a line break, NUL, an escape: such a name is shown on every list, page and
    terminal that names it, where it would act rather than be read), or holds a NIK-shaped
    number: such names are not sealed, so a NIK in one would be a citizen's number in clear
    beside the sealed fields."""
    if label is None:
        return
    check_text(label, what)
    _control(label, what, "a name is one line of visible characters")
    if has_nik_shape(label):
        raise InvalidArgumentError(f"{what} may not hold a NIK-shaped number")
