"""The campaign simulator driving its ledger one call at a time, as it did before a batch's
outcome, a morning's dispatch and a kecamatan's arrival became one change each and before the
ledger's changes had a thread of their own: every ledger call its own transaction, made when
the simulation asks for it, on a SQLite file that is not flushed at each commit. Same planner,
same draws, same events; the peer that shows the simulator's report unchanged
(``tests/test_simulate.py``) and what recording in larger changes beside the simulation saved
(``benches/test_bench_simulate.py``)."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ektpcore import Ledger, State
from ektpcore.ledger import Manifest, SqliteStore
from ektpcore.simulate import (
    _OPERATOR,
    CampaignReport,
    _Campaign,
    _LedgerThread,
    _Outcome,
    _Running,
)


class _Inline(_LedgerThread):
    """Each change made as soon as it is asked for, on the simulation's own thread, which
    waits for it."""

    def later(self, work: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        began = time.perf_counter()
        try:
            value = work(*args, **kwargs)
        finally:
            spent = time.perf_counter() - began
            self.busy += spent
            self.waited += spent
        done: Future[Any] = Future()
        done.set_result(value)
        return done


class _Stepwise(_Campaign):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.changes = _Inline()

    def record_batch(self, run: _Running, out: _Outcome) -> None:
        led = self.direct
        printed = out.printed
        serials = run.serials.result()[run.batch]
        ok_ids, ok_serials = run.records[:printed], serials[:printed]
        changes = [c for c in run.changes if c < printed]
        for a, b in itertools.pairwise(sorted({0, *changes, printed})):
            if a in changes:
                ribbon = led.ribbons.current(run.printer)
                kind = ribbon.kind if ribbon else "YMCKO"
                led.ribbons.install(run.printer, kind, self.s["ribbons"]["capacity"], _OPERATOR)
            if b > a:
                led.transition(
                    ok_ids[a:b],
                    State.PRINTED,
                    _OPERATOR,
                    batch=run.batch,
                    printer=run.printer,
                    blanks=ok_serials[a:b],
                )
        for niks, state, reason in out.steps():
            led.transition(niks, state, _OPERATOR, reason=reason)
        rest_ids, rest_serials = run.records[printed:], serials[printed:]
        if rest_ids:
            with led.transaction(_OPERATOR) as tx:
                if out.spoil_current:
                    tx.blanks.spoil(rest_serials[:1], reason=out.why)
                tx.transition(
                    rest_ids, State.PRINT_READY, reason=f"{out.why}: taken out of the batch"
                )

    def send_manifests(self) -> list[int]:
        built = self.direct.distribution.build(_OPERATOR)
        for m in built:
            self.direct.distribution.dispatch(m.id, _OPERATOR)
        return [m.id for m in built]

    def send_on(self, m: Manifest) -> list[int]:
        self.direct.distribution.receive(m.id, "camat", m.count, _OPERATOR)
        with self.direct.transaction(_OPERATOR) as tx:
            sent = tx.distribution.build_kelurahan(m.kecamatan)
            for each in sent:
                tx.distribution.dispatch(each)
        return sent


def simulate_stepwise(scenario: dict[str, Any], seed: int, path: Path) -> CampaignReport:
    """The campaign of ``simulate(scenario, seed=seed)``, its ledger a new file at ``path``
    written one call at a time."""
    with Ledger(SqliteStore(path, durable=False)) as led:
        return _Stepwise(scenario, seed, led, None, None).run()
