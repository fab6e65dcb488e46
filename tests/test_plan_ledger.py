"""The planner on a ledger: it plans what is print-ready and writes its batches back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest

import ektpcore
from ektpcore import (
    Actor,
    BlankShortageError,
    BlankState,
    Ledger,
    Plan,
    Printer,
    Priority,
    Role,
    State,
    Unscheduled,
)
from ektpcore.clock import WIB

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
START = dt.datetime(2017, 11, 13, 8, tzinfo=WIB)
NIKS = ektpcore.sample_niks(1_200, seed=5)


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        kec = ["Bogor Barat" if i % 3 else "Bogor Timur" for i in range(1_000)]
        kel = [f"Kel {i % 7}" for i in range(1_000)]
        prio = [Priority.REPLACEMENT if i % 10 == 0 else Priority.FIRST_TIME for i in range(1_000)]
        led.add_records(
            NIKS[:1_000],
            OPERATOR,
            state=State.PRINT_READY,
            kecamatan=kec,
            kelurahan=kel,
            priority=prio,
        )
        led.add_records(NIKS[1_000:], OPERATOR, state=State.SENT_FOR_ENROLMENT)
        led.blanks.receive("LOT-1", 5_000, 5_899, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR, remaining=40)
        yield led


PRINTERS = [Printer("P1", 150, 100), Printer("P2", 150, 100)]


def test_plans_print_ready_records_over_the_blanks_in_stock(ledger: Ledger) -> None:
    p = Plan.from_ledger(ledger, PRINTERS, start=START, click_limit=200)
    assert len(p.records) == 1_000
    refused = p.unscheduled[Unscheduled.NO_BLANK]
    assert len(refused) == 100
    # The 100 without a blank are exactly the replacements.
    replacements = {int(v) for i, v in enumerate(NIKS[:1_000]) if i % 10 == 0}
    assert {int(v) for v in refused} == replacements
    # The ribbon the ledger knows about is the one planned with.
    p1 = [b for b in p.batches if b.printer == "P1"]
    assert p1[0].ribbon_changes == (40,)


def test_commit_queues_each_batch_with_its_blanks(ledger: Ledger) -> None:
    p = Plan.from_ledger(ledger, PRINTERS, start=START, click_limit=200)
    serials = p.commit(ledger, OPERATOR)
    assert set(serials) == {b.id for b in p.batches}
    counts = ledger.counts()
    assert counts[State.QUEUED] == 900
    assert counts[State.PRINT_READY] == 100
    assert ledger.blanks.counts()[BlankState.ALLOCATED] == 900
    first = p.batches[0]
    queued = ledger.batch(first.id)
    assert sorted(int(r.nik) for r in queued) == sorted(first.records.tolist())
    assert len(serials[first.id]) == len(first)
    assert all(ledger.blanks.state_of(s) is BlankState.ALLOCATED for s in serials[first.id])
    assert ledger.verify().ok


def test_a_batch_without_enough_blanks_is_not_queued_at_all(ledger: Ledger) -> None:
    p = Plan.from_ledger(ledger, PRINTERS, start=START, click_limit=200)
    ledger.blanks.allocate("elsewhere", 850, OPERATOR)
    with pytest.raises(BlankShortageError):
        p.commit(ledger, OPERATOR, [p.batches[0].id])
    assert ledger.counts()[State.PRINT_READY] == 1_000
    assert ledger.blanks.counts()[BlankState.ALLOCATED] == 850


def test_a_reprint_is_served_as_a_replacement(ledger: Ledger) -> None:
    nik = NIKS[1]
    serial = ledger.blanks.allocate("B-0", 1, OPERATOR)
    ledger.transition([nik], State.QUEUED, OPERATOR, batch="B-0")
    ledger.transition([nik], State.PRINTED, OPERATOR, batch="B-0", blanks=serial)
    for state in (State.ENCODED, State.QC_PASSED):
        ledger.transition([nik], state, OPERATOR)
    manifest = ledger.distribution.build(OPERATOR)[0]
    ledger.distribution.dispatch(manifest.id, OPERATOR)
    ledger.distribution.receive(manifest.id, "camat", 1, OPERATOR)
    ledger.distribution.hand_over(nik, OPERATOR, identity_check="KK checked")
    request = ledger.approvals.request(nik, State.PRINT_READY, OPERATOR, reason="card lost")
    ledger.approvals.approve(request.id, SUPERVISOR)
    p = Plan.from_ledger(ledger, PRINTERS, start=START)
    idx = int(np.flatnonzero(p.records == int(nik))[0])
    assert int(p._jobs.priority[idx]) == Priority.REPLACEMENT


def test_hand_over_many_records_every_identity_check(ledger: Ledger) -> None:
    niks = [NIKS[1], NIKS[2], NIKS[4]]  # one kecamatan
    serials = ledger.blanks.allocate("B-0", 3, OPERATOR)
    ledger.transition(niks, State.QUEUED, OPERATOR, batch="B-0")
    ledger.transition(niks, State.PRINTED, OPERATOR, batch="B-0", blanks=serials)
    for state in (State.ENCODED, State.QC_PASSED):
        ledger.transition(niks, state, OPERATOR)
    (manifest,) = ledger.distribution.build(OPERATOR)
    ledger.distribution.dispatch(manifest.id, OPERATOR)
    ledger.distribution.receive(manifest.id, "camat", 3, OPERATOR)
    with pytest.raises(ektpcore.InvalidArgumentError, match="identity check"):
        ledger.distribution.hand_over_many(niks, OPERATOR, identity_checks=["KK", " ", "KK"])
    assert ledger.counts().get(State.ISSUED, 0) == 0
    assert ledger.distribution.hand_over_many(niks, OPERATOR, identity_checks=["KK"] * 3) == 3
    assert ledger.counts()[State.ISSUED] == 3
