"""What the card shows, kept in the ledger: every field given at intake comes back on the
record (open or sealed ledger, both stores), bad fields are refused at intake, and a record
that lacks a field its card needs is refused before anything is drawn."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import ektpcore
from ektpcore import Actor, CardFields, Ledger, Role, State
from ektpcore.errors import CardDataError, InvalidArgumentError
from ektpcore.keys import KeyFile
from ektpcore.printing.layout import faces_from_record

from .conftest import card_intake

OPERATOR = Actor("ani", Role.OPERATOR)
NIKS = [int(v) for v in ektpcore.sample_niks(4, seed=301)]


@pytest.mark.parametrize("sealed", [False, True], ids=["open", "sealed"])
def test_card_fields_come_back_as_given(
    ledger_location: str, tmp_path: Path, card_photo: str, sealed: bool
) -> None:
    keys = KeyFile.create(tmp_path / "ledger.keys") if sealed else None
    with Ledger(ledger_location, keys=keys) as ledger:
        columns = card_intake(NIKS[:3], card_photo)
        columns["card"]["blood_type"] = ["O", None, ""]
        ledger.add_records(NIKS[:3], OPERATOR, state=State.PRINT_READY, **columns)
        ledger.add_records(NIKS[3:], OPERATOR)
        first = ledger.where_is(NIKS[0]).card
        assert first.address == "Jl. Pajajaran No. 10"
        assert first.blood_type == "O"
        assert ledger.where_is(NIKS[1]).card.blood_type is None  # empty cells are absent
        assert first.missing() == []
        assert ledger.where_is(NIKS[3]).card == CardFields()
        assert ledger.where_is(NIKS[3]).card.missing() == list(CardFields.REQUIRED)
        assert "Pajajaran" not in repr(first)
        # The station's renderer draws the complete record and refuses the empty one.
        faces = faces_from_record(ledger.where_is(NIKS[0]), check_photo=False)
        assert faces.front_black.shape == (648, 1016)
        with pytest.raises(CardDataError, match=r"lacks name, birth_place, birth_date") as caught:
            faces_from_record(ledger.where_is(NIKS[3]), check_photo=False)
        assert str(NIKS[3]) not in str(caught.value)


def test_bad_card_fields_are_refused_at_intake() -> None:
    with Ledger(":memory:") as ledger:
        with pytest.raises(InvalidArgumentError, match="no card field tempat_lahir"):
            ledger.add_records(NIKS[:1], OPERATOR, card={"tempat_lahir": ["Bogor"]})
        # The date is masked as a NIK is: its shape, never the date itself.
        with pytest.raises(
            InvalidArgumentError, match=r"row 0: birth_date '\*\*/\*\*/\*\*\*\*'"
        ) as bad:
            ledger.add_records(NIKS[:1], OPERATOR, card={"birth_date": ["05/08/1999"]})
        assert "1999" not in repr(bad.value) + repr(bad.value.__context__)
        with pytest.raises(InvalidArgumentError, match="one value per NIK"):
            ledger.add_records(NIKS[:2], OPERATOR, card={"address": ["x"]})
        assert ledger.counts() == {}


def test_a_photo_that_cannot_be_read_is_named(tmp_path: Path, card_photo: str) -> None:
    with Ledger(":memory:") as ledger:
        ledger.add_records(NIKS[:1], OPERATOR, **card_intake(NIKS[:1], str(tmp_path / "gone.jpg")))
        with pytest.raises(CardDataError, match="its photo file cannot be read"):
            faces_from_record(ledger.where_is(NIKS[0]), check_photo=False)


def test_the_card_names_its_region_and_place_of_issue(card_photo: str) -> None:
    """Kabupaten/kota and province come from the record, or from the bureau when it has
    none; neither given, the card is refused (never ``PROVINSI -``). The place of issue under
    the photo is the card's kabupaten/kota unless the bureau names another."""
    with Ledger(":memory:") as ledger:
        columns = card_intake(NIKS[:2], card_photo)
        columns["card"]["kabupaten"] = ["Kota Bogor", None]
        columns["card"]["province"] = ["Jawa Barat", None]
        ledger.add_records(NIKS[:2], OPERATOR, state=State.PRINT_READY, **columns)
        full, bare = ledger.where_is(NIKS[0]), ledger.where_is(NIKS[1])
    with pytest.raises(
        CardDataError,
        match=r"\(W\. C\.\) cannot be printed: its card lacks"
        r" kabupaten, province",
    ):
        faces_from_record(bare, check_photo=False)
    given = faces_from_record(
        bare, check_photo=False, kabupaten="Kota Bogor", province="Jawa Barat"
    )
    assert given.front_black.shape == (648, 1016)
    at_kabupaten = faces_from_record(full, check_photo=False)
    named = faces_from_record(full, check_photo=False, issued_at="Kota Bogor")
    dash = faces_from_record(full, check_photo=False, issued_at="-")
    assert (at_kabupaten.front_black == named.front_black).all()
    assert not (at_kabupaten.front_black == dash.front_black).all()


def test_a_letter_the_cards_font_lacks_is_drawn_as_its_base_letter(card_photo: str) -> None:
    """``JOSÉ`` is printed as SIAK writes it, ``JOSE``: never a missing glyph's box."""
    with Ledger(":memory:") as ledger:
        columns = card_intake(NIKS[:3], card_photo)
        columns["names"] = ["José Núñez", "Jose Nunez", "Jose Nxnez"]
        ledger.add_records(NIKS[:3], OPERATOR, state=State.PRINT_READY, **columns)
        records = [ledger.where_is(n) for n in NIKS[:3]]
    accented, plain, other = (
        faces_from_record(
            dataclasses.replace(r, nik=records[0].nik, card=records[0].card), check_photo=False
        )
        for r in records
    )
    assert (accented.front_black == plain.front_black).all()
    assert not (plain.front_black == other.front_black).all()
