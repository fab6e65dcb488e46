"""Where a :class:`~ektpcore.Ledger` keeps its tables, and every difference between databases.

The ledger package writes its SQL once, with ``?`` placeholders, and runs it through a
:class:`Session`; the store behind the session says how a transaction takes the write lock,
how placeholders are spelt (:meth:`LedgerStore.translate`), how a list of values is passed to
``IN`` (:meth:`LedgerStore.member_of`), and where the schema version is kept.
:class:`SqliteStore` is the embedded default.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from .. import _ektpcore
from ..errors import LedgerBusyError, LedgerError, LedgerFileError

if TYPE_CHECKING:
    from .sealing import Vault

__all__ = [
    "LedgerStore",
    "OneThread",
    "Session",
    "SqliteStore",
    "is_database_url",
    "open_store",
]

T = TypeVar("T")

RowsForm = Literal["json", "tuples"]
"""How a store writes many rows as one value (see ``_ektpcore.LedgerRows``)."""


class LedgerStore(Protocol):
    """What the ledger needs from a database."""

    name: str

    def transaction(self) -> Any:
        """A context manager yielding a connection (``execute``, ``executemany``) inside one
        write transaction, holding the write lock from its start, committed on success and
        rolled back on any exception. The connection may also have ``insert_columns(table,
        names, columns, count)`` (see :meth:`Session.insert_columns`); without it, such rows
        go through ``executemany``.

        A store whose writers can run side by side (PostgreSQL) also has
        ``shared_transaction()``, the same with a lock other shared transactions hold at the
        same time (a station's, see :meth:`~ektpcore.ledger.Claims.under`), and
        ``lock_heads(conn, chains)``, which such a transaction calls before it appends to a
        history chain: it locks every ``(head table, chain table)`` given, in that order, and
        returns each chain's ``(seq, link, epoch format, epoch fingerprint)`` as the lock read
        them (the format ``None`` when the chain has no epoch row)."""
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

    def migration(self, script: str) -> list[str]:
        """The statements of one of :mod:`~ektpcore.ledger.schema`'s migrations (written in
        SQLite's dialect) in this database's."""
        ...

    def schema_version(self, conn: Any) -> int: ...

    def current_version(self) -> int:
        """The schema version, read outside any write transaction."""
        ...

    def set_schema_version(self, conn: Any, version: int) -> None: ...

    def snapshot(self) -> Any:
        """A context manager yielding a connection inside one read-only transaction: every
        read through it sees the ledger as one commit left it, while writers go on."""
        ...

    def beside(self, conn: Any) -> Any:
        """A context manager yielding a second connection that reads the same snapshot as
        ``conn`` (a :meth:`snapshot`'s), for reads run beside it on another thread (a server
        works on both at once), closed when the block ends; ``None`` where the database has
        no such thing (SQLite: a snapshot belongs to its connection)."""
        ...

    rows_form: RowsForm
    """How :meth:`rows_text`'s value writes rows: ``"json"`` or ``"tuples"`` (see
    ``_ektpcore.LedgerRows``)."""

    def rows_text(self, columns: Sequence[str], source: str, order: str) -> str:
        """SQL whose one value is the rows of ``source`` (a table and its ``WHERE``) as bytes
        in the store's :attr:`rows_form` (SQLite: one JSON array of arrays; PostgreSQL: its
        row values, one a line, which it writes in half the time), each of ``columns`` as
        text or null, ordered by ``order`` (SQLite reads a table in the order of its integer
        primary key, the only order asked for); NULL when there are no rows. How ``verify``
        reads a million rows at once."""
        ...

    def value_bytes(self, conn: Any, sql: str, params: Sequence[Any]) -> bytes | None:
        """The one value (bytes) of the read ``sql`` (translated), on ``conn`` (a snapshot's
        or a transaction's connection; ``None`` for a read of its own), passed as the database
        holds it: PostgreSQL sends it in its binary form, not spelt out in hex."""
        ...

    def joined_blobs(self, column: str, source: str, order: str) -> str:
        """SQL whose one value is the bytes of ``column`` of every row of ``source``, one after
        the other, in the order of :meth:`rows_text` (a chained table's links)."""
        ...

    def rewrite(self, tables: Sequence[str], wait: float = 0.0) -> list[str]:
        """Writes ``tables`` anew where the database keeps replaced values in its files (after
        a ledger is sealed); outside any transaction. Returns what keeps replaced values in
        the files still (a server's transactions older than the change, waited for up to
        ``wait`` seconds), one line each; empty when none is left."""
        ...

    def close(self) -> None: ...


class Session:
    """The one way the ledger package runs SQL: inside a write transaction (``conn`` given) or
    as a read. Placeholders and list parameters go through the store, so no statement in the
    package is written for one database only."""

    __slots__ = ("_conn", "_epochs", "_heads", "_store", "_thread", "vault")

    def __init__(
        self,
        store: LedgerStore,
        conn: Any = None,
        vault: Vault | None = None,
        thread: OneThread | None = None,
        *,
        shared: bool = False,
    ) -> None:
        self._store = store
        self._conn = conn
        # A shared write transaction locks the chains' heads before its first history row,
        # and keeps what the lock read of them (see locked_epochs).
        self._heads = "unlocked" if shared else "held"
        self._epochs: dict[str, tuple[int, bytes, int | None, str | None]] = {}
        # A sealed ledger's keys at work (see ledger.sealing); None in an open ledger.
        self.vault = vault
        # The one thread this session's statements run on, when another reads ahead on it.
        self._thread = thread

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._conn is None:
            raise RuntimeError("a read session cannot change the ledger")
        return self._conn.execute(self._store.translate(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._conn is None:
            raise RuntimeError("a read session cannot change the ledger")
        self._conn.executemany(self._store.translate(sql), rows)

    def insert_columns(
        self, table: str, names: Sequence[str], columns: Sequence[Column], count: int
    ) -> None:
        """Inserts ``count`` rows given as columns (see :data:`Column`): a bulk change's
        history rows hold one value for most columns, and rows never built as tuples cost
        nothing to take apart again."""
        if self._conn is None:
            raise RuntimeError("a read session cannot change the ledger")
        if not count:
            return
        insert = getattr(self._conn, "insert_columns", None)
        if insert is not None:
            insert(table, names, columns, count)
            return
        marks = ", ".join("?" * len(names))
        self.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
            column_rows(columns, count),
        )

    def update_each(
        self, table: str, key: str, keys: list[int], column: str, values: list[int]
    ) -> None:
        """Sets ``column`` of the row of ``table`` whose integer ``key`` is each of ``keys`` to
        that row's integer of ``values``: in one statement where the store can (a batch's
        printed blanks each take their own record), else one statement per row."""
        if self._conn is None:
            raise RuntimeError("a read session cannot change the ledger")
        update = getattr(self._conn, "update_each", None)
        if update is not None:
            update(table, key, keys, column, values)
            return
        self.executemany(
            f"UPDATE {table} SET {column} = ? WHERE {key} = ?", list(zip(values, keys, strict=True))
        )

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._thread is not None:
            return self._thread.run(self._all, sql, params)
        return self._all(sql, params)

    def _all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._conn is None:
            return self._store.query(self._store.translate(sql), params)
        return list(self._conn.execute(self._store.translate(sql), params).fetchall())

    def locked_epochs(
        self, chains: Sequence[tuple[str, str]]
    ) -> dict[str, tuple[int, bytes, int | None, str | None]]:
        """Makes sure this transaction holds the chains' heads (``(head table, chain table)``,
        all of them, always in the same order, so two shared transactions never wait for each
        other crosswise); returns what the lock read of each chain (its head's sequence number
        and link, its last epoch's format and fingerprint), as this transaction has moved them
        since (:meth:`moved`). Empty for a transaction that holds the whole ledger's lock:
        it reads the heads as it needs them."""
        if self._heads == "unlocked":
            rows = self._store.lock_heads(self._conn, chains)  # type: ignore[attr-defined]
            self._epochs.update(zip((table for _, table in chains), rows, strict=True))
            self._heads = "held"
        return self._epochs

    def moved(self, chain: str, epoch: tuple[int, bytes, int | None, str | None]) -> None:
        """Records where this transaction left a chain whose head it locked."""
        if chain in self._epochs:
            self._epochs[chain] = epoch

    def on(self, thread: OneThread) -> Session:
        """This session, its statements run on ``thread``."""
        other = Session(self._store, self._conn, self.vault, thread, shared=self._heads != "held")
        other._epochs = self._epochs
        return other

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def member_of(self, column: str) -> str:
        return self._store.member_of(column)

    def as_list(self, values: Sequence[Any]) -> Any:
        return self._store.as_list(values)

    def rows_text(
        self, columns: Sequence[str], source: str, order: str, params: Sequence[Any] = ()
    ) -> tuple[bytes, RowsForm]:
        """The rows of ``source`` as the store writes them (see
        :meth:`LedgerStore.rows_text`), and the form they are in: what
        ``_ektpcore.LedgerRows`` parses."""
        form = self._store.rows_form
        text = self._bytes(self._store.rows_text(columns, source, order), params)
        return (b"[]" if form == "json" else b"") if text is None else text, form

    def joined_blobs(
        self, column: str, source: str, order: str, params: Sequence[Any] = ()
    ) -> bytes:
        """``column`` of every row of ``source``, one after the other (see
        :meth:`LedgerStore.joined_blobs`)."""
        return self._bytes(self._store.joined_blobs(column, source, order), params) or b""

    def _bytes(self, sql: str, params: Sequence[Any]) -> bytes | None:
        store, conn, translated = self._store, self._conn, self._store.translate(sql)
        if self._thread is not None:
            return self._thread.run(store.value_bytes, conn, translated, params)
        return store.value_bytes(conn, translated, params)


class OneThread:
    """A thread of its own that runs calls one at a time, in the order given: the only thread
    that uses a session's connection while another thread reads ahead on it (see
    ``Ledger.verify``). A call made from the thread itself runs at once."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ektpcore-reader")
        self._ident = self._pool.submit(threading.get_ident).result()
        self._queued: list[Future[Any]] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queues ``fn(*args)``; its result, or what it raised, is the future's."""
        future = self._pool.submit(fn, *args)
        self._queued = [f for f in self._queued if not f.done()]
        self._queued.append(future)
        return future

    def queued(self) -> int:
        """How many of the calls submitted are not done yet (running or waiting)."""
        self._queued = [f for f in self._queued if not f.done()]
        return len(self._queued)

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, on the thread, once what was queued before it has run."""
        if threading.get_ident() == self._ident:
            return fn(*args)
        return self._pool.submit(fn, *args).result()

    def close(self) -> None:
        """Waits for everything queued, then ends the thread."""
        self._pool.shutdown(wait=True)


_SQLITE_MAGIC = b"SQLite format 3\x00"


# What SQLite says of a file whose bytes were changed: text that is not UTF-8, a damaged page
# or schema, or tables that no longer have the columns every ledger of its version has.
_DAMAGED = (
    "decode",
    "malformed",
    "file format",
    "not a database",
    "no such table",
    "no such column",
    "has no column",
)


@contextmanager
def sqlite_errors(name: str, busy_timeout: float) -> Iterator[None]:
    """Turns SQLite's own exceptions into ektpcore's: a lock held past the timeout is
    :class:`~ektpcore.LedgerBusyError`, a damaged file :class:`~ektpcore.LedgerFileError`, a
    constraint or trigger refusal :class:`~ektpcore.LedgerError`."""
    try:
        yield
    except sqlite3.OperationalError as err:
        text = str(err)
        if "locked" in text or "busy" in text:
            raise LedgerBusyError(
                f"{name}: the ledger stayed locked by other writers for {busy_timeout:g} s;"
                " nothing was changed, try again"
            ) from None
        if "unable to open" in text or "disk I/O" in text or "readonly" in text:
            raise LedgerFileError(f"{name}: {text}") from None
        if any(sign in text for sign in _DAMAGED):
            raise LedgerFileError(
                f"{name}: the ledger file is damaged or not a ledger ({text})"
            ) from None
        raise LedgerError(f"{name}: {text}") from None
    except sqlite3.IntegrityError as err:
        # A constraint or an append-only trigger refused a write: the transaction is rolled
        # back and nothing of it stays.
        raise LedgerError(f"{name}: the ledger refused the change ({err})") from None
    except sqlite3.DatabaseError as err:
        raise LedgerFileError(
            f"{name}: the ledger file is damaged or not a ledger ({err})"
        ) from None
    except UnicodeDecodeError:
        # Text that is not UTF-8: the ledger wrote none, so the file's bytes were changed.
        raise LedgerFileError(
            f"{name}: the ledger file is damaged (text that is not UTF-8)"
        ) from None


# The ledger files this process has SQLite connections to, by (device, inode), with how many.
# POSIX record locks belong to a process, not to a descriptor: closing *any* descriptor of a
# file drops every lock the process holds on it, SQLite's included. A connection whose shared
# lock is gone looks absent to other processes, and the last of them to close deletes the
# write-ahead log under it: its later commits go to an unlinked file and are lost. So the file
# is read directly (the header check below) only while no connection of this process has it.
_CONNECTED: dict[tuple[int, int], int] = {}
_CONNECTING = threading.Lock()


def _file_key(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _check_file(name: str, *, create: bool) -> None:
    """Refuses, before SQLite touches it, a file that cannot be a ledger: SQLite would turn an
    empty file into a new empty database, and report a truncated one only later. A file this
    process is connected to already was checked when it was first opened, and is not read
    again (see ``_CONNECTED``)."""
    path = Path(name)
    if not path.exists():
        if not create:
            raise LedgerFileError(f"{name}: no ledger there (a new one is made only when asked)")
        if not path.parent.is_dir():
            raise LedgerFileError(f"{name}: the folder {path.parent} does not exist")
        return
    if path.is_dir():
        raise LedgerFileError(f"{name}: is a folder, not a ledger file")
    size = path.stat().st_size
    if size == 0:
        raise LedgerFileError(f"{name}: the file is empty, not a ledger")
    if _file_key(name) in _CONNECTED:
        return
    with path.open("rb") as f:
        header = f.read(100)
    if not header.startswith(_SQLITE_MAGIC) or len(header) < 100:
        raise LedgerFileError(f"{name}: not a ledger (not an SQLite database file)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is valid when it was written by the same change as the
    # change counter (bytes 24 and 92); then the file must hold that many pages, unless the
    # write-ahead log holds changes (past its 32-byte header): a copy of the log into the file
    # cut short by a crash leaves the file part-written, and SQLite finishes it from the log.
    wal = Path(name + "-wal")
    logged = wal.exists() and wal.stat().st_size > 32
    if header[24:28] == header[92:96] and pages and size < pages * page_size and not logged:
        raise LedgerFileError(
            f"{name}: the file is truncated ({size:,} bytes of {pages * page_size:,})"
        )


def _check_tables(name: str, db: sqlite3.Connection) -> None:
    """A database that is not empty but has no ledger schema belongs to another program."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0 and tables:
        raise LedgerFileError(
            f"{name}: another program's database (tables {', '.join(sorted(tables)[:3])}),"
            " not a ledger"
        )
    if version > 0 and "records" not in tables:
        raise LedgerFileError(f"{name}: not a ledger (schema version {version}, no records)")


class SqliteStore:
    """SQLite through the standard library: one file, WAL, ``synchronous=FULL``, foreign keys
    on. ``":memory:"`` gives a throwaway store.

    ``durable=False`` skips the flush to disk at each commit (``synchronous=OFF``): for scratch
    ledgers such as a simulated campaign's, never for an office's own, where a power cut could
    then lose the last commits."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = True,
        create: bool = True,
        busy_timeout: float = 30.0,
    ) -> None:
        self.name = os.fspath(path)
        self.busy_timeout = busy_timeout
        new = self.name != ":memory:" and not Path(self.name).exists()
        self._key: tuple[int, int] | None = None
        self._checkpointer: _Checkpointer | None = None
        with _CONNECTING, sqlite_errors(self.name, busy_timeout):
            if self.name != ":memory:":
                _check_file(self.name, create=create)
            # Used by one thread at a time, though not always the one that opened it (a
            # verify reads ahead on a thread of its own, see OneThread).
            self._db = sqlite3.connect(
                self.name, isolation_level=None, timeout=busy_timeout, check_same_thread=False
            )
            if self.name != ":memory:":
                self._key = _file_key(self.name)
                if self._key is not None:
                    _CONNECTED[self._key] = _CONNECTED.get(self._key, 0) + 1
        try:
            with sqlite_errors(self.name, busy_timeout):
                self._configure(new=new, durable=durable)
        except BaseException:
            self.close()
            raise

    def _configure(self, *, new: bool, durable: bool) -> None:
        if new:
            # Citizens' data: the file is its owner's alone, before anything is written to it
            # (SQLite gives the -wal and -shm files the database file's mode).
            os.chmod(self.name, 0o600)
        # Checked before anything is set: another program's database is left as it was.
        _check_tables(self.name, self._db)
        self._db.execute("PRAGMA foreign_keys = ON")
        # Deleted rows (a journal entry, a record's old fields) are overwritten with zeros, not
        # left readable in free pages of the file.
        self._db.execute("PRAGMA secure_delete = ON")
        if self.name != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
        # A bulk change of 10^5 records touches tens of megabytes of B-tree pages; the default
        # 2 MB page cache would evict and re-read them within one transaction.
        self._db.execute("PRAGMA cache_size = -65536")
        if self.name != ":memory:":
            # The log is copied back into the file by a thread of its own (_Checkpointer),
            # not by whichever commit crossed SQLite's 1,000 pages. SQLite's own copy stays
            # as a backstop at 16,384 pages (64 MB of 4 KB pages): the log never grows without
            # bound where short-lived processes write and a long-lived one stays idle.
            self._db.execute("PRAGMA wal_autocheckpoint = 16384")
            self._checkpointer = _Checkpointer(self.name, durable=durable)

    @contextmanager
    def transaction(self) -> Iterator[_SqliteWriter]:
        # BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue (SQLite's
        # busy handler retries with backoff up to the timeout) instead of failing half-way
        # through a transaction. SQLite has one writer at a time: it has no shared kind.
        with sqlite_errors(self.name, self.busy_timeout):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteWriter(self._db)
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        if self._checkpointer is not None:
            self._checkpointer.changed(self._db.total_changes)

    def rewrite(self, tables: Sequence[str], wait: float = 0.0) -> list[str]:
        """Copies the write-ahead log into the file and truncates it to nothing. With
        ``secure_delete`` SQLite overwrites a replaced value where it stood in the file, but
        the pages that held it before stay whole in the log (``-wal``): its frames are
        overwritten only as far as later commits reach, and not at all until every
        connection has let go of it, which a station that keeps the ledger open may never
        do. A checkpoint that truncates the log waits (SQLite's busy handler, up to
        ``busy_timeout``) for readers of an older snapshot; one still reading then is
        returned, and the log is left for :meth:`~ektpcore.Ledger.purge` to truncate later."""
        del tables, wait
        if self.name == ":memory:":
            return []
        with sqlite_errors(self.name, self.busy_timeout):
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if not busy:
            return []
        return [
            f"a connection to {self.name} still reads an older snapshot, so its write-ahead"
            " log (-wal) keeps the pages it replaced"
        ]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with sqlite_errors(self.name, self.busy_timeout):
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        # A deferred BEGIN takes no lock; its first read fixes the snapshot (WAL), and writers
        # of other connections go on meanwhile.
        with sqlite_errors(self.name, self.busy_timeout):
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")

    @contextmanager
    def beside(self, conn: sqlite3.Connection) -> Iterator[None]:
        del conn
        yield None

    rows_form: RowsForm = "json"

    def rows_text(self, columns: Sequence[str], source: str, order: str) -> str:
        # Every cell cast to text: json_array refuses a blob, and a damaged or edited row may
        # hold one anywhere. The whole array comes back as a blob, undecoded. No ORDER BY: a
        # table is read in the order of its integer primary key, which is every order asked
        # for (a sorting subquery cost a sixth of the read); the chain checks its order.
        del order
        cells = ", ".join(f"CAST({c} AS TEXT)" for c in columns)
        return f"SELECT CAST(json_group_array(json_array({cells})) AS BLOB) FROM {source}"

    def value_bytes(self, conn: Any, sql: str, params: Sequence[Any]) -> bytes | None:
        rows = self.query(sql, params) if conn is None else conn.execute(sql, params).fetchall()
        return None if not rows or rows[0][0] is None else bytes(rows[0][0])

    def joined_blobs(self, column: str, source: str, order: str) -> str:
        # group_concat keeps a blob's bytes (its separator is empty), in the same scan order.
        del order
        return f"SELECT CAST(group_concat({column}, '') AS BLOB) FROM {source}"

    def translate(self, sql: str) -> str:
        return sql  # the package's own style

    def member_of(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def as_list(self, values: Sequence[Any]) -> str:
        items = values if isinstance(values, list) else list(values)
        return _json_list([items], len(items))

    def migration(self, script: str) -> list[str]:
        return statements(script)  # the package's own dialect

    def schema_version(self, conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def current_version(self) -> int:
        with sqlite_errors(self.name, self.busy_timeout):
            return self.schema_version(self._db)

    def set_schema_version(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def backup(self, path: str | os.PathLike[str]) -> None:
        """Copies the ledger, as one consistent snapshot taken while stations write, into a
        new file of mode 0600 (an existing file is never overwritten)."""
        target = os.fspath(path)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise LedgerFileError(f"{target}: exists; a backup is written to a new file") from None
        except OSError as err:
            raise LedgerFileError(f"{target}: cannot be written ({err.strerror})") from None
        os.close(fd)
        try:
            with sqlite_errors(target, self.busy_timeout):
                copy = sqlite3.connect(target)
                try:
                    self._db.backup(copy)
                finally:
                    copy.close()
        except BaseException:
            Path(target).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        with _CONNECTING:
            self._db.close()
            if self._key is not None:
                left = _CONNECTED.pop(self._key, 1) - 1
                if left > 0:
                    _CONNECTED[self._key] = left
                self._key = None


class _Checkpointer:
    """Copies a ledger's write-ahead log back into its file on a thread with a connection of
    its own, once the commits of this process have changed enough rows since it last did.

    SQLite otherwise makes the commit that crosses its threshold (1,000 pages) copy the log
    and flush the file before it returns: a station's card or a clerk's change would now and
    then wait for megabytes another write left in the log, and a bulk change of 10^5 records
    waits for its own 30 MB twice. The copy is SQLite's passive checkpoint: it never waits for
    or blocks a writer or a reader, and what it cannot copy yet is copied the next time (or by
    the last connection to close the ledger)."""

    # Rows changed between checkpoints: about SQLite's own 1,000 pages of a station's writes.
    EVERY = 2_000

    def __init__(self, name: str, *, durable: bool) -> None:
        self._name = name
        self._durable = durable
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._done = 0  # total_changes of the main connection when last woken

    def changed(self, total: int) -> None:
        if total - self._done < self.EVERY:
            return
        self._done = total
        # A process forked from this one (a station worker) has no copy of the thread.
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._stop = False
            self._thread = threading.Thread(
                target=self._run, name="ektpcore-checkpoint", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._name, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the main connection's close copies the log instead
        try:
            db.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'OFF'}")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                # Busy or going away: the next wake copies what is left.
                with suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            db.close()

    def close(self) -> None:
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return
        self._stop = True
        self._wake.set()
        thread.join()
        self._thread = None


def statements(script: str) -> list[str]:
    """A migration's statements (they are separated by ``;`` and a newline)."""
    return [statement for statement in script.split(";\n") if statement.strip()]


_DATABASE_URLS = ("postgresql://", "postgres://")


def is_database_url(location: object) -> bool:
    """Whether ``location`` names a ledger on a database server (a PostgreSQL URL) rather
    than a SQLite file."""
    return isinstance(location, str) and location.startswith(_DATABASE_URLS)


def open_store(location: str | os.PathLike[str], **options: Any) -> LedgerStore:
    """The store ``location`` names: :class:`~ektpcore.ledger.postgres.PostgresStore` for a
    ``postgresql://`` or ``postgres://`` URL, else :class:`SqliteStore` for a file.
    ``options`` go to the store (``create``, ``busy_timeout``)."""
    if is_database_url(location):
        from .postgres import PostgresStore

        return PostgresStore(os.fspath(location), **options)
    return SqliteStore(location, **options)


@dataclass(frozen=True, slots=True)
class Same:
    """A column of rows given as columns that holds one value for every row."""

    value: Any


@dataclass(frozen=True, slots=True)
class Packed:
    """A column of byte strings of one width, one after the other (a chain's links)."""

    data: bytes
    width: int


def same_or_each(values: list[Any]) -> list[Any] | Same:
    """A column of rows given as columns: :class:`Same` when every row holds one value (bound
    once, not sent per row), else ``values``."""
    return Same(values[0]) if values and values.count(values[0]) == len(values) else values


# A column of rows given as columns (:meth:`Session.insert_columns`): each row's value (a
# list), one value for every row (Same), consecutive integers (a range: sequence numbers) or
# byte strings of one width (Packed).
Column = list[Any] | Same | range | Packed


def column_values(column: Column, count: int) -> Sequence[Any]:
    """Each row's value of ``column``."""
    if isinstance(column, Same):
        return [column.value] * count
    if isinstance(column, Packed):
        width = column.width
        return [column.data[i : i + width] for i in range(0, count * width, width)]
    return column


def column_rows(columns: Sequence[Column], count: int) -> list[tuple[Any, ...]]:
    """The rows of ``columns``."""
    return list(zip(*(column_values(c, count) for c in columns), strict=True))


class _SqliteWriter:
    """The connection a SQLite write transaction yields: the connection itself, with many rows
    of a plain ``INSERT ... VALUES`` sent as columns in one statement (:func:`columnar_insert`)
    instead of one statement per row."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        listed = rows if isinstance(rows, list) else list(rows)
        columnar = columnar_insert(sql, listed) if len(listed) >= _MANY else None
        if columnar is None:
            self._db.executemany(sql, listed)
            return
        for statement, params in columnar:
            self._db.execute(statement, params)

    def insert_columns(
        self, table: str, names: Sequence[str], columns: Sequence[Column], count: int
    ) -> None:
        statements = _columnar_statements(table, ", ".join(names), list(columns), count)
        if statements is None:
            marks = ", ".join("?" * len(names))
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
            self._db.executemany(sql, column_rows(columns, count))
            return
        for statement, params in statements:
            self._db.execute(statement, params)

    def update_each(
        self, table: str, key: str, keys: list[int], column: str, values: list[int]
    ) -> None:
        # The pairs as one JSON array: SQLite joins the table to it by the key's index.
        if len(keys) != len(values):
            raise ValueError("one value for each key")
        self._db.execute(
            f"UPDATE {table} SET {column} = value->>1 FROM json_each(?) WHERE {key} = value->>0",
            (_json_list([keys, values], len(keys)),),
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


# From this many rows a bulk insert goes as columns: below it, building the statement costs
# more than the per-row binding it saves.
_MANY = 64
# Rows per columnar statement: bounds the JSON text and blobs held at once (a lot of a million
# blanks goes in a few statements).
_CHUNK = 100_000
_PLAIN_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((?:\?, ?)*\?\)")
_NONE = type(None)
_INT64 = (-(2**63), 2**63 - 1)


def columnar_insert(sql: str, rows: list[Sequence[Any]]) -> list[tuple[str, list[Any]]] | None:
    """``sql``, a plain ``INSERT INTO t (a, b, ...) VALUES (?, ?, ...)``, and its rows as
    statements ``INSERT INTO t (...) SELECT ... FROM json_each(?)`` with their parameters (see
    :func:`_columnar_statements`); ``None`` when they cannot go so (another statement, a value
    of a type the JSON would not carry exactly).

    Binding twelve values a row from Python costs more than SQLite inserting the row: a bulk
    change writes 10^5 history rows."""
    match = _PLAIN_INSERT.fullmatch(sql)
    if match is None or not rows:
        return None
    width = len(match[2].split(","))
    if set(map(len, rows)) != {width}:
        return None
    count = len(rows)
    columns: list[Column] = []
    for column in zip(*rows, strict=True):
        first = column[0]
        # One value for every row (True == 1 == 1.0: all must be of first's type).
        if (
            type(first) in _SCALARS
            and column.count(first) == count
            and len(set(map(type, column))) == 1
        ):
            columns.append(Same(first))
            continue
        if (
            type(first) is int
            and type(column[-1]) is int
            and column[-1] - first == count - 1
            and column == tuple(range(first, first + count))
            and set(map(type, column)) == {int}
        ):
            columns.append(range(first, first + count))
        else:
            columns.append(list(column))
    return _columnar_statements(match[1], match[2], columns, count)


_SCALARS = frozenset((int, str, bytes, _NONE))


def _columnar_statements(
    table: str, names: str, columns: list[Column], count: int
) -> list[tuple[str, list[Any]]] | None:
    """``columns`` inserted as statements ``INSERT INTO t (...) SELECT ... FROM json_each(?)``
    of up to ``_CHUNK`` rows each; ``None`` when a column holds values the JSON would not carry
    exactly. A column of one value is bound once; consecutive integers become ``? + key``;
    integers and text go in one JSON array of the rows' varying values (SQLite's ``->>`` gives
    them back as INTEGER and TEXT, as binding would); blobs go concatenated into one blob,
    each row's slice named by its offset and length (or by its place, when all have one
    width)."""
    statements = []
    for start in range(0, count, _CHUNK):
        end = min(start + _CHUNK, count)
        chunk = [_slice(column, start, end) for column in columns]
        built = _columnar_chunk(table, names, chunk, end - start)
        if built is None:
            return None
        statements.append(built)
    return statements


def _json_list(columns: Sequence[Sequence[Any]], rows: int) -> str:
    """``columns`` (``rows`` values each) as one JSON array for ``json_each``: the values
    themselves for one column, else each row's as an array. Written by the core (a twentieth
    of a simulated campaign went to ``json.dumps``); values the core does not take (a float,
    a bool, an int past 64 bits) go through ``json.dumps`` as before."""
    text = _ektpcore.json_list(columns, rows)
    if text is not None:
        return text
    if len(columns) == 1:
        return json.dumps(list(columns[0]), ensure_ascii=False)
    return json.dumps(list(zip(*columns, strict=True)), ensure_ascii=False)


def _slice(column: Column, start: int, end: int) -> Column:
    if isinstance(column, Same):
        return column
    if isinstance(column, Packed):
        return Packed(column.data[start * column.width : end * column.width], column.width)
    return column[start:end]


def _columnar_chunk(
    table: str, names: str, columns: list[Column], count: int
) -> tuple[str, list[Any]] | None:
    selects: list[str] = []
    params: list[Any] = []
    varying: list[Sequence[Any]] = []  # the columns sent in the JSON array, in its order

    def json_cell(values: Sequence[Any]) -> str:
        varying.append(values)
        return f"value->>{len(varying) - 1}"

    for column in columns:
        if isinstance(column, Same):
            selects.append("?")
            params.append(column.value)
            continue
        if isinstance(column, range):
            if column.step != 1 or not (_INT64[0] <= column[0] and column[-1] <= _INT64[1]):
                return None
            selects.append("? + key")
            params.append(column[0])
            continue
        if isinstance(column, Packed):
            if column.width <= 0:
                return None
            selects.append(f"substr(?, key * {column.width} + 1, {column.width})")
            params.append(column.data)
            continue
        kinds = set(map(type, column))
        if kinds <= {int, _NONE}:
            values = [v for v in column if v is not None]
            if values and not _INT64[0] <= min(values) <= max(values) <= _INT64[1]:
                return None  # JSON would carry it as a real
            selects.append(json_cell(column))
        elif kinds <= {str, _NONE}:
            if "\x00" in "".join(filter(None, column)):
                return None  # a NUL would end the text in SQLite's JSON
            selects.append(json_cell(column))
        elif kinds <= {bytes, _NONE}:
            lengths = [0 if v is None else len(v) for v in column]
            params.append(b"".join(v for v in column if v is not None))
            # accumulate() yields one offset more than there are rows: the end of the last.
            offsets = itertools.accumulate(lengths, initial=0)
            at = json_cell(
                [None if v is None else o for v, o in zip(column, offsets, strict=False)]
            )
            size = json_cell(lengths)
            # substr() of no bytes is NULL, not an empty blob.
            selects.append(
                f"CASE WHEN {at} IS NULL THEN NULL WHEN {size} = 0 THEN x''"
                f" ELSE substr(?, {at} + 1, {size}) END"
            )
        else:
            return None
    if len(varying) == 1:
        selects = [c.replace("value->>0", "value") for c in selects]
    text = _json_list(varying, count) if varying else _json_list([[0] * count], count)
    params.append(text)
    statement = f"INSERT INTO {table} ({names}) SELECT {', '.join(selects)} FROM json_each(?)"
    return statement, params
