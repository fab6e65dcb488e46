from __future__ import annotations

import datetime as dt
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ektpcore
from ektpcore import InvalidNikError, Nik, NikErrorCode, NikMismatch, Sex

from .conftest import NOT_PROVINCES, PROVINCES, nik_parts, valid_niks

E = NikErrorCode


@given(nik_parts())
def test_composed_nik_parses_back_to_its_parts(parts: tuple[int, dt.date, Sex, int]) -> None:
    region, born, sex, serial = parts
    nik = Nik.parse(str(Nik.compose(region, born, sex, serial)))
    assert nik.region_code == region
    assert (nik.province, nik.regency, nik.district) == (
        region // 10_000,
        region // 100 % 100,
        region % 100,
    )
    assert nik.is_city == (nik.regency >= 71)
    assert nik.sex is sex
    assert nik.serial == serial
    assert nik.resolve_birth_date(birth_year=born.year) == born
    assert (nik.birth_day, nik.birth_month, nik.birth_yy) == (born.day, born.month, born.year % 100)
    # Resolved against its own birthday, the century is found without help.
    assert nik.resolve_birth_date(reference_date=born) == born


def _mutations(text: str) -> list[tuple[str, NikErrorCode, int | None]]:
    """Single-fault mutations of a valid NIK with the reason each must produce."""
    female = int(text[6:8]) > 40
    offset = 40 if female else 0
    yy = int(text[10:12])
    out = [
        (text[:-1], E.LENGTH, None),
        (text + "1", E.LENGTH, None),
        (text[:2] + "00" + text[4:], E.REGENCY_ZERO, 2),
        (text[:4] + "00" + text[6:], E.DISTRICT_ZERO, 4),
        (text[:6] + "00" + text[8:], E.DAY, 6),
        (text[:6] + "35" + text[8:], E.DAY, 6),
        (text[:6] + "75" + text[8:], E.DAY, 6),
        (text[:8] + "00" + text[10:], E.MONTH, 8),
        (text[:8] + "13" + text[10:], E.MONTH, 8),
        (text[:6] + f"{31 + offset}04" + text[10:], E.DATE, 6),
        (text[:6] + f"{30 + offset}02" + text[10:], E.DATE, 6),
        (text[:12] + "0000", E.SERIAL_ZERO, 12),
    ]
    if yy % 4:
        out.append((text[:6] + f"{29 + offset}02" + text[10:], E.DATE, 6))
    return out


@given(valid_niks(), st.data())
def test_each_single_fault_yields_exactly_its_reason(text: str, data: st.DataObject) -> None:
    province = data.draw(st.sampled_from(NOT_PROVINCES))
    pos = data.draw(st.integers(0, 15))
    bad_char = data.draw(
        st.sampled_from(["O", "l", " ", "-", "+", "\u0663", "\uff13", "\u0967", "²"])
    )
    cases = [
        *_mutations(text),
        (f"{province:02d}" + text[2:], E.PROVINCE, 0),
        (text[:pos] + bad_char + text[pos + 1 :], E.NON_DIGIT, pos),
    ]
    for mutated, reason, position in cases:
        with pytest.raises(InvalidNikError) as info:
            Nik.parse(mutated)
        assert (info.value.reason, info.value.position) == (reason, position), mutated
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, ektpcore.EktpcoreError)


def test_region_table_fault() -> None:
    table = ektpcore.RegionTable(
        {"32": "Jawa Barat", "32.71": "Kota Bogor", "32.71.01": "Bogor Selatan"}
    )
    assert Nik.parse("3271014508990001", regions=table).district == 1
    with pytest.raises(InvalidNikError) as info:
        Nik.parse("3271024508990001", regions=table)
    assert (info.value.reason, info.value.position) == (E.REGION_UNKNOWN, 4)
    with pytest.raises(InvalidNikError) as info:
        Nik.parse("3272014508990001", regions=table)
    assert info.value.position == 2
    # A regency retired by the 2022 Papua split is still a valid NIK region.
    assert Nik.parse("9102034508990001", regions=table).province == 91


@pytest.mark.parametrize(
    "text",
    [
        "３２７１０１４５０８９９０００１",
        "٣٢٧١٠١٤٥٠٨٩٩٠٠٠١",
        "327101450899000\u0661",
        "+271014508990001",
    ],
)
def test_unicode_digits_and_signs_are_not_digits(text: str) -> None:
    with pytest.raises(InvalidNikError) as info:
        Nik.parse(text)
    assert info.value.reason is E.NON_DIGIT


def test_leap_day_century_rules() -> None:
    assert Nik.parse("3271012902000001").birth_month == 2  # 2000 is a leap year
    with pytest.raises(InvalidNikError):
        Nik.parse("3271012902000001", reference_date=dt.date(1999, 6, 1))  # resolves to 1900
    with pytest.raises(InvalidNikError):
        Nik.parse("3271012902010001")
    nik = Nik.parse("3271012902000001")
    with pytest.raises(ektpcore.InvalidArgumentError):
        nik.resolve_birth_date(birth_year=1900)
    assert nik.resolve_birth_date(reference_date=dt.date(2026, 1, 1)) == dt.date(2000, 2, 29)


def test_birth_date_century_resolution() -> None:
    nik = Nik.parse("3271010511260001")
    assert nik.resolve_birth_date(reference_date=dt.date(2026, 11, 28)) == dt.date(2026, 11, 5)
    assert nik.resolve_birth_date(reference_date=dt.date(2026, 11, 4)) == dt.date(1926, 11, 5)
    assert nik.resolve_birth_date(birth_year=1826) == dt.date(1826, 11, 5)
    with pytest.raises(ektpcore.InvalidArgumentError):
        nik.resolve_birth_date(birth_year=1925)
    assert nik.birth_date <= dt.date.today()


@given(valid_niks())
def test_int_round_trip_and_value_semantics(text: str) -> None:
    nik = Nik.parse(text)
    assert str(nik) == text
    assert Nik.from_int(int(text)) == nik == Nik(nik) == Nik(text.encode())
    assert hash(Nik(int(nik))) == hash(nik)
    assert pickle.loads(pickle.dumps(nik)) == nik
    assert int(nik) == nik.value < 2**63
    assert sorted([nik, Nik("3271014508990001")]) == sorted([nik, Nik("3271014508990001")], key=int)


def test_nik_is_immutable() -> None:
    nik = Nik.parse("3271014508990001")
    with pytest.raises(AttributeError):
        nik._value = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        nik.foo = 1  # type: ignore[attr-defined]


def test_unusable_scalar_arguments() -> None:
    with pytest.raises(TypeError):
        Nik.parse(3271014508990001)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Nik(3271014508990001.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Nik.from_int("3271014508990001")  # type: ignore[arg-type]
    for bad in (-1, 10**16, 10**40, -(10**40)):
        with pytest.raises(InvalidNikError):
            Nik.from_int(bad)


def _middle(text: str) -> str:
    return text[4:14]


@given(valid_niks(), st.data())
def test_masking_never_leaks_the_middle(text: str, data: st.DataObject) -> None:
    nik = Nik.parse(text)
    assert repr(nik) == f"Nik('{text[:4]}**********{text[-2:]}')"
    assert _middle(text) not in repr(nik)
    assert _middle(text) not in repr([nik, {nik: 1}])
    mutated, _, _ = data.draw(st.sampled_from(_mutations(text)))
    with pytest.raises(InvalidNikError) as info:
        Nik.parse(mutated)
    for rendered in (str(info.value), repr(info.value), repr(info.value.args)):
        assert _middle(text) not in rendered
        assert _middle(mutated) not in rendered


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    texts = ["3271014508990001", "3271013508990001", "32710145089900"]
    log = logging.getLogger("ektpcore.test")
    with caplog.at_level(logging.DEBUG):
        ektpcore.parse_niks(texts)
        for text in texts:
            try:
                Nik.parse(text)
            except InvalidNikError:
                log.exception("rejected")
            log.info("accepted %r", Nik.parse(texts[0]))
    assert caplog.records
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for text in texts:
        assert _middle(text) not in logged
    assert "3271**********01" in logged


def test_crosscheck_reports_warnings_not_errors() -> None:
    nik = Nik.parse("3271014508990001")
    assert nik.crosscheck(birth_date=dt.date(1999, 8, 5), sex=Sex.FEMALE) == NikMismatch.NONE
    assert nik.crosscheck() == NikMismatch.NONE
    assert nik.crosscheck(birth_date=dt.date(1999, 8, 6)) == NikMismatch.BIRTH_DAY
    assert nik.crosscheck(birth_date=dt.date(2001, 9, 5), sex="L") == (
        NikMismatch.BIRTH_MONTH | NikMismatch.BIRTH_YEAR | NikMismatch.SEX
    )
    with pytest.raises(ektpcore.InvalidArgumentError):
        nik.crosscheck(sex="X")


def test_compose_refuses_impossible_parts() -> None:
    born = dt.date(1999, 8, 5)
    with pytest.raises(InvalidNikError) as info:
        Nik.compose(207101, born, Sex.MALE, 1)
    assert info.value.reason is E.PROVINCE
    with pytest.raises(InvalidNikError):
        Nik.compose(320001, born, Sex.MALE, 1)
    with pytest.raises(ektpcore.InvalidArgumentError):
        Nik.compose(327101, born, Sex.MALE, 0)
    with pytest.raises(ektpcore.InvalidArgumentError):
        Nik.compose("32.71", born, Sex.MALE, 1)
    assert str(Nik.compose("32.71.01", born, "P", 1)) == "3271014508990001"


def test_province_names_are_built_in() -> None:
    assert len(PROVINCES) == 38
    assert Nik.parse("9601014508990001").province_name == "Papua Barat Daya"


def test_error_codes_match_the_core() -> None:
    table = ektpcore._ektpcore.nik_error_table()
    assert [(c, n) for c, n, _ in table] == [(c.value, c.name.lower()) for c in E if c]
    assert E.DAY.message.startswith("day of birth")
    assert ektpcore.nik_error_message(4, 3) == (
        "non_digit: a character is not an ASCII digit 0-9 (at position 3)"
    )
