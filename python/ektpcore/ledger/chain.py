"""The hash-chained, append-only histories of the ledger: one for records, one for blanks.

Each history row stores SHA-256 (computed in the Rust core) over the previous row's hash and
its own canonical bytes, and a one-row head table holds the last sequence number and hash.
:func:`verify` recomputes a chain and names the first row edited, inserted or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import _ektpcore
from .store import Session

__all__ = [
    "AUDIT_CHAIN",
    "BLANK_CHAIN",
    "CHAINS",
    "GENESIS",
    "RECORD_CHAIN",
    "Chain",
    "VerifyReport",
    "append",
    "verify",
]

GENESIS = bytes(32)
"""The hash before the first row of every chain."""


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :meth:`~ektpcore.Ledger.verify`: ``ok``, and where it is not, the
    sequence number of the first history row that does not fit and what is wrong."""

    ok: bool
    rows: int
    first_bad_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Chain:
    """A hash-chained, append-only history table and the row holding its head."""

    table: str
    head: str
    columns: tuple[str, ...]
    label: str


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
)
BLANK_CHAIN = Chain(
    "blank_history",
    "blank_chain_head",
    ("serial", "at", "actor", "role", "from_state", "to_state", "reason", "batch", "record_id"),
    "blank history row",
)
AUDIT_CHAIN = Chain(
    "audit",
    "audit_chain_head",
    ("at", "actor", "role", "event", "subject", "detail"),
    "audit row",
)
CHAINS = (RECORD_CHAIN, BLANK_CHAIN, AUDIT_CHAIN)
"""Every chained history of the ledger; :meth:`~ektpcore.Ledger.verify` checks them all."""


def payload(row: Sequence[Any]) -> bytes:
    """The canonical bytes a history row is hashed over: its fields, unit-separated."""
    return "\x1f".join("" if v is None else str(v) for v in row).encode()


def append(db: Session, rows: list[tuple[Any, ...]], chain: Chain) -> None:
    """Appends rows (without ``seq`` and ``hash``) to a chained history table and moves its
    head, inside the caller's transaction."""
    head_row = db.one(f"SELECT seq, hash FROM {chain.head} WHERE id = 1")
    assert head_row is not None  # created by the first migration of each chain
    seq, head = head_row
    numbered = [(seq + i + 1, *row) for i, row in enumerate(rows)]
    hashes = _ektpcore.history_chain(bytes(head), [payload(r) for r in numbered])
    names = ", ".join(("seq", *chain.columns, "hash"))
    marks = ",".join("?" * (len(chain.columns) + 2))
    db.executemany(
        f"INSERT INTO {chain.table} ({names}) VALUES ({marks})",
        [(*r, h) for r, h in zip(numbered, hashes, strict=True)],
    )
    if numbered:
        db.execute(
            f"UPDATE {chain.head} SET seq = ?, hash = ? WHERE id = 1",
            (numbered[-1][0], hashes[-1]),
        )


def verify(db: Session, chain: Chain) -> VerifyReport:
    """Recomputes ``chain`` from its first row and compares it with its head."""
    # The payload is assembled by the database itself (the same text payload() builds), so only
    # three values per row cross into Python before the chain is checked in Rust.
    parts = ["CAST(seq AS TEXT)", *(f"coalesce(CAST({c} AS TEXT), '')" for c in chain.columns)]
    joined = " || char(31) || ".join(parts)
    rows = db.all(f"SELECT seq, {joined}, hash FROM {chain.table} ORDER BY seq")
    head_seq, head_hash = db.all(f"SELECT seq, hash FROM {chain.head} WHERE id = 1")[0]
    for i, row in enumerate(rows):
        if row[0] != i + 1:
            return VerifyReport(False, len(rows), row[0], f"{chain.label} {i + 1} is missing")
    broken = _ektpcore.history_first_break(
        GENESIS, [r[1].encode() for r in rows], [bytes(r[2]) for r in rows]
    )
    if broken is not None:
        seq = rows[broken][0]
        return VerifyReport(False, len(rows), seq, f"{chain.label} {seq} was altered")
    if head_seq > len(rows):
        return VerifyReport(
            False, len(rows), len(rows) + 1, f"the last {chain.label}s were removed"
        )
    if head_seq < len(rows) or (rows and bytes(rows[-1][2]) != bytes(head_hash)):
        return VerifyReport(
            False, len(rows), head_seq + 1, f"{chain.label}s were added outside the ledger"
        )
    return VerifyReport(True, len(rows))
