"""Where a :class:`~ektpcore.Ledger` keeps its tables, and every difference between databases.

The ledger package writes its SQL once, with ``?`` placeholders, and runs it through a
:class:`Session`; the store behind the session says how a transaction takes the write lock,
how placeholders are spelt (:meth:`LedgerStore.translate`), how a list of values is passed to
``IN`` (:meth:`LedgerStore.member_of`), and where the schema version is kept.
:class:`SqliteStore` is the embedded default.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["LedgerStore", "Session", "SqliteStore"]


class LedgerStore(Protocol):
    """What the ledger needs from a database."""

    name: str

    def transaction(self) -> Any:
        """A context manager yielding a connection (``execute``, ``executemany``) inside one
        write transaction, holding the write lock from its start, committed on success and
        rolled back on any exception."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read outside any write transaction (``sql`` already translated)."""
        ...

    def translate(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this database's parameter style."""
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


class Session:
    """The one way the ledger package runs SQL: inside a write transaction (``conn`` given) or
    as a read. Placeholders and list parameters go through the store, so no statement in the
    package is written for one database only."""

    __slots__ = ("_conn", "_store")

    def __init__(self, store: LedgerStore, conn: Any = None) -> None:
        self._store = store
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._conn is None:
            raise RuntimeError("a read session cannot change the ledger")
        return self._conn.execute(self._store.translate(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._conn is None:
            raise RuntimeError("a read session cannot change the ledger")
        self._conn.executemany(self._store.translate(sql), rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._conn is None:
            return self._store.query(self._store.translate(sql), params)
        return list(self._conn.execute(self._store.translate(sql), params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def member_of(self, column: str) -> str:
        return self._store.member_of(column)

    def as_list(self, values: Sequence[Any]) -> Any:
        return self._store.as_list(values)


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

    def translate(self, sql: str) -> str:
        return sql  # the package's own style

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
