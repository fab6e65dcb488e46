"""Parse + validate NIKs in bulk: ektpcore against the peers a user would otherwise reach for.

Every peer implements the same rules (16 ASCII digits, one of the 38 provinces, regency and
kecamatan not 00, day 01-31/41-71, month 01-12, a real date with 29 February accepted when
the two-digit year allows a leap year, serial not 0000), and every result is checked: ektpcore's
full error codes against the NumPy reference below, each peer's validity mask and values
against ektpcore's, and the NumPy reference itself against a plain-Python one on a sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import ektpcore

from .conftest import TARGETS, Measure

PROVINCES = [code for code, _ in ektpcore._ektpcore.provinces()]
DIM = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

TARGETS.extend(
    [
        (
            "S16 >= 10x the fastest peer",
            "nik-s16",
            "ektpcore",
            ("numpy SWAR", "pyarrow cast + compute", "polars to_integer + exprs"),
            10.0,
        ),
        ("S16 within 2x of a numpy copy", "nik-s16", "ektpcore", ("numpy copy (floor)",), 0.5),
        (
            "list of str >= 2x polars end to end",
            "nik-list",
            "ektpcore",
            ("polars Series + exprs",),
            2.0,
        ),
    ]
)

# -- data ------------------------------------------------------------------------------------


@dataclass
class Data:
    s16: npt.NDArray[np.bytes_]
    texts: list[str]
    ints: npt.NDArray[np.int64]
    arrow: pa.Array
    series: pl.Series
    int_series: pl.Series


def corrupt_bytes(m: npt.NDArray[np.uint8], fraction: float, rng: np.random.Generator) -> None:
    """Breaks about `fraction` of the rows of an (n, 16) digit matrix in place, the ways data
    entry does (a letter, a dropped digit, impossible fields), all ASCII so S16 holds them."""
    rows = np.flatnonzero(rng.random(len(m)) < fraction)
    kind = rng.integers(0, 8, len(rows))
    col = rng.integers(0, 16, len(rows))
    for k, patch in enumerate([b"O", b"\0", b"35", b"13", b"20", b"0000", b"00", b" "]):
        r = rows[kind == k]
        p = np.frombuffer(patch, np.uint8)
        start = {
            0: col[kind == k],
            1: np.full(len(r), 15),
            2: 6,
            3: 8,
            4: 0,
            5: 12,
            6: 4,
            7: col[kind == k],
        }[k]
        for j, byte in enumerate(p):
            m[r, np.asarray(start) + j] = byte


@pytest.fixture(scope="session")
def data(n: int) -> Data:
    rng = np.random.default_rng(2017)
    niks = ektpcore.sample_niks(n, seed=2017)
    s16 = niks.astype("S16")
    m = s16.view(np.uint8).reshape(-1, 16)
    corrupt_bytes(m, 0.05, rng)
    texts = s16.astype("U16").tolist()
    # int64 input: the same rows, with non-digits read as 0 (the number a spreadsheet keeps).
    digits = np.where((m >= 48) & (m <= 57), m - 48, 0).astype(np.int64)
    ints = digits @ (10 ** np.arange(15, -1, -1, dtype=np.int64))
    return Data(s16, texts, ints, pa.array(texts, pa.string()), pl.Series(texts), pl.Series(ints))


# -- references ------------------------------------------------------------------------------

_PROV = np.zeros(256, bool)
_PROV[PROVINCES] = True
_DIM = np.zeros(256, np.uint8)
_DIM[: len(DIM)] = DIM
_HIGH, _THREES, _SIX = (
    np.uint64(x) for x in (0xF0F0F0F0F0F0F0F0, 0x3030303030303030, 0x0606060606060606)
)
_LANE = np.uint64(0x00FF00FF00FF00FF)


def _swar_fields(s16: npt.NDArray[np.bytes_]) -> tuple[Any, ...]:
    w = s16.view("<u8").reshape(-1, 2)
    lo, hi = w[:, 0], w[:, 1]
    digits = ((lo & _HIGH) == _THREES) & (((lo + _SIX) & _HIGH) == _THREES)
    digits &= ((hi & _HIGH) == _THREES) & (((hi + _SIX) & _HIGH) == _THREES)
    a, c = lo - _THREES, hi - _THREES
    a = (a * np.uint64(10) + (a >> np.uint64(8))) & _LANE
    c = (c * np.uint64(10) + (c >> np.uint64(8))) & _LANE
    lane = [(x >> np.uint64(s)) & np.uint64(0xFF) for x in (a, c) for s in (0, 16, 32, 48)]
    pp, kk, cc, dd, mm, yy, s1, s2 = (x.astype(np.uint8) for x in lane)
    return digits, pp, kk, cc, dd, mm, yy, s1, s2


def numpy_swar(s16: npt.NDArray[np.bytes_]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Vectorised NumPy peer: SWAR digit test and digit pairs on the uint64 view of S16."""
    digits, pp, kk, cc, dd, mm, yy, s1, s2 = _swar_fields(s16)
    day = np.where(dd > 40, dd - 40, dd)
    valid = digits & _PROV[pp] & (kk != 0) & (cc != 0)
    valid &= ((dd >= 1) & (dd <= 31)) | ((dd >= 41) & (dd <= 71))
    valid &= (mm >= 1) & (mm <= 12) & (day <= _DIM[mm])
    valid &= ~((mm == 2) & (day == 29) & (yy % 4 != 0)) & ((s1 | s2) != 0)
    number = (
        pp.astype(np.int64) * 10**14
        + kk.astype(np.int64) * 10**12
        + cc.astype(np.int64) * 10**10
        + dd.astype(np.int64) * 10**8
        + mm.astype(np.int64) * 10**6
        + yy.astype(np.int64) * 10**4
        + s1.astype(np.int64) * 100
        + s2.astype(np.int64)
    )
    return valid, np.where(valid, number, -1)


def numpy_reference_codes(
    s16: npt.NDArray[np.bytes_],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int8]]:
    """The reference for ektpcore's error codes and positions: every rule, in order."""
    m = s16.view(np.uint8).reshape(-1, 16)
    digits, pp, kk, cc, dd, mm, yy, s1, s2 = _swar_fields(s16)
    day = np.where(dd > 40, dd - 40, dd)
    first_bad = np.argmin((m >= 48) & (m <= 57), axis=1)
    conditions = [
        m[:, 15] == 0,
        ~digits,
        ~_PROV[pp],
        kk == 0,
        cc == 0,
        ~(((dd >= 1) & (dd <= 31)) | ((dd >= 41) & (dd <= 71))),
        ~((mm >= 1) & (mm <= 12)),
        day > _DIM[mm],
        (mm == 2) & (day == 29) & (yy % 4 != 0),
        (s1 | s2) == 0,
    ]
    codes = np.select(conditions, [3, 4, 5, 6, 7, 9, 10, 11, 11, 12], 0).astype(np.uint8)
    positions = np.select(conditions, [-1, first_bad, 0, 2, 4, 6, 8, 6, 6, 12], -1).astype(np.int8)
    return codes, positions


def python_reference(text: str) -> int:
    """Plain Python, one NIK: the rules as a reader would write them. Returns the code."""
    if len(text) != 16:
        return 3
    if not all("0" <= ch <= "9" for ch in text):
        return 4
    pp, kk, cc, dd, mm, yy, ss = (
        int(text[i:j]) for i, j in ((0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 16))
    )
    day = dd - 40 if dd > 40 else dd
    if pp not in PROVINCES:
        return 5
    if kk == 0:
        return 6
    if cc == 0:
        return 7
    if not (1 <= dd <= 31 or 41 <= dd <= 71):
        return 9
    if not 1 <= mm <= 12:
        return 10
    if day > DIM[mm] or (mm == 2 and day == 29 and yy % 4 != 0):
        return 11
    if ss == 0:
        return 12
    return 0


def numpy_int64(v: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Vectorised NumPy peer on int64: the same rules with integer division."""
    hi, lo = v // 10**8, v % 10**8
    pp, kk, cc, dd = hi // 10**6, hi // 10**4 % 100, hi // 100 % 100, hi % 100
    mm, yy, ss = lo // 10**6, lo // 10**4 % 100, lo % 10**4
    day = np.where(dd > 40, dd - 40, dd)
    valid = (v >= 0) & (v < 10**16) & _PROV[np.clip(pp, 0, 255)] & (kk != 0) & (cc != 0)
    valid &= ((dd >= 1) & (dd <= 31)) | ((dd >= 41) & (dd <= 71))
    valid &= (mm >= 1) & (mm <= 12) & (day <= _DIM[np.clip(mm, 0, 255)])
    valid &= ~((mm == 2) & (day == 29) & (yy % 4 != 0)) & (ss != 0)
    return valid, np.where(valid, v, -1)


def _polars_rules(v: pl.Expr, ok: pl.Expr) -> list[pl.Expr]:
    pp, kk, cc = v // 10**14, v // 10**12 % 100, v // 10**10 % 100
    dd, mm, yy, ss = v // 10**8 % 100, v // 10**6 % 100, v // 10**4 % 100, v % 10**4
    day = pl.when(dd > 40).then(dd - 40).otherwise(dd)
    dim = pl.when(mm == 2).then(29).when(mm.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    valid = (
        ok
        & pp.is_in(PROVINCES)
        & (kk != 0)
        & (cc != 0)
        & (dd.is_between(1, 31) | dd.is_between(41, 71))
        & mm.is_between(1, 12)
        & (day <= dim)
        & ~((mm == 2) & (day == 29) & (yy % 4 != 0))
        & (ss != 0)
    )
    return [
        valid.fill_null(False).alias("valid"),
        pl.when(valid).then(v).otherwise(-1).fill_null(-1).alias("value"),
    ]


def polars_text(s: pl.Series) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Polars peer: regex shape check, `str.to_integer`, then the rules as expressions."""
    col = pl.col("s")
    ok = col.str.contains(r"^[0-9]{16}$")
    out = (
        pl.DataFrame({"s": s})
        .lazy()
        .select(_polars_rules(col.str.to_integer(strict=False), ok))
        .collect()
    )
    return out["valid"].to_numpy(), out["value"].to_numpy()


def polars_int(s: pl.Series) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    col = pl.col("v")
    out = (
        pl.DataFrame({"v": s})
        .lazy()
        .select(_polars_rules(col, (col >= 0) & (col < 10**16)))
        .collect()
    )
    return out["valid"].to_numpy(), out["value"].to_numpy()


def _pa_mod(x: pa.Array, k: int) -> pa.Array:
    return pc.subtract(x, pc.multiply(pc.divide(x, k), k))


_PA_PROVINCES = pa.array(PROVINCES, pa.int64())
_PA_DIM = pa.array(DIM, pa.int64())


def pyarrow_text(arr: pa.Array) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """pyarrow peer: RE2 shape check, `cast` to int64, then the rules as compute kernels."""
    ok = pc.match_substring_regex(arr, r"^[0-9]{16}$")
    v = pc.cast(pc.if_else(ok, arr, "1101010101010001"), pa.int64())
    hi, lo = pc.divide(v, 10**8), _pa_mod(v, 10**8)
    pp, kk, cc, dd = (
        pc.divide(hi, 10**6),
        _pa_mod(pc.divide(hi, 10**4), 100),
        _pa_mod(pc.divide(hi, 100), 100),
        _pa_mod(hi, 100),
    )
    mm, yy, ss = pc.divide(lo, 10**6), _pa_mod(pc.divide(lo, 10**4), 100), _pa_mod(lo, 10**4)
    female = pc.greater(dd, 40)
    day = pc.if_else(female, pc.subtract(dd, 40), dd)
    month_ok = pc.and_(pc.greater_equal(mm, 1), pc.less_equal(mm, 12))
    dim = pc.take(_PA_DIM, pc.if_else(month_ok, mm, 0))
    conditions = [
        ok,
        pc.is_in(pp, value_set=_PA_PROVINCES),
        pc.not_equal(kk, 0),
        pc.not_equal(cc, 0),
        pc.or_(
            pc.and_(pc.greater_equal(dd, 1), pc.less_equal(dd, 31)),
            pc.and_(pc.greater_equal(dd, 41), pc.less_equal(dd, 71)),
        ),
        month_ok,
        pc.less_equal(day, dim),
        pc.invert(
            pc.and_(pc.and_(pc.equal(mm, 2), pc.equal(day, 29)), pc.not_equal(_pa_mod(yy, 4), 0))
        ),
        pc.not_equal(ss, 0),
    ]
    valid = conditions[0]
    for c in conditions[1:]:
        valid = pc.and_(valid, c)
    return valid.to_numpy(zero_copy_only=False), pc.if_else(valid, v, -1).to_numpy()


# -- checks ----------------------------------------------------------------------------------


def check_ours(batch: ektpcore.NikBatch, data: Data) -> None:
    codes, positions = numpy_reference_codes(data.s16)
    assert np.array_equal(batch.error, codes)
    assert np.array_equal(batch.position, positions)
    expected_valid, expected_values = numpy_swar(data.s16)
    assert np.array_equal(batch.valid, expected_valid)
    assert np.array_equal(batch.values, expected_values)


def check_peer(result: tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]], data: Data) -> None:
    valid, values = result
    expected = ektpcore.parse_niks(data.s16)
    assert np.array_equal(np.asarray(valid, bool), expected.valid)
    assert np.array_equal(values, expected.values)


def test_reference_agrees_with_plain_python(data: Data) -> None:
    sample = np.random.default_rng(1).choice(
        len(data.texts), min(3000, len(data.texts)), replace=False
    )
    codes, _ = numpy_reference_codes(data.s16[sample])
    assert codes.tolist() == [python_reference(data.texts[i]) for i in sample]
    assert 0.03 < np.count_nonzero(codes) / len(codes) < 0.08


# -- S16 -------------------------------------------------------------------------------------

S16 = "nik-s16"


def test_s16_ektpcore(measure: Measure, data: Data) -> None:
    check_ours(measure(S16, "ektpcore", ektpcore.parse_niks, data.s16), data)


def test_s16_numpy_swar(measure: Measure, data: Data) -> None:
    check_peer(measure(S16, "numpy SWAR", numpy_swar, data.s16), data)


def test_s16_pyarrow(measure: Measure, data: Data) -> None:
    check_peer(measure(S16, "pyarrow cast + compute", pyarrow_text, data.arrow), data)


def test_s16_polars(measure: Measure, data: Data) -> None:
    check_peer(measure(S16, "polars to_integer + exprs", polars_text, data.series), data)


def test_s16_copy_floor(measure: Measure, data: Data) -> None:
    copied = measure(S16, "numpy copy (floor)", np.copy, data.s16)
    assert np.array_equal(copied, data.s16)


# -- list of str -----------------------------------------------------------------------------

LIST = "nik-list"


def test_list_ektpcore(measure: Measure, data: Data) -> None:
    check_ours(measure(LIST, "ektpcore", ektpcore.parse_niks, data.texts), data)


def test_list_polars(measure: Measure, data: Data) -> None:
    check_peer(
        measure(LIST, "polars Series + exprs", lambda t: polars_text(pl.Series(t)), data.texts),
        data,
    )


def test_list_pyarrow(measure: Measure, data: Data) -> None:
    check_peer(
        measure(
            LIST,
            "pyarrow array + compute",
            lambda t: pyarrow_text(pa.array(t, pa.string())),
            data.texts,
        ),
        data,
    )


# -- int64 -----------------------------------------------------------------------------------

INT = "nik-int64"


def _check_ints(valid: npt.NDArray[np.bool_], values: npt.NDArray[np.int64], data: Data) -> None:
    texts = np.char.zfill(data.ints.astype("U20"), 16)
    expected = numpy_swar(np.char.encode(texts).astype("S16"))
    ok = data.ints < 10**16
    assert np.array_equal(np.asarray(valid, bool), expected[0] & ok)
    assert np.array_equal(values, np.where(ok, expected[1], -1))


def test_int64_ektpcore(measure: Measure, data: Data) -> None:
    batch = measure(INT, "ektpcore", ektpcore.parse_niks, data.ints)
    _check_ints(batch.valid, batch.values, data)


def test_int64_numpy(measure: Measure, data: Data) -> None:
    _check_ints(*measure(INT, "numpy integer arithmetic", numpy_int64, data.ints), data)


def test_int64_polars(measure: Measure, data: Data) -> None:
    _check_ints(*measure(INT, "polars exprs", polars_int, data.int_series), data)
