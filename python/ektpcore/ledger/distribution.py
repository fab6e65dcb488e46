"""From the bureau to the citizen: manifests per kecamatan, grouped by kelurahan, built from
cards that passed quality control; dispatched; received with a count check; then handed over,
one citizen at a time, with the identity check recorded.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError, ManifestMismatchError
from ..lifecycle import Actor, Permission, State, meaningful
from ..nik import Nik, parse_niks
from . import records
from .sealing import check_free_text, nik_keys, niks_of, seal_text, seal_texts
from .store import Session

if TYPE_CHECKING:
    from .core import Ledger
    from .transaction import Transaction

__all__ = ["Distribution", "DistributionWrites", "Manifest", "ManifestState"]


class ManifestState(str, enum.Enum):
    """Where a consignment is: being filled, on its way, or received by the kecamatan."""

    OPEN = "OPEN"
    DISPATCHED = "DISPATCHED"
    RECEIVED = "RECEIVED"


@dataclass(frozen=True)
class Manifest:
    """A consignment of cards for one kecamatan; ``kelurahan`` maps each kelurahan to its
    cards' NIKs (shown masked)."""

    id: int
    kecamatan: str
    state: ManifestState
    kelurahan: dict[str, list[Nik]]

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.kelurahan.values())


def manifest(db: Session, manifest_id: int) -> Manifest:
    head = db.one("SELECT kecamatan, state FROM manifests WHERE id = ?", (manifest_id,))
    if head is None:
        raise InvalidArgumentError(f"no manifest {manifest_id}")
    groups: dict[str, list[Nik]] = {}
    rows = db.all(
        "SELECT coalesce(i.kelurahan, ''), r.nik, r.sealed FROM manifest_items i JOIN records r"
        " ON r.id = i.record_id WHERE i.manifest_id = ? ORDER BY i.kelurahan NULLS FIRST, r.nik",
        (manifest_id,),
    )
    niks = niks_of(db, [r[1] for r in rows], [r[2] for r in rows])
    for (kel, _, _), nik in sorted(zip(rows, niks, strict=True), key=lambda x: (x[0][0], x[1])):
        groups.setdefault(kel, []).append(Nik.from_int(nik))
    return Manifest(manifest_id, head[0], ManifestState(head[1]), groups)


def _niks(db: Session, manifest_id: int) -> list[int]:
    rows = db.all(
        "SELECT r.nik, r.sealed FROM manifest_items i JOIN records r ON r.id = i.record_id"
        " WHERE i.manifest_id = ?",
        (manifest_id,),
    )
    return niks_of(db, [r[0] for r in rows], [r[1] for r in rows])


class DistributionWrites:
    """The distribution changes of one transaction: ``tx.distribution``."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def build(self) -> list[int]:
        """One new manifest per kecamatan for every QC-passed card not yet on a manifest;
        returns their ids."""
        tx = self._tx
        tx.require(Permission.DISTRIBUTE)
        db = tx.db
        rows = db.all(
            "SELECT r.id, coalesce(r.kecamatan, ''), r.kelurahan FROM records r"
            " WHERE r.state = ? AND NOT EXISTS (SELECT 1 FROM manifest_items i JOIN"
            " manifests m ON m.id = i.manifest_id WHERE i.record_id = r.id"
            " AND m.state != 'RECEIVED')"
            " ORDER BY r.kecamatan NULLS FIRST, r.kelurahan NULLS FIRST, r.nik",
            (State.QC_PASSED.value,),
        )
        by_kecamatan: dict[str, list[tuple[int, str | None]]] = {}
        for rid, kec, kel in rows:
            by_kecamatan.setdefault(kec, []).append((rid, kel))
        ids = []
        for kec, items in by_kecamatan.items():
            row = db.one(
                "INSERT INTO manifests (kecamatan, state, created_at, created_by)"
                " VALUES (?,?,?,?) RETURNING id",
                (kec, ManifestState.OPEN.value, tx.now, tx.actor.name),
            )
            assert row is not None
            mid = int(row[0])
            db.executemany(
                "INSERT INTO manifest_items (manifest_id, record_id, kelurahan) VALUES (?,?,?)",
                [(mid, rid, kel) for rid, kel in items],
            )
            ids.append(mid)
        return ids

    def _in_state(self, manifest_id: int, state: ManifestState) -> Manifest:
        found = manifest(self._tx.db, manifest_id)
        if found.state is not state:
            raise InvalidArgumentError(f"manifest {manifest_id} is {found.state.value}")
        return found

    def dispatch(self, manifest_id: int) -> None:
        """Sends the consignment: its cards go ``IN_TRANSIT_TO_KECAMATAN``."""
        tx = self._tx
        self._in_state(manifest_id, ManifestState.OPEN)
        records.transition(tx, _niks(tx.db, manifest_id), State.IN_TRANSIT_TO_KECAMATAN)
        tx.db.execute(
            "UPDATE manifests SET state = ?, dispatched_at = ? WHERE id = ?",
            (ManifestState.DISPATCHED.value, tx.now, manifest_id),
        )

    def receive(self, manifest_id: int, receiver: str, count: int) -> None:
        """The kecamatan confirms receipt of ``count`` cards; a count that does not match the
        manifest is refused."""
        tx = self._tx
        found = self._in_state(manifest_id, ManifestState.DISPATCHED)
        if not meaningful(receiver):
            raise InvalidArgumentError("the receiver's name is required")
        if count != found.count:
            raise ManifestMismatchError(
                f"manifest {manifest_id} for {found.kecamatan} lists {found.count} cards;"
                f" {receiver} counted {count}"
            )
        records.transition(tx, _niks(tx.db, manifest_id), State.AT_KECAMATAN)
        tx.db.execute(
            "UPDATE manifests SET state = ?, received_at = ?, received_by = ?,"
            " received_count = ? WHERE id = ?",
            (ManifestState.RECEIVED.value, tx.now, receiver, count, manifest_id),
        )

    def hand_over(self, nik: Any, *, identity_check: str, receiver: str | None = None) -> None:
        """Hands one card to its citizen (``ISSUED``), recording how identity was checked and
        who received it if not the citizen."""
        if not meaningful(identity_check):
            raise InvalidArgumentError("the identity check must be recorded")
        value = int(parse_niks([nik]).values[0])
        if value < 0:
            raise InvalidArgumentError("hand_over takes a valid NIK")
        self._record_handovers([value], [identity_check], receiver)

    def hand_over_many(self, niks: Any, *, identity_checks: Sequence[str]) -> int:
        """Hands many cards over at once, one identity check per card."""
        values = records.valid_niks(niks, "hand_over_many")
        if len(identity_checks) != len(values) or any(not meaningful(c) for c in identity_checks):
            raise InvalidArgumentError("every card handed over needs its identity check recorded")
        return self._record_handovers(values, identity_checks, None)

    def _record_handovers(
        self, niks: list[int], checks: Sequence[str], receiver: str | None
    ) -> int:
        tx = self._tx
        for text, what in [(c, "an identity check") for c in checks] + [(receiver, "a receiver")]:
            check_free_text(text, what)
        moved = records.transition(tx, niks, State.ISSUED)
        db = tx.db
        sealed_checks = seal_texts(db, checks, "handovers.identity_check")
        sealed_receiver = seal_text(db, receiver, "handovers.receiver")
        db.executemany(
            "INSERT INTO handovers (record_id, at, actor, identity_check, receiver)"
            " SELECT id, ?, ?, ?, ? FROM records WHERE nik = ?",
            [
                (tx.now, tx.actor.name, check, sealed_receiver, key)
                for key, check in zip(nik_keys(db, niks), sealed_checks, strict=True)
            ],
        )
        return moved


class Distribution:
    """Manifests and hand-overs of a :class:`~ektpcore.Ledger`: ``ledger.distribution``.
    Each write is one transaction of its own; inside a larger change use
    ``tx.distribution``."""

    def __init__(self, ledger: Ledger, reads: Session) -> None:
        self._ledger = ledger
        self._db = reads

    def build(self, actor: Actor) -> list[Manifest]:
        """One new manifest per kecamatan for every QC-passed card not yet on a manifest."""
        with self._ledger.transaction(actor) as tx:
            ids = tx.distribution.build()
        return [self.manifest(i) for i in ids]

    def manifest(self, manifest_id: int) -> Manifest:
        return manifest(self._db, manifest_id)

    def manifests(self) -> list[Manifest]:
        """Every manifest, oldest first."""
        ids = [int(r[0]) for r in self._db.all("SELECT id FROM manifests ORDER BY id")]
        return [manifest(self._db, i) for i in ids]

    def dispatch(self, manifest_id: int, actor: Actor) -> Manifest:
        """Sends the consignment: its cards go ``IN_TRANSIT_TO_KECAMATAN``."""
        with self._ledger.transaction(actor) as tx:
            tx.distribution.dispatch(manifest_id)
        return self.manifest(manifest_id)

    def receive(self, manifest_id: int, receiver: str, count: int, actor: Actor) -> Manifest:
        """The kecamatan confirms receipt of ``count`` cards; a count that does not match the
        manifest is refused (and nothing is recorded)."""
        with self._ledger.transaction(actor) as tx:
            tx.distribution.receive(manifest_id, receiver, count)
        return self.manifest(manifest_id)

    def hand_over(
        self, nik: Any, actor: Actor, *, identity_check: str, receiver: str | None = None
    ) -> None:
        """Hands one card to its citizen (``ISSUED``), recording how identity was checked
        (e.g. ``"KK 3271...; photo matched"``) and who received it if not the citizen."""
        with self._ledger.transaction(actor) as tx:
            tx.distribution.hand_over(nik, identity_check=identity_check, receiver=receiver)

    def hand_over_many(self, niks: Any, actor: Actor, *, identity_checks: Sequence[str]) -> int:
        """Hands many cards over at once (a kelurahan's collection day), one identity check
        per card, in one transaction: all recorded or none."""
        with self._ledger.transaction(actor) as tx:
            return tx.distribution.hand_over_many(niks, identity_checks=identity_checks)
