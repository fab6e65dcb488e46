"""Batch claims: one station prints a batch at a time, and a station that lost its claim
records nothing.

A station claims a batch before its first card moves. The claim names the station, carries a
**lease** the station renews while it prints (a heartbeat), and a **generation**: the fencing
token. Every write a station makes is checked against the claim in the same transaction
(:meth:`ClaimWrites.fence`): a station whose lease expired, or whose batch was released or
taken over, can commit nothing. Its card in flight, written to the journal before its bytes
left, becomes ``IN_DOUBT`` when the batch is next claimed or released, for a supervisor to
settle: a printed card is never silently printed again.

A claim whose lease ran out because its station died stays visible (:meth:`Claims.expired`)
and is taken over only by a supervisor's :meth:`Claims.release` or by a station started with
``take_over``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..clock import utc_stamp, wib_text
from ..errors import (
    BatchClaimedError,
    InvalidArgumentError,
    LeaseLostError,
    PermissionDeniedError,
)
from ..lifecycle import Actor, Permission, meaningful
from . import journal
from .sealing import check_free_text, check_label, seal_text
from .store import Session

if TYPE_CHECKING:
    from .core import Ledger
    from .transaction import Transaction

__all__ = ["Claim", "ClaimWrites", "Claims"]

DEFAULT_LEASE = _dt.timedelta(seconds=90)
"""Long enough to outlast a slow printer reply between two heartbeats; short enough that a
dead station's batch is visible as abandoned within minutes."""

MAX_LEASE = _dt.timedelta(days=1)
"""The longest lease a claim is given or renewed for (the CLI's bound too): a station's
claim that nobody renews lapses within a day, so no batch is held for good."""


@dataclass(frozen=True)
class Claim:
    """A station's claim on a batch.

    Attributes:
        batch: the batch claimed.
        station: who holds it (a print station's name, e.g. ``"P1@pc-3"``).
        generation: the fencing token; it grows with every new claim of the batch.
        lease_until: when the claim lapses unless renewed (aware, UTC).
        claimed_at: when this generation was claimed (aware, UTC).
        released: whether the claim was given back or released by a supervisor.
        in_doubt: the NIKs of the cards an earlier holder had sent without a recorded
            outcome, which this claim put in doubt as it was made (empty for a claim read
            back from the ledger).
    """

    batch: str
    station: str
    generation: int
    lease_until: _dt.datetime
    claimed_at: _dt.datetime
    released: bool = False
    in_doubt: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def expired(self, now: _dt.datetime | None = None) -> bool:
        """Whether the lease has run out (at ``now``, by default the current time)."""
        return self.lease_until <= (now or _dt.datetime.now(_dt.UTC))


_COLUMNS = "batch, station, generation, lease_until, claimed_at, released_at"


def _claim(row: tuple[object, ...]) -> Claim:
    batch, station, generation, lease_until, claimed_at, released_at = row
    return Claim(
        str(batch),
        str(station),
        int(generation),  # type: ignore[call-overload]
        _dt.datetime.fromisoformat(str(lease_until)),
        _dt.datetime.fromisoformat(str(claimed_at)),
        released_at is not None,
    )


def _lease_text(lease: _dt.timedelta, now: str) -> str:
    if not _dt.timedelta(0) < lease <= MAX_LEASE:
        raise InvalidArgumentError("a lease is a positive duration of at most a day")
    return utc_stamp(_dt.datetime.fromisoformat(now) + lease)


def _claimed_by(db: Session, batch: str) -> str | None:
    row = db.one("SELECT claimed_by FROM batch_claims WHERE batch = ?", (batch,))
    return None if row is None else str(row[0])


def current(db: Session, batch: str) -> Claim | None:
    row = db.one(f"SELECT {_COLUMNS} FROM batch_claims WHERE batch = ?", (batch,))
    return None if row is None else _claim(row)


class ClaimWrites:
    """The claim changes of one transaction: ``tx.claims``."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def claim(
        self,
        batch: str,
        station: str,
        *,
        lease: _dt.timedelta = DEFAULT_LEASE,
        take_over: bool = False,
    ) -> Claim:
        """Claims ``batch`` for ``station``. Refused (:class:`~ektpcore.BatchClaimedError`,
        naming the holder and the lease's end) while another claim on it is unreleased,
        unless its lease has run out and ``take_over`` is given. A new claim fences every
        earlier one, and turns the cards that an earlier holder had in flight into
        ``IN_DOUBT``."""
        tx = self._tx
        tx.require(Permission.PRINT)
        if not meaningful(batch) or not meaningful(station):
            raise InvalidArgumentError("a claim names its batch and its station")
        check_label(batch, "a batch's name")
        check_label(station, "a station's name")
        db, now = tx.db, tx.now
        if tx.station and (
            db.one("SELECT 1 FROM records WHERE batch = ? AND state = 'QUEUED' LIMIT 1", (batch,))
            is None
        ):
            # A station's token takes a batch only to print it: one with nothing queued (or
            # a made-up name) is not held against the desk.
            raise InvalidArgumentError(f"batch {batch} has no card queued to print")
        held = current(db, batch)
        lease_until = _lease_text(lease, now)
        if held is not None and not held.released:
            ends = wib_text(held.lease_until)
            if not held.expired(_dt.datetime.fromisoformat(now)):
                raise BatchClaimedError(
                    f"batch {batch} is claimed by station {held.station} until {ends}",
                    batch,
                    held.station,
                    held.lease_until,
                )
            if not take_over:
                raise BatchClaimedError(
                    f"batch {batch} is claimed by station {held.station}, whose lease ran out"
                    f" at {ends}; a supervisor may release it, or start the station with"
                    " take-over",
                    batch,
                    held.station,
                    held.lease_until,
                )
        generation = 1 if held is None else held.generation + 1
        if held is None:
            db.execute(
                "INSERT INTO batch_claims (batch, station, generation, claimed_at, claimed_by,"
                " lease_until) VALUES (?,?,?,?,?,?)",
                (batch, station, generation, now, tx.actor.name, lease_until),
            )
        else:
            db.execute(
                "UPDATE batch_claims SET station = ?, generation = ?, claimed_at = ?,"
                " claimed_by = ?, lease_until = ?, released_at = NULL, released_by = NULL,"
                " release_reason = NULL WHERE batch = ?",
                (station, generation, now, tx.actor.name, lease_until, batch),
            )
        claim = current(db, batch)
        assert claim is not None
        tx.claim = claim
        # Cards an earlier holder (or anyone before claims) left sent become IN_DOUBT.
        doubted = journal.recover(tx, batch=batch, reason=f"batch {batch} claimed by {station}")
        return dataclasses.replace(claim, in_doubt=tuple(doubted))

    def fence(self, claim: Claim) -> None:
        """Refuses the transaction (:class:`~ektpcore.LeaseLostError`) unless ``claim`` is
        still the batch's live claim, and (:class:`~ektpcore.PermissionDeniedError`) unless
        this transaction's actor is the one who claimed it; the transaction's changes may then
        touch the batch's records."""
        now = self._tx.now
        held = current(self._tx.db, claim.batch)
        why = None
        if held is None or held.generation != claim.generation:
            holder = "nobody" if held is None else f"station {held.station}"
            why = f"it was taken over by {holder}"
        elif held.released:
            why = "it was released"
        elif held.expired(_dt.datetime.fromisoformat(now)):
            why = f"its lease ran out at {wib_text(held.lease_until)}"
        if why is not None:
            raise LeaseLostError(
                f"station {claim.station} no longer holds batch {claim.batch} ({why});"
                " nothing was recorded"
            )
        # A claim read from claims.held() names its station and generation, which anyone may
        # see: only whoever claimed it writes under it.
        assert held is not None
        if held.station != claim.station or _claimed_by(self._tx.db, claim.batch) != (
            self._tx.actor.name
        ):
            raise PermissionDeniedError(
                f"{self._tx.actor.name} does not hold the claim on batch {claim.batch}"
                f" (station {held.station} does): only its holder writes under it, renews it or"
                " gives it back; a supervisor releases another's claim"
            )
        self._tx.claim = claim

    def renew(self, claim: Claim, lease: _dt.timedelta = DEFAULT_LEASE) -> Claim:
        """Extends the lease of a claim still held (the heartbeat), by its holder only."""
        self._holder(claim, "renew")
        tx = self._tx
        tx.db.execute(
            "UPDATE batch_claims SET lease_until = ? WHERE batch = ? AND generation = ?",
            (_lease_text(lease, tx.now), claim.batch, claim.generation),
        )
        renewed = current(tx.db, claim.batch)
        assert renewed is not None
        return renewed

    def give_back(self, claim: Claim) -> None:
        """The holder releases its claim when the batch run ends; a card it left sent
        becomes ``IN_DOUBT``. Anyone else's claim is released by a supervisor
        (:meth:`release`)."""
        self._holder(claim, "give back")
        self._mark_released(claim.batch, "run ended")
        journal.recover(self._tx, batch=claim.batch, reason=f"batch {claim.batch} given back")

    def _holder(self, claim: Claim, what: str) -> None:
        """Refuses unless this transaction's actor may print and holds ``claim``, still live
        (:meth:`fence`)."""
        self._tx.require(Permission.PRINT, what=f"{what} a claim")
        self.fence(claim)

    def release(self, batch: str, *, reason: str) -> Claim:
        """A supervisor releases a batch's claim, live or lapsed (a station died, a printer
        was moved): the holder is fenced from now on and its cards in flight become
        ``IN_DOUBT``."""
        tx = self._tx
        tx.require(Permission.SETTLE)
        if not meaningful(reason):
            raise InvalidArgumentError("releasing a claim needs a reason")
        held = current(tx.db, batch)
        if held is None or held.released:
            raise InvalidArgumentError(f"batch {batch} has no claim to release")
        self._mark_released(batch, reason)
        journal.recover(tx, batch=batch, reason=f"claim on batch {batch} released: {reason}")
        released = current(tx.db, batch)
        assert released is not None
        return released

    def _mark_released(self, batch: str, reason: str) -> None:
        tx = self._tx
        check_free_text(reason, "a release reason")
        tx.db.execute(
            "UPDATE batch_claims SET released_at = ?, released_by = ?, release_reason = ?"
            " WHERE batch = ?",
            (
                tx.now,
                tx.actor.name,
                seal_text(tx.db, reason, "batch_claims.release_reason", batch),
                batch,
            ),
        )


class Claims:
    """The batch claims of a :class:`~ektpcore.Ledger`: ``ledger.claims``."""

    def __init__(self, ledger: Ledger, reads: Session) -> None:
        self._ledger = ledger
        self._db = reads

    def get(self, batch: str) -> Claim | None:
        """The batch's claim (released or not), or ``None`` if it was never claimed."""
        return current(self._db, batch)

    def all(self) -> list[Claim]:
        """Every batch's claim, released or not, by batch."""
        rows = self._db.all(f"SELECT {_COLUMNS} FROM batch_claims ORDER BY batch")
        return [_claim(r) for r in rows]

    def held(self) -> list[Claim]:
        """Unreleased claims, lapsed or not, by batch."""
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM batch_claims WHERE released_at IS NULL ORDER BY batch"
        )
        return [_claim(r) for r in rows]

    def expired(self) -> list[Claim]:
        """Unreleased claims whose lease has run out: a station that died or hangs. A
        supervisor releases them, or a station takes them over."""
        now = _dt.datetime.now(_dt.UTC)
        return [c for c in self.held() if c.expired(now)]

    def claim(
        self,
        batch: str,
        station: str,
        actor: Actor,
        *,
        lease: _dt.timedelta = DEFAULT_LEASE,
        take_over: bool = False,
    ) -> Claim:
        """Claims ``batch`` for ``station`` (see :meth:`ClaimWrites.claim`)."""
        with self._ledger.transaction(actor) as tx:
            return tx.claims.claim(batch, station, lease=lease, take_over=take_over)

    @contextmanager
    def under(self, claim: Claim, actor: Actor) -> Iterator[Transaction]:
        """A transaction of the station holding ``claim``, fenced by it
        (:class:`~ektpcore.LeaseLostError` once it is lost). On a database server it runs
        beside other stations' transactions, under a shared lock that every other change
        waits for (a take-over, a desk change): it may change only its batch's records and
        their cards, blanks and journal entries, and its printer's ribbon; the history chains'
        heads are locked from its first history row to its commit."""
        with self._ledger._transaction(actor, beside=True) as tx:
            tx.claims.fence(claim)
            yield tx

    def renew(self, claim: Claim, actor: Actor, lease: _dt.timedelta = DEFAULT_LEASE) -> Claim:
        """Extends ``claim``'s lease; :class:`~ektpcore.LeaseLostError` if it is lost."""
        with self._ledger.transaction(actor) as tx:
            return tx.claims.renew(claim, lease)

    def give_back(self, claim: Claim, actor: Actor) -> None:
        """Releases a claim its holder no longer needs."""
        with self._ledger.transaction(actor) as tx:
            tx.claims.give_back(claim)

    def release(self, batch: str, supervisor: Actor, *, reason: str) -> Claim:
        """A supervisor releases ``batch``'s claim (see :meth:`ClaimWrites.release`)."""
        with self._ledger.transaction(supervisor) as tx:
            return tx.claims.release(batch, reason=reason)
