"""One transaction object is the single way the ledger changes: what goes through it commits
together or not at all, a finished one cannot be reused, and the package's SQL reaches the
database only through the store's translation (so a store with another parameter style runs
the whole day unchanged)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Role, State
from ektpcore.ledger import SqliteStore

AUDITOR, OPERATOR, SUPERVISOR, _ = (Actor(role.name.lower(), role) for role in Role)
NIKS = [str(v) for v in ektpcore.sample_niks(8, seed=7)]


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY, kecamatan=["K"] * 8)
        led.blanks.receive("LOT-1", 1, 100, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        yield led


def _snapshot(led: Ledger) -> tuple[Any, ...]:
    return (
        led.counts(),
        led.blanks.counts(),
        led.ribbons.current("P1"),
        led.verify(),
        led.journal.in_doubt("P1"),
    )


def test_everything_in_one_transaction_commits_together(ledger: Ledger) -> None:
    with ledger.transaction(OPERATOR) as tx:
        serials = tx.queue(NIKS[:5], "B-1", "P1")
        tx.transition(NIKS[:4], State.PRINTED, batch="B-1", printer="P1", blanks=serials[:4])
        tx.ribbons.install("P2", "K", 1000)
        tx.journal.sent(int(NIKS[4]), "B-1", "P1", serials[4])
    assert ledger.counts() == {State.PRINTED: 4, State.QUEUED: 1, State.PRINT_READY: 3}
    assert ledger.blanks.counts()[BlankState.USED] == 4
    assert ledger.ribbons.current("P1").remaining == 496  # type: ignore[union-attr]
    assert ledger.ribbons.current("P2") is not None
    assert ledger.journal.sent("P1") == [int(NIKS[4])]
    assert ledger.verify().ok


def _print_then_fail(ledger: Ledger) -> None:
    with ledger.transaction(OPERATOR) as tx:
        serials = tx.queue(NIKS[:4], "B-1", "P1")
        tx.transition(NIKS[:4], State.PRINTED, batch="B-1", printer="P1", blanks=serials)
        tx.blanks.spoil(tx.blanks.allocate("B-1", 1), reason="jam")
        raise RuntimeError("power cut")


def _queue_then_refused(ledger: Ledger) -> None:
    with ledger.transaction(OPERATOR) as tx:
        tx.queue(NIKS[:2], "B-2", "P1")
        tx.transition(NIKS[2:4], State.ISSUED)


def test_a_failure_anywhere_in_the_block_leaves_nothing(ledger: Ledger) -> None:
    before = _snapshot(ledger)
    with pytest.raises(RuntimeError, match="power cut"):
        _print_then_fail(ledger)
    assert _snapshot(ledger) == before
    # A refusal by the ledger itself rolls back the earlier steps of the same block too.
    with pytest.raises(ektpcore.IllegalTransitionError):
        _queue_then_refused(ledger)
    assert _snapshot(ledger) == before


def test_a_finished_transaction_refuses_further_changes(ledger: Ledger) -> None:
    with ledger.transaction(OPERATOR) as tx:
        tx.transition(NIKS[:1], State.ON_HOLD, reason="data check")
    with pytest.raises(ektpcore.InvalidArgumentError, match="ended"):
        tx.transition(NIKS[1:2], State.ON_HOLD, reason="data check")
    assert ledger.counts()[State.ON_HOLD] == 1


def test_the_actor_is_checked_for_every_step(ledger: Ledger) -> None:
    with pytest.raises(ektpcore.InvalidArgumentError, match="Actor"), ledger.transaction("ani"):  # type: ignore[arg-type]
        pass
    with pytest.raises(ektpcore.PermissionDeniedError), ledger.transaction(AUDITOR) as tx:
        tx.blanks.allocate("B-1", 1)
    with pytest.raises(ektpcore.PermissionDeniedError), ledger.transaction(OPERATOR) as tx:
        tx.blanks.move([1], BlankState.VOIDED, reason="damaged")
    with ledger.transaction(SUPERVISOR) as tx:
        tx.blanks.move([1], BlankState.VOIDED, reason="damaged")
    assert ledger.blanks.state_of(1) is BlankState.VOIDED


class _PercentConnection:
    """A connection that accepts only ``%s`` placeholders, as psycopg does, and runs the
    statement on SQLite: a statement that bypassed the store's translation fails here."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @staticmethod
    def _sqlite(sql: str) -> str:
        assert "?" not in sql, f"untranslated placeholder in: {sql[:80]}"
        return sql.replace("%s", "?")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self._db.execute(self._sqlite(sql), params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        return self._db.executemany(self._sqlite(sql), rows)


class PercentStore(SqliteStore):
    """The embedded store spoken to in the ``format`` parameter style."""

    def translate(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Any]:  # type: ignore[override]
        with super().transaction() as db:
            yield _PercentConnection(db)

    @contextmanager
    def snapshot(self) -> Iterator[Any]:  # type: ignore[override]
        with super().snapshot() as db:
            yield _PercentConnection(db)

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return _PercentConnection(self._db).execute(sql, params).fetchall()

    def schema_version(self, conn: Any) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")


def test_a_store_with_another_parameter_style_runs_the_whole_day(tmp_path: Path) -> None:
    with Ledger(PercentStore(tmp_path / "percent.db")) as led:
        report = led.add_records(
            NIKS, OPERATOR, state=State.PRINT_READY, kecamatan=["K"] * 4 + ["L"] * 4
        )
        assert report.added == 8
        led.blanks.receive("LOT-1", 1, 20, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        plan = ektpcore.Plan.from_ledger(led, [ektpcore.Printer("P1", 60)])
        plan.commit(led, OPERATOR)
        batch = plan.batches[0]
        assert led.queued(batch.id, "P1") != []
        serials = led.journal.free_blanks(batch.id)
        printed = [str(r.nik) for r in led.queued(batch.id, "P1")]
        led.transition(
            printed, State.PRINTED, OPERATOR, batch=batch.id, printer="P1", blanks=serials
        )
        led.transition(printed, State.ENCODED, OPERATOR)
        led.transition(printed, State.QC_PASSED, OPERATOR)
        for manifest in led.distribution.build(OPERATOR):
            led.distribution.dispatch(manifest.id, OPERATOR)
            led.distribution.receive(manifest.id, "Ibu Camat", manifest.count, OPERATOR)
        led.distribution.hand_over(printed[0], OPERATOR, identity_check="KK + photo")
        assert led.state_of(printed[0]) is State.ISSUED
        assert led.history(printed[0])[-1].target is State.ISSUED
        assert led.blanks.reconcile().balanced
        assert led.verify().ok
        assert led.counts_by("kecamatan") == {("K",): 4, ("L",): 4}


def test_a_misspelt_keyword_is_refused_not_ignored(ledger: Ledger) -> None:
    with pytest.raises(TypeError, match="kecamatans"):
        ledger.add_records(["3271014508990001"], OPERATOR, kecamatans=["K"])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="batches"):
        ledger.transition(NIKS[:1], State.QUEUED, OPERATOR, batches="B-1")  # type: ignore[call-arg]
    assert ledger.counts() == {State.PRINT_READY: 8}


def test_actors_have_names_and_roles_and_reasons_say_something(ledger: Ledger) -> None:
    for name in ("", "   ", "\u200b", "\u200b \u2060"):
        with pytest.raises(ektpcore.InvalidArgumentError, match="name"):
            Actor(name, Role.SUPERVISOR)
    assert Actor("budi", "supervisor").role is Role.SUPERVISOR  # type: ignore[arg-type]
    assert Actor("budi", 2).role is Role.SUPERVISOR  # type: ignore[arg-type]
    for role in ("boss", 7, None):
        with pytest.raises(ektpcore.InvalidArgumentError, match="a role is one of"):
            Actor("budi", role)  # type: ignore[arg-type]
    with pytest.raises(ektpcore.IllegalTransitionError, match="needs a reason"):
        ledger.transition(NIKS[:1], State.ON_HOLD, OPERATOR, reason="\u200b")
    with pytest.raises(ektpcore.InvalidArgumentError, match="reason"):
        ledger.blanks.move([1], BlankState.VOIDED, SUPERVISOR, reason=" \u200b ")
    assert ledger.counts() == {State.PRINT_READY: 8}


def _outcome(led: Ledger, steps: bool) -> list[Any]:
    """A batch's outcome, as the simulator and a station settle one: printed in two chunks
    with a ribbon change between, one chip failed, one rejected at QC, the rest passed, the
    last card taken off the batch. ``steps``: in one tx.transitions() block."""
    with led.transaction(OPERATOR) as tx:
        serials = tx.queue(NIKS[:6], "B-1", "P1")
    with led.transaction(OPERATOR) as tx:
        plan: list[tuple[list[str], State, dict[str, Any]]] = [
            (NIKS[:3], State.PRINTED, {"batch": "B-1", "printer": "P1", "blanks": serials[:3]}),
            (NIKS[3:5], State.PRINTED, {"batch": "B-1", "printer": "P1", "blanks": serials[3:5]}),
            (NIKS[:1], State.PRINT_READY, {"reason": "chip encoding failed"}),
            (NIKS[1:5], State.ENCODED, {}),
            (NIKS[1:2], State.PRINT_READY, {"reason": "rejected at quality control"}),
            (NIKS[2:5], State.QC_PASSED, {}),
            (NIKS[5:6], State.PRINT_READY, {"reason": "jam: taken out of the batch"}),
        ]
        with contextlib.ExitStack() as stack:
            moves = stack.enter_context(tx.transitions()) if steps else tx
            for k, (niks, state, change) in enumerate(plan):
                if k == 1:
                    tx.ribbons.install("P1", "YMCKO", 500)
                moves.transition(niks, state, **change)
    rows = [
        (h.seq, nik, h.actor, h.role, h.source, h.target, h.reason, h.batch, h.printer, h.blank)
        for nik in NIKS
        for h in led.history(nik)
    ]
    return [sorted(rows), led.counts(), led.blanks.counts(), led.ribbons.current("P1")]


def test_steps_written_once_are_the_steps_written_one_by_one(ledger_location: str) -> None:
    """The history rows (numbered, chained), the records' states, the blanks and the ribbon
    are those of one transition after another; verify() holds the chain."""
    with Ledger(":memory:") as one_by_one:
        one_by_one.add_records(NIKS, OPERATOR, state=State.PRINT_READY, kecamatan=["K"] * 8)
        one_by_one.blanks.receive("LOT-1", 1, 100, SUPERVISOR)
        one_by_one.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        expected = _outcome(one_by_one, steps=False)
    with Ledger(ledger_location) as led:
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY, kecamatan=["K"] * 8)
        led.blanks.receive("LOT-1", 1, 100, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        got = _outcome(led, steps=True)
        assert led.verify().ok
    assert got[0] == expected[0]
    assert got[1:3] == expected[1:3]
    assert got[1] == {State.QC_PASSED: 3, State.PRINT_READY: 5}
    assert (got[3].remaining, expected[3].remaining) == (498, 498)  # type: ignore[union-attr]


def test_each_step_is_checked_against_the_steps_before_it(ledger: Ledger) -> None:
    with ledger.transaction(OPERATOR) as tx:
        serials = tx.queue(NIKS[:2], "B-1", "P1")

    def encoded_skipped() -> None:
        with ledger.transaction(OPERATOR) as tx, tx.transitions() as moves:
            moves.transition(NIKS[:2], State.PRINTED, batch="B-1", printer="P1", blanks=serials)
            moves.transition(NIKS[:2], State.QC_PASSED)  # not encoded yet

    with pytest.raises(ektpcore.IllegalTransitionError):
        encoded_skipped()
    assert ledger.counts()[State.QUEUED] == 2  # nothing written
    with ledger.transaction(OPERATOR) as tx, tx.transitions() as moves:
        moves.transition(NIKS[:2], State.PRINTED, batch="B-1", printer="P1", blanks=serials)
        moves.transition(NIKS[:2], State.ENCODED)
        # A transition outside the block comes after the steps made so far.
        tx.transition(NIKS[:1], State.QC_PASSED)
        moves.transition(NIKS[1:2], State.QC_PASSED)
    assert ledger.counts() == {State.QC_PASSED: 2, State.PRINT_READY: 6}
    assert [h.target for h in ledger.history(NIKS[0])][-3:] == [
        State.PRINTED,
        State.ENCODED,
        State.QC_PASSED,
    ]
    assert ledger.verify().ok
    with ledger.transaction(OPERATOR) as tx, tx.transitions():
        nested = tx.transitions()
        with pytest.raises(ektpcore.InvalidArgumentError):
            nested.__enter__()
