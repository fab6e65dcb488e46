"""From the bureau to the citizen: manifests per kecamatan, grouped by kelurahan, built from
cards that passed quality control; dispatched; received with a count check; then, for cards
collected at a kelurahan, manifests from the kecamatan to each kelurahan, dispatched and
received the same way; then handed over, one citizen at a time, with the identity check
recorded.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import IllegalTransitionError, InvalidArgumentError, ManifestMismatchError
from ..lifecycle import Actor, Permission, State, meaningful
from ..nik import Nik, mask_nik, nik_objects, parse_niks
from . import records
from .records import Record
from .sealing import (
    check_free_text,
    nik_keys,
    niks_of,
    open_texts,
    row_key,
    seal_text,
    seal_texts,
    whole_number,
)
from .store import Same, Session, same_or_each

if TYPE_CHECKING:
    from .core import Ledger
    from .transaction import Transaction

__all__ = ["Distribution", "DistributionWrites", "Handover", "Leg", "Manifest", "ManifestState"]


class ManifestState(str, enum.Enum):
    """Where a consignment is: being filled, on its way, or received by the kecamatan."""

    OPEN = "OPEN"
    DISPATCHED = "DISPATCHED"
    RECEIVED = "RECEIVED"


class Leg(str, enum.Enum):
    """Which leg a manifest travels: from the bureau to a kecamatan, or from a kecamatan to
    one of its kelurahan. The values are stored in the ledger and never change."""

    KECAMATAN = "KECAMATAN"
    KELURAHAN = "KELURAHAN"


# The state a manifest's cards take on each leg when it is dispatched, and when received.
_IN_TRANSIT = {
    Leg.KECAMATAN: State.IN_TRANSIT_TO_KECAMATAN,
    Leg.KELURAHAN: State.IN_TRANSIT_TO_KELURAHAN,
}
_ARRIVED = {Leg.KECAMATAN: State.AT_KECAMATAN, Leg.KELURAHAN: State.AT_KELURAHAN}


@dataclass(frozen=True)
class Manifest:
    """A consignment of cards: from the bureau to one kecamatan (``leg`` ``KECAMATAN``), or
    from a kecamatan to one of its kelurahan (``KELURAHAN``, ``to_kelurahan`` naming it).
    ``kelurahan`` maps each kelurahan to its cards' NIKs (shown masked). Times are the
    ledger's UTC stamps; ``received_by`` is left out of the repr."""

    id: int
    kecamatan: str
    state: ManifestState
    kelurahan: dict[str, list[Nik]]
    leg: Leg = Leg.KECAMATAN
    to_kelurahan: str | None = None
    created_at: str = ""
    created_by: str = ""
    dispatched_at: str | None = None
    received_at: str | None = None
    received_by: str | None = field(default=None, repr=False)
    received_count: int | None = None

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.kelurahan.values())

    @property
    def destination(self) -> str:
        """The office the consignment goes to: the kecamatan, or the kelurahan."""
        return self.kecamatan if self.leg is Leg.KECAMATAN else (self.to_kelurahan or "")


@dataclass(frozen=True, repr=False)
class Handover:
    """One card handed to its citizen: when, by whom, how identity was checked, who received
    it (``None``: the citizen in person), where (``office``: ``AT_KECAMATAN`` or
    ``AT_KELURAHAN``, the state it left) and the serial of the card handed over. The repr
    masks the NIK and leaves the identity check and receiver out."""

    nik: Nik
    at: str
    actor: str
    identity_check: str
    receiver: str | None
    office: State | None
    card_serial: int | None

    def __repr__(self) -> str:
        return f"Handover(nik={self.nik!r}, at={self.at!r}, actor={self.actor!r})"


_MANIFEST_COLUMNS = (
    "id, kecamatan, state, leg, kelurahan, created_at, created_by, dispatched_at, received_at,"
    " received_by, received_count"
)

# Records on a manifest still open or on its way: not put on another.
_NOT_ON_A_MANIFEST = (
    " AND NOT EXISTS (SELECT 1 FROM manifest_items i JOIN manifests m ON m.id = i.manifest_id"
    " WHERE i.record_id = r.id AND m.state != 'RECEIVED')"
)


def manifest(db: Session, manifest_id: int) -> Manifest:
    manifest_id = whole_number(manifest_id, "a manifest's number")
    head = db.one(f"SELECT {_MANIFEST_COLUMNS} FROM manifests WHERE id = ?", (manifest_id,))
    if head is None:
        raise InvalidArgumentError(f"no manifest {manifest_id}")
    return _manifest(db, head)


def _manifest(db: Session, head: Sequence[Any]) -> Manifest:
    manifest_id = int(head[0])
    groups: dict[str, list[Nik]] = {}
    rows = db.all(
        "SELECT coalesce(i.kelurahan, ''), r.nik, r.sealed FROM manifest_items i JOIN records r"
        " ON r.id = i.record_id WHERE i.manifest_id = ? ORDER BY i.kelurahan NULLS FIRST, r.nik",
        (manifest_id,),
    )
    niks = niks_of(db, [r[1] for r in rows], [r[2] for r in rows])
    for (kel, _, _), nik in sorted(
        zip(rows, nik_objects(niks), strict=True), key=lambda x: (x[0][0], x[1].value)
    ):
        groups.setdefault(kel, []).append(nik)
    _, kec, state, leg, to_kel, created_at, created_by, sent, received, by, count = head
    (by,) = open_texts(db, [by], "manifests.received_by", [manifest_id])
    return Manifest(
        manifest_id,
        kec,
        ManifestState(state),
        groups,
        Leg(leg),
        to_kel,
        created_at,
        created_by,
        sent,
        received,
        by,
        count,
    )


def _cards(db: Session, manifest_id: int) -> list[tuple[int, int, str, str | None]]:
    """Each card's record on a manifest as a transition takes it: (id, NIK, state, batch)."""
    rows = db.all(
        "SELECT r.id, r.nik, r.sealed, r.state, r.batch FROM manifest_items i JOIN records r"
        " ON r.id = i.record_id WHERE i.manifest_id = ?",
        (manifest_id,),
    )
    niks = niks_of(db, [r[1] for r in rows], [r[2] for r in rows])
    return [(r[0], nik, r[3], r[4]) for r, nik in zip(rows, niks, strict=True)]


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
            f" WHERE r.state = ?{_NOT_ON_A_MANIFEST}"
            " ORDER BY r.kecamatan NULLS FIRST, r.kelurahan NULLS FIRST, r.nik",
            (State.QC_PASSED.value,),
        )
        by_kecamatan: dict[str, list[tuple[int, str | None]]] = {}
        for rid, kec, kel in rows:
            by_kecamatan.setdefault(kec, []).append((rid, kel))
        return [self._new(kec, items, Leg.KECAMATAN) for kec, items in by_kecamatan.items()]

    def build_kelurahan(
        self, kecamatan: str | None = None, kelurahan: Sequence[str] | None = None
    ) -> list[int]:
        """One new manifest per kelurahan for every card received at its kecamatan
        (``AT_KECAMATAN``) not yet on a manifest, of ``kecamatan`` only when given, of the
        named ``kelurahan`` only when given; returns their ids. Cards whose record names no
        kelurahan stay at the kecamatan, to be handed over there."""
        tx = self._tx
        tx.require(Permission.DISTRIBUTE)
        db = tx.db
        where, params = "", [State.AT_KECAMATAN.value]
        if kecamatan is not None:
            where += " AND coalesce(r.kecamatan, '') = ?"
            params.append(kecamatan)
        if kelurahan is not None:
            where += " AND " + db.member_of("r.kelurahan")
            params.append(db.as_list(list(kelurahan)))
        rows = db.all(
            "SELECT r.id, coalesce(r.kecamatan, ''), r.kelurahan FROM records r"
            f" WHERE r.state = ? AND r.kelurahan IS NOT NULL AND r.kelurahan != ''{where}"
            f"{_NOT_ON_A_MANIFEST} ORDER BY r.kecamatan NULLS FIRST, r.kelurahan, r.nik",
            params,
        )
        by_kelurahan: dict[tuple[str, str], list[tuple[int, str | None]]] = {}
        for rid, kec, kel in rows:
            by_kelurahan.setdefault((kec, kel), []).append((rid, kel))
        return [
            self._new(kec, items, Leg.KELURAHAN, kel) for (kec, kel), items in by_kelurahan.items()
        ]

    def _new(
        self,
        kecamatan: str,
        items: list[tuple[int, str | None]],
        leg: Leg,
        kelurahan: str | None = None,
    ) -> int:
        """A new open manifest of ``items`` (record id, kelurahan); returns its id."""
        tx = self._tx
        db = tx.db
        row = db.one(
            "INSERT INTO manifests (kecamatan, state, created_at, created_by, leg, kelurahan)"
            " VALUES (?,?,?,?,?,?) RETURNING id",
            (kecamatan, ManifestState.OPEN.value, tx.now, tx.actor.name, leg.value, kelurahan),
        )
        assert row is not None
        mid = int(row[0])
        db.insert_columns(
            "manifest_items",
            ("manifest_id", "record_id", "kelurahan"),
            [Same(mid), [rid for rid, _ in items], same_or_each([kel for _, kel in items])],
            len(items),
        )
        return mid

    def _in_state(
        self, manifest_id: int, state: ManifestState
    ) -> tuple[Leg, str, list[tuple[int, int, str, str | None]]]:
        """The leg, destination and cards (see :func:`_cards`) of a manifest that is in
        ``state``: what a dispatch or receipt needs, read once (not the whole manifest, whose
        NIKs are built as :class:`~ektpcore.Nik` objects for readers, nor each NIK looked up
        again by the transition)."""
        db = self._tx.db
        manifest_id = whole_number(manifest_id, "a manifest's number")
        head = db.one(
            "SELECT state, leg, kecamatan, kelurahan FROM manifests WHERE id = ?", (manifest_id,)
        )
        if head is None:
            raise InvalidArgumentError(f"no manifest {manifest_id}")
        if ManifestState(head[0]) is not state:
            raise InvalidArgumentError(f"manifest {manifest_id} is {head[0]}")
        leg = Leg(head[1])
        destination = head[2] if leg is Leg.KECAMATAN else (head[3] or "")
        return leg, destination, _cards(db, manifest_id)

    def dispatch(self, manifest_id: int) -> None:
        """Sends the consignment: its cards go ``IN_TRANSIT_TO_KECAMATAN`` (or
        ``IN_TRANSIT_TO_KELURAHAN`` on the kelurahan leg)."""
        tx = self._tx
        leg, _, cards = self._in_state(manifest_id, ManifestState.OPEN)
        records.transition(tx, [c[1] for c in cards], _IN_TRANSIT[leg], known=cards)
        tx.db.execute(
            "UPDATE manifests SET state = ?, dispatched_at = ? WHERE id = ?",
            (ManifestState.DISPATCHED.value, tx.now, manifest_id),
        )

    def receive(self, manifest_id: int, receiver: str, count: int) -> None:
        """The kecamatan (or kelurahan) confirms receipt of ``count`` cards; a count that does
        not match the manifest is refused."""
        tx = self._tx
        leg, destination, cards = self._in_state(manifest_id, ManifestState.DISPATCHED)
        if not meaningful(receiver):
            raise InvalidArgumentError("the receiver's name is required")
        check_free_text(receiver, "a receiver")
        count = whole_number(count, "the count received")
        if count != len(cards):
            raise ManifestMismatchError(
                f"manifest {manifest_id} for {destination} lists {len(cards)} cards;"
                f" {receiver} counted {count}"
            )
        records.transition(tx, [c[1] for c in cards], _ARRIVED[leg], known=cards)
        tx.db.execute(
            "UPDATE manifests SET state = ?, received_at = ?, received_by = ?,"
            " received_count = ? WHERE id = ?",
            (
                ManifestState.RECEIVED.value,
                tx.now,
                seal_text(tx.db, receiver, "manifests.received_by", manifest_id),
                count,
                manifest_id,
            ),
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
        if len(identity_checks) != len(values) or any(
            not meaningful(c) for c in dict.fromkeys(identity_checks)
        ):
            raise InvalidArgumentError("every card handed over needs its identity check recorded")
        return self._record_handovers(values, identity_checks, None)

    def _record_handovers(
        self, niks: list[int], checks: Sequence[str], receiver: str | None
    ) -> int:
        tx = self._tx
        # Each distinct text once: a collection day repeats the same identity check per card.
        for text, what in [(c, "an identity check") for c in dict.fromkeys(checks)] + [
            (receiver, "a receiver")
        ]:
            check_free_text(text, what)
        db = tx.db
        _check_not_packed(db, niks)
        # Looked up once: the transition and the hand-overs' rows take the same records.
        found = records.lookup(db, niks)
        moved = records.transition(tx, niks, State.ISSUED, known=found)
        # Each hand-over's texts are bound to it: its record (by NIK index) and instant.
        keys = nik_keys(db, niks)
        rows = [row_key(key, tx.now) for key in keys]
        sealed_checks = seal_texts(db, checks, "handovers.identity_check", rows)
        sealed_receivers = seal_texts(db, [receiver] * len(keys), "handovers.receiver", rows)
        id_of = {nik: rid for rid, nik, _, _ in found}
        db.insert_columns(
            "handovers",
            ("record_id", "at", "actor", "identity_check", "receiver"),
            [
                [id_of[nik] for nik in niks],
                Same(tx.now),
                Same(tx.actor.name),
                same_or_each(sealed_checks),
                same_or_each(sealed_receivers),
            ],
            len(niks),
        )
        return moved


def _check_not_packed(db: Session, niks: list[int]) -> None:
    """A card on an open manifest is packed for the kelurahan: handing it over at the
    kecamatan would leave the manifest listing a card that is not in the box."""
    keys = nik_keys(db, niks)
    row = db.one(
        "SELECT r.nik, r.sealed, r.state, m.id, m.kelurahan FROM manifest_items i"
        " JOIN manifests m ON m.id = i.manifest_id JOIN records r ON r.id = i.record_id"
        " WHERE m.state = 'OPEN' AND " + db.member_of("r.nik"),
        (db.as_list(keys),),
    )
    if row is not None:
        (nik,) = niks_of(db, [row[0]], [row[1]])
        raise IllegalTransitionError(
            mask_nik(nik),
            State(row[2]),
            State.ISSUED,
            f"the card is packed on manifest {row[3]} for kelurahan {row[4]}; it is handed"
            " over there once that manifest is dispatched and received",
        )


def cards(db: Session, manifest_id: int) -> list[Record]:
    """The records on a manifest, by kelurahan then NIK."""
    manifest_id = manifest(db, manifest_id).id  # refuses an unknown manifest
    rows = db.all(
        f"{records._RECORD_QUERY} WHERE r.id IN (SELECT record_id FROM manifest_items"
        " WHERE manifest_id = ?)",
        (manifest_id,),
    )
    return sorted(records._records(db, rows), key=lambda r: (r.kelurahan or "", int(r.nik)))


def handovers(db: Session, nik: Any) -> list[Handover]:
    """Every hand-over of ``nik``'s cards, oldest first (a card reprinted after a loss is
    handed over again)."""
    value = int(parse_niks([nik]).values[0])
    if value < 0:
        raise InvalidArgumentError("handovers takes a valid NIK")
    key = nik_keys(db, [value])[0]
    rows = db.all(
        "SELECT h.at, h.actor, h.identity_check, h.receiver,"
        " (SELECT y.from_state FROM history y WHERE y.record_id = h.record_id"
        " AND y.to_state = 'ISSUED' AND y.at = h.at ORDER BY y.seq DESC LIMIT 1),"
        " (SELECT c.serial FROM cards c WHERE c.record_id = h.record_id AND c.created_at <= h.at"
        " AND (c.invalidated_at IS NULL OR c.invalidated_at > h.at) ORDER BY c.id DESC LIMIT 1)"
        " FROM handovers h JOIN records r ON r.id = h.record_id WHERE r.nik = ? ORDER BY h.id",
        (key,),
    )
    idents = [row_key(key, r[0]) for r in rows]
    checks = open_texts(db, [r[2] for r in rows], "handovers.identity_check", idents)
    receivers = open_texts(db, [r[3] for r in rows], "handovers.receiver", idents)
    return [
        Handover(
            Nik.from_int(value),
            at,
            actor,
            check or "",
            receiver,
            State(office) if office else None,
            None if serial is None else int(serial),
        )
        for (at, actor, _, _, office, serial), check, receiver in zip(
            rows, checks, receivers, strict=True
        )
    ]


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

    def build_kelurahan(
        self,
        actor: Actor,
        *,
        kecamatan: str | None = None,
        kelurahan: Sequence[str] | None = None,
    ) -> list[Manifest]:
        """One new manifest per kelurahan for every card received at its kecamatan and not
        yet on a manifest (of ``kecamatan`` only, of the named ``kelurahan`` only, when
        given). Cards whose record names no kelurahan stay at the kecamatan."""
        with self._ledger.transaction(actor) as tx:
            ids = tx.distribution.build_kelurahan(kecamatan, kelurahan)
        return [self.manifest(i) for i in ids]

    def manifest(self, manifest_id: int) -> Manifest:
        return manifest(self._db, manifest_id)

    def manifests(
        self,
        *,
        leg: Leg | str | None = None,
        state: ManifestState | str | None = None,
        kecamatan: str | None = None,
        latest: int | None = None,
    ) -> list[Manifest]:
        """The manifests of one leg, in one state, for one kecamatan (any, when not given),
        oldest first; with ``latest``, only the last ``latest`` of them."""
        where, params = "", []
        for column, value in (
            ("leg", None if leg is None else Leg(leg).value),
            ("state", None if state is None else ManifestState(state).value),
            ("kecamatan", kecamatan),
        ):
            if value is not None:
                where += f" AND {column} = ?"
                params.append(value)
        if latest is None:
            order = "ORDER BY id"
        elif isinstance(latest, bool) or not isinstance(latest, int) or latest < 0:
            raise InvalidArgumentError("latest is a whole number of manifests, 0 or more")
        else:
            order = f"ORDER BY id DESC LIMIT {int(latest)}"
        heads = self._db.all(
            f"SELECT {_MANIFEST_COLUMNS} FROM manifests WHERE 1 = 1{where} {order}", params
        )
        return sorted((_manifest(self._db, head) for head in heads), key=lambda m: m.id)

    def cards(self, manifest_id: int) -> list[Record]:
        """The records on a manifest (name, card serial, kelurahan, ...), by kelurahan then
        NIK: what a printed manifest lists."""
        return cards(self._db, manifest_id)

    def handovers(self, nik: Any) -> list[Handover]:
        """Every hand-over of ``nik``'s cards, oldest first: what a *berita acara serah
        terima* records."""
        return handovers(self._db, nik)

    def dispatch(self, manifest_id: int, actor: Actor) -> Manifest:
        """Sends the consignment: its cards go ``IN_TRANSIT_TO_KECAMATAN`` (or
        ``IN_TRANSIT_TO_KELURAHAN`` on the kelurahan leg)."""
        with self._ledger.transaction(actor) as tx:
            tx.distribution.dispatch(manifest_id)
        return self.manifest(manifest_id)

    def receive(self, manifest_id: int, receiver: str, count: int, actor: Actor) -> Manifest:
        """The kecamatan (or kelurahan) confirms receipt of ``count`` cards: they go
        ``AT_KECAMATAN`` (or ``AT_KELURAHAN``); a count that does not match the manifest is
        refused (and nothing is recorded)."""
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
