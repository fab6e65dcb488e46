"""``verify()`` over 1,000,000 history rows: everything it checks (every chain row by row, the
tables replayed against the history, the heads, and on a ledger with users every row's actor
and role held to the audit), at most 3.5 s, at least 300,000 rows/s, with and without users,
on SQLite and on PostgreSQL, and on a sealed SQLite ledger. The peer is the record history's chain
alone, checked the way a Python program would, row by row with ``hashlib``: it also serves as
the reference, written here from the format's description rather than from ektpcore's code,
so the two agreeing checks the canonical payload too.

Sizes shrink for the untimed smoke run of a plain ``pytest``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

import ektpcore
from ektpcore import Actor, Ledger, Role, State
from ektpcore.keys import KeyFile
from ektpcore.ledger import RECORD_CHAIN

from .conftest import NOTES, RESULTS, STORES, judge

OPERATOR = Actor("bench", Role.OPERATOR)
PASSWORDS = {"root": "root's long password", "bench": "bench's long password"}
# The ledger's actors: declared (development mode) or users signed in, each its own group.
GROUPS = {"declared": "ledger-verify", "users": "ledger-verify-users"}
GROUP = GROUPS["declared"]
TIMED_RECORDS = 500_000  # an intake and a transition: 1,000,000 history rows


@pytest.fixture(scope="module")
def records(pytestconfig: pytest.Config) -> int:
    return TIMED_RECORDS if pytestconfig.getoption("benchmark_enable") else 5_000


@pytest.fixture(params=list(GROUPS))
def actors(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _operator(ledger: Ledger, actors: str) -> Actor:
    """Who writes the history: the declared operator, or an operator the ledger signed in
    (its administrator created first), so that verify() holds every row to the audit."""
    if actors == "declared":
        return OPERATOR
    ledger.users.create_administrator("root", PASSWORDS["root"])
    root = ledger.sign_in("root", PASSWORDS["root"])
    ledger.users.add(root, "bench", Role.OPERATOR, password=PASSWORDS["bench"])
    return ledger.sign_in("bench", PASSWORDS["bench"])


@pytest.fixture
def history(location: str, records: int, actors: str) -> Iterator[Ledger]:
    niks = ektpcore.sample_niks(records, seed=13)
    with Ledger(location) as ledger:
        operator = _operator(ledger, actors)
        ledger.add_records(
            niks,
            operator,
            state=State.PRINT_READY,
            names=[f"Nama {i}" for i in range(records)],
            kecamatan=[f"Kecamatan {i % 6}" for i in range(records)],
        )
        ledger.transition(niks, State.QUEUED, operator)
        yield ledger


def _field(value: Any) -> bytes:
    if value is None:
        return b"\x00"
    text = str(value).encode()
    return b"\x01" + len(text).to_bytes(4, "big") + text


def python_verify(ledger: Ledger) -> bool:
    """Reference: the record history's chain with hashlib, one row at a time. A row's payload
    is its field count (4 bytes, big-endian), then each field (the table's name, the sequence
    number, the columns, and for an intake row its record's identity columns) as 0x00 for NULL
    or 0x01, the length (4 bytes, big-endian) and the UTF-8 text; each link is SHA-256 over
    the previous link, the payload's length (8 bytes, little-endian) and the payload, from the
    link of the chain's epoch."""
    subject = RECORD_CHAIN.subject
    assert subject is not None
    identity = {
        row[0]: row[1:]
        for row in ledger._query(f"SELECT id, {', '.join(subject.columns)} FROM records")
    }
    (epoch,) = ledger._query("SELECT link FROM chain_epochs WHERE chain = 'history'")
    previous = bytes(epoch[0])
    columns = ", ".join(RECORD_CHAIN.columns)
    for row in ledger._query(f"SELECT seq, {columns}, hash FROM history ORDER BY seq"):
        *fields, stored = row
        if fields[5] is None:  # from_state: the row took its record in
            fields += identity[fields[1]]
        payload = len(fields) + 1
        body = b"".join(_field(f) for f in ("history", *fields))
        data = payload.to_bytes(4, "big") + body
        link = hashlib.sha256(previous + len(data).to_bytes(8, "little") + data).digest()
        if link != bytes(stored):
            return False
        previous = link
    return True


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def test_verify(benchmark: Any, history: Ledger, location: str, records: int, actors: str) -> None:
    store = "postgresql" if "://" in location else "sqlite"
    group = GROUPS[actors]
    # The history, and the audit: its first row, the ledger's identity, and with users their
    # creation and sign-ins.
    ((audit,),) = history._query("SELECT count(*) FROM audit")
    rows = 2 * records + int(audit)
    assert actors == "users" or audit == 2
    benchmark.group = group
    benchmark.extra_info["implementation"] = STORES[store]
    times: list[float] = []

    def run() -> Any:
        report, seconds = _timed(history.verify)
        times.append(seconds)
        return report

    report = benchmark.pedantic(run, rounds=3)
    seconds = min(times)
    assert report.ok
    assert report.rows == rows
    if benchmark.stats is not None:
        RESULTS.setdefault(group, {})[STORES[store]] = seconds
    timed = records == TIMED_RECORDS
    which = "" if actors == "declared" else ", with users"
    judge(
        f"verify() of {rows:,} history rows on {store}{which}, seconds", seconds, 3.5, timed, False
    )
    judge(f"verify() on {store}{which}, history rows per s", rows / seconds, 300_000, timed)
    # The peer, in the same run: the record history's chain alone, in Python.
    ok, peer = _timed(lambda: python_verify(history))
    assert ok, "the Python reference disagrees with the ledger's chain"
    if benchmark.stats is not None:
        RESULTS[group][f"python hashlib loop ({store}, history chain only)"] = peer


def test_verify_sealed(
    benchmark: Any, tmp_path_factory: pytest.TempPathFactory, records: int
) -> None:
    """The same on a sealed SQLite ledger: HMAC links, and every record's sealed fields
    opened and matched to its NIK index (reported beside the open ledger's figure)."""
    folder = tmp_path_factory.mktemp("sealed")
    niks = ektpcore.sample_niks(records, seed=13)
    with Ledger(folder / "sealed.db", keys=KeyFile.create(folder / "ledger.keys")) as ledger:
        ledger.add_records(
            niks, OPERATOR, state=State.PRINT_READY, names=[f"Nama {i}" for i in range(records)]
        )
        ledger.transition(niks, State.QUEUED, OPERATOR)
        benchmark.group = "ledger-verify-sealed"
        report, seconds = benchmark.pedantic(_timed, args=(ledger.verify,), rounds=1)
    assert report.ok
    timed = records == TIMED_RECORDS
    judge(
        f"verify() of {report.rows:,} history rows, sealed, on sqlite, seconds",
        seconds,
        3.5,
        timed,
        False,
    )
    judge("verify(), sealed, on sqlite, history rows per s", report.rows / seconds, 300_000, timed)
    open_seconds = RESULTS.get(GROUP, {}).get(STORES["sqlite"])
    share = "" if open_seconds is None else f" ({seconds / open_seconds:.2f} of the open ledger's)"
    NOTES.append(
        f"verify() of {report.rows:,} history rows, sealed, on sqlite: {seconds:.2f} s{share}"
    )
