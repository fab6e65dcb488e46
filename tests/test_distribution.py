"""Ribbons, manifests, hand-overs and the questions a bureau asks, ending in the worked
example of the README: records in, cards out, citizens served."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

import ektpcore
from ektpcore import (
    Actor,
    InvalidArgumentError,
    Ledger,
    ManifestMismatchError,
    ManifestState,
    RibbonExhaustedError,
    RibbonWarning,
    Role,
    State,
)

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
NIKS = [str(v) for v in ektpcore.sample_niks(6, seed=41)]
PLACES = [
    ("Bogor Selatan", "Batutulis"),
    ("Bogor Selatan", "Empang"),
    ("Bogor Selatan", "Empang"),
    ("Bogor Tengah", "Paledang"),
    ("Bogor Tengah", "Paledang"),
    ("Tanah Sareal", "Kebon Pedes"),
]


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    with Ledger(ledger_location) as led:
        led.add_records(
            NIKS,
            OPERATOR,
            state=State.PRINT_READY,
            names=[
                "Siti Aminah",
                "Budi Santoso",
                "Agus Salim",
                "Dewi Lestari",
                "Joko",
                "Rina Wati",
            ],
            kecamatan=[k for k, _ in PLACES],
            kelurahan=[k for _, k in PLACES],
        )
        led.blanks.receive("LOT-2017-11", 5000, 5099, SUPERVISOR)
        led.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        yield led


def _print_all(ledger: Ledger, niks: list[str], batch: str = "B-1") -> list[int]:
    serials = ledger.blanks.allocate(batch, len(niks), OPERATOR)
    ledger.transition(niks, State.QUEUED, OPERATOR, batch=batch)
    ledger.transition(niks, State.PRINTED, OPERATOR, batch=batch, printer="P1", blanks=serials)
    ledger.transition(niks, State.ENCODED, OPERATOR)
    ledger.transition(niks, State.QC_PASSED, OPERATOR)
    return serials


def test_ribbons_count_prints_and_warn_before_running_out(ledger: Ledger) -> None:
    ledger.ribbons.install("P2", "YMCKO", 500, OPERATOR, remaining=2)
    with pytest.warns(RibbonWarning, match="P2"):
        assert not ledger.ribbons.check("P2", 3)
    assert ledger.ribbons.check("P1", 3)
    serials = ledger.blanks.allocate("B-1", 3, OPERATOR)
    ledger.transition(NIKS[:3], State.QUEUED, OPERATOR)
    with pytest.raises(RibbonExhaustedError):
        ledger.transition(NIKS[:3], State.PRINTED, OPERATOR, printer="P2", blanks=serials)
    assert ledger.state_of(NIKS[0]) is State.QUEUED  # nothing applied
    with pytest.raises(RibbonExhaustedError, match="no ribbon"):
        ledger.transition(NIKS[:3], State.PRINTED, OPERATOR, printer="P9", blanks=serials)
    ledger.transition(NIKS[:3], State.PRINTED, OPERATOR, printer="P1", blanks=serials)
    assert ledger.ribbons.current("P1").remaining == 497
    ledger.ribbons.install("P1", "YMCKO", 500, OPERATOR)
    assert ledger.ribbons.changes("P1") == 2
    with pytest.raises(InvalidArgumentError):
        ledger.ribbons.install("P1", "YMCKO", 0, OPERATOR)


def test_manifests_count_check_and_hand_over(ledger: Ledger) -> None:
    _print_all(ledger, NIKS)
    manifests = ledger.distribution.build(OPERATOR)
    assert [(m.kecamatan, m.count) for m in manifests] == [
        ("Bogor Selatan", 3),
        ("Bogor Tengah", 2),
        ("Tanah Sareal", 1),
    ]
    selatan = manifests[0]
    assert sorted(selatan.kelurahan) == ["Batutulis", "Empang"]
    assert NIKS[0][4:14] not in repr(selatan)
    assert ledger.distribution.build(OPERATOR) == []  # nothing twice
    ledger.distribution.dispatch(selatan.id, OPERATOR)
    assert ledger.state_of(NIKS[0]) is State.IN_TRANSIT_TO_KECAMATAN
    with pytest.raises(ManifestMismatchError, match="lists 3 cards"):
        ledger.distribution.receive(selatan.id, "Pak Camat", 2, OPERATOR)
    assert ledger.state_of(NIKS[0]) is State.IN_TRANSIT_TO_KECAMATAN
    received = ledger.distribution.receive(selatan.id, "Pak Camat", 3, OPERATOR)
    assert received.state is ManifestState.RECEIVED
    with pytest.raises(InvalidArgumentError):
        ledger.distribution.hand_over(NIKS[0], OPERATOR, identity_check=" ")
    ledger.distribution.hand_over(NIKS[0], OPERATOR, identity_check="KK checked, photo matches")
    assert ledger.state_of(NIKS[0]) is State.ISSUED
    with pytest.raises(ektpcore.IllegalTransitionError):
        ledger.distribution.hand_over(NIKS[3], OPERATOR, identity_check="KK")
    assert ledger.verify().ok


def test_questions_a_bureau_asks(ledger: Ledger) -> None:
    serials = _print_all(ledger, NIKS[:2], batch="B-7")
    record = ledger.where_is(NIKS[0])
    assert (record.state, record.card_serial, record.kecamatan) == (
        State.QC_PASSED,
        serials[0],
        "Bogor Selatan",
    )
    assert NIKS[0][4:14] not in repr(record)
    assert "Siti" not in repr(record)
    assert [r.nik for r in ledger.batch("B-7")] == sorted(ektpcore.Nik(n) for n in NIKS[:2])
    now = dt.datetime.now(dt.UTC)
    events = ledger.events(now - dt.timedelta(hours=1), now + dt.timedelta(seconds=1))
    assert len(events) == 6 + 2 * 4
    assert ledger.counts_by("state") == {("PRINT_READY",): 4, ("QC_PASSED",): 2}
    frame = ledger.counts_by("kecamatan", "state", frame="pandas")
    assert frame["count"].sum() == 6
    polars_frame = ledger.counts_by("kelurahan", frame="polars")
    assert polars_frame.height == 4  # Batutulis, Empang, Kebon Pedes, Paledang
    with pytest.raises(InvalidArgumentError):
        ledger.counts_by("name")
    issued = ledger.issued_index()
    assert len(issued) == 2
    assert issued.contains(NIKS).tolist() == [True, True, False, False, False, False]


def test_worked_example_from_records_to_issued(ledger_location: str) -> None:
    """The README's example, verbatim in spirit: intake, blanks, print, distribute, issue."""
    operator, supervisor = Actor("ani", Role.OPERATOR), Actor("budi", Role.SUPERVISOR)
    niks = [str(v) for v in ektpcore.sample_niks(4, seed=1)]
    with Ledger(ledger_location) as ledger:
        report = ledger.add_records(
            [*niks, "bad"],
            operator,
            state=State.PRINT_READY,
            kecamatan=["Bogor Selatan"] * 5,
            kelurahan=["Empang"] * 5,
            photos=[f"capture://photos/{i}.jpg" for i in range(5)],
            signatures=[f"capture://signatures/{i}.png" for i in range(5)],
        )
        assert ledger.where_is(niks[2]).photo_ref == "capture://photos/2.jpg"
        assert (report.added, len(report.refused)) == (4, 1)
        ledger.blanks.receive("LOT-1", 1, 100, supervisor)
        ledger.ribbons.install("P1", "YMCKO", 500, operator)
        serials = ledger.blanks.allocate("B-1", 4, operator)
        ledger.transition(niks, State.QUEUED, operator, batch="B-1")
        ledger.transition(niks, State.PRINTED, operator, batch="B-1", printer="P1", blanks=serials)
        ledger.transition(niks[:1], State.PRINT_READY, operator, reason="chip failed")  # spoiled
        (again,) = ledger.blanks.allocate("B-2", 1, operator)
        ledger.transition(niks[:1], State.QUEUED, operator, batch="B-2")
        ledger.transition(
            niks[:1], State.PRINTED, operator, batch="B-2", printer="P1", blanks=[again]
        )
        ledger.transition(niks, State.ENCODED, operator)
        ledger.transition(niks, State.QC_PASSED, operator)
        (manifest,) = ledger.distribution.build(operator)
        ledger.distribution.dispatch(manifest.id, operator)
        ledger.distribution.receive(manifest.id, "Ibu Camat", 4, operator)
        for nik in niks:
            ledger.distribution.hand_over(nik, operator, identity_check="KK + photo")
        assert ledger.counts() == {State.ISSUED: 4}
        stock = ledger.blanks.reconcile()
        assert stock.balanced
        assert stock.counts == {
            ektpcore.BlankState.USED: 4,
            ektpcore.BlankState.SPOILED: 1,
            ektpcore.BlankState.IN_STOCK: 95,
        }
        assert ledger.ribbons.current("P1").remaining == 495
        assert ledger.verify().ok
        assert supervisor.role > operator.role


def _at_kecamatan(ledger: Ledger, niks: list[str]) -> list[int]:
    """Prints ``niks`` and carries them through the kecamatan leg; returns their serials."""
    serials = _print_all(ledger, niks)
    for manifest in ledger.distribution.build(OPERATOR):
        ledger.distribution.dispatch(manifest.id, OPERATOR)
        ledger.distribution.receive(manifest.id, "Pak Camat", manifest.count, OPERATOR)
    return serials


def test_kelurahan_leg_manifests_dispatch_receive_and_hand_over(ledger: Ledger) -> None:
    serials = _at_kecamatan(ledger, NIKS)
    # A citizen of Tanah Sareal collects at the kecamatan: that card never travels on.
    ledger.distribution.hand_over(NIKS[5], OPERATOR, identity_check="KK, photo matches")
    built = ledger.distribution.build_kelurahan(OPERATOR, kecamatan="Bogor Selatan")
    assert [(m.leg, m.kecamatan, m.to_kelurahan, m.destination, m.count) for m in built] == [
        (ektpcore.Leg.KELURAHAN, "Bogor Selatan", "Batutulis", "Batutulis", 1),
        (ektpcore.Leg.KELURAHAN, "Bogor Selatan", "Empang", "Empang", 2),
    ]
    empang = built[1]
    assert list(empang.kelurahan) == ["Empang"]
    assert empang.state is ManifestState.OPEN
    assert empang.created_by == "ani"
    assert ledger.distribution.build_kelurahan(OPERATOR, kecamatan="Bogor Selatan") == []
    # Packed for Empang: not handed over at the kecamatan, the box would be one card short.
    with pytest.raises(ektpcore.IllegalTransitionError, match=f"manifest {empang.id}"):
        ledger.distribution.hand_over(NIKS[1], OPERATOR, identity_check="KK")
    assert ledger.state_of(NIKS[1]) is State.AT_KECAMATAN

    sent = ledger.distribution.dispatch(empang.id, OPERATOR)
    assert sent.state is ManifestState.DISPATCHED
    assert sent.dispatched_at is not None
    assert ledger.state_of(NIKS[1]) is State.IN_TRANSIT_TO_KELURAHAN
    assert ledger.state_of(NIKS[0]) is State.AT_KECAMATAN  # Batutulis' box not sent yet
    with pytest.raises(ManifestMismatchError, match="for Empang lists 2 cards"):
        ledger.distribution.receive(empang.id, "Ibu Lurah", 1, OPERATOR)
    assert ledger.state_of(NIKS[2]) is State.IN_TRANSIT_TO_KELURAHAN
    received = ledger.distribution.receive(empang.id, "Ibu Lurah", 2, OPERATOR)
    assert (received.state, received.received_by, received.received_count) == (
        ManifestState.RECEIVED,
        "Ibu Lurah",
        2,
    )
    assert "Ibu Lurah" not in repr(received)
    assert ledger.state_of(NIKS[1]) is State.AT_KELURAHAN
    assert ledger.where_is(NIKS[1]).manifest == empang.id

    ledger.distribution.hand_over(
        NIKS[1], OPERATOR, identity_check="KK and photo", receiver="Sri (ibu kandung)"
    )
    ledger.distribution.hand_over(NIKS[2], OPERATOR, identity_check="photo matches")
    (given,) = ledger.distribution.handovers(NIKS[1])
    assert (given.office, given.receiver, given.identity_check, given.actor) == (
        State.AT_KELURAHAN,
        "Sri (ibu kandung)",
        "KK and photo",
        "ani",
    )
    assert given.card_serial == serials[1]
    assert "Sri" not in repr(given)
    assert NIKS[1][4:14] not in repr(given)
    (at_kecamatan,) = ledger.distribution.handovers(NIKS[5])
    assert (at_kecamatan.office, at_kecamatan.receiver) == (State.AT_KECAMATAN, None)
    assert ledger.distribution.handovers(NIKS[0]) == []

    by_leg = ledger.distribution.manifests(leg="KELURAHAN")
    assert [(m.destination, m.state) for m in by_leg] == [
        ("Batutulis", ManifestState.OPEN),
        ("Empang", ManifestState.RECEIVED),
    ]
    kecamatan_leg = ledger.distribution.manifests(leg=ektpcore.Leg.KECAMATAN, state="RECEIVED")
    assert [m.kecamatan for m in kecamatan_leg] == ["Bogor Selatan", "Bogor Tengah", "Tanah Sareal"]
    assert ledger.distribution.manifests(kecamatan="Tanah Sareal", leg="KELURAHAN") == []
    names = [r.name for r in ledger.distribution.cards(empang.id)]
    assert sorted(names) == ["Agus Salim", "Budi Santoso"]
    assert ledger.counts()[State.ISSUED] == 3
    assert ledger.verify().ok


def test_kelurahan_leg_in_one_transaction_and_cards_without_a_kelurahan(ledger: Ledger) -> None:
    extra = [str(v) for v in ektpcore.sample_niks(1, seed=77)]
    ledger.add_records(
        extra, OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Tengah"], kelurahan=[None]
    )
    _at_kecamatan(ledger, [NIKS[3], NIKS[4], *extra])
    with ledger.transaction(OPERATOR) as tx:
        assert tx.distribution.build_kelurahan(kecamatan="Bogor Tengah", kelurahan=["Kebon"]) == []
        (paledang,) = tx.distribution.build_kelurahan("Bogor Tengah", ["Paledang"])
        tx.distribution.dispatch(paledang)
        tx.distribution.receive(paledang, "Pak Lurah", 2)
    assert ledger.distribution.manifest(paledang).count == 2
    assert ledger.state_of(NIKS[3]) is State.AT_KELURAHAN
    # The card whose record names no kelurahan stays at the kecamatan, handed over there.
    assert ledger.distribution.build_kelurahan(OPERATOR) == []
    assert ledger.state_of(extra[0]) is State.AT_KECAMATAN
    ledger.distribution.hand_over(extra[0], OPERATOR, identity_check="KK")
    # A refused receipt inside a transaction leaves nothing of it.
    _print_all(ledger, NIKS[:1], batch="B-2")
    (selatan,) = ledger.distribution.build(OPERATOR)

    def dispatch_then_miscount() -> None:
        with ledger.transaction(OPERATOR) as tx:
            tx.distribution.dispatch(selatan.id)
            tx.distribution.receive(selatan.id, "Pak Camat", 5)

    with pytest.raises(ManifestMismatchError):
        dispatch_then_miscount()
    assert ledger.distribution.manifest(selatan.id).state is ManifestState.OPEN
    assert ledger.state_of(NIKS[0]) is State.QC_PASSED
    with pytest.raises(InvalidArgumentError, match="no manifest"):
        ledger.distribution.cards(9999)
    assert ledger.verify().ok


def test_a_ledger_from_before_the_kelurahan_leg_keeps_its_manifests_on_the_kecamatan_leg(
    ledger_location: str,
) -> None:
    store = ektpcore.ledger.open_store(ledger_location)
    with store.transaction() as db:
        before = 11  # the kelurahan leg is migration 12
        for migration in ektpcore.ledger._MIGRATIONS[:before]:
            for statement in store.migration(migration):
                db.execute(statement)
        db.execute(
            store.translate(
                "INSERT INTO manifests (kecamatan, state, created_at, created_by)"
                " VALUES (?, ?, ?, ?)"
            ),
            ("Bogor Barat", "OPEN", "2017-11-13T01:00:00.000000+00:00", "ani"),
        )
        store.set_schema_version(db, before)
    store.close()
    with Ledger(ledger_location) as led:
        assert led.schema_version == ektpcore.ledger.SCHEMA_VERSION
        (old,) = led.distribution.manifests()
        assert (old.leg, old.destination, old.count) == (ektpcore.Leg.KECAMATAN, "Bogor Barat", 0)
