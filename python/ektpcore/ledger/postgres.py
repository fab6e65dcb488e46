"""The ledger on a PostgreSQL server, through psycopg 3 (``pip install 'ektpcore[postgres]'``).

:class:`PostgresStore` speaks the package's SQL in PostgreSQL's dialect: ``?`` becomes ``%s``,
a list parameter is an array (``column = ANY(%s)``), and the frozen migrations of
:mod:`~ektpcore.ledger.schema`, written for SQLite, are translated statement by statement
(64-bit integers, ``bytea``, byte-order text as SQLite compares it, and the append-only
triggers as PL/pgSQL). A write transaction takes one advisory lock for the whole ledger at
its start, as SQLite's ``BEGIN IMMEDIATE`` takes the file's write lock: writers queue, reads
never wait. The schema version is kept in the one-row table ``ektpcore_schema``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import (
    InvalidArgumentError,
    LedgerBusyError,
    LedgerConnectionError,
    LedgerError,
    LedgerFileError,
)
from .store import Column, RowsForm, Same, column_rows, column_values, statements

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "mask_url", "scratch_database", "translate", "translate_migration"]


# libpq's parameters that hold a secret: the user's password and the passphrase of the
# client's TLS key.
_SECRET_PARAMETERS = ("password", "sslpassword")
_SECRET_QUERY = re.compile(rf"(?i)(^|&)((?:{'|'.join(_SECRET_PARAMETERS)})=)[^&]*")


def mask_url(url: str) -> str:
    """``url`` with its secrets hidden: the password in the authority, and the ``password=``
    and ``sslpassword=`` parameters."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = _SECRET_QUERY.sub(r"\1\2***", parts.query)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _secrets(url: str) -> list[str]:
    """The secrets ``url`` holds, as they are written in it and decoded."""
    parts = urllib.parse.urlsplit(url)
    found = [parts.password] if parts.password else []
    for name, value in urllib.parse.parse_qsl(parts.query):
        if name.lower() in _SECRET_PARAMETERS and value:
            found.append(value)
    found += [urllib.parse.unquote(secret) for secret in found]
    return sorted(set(found), key=len, reverse=True)


class ConnectionUrl:
    """A database URL with its password: kept only where the connection is made, shown
    everywhere (``repr``, ``str``) with the password masked, and refusing pickling and
    copying like every holder of secrets in ektpcore (a copied or pickled ledger would carry
    the password where nobody looks for it)."""

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url

    def reveal(self) -> str:
        """The URL itself, for the driver's connect call only."""
        return self._url

    def __repr__(self) -> str:
        return f"ConnectionUrl({mask_url(self._url)!r})"

    __str__ = __repr__

    def _refuse(self, *args: object) -> NoReturn:
        raise TypeError(
            "a database URL with its password cannot be pickled or copied; open the ledger"
            " again from its URL where it is needed"
        )

    __reduce__ = __reduce_ex__ = __getstate__ = __copy__ = __deepcopy__ = _refuse


_KEPT = re.compile(r"(\d+) dead row versions cannot be removed yet")
"""What ``VACUUM (FULL, VERBOSE)`` says of the replaced row versions it had to keep."""


# -- the package's SQL ------------------------------------------------------------------------

# Quoted literals are left alone; outside them a ``?`` is a placeholder and a ``%`` must be
# doubled, since psycopg reads ``%`` as the start of one.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")
# Functions and types SQLite spells differently.
_FUNCTIONS = (
    (re.compile(r"\bchar\("), "chr("),
    (re.compile(r"\bAS BLOB\)"), "AS BYTEA)"),
)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The package's SQL (``?`` placeholders, SQLite's function names) for psycopg."""

    def token(match: re.Match[str]) -> str:
        text = match.group()
        if text == "?":
            return "%s"
        return text.replace("%", "%%")

    out = _TOKENS.sub(token, sql)
    for pattern, spelling in _FUNCTIONS:
        out = pattern.sub(spelling, out)
    return out


# -- the schema's migrations ---------------------------------------------------------------------

_QUOTED = re.compile(r"'(?:[^']|'')*'")
# Column types: SQLite's integers are 64-bit (a NIK has 16 digits), its ``INTEGER PRIMARY KEY``
# numbers new rows itself, and its text compares byte by byte (the "C" collation here), so
# both stores sort kecamatan and kelurahan alike.
_TYPES = (
    (
        re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?\b"),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bTEXT\b(?![ \t]*\))"), 'TEXT COLLATE "C"'),
    (re.compile(r"\bzeroblob\((\d+)\)"), r"decode(repeat('00', \1), 'hex')"),
)
_TRIGGER = re.compile(
    r"CREATE TRIGGER (?P<name>\w+) BEFORE (?P<event>UPDATE|DELETE) ON (?P<table>\w+)\s+"
    r"BEGIN SELECT RAISE\(ABORT, (?P<message>'(?:[^']|'')*')\); END",
)


def _types(statement: str) -> str:
    pieces = []
    last = 0
    for quoted in _QUOTED.finditer(statement):
        pieces += [_unquoted_types(statement[last : quoted.start()]), quoted.group()]
        last = quoted.end()
    pieces.append(_unquoted_types(statement[last:]))
    return "".join(pieces)


def _unquoted_types(text: str) -> str:
    for pattern, spelling in _TYPES:
        text = pattern.sub(spelling, text)
    return text


def _trigger(match: re.Match[str]) -> list[str]:
    """SQLite's ``RAISE(ABORT, ...)`` trigger as a PL/pgSQL function raising the same message
    (an integrity error, as SQLite's is), fired for every row; a refused ``DELETE`` refuses
    ``TRUNCATE`` too, which would otherwise empty the table without firing row triggers."""
    name, event, table = match["name"], match["event"], match["table"]
    message = match["message"]
    out = [
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
        f" RAISE EXCEPTION {message} USING ERRCODE = 'integrity_constraint_violation'; END$$",
        f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]
    if event == "DELETE":
        out.append(
            f"CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    return out


_PER_STATEMENT = re.compile(r"SELECT 'references checked per statement',(?P<refs>.*)", re.S)
_REFERENCE = re.compile(r"'(\w+)\.(\w+) -> (\w+)\.(\w+)'")


def _per_statement(refs: str) -> list[str]:
    """Each ``'table.column -> target.key'`` reference as PostgreSQL checks it once per
    statement instead of once per row: the column's foreign key (named as PostgreSQL names
    an inline one) dropped, an insert's new rows checked against the target by one anti-join
    through a transition table, and a delete from the target checked the same way, so the
    reference holds as the foreign key held it. Raised as a foreign-key violation."""
    out: list[str] = []
    by_target: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for table, column, target, key in _REFERENCE.findall(refs):
        name = f"{table}_{column}"
        out += [
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}_fkey",
            f"CREATE FUNCTION {name}_exists() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
            f" IF EXISTS (SELECT 1 FROM added a WHERE a.{column} IS NOT NULL AND NOT EXISTS"
            f" (SELECT 1 FROM {target} t WHERE t.{key} = a.{column})) THEN RAISE EXCEPTION"
            f" '{table}.{column} names a {target} row that does not exist'"
            f" USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NULL; END$$",
            f"CREATE TRIGGER {name}_exists AFTER INSERT ON {table} REFERENCING NEW TABLE AS"
            f" added FOR EACH STATEMENT EXECUTE FUNCTION {name}_exists()",
        ]
        by_target.setdefault((target, key), []).append((table, column))
    for (target, key), referring in by_target.items():
        uses = " OR ".join(
            f"EXISTS (SELECT 1 FROM {table} r WHERE r.{column} = g.{key})"
            for table, column in referring
        )
        out += [
            f"CREATE FUNCTION {target}_still_named() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$BEGIN IF EXISTS (SELECT 1 FROM gone g WHERE {uses}) THEN RAISE EXCEPTION"
            f" 'a {target} row still named elsewhere cannot be deleted'"
            f" USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NULL; END$$",
            f"CREATE TRIGGER {target}_still_named AFTER DELETE ON {target} REFERENCING OLD TABLE"
            f" AS gone FOR EACH STATEMENT EXECUTE FUNCTION {target}_still_named()",
            f"CREATE FUNCTION {target}_not_truncated() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$BEGIN RAISE EXCEPTION 'the {target} table is named elsewhere and cannot be"
            f" truncated' USING ERRCODE = 'foreign_key_violation'; END$$",
            f"CREATE TRIGGER {target}_not_truncated BEFORE TRUNCATE ON {target}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {target}_not_truncated()",
        ]
    return out


def translate_migration(script: str) -> list[str]:
    """A migration of :mod:`~ektpcore.ledger.schema` (SQLite's dialect) as PostgreSQL
    statements. A statement this translation does not know is refused rather than guessed."""
    out: list[str] = []
    for statement in statements(script):
        text = statement.strip()
        if text.upper().startswith("PRAGMA"):
            continue
        per_statement = _PER_STATEMENT.fullmatch(text)
        if per_statement is not None:
            out += _per_statement(per_statement["refs"])
            continue
        if text.upper().startswith("CREATE TRIGGER"):
            match = _TRIGGER.fullmatch(text)
            if match is None:
                raise LedgerError(f"no PostgreSQL translation for the trigger: {text[:60]}")
            out += _trigger(match)
            continue
        out.append(_types(text))
    return out


# -- the store ------------------------------------------------------------------------------------


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise LedgerConnectionError(
            "a PostgreSQL ledger needs psycopg: pip install 'ektpcore[postgres]'"
        ) from None
    return psycopg


def _words(err: BaseException, url: str) -> str:
    """An error's own words: the server's primary message (its detail lines may quote a row's
    values), the URL's password never."""
    diag = getattr(err, "diag", None)
    text = (diag and diag.message_primary) or str(err).strip() or type(err).__name__
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


def _unreachable(url: str, err: BaseException) -> LedgerConnectionError:
    """A connection that failed: refused or unanswered (the server is not reached), or
    refused by the server itself (wrong password, no such database), in one line."""
    words = " ".join(_words(err, url).split())
    reached = any(
        hint in words
        for hint in (
            "authentication failed",
            "does not exist",
            "no pg_hba.conf",
            "password",
            "too many connections",
            "connection slots",
        )
    )
    why = "the server refused the connection" if reached else "cannot reach the server"
    return LedgerConnectionError(f"{mask_url(url)}: {why}: {words}")


def _lock_key(schema: str) -> int:
    """The advisory lock of the ledger in ``schema`` (a signed 64-bit number: advisory locks
    are per database, so two ledgers in two schemas of one database do not block each other)."""
    digest = hashlib.sha256(f"ektpcore ledger {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _Writer:
    """The connection a write transaction yields: psycopg's cursor, with the rows of a plain
    ``INSERT ... VALUES`` sent as arrays (a few) or by ``COPY`` (many): one statement instead
    of a statement per row."""

    __slots__ = ("_cursor", "_types")

    _PLAIN_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((?:%s,? ?)+\)")
    # Up to this many rows an INSERT is cheaper than the round trips of a COPY.
    _FEW = 16

    def __init__(self, cursor: psycopg.Cursor[Any], types: dict[tuple[str, str], str]) -> None:
        self._cursor = cursor
        self._types = types

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        return self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        plain = self._PLAIN_INSERT.fullmatch(sql)
        if plain is None:
            self._cursor.executemany(sql, rows)
            return
        listed = rows if isinstance(rows, Sequence) else list(rows)
        names = [name.strip() for name in plain[2].split(",")]
        if len(listed) <= self._FEW:
            if listed:
                columns: list[Column] = [list(c) for c in zip(*listed, strict=True)]
                self._unnest(plain[1], names, columns, len(listed))
            return
        with self._cursor.copy(f"COPY {plain[1]} ({plain[2]}) FROM STDIN") as copy:
            for row in listed:
                copy.write_row(row)

    def insert_columns(
        self, table: str, names: Sequence[str], columns: Sequence[Column], count: int
    ) -> None:
        if 1 < count <= self._FEW:
            self._unnest(table, names, columns, count)
            return
        marks = ", ".join(["%s"] * len(names))
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
        self.executemany(sql, column_rows(columns, count))

    def update_each(
        self, table: str, key: str, keys: list[int], column: str, values: list[int]
    ) -> None:
        # The pairs as two arrays, joined to the table by its key: one statement.
        self._cursor.execute(
            f"UPDATE {table} SET {column} = u.value FROM unnest(%s::bigint[], %s::bigint[])"
            f" AS u(key, value) WHERE {table}.{key} = u.key",
            (keys, values),
        )

    def _unnest(
        self, table: str, names: Sequence[str], columns: Sequence[Column], count: int
    ) -> None:
        """A few rows as one ``INSERT ... SELECT FROM unnest(...)``: a column an array of its
        type, a value every row shares one parameter. The statement's text is the same for
        any number of rows, so psycopg parses it once and the server prepares it once (a
        multi-row ``VALUES`` is a new statement for each count, and psycopg parses each of
        its hundreds of placeholders every time)."""
        arrays: list[str] = []
        picks: list[str] = []
        shared: list[Any] = []  # the marks in the select list come first
        listed: list[Any] = []
        for name, column in zip(names, columns, strict=True):
            kind = self._type(table, name)
            if isinstance(column, Same):
                picks.append(f"%s::{kind}")
                shared.append(column.value)
            else:
                arrays.append(f"%s::{kind}[]")
                picks.append(f"u.c{len(arrays)}")
                listed.append(list(column_values(column, count)))
        aliases = ", ".join(f"c{i + 1}" for i in range(len(arrays)))
        self._cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(picks)}"
            f" FROM unnest({', '.join(arrays)}) AS u({aliases})",
            shared + listed,
        )

    def _type(self, table: str, column: str) -> str:
        """``column``'s type as the server names it (asked once per store)."""
        kind = self._types.get((table, column))
        if kind is None:
            row = self._cursor.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
                (table, column),
            ).fetchone()
            if row is None:
                raise LedgerError(f"the ledger's table {table} has no column {column}")
            kind = self._types[(table, column)] = str(row[0])
        return kind


class PostgresStore:
    """A ledger in a PostgreSQL database, named by a URL
    (``postgresql://user:password@host:5432/bureau``; libpq's parameters such as
    ``sslmode`` or ``options=-csearch_path=...`` pass through).

    ``busy_timeout`` (seconds) bounds how long a write waits for another writer's lock before
    :class:`~ektpcore.LedgerBusyError`; a server that cannot be reached raises
    :class:`~ektpcore.LedgerConnectionError` (the URL's password masked), and a lost connection
    is opened again at the next read or write. ``create=False`` refuses a database that holds
    no ledger yet (:class:`~ektpcore.LedgerFileError`)."""

    def __init__(self, url: str, *, busy_timeout: float = 30.0, create: bool = True) -> None:
        self._pg = _psycopg()
        if busy_timeout <= 0:
            raise InvalidArgumentError("busy_timeout is a positive number of seconds")
        self._url = ConnectionUrl(url)
        self.name = mask_url(url)
        self.busy_timeout = busy_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = 0
        self._types: dict[tuple[str, str], str] = {}  # (table, column): its type
        self._connect()
        if not create and self.query("SELECT to_regclass('ektpcore_schema')")[0][0] is None:
            self.close()
            raise LedgerFileError(f"{self.name}: this database holds no ledger")

    def __repr__(self) -> str:
        return f"PostgresStore({self.name!r})"

    def _new_connection(self) -> psycopg.Connection[Any]:
        pg = self._pg
        options = {"connect_timeout": max(2, round(self.busy_timeout))}
        try:
            # A parameter libpq does not know (a typo, "PASSWORD=") is refused here.
            options |= pg.conninfo.conninfo_to_dict(self._url.reveal())
            conn: psycopg.Connection[Any] = pg.connect(
                autocommit=True, application_name="ektpcore", **options
            )
        except pg.Error as err:
            raise _unreachable(self._url.reveal(), err) from None
        conn.adapters.register_loader("numeric", _numeric_loader(pg))
        return conn

    def _connect(self) -> psycopg.Connection[Any]:
        pg = self._pg
        conn = self._conn = self._new_connection()
        ms = max(1, round(self.busy_timeout * 1000))
        try:
            # No JIT: the ledger's statements are short, and the planner, sizing a small table
            # it has no statistics on at a million rows, compiles them for longer than they run.
            conn.execute(
                "SELECT set_config('lock_timeout', %s, false), set_config('jit', 'off', false)",
                (f"{ms}ms",),
            )
            schema = conn.execute("SELECT coalesce(current_schema(), '')").fetchone()
        except pg.Error as err:
            conn.close()
            raise self._error(err) from err
        self._lock = _lock_key(schema[0] if schema else "")
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed:
            return self._connect()
        return conn

    def _text(self, err: BaseException) -> str:
        return _words(err, self._url.reveal())

    def _error(self, err: BaseException) -> LedgerError:
        """A psycopg error as the ledger's own."""
        errors = self._pg.errors
        if isinstance(err, errors.LockNotAvailable | errors.QueryCanceled):
            return LedgerBusyError(
                f"{self.name}: another writer held the ledger for more than"
                f" {self.busy_timeout:g} s; nothing was changed"
            )
        conn = self._conn
        sqlstate = getattr(err, "sqlstate", None) or ""
        lost = conn is None or conn.closed or not sqlstate or sqlstate[:2] in ("08", "57")
        if lost and isinstance(err, self._pg.OperationalError | self._pg.InterfaceError):
            if conn is not None and conn.broken:
                conn.close()
            return LedgerConnectionError(
                f"{self.name}: the connection to the ledger's server failed: {self._text(err)}"
            )
        return LedgerError(f"{self.name}: {self._text(err)}")

    def transaction(self) -> contextlib.AbstractContextManager[_Writer]:
        return self._transaction(shared=False)

    def shared_transaction(self) -> contextlib.AbstractContextManager[_Writer]:
        return self._transaction(shared=True)

    @contextmanager
    def _transaction(self, *, shared: bool) -> Iterator[_Writer]:
        # The advisory lock is taken before anything is read, as BEGIN IMMEDIATE does: writers
        # queue (up to busy_timeout, through lock_timeout) instead of failing half-way. Shared
        # holders (stations, each in its own batch) run side by side and lock the chains'
        # heads before they append (lock_heads); an exclusive holder waits for all of them.
        lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        # BEGIN and the lock in one round trip (the key is a number of ours, written into the
        # text): a station pays for each round trip on every card.
        begin = f"BEGIN; SELECT {lock}({int(self._lock)})".encode()
        try:
            conn = self._begun(begin)
            with conn.cursor() as cursor:
                try:
                    yield _Writer(cursor, self._types)
                except BaseException:
                    self._roll_back(conn)
                    raise
                conn.execute(b"COMMIT")
        except self._pg.Error as err:
            raise self._error(err) from err

    def _begun(self, begin: bytes) -> psycopg.Connection[Any]:
        """A connection in a transaction begun by ``begin``. One the server dropped since its
        last statement (restarted, or its backend terminated) is replaced once: nothing was
        begun on it, so nothing is lost by beginning on a new one."""
        for again in (False, True):
            conn = self._connection()
            try:
                conn.execute(begin)
                return conn
            except self._pg.Error as err:
                self._roll_back(conn)
                if again or not isinstance(self._error(err), LedgerConnectionError):
                    raise
        raise AssertionError("unreachable")

    def _roll_back(self, conn: psycopg.Connection[Any]) -> None:
        if not conn.closed:
            with contextlib.suppress(self._pg.Error):
                conn.execute(b"ROLLBACK")

    def lock_heads(
        self, conn: _Writer, chains: Sequence[tuple[str, str]]
    ) -> list[tuple[int, bytes, int | None, str | None]]:
        # One statement: every shared transaction locks the rows in the same order, and reads
        # the heads it locked (the newest versions, once another holder's commit let it
        # through) with their last epochs. Each head by its key: a join of whole tables would
        # be planned for millions of rows (the planner has no statistics on them) and
        # compiled by the JIT for every card.
        tables = ", ".join(f"{head} h{i}" for i, (head, _) in enumerate(chains))
        keys = " AND ".join(f"h{i}.id = 1" for i in range(len(chains)))
        last = "(SELECT {} FROM chain_epochs WHERE chain = %s ORDER BY first_seq DESC LIMIT 1)"
        columns = ", ".join(
            f"h{i}.seq, h{i}.hash, {last.format('format')}, {last.format('fingerprint')}"
            for i in range(len(chains))
        )
        locked = ", ".join(f"h{i}" for i in range(len(chains)))
        params = [table for _, table in chains for _ in range(2)]
        row = conn.execute(
            f"SELECT {columns} FROM {tables} WHERE {keys} FOR UPDATE OF {locked}", params
        ).fetchone()
        assert row is not None  # every head row is made by the chain's migration
        return [
            (int(row[i]), bytes(row[i + 1]), row[i + 2], row[i + 3]) for i in range(0, len(row), 4)
        ]

    def rewrite(self, tables: Sequence[str], wait: float = 0.0) -> list[str]:
        """Writes ``tables`` anew (``VACUUM FULL``), so that values an update replaced (clear
        text a sealing emptied) are no longer in the server's data files: an update leaves
        the old row version in place until its space is reused.

        ``VACUUM FULL`` copies every row version some transaction may still see. Its own
        snapshot's horizon is the oldest transaction *anywhere on the server* that holds a
        transaction id (snapshots are server-wide), and, in this database, the oldest open
        snapshot: while such a transaction, begun before the change, runs, the replaced
        versions are copied too and stay in the files. So the rewrite reports, by the
        server's own count (``VERBOSE``), the versions it had to keep; then waits up to
        ``wait`` seconds for the transactions that hold them and rewrites again. What is
        still kept after that is returned: the transactions holding it, one line each."""
        pg = self._pg
        since = time.monotonic()
        kept: list[int] = []

        def count(diag: Any) -> None:
            for text in (diag.message_primary, diag.message_detail):
                found = _KEPT.search(text or "")
                if found:
                    kept.append(int(found[1]))

        try:
            conn = self._connection()
            conn.add_notice_handler(count)
            try:
                started = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
                while True:
                    kept.clear()
                    for table in tables:
                        conn.execute(f"VACUUM (FULL, VERBOSE) {table}")
                    holders = self._horizon_holders(conn, started)
                    # The count is in the server's language (lc_messages); not understood,
                    # the transactions that could hold versions back are taken as holding.
                    if not any(kept) and (len(kept) == len(tables) or not holders):
                        return []
                    if time.monotonic() - since >= wait:
                        return holders or [
                            f"{sum(kept)} replaced row versions kept by a transaction that has"
                            " ended since"
                        ]
                    time.sleep(min(0.5, max(0.05, wait / 20)))
            finally:
                conn.remove_notice_handler(count)
        except pg.Error as err:
            raise self._error(err) from err

    @staticmethod
    def _horizon_holders(conn: psycopg.Connection[Any], started: Any) -> list[str]:
        """The transactions begun before ``started`` that hold back what a rewrite may drop:
        any on the server with a transaction id, or a snapshot open in this database; and
        prepared transactions (which hold it until committed or rolled back)."""
        rows = conn.execute(
            "SELECT pid, coalesce(datname, '-'), coalesce(usename, '-'), state, xact_start"
            " FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND xact_start < %s"
            " AND (backend_xid IS NOT NULL"
            " OR (datname = current_database() AND backend_xmin IS NOT NULL))"
            " ORDER BY xact_start",
            (started,),
        ).fetchall()
        out = [
            f"process {pid} (database {db}, user {user}, {state}) in a transaction since"
            f" {begun:%Y-%m-%d %H:%M:%S %Z}"
            for pid, db, user, state, begun in rows
        ]
        prepared = conn.execute(
            "SELECT gid, database, prepared FROM pg_prepared_xacts WHERE prepared < %s",
            (started,),
        ).fetchall()
        out += [
            f"prepared transaction {gid!r} (database {db}) since {at:%Y-%m-%d %H:%M:%S %Z}"
            for gid, db, at in prepared
        ]
        return out

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # A read on a connection the server dropped (restarted, or a backend terminated) is
        # asked once more on a new one: it changes nothing, and a desk's next look would
        # otherwise fail for a connection that is already back.
        for again in (False, True):
            try:
                return self._connection().execute(sql, params).fetchall()
            except self._pg.Error as err:
                error = self._error(err)
                if again or not isinstance(error, LedgerConnectionError):
                    raise error from err
        raise AssertionError("unreachable")

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield conn
        except self._pg.Error as err:
            raise self._error(err) from err

    rows_form: RowsForm = "tuples"

    @contextmanager
    def beside(self, conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any] | None]:
        # The snapshot exported by the transaction on ``conn`` and imported by a new
        # connection's: both read one commit. Closed when the block ends (an exported
        # snapshot lives only as long as the transaction that exported it).
        pg = self._pg
        try:
            # In a savepoint: a server that will not export a snapshot leaves the snapshot's
            # own transaction as it was.
            with conn.transaction():
                row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            twin = self._new_connection()
        except (pg.Error, LedgerConnectionError):
            # No second reader (a server at its connection limit, or one that exports no
            # snapshot): everything is read on the one connection, as one commit all the same.
            yield None
            return
        try:
            # No JIT, as on the store's own connection (see _connect).
            twin.execute("SELECT set_config('jit', 'off', false)")
            with twin.transaction():
                twin.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                imported = pg.sql.SQL("SET TRANSACTION SNAPSHOT {}")
                twin.execute(imported.format(pg.sql.Literal(row[0] if row else "")))
                yield twin
        except pg.Error as err:
            raise self._error(err) from err
        finally:
            twin.close()

    def rows_text(self, columns: Sequence[str], source: str, order: str) -> str:
        # Each row as its row value's text (record_out: a NULL empty, a cell quoted where it
        # must be), every cell cast to text first so that each is what a cast gives on both
        # stores; the server writes these in half the time it writes the same rows as JSON.
        cells = ", ".join(f"CAST({c} AS TEXT)" for c in columns)
        return (
            f"SELECT convert_to(string_agg(CAST(ROW({cells}) AS TEXT), E'\\n' ORDER BY {order}),"
            f" 'UTF8') FROM {source}"
        )

    def value_bytes(self, conn: Any, sql: str, params: Sequence[Any]) -> bytes | None:
        # In the binary format: bytea spelt out in hex is twice the bytes, for the server to
        # write and for psycopg to read back.
        try:
            target = self._connection() if conn is None else conn
            if isinstance(target, _Writer):
                target = target._cursor
            row = target.execute(sql, params, binary=True).fetchone()
        except self._pg.Error as err:
            raise self._error(err) from err
        return None if row is None or row[0] is None else bytes(row[0])

    def joined_blobs(self, column: str, source: str, order: str) -> str:
        return f"SELECT string_agg({column}, ''::bytea ORDER BY {order}) FROM {source}"

    def translate(self, sql: str) -> str:
        return translate(sql)

    def member_of(self, column: str) -> str:
        return f"{column} = ANY(?)"  # in the package's style: translated with the rest

    def as_list(self, values: Sequence[Any]) -> str | list[Any]:
        items = list(values)
        if all(type(v) is int for v in items):
            # An array literal, typed by the column it is compared with: written ten times
            # faster than psycopg adapts a list of 10^5 ints.
            return "{" + ",".join(map(str, items)) + "}"
        return items

    def migration(self, script: str) -> list[str]:
        return translate_migration(script)

    def schema_version(self, conn: _Writer | psycopg.Connection[Any]) -> int:
        (table,) = conn.execute("SELECT to_regclass('ektpcore_schema')").fetchall()[0]
        if table is None:
            return 0
        return int(conn.execute("SELECT version FROM ektpcore_schema").fetchall()[0][0])

    def current_version(self) -> int:
        try:
            return self.schema_version(self._connection())
        except self._pg.Error as err:
            raise self._error(err) from err

    def set_schema_version(self, conn: _Writer, version: int) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ektpcore_schema"
            " (id INT PRIMARY KEY CHECK (id = 1), version INT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO ektpcore_schema VALUES (1, %s)"
            " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (int(version),),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@functools.cache
def _numeric_loader(pg: Any) -> type:
    """Loads ``numeric`` (what ``sum`` over 64-bit integers gives) as SQLite returns it: an
    int when whole, else a float; the schema itself has no numeric column."""

    class NumericLoader(pg.types.numeric.NumericLoader):  # type: ignore[misc]
        def load(self, data: Any) -> int | float:
            value = super().load(data)
            return int(value) if value == value.to_integral_value() else float(value)

    return NumericLoader


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """The URL of a new, empty database on the server ``server`` names (a role that may create
    databases), dropped with everything in it when the block ends: for trying a ledger out,
    for tests and benchmarks. Never point it at a bureau's own database's name: it makes its
    own."""
    pg = _psycopg()
    name = f"ektpcore_scratch_{uuid.uuid4().hex[:12]}"
    try:
        admin = pg.connect(server, autocommit=True)
    except pg.Error as err:
        raise _unreachable(server, err) from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urllib.parse.urlsplit(server)._replace(path=f"/{name}").geturl()
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
