"""Shared test setup: hypothesis profiles and strategies for NIKs, and where ledgers live.

Pick a profile with ``EKTPCORE_HYPOTHESIS_PROFILE``: ``ci`` (fast, the default under CI=true),
``dev`` (the default elsewhere) or ``thorough``.

Ledger tests take ``ledger_location`` and run twice: on a SQLite file and on a PostgreSQL
database of their own. The PostgreSQL cases need a server: set ``EKTPCORE_TEST_POSTGRES`` to a
URL of it (``postgresql://USER@HOST:PORT/DB``, a superuser: each test creates and drops a
database, and the tampering tests switch triggers off); ``.ci/run`` starts one. Without it they
are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import ektpcore
from ektpcore import _ektpcore, testing

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=150, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("EKTPCORE_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)

PROVINCES = [code for code, _ in _ektpcore.provinces()]
NOT_PROVINCES = [p for p in range(100) if p not in PROVINCES]


@st.composite
def nik_parts(draw: st.DrawFn) -> tuple[int, dt.date, ektpcore.Sex, int]:
    """Valid parts of a NIK: region code, birth date, sex, serial."""
    region = (
        draw(st.sampled_from(PROVINCES)) * 10_000
        + draw(st.integers(1, 99)) * 100
        + draw(st.integers(1, 99))
    )
    born = draw(st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)))
    sex = draw(st.sampled_from(ektpcore.Sex))
    return region, born, sex, draw(st.integers(1, 9999))


def valid_niks() -> st.SearchStrategy[str]:
    return nik_parts().map(lambda p: str(ektpcore.Nik.compose(*p)))


# -- where ledgers live ---------------------------------------------------------------------------

POSTGRES_VARIABLE = "EKTPCORE_TEST_POSTGRES"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of the test server (skipped without one, failed under CI)."""
    url = os.environ.get(POSTGRES_VARIABLE)
    problem = None
    if not url:
        problem = (
            f"PostgreSQL cases need a server: set {POSTGRES_VARIABLE}=postgresql://USER@HOST:PORT/DB"
            " (a superuser; .ci/run starts one)"
        )
    elif importlib.util.find_spec("psycopg") is None:
        problem = "PostgreSQL cases need psycopg: pip install 'ektpcore[postgres]'"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; under CI they must run")
        pytest.skip(problem)
    assert url is not None
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_location(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """Where a test's ledger lives, as ``Ledger(...)`` takes it: a new SQLite file under
    ``tmp_path``, or the URL of a new PostgreSQL database, dropped after the test."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    from ektpcore.ledger.postgres import scratch_database

    with scratch_database(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture
def tamper(ledger_location: str) -> Callable[..., None]:
    """``tamper(sql, params=())`` writes behind the ledger's back: one statement (``?``
    placeholders) on the test's ledger with its triggers and foreign keys not firing, as
    someone editing the database by hand could."""

    def on_sqlite(sql: str, params: Sequence[Any] = ()) -> None:
        raw = sqlite3.connect(ledger_location, isolation_level=None)  # foreign keys off
        triggers = raw.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        saved = triggers.fetchall()
        raw.execute("BEGIN IMMEDIATE")
        for name, _ in saved:
            raw.execute(f"DROP TRIGGER {name}")
        raw.execute(sql, params)
        for _, text in saved:
            raw.execute(text)
        raw.execute("COMMIT")
        raw.close()

    def on_postgres(sql: str, params: Sequence[Any] = ()) -> None:
        import psycopg

        from ektpcore.ledger.postgres import translate

        with psycopg.connect(ledger_location, autocommit=True) as raw:
            raw.execute("SET session_replication_role = replica")  # no triggers, no FK checks
            raw.execute(translate(sql), params)

    return on_postgres if "://" in ledger_location else on_sqlite


def staff(
    ledger: ektpcore.Ledger, roles: dict[str, ektpcore.Role], passwords: dict[str, str]
) -> dict[str, ektpcore.Actor]:
    """Gives ``ledger`` its users: the administrator (the one ``roles`` makes one, created
    first), then everyone else, each with its password; returns each signed in."""
    admin = next(name for name, role in roles.items() if role is ektpcore.Role.ADMINISTRATOR)
    ledger.users.create_administrator(admin, passwords[admin])
    root = ledger.sign_in(admin, passwords[admin])
    for name, role in roles.items():
        if name != admin:
            ledger.users.add(root, name, role, password=passwords[name])
    return {name: ledger.sign_in(name, passwords[name]) for name in roles}


def card_intake(niks: Sequence[int], photo: str) -> dict[str, Any]:
    """Intake columns that give each record everything its card shows (a station refuses a
    record that lacks a field): names, the card's fields, and one photo file for all."""
    return testing.card_intake(niks, photo)


@pytest.fixture
def card_photo(tmp_path: Any) -> str:
    """A small photo file (the station's photo rule is switched off where it is used)."""
    from PIL import Image

    path = tmp_path / "foto.png"
    Image.new("RGB", (60, 80), (200, 30, 30)).save(path)
    return str(path)
