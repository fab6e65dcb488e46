"""From the bureau to the citizen: manifests per kecamatan, grouped by kelurahan, built from
cards that passed quality control; dispatched; received with a count check; then handed over,
one citizen at a time, with the identity check recorded.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import EktpcoreError, InvalidArgumentError
from .lifecycle import Actor, Role, State
from .nik import Nik, parse_niks

if TYPE_CHECKING:
    import sqlite3

    from .ledger import Ledger

__all__ = ["Distribution", "Manifest", "ManifestMismatchError", "ManifestState"]


class ManifestState(str, enum.Enum):
    OPEN = "OPEN"
    DISPATCHED = "DISPATCHED"
    RECEIVED = "RECEIVED"


class ManifestMismatchError(EktpcoreError):
    """The count received does not match the manifest; nothing was recorded."""


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


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


class Distribution:
    """Manifests and hand-overs of a :class:`~ektpcore.Ledger`: ``ledger.distribution``."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def build(self, actor: Actor) -> list[Manifest]:
        """One new manifest per kecamatan for every QC-passed card not yet on a manifest."""
        self._ledger._require(actor, Role.OPERATOR)
        now = _now()
        with self._ledger._write() as db:
            rows = db.execute(
                "SELECT r.id, coalesce(r.kecamatan, ''), r.kelurahan FROM records r"
                " WHERE r.state = ? AND NOT EXISTS (SELECT 1 FROM manifest_items i JOIN"
                " manifests m ON m.id = i.manifest_id WHERE i.record_id = r.id"
                " AND m.state != 'RECEIVED')"
                " ORDER BY r.kecamatan, r.kelurahan, r.nik",
                (State.QC_PASSED.value,),
            ).fetchall()
            by_kecamatan: dict[str, list[tuple[int, str | None]]] = {}
            for rid, kec, kel in rows:
                by_kecamatan.setdefault(kec, []).append((rid, kel))
            ids = []
            for kec, items in by_kecamatan.items():
                mid = db.execute(
                    "INSERT INTO manifests (kecamatan, state, created_at, created_by)"
                    " VALUES (?,?,?,?)",
                    (kec, ManifestState.OPEN.value, now, actor.name),
                ).lastrowid
                db.executemany(
                    "INSERT INTO manifest_items (manifest_id, record_id, kelurahan) VALUES (?,?,?)",
                    [(mid, rid, kel) for rid, kel in items],
                )
                ids.append(int(mid))
        return [self.manifest(i) for i in ids]

    def manifest(self, manifest_id: int) -> Manifest:
        query = self._ledger._query
        head = next(
            iter(query("SELECT kecamatan, state FROM manifests WHERE id = ?", (manifest_id,))),
            None,
        )
        if head is None:
            raise InvalidArgumentError(f"no manifest {manifest_id}")
        groups: dict[str, list[Nik]] = {}
        for kel, nik in query(
            "SELECT coalesce(i.kelurahan, ''), r.nik FROM manifest_items i JOIN records r"
            " ON r.id = i.record_id WHERE i.manifest_id = ? ORDER BY i.kelurahan, r.nik",
            (manifest_id,),
        ):
            groups.setdefault(kel, []).append(Nik.from_int(nik))
        return Manifest(manifest_id, head[0], ManifestState(head[1]), groups)

    def _niks(self, manifest_id: int) -> list[int]:
        return [
            r[0]
            for r in self._ledger._query(
                "SELECT r.nik FROM manifest_items i JOIN records r ON r.id = i.record_id"
                " WHERE i.manifest_id = ?",
                (manifest_id,),
            )
        ]

    def dispatch(self, manifest_id: int, actor: Actor) -> Manifest:
        """Sends the consignment: its cards go ``IN_TRANSIT_TO_KECAMATAN``."""
        manifest = self.manifest(manifest_id)
        if manifest.state is not ManifestState.OPEN:
            raise InvalidArgumentError(f"manifest {manifest_id} is {manifest.state.value}")
        self._ledger._transition_with(
            self._niks(manifest_id),
            State.IN_TRANSIT_TO_KECAMATAN,
            actor,
            after=lambda db, now: db.execute(
                "UPDATE manifests SET state = ?, dispatched_at = ? WHERE id = ?",
                (ManifestState.DISPATCHED.value, now, manifest_id),
            ),
        )
        return self.manifest(manifest_id)

    def receive(self, manifest_id: int, receiver: str, count: int, actor: Actor) -> Manifest:
        """The kecamatan confirms receipt of ``count`` cards; a count that does not match the
        manifest is refused (and nothing is recorded)."""
        manifest = self.manifest(manifest_id)
        if manifest.state is not ManifestState.DISPATCHED:
            raise InvalidArgumentError(f"manifest {manifest_id} is {manifest.state.value}")
        if not receiver.strip():
            raise InvalidArgumentError("the receiver's name is required")
        if count != manifest.count:
            raise ManifestMismatchError(
                f"manifest {manifest_id} for {manifest.kecamatan} lists {manifest.count} cards;"
                f" {receiver} counted {count}"
            )
        self._ledger._transition_with(
            self._niks(manifest_id),
            State.AT_KECAMATAN,
            actor,
            after=lambda db, now: db.execute(
                "UPDATE manifests SET state = ?, received_at = ?, received_by = ?,"
                " received_count = ? WHERE id = ?",
                (ManifestState.RECEIVED.value, now, receiver, count, manifest_id),
            ),
        )
        return self.manifest(manifest_id)

    def hand_over(
        self, nik: Any, actor: Actor, *, identity_check: str, receiver: str | None = None
    ) -> None:
        """Hands one card to its citizen (``ISSUED``), recording how identity was checked
        (e.g. ``"KK 3271...; photo matched"``) and who received it if not the citizen."""
        if not identity_check.strip():
            raise InvalidArgumentError("the identity check must be recorded")
        value = int(parse_niks([nik]).values[0])
        self._ledger._transition_with(
            [value],
            State.ISSUED,
            actor,
            after=lambda db, now: db.execute(
                "INSERT INTO handovers (record_id, at, actor, identity_check, receiver)"
                " SELECT id, ?, ?, ?, ? FROM records WHERE nik = ?",
                (now, actor.name, identity_check, receiver, value),
            ),
        )

    def hand_over_many(self, niks: Any, actor: Actor, *, identity_checks: Sequence[str]) -> int:
        """Hands many cards over at once (a kelurahan's collection day), one identity check
        per card, in one transaction: all recorded or none."""
        values = parse_niks(niks).values
        if (values < 0).any():
            raise InvalidArgumentError("hand_over_many takes valid NIKs only")
        if len(identity_checks) != len(values) or any(not c.strip() for c in identity_checks):
            raise InvalidArgumentError("every card handed over needs its identity check recorded")

        def record(db: sqlite3.Connection, now: str) -> None:
            db.executemany(
                "INSERT INTO handovers (record_id, at, actor, identity_check, receiver)"
                " SELECT id, ?, ?, ?, NULL FROM records WHERE nik = ?",
                [
                    (now, actor.name, check, int(v))
                    for v, check in zip(values.tolist(), identity_checks, strict=True)
                ],
            )

        return self._ledger._transition_with(values.tolist(), State.ISSUED, actor, after=record)
