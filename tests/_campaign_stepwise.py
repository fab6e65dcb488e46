"""The campaign simulator driving its ledger one call at a time, as it did before a batch's
outcome, a morning's dispatch and a kecamatan's arrival became one change each: every ledger
call its own transaction, on a SQLite file that is not flushed at each commit. Same planner,
same draws, same events; the peer that shows the simulator's report unchanged
(``tests/test_simulate.py``) and what recording in larger changes saved
(``benches/test_bench_simulate.py``)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from ektpcore import Ledger, State
from ektpcore.ledger import Manifest, SqliteStore
from ektpcore.simulate import _OPERATOR, CampaignReport, _Campaign, _Outcome, _Running


class _Stepwise(_Campaign):
    def record_batch(self, run: _Running, out: _Outcome) -> None:
        led = self.ledger
        printed = out.printed
        ok_ids, ok_serials = run.records[:printed], run.serials[:printed]
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
        rest_ids, rest_serials = run.records[printed:], run.serials[printed:]
        if rest_ids:
            with led.transaction(_OPERATOR) as tx:
                if out.spoil_current:
                    tx.blanks.spoil(rest_serials[:1], reason=out.why)
                tx.transition(
                    rest_ids, State.PRINT_READY, reason=f"{out.why}: taken out of the batch"
                )

    def send_manifests(self) -> list[int]:
        built = self.ledger.distribution.build(_OPERATOR)
        for m in built:
            self.ledger.distribution.dispatch(m.id, _OPERATOR)
        return [m.id for m in built]

    def send_on(self, m: Manifest) -> list[int]:
        self.ledger.distribution.receive(m.id, "camat", m.count, _OPERATOR)
        with self.ledger.transaction(_OPERATOR) as tx:
            sent = tx.distribution.build_kelurahan(m.kecamatan)
            for each in sent:
                tx.distribution.dispatch(each)
        return sent


def simulate_stepwise(scenario: dict[str, Any], seed: int, path: Path) -> CampaignReport:
    """The campaign of ``simulate(scenario, seed=seed)``, its ledger a new file at ``path``
    written one call at a time."""
    with Ledger(SqliteStore(path, durable=False)) as led:
        return _Stepwise(scenario, seed, led, None, None).run()
