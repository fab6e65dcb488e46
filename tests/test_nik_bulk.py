from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ektpcore
from ektpcore import InvalidNikError, Nik, NikErrorCode, parse_niks
from ektpcore.nik import nik_objects

from .conftest import valid_niks

E = NikErrorCode


def scalar(value: Any, **kw: Any) -> tuple[int, int, int]:
    """(value, code, position) as the scalar API sees one element."""
    if value is None:
        return (-1, E.MISSING, -1)
    try:
        return (Nik(value, **kw).value, 0, -1)
    except InvalidNikError as err:
        return (-1, int(err.reason), -1 if err.position is None else err.position)


def columns(batch: ektpcore.NikBatch) -> list[tuple[int, int, int]]:
    return list(
        zip(batch.values.tolist(), batch.error.tolist(), batch.position.tolist(), strict=True)
    )


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(valid_niks())
    i = draw(st.integers(0, 15))
    return text[:i] + draw(st.characters(codec="utf-8", exclude_characters="\x00")) + text[i + 1 :]


mixed_texts = st.lists(
    st.one_of(
        valid_niks(),
        mutated(),
        st.from_regex(r"[0-9]{16}", fullmatch=True),
        st.from_regex(r"[0-9]{14,18}", fullmatch=True),
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
    ),
    max_size=40,
)


@given(mixed_texts, st.sampled_from([None, dt.date(1999, 6, 1), dt.date(2026, 11, 28)]))
def test_bulk_equals_scalar_on_every_text_container(texts: list[str], ref: dt.date | None) -> None:
    expected = [scalar(t, reference_date=ref) for t in texts]
    width = max([1, *(len(t) for t in texts)])
    containers: list[Any] = [
        texts,
        np.array(texts, dtype=object),
        np.array(texts, dtype=f"U{width}"),
        pd.Series(texts, dtype=object),
        pd.Series(texts, dtype="string[pyarrow]"),
        pl.Series(texts, dtype=pl.String),
        pa.array(texts, pa.string()),
        pa.array(texts, pa.large_string()),
        pa.chunked_array([texts[:3], texts[3:]], pa.string()),
        pa.array(["x", *texts], pa.string())[1:],  # a slice: non-zero Arrow offset
        np.array(texts, dtype=np.dtypes.StringDType()),
    ]
    for container in containers:
        got = columns(parse_niks(container, reference_date=ref))
        assert got == expected, type(container)


@given(st.lists(st.binary(max_size=18).filter(lambda b: not b.endswith(b"\0")), max_size=30))
def test_byte_strings_count_bytes(raw: list[bytes]) -> None:
    expected = [scalar(b) for b in raw]
    width = max([1, *(len(b) for b in raw)])
    assert columns(parse_niks(np.array(raw, dtype=f"S{width}"))) == expected
    assert columns(parse_niks(raw)) == expected


@given(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), valid_niks().map(int)), max_size=40))
def test_int64_path_agrees_with_text_and_round_trips(ints: list[int]) -> None:
    batch = parse_niks(np.array(ints, dtype=np.int64))
    assert batch.values.dtype == np.int64
    assert columns(batch) == [scalar(v) for v in ints]
    assert columns(parse_niks(ints)) == columns(batch)
    for v, (value, code, _) in zip(ints, columns(batch), strict=True):
        if 0 <= v < 10**16:
            assert scalar(f"{v:016d}")[:2] == (value, code)
        if code == 0:
            assert value == v
            assert int(str(Nik(v))) == v


def test_other_integer_dtypes_and_nullable_columns() -> None:
    nik = 3271014508990001
    assert parse_niks(np.array([nik, 2**64 - 1], dtype=np.uint64)).error.tolist() == [0, E.LENGTH]
    assert parse_niks(np.array([5], dtype=np.int32)).error.tolist() == [E.PROVINCE]
    assert parse_niks(pd.Series([nik, None], dtype="Int64")).error.tolist() == [0, E.MISSING]
    assert parse_niks(pl.Series([nik, None])).error.tolist() == [0, E.MISSING]
    assert parse_niks(pa.array([nik, None], pa.uint64())).error.tolist() == [0, E.MISSING]
    assert parse_niks(pa.array([None, None])).error.tolist() == [E.MISSING] * 2
    mixed = [str(nik), None, 1.0, True, nik, 10**30, -(10**30), object()]
    assert parse_niks(mixed).error.tolist() == [
        0,
        E.MISSING,
        E.NOT_TEXT,
        E.NOT_TEXT,
        0,
        E.LENGTH,
        E.NON_DIGIT,
        E.NOT_TEXT,
    ]
    assert parse_niks(iter([str(nik)])).n_valid == 1
    cat = pd.Series([str(nik), "x", str(nik)], dtype="category")
    assert parse_niks(cat).error.tolist() == [0, E.LENGTH, 0]
    assert parse_niks(pa.array(["3271014508990001", "a"]).dictionary_encode()).n_valid == 1
    assert parse_niks(pa.array(["3271014508990001"], pa.string_view())).n_valid == 1


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (np.array([3.271014508990001e15]), "float"),
        (np.zeros((2, 2), dtype=np.int64), "1-D"),
        (np.zeros(10, dtype=np.int64)[::2], "contiguous"),
        (np.array(["3271014508990001"] * 4, dtype="S16")[::2], "contiguous"),
        ("3271014508990001", "Nik.parse"),
        (pd.DataFrame({"nik": ["3271014508990001"]}), "column"),
        (pa.array([1.5]), "float"),
        (np.array([True]), "dtype"),
        (42, "cannot read"),
    ],
)
def test_unusable_arguments_raise_type_error(values: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        parse_niks(values)


def test_large_input_uses_both_cores_and_agrees_with_small_calls() -> None:
    niks = ektpcore.sample_niks(150_000, seed=3)
    texts = ektpcore.corrupt_niks(niks, 0.1, seed=3)
    whole = parse_niks(texts)
    parts = [parse_niks(texts[i : i + 10_000]) for i in range(0, len(texts), 10_000)]
    assert np.array_equal(whole.values, np.concatenate([p.values for p in parts]))
    assert np.array_equal(whole.error, np.concatenate([p.error for p in parts]))
    assert np.array_equal(whole.position, np.concatenate([p.position for p in parts]))
    assert 0.05 < 1 - whole.n_valid / len(whole) < 0.15
    s16 = parse_niks(np.array(texts, dtype="U17"))
    assert np.array_equal(s16.error, whole.error)


@given(
    st.lists(valid_niks(), min_size=1, max_size=30),
    st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)),
)
def test_decomposition_matches_scalar_properties(texts: list[str], ref: dt.date) -> None:
    batch = parse_niks([*texts, "bad"], reference_date=ref)
    assert batch.birth_date.dtype == np.dtype("datetime64[D]")
    for i, text in enumerate(texts):
        nik = Nik(text)
        assert batch.province[i] == nik.province
        assert batch.regency[i] == nik.regency
        assert batch.district[i] == nik.district
        assert batch.sex[i] == nik.sex
        try:
            born = nik.resolve_birth_date(reference_date=ref)
        except ektpcore.InvalidArgumentError:
            assert np.isnat(batch.birth_date[i])
        else:
            assert batch.birth_date[i] == np.datetime64(born)
    assert (batch.province[-1], batch.sex[-1]) == (0, 0)
    assert np.isnat(batch.birth_date[-1])


def test_batch_reports_errors_readably() -> None:
    batch = parse_niks(["3271014508990001", "3271013508990001", None])
    assert repr(batch) == "NikBatch(n=3, valid=1, invalid=2)"
    assert batch.valid.tolist() == [True, False, False]
    assert batch.counts() == {E.VALID: 1, E.DAY: 1, E.MISSING: 1}
    assert list(batch.errors()) == [(1, E.DAY, 6), (2, E.MISSING, None)]
    assert batch.messages() == [
        None,
        "day: day of birth is outside 01-31 (men) and 41-71 (women) (at position 6)",
        "missing: no value (None or null)",
    ]
    assert batch.niks() == [Nik("3271014508990001"), None, None]
    assert "3271" not in repr(batch)


def test_empty_inputs() -> None:
    for empty in (
        [],
        np.array([], dtype="S16"),
        np.array([], dtype=np.int64),
        pa.array([], pa.string()),
        pa.chunked_array([], pa.string()),
        pl.Series([], dtype=pl.String),
    ):
        batch = parse_niks(empty)
        assert len(batch) == 0
        assert batch.values.dtype == np.int64


def test_bulk_crosscheck_matches_scalar() -> None:
    niks = ["3271014508990001", "3271010508990001", "bad"]
    dates = [dt.date(1999, 8, 5), dt.date(1999, 8, 6), None]
    sexes = ["F", "F", None]
    flags = ektpcore.crosscheck_niks(niks, dates, sexes)
    assert flags.tolist() == [0, ektpcore.NikMismatch.BIRTH_DAY | ektpcore.NikMismatch.SEX, 128]
    assert flags[1] == Nik(niks[1]).crosscheck(birth_date=dates[1], sex=sexes[1])
    as_arrays = ektpcore.crosscheck_niks(
        parse_niks(niks).values, np.array(dates, dtype="datetime64[D]"), np.array([2, 2, 0])
    )
    assert as_arrays.tolist() == flags.tolist()
    with pytest.raises(ektpcore.InvalidArgumentError):
        ektpcore.crosscheck_niks(niks, dates[:2], sexes)


def test_misaligned_arrow_buffers_are_read() -> None:
    texts = ["3271014508990001", "x", "3271014508990002"]
    arr = pa.array(texts, pa.string())
    _, offsets, data = arr.buffers()
    shifted = pa.py_buffer(b"\0" + offsets.to_pybytes())[1:]
    misaligned = pa.StringArray.from_buffers(len(arr), shifted, data)
    assert columns(parse_niks(misaligned)) == columns(parse_niks(texts))


def test_nik_objects_are_read_in_bulk() -> None:
    niks = [Nik("3271014508990001"), Nik("3271014508990002")]
    assert parse_niks([*niks, None]).values.tolist() == [*map(int, niks), -1]


@given(st.lists(valid_niks(), max_size=40))
def test_many_integers_become_nik_objects_as_one_by_one(texts: list[str]) -> None:
    values = [int(t) for t in texts]
    assert nik_objects(values) == [Nik.from_int(v) for v in values]


def test_many_integers_with_a_bad_one_raise_as_from_int_would() -> None:
    good, bad = 3271014508990001, 9971014508990001  # province 99 does not exist
    with pytest.raises(InvalidNikError) as many:
        nik_objects([good, bad, 0])
    with pytest.raises(InvalidNikError) as one:
        Nik.from_int(bad)
    assert (many.value.reason, str(many.value)) == (one.value.reason, str(one.value))
