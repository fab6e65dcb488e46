"""What the ledger's calls take, on both stores: a number beyond 64 bits, a float or text where
a whole number goes, a lone surrogate in any text, a control character in a name the ledger
keeps, a value of the wrong type, a state that is none: each an InvalidArgumentError naming
the argument, never an error from the database driver or the standard library, and nothing
changed. Birth dates are masked in messages, and one that is not the NIK's is refused."""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from ektpcore import Actor, BlankState, InvalidArgumentError, Ledger, Nik, Role, State

OPERATOR, SUPERVISOR = Actor("ani", Role.OPERATOR), Actor("budi", Role.SUPERVISOR)
BORN = dt.date(1990, 5, 17)


def nik(serial: int, born: dt.date = BORN) -> int:
    return int(Nik.compose("32.71.01", born, "M", serial))


def _ready(led: Ledger) -> None:
    led.add_records([nik(1), nik(2)], OPERATOR, state=State.PRINT_READY, kecamatan=["K"] * 2)
    led.blanks.receive("LOT-1", 1, 10, SUPERVISOR)
    led.ribbons.install("P1", "YMCKO", 100, OPERATOR)


def _snapshot(led: Ledger) -> tuple[Any, ...]:
    return (led.counts(), led.blanks.counts(), len(led.blanks.lots()), led.verify().rows)


CALLS: dict[str, tuple[str, Callable[[Ledger], object]]] = {
    "serials beyond 64 bits": (
        "a lot's first serial",
        lambda led: led.blanks.receive("LOT-X", 2**63, 2**63 + 5, SUPERVISOR),
    ),
    "float serials": (
        "a lot's first serial",
        lambda led: led.blanks.receive("LOT-X", 1.5, 3.5, SUPERVISOR),  # type: ignore[arg-type]
    ),
    "a lot named with a line break": (
        "a lot's reference",
        lambda led: led.blanks.receive("LOT\nX", 20, 30, SUPERVISOR),
    ),
    "a count beyond 64 bits": (
        "the count of blanks",
        lambda led: led.blanks.allocate("B-1", 2**70, OPERATOR),
    ),
    "a count as text": (
        "the count of blanks",
        lambda led: led.blanks.allocate("B-1", "3", OPERATOR),  # type: ignore[arg-type]
    ),
    "a batch named with NUL": (
        "a batch's name",
        lambda led: led.blanks.allocate("B\x00", 1, OPERATOR),
    ),
    "a batch named with a surrogate": (
        "a batch's name",
        lambda led: led.blanks.allocate("B-\udc80", 1, OPERATOR),
    ),
    "a serial beyond 64 bits": (
        "a blank's serial",
        lambda led: led.blanks.move([2**64], BlankState.VOIDED, SUPERVISOR, reason="rusak"),
    ),
    "a blank state that is none": (
        "a blank's state",
        lambda led: led.blanks.move([1], "BROKEN", SUPERVISOR, reason="rusak"),  # type: ignore[arg-type]
    ),
    "a card's serial beyond 64 bits": ("a blank's serial", lambda led: led.where_is_card(2**64)),
    "a reason with a surrogate": (
        "a reason",
        lambda led: led.transition([nik(1)], State.ON_HOLD, OPERATOR, reason="alasan \ud800"),
    ),
    "a state that is none": (
        "the state to move to",
        lambda led: led.transition([nik(1)], "NOPE", OPERATOR),  # type: ignore[arg-type]
    ),
    "a printer named by a number": (
        "a printer's name",
        lambda led: led.ribbons.install(5, "YMCKO", 10, OPERATOR),  # type: ignore[arg-type]
    ),
    "a printer named with a line break": (
        "a printer's name",
        lambda led: led.ribbons.install("P\n2", "YMCKO", 10, OPERATOR),
    ),
    "a ribbon beyond 64 bits": (
        "a ribbon's capacity",
        lambda led: led.ribbons.install("P7", "YMCKO", 2**70, OPERATOR),
    ),
    "a manifest beyond 64 bits": (
        "a manifest's number",
        lambda led: led.distribution.dispatch(2**64, OPERATOR),
    ),
    "a request beyond 64 bits": (
        "a request's number",
        lambda led: led.approvals.approve(2**64, SUPERVISOR),
    ),
    "a lease of ages": (
        "a lease",
        lambda led: led.claims.claim("B-9", "P1@pc-1", OPERATOR, lease=dt.timedelta(days=10**8)),
    ),
    "a station named with a line break": (
        "a station's name",
        lambda led: led.claims.claim("B-9", "P1@pc\n1", OPERATOR),
    ),
    "batches holding a state that is none": (
        "a state",
        lambda led: led.batches(holding=["NOPE"]),  # type: ignore[list-item]
    ),
    "records in a state that is none": (
        "a state",
        lambda led: led.records("NOPE"),  # type: ignore[arg-type]
    ),
    "a surrogate kecamatan": (
        "a kecamatan (row 0)",
        lambda led: led.add_records([nik(9)], OPERATOR, kecamatan=["\udcff"], kelurahan=["x"]),
    ),
    "a kecamatan with a line break": (
        "a kecamatan (row 1)",
        lambda led: led.add_records(
            [nik(8), nik(9)], OPERATOR, kecamatan=["Bogor Barat", "Bogor\nBarat"]
        ),
    ),
    "a kelurahan with an escape": (
        "a kelurahan (row 0)",
        lambda led: led.add_records([nik(9)], OPERATOR, kelurahan=["Batu\x1b]0;x\x07tulis"]),
    ),
    "a kelurahan with a carriage return": (
        "a kelurahan (row 0)",
        lambda led: led.add_records([nik(9)], OPERATOR, kelurahan=["Menteng\r[OK]"]),
    ),
    "a name with NUL": (
        "a name (row 0)",
        lambda led: led.add_records([nik(9)], OPERATOR, names=["Siti\x00Aminah"]),
    ),
    "a name as a number": (
        "a name (row 0)",
        lambda led: led.add_records([nik(9)], OPERATOR, names=[12345]),  # type: ignore[list-item]
    ),
    "a priority as text": (
        "a priority",
        lambda led: led.add_records([nik(9)], OPERATOR, priority="1"),  # type: ignore[arg-type]
    ),
    "a priority beyond 64 bits": (
        "a priority",
        lambda led: led.add_records([nik(9)], OPERATOR, priority=[2**64]),
    ),
    "a card field with a surrogate": (
        "the card's address (row 0)",
        lambda led: led.add_records([nik(9)], OPERATOR, card={"address": ["Jl. \udc80"]}),
    ),
    "a name of five thousand characters": (
        "a name (row 1) is longer than 200 characters",
        lambda led: led.add_records([nik(8), nik(9)], OPERATOR, names=["Siti", "A" * 5_000]),
    ),
    "a photo reference with an escape sequence": (
        "a photo reference (row 0) holds a control character (U+001B)",
        lambda led: led.add_records([nik(9)], OPERATOR, photos=["foto/\x1b[2J.png"]),
    ),
    "a signature reference with a line break": (
        "a signature reference (row 0) holds a control character (U+000A)",
        lambda led: led.add_records([nik(9)], OPERATOR, signatures=["ttd/a.png\nttd/b.png"]),
    ),
    "an address with a right-to-left override": (
        "the card's address (row 0) holds a control character (U+202E)",
        lambda led: led.add_records([nik(9)], OPERATOR, card={"address": ["Jl. \u202eMerdeka"]}),
    ),
    "an address with NUL": (
        "the card's address (row 0) holds a control character (U+0000)",
        lambda led: led.add_records([nik(9)], OPERATOR, card={"address": ["Jl. Merdeka\x00"]}),
    ),
    "an occupation with a direction isolate": (
        "the card's occupation (row 0) holds a control character (U+2066)",
        lambda led: led.add_records([nik(9)], OPERATOR, card={"occupation": ["PNS\u2066"]}),
    ),
    "a birth place with a C1 control": (
        "the card's birth_place (row 0) holds a control character (U+009B)",
        lambda led: led.add_records([nik(9)], OPERATOR, card={"birth_place": ["Bogor\x9b2J"]}),
    ),
    "a religion with a line break": (
        "the card's religion (row 0) holds a control character (U+000A)",
        lambda led: led.add_records([nik(9)], OPERATOR, card={"religion": ["Islam\nKristen"]}),
    ),
    "an occupation of a thousand characters": (
        "the card's occupation (row 0) is longer than 200 characters",
        lambda led: led.add_records([nik(9)], OPERATOR, card={"occupation": ["PNS " * 250]}),
    ),
    "a name with a right-to-left mark": (
        "a name (row 0) holds a control character (U+200F)",
        lambda led: led.add_records([nik(9)], OPERATOR, names=["Siti\u200fAminah"]),
    ),
    "a name holding a NIK": (
        "a name (row 1) may not hold a NIK-shaped number",
        lambda led: led.add_records([nik(8), nik(9)], OPERATOR, names=["Siti", f"Budi {nik(5)}"]),
    ),
    "a kecamatan holding a NIK in groups": (
        "a kecamatan (row 2) may not hold a NIK-shaped number",
        lambda led: led.add_records(
            [nik(7), nik(8), nik(9)],
            OPERATOR,
            kecamatan=["Bogor 12", "Bogor 12", "3271 0145 0899 0001"],
        ),
    ),
    "a kelurahan holding a NIK in full-width digits": (
        "a kelurahan (row 1) may not hold a NIK-shaped number",
        lambda led: led.add_records(
            [nik(8), nik(9)],
            OPERATOR,
            kelurahan=["Ménteng", "".join(chr(0xFF10 + int(d)) for d in str(nik(5)))],
        ),
    ),
    "a sign-in name with a surrogate": (
        "a user's name",
        lambda led: led.sign_in("a\udc80ni", "kata sandi yang panjang"),
    ),
    "a station token with a surrogate": (
        "a station's token",
        lambda led: led.sign_in_station("ektpcore-station-\udc80"),
    ),
}


@pytest.mark.parametrize("case", list(CALLS))
def test_a_bad_argument_is_an_invalid_argument_error_naming_it(
    ledger_location: str, case: str
) -> None:
    what, call = CALLS[case]
    with Ledger(ledger_location) as led:
        _ready(led)
        before = _snapshot(led)
        with pytest.raises(InvalidArgumentError) as caught:
            call(led)
        assert str(caught.value).startswith(what), str(caught.value)
        # Raised by ektpcore itself, not from a driver's or the standard library's error.
        assert caught.value.__cause__ is None
        assert not isinstance(caught.value.__context__, (OverflowError, UnicodeError, TypeError))
        assert _snapshot(led) == before


def test_names_and_card_fields_as_real_exports_have_them_are_taken(ledger_location: str) -> None:
    """The rule for a record's texts refuses no real value: accented and apostrophised names,
    an address over two lines (SIAK's ALAMAT sometimes is) or with a tab, and a name and an
    address of the longest length taken, are kept as they were given."""
    names = ["Dédé Sutisna", "Zoë Anggraini Ma'ruf", "Ñoman Śrī Åsa", "A" * 200]
    addresses = [
        "Jl. Pajajaran No. 5\nKomplek Griya",
        "Jl. Merdeka\t12",
        "Gg. Mawar\r\nBlok C",
        "J" * 200,
    ]
    niks = [nik(i) for i in range(1, 5)]
    with Ledger(ledger_location) as led:
        report = led.add_records(
            niks,
            OPERATOR,
            names=names,
            card={"address": addresses, "occupation": ["PELAJAR/MAHASISWA"] * 4},
            photos=["/srv/foto/" + "f" * 980] + ["foto/a.png"] * 3,
        )
        assert report.added == 4
        for n, name, address in zip(niks, names, addresses, strict=True):
            record = led.where_is(n)
            assert record.name == name
            assert record.card.address == address.strip()


def test_a_birth_date_is_masked_in_messages_and_one_not_the_niks_is_refused(
    ledger_location: str,
) -> None:
    """The API takes no record whose card would print a birth date other than the one its
    NIK holds (as the command line's intake leaves such a row out): the row is refused with
    the reason, the others enter. A birth date that is no date is an error that shows its
    shape, never the date, in its message, its cause or its context."""
    good, other = nik(1), nik(2, dt.date(1991, 5, 17))
    with Ledger(ledger_location) as led:
        with pytest.raises(InvalidArgumentError) as caught:
            led.add_records([good], OPERATOR, card={"birth_date": ["17-05-1990"]})
        text = "".join(traceback.format_exception_only(caught.value))
        text += repr(caught.value.__context__) + repr(caught.value.__cause__)
        assert "birth_date '**-**-****' is not a date" in str(caught.value)
        assert "17-05-1990" not in text
        assert "1990" not in text
        report = led.add_records(
            [good, other, nik(3)],
            OPERATOR,
            card={"birth_date": [BORN.isoformat(), BORN.isoformat(), None]},
        )
        assert report.added == 2
        assert report.refused == [(1, "the birth date is not the NIK's")]
        assert {int(r.nik) for r in led.records()} == {good, nik(3)}
        # Day, month and the year's last two digits are each compared; a woman's NIK holds
        # her day plus 40.
        woman = int(Nik.compose("32.71.01", BORN, "F", 4))
        for wrong in ("1990-05-18", "1990-06-17", "1980-05-17"):
            refused = led.add_records([woman], OPERATOR, card={"birth_date": [wrong]})
            assert (refused.added, refused.refused[0][1]) == (0, "the birth date is not the NIK's")
        assert led.add_records([woman], OPERATOR, card={"birth_date": ["1990-05-17"]}).added == 1
        assert led.verify().ok
