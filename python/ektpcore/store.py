"""Where a :class:`~ektpcore.Ledger` keeps its tables.

The ledger speaks portable SQL through a :class:`LedgerStore`; everything that differs between
databases lives in the store: how a transaction takes the write lock, where the schema version
is kept, how a list of values is passed to ``IN``, and the few migration statements that are
dialect-specific. :class:`SqliteStore` is the embedded default; a PostgreSQL store implements
the same protocol (with ``%s`` placeholders, ``= ANY(%s)`` for lists, a version table) and the
ledger, its callers and its tests do not change.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["LedgerStore", "SqliteStore"]


class LedgerStore(Protocol):
    """What the ledger needs from a database."""

    name: str

    def transaction(self) -> Any:
        """A context manager yielding a connection-like object (``execute``, ``executemany``)
        inside one write transaction, holding the write lock from its start, committed on
        success and rolled back on any exception."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read outside any write transaction."""
        ...

    def member_of(self, column: str) -> str:
        """SQL testing ``column`` against a list passed as one parameter (see ``as_list``)."""
        ...

    def as_list(self, values: Sequence[Any]) -> Any:
        """The parameter ``member_of`` expects for ``values``."""
        ...

    def schema_version(self, conn: Any) -> int: ...

    def set_schema_version(self, conn: Any, version: int) -> None: ...

    def close(self) -> None: ...


class SqliteStore:
    """SQLite through the standard library: one file, WAL, ``synchronous=FULL``, foreign keys
    on. ``":memory:"`` gives a throwaway store.

    ``durable=False`` skips the flush to disk at each commit (``synchronous=OFF``): for scratch
    ledgers such as a simulated campaign's, never for an office's own, where a power cut could
    then lose the last commits."""

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.name = os.fspath(path)
        self._db = sqlite3.connect(self.name, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA foreign_keys = ON")
        if self.name != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
        # A bulk change of 10^5 records touches tens of megabytes of B-tree pages; the default
        # 2 MB page cache would evict and re-read them within one transaction.
        self._db.execute("PRAGMA cache_size = -65536")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue (up to the
        # timeout) instead of failing half-way through a transaction.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def member_of(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def as_list(self, values: Sequence[Any]) -> str:
        return json.dumps(list(values))

    def schema_version(self, conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self._db.close()
