"""The ledger under crashes, concurrent writers and random operation sequences."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import warnings

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import ektpcore
from ektpcore import Actor, Ledger, Role, State, permits

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)

# A writer that moves groups of records back and forth between PRINT_READY and QUEUED, one bulk
# transition per group, and allocates and releases blanks for each batch, forever; it prints
# each completed step so the parent knows it is busy.
WRITER = """
import sys
from ektpcore import Actor, BlankState, Ledger, Role, State
ledger = Ledger(sys.argv[1])
actor = Actor(sys.argv[2], Role.OPERATOR)
groups = [g.split(",") for g in sys.argv[3:]]
step = 0
while True:
    for group in groups:
        state = ledger.state_of(group[0])
        if state is State.PRINT_READY:
            ledger.transition(group, State.QUEUED, actor, batch=f"b{step}")
            serials = ledger.blanks.allocate(f"b{step}", 50, actor)
            ledger.blanks.move(serials, BlankState.IN_STOCK, actor, reason="batch undone")
        else:
            ledger.transition(group, State.PRINT_READY, actor, reason="requeued")
        step += 1
        print(step, flush=True)
"""


def _groups(niks: list[str], size: int) -> list[list[str]]:
    return [niks[i : i + size] for i in range(0, len(niks), size)]


def _start_writer(location: str, name: str, groups: list[list[str]]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, location, name, *(",".join(g) for g in groups)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str], sig: int) -> None:
    os.kill(proc.pid, sig)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _wait_for_steps(proc: subprocess.Popen[str], steps: int) -> None:
    assert proc.stdout is not None
    for _ in range(steps):
        if not proc.stdout.readline():
            raise AssertionError("the writer stopped early")


def _assert_consistent(location: str, groups: list[list[str]]) -> None:
    with Ledger(location) as ledger:
        assert ledger.verify().ok
        stock = ledger.blanks.reconcile()
        assert stock.balanced, stock.discrepancies
        assert (
            stock.counts.get(ektpcore.BlankState.IN_STOCK, 0)
            + stock.counts.get(ektpcore.BlankState.ALLOCATED, 0)
            == stock.received
        )
        for group in groups:
            states = {ledger.state_of(nik) for nik in group}
            assert len(states) == 1, "a bulk change was applied half-way"


def test_sigkill_mid_write_never_leaves_half_a_change(ledger_location: str) -> None:
    path = ledger_location
    niks = [str(v) for v in ektpcore.sample_niks(3000, seed=21)]
    with Ledger(path) as ledger:
        ledger.add_records(niks, OPERATOR, state=State.PRINT_READY)
        ledger.blanks.receive("LOT-A", 1, 5000, SUPERVISOR)
    groups = _groups(niks, 500)
    rng = random.Random(7)
    for _ in range(6):
        proc = _start_writer(path, "ani", groups)
        _wait_for_steps(proc, rng.randint(1, 6))
        time.sleep(rng.uniform(0, 0.05))
        _stop(proc, signal.SIGKILL)
        _assert_consistent(path, groups)


def test_two_processes_writing_at_once_lose_nothing(ledger_location: str) -> None:
    path = ledger_location
    niks = [str(v) for v in ektpcore.sample_niks(2000, seed=22)]
    with Ledger(path) as ledger:
        ledger.add_records(niks, OPERATOR, state=State.PRINT_READY)
        ledger.blanks.receive("LOT-A", 1, 5000, SUPERVISOR)
        rows_before = ledger._verify_chain(ektpcore.ledger.RECORD_CHAIN).rows
    groups = _groups(niks, 250)
    writers = [
        _start_writer(path, "ani", groups[:4]),
        _start_writer(path, "eko", groups[4:]),
    ]
    for proc in writers:
        _wait_for_steps(proc, 12)
    for proc in writers:
        _stop(proc, signal.SIGTERM)
    _assert_consistent(path, groups)
    with Ledger(path) as ledger:
        history = [ledger.history(g[0]) for g in groups]
        # Every completed step left exactly one history row per record of its group.
        changes = sum(len(h) - 1 for h in history)
        assert changes >= 24
        assert ledger._verify_chain(ektpcore.ledger.RECORD_CHAIN).rows == rows_before + sum(
            (len(h) - 1) * len(g) for h, g in zip(history, groups, strict=True)
        )
        actors = {h.actor for hist in history for h in hist[1:]}
        assert actors == {"ani", "eko"}


ACTORS = [OPERATOR, SUPERVISOR, Actor("citra", Role.AUDITOR)]
B = ektpcore.BlankState
CARD_HOLDING = ektpcore.ledger._CARD_HOLDING


class LedgerMachine(RuleBasedStateMachine):
    """Random intakes, lots, allocations, printing and transitions, legal or not, against a
    plain model of records, blanks and cards."""

    @initialize()
    def start(self) -> None:
        self.ledger = Ledger(":memory:")
        self.model: dict[str, State] = {}
        self.blanks: dict[int, ektpcore.BlankState] = {}
        self.card: dict[str, int] = {}  # NIK -> serial of its valid card
        self.lots: list[tuple[int, int]] = []
        self.pool = [str(v) for v in ektpcore.sample_niks(40, seed=23)]

    @rule(
        picks=st.lists(st.integers(0, 39), min_size=1, max_size=6),
        state=st.sampled_from([State.BIO_CAPTURED, State.PRINT_READY]),
    )
    def intake(self, picks: list[int], state: State) -> None:
        niks = [self.pool[i] for i in picks]
        report = self.ledger.add_records(niks, OPERATOR, state=state)
        fresh = [n for i, n in enumerate(niks) if n not in self.model and n not in niks[:i]]
        assert report.added == len(fresh)
        for nik in fresh:
            self.model[nik] = state

    @rule(first=st.integers(1, 120), size=st.integers(1, 15))
    def receive(self, first: int, size: int) -> None:
        last = first + size - 1
        if any(not (b < first or a > last) for a, b in self.lots):
            with pytest.raises(ektpcore.InvalidArgumentError):
                self.ledger.blanks.receive("lot", first, last, SUPERVISOR)
            return
        assert self.ledger.blanks.receive("lot", first, last, SUPERVISOR) == size
        self.lots.append((first, last))
        self.blanks.update(dict.fromkeys(range(first, last + 1), B.IN_STOCK))

    @rule(count=st.integers(0, 6))
    def allocate(self, count: int) -> None:
        stock = sorted(s for s, st_ in self.blanks.items() if st_ is B.IN_STOCK)
        if count > len(stock):
            with pytest.raises(ektpcore.BlankShortageError):
                self.ledger.blanks.allocate("b", count, OPERATOR)
            return
        assert self.ledger.blanks.allocate("b", count, OPERATOR) == stock[:count]
        for serial in stock[:count]:
            self.blanks[serial] = B.ALLOCATED

    @rule(picks=st.lists(st.integers(0, 39), min_size=1, max_size=3, unique=True))
    def print_queued(self, picks: list[int]) -> None:
        niks = [self.pool[i] for i in picks if self.model.get(self.pool[i]) is State.QUEUED]
        free = sorted(s for s, st_ in self.blanks.items() if st_ is B.ALLOCATED)
        if not niks or len(free) < len(niks):
            return
        serials = free[: len(niks)]
        self.ledger.transition(niks, State.PRINTED, OPERATOR, blanks=serials)
        for nik, serial in zip(niks, serials, strict=True):
            self.model[nik], self.blanks[serial], self.card[nik] = State.PRINTED, B.USED, serial

    @rule(
        picks=st.lists(st.integers(0, 39), min_size=1, max_size=4),
        goal=st.sampled_from(list(State)),
        actor=st.sampled_from(ACTORS),
        reason=st.sampled_from([None, "checked"]),
    )
    def transition(self, picks: list[int], goal: State, actor: Actor, reason: str | None) -> None:
        niks = list(dict.fromkeys(self.pool[i] for i in picks))
        # Printing needs blanks, which this rule never gives: always refused.
        allowed = all(nik in self.model for nik in niks) and actor.role >= Role.OPERATOR
        allowed = allowed and goal is not State.PRINTED
        for nik in niks:
            rule_ = ektpcore.TRANSITIONS.get((self.model.get(nik, State.CANCELLED), goal))
            allowed = allowed and rule_ is not None and permits(actor.role, rule_.permission)
            allowed = allowed and not (rule_ is not None and rule_.reason_required and not reason)
            # A reprint, or cancelling a printed card, is requested and approved, never direct.
            allowed = allowed and not (rule_ is not None and rule_.requested_by is not None)
        if not allowed:
            with pytest.raises(ektpcore.EktpcoreError):
                self.ledger.transition(niks, goal, actor, reason=reason)
            return
        assert self.ledger.transition(niks, goal, actor, reason=reason) == len(niks)
        for nik in niks:
            source, self.model[nik] = self.model[nik], goal
            if source in CARD_HOLDING and goal in (State.PRINT_READY, State.CANCELLED):
                serial = self.card.pop(nik, None)
                if serial is not None and goal is State.CANCELLED:
                    self.blanks[serial] = B.VOIDED
                elif serial is not None and source is not State.ISSUED:
                    self.blanks[serial] = B.SPOILED

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "ledger"):
            return
        expected: dict[State, int] = {}
        for state in self.model.values():
            expected[state] = expected.get(state, 0) + 1
        assert self.ledger.counts() == expected
        blank_counts: dict[ektpcore.BlankState, int] = {}
        for state in self.blanks.values():
            blank_counts[state] = blank_counts.get(state, 0) + 1
        assert self.ledger.blanks.counts() == blank_counts
        for nik, serial in self.card.items():
            assert self.ledger.where_is(nik).card_serial == serial
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ektpcore.BlankShortageWarning)
            report = self.ledger.blanks.reconcile()
        # Every blank is counted; the machine queues records in no batch, so every blank it
        # allocated to batch "b" waits for no record and is flagged, and nothing else is.
        assert report.received == sum(report.counts.values())
        allocated = sorted(s for s, st_ in self.blanks.items() if st_ is B.ALLOCATED)
        assert sorted(serial for serial, _ in report.discrepancies) == allocated
        assert self.ledger.verify().ok

    def teardown(self) -> None:
        if hasattr(self, "ledger"):
            self.ledger.close()


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(
    settings.default,
    stateful_step_count=30,
    max_examples=max(10, settings.default.max_examples // 4),
)
