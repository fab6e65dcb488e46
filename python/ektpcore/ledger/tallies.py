"""Records and blanks counted by state, kept from one read to the next.

Counting a million records by state reads a million index entries, whatever the index
(SQLite keeps no counts in its b-trees; PostgreSQL counts rows too): a third of a second, on
every page that shows the figures. But every change of a record's or a blank's state is a row
of its chained history (``from_state`` -> ``to_state``; an intake or a lot received has no
``from_state``), and the chain only grows, one commit after another. So a tally counts the
table once, remembers the chain's sequence number it was true at, and afterwards adds only
the history rows written since: one indexed range of the primary key, however large the
ledger. It recounts the table when the chain is not the one it counted (the row it stopped
at has another hash: the file was replaced) or when more rows were written since than a
recount reads.

A tally belongs to one :class:`~ektpcore.Ledger` (one process); each read is one snapshot, so
the table and the chain it is counted against agree. Stores are not changed by it.
"""

from __future__ import annotations

import threading
from collections import Counter

from .store import LedgerStore, Session

__all__ = ["Tally"]

RECOUNT_AFTER = 100_000
"""History rows beyond which a recount of the table is no slower than reading them."""


class Tally:
    """The counts by state of ``table``, whose every state change is a row of ``history``
    (a chained table with ``seq``, ``from_state``, ``to_state`` and ``hash``)."""

    def __init__(self, table: str, history: str) -> None:
        self._table, self._history = table, history
        self._lock = threading.Lock()
        self._seq = -1  # the history's last row counted; -1: nothing counted yet
        self._hash: bytes | None = None
        self._counts: Counter[str] = Counter()

    def read(self, store: LedgerStore) -> dict[str, int]:
        """The counts now (states with none left out)."""
        with self._lock, store.snapshot() as conn:
            db = Session(store, conn)
            last = db.one(f"SELECT seq, hash FROM {self._history} ORDER BY seq DESC LIMIT 1")
            seq, digest = (0, None) if last is None else (int(last[0]), bytes(last[1]))
            if not self._continues(db, seq):
                self._counts = Counter({str(s): int(n) for s, n in db.all(self._count_table())})
            elif seq > self._seq:
                rows = db.all(
                    f"SELECT from_state, to_state, count(*) FROM {self._history}"
                    " WHERE seq > ? AND seq <= ? GROUP BY from_state, to_state",
                    (self._seq, seq),
                )
                for source, target, n in rows:
                    if source is not None:
                        self._counts[str(source)] -= int(n)
                    self._counts[str(target)] += int(n)
            self._seq, self._hash = seq, digest
            return {s: n for s, n in self._counts.items() if n}

    def _count_table(self) -> str:
        return f"SELECT state, count(*) FROM {self._table} GROUP BY state"

    def _continues(self, db: Session, seq: int) -> bool:
        """Whether the history now extends the one counted, by few enough rows."""
        if self._seq < 0 or seq < self._seq or seq - self._seq > RECOUNT_AFTER:
            return False
        if self._seq == 0:
            return True
        row = db.one(f"SELECT hash FROM {self._history} WHERE seq = ?", (self._seq,))
        return row is not None and bytes(row[0]) == self._hash
