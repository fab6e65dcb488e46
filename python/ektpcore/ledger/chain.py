"""The hash-chained, append-only histories of the ledger: one for records, one for blanks
(every :class:`Chain` in :data:`CHAINS`).

Each history row stores a link computed over the previous row's link and its own payload,
and a one-row head table holds the last sequence number and link, so rows edited, inserted,
deleted or cut off the end are found by recomputing the chain (:func:`check`).

A chain is kept in **epochs** (``chain_epochs``, schema 13): from its first sequence number
on, an epoch uses one payload format and one way to link:

- format 1: the fields joined with ``0x1f`` and SHA-256 links. Rows written before schema 13;
  no epoch row says so (it is the chain until its first epoch row). Its payload is ambiguous
  (text could move from one field to the next, NULL was the empty text), so it is only read.
- format 2: the canonical payload (``rust/ledger/rows.rs``: the field count, then each field
  as NULL or its length and UTF-8 text, the same bytes on every store), SHA-256 links. An open
  ledger's: anyone who can write the database can recompute it.
- format 3: the canonical payload, HMAC-SHA-256 links under the key of the ledger's
  :class:`~ektpcore._ektpcore.KeyRing` (``fingerprint`` names it). A sealed ledger's: rows
  cannot be forged without the key.

The epoch's row stores the link of its own descriptor (chain, first sequence number, format,
fingerprint) over the row before it, and the epoch's rows chain from that link; moving, dropping
or replacing an epoch breaks the chain there. In the canonical formats the row that takes a
record or a blank in also chains its subject's identity fields as its row held them then (a
record's NIK column, name, sex, kecamatan, kelurahan, image references and card fields; a
blank's lot). In a sealed ledger those columns hold the NIK's blind index and nothing personal
(the rest is sealed, and checked by ``ledger.sealing.check``); rows of a ledger sealed after
them are checked against the fields its sealed values open to.
"""

from __future__ import annotations

import itertools
import operator
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import _ektpcore
from ..errors import InvalidArgumentError
from .store import OneThread, Packed, Same, Session

__all__ = [
    "AUDIT_CHAIN",
    "BLANK_CHAIN",
    "CHAINS",
    "GENESIS",
    "OPEN",
    "RECORD_CHAIN",
    "Chain",
    "ChainMac",
    "Epoch",
    "Finding",
    "OpenChain",
    "Subject",
    "VerifyReport",
    "append",
    "key_chains",
    "keyed_where_said",
    "never_keyed",
    "start_epoch",
]

GENESIS = bytes(32)
"""The link before the first row of every chain."""

LEGACY, OPEN_FORMAT, KEYED_FORMAT = 1, 2, 3

CHUNK = 200_000
"""History rows read and checked at a time."""


class ChainMac(Protocol):
    """How links are computed: :class:`OpenChain` (SHA-256) or a sealed ledger's
    :class:`~ektpcore._ektpcore.KeyRing` (HMAC-SHA-256 under its chain key)."""

    def chain(self, previous: bytes, payloads: list[bytes]) -> list[bytes]: ...

    def first_break(
        self, previous: bytes, payloads: list[bytes], stored: list[bytes]
    ) -> int | None: ...


class OpenChain:
    """SHA-256 links (``rust/ledger``): the chain of an open ledger."""

    fingerprint = None

    def __repr__(self) -> str:
        return "OpenChain()"

    def chain(self, previous: bytes, payloads: list[bytes]) -> list[bytes]:
        return _ektpcore.history_chain(previous, payloads)

    def first_break(
        self, previous: bytes, payloads: list[bytes], stored: list[bytes]
    ) -> int | None:
        return _ektpcore.history_first_break(previous, payloads, stored)


OPEN = OpenChain()


def format_of(mac: ChainMac | None) -> tuple[int, str | None]:
    """The epoch format and key fingerprint a ledger writing through ``mac`` appends with."""
    if mac is None or isinstance(mac, OpenChain):
        return OPEN_FORMAT, None
    return KEYED_FORMAT, str(mac.fingerprint)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :meth:`~ektpcore.Ledger.verify`: ``ok``, and where it is not, the
    sequence number of the first history row that does not fit (when a history row is
    concerned) and what is wrong, then every :class:`Finding`."""

    ok: bool
    rows: int
    first_bad_seq: int | None = None
    problem: str | None = None
    findings: tuple[Finding, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Finding:
    """One thing verify found wrong: the table and row concerned (a history row by its
    sequence number, a record by its id, a blank or a card by its serial, a lot by its id, an
    anchor by its line), what is wrong (a sentence naming the row), and the history row that
    says otherwise (``seq``)."""

    table: str
    row: str
    problem: str
    seq: int | None = None

    def __str__(self) -> str:
        return self.problem


@dataclass(frozen=True)
class Subject:
    """The row an intake row takes in: ``table`` keyed by ``key``, whose ``columns`` the
    intake row also chains; the history row names it in ``history_key`` and is an intake row
    when its ``intake`` column is NULL."""

    table: str
    key: str
    columns: tuple[str, ...]
    history_key: str
    intake: str = "from_state"


@dataclass(frozen=True)
class Chain:
    """A hash-chained, append-only history table and the row holding its head."""

    table: str
    head: str
    columns: tuple[str, ...]
    label: str
    subject: Subject | None = None
    sealed: tuple[str, ...] = ()
    """Columns of free text: given in clear to :func:`append`, sealed there in a sealed
    ledger, bound to the row's sequence number (known only once the head is locked)."""


RECORD_CHAIN = Chain(
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
    Subject(
        "records",
        "id",
        (
            "nik",
            "name",
            "sex",
            "kecamatan",
            "kelurahan",
            "photo_ref",
            "signature_ref",
            "card",
        ),
        "record_id",
    ),
    ("reason",),
)
BLANK_CHAIN = Chain(
    "blank_history",
    "blank_chain_head",
    ("serial", "at", "actor", "role", "from_state", "to_state", "reason", "batch", "record_id"),
    "blank history row",
    Subject("blanks", "serial", ("lot_id",), "serial"),
    ("reason",),
)
AUDIT_CHAIN = Chain(
    "audit",
    "audit_chain_head",
    ("at", "actor", "role", "event", "subject", "detail"),
    "audit row",
)
CHAINS: tuple[Chain, ...] = (RECORD_CHAIN, BLANK_CHAIN, AUDIT_CHAIN)
"""Every chained history of the ledger; :meth:`~ektpcore.Ledger.verify` checks them all."""


def payload(row: Sequence[Any]) -> bytes:
    """The payload of a row written before schema 13: its fields, unit-separated."""
    return "\x1f".join("" if v is None else str(v) for v in row).encode()


# -- writing --------------------------------------------------------------------------------


def _descriptor(chain: Chain, epoch: Epoch) -> bytes:
    fields = (chain.table, epoch.first_seq, epoch.format, epoch.fingerprint, epoch.sealed_from)
    return _ektpcore.history_payloads(b"chain_epochs", [fields])[0]


def start_epoch(
    db: Session,
    chain: Chain,
    mac: ChainMac | None,
    seq: int,
    head: bytes,
    sealed_from: str | None = None,
) -> bytes:
    """Starts an epoch of ``chain`` after row ``seq`` (whose link is ``head``) for rows linked
    by ``mac``; returns the epoch's link, the chain's new head. ``sealed_from`` says where
    every chain was keyed from when this one was (see :func:`key_chains`)."""
    fmt, fingerprint = format_of(mac)
    epoch = Epoch(seq + 1, fmt, fingerprint, None, sealed_from)
    link = (mac or OPEN).chain(head, [_descriptor(chain, epoch)])[0]
    db.execute(
        "INSERT INTO chain_epochs (chain, first_seq, format, fingerprint, link, sealed_from)"
        " VALUES (?,?,?,?,?,?)",
        (chain.table, seq + 1, fmt, fingerprint, link, sealed_from),
    )
    db.execute(f"UPDATE {chain.head} SET hash = ? WHERE id = 1", (link,))
    return link


def current_epoch(db: Session, chain: Chain) -> tuple[int, bytes, int, str | None]:
    """The chain's head (sequence number, link) and the format and fingerprint of its last
    epoch (format 1 when it has none)."""
    row = db.one(
        f"SELECT h.seq, h.hash, e.format, e.fingerprint FROM {chain.head} h"
        " LEFT JOIN chain_epochs e ON e.chain = ? AND e.first_seq ="
        " (SELECT max(first_seq) FROM chain_epochs WHERE chain = ?) WHERE h.id = 1",
        (chain.table, chain.table),
    )
    assert row is not None  # created by the migration of each chain
    seq, head, fmt, fingerprint = row
    return int(seq), bytes(head), LEGACY if fmt is None else int(fmt), fingerprint


def _with_subjects(db: Session, chain: Chain, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``rows`` (sequence number first), each intake row followed by its subject's fields as
    the subject's table holds them."""
    subject = chain.subject
    if subject is None:
        return rows
    key = chain.columns.index(subject.history_key) + 1
    intake = chain.columns.index(subject.intake) + 1
    wanted = [r[key] for r in rows if r[intake] is None]
    if not wanted:
        return rows
    found: dict[Any, tuple[Any, ...]] = {}
    for start in range(0, len(wanted), 50_000):
        for subject_row in db.all(
            f"SELECT {subject.key}, {', '.join(subject.columns)} FROM {subject.table}"
            f" WHERE {db.member_of(subject.key)}",
            (db.as_list(wanted[start : start + 50_000]),),
        ):
            found[subject_row[0]] = subject_row[1:]
    return [(*r, *found.get(r[key], ())) if r[intake] is None else r for r in rows]


def session_mac(db: Session) -> ChainMac | None:
    """How ``db``'s history rows are chained: the key ring of a sealed ledger's vault, or
    ``None`` (SHA-256)."""
    vault = db.vault
    return None if vault is None else vault.ring


def never_keyed(db: Session) -> bool:
    """Whether no chain of the ledger has ever been keyed (a ledger sealed before its chains
    were, by an ektpcore of an earlier schema)."""
    return db.one("SELECT 1 FROM chain_epochs WHERE format = ? LIMIT 1", (KEYED_FORMAT,)) is None


def key_chains(db: Session) -> None:
    """Keys every chain from its next row on, in one step (a ledger being sealed): each gets
    an epoch linked by the session's keys whose descriptor also names where every other
    chain was keyed from. So, given the keys, one chain left keyed is enough to show that
    the others were too: turning a chain back to SHA-256 is found unless every chain is."""
    mac = session_mac(db)
    heads = {each: current_epoch(db, each) for each in CHAINS}
    sealed_from = ",".join(f"{each.table}:{seq + 1}" for each, (seq, *_) in heads.items())
    for each, (seq, head, fmt, fingerprint) in heads.items():
        if (fmt, fingerprint) != format_of(mac):
            start_epoch(db, each, mac, seq, head, sealed_from)


def append(
    db: Session,
    rows: list[tuple[Any, ...]],
    chain: Chain,
    subjects: Sequence[tuple[Any, ...]] | None = None,
    *,
    seal: bool = True,
) -> None:
    """Appends rows (without ``seq`` and ``hash``) to a chained history table and moves its
    head, inside the caller's transaction; starts a new epoch first when the chain's last one
    is not of the format and keys this session writes with. ``subjects``: the subject's
    columns of each row, as the caller has just written them (an intake), instead of reading
    them back. ``seal=False`` keeps the chain's text columns as given in a sealed ledger too
    (text ektpcore writes itself, never a person's)."""
    if not rows:
        return
    mac, seq, head = _head_for_append(db, chain)
    numbered = [(seq + i + 1, *row) for i, row in enumerate(rows)]
    if db.vault is not None and seal:
        for name in chain.sealed:
            at = chain.columns.index(name) + 1
            stored = db.vault.seal_texts(
                [r[at] for r in numbered],
                f"{chain.table}.{name}",
                range(seq + 1, seq + len(rows) + 1),
            )
            numbered = [(*r[:at], v, *r[at + 1 :]) for r, v in zip(numbered, stored, strict=True)]
    if subjects is None:
        full = _with_subjects(db, chain, numbered)
    else:
        if len(subjects) != len(numbered):
            raise ValueError("one subject per row")
        full = list(map(operator.add, numbered, map(tuple, subjects)))
    payloads = _ektpcore.history_payloads(chain.table.encode(), full)
    hashes = (mac or OPEN).chain(head, payloads)
    names = ", ".join(("seq", *chain.columns, "hash"))
    marks = ",".join("?" * (len(chain.columns) + 2))
    db.executemany(
        f"INSERT INTO {chain.table} ({names}) VALUES ({marks})",
        [(*r, h) for r, h in zip(numbered, hashes, strict=True)],
    )
    _move_head(db, chain, mac, numbered[-1][0], hashes[-1])


def append_columns(
    db: Session, columns: Sequence[list[Any] | Same], count: int, chain: Chain
) -> None:
    """:func:`append` of ``count`` rows given as columns, one per column of ``chain`` (each
    row's value, or :class:`~ektpcore.ledger.store.Same` for one value in every row): a bulk
    change's rows share most of their fields, and rows never built as tuples cost nothing to
    take apart again (payloads, links and the insert all go column by column). Rows of a
    subject's intake are not taken here: they chain their subject's fields too."""
    if not count:
        return
    if len(columns) != len(chain.columns):
        raise ValueError(f"{len(chain.columns)} columns of {chain.table}, not {len(columns)}")
    if chain.subject is not None:
        intake = columns[chain.columns.index(chain.subject.intake)]
        values = [intake.value] if isinstance(intake, Same) else intake
        if None in values:
            raise ValueError("an intake row is appended with its subject (append)")
    mac, seq, head = _head_for_append(db, chain)
    if db.vault is not None:
        columns = list(columns)
        for name in chain.sealed:
            at = chain.columns.index(name)
            given = columns[at]
            if isinstance(given, Same) and given.value is None:
                continue  # no text: nothing to seal (a bulk change without a reason)
            texts = [given.value] * count if isinstance(given, Same) else given
            if any(t is not None for t in texts):
                rows = range(seq + 1, seq + count + 1)
                columns[at] = db.vault.seal_texts(texts, f"{chain.table}.{name}", rows)
    plain = [c.value if isinstance(c, Same) else c for c in columns]
    payloads = _ektpcore.history_payloads_columns(chain.table.encode(), seq + 1, plain, count)
    hashes = (mac or OPEN).chain(head, payloads)
    db.insert_columns(
        chain.table,
        ("seq", *chain.columns, "hash"),
        [range(seq + 1, seq + count + 1), *columns, Packed(b"".join(hashes), 32)],
        count,
    )
    _move_head(db, chain, mac, seq + count, hashes[-1])


def _head_for_append(db: Session, chain: Chain) -> tuple[ChainMac | None, int, bytes]:
    """How this session links rows (see :func:`session_mac`), and the sequence number and
    link the chain's next row follows, an epoch of that format started first if needed."""
    mac = session_mac(db)
    locked = db.locked_epochs([(c.head, c.table) for c in CHAINS]).get(chain.table)
    if locked is None:
        seq, head, fmt, fingerprint = current_epoch(db, chain)
    else:
        seq, head, stored, fingerprint = locked
        fmt = LEGACY if stored is None else int(stored)
    if (fmt, fingerprint) != format_of(mac):
        # Read again: the lock's epoch columns may predate its wait. (Had another holder
        # started an epoch meanwhile, it would have been of another format than the one it
        # found, so not this session's: writers of two formats at once on one ledger are
        # refused when they open it, by the keys' fingerprint.)
        if locked is not None:
            seq, head, fmt, fingerprint = current_epoch(db, chain)
        if (fmt, fingerprint) != format_of(mac):
            head = start_epoch(db, chain, mac, seq, head)
    return mac, seq, head


def _move_head(db: Session, chain: Chain, mac: ChainMac | None, seq: int, link: bytes) -> None:
    db.execute(f"UPDATE {chain.head} SET seq = ?, hash = ? WHERE id = 1", (seq, link))
    db.moved(chain.table, (seq, link, *format_of(mac)))


# -- checking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Epoch:
    """One epoch of a chain as stored: rows ``first_seq`` on, in ``format``, keyed with the
    keys ``fingerprint`` names (none: SHA-256), chained from ``link``; an epoch started when
    the ledger was sealed says where each chain was keyed from (``sealed_from``:
    ``"history:1,blank_history:1,..."``)."""

    first_seq: int
    format: int
    fingerprint: str | None
    link: bytes | None  # None: the first format's implicit epoch, chained from GENESIS
    sealed_from: str | None = None

    def keyed_from(self) -> dict[str, int]:
        """Where each chain was keyed from, as this epoch says."""
        out = {}
        for part in (self.sealed_from or "").split(","):
            table, _, seq = part.rpartition(":")
            if table and seq.isdigit():
                out[table] = int(seq)
        return out


def epochs(db: Session, chain: Chain) -> list[Epoch]:
    """The chain's epochs, oldest first, the implicit first-format one included when the
    chain has rows before its first epoch row."""
    stored = [
        Epoch(
            _number(first) or 0,
            _number(fmt) or 0,
            None if fingerprint is None else str(fingerprint),
            _link(link),
            None if sealed_from is None else str(sealed_from),
        )
        for first, fmt, fingerprint, link, sealed_from in db.all(
            "SELECT first_seq, format, fingerprint, link, sealed_from FROM chain_epochs"
            " WHERE chain = ? ORDER BY first_seq",
            (chain.table,),
        )
    ]
    if not stored or stored[0].first_seq > 1:
        stored.insert(0, Epoch(1, LEGACY, None, None))
    return stored


@dataclass
class ChainCheck:
    """What :func:`check` found in one chain."""

    rows: int = 0
    findings: list[Finding] = field(default_factory=list)
    epochs: list[Epoch] = field(default_factory=list)
    # Where each chain was keyed from, as this chain's epochs say (their links checked).
    keyed_from: dict[str, int] = field(default_factory=dict)


RowSink = Callable[[Any], None]
"""Called with each chunk of rows checked (a :class:`~ektpcore._ektpcore.LedgerRows`)."""


def check(
    db: Session,
    chain: Chain,
    *,
    mac: ChainMac | None = None,
    subjects: Mapping[int, tuple[Any, int]] | None = None,
    probes: Mapping[int, Sequence[tuple[bytes, str]]] | None = None,
    sink: RowSink | None = None,
    reader: OneThread | None = None,
    helper: tuple[Session, OneThread] | None = None,
) -> ChainCheck:
    """Recomputes ``chain`` from its first row, epoch by epoch, and compares every link and
    the head. ``mac`` is the sealed ledger's key ring (without it keyed epochs cannot be
    checked, and are reported); ``subjects`` the rows of the subject table by epoch format
    (the rows, key first, and where the subject's columns start in them); ``probes`` maps
    sequence numbers to links an anchor saw there (and where it saw them); ``sink`` receives
    every chunk of rows. Given a ``reader`` (one thread, sharing ``db``'s connection), the next
    chunks are read while this one is checked; given a ``helper`` too (a session reading the
    same snapshot on a connection of its own, and its thread), each chunk is read by whichever
    of the two has less queued."""
    out = ChainCheck()
    found = out.findings
    label = chain.label
    head_row = db.one(f"SELECT seq, hash FROM {chain.head} WHERE id = 1")
    head_seq, head_hash = (0, GENESIS) if head_row is None else _head(head_row)
    if head_row is None:
        found.append(Finding(chain.head, "1", f"the head of the {label}s is missing"))
    bounds = db.one(f"SELECT min(seq), max(seq), count(*) FROM {chain.table}")
    first, last, count = (None, None, 0) if bounds is None else bounds
    last = 0 if last is None else int(last)
    if first is not None and int(first) < 1:
        found.append(
            Finding(chain.table, str(first), f"{label} {first} comes before the first", int(first))
        )
    # A whole chain numbers its rows 1..n with the head at n: a row numbered past both its
    # count and its head was renumbered or added. It is named, and the rows are read up to
    # there only (a number edited to 2^62 would otherwise have the check walk 2^62 rows).
    reach = max(int(count or 0), head_seq)
    past: list[Finding] = []  # named after what the walk finds, which comes first
    if last > reach:
        row = db.one(f"SELECT min(seq) FROM {chain.table} WHERE seq > ?", (reach,))
        # None in a damaged file whose table and its largest number disagree.
        beyond = last if row is None or row[0] is None else int(row[0])
        what = f"{label} {beyond} lies past the chain's {reach} rows: renumbered or added"
        past.append(Finding(chain.table, str(beyond), what, beyond))
        last = reach
    periods = out.epochs = epochs(db, chain)
    found += _epoch_rules(chain, periods, mac, max(last, head_seq))
    previous = GENESIS
    links: dict[int, bytes] = {0: GENESIS}  # the link after each row an anchor saw
    expected_seq = 1
    gap = False
    ends = [e.first_seq - 1 for e in periods[1:]] + [last]
    spans = [
        [(lo, min(lo + CHUNK - 1, end)) for lo in range(epoch.first_seq, end + 1, CHUNK)]
        for epoch, end in zip(periods, ends, strict=True)
    ]
    chunks = _read_ahead(db, chain, [span for each in spans for span in each], reader, helper)
    for number, epoch in enumerate(periods):
        epoch_mac = _epoch_mac(epoch, mac)
        if epoch.link is not None:
            descriptor = _descriptor(chain, epoch)
            checked = epoch_mac is not None and not gap
            if checked and not _breaks(epoch_mac, previous, descriptor, epoch.link):
                if epoch.format == KEYED_FORMAT:
                    out.keyed_from |= epoch.keyed_from()
            elif checked:
                found.append(
                    Finding(
                        "chain_epochs",
                        f"{chain.table} from {epoch.first_seq}",
                        f"the epoch of {label}s from {epoch.first_seq} (format {epoch.format})"
                        f" does not follow {label} {epoch.first_seq - 1}: epochs were added,"
                        " moved or edited",
                        epoch.first_seq,
                    )
                )
            previous = epoch.link
        for lo, hi in spans[number]:
            rows = next(chunks)
            if rows is None:
                what = f"{label}s {lo}..{hi} as the database returns them do not parse"
                found.append(Finding(chain.table, str(lo), what, lo))
                gap = True
                continue
            out.rows += len(rows)
            if sink is not None:
                sink(rows)
            if gap or not len(rows):
                continue
            missing = rows.seq_break(0, expected_seq)
            if missing is not None:
                seq = _number(rows.row(missing)[0]) or 0
                found.append(
                    Finding(
                        chain.table,
                        str(expected_seq + missing),
                        f"{label} {expected_seq + missing} is missing",
                        seq,
                    )
                )
                gap = True
                continue
            expected_seq += len(rows)
            for seq in _probed(probes, lo, hi):
                links[seq] = rows.link(seq - lo)
            if epoch_mac is not None:
                broken = rows.first_break(
                    None if isinstance(epoch_mac, OpenChain) else epoch_mac,
                    previous,
                    epoch.format,
                    chain.table.encode(),
                    list(range(len(chain.columns) + 1)),
                    _subject(chain, (subjects or {}).get(epoch.format)),
                )
                if broken is not None:
                    seq = lo + broken
                    found.append(Finding(chain.table, str(seq), _altered(chain, rows, broken), seq))
                    gap = True
                    continue
            previous = rows.link(len(rows) - 1)
    if gap:
        found += past
        return out
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        found.append(
            Finding(
                chain.head,
                "1",
                f"the last {label}s were removed (the head is at {head_seq}, the rows end at"
                f" {last_seq})",
                last_seq + 1,
            )
        )
    elif head_seq < last_seq:
        found.append(
            Finding(
                chain.table,
                str(head_seq + 1),
                f"{label}s were added outside the ledger (the head is at {head_seq})",
                head_seq + 1,
            )
        )
    elif head_hash != previous:
        what = f"the head of the {label}s does not match {label} {head_seq}"
        found.append(Finding(chain.head, "1", what, head_seq))
    for seq, seen in (probes or {}).items():
        for link, where in seen:
            if seq > last_seq:
                found.append(
                    Finding(
                        chain.table,
                        str(last_seq + 1),
                        f"{where} saw {label} {seq}, but the {label}s end at {last_seq}:"
                        " committed rows were lost (cut off, rolled back, or a lost"
                        " write-ahead log)",
                        last_seq + 1,
                    )
                )
            elif link not in (links.get(seq), _epoch_link(periods, seq)):
                found.append(
                    Finding(
                        chain.table,
                        str(seq),
                        f"{where} saw another {label} {seq}: the chain up to it was rewritten",
                        seq,
                    )
                )
    found += past
    return out


def _number(value: object) -> int | None:
    """``value`` as an integer, when it is one (a damaged or edited row may hold anything)."""
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def _bytes(value: object) -> bytes:
    """A stored link as bytes (an edited row may hold text instead)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _link(value: object) -> bytes:
    """A stored link as the 32 bytes a chain continues from; anything else stands as
    all-ones, which no link computed matches."""
    link = _bytes(value)
    return link if len(link) == len(GENESIS) else b"\xff" * len(GENESIS)


def _head(row: tuple[Any, ...]) -> tuple[int, bytes]:
    seq = _number(row[0])
    return (-1 if seq is None else seq), _bytes(row[1])


def _probed(probes: Mapping[int, Any] | None, lo: int, hi: int) -> Iterator[int]:
    if not probes:
        return iter(())
    return (seq for seq in probes if lo <= seq <= hi)


def _epoch_link(periods: list[Epoch], seq: int) -> bytes | None:
    """The link of the epoch starting after row ``seq`` (a head an anchor may have seen
    between the epoch's start and its first row)."""
    return next((e.link for e in periods if e.first_seq == seq + 1), None)


def _epoch_mac(epoch: Epoch, mac: ChainMac | None) -> ChainMac | None:
    """How ``epoch``'s links are checked; ``None`` when they cannot be (keyed, without the
    keys, or with other keys)."""
    if epoch.format in (LEGACY, OPEN_FORMAT):
        return OPEN
    keyed = epoch.format == KEYED_FORMAT and mac is not None
    if keyed and epoch.fingerprint == getattr(mac, "fingerprint", None):
        return mac
    return None


def _breaks(mac: ChainMac | None, previous: bytes, descriptor: bytes, link: bytes) -> bool:
    """Whether an epoch's stored ``link`` is not ``mac``'s link of its descriptor."""
    return mac is not None and mac.first_break(previous, [descriptor], [link]) is not None


def _epoch_rules(
    chain: Chain, periods: list[Epoch], mac: ChainMac | None, last: int
) -> list[Finding]:
    """What the epochs themselves may not do: start past the chain's end, have a format no
    ektpcore writes, be keyed and go unchecked, and (given the keys) leave the chain unkeyed
    after it was keyed, or at its end."""
    found = []
    given = getattr(mac, "fingerprint", None) if mac is not None else None
    keyed_before = False
    for epoch in periods:
        where = f"{chain.table} from {epoch.first_seq}"
        this = f"the epoch of {chain.label}s from {epoch.first_seq}"
        problem = None
        if epoch.format not in (LEGACY, OPEN_FORMAT, KEYED_FORMAT):
            problem = f"{this} has a format no ektpcore writes ({epoch.format})"
        elif epoch.first_seq > last + 1:
            problem = f"{this} starts past the last row ({last})"
        elif epoch.format == KEYED_FORMAT and given is None:
            problem = f"{this} is keyed: verify needs the ledger's keys to check its rows"
        elif epoch.format == KEYED_FORMAT and epoch.fingerprint != given:
            problem = f"{this} is keyed with other keys ({epoch.fingerprint}) than the ledger's"
        elif keyed_before and epoch.format != KEYED_FORMAT:
            problem = f"{this} is not keyed, after keyed rows: the chain was downgraded"
        if problem is not None:
            found.append(Finding("chain_epochs", where, problem, epoch.first_seq))
        keyed_before = keyed_before or epoch.format == KEYED_FORMAT
    if given is not None and periods[-1].format != KEYED_FORMAT:
        first = periods[-1].first_seq
        found.append(
            Finding(
                "chain_epochs",
                f"{chain.table} from {first}",
                f"the {chain.label}s from {first} on are not keyed, in a sealed ledger",
                first,
            )
        )
    return found


def keyed_where_said(checks: Mapping[str, ChainCheck]) -> list[Finding]:
    """Given the keys: each chain keyed from where the ledger's sealing says (an epoch whose
    link checked names where every chain was keyed from), and keyed ever since."""
    said: dict[str, int] = {}
    for checked in checks.values():
        said |= checked.keyed_from
    found = []
    for table, seq in sorted(said.items()):
        other = checks.get(table)
        if other is None:
            continue
        at = [e for e in other.epochs if e.first_seq == seq and e.format == KEYED_FORMAT]
        later = [e for e in other.epochs if e.first_seq > seq and e.format != KEYED_FORMAT]
        if not at or later:
            found.append(
                Finding(
                    "chain_epochs",
                    f"{table} from {seq}",
                    f"the ledger was sealed with {table} keyed from {seq}, and it is not"
                    " keyed from there on now: the chain was turned back to SHA-256",
                    seq,
                )
            )
    return found


def _read(db: Session, chain: Chain, lo: int, hi: int) -> Any:
    """Rows ``lo``..``hi`` of ``chain`` (sequence number, columns) with their links; ``None``
    when what the database returns does not parse."""
    source = f"{chain.table} WHERE seq BETWEEN ? AND ?"
    text, form = db.rows_text(("seq", *chain.columns), source, "seq", (lo, hi))
    links = db.joined_blobs("hash", source, "seq", (lo, hi))
    try:
        return _ektpcore.LedgerRows(text, len(chain.columns) + 1, links, form=form)
    except InvalidArgumentError:
        return None


def _read_ahead(
    db: Session,
    chain: Chain,
    spans: list[tuple[int, int]],
    reader: OneThread | None,
    helper: tuple[Session, OneThread] | None = None,
) -> Iterator[Any]:
    """The rows of each span in turn; with a ``reader``, the next two are being read (the
    database writing their text, the core parsing it, neither holding the GIL) while the
    caller checks one; with a ``helper`` as well, the next three, each by whichever of the
    two readers has less queued (a server writes on both connections at once)."""
    if reader is None:
        for lo, hi in spans:
            yield _read(db, chain, lo, hi)
        return
    readers = [(db, reader)] if helper is None else [(db, reader), helper]
    pending: deque[Future[Any]] = deque()
    waiting = iter(spans)

    def read_next() -> None:
        for lo, hi in itertools.islice(waiting, 1):
            session, thread = min(readers, key=lambda r: r[1].queued())
            pending.append(thread.submit(_read, session, chain, lo, hi))

    for _ in range(len(readers) + 1):
        read_next()
    while pending:
        done = pending.popleft()
        read_next()
        yield done.result()


def table_rows(
    db: Session, columns: Sequence[str], table: str, order: str, found: list[Finding]
) -> Any:
    """The rows of ``table`` (``columns``, ordered by ``order``); none, and a finding in
    ``found``, when what the database returns does not parse."""
    try:
        text, form = db.rows_text(columns, table, order)
        return _ektpcore.LedgerRows(text, len(columns), form=form)
    except InvalidArgumentError:
        what = f"the rows of {table} as the database returns them do not parse"
        found.append(Finding(table, "-", what))
        return _ektpcore.LedgerRows(b"[]", len(columns))


def subject_rows(
    db: Session, chain: Chain, found: list[Finding], leading: Sequence[str] = ()
) -> Any:
    """The rows of ``chain``'s subject table: key, then ``leading`` columns, then the
    subject's chained columns."""
    subject = chain.subject
    assert subject is not None
    columns = (subject.key, *leading, *subject.columns)
    return table_rows(db, columns, subject.table, subject.key, found)


def _subject(
    chain: Chain, subjects: tuple[Any, int] | None
) -> tuple[Any, int, int, list[int]] | None:
    """The subject argument of ``LedgerRows.payloads`` for ``chain``'s rows (the subject's
    rows may still be being read: a future of them is waited for here)."""
    subject = chain.subject
    if subject is None or subjects is None:
        return None
    rows, offset = subjects
    if isinstance(rows, Future):
        rows = rows.result()
    fields = list(range(offset, offset + len(subject.columns)))
    key = chain.columns.index(subject.history_key) + 1
    intake = chain.columns.index(subject.intake) + 1
    return rows, key, intake, fields


def _altered(chain: Chain, rows: Any, index: int) -> str:
    row = rows.row(index)
    text = f"{chain.label} {row[0]} was altered"
    subject = chain.subject
    if subject is not None and row[chain.columns.index(subject.intake) + 1] is None:
        key = row[chain.columns.index(subject.history_key) + 1]
        text += (
            f", or the {', '.join(subject.columns)} of {subject.table} {subject.key} {key},"
            " which it took in, were edited (or that row removed)"
        )
    return text
