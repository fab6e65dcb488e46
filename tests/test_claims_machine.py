"""Batch claims, leases, take-overs, releases, fenced station writes, desk changes and
supervisor settlements in random order, against a plain model of records, blanks, the station
journal and the claims.

Time is driven without waiting for it: a station whose lease should lapse is given a lease of
one millisecond (a claim made so, or renewed so: its heartbeat stopped), and the machine
sleeps two milliseconds once, so the lapse is certain; every other lease lasts an hour.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

import ektpcore
from ektpcore import Actor, BlankState, Ledger, Role, State
from ektpcore.ledger.claims import Claim

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
LIVE = dt.timedelta(hours=1)
LAPSING = dt.timedelta(milliseconds=1)
BATCHES = ("B-1", "B-2")
STATIONS = ("P1@pc-1", "P1@pc-2", "P1@pc-3")
PRINTER = "P1"
NIKS = [int(v) for v in ektpcore.sample_niks(8, seed=41)]
BLANKS = 60
B = BlankState


def _lapse() -> None:
    time.sleep(2 * LAPSING.total_seconds())


@dataclass
class HeldClaim:
    """The model's claim of a batch."""

    station: str
    generation: int
    released: bool = False
    lapsed: bool = False


class ClaimsMachine(RuleBasedStateMachine):
    tokens = Bundle("tokens")

    @initialize()
    def start(self) -> None:
        self.ledger = Ledger(":memory:")
        led = self.ledger
        led.add_records(NIKS, OPERATOR, state=State.PRINT_READY)
        led.blanks.receive("LOT", 1, BLANKS, SUPERVISOR)
        led.ribbons.install(PRINTER, "YMCKO", 10_000, OPERATOR)
        self.state: dict[int, State] = dict.fromkeys(NIKS, State.PRINT_READY)
        self.batch_of: dict[int, str] = {}
        self.blanks: dict[int, tuple[BlankState, str | None]] = {
            s: (B.IN_STOCK, None) for s in range(1, BLANKS + 1)
        }
        self.card: dict[int, int] = {}  # NIK -> serial of its valid card
        self.journal: dict[int, tuple[str, int, str]] = {}  # NIK -> (batch, serial, state)
        self.claims: dict[str, HeldClaim] = {}
        self.handed: list[Claim] = []  # every claim handed to a station, live or fenced
        for batch, niks in zip(BATCHES, (NIKS[:4], NIKS[4:]), strict=True):
            self._queue(niks, batch)

    # -- the model's bookkeeping ----------------------------------------------------------

    def _queue(self, niks: list[int], batch: str) -> None:
        serials = self.ledger.queue(niks, batch, PRINTER, OPERATOR)
        stock = sorted(s for s, (state, _) in self.blanks.items() if state is B.IN_STOCK)
        assert serials == stock[: len(niks)]
        for nik in niks:
            self.state[nik], self.batch_of[nik] = State.QUEUED, batch
        for serial in serials:
            self.blanks[serial] = (B.ALLOCATED, batch)

    def _live(self, token: Claim) -> bool:
        held = self.claims.get(token.batch)
        return (
            held is not None
            and held.generation == token.generation
            and not held.released
            and not held.lapsed
        )

    def _guarded(self, nik: int) -> bool:
        """A record waiting in a batch with an unreleased claim (live or lapsed)."""
        if self.state[nik] is not State.QUEUED:
            return False
        held = self.claims.get(self.batch_of[nik])
        return held is not None and not held.released

    def _free(self, batch: str) -> list[int]:
        held = {serial for _, serial, _ in self.journal.values()}
        return sorted(
            s
            for s, (state, b) in self.blanks.items()
            if state is B.ALLOCATED and b == batch and s not in held
        )

    def _waiting(self, batch: str) -> list[int]:
        return [
            n
            for n, state in self.state.items()
            if state is State.QUEUED and self.batch_of[n] == batch and n not in self.journal
        ]

    def _return_spares(self, batch: str) -> None:
        """Records taken off a batch give back its spare blanks, highest serials first."""
        free = self._free(batch)
        for serial in sorted(free, reverse=True)[: max(0, len(free) - len(self._waiting(batch)))]:
            self.blanks[serial] = (B.IN_STOCK, batch)

    def _recover(self, batch: str) -> None:
        """Cards sent under an earlier claim of ``batch`` become in doubt."""
        for nik, (b, serial, state) in list(self.journal.items()):
            if b != batch or state != "sent":
                continue
            assert self.state[nik] is State.QUEUED
            self.state[nik] = State.IN_DOUBT
            self.journal[nik] = (b, serial, "in_doubt")
            event("a card sent under an earlier claim went in doubt")
        self._return_spares(batch)

    def _snapshot(self) -> tuple[Any, ...]:
        led = self.ledger
        return (
            led.counts(),
            led.blanks.counts(),
            led._query("SELECT record_id, batch, serial, state FROM station_journal ORDER BY 1"),
            led._query("SELECT * FROM batch_claims ORDER BY batch"),
            led._query("SELECT count(*) FROM history"),
            led._query("SELECT count(*) FROM blank_history"),
        )

    # -- claims -------------------------------------------------------------------------------

    @rule(
        target=tokens,
        batch=st.sampled_from(BATCHES),
        station=st.sampled_from(STATIONS),
        lapsing=st.sampled_from([False, False, False, True]),
        take_over=st.booleans(),
    )
    def claim(self, batch: str, station: str, lapsing: bool, take_over: bool) -> Any:
        held = self.claims.get(batch)
        refused = held is not None and not held.released and (not held.lapsed or not take_over)
        event("claim " + ("refused" if refused else "taken over" if held else "new"))
        if refused:
            assert held is not None
            before = self._snapshot()
            with pytest.raises(ektpcore.BatchClaimedError) as refusal:
                self.ledger.claims.claim(batch, station, OPERATOR, take_over=take_over)
            assert refusal.value.holder == held.station
            assert self._snapshot() == before
            return multiple()
        lease = LAPSING if lapsing else LIVE
        claim = self.ledger.claims.claim(batch, station, OPERATOR, lease=lease, take_over=take_over)
        generation = 1 if held is None else held.generation + 1
        assert (claim.station, claim.generation, claim.released) == (station, generation, False)
        self.claims[batch] = HeldClaim(station, generation, lapsed=lapsing)
        if held is not None:
            self._recover(batch)
        if lapsing:
            _lapse()
        self.handed.append(claim)
        return claim

    @rule(token=tokens, lapsing=st.sampled_from([False, False, True]))
    def renew(self, token: Claim, lapsing: bool) -> None:
        """A heartbeat; a lapsing one is the last before the station hangs."""
        if not self._live(token):
            before = self._snapshot()
            with pytest.raises(ektpcore.LeaseLostError):
                self.ledger.claims.renew(token, OPERATOR)
            assert self._snapshot() == before
            return
        renewed = self.ledger.claims.renew(token, OPERATOR, LAPSING if lapsing else LIVE)
        assert renewed.generation == token.generation
        if lapsing:
            self.claims[token.batch].lapsed = True
            _lapse()

    @rule(token=tokens)
    def give_back(self, token: Claim) -> None:
        # A station gives its claim back once its run has settled every card it sent.
        if any(b == token.batch and s == "sent" for b, _, s in self.journal.values()):
            return
        if not self._live(token):
            before = self._snapshot()
            with pytest.raises(ektpcore.LeaseLostError):
                self.ledger.claims.give_back(token, OPERATOR)
            assert self._snapshot() == before
            return
        self.ledger.claims.give_back(token, OPERATOR)
        self.claims[token.batch].released = True

    @rule(batch=st.sampled_from(BATCHES), actor=st.sampled_from([OPERATOR, SUPERVISOR]))
    def release(self, batch: str, actor: Actor) -> None:
        held = self.claims.get(batch)
        if actor is OPERATOR:
            with pytest.raises(ektpcore.PermissionDeniedError):
                self.ledger.claims.release(batch, actor, reason="printer moved")
            return
        if held is None or held.released:
            with pytest.raises(ektpcore.InvalidArgumentError, match="no claim to release"):
                self.ledger.claims.release(batch, actor, reason="printer moved")
            return
        released = self.ledger.claims.release(batch, actor, reason="station stopped answering")
        assert released.released
        held.released = True
        self._recover(batch)

    # -- the station's fenced writes ------------------------------------------------------------

    @rule(token=tokens, pick=st.integers(0, 7))
    def send(self, token: Claim, pick: int) -> None:
        """A station, its claim live or not, notes a card in its journal before the card's
        bytes leave."""
        self._send(token, pick)

    @rule(
        token=tokens,
        pick=st.integers(0, 7),
        outcome=st.sampled_from(["printed", "jam", "lost", "refused"]),
    )
    def outcome(self, token: Claim, pick: int, outcome: str) -> None:
        """A station, its claim live or not, records what the printer answered for a card."""
        self._outcome(token, pick, outcome)

    @rule(
        batch=st.sampled_from(BATCHES),
        pick=st.integers(0, 7),
        outcome=st.sampled_from(["printed", "printed", "printed", "jam", "lost", "refused"]),
    )
    def print_card(self, batch: str, pick: int, outcome: str) -> None:
        """The station that holds ``batch`` live records the outcome of a card it sent, or,
        with none sent, sends one."""
        live = [t for t in self.handed if t.batch == batch and self._live(t)]
        if not live:
            return
        if any(b == batch and s == "sent" for b, _, s in self.journal.values()):
            self._outcome(live[0], pick, outcome)
        else:
            self._send(live[0], pick)

    @rule(batch=st.sampled_from(BATCHES), pick=st.integers(0, 7))
    def station_hangs(self, batch: str, pick: int) -> None:
        """The station that holds ``batch`` live sends a card and hangs: no outcome, no more
        heartbeats (its lease is renewed one last time, to lapse at once)."""
        live = [t for t in self.handed if t.batch == batch and self._live(t)]
        if not live:
            return
        self._send(live[0], pick)
        self.ledger.claims.renew(live[0], OPERATOR, LAPSING)
        self.claims[batch].lapsed = True
        _lapse()

    def _send(self, token: Claim, pick: int) -> None:
        waiting = self._waiting(token.batch)
        if not waiting:
            return
        nik = waiting[pick % len(waiting)]
        serial = self._free(token.batch)[0]
        assert self.ledger.journal.free_blanks(token.batch)[0] == serial
        before = self._snapshot()
        try:
            with self.ledger.transaction(OPERATOR) as tx:
                tx.claims.fence(token)
                tx.journal.sent(nik, token.batch, PRINTER, serial)
        except ektpcore.LeaseLostError:
            assert not self._live(token)
            assert self._snapshot() == before
            event("send fenced")
            return
        assert self._live(token)
        self.journal[nik] = (token.batch, serial, "sent")

    def _outcome(self, token: Claim, pick: int, outcome: str) -> None:
        """As ``PrintStation`` records an outcome: the record's change and the journal row's
        in one transaction fenced by the station's claim."""
        sent = sorted(
            n for n, (b, _, s) in self.journal.items() if b == token.batch and s == "sent"
        )
        if not sent:
            return
        nik = sent[pick % len(sent)]
        batch, serial, _ = self.journal[nik]
        before = self._snapshot()
        try:
            with self.ledger.transaction(OPERATOR) as tx:
                tx.claims.fence(token)
                if outcome == "printed":
                    tx.transition(
                        [nik], State.PRINTED, batch=batch, printer=PRINTER, blanks=[serial]
                    )
                    tx.journal.forget([nik])
                elif outcome == "jam":
                    tx.transition(
                        [nik], State.PRINT_READY, reason="jam", batch=batch, printer=PRINTER
                    )
                    tx.blanks.spoil([serial], reason="jam")
                    tx.journal.forget([nik])
                elif outcome == "lost":
                    tx.transition(
                        [nik], State.IN_DOUBT, reason="no answer", batch=batch, printer=PRINTER
                    )
                    tx.journal.mark_in_doubt([nik])
                else:
                    tx.journal.forget([nik])
        except ektpcore.LeaseLostError:
            assert not self._live(token)
            assert self._snapshot() == before
            event("outcome fenced")
            return
        event(f"outcome {outcome}")
        assert self._live(token)
        if outcome == "printed":
            self.state[nik], self.card[nik] = State.PRINTED, serial
            self.blanks[serial] = (B.USED, batch)
            del self.journal[nik]
            self._return_spares(batch)
        elif outcome == "jam":
            self.state[nik] = State.PRINT_READY
            self._return_spares(batch)  # inside the transition, the journal still holds it
            self.blanks[serial] = (B.SPOILED, batch)
            del self.journal[nik]
        elif outcome == "lost":
            self.state[nik] = State.IN_DOUBT
            self.journal[nik] = (batch, serial, "in_doubt")
            self._return_spares(batch)
        else:
            del self.journal[nik]

    # -- the supervisor and the desks -------------------------------------------------------------

    @rule(
        pick=st.integers(0, 7),
        printed=st.booleans(),
        any_record=st.sampled_from([False, False, False, True]),
    )
    def settle(self, pick: int, printed: bool, any_record: bool) -> None:
        """A supervisor settles an in-doubt card (or tries to settle any record)."""
        in_doubt = [n for n, state in self.state.items() if state is State.IN_DOUBT]
        nik = NIKS[pick] if any_record or not in_doubt else in_doubt[pick % len(in_doubt)]
        if self.state[nik] is not State.IN_DOUBT:
            with pytest.raises(ektpcore.InvalidArgumentError, match="not in doubt"):
                self.ledger.settle(nik, SUPERVISOR, printed=printed, note="looked")
            return
        event("settled")
        self.ledger.settle(nik, SUPERVISOR, printed=printed, note="checked the output tray")
        batch, serial, _ = self.journal.pop(nik)
        if printed:
            self.state[nik], self.card[nik] = State.PRINTED, serial
            self.blanks[serial] = (B.USED, batch)
        else:
            self.state[nik] = State.PRINT_READY
            self.blanks[serial] = (B.SPOILED, batch)

    @rule(
        pick=st.integers(0, 7),
        goal=st.sampled_from([State.ON_HOLD, State.CANCELLED, State.PRINT_READY]),
        actor=st.sampled_from([OPERATOR, SUPERVISOR]),
    )
    def desk(self, pick: int, goal: State, actor: Actor) -> None:
        """A desk change to any record: done, or refused by the claim, the lifecycle or the
        actor's role, and then nothing changed. A card the journal holds (sent, or in doubt)
        is never the desk's, whoever asks: the change is refused with ``RecordClaimedError``
        (or ``IllegalTransitionError`` where the lifecycle forbids it anyway); an in-doubt
        card is settled only through ``settle``."""
        nik = NIKS[pick]
        source = self.state[nik]
        change = ektpcore.TRANSITIONS.get((source, goal))
        before = self._snapshot()
        expected: tuple[type[Exception], ...] = ()
        if self._guarded(nik):
            expected = (ektpcore.RecordClaimedError,)
        elif nik in self.journal:
            expected = (ektpcore.RecordClaimedError, ektpcore.IllegalTransitionError)
        elif change is None:
            expected = (ektpcore.IllegalTransitionError,)
        elif not ektpcore.permits(actor.role, change.permission) or change.requested_by:
            # A printed card is cancelled only by one person's request and another's approval.
            expected = (ektpcore.PermissionDeniedError,)
        if expected:
            with pytest.raises(expected) as refusal:
                self.ledger.transition([nik], goal, actor, reason="desk")
            event(f"desk refused: {refusal.type.__name__}")
            assert self._snapshot() == before
            return
        self.ledger.transition([nik], goal, actor, reason="desk")
        event("desk done")
        self.state[nik] = goal
        if source is State.QUEUED:
            self._return_spares(self.batch_of[nik])
        serial = self.card.pop(nik, None) if source is State.PRINTED else None
        if serial is not None:
            spoiled_or_voided = B.SPOILED if goal is State.PRINT_READY else B.VOIDED
            self.blanks[serial] = (spoiled_or_voided, self.blanks[serial][1])

    @rule(pick=st.integers(0, 7), batch=st.sampled_from(BATCHES))
    def requeue(self, pick: int, batch: str) -> None:
        """A print-ready record planned into a batch again: refused while a station holds the
        batch (its blanks are the station's), nothing changed."""
        nik = NIKS[pick]
        if self.state[nik] is not State.PRINT_READY:
            return
        held = self.claims.get(batch)
        if held is not None and not held.released:
            before = self._snapshot()
            with pytest.raises(ektpcore.BatchClaimedError):
                self.ledger.queue([nik], batch, PRINTER, OPERATOR)
            assert self._snapshot() == before
            return
        self._queue([nik], batch)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def at_most_one_live_claim_per_batch(self) -> None:
        if not hasattr(self, "ledger"):
            return
        for token in self.handed:
            try:
                with self.ledger.transaction(OPERATOR) as tx:
                    tx.claims.fence(token)
                fenced = True
            except ektpcore.LeaseLostError:
                fenced = False
            assert fenced == self._live(token), token
        live = [t.batch for t in self.handed if self._live(t)]
        assert len(live) == len(set(live))
        for batch, held in self.claims.items():
            claim = self.ledger.claims.get(batch)
            assert claim is not None
            assert (claim.station, claim.generation, claim.released) == (
                held.station,
                held.generation,
                held.released,
            )

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "ledger"):
            return
        led = self.ledger
        assert led.counts() == collections.Counter(self.state.values())
        assert led.blanks.counts() == collections.Counter(b for b, _ in self.blanks.values())
        for nik in NIKS:
            assert led.where_is(nik).card_serial == self.card.get(nik)
        for batch in BATCHES:
            assert led.journal.free_blanks(batch) == self._free(batch)
        in_doubt = sorted((n, b, s) for n, (b, s, j) in self.journal.items() if j == "in_doubt")
        assert sorted(led.journal.in_doubt(PRINTER)) == in_doubt
        sent = sorted(n for n, (_, _, j) in self.journal.items() if j == "sent")
        assert sorted(led.journal.sent(PRINTER)) == sent

    @invariant()
    def the_journal_holds_only_cards_in_flight_or_in_doubt(self) -> None:
        if not hasattr(self, "ledger"):
            return
        for nik, (batch, _, state) in self.journal.items():
            if state == "sent":
                # In flight: still queued, in a batch whose claim is not released.
                assert self.state[nik] is State.QUEUED
                held = self.claims.get(batch)
                assert held is not None
                assert not held.released
            else:
                assert self.state[nik] is State.IN_DOUBT  # never QUEUED and in doubt at once
        # Every in-doubt card can be settled: the journal knows its blank.
        for nik, state in self.state.items():
            if state is State.IN_DOUBT:
                assert self.journal[nik][2] == "in_doubt"

    @invariant()
    def blanks_reconcile_and_the_chains_verify(self) -> None:
        if not hasattr(self, "ledger"):
            return
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report = self.ledger.blanks.reconcile()
        assert report.balanced, report.discrepancies
        assert report.received == BLANKS
        assert self.ledger.verify().ok

    def teardown(self) -> None:
        if not hasattr(self, "ledger"):
            return
        led = self.ledger
        # Every claim can be released and every card then in doubt settled.
        for batch, held in self.claims.items():
            if not held.released:
                led.claims.release(batch, SUPERVISOR, reason="end of shift")
        for nik in NIKS:
            if led.state_of(nik) is State.IN_DOUBT:
                led.settle(nik, SUPERVISOR, printed=nik % 2 == 0, note="end of shift")
        assert led.journal.sent(PRINTER) == []
        assert led.journal.in_doubt(PRINTER) == []
        assert led.blanks.reconcile().balanced
        assert led.verify().ok
        led.close()


TestClaimsMachine = ClaimsMachine.TestCase
TestClaimsMachine.settings = settings(
    settings(), stateful_step_count=30, max_examples=max(20, settings().max_examples // 2)
)
