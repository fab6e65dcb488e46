"""Synthetic NIKs for trying ektpcore out, for tests and for benchmarks.

The numbers look like a real register: adult holders (an E-KTP is issued from age 17), half of
them women, SIAK's placeholder birth dates (1 July, 31 December) for people who did not know
theirs, and serials issued in sequence per region and birth date. They are unique. Without a
region table the region codes are plausible but invented; with one they are drawn from its
kecamatan.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import numpy.typing as npt

from . import _ektpcore
from .errors import InvalidArgumentError
from .regions import RegionTable

__all__ = ["corrupt_niks", "sample_niks"]

_PROVINCE_CODES = np.array([code for code, _ in _ektpcore.provinces()], dtype=np.int64)


def _region_codes(
    rng: np.random.Generator, n: int, regions: RegionTable | None
) -> npt.NDArray[np.int64]:
    if regions is not None:
        pool = np.array([int(c) for c in regions._names if len(c) == 6], dtype=np.int64)
        if pool.size == 0:
            raise InvalidArgumentError("the region table has no 6-digit kecamatan codes")
        return rng.choice(pool, n)
    province = rng.choice(_PROVINCE_CODES, n)
    # About one regency in five is a kota (71 and up); kabupaten and kecamatan codes stay small.
    regency = np.where(rng.random(n) < 0.2, rng.integers(71, 80, n), rng.integers(1, 30, n))
    district = rng.integers(1, 40, n)
    codes: npt.NDArray[np.int64] = province * 10_000 + regency * 100 + district
    return codes


def sample_niks(
    n: int,
    *,
    seed: int | None = None,
    regions: RegionTable | None = None,
    reference_date: _dt.date | None = None,
) -> npt.NDArray[np.int64]:
    """``n`` distinct valid NIKs as ``int64``, reproducible for a given ``seed``."""
    if n < 0:
        raise InvalidArgumentError("n must not be negative")
    rng = np.random.default_rng(seed)
    today = reference_date or _dt.date.today()
    region = _region_codes(rng, n, regions)
    # Ages 17-90, fewer of the old: a rough Indonesian adult pyramid.
    age_days = (
        (17 * 365.25 + rng.exponential(22 * 365.25, n)).clip(max=90 * 365.25).astype(np.int64)
    )
    born = np.datetime64(today, "D") - age_days.astype("timedelta64[D]")
    years = born.astype("datetime64[Y]").astype(np.int64) + 1970
    months = born.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (born - born.astype("datetime64[M]")).astype(np.int64) + 1
    # SIAK's placeholders for an unknown birth date: 1 July (since 2004), 31 December (before).
    u = rng.random(n)
    months = np.select([u < 0.03, u > 0.98], [7, 12], months)
    days = np.select([u < 0.03, u > 0.98], [1, 31], days)
    female = rng.random(n) < 0.5
    prefix = (region * 100 + days + 40 * female) * 10_000 + months * 100 + years % 100
    # Serials run 1, 2, 3, ... within each 12-digit prefix, as SIAK issues them.
    order = np.argsort(prefix, kind="stable")
    sorted_prefix = prefix[order]
    starts = np.r_[True, sorted_prefix[1:] != sorted_prefix[:-1]] if n else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    serial = np.empty(n, dtype=np.int64)
    serial[order] = np.arange(n) - group_start + 1
    if n and serial.max() > 9999:
        raise InvalidArgumentError("too many NIKs for the region pool; give a larger region table")
    niks: npt.NDArray[np.int64] = prefix * 10_000 + serial
    return niks


_CORRUPTIONS = ("drop", "letter", "space", "day", "month", "province", "serial", "unicode")


def corrupt_niks(
    niks: npt.NDArray[np.int64], fraction: float, *, seed: int | None = None
) -> list[str]:
    """The NIKs as text with about ``fraction`` of them broken the ways data entry breaks them:
    a dropped digit, a letter O for a zero, a stray space, an impossible day or month, an
    unknown province, serial 0000, a full-width digit."""
    rng = np.random.default_rng(seed)
    texts = [f"{v:016d}" for v in niks.tolist()]
    for i in np.flatnonzero(rng.random(len(texts)) < fraction).tolist():
        t = texts[i]
        kind = _CORRUPTIONS[int(rng.integers(len(_CORRUPTIONS)))]
        if kind == "drop":
            t = t[:-1]
        elif kind == "letter":
            t = t[:10] + "O" + t[11:]
        elif kind == "space":
            t = t[:6] + " " + t[7:]
        elif kind == "day":
            t = t[:6] + "35" + t[8:]
        elif kind == "month":
            t = t[:8] + "13" + t[10:]
        elif kind == "province":
            t = "20" + t[2:]
        elif kind == "serial":
            t = t[:12] + "0000"
        else:
            t = t[:15] + "\uff11"
        texts[i] = t
    return texts
