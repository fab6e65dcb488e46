"""NIK (Nomor Induk Kependudukan): the 16-digit personal number printed on every E-KTP.

Layout ``PP KK CC DD MM YY SSSS``: province, kabupaten/kota (regency, 71 and up for a kota),
kecamatan (district) where the NIK was first issued, day of birth (+40 for women), month, the
last two digits of the birth year, and a serial from 0001. There is no check digit; validation
is the set of field rules listed in :class:`NikErrorCode`, checked in that order.

Codes are exposed as ``int`` (``province == 32``, ``regency == 71``, ``district == 1``,
``region_code == 327101``): the same numbers the bulk columns hold.
"""

from __future__ import annotations

import datetime as _dt
import enum
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, SupportsIndex

import numpy as np
import numpy.typing as npt

from . import _ektpcore
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from .regions import RegionTable

__all__ = [
    "Nik",
    "NikBatch",
    "NikErrorCode",
    "NikMismatch",
    "Sex",
    "crosscheck_niks",
    "mask_digits",
    "mask_nik",
    "nik_error_message",
    "parse_niks",
]

logger = logging.getLogger("ektpcore")

_EPOCH = _dt.date(1970, 1, 1)
_NAT = np.iinfo(np.int64).min


class NikErrorCode(enum.IntEnum):
    """Why a NIK is invalid; the ``error`` column of :func:`parse_niks` holds these codes.

    The rules run in this order and the first one broken is reported, so an input with a single
    fault always gets that fault's code.
    """

    VALID = 0
    MISSING = 1  #: None / null element (bulk only)
    NOT_TEXT = 2  #: element is neither text nor an integer (bulk only); floats included
    LENGTH = 3  #: not exactly 16 characters
    NON_DIGIT = 4  #: a character other than ASCII 0-9 (Unicode digits, spaces, signs)
    PROVINCE = 5  #: not one of the 38 province codes
    REGENCY_ZERO = 6  #: kabupaten/kota code 00
    DISTRICT_ZERO = 7  #: kecamatan code 00
    REGION_UNKNOWN = 8  #: not in the region table given (retired Papua regencies accepted)
    DAY = 9  #: day outside 01-31 and 41-71
    MONTH = 10  #: month outside 01-12
    DATE = 11  #: the date does not exist (31 April; 29 February outside a leap year)
    SERIAL_ZERO = 12  #: serial 0000

    @property
    def message(self) -> str:
        """A sentence for people; it never quotes the NIK."""
        return _MESSAGES[int(self)]


_MESSAGES: dict[int, str] = {0: "valid"} | {
    code: message for code, _name, message in _ektpcore.nik_error_table()
}


def nik_error_message(code: int, position: int | None = None) -> str:
    """The readable message for an error code (and position) of :func:`parse_niks`."""
    text = f"{NikErrorCode(code).name.lower()}: {_MESSAGES[int(code)]}"
    if position is not None and position >= 0:
        text += f" (at position {position})"
    return text


class Sex(enum.IntEnum):
    """Sex as coded by ISO/IEC 5218; the NIK marks women by adding 40 to the day of birth."""

    MALE = 1
    FEMALE = 2


class NikMismatch(enum.IntFlag):
    """How a NIK disagrees with its record's own birth date and sex.

    These are warnings, not errors: a birth date corrected after the NIK was issued keeps the
    original NIK, so a mismatch calls for a look, not a rejection.
    """

    NONE = 0
    BIRTH_DAY = 1
    BIRTH_MONTH = 2
    BIRTH_YEAR = 4  #: the last two digits of the year differ
    SEX = 8
    NIK_INVALID = 128  #: the NIK itself is invalid, so nothing was compared


def mask_nik(value: object) -> str:
    """Hides the middle of a NIK (birth date and serial): ``'3271**********01'``.

    Accepts a :class:`Nik`, an ``int`` (read as 16 digits) or any text.
    """
    if isinstance(value, Nik):
        return value.masked
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return _ektpcore.mask_nik(f"{value:016d}")
    if isinstance(value, bytes):
        return _ektpcore.mask_nik(value.decode("utf-8", "replace"))
    return _ektpcore.mask_nik(str(value))


def mask_digits(text: str) -> str:
    """``text`` with every digit shown as ``*``: the shape of a date or number given (which
    separators, how many digits) without its value, for messages about a birth date as
    :func:`mask_nik` is for a NIK."""
    return "".join("*" if ch.isdigit() else ch for ch in str(text))


def _reference_days(reference_date: _dt.date | None) -> int | None:
    if reference_date is None:
        return None
    if isinstance(reference_date, _dt.datetime):
        reference_date = reference_date.date()
    if not isinstance(reference_date, _dt.date):
        raise TypeError(
            f"reference_date must be a datetime.date, not {type(reference_date).__name__}"
        )
    return (reference_date - _EPOCH).days


def _region_set(regions: RegionTable | None) -> _ektpcore.RegionSet | None:
    return None if regions is None else regions._region_set


def _as_sex(sex: Sex | str | int) -> Sex:
    if isinstance(sex, str):
        key = sex.strip().upper()
        for names, value in (
            ({"M", "L", "MALE", "LAKI-LAKI"}, Sex.MALE),
            ({"F", "P", "FEMALE", "PEREMPUAN"}, Sex.FEMALE),
        ):
            if key in names:
                return value
        raise InvalidArgumentError(f"unknown sex {sex!r}; use Sex.MALE or Sex.FEMALE")
    try:
        return Sex(sex)
    except ValueError:
        raise InvalidArgumentError(f"unknown sex code {sex!r}; ISO/IEC 5218 uses 1 and 2") from None


class Nik:
    """A valid NIK: an immutable, hashable value ordered by its number.

    ``str(nik)`` gives the 16 digits; ``repr(nik)`` masks the birth date and serial so a NIK
    can be logged safely. Build one with :meth:`parse`, :meth:`from_int` or :meth:`compose`;
    ``Nik(x)`` accepts any of their inputs.
    """

    __slots__ = ("_value",)
    _value: int

    def __init__(
        self,
        value: str | bytes | int | Nik,
        *,
        reference_date: _dt.date | None = None,
        regions: RegionTable | None = None,
    ) -> None:
        if isinstance(value, Nik):
            checked = value._value
            if reference_date is not None or regions is not None:
                checked = _ektpcore.check_nik_int(
                    checked, _reference_days(reference_date), _region_set(regions)
                )
        elif isinstance(value, (str, bytes)):
            checked = _ektpcore.check_nik(
                value, _reference_days(reference_date), _region_set(regions)
            )
        elif isinstance(value, int) and not isinstance(value, bool):
            # Python ints are unbounded; anything outside int64 is too long or negative anyway.
            clamped = min(max(value, -1), 10**16)
            checked = _ektpcore.check_nik_int(
                clamped, _reference_days(reference_date), _region_set(regions)
            )
        else:
            raise TypeError(f"a NIK is given as str, bytes or int, not {type(value).__name__}")
        object.__setattr__(self, "_value", checked)

    @classmethod
    def parse(
        cls,
        text: str | bytes,
        *,
        reference_date: _dt.date | None = None,
        regions: RegionTable | None = None,
    ) -> Nik:
        """Validates a NIK written as text.

        Raises:
            InvalidNikError: with ``reason`` (a :class:`NikErrorCode`) and ``position``.

        ``reference_date`` resolves the birth year's century (the latest year not after it),
        which makes 29 February of year ``00`` depend on it; without it, 29 February is
        accepted when either 19YY or 20YY is a leap year. ``regions`` checks the region code
        against a loaded :class:`RegionTable`.
        """
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"Nik.parse takes str or bytes, not {type(text).__name__}")
        return cls(text, reference_date=reference_date, regions=regions)

    @classmethod
    def from_int(
        cls,
        value: int,
        *,
        reference_date: _dt.date | None = None,
        regions: RegionTable | None = None,
    ) -> Nik:
        """Validates a NIK held as an integer, read as 16 digits with leading zeros."""
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"Nik.from_int takes int, not {type(value).__name__}")
        return cls(value, reference_date=reference_date, regions=regions)

    @classmethod
    def compose(
        cls, region_code: int | str, birth_date: _dt.date, sex: Sex | str | int, serial: int
    ) -> Nik:
        """Builds a NIK from its parts; the inverse of the properties.

        ``region_code`` is the 6-digit kecamatan code (``327101`` or ``"32.71.01"``).
        """
        if isinstance(region_code, str):
            digits = region_code.replace(".", "")
            if not (digits.isascii() and digits.isdigit() and len(digits) == 6):
                raise InvalidArgumentError("region_code must have 6 digits, e.g. '32.71.01'")
            region_code = int(digits)
        if not 0 <= region_code <= 999_999:
            raise InvalidArgumentError("region_code must have 6 digits, e.g. 327101")
        if not 1 <= serial <= 9999:
            raise InvalidArgumentError("serial must be between 1 and 9999")
        if not isinstance(birth_date, _dt.date):
            raise TypeError("birth_date must be a datetime.date")
        female = _as_sex(sex) is Sex.FEMALE
        value = _ektpcore.compose_nik(
            region_code, birth_date.year, birth_date.month, birth_date.day, female, serial
        )
        return cls.from_int(value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Nik is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Nik is immutable")

    def __reduce__(self) -> tuple[type[Nik], tuple[int]]:
        return (Nik, (self._value,))

    # -- text and numbers -------------------------------------------------------------------
    def __str__(self) -> str:
        return f"{self._value:016d}"

    def __repr__(self) -> str:
        return f"Nik('{self.masked}')"

    def __int__(self) -> int:
        return self._value

    def __index__(self) -> int:
        # Lets bulk calls take Nik objects wherever they take integers.
        return self._value

    @property
    def value(self) -> int:
        """The NIK as an integer (fits ``int64``)."""
        return self._value

    @property
    def masked(self) -> str:
        """The NIK with birth date and serial hidden: ``'3271**********01'``."""
        return _ektpcore.mask_nik(str(self))

    # -- comparison ---------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Nik) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Nik, self._value))

    def __lt__(self, other: Nik) -> bool:
        if not isinstance(other, Nik):
            return NotImplemented
        return self._value < other._value

    def __le__(self, other: Nik) -> bool:
        if not isinstance(other, Nik):
            return NotImplemented
        return self._value <= other._value

    def __gt__(self, other: Nik) -> bool:
        if not isinstance(other, Nik):
            return NotImplemented
        return self._value > other._value

    def __ge__(self, other: Nik) -> bool:
        if not isinstance(other, Nik):
            return NotImplemented
        return self._value >= other._value

    # -- fields -------------------------------------------------------------------------------
    @property
    def province(self) -> int:
        """Province code (``PP``), e.g. 32 for Jawa Barat."""
        return self._value // 10**14

    @property
    def province_name(self) -> str:
        """The province's name from the built-in table of 38 provinces."""
        return _PROVINCE_NAMES[self.province]

    @property
    def regency(self) -> int:
        """Kabupaten (01-69) or kota (71-99) code (``KK``)."""
        return self._value // 10**12 % 100

    @property
    def district(self) -> int:
        """Kecamatan code (``CC``) of the place the NIK was first issued."""
        return self._value // 10**10 % 100

    @property
    def region_code(self) -> int:
        """``PPKKCC`` as one number, e.g. 327101 (always 6 digits: provinces start at 11)."""
        return self._value // 10**10

    @property
    def is_city(self) -> bool:
        """True for a kota (regency code 71 and up), false for a kabupaten."""
        return self.regency >= 71

    @property
    def _day_field(self) -> int:
        return self._value // 10**8 % 100

    @property
    def sex(self) -> Sex:
        """Female when the day of birth carries the +40 offset."""
        return Sex.FEMALE if self._day_field > 40 else Sex.MALE

    @property
    def birth_day(self) -> int:
        """Day of the month of birth, offset removed."""
        return self._day_field % 40

    @property
    def birth_month(self) -> int:
        return self._value // 10**6 % 100

    @property
    def birth_yy(self) -> int:
        """The two digits of the birth year the NIK holds; the century is not recorded."""
        return self._value // 10**4 % 100

    @property
    def serial(self) -> int:
        """The 4-digit serial (1-9999); opaque, only the full 16 digits are unique."""
        return self._value % 10**4

    @property
    def birth_date(self) -> _dt.date:
        """Birth date with the century resolved against today: see :meth:`resolve_birth_date`."""
        return self.resolve_birth_date()

    def resolve_birth_date(
        self, *, reference_date: _dt.date | None = None, birth_year: int | None = None
    ) -> _dt.date:
        """The birth date with its century chosen one of two ways.

        - ``birth_year``: the full year from the record (it must end in :attr:`birth_yy`).
        - ``reference_date`` (default today): the latest year ending in those two digits whose
          birthday is not after the reference date. People aged 100 or more need ``birth_year``.

        Raises:
            InvalidArgumentError: ``birth_year`` does not end in the NIK's two digits, or the
                resolved year makes 29 February impossible.
        """
        month, day = self.birth_month, self.birth_day
        if birth_year is not None:
            if birth_year % 100 != self.birth_yy:
                raise InvalidArgumentError("birth_year does not match the year digits of the NIK")
            year = birth_year
        else:
            days = _reference_days(reference_date or _dt.date.today())
            assert days is not None
            born = _ektpcore.decompose_niks(np.array([self._value], dtype=np.int64), days)[4][0]
            if born == _NAT:
                raise InvalidArgumentError("29 February does not exist in the resolved birth year")
            return _EPOCH + _dt.timedelta(days=int(born))
        try:
            return _dt.date(year, month, day)
        except ValueError:
            raise InvalidArgumentError("29 February does not exist in that birth year") from None

    def crosscheck(
        self, *, birth_date: _dt.date | None = None, sex: Sex | str | int | None = None
    ) -> NikMismatch:
        """Compares the NIK with its record's own birth date and sex; see :class:`NikMismatch`."""
        flags = crosscheck_niks([self._value], [birth_date], [sex])
        return NikMismatch(int(flags[0]))


_PROVINCE_NAMES: dict[int, str] = dict(_ektpcore.provinces())


# -- bulk -----------------------------------------------------------------------------------

IntArray = npt.NDArray[np.int64]


class NikBatch:
    """The result of :func:`parse_niks`: columns aligned with the input.

    Attributes:
        values: ``int64``; the NIK where valid, -1 elsewhere.
        error: ``uint8`` :class:`NikErrorCode` per element, 0 for valid.
        position: ``int8`` character position of the fault, -1 where there is none.

    The decomposition columns (:attr:`province`, :attr:`regency`, :attr:`district`,
    :attr:`sex`, :attr:`birth_date`) are computed on first access; invalid elements hold 0
    (``NaT`` for dates).
    """

    __slots__ = ("_decomposed", "_reference_days", "error", "position", "values")

    def __init__(
        self,
        values: IntArray,
        error: npt.NDArray[np.uint8],
        position: npt.NDArray[np.int8],
        reference_days: int | None,
    ) -> None:
        self.values = values
        self.error = error
        self.position = position
        self._reference_days = reference_days
        self._decomposed: tuple[np.ndarray[Any, Any], ...] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"NikBatch(n={len(self)}, valid={self.n_valid}, invalid={len(self) - self.n_valid})"

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        """Boolean mask of the valid elements."""
        return np.equal(self.error, 0)

    @property
    def n_valid(self) -> int:
        return int(np.count_nonzero(self.error == 0))

    def counts(self) -> dict[NikErrorCode, int]:
        """How many elements have each code (codes that occur only), valid included."""
        counts = np.bincount(self.error, minlength=len(NikErrorCode))
        return {NikErrorCode(c): int(n) for c, n in enumerate(counts) if n}

    def message(self, index: SupportsIndex) -> str | None:
        """The readable error of one element, or ``None`` when it is valid."""
        code = int(self.error[index])
        return None if code == 0 else nik_error_message(code, int(self.position[index]))

    def messages(self) -> list[str | None]:
        """:meth:`message` for every element."""
        return [self.message(i) for i in range(len(self))]

    def errors(self) -> Iterator[tuple[int, NikErrorCode, int | None]]:
        """``(index, code, position)`` for each invalid element, in input order."""
        for i in np.flatnonzero(self.error):
            pos = int(self.position[i])
            yield int(i), NikErrorCode(int(self.error[i])), (pos if pos >= 0 else None)

    def _decompose(self) -> tuple[np.ndarray[Any, Any], ...]:
        if self._decomposed is None:
            days = self._reference_days
            if days is None:
                days = (_dt.date.today() - _EPOCH).days
            p, r, d, s, b = _ektpcore.decompose_niks(self.values, days)
            self._decomposed = (p, r, d, s, b.view("datetime64[D]"))
        return self._decomposed

    @property
    def province(self) -> npt.NDArray[np.uint8]:
        return self._decompose()[0]

    @property
    def regency(self) -> npt.NDArray[np.uint8]:
        return self._decompose()[1]

    @property
    def district(self) -> npt.NDArray[np.uint8]:
        return self._decompose()[2]

    @property
    def sex(self) -> npt.NDArray[np.uint8]:
        """ISO/IEC 5218 codes: 1 male, 2 female, 0 for invalid elements."""
        return self._decompose()[3]

    @property
    def birth_date(self) -> npt.NDArray[np.datetime64]:
        """``datetime64[D]``, century resolved against the reference date (default today)."""
        return self._decompose()[4]

    def niks(self) -> list[Nik | None]:
        """Each element as a :class:`Nik`, or ``None`` where invalid."""
        out: list[Nik | None] = []
        for v, e in zip(self.values.tolist(), self.error.tolist(), strict=True):
            out.append(Nik.from_int(v) if e == 0 else None)
        return out


def parse_niks(
    values: Any,
    *,
    reference_date: _dt.date | None = None,
    regions: RegionTable | None = None,
) -> NikBatch:
    """Validates and converts many NIKs at once, in Rust with the GIL released.

    ``values`` may be a numpy array (``S``/``U`` fixed-width text, ``int64``, or ``object``), a
    list of ``str``/``bytes``/``int``/``None``, or a pandas, polars or pyarrow column. A bad
    element never raises: it gets its own code in :attr:`NikBatch.error`. Only an unusable
    argument raises ``TypeError``: an unsupported type, a float array (float64 cannot hold
    every NIK exactly), a multi-dimensional or non-contiguous numeric/text array.

    ``reference_date`` and ``regions`` mean what they mean for :meth:`Nik.parse`, and scalar
    and bulk agree on every input.
    """
    days = _reference_days(reference_date)
    rset = _region_set(regions)
    values_, error, position = _dispatch(values, days, rset)
    batch = NikBatch(values_, error, position, days)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "parse_niks: %d elements, %d invalid %s",
            len(batch),
            len(batch) - batch.n_valid,
            {c.name: n for c, n in batch.counts().items() if c},
        )
    return batch


def nik_objects(values: list[int]) -> list[Nik]:
    """:class:`Nik` objects of many integers (a manifest's cards, a query's records), checked
    in one call of the core rather than one each; the first that fails raises as
    :meth:`Nik.from_int` would."""
    checked, error, _ = _ektpcore.parse_niks(values, None, None)
    if error.any():
        Nik.from_int(values[int(np.flatnonzero(error)[0])])
    out: list[Nik] = []
    new, put = object.__new__, object.__setattr__
    for value in checked.tolist():
        nik = new(Nik)
        put(nik, "_value", value)
        out.append(nik)
    return out


_Arrays = tuple[IntArray, npt.NDArray[np.uint8], npt.NDArray[np.int8]]


def _require_contiguous(array: np.ndarray[Any, Any]) -> None:
    if array.ndim != 1:
        raise TypeError(f"expected a 1-D array, got {array.ndim} dimensions")
    if not array.flags.c_contiguous:
        raise TypeError(
            "the array is not contiguous; pass np.ascontiguousarray(values) "
            "(ektpcore reads the buffer in place and does not copy it silently)"
        )


def _dispatch(values: Any, days: int | None, rset: _ektpcore.RegionSet | None) -> _Arrays:
    if isinstance(values, np.ndarray):
        return _from_numpy(values, days, rset)
    if isinstance(values, list):
        return _ektpcore.parse_niks(values, days, rset)
    if isinstance(values, (str, bytes)):
        raise TypeError("parse_niks takes a column of NIKs; for one NIK use Nik.parse")
    top = type(values).__module__.partition(".")[0]
    if top == "pandas":
        return _from_pandas(values, days, rset)
    if top == "polars":
        import polars as pl

        if isinstance(values, pl.Series):
            return _from_arrow(values.to_arrow(), days, rset)
        raise TypeError(f"expected a polars Series, not {type(values).__name__}")
    if top == "pyarrow":
        return _from_arrow(values, days, rset)
    if isinstance(values, Iterable):
        return _ektpcore.parse_niks(list(values), days, rset)
    raise TypeError(f"cannot read NIKs from {type(values).__name__}")


def _from_numpy(array: np.ndarray[Any, Any], days: int | None, rset: Any) -> _Arrays:
    kind = array.dtype.kind
    if kind == "O":
        if array.ndim != 1:
            raise TypeError(f"expected a 1-D array, got {array.ndim} dimensions")
        # Copying an object array copies pointers only; the strings are read in place.
        return _ektpcore.parse_niks(np.ascontiguousarray(array), days, rset)
    if kind in "SU":
        _require_contiguous(array)
        if array.dtype.itemsize == 0:
            array = array.astype("S1")
        if kind == "S":
            width = array.dtype.itemsize
            return _ektpcore.parse_niks((array.view(np.uint8), width), days, rset)
        width = array.dtype.itemsize // 4
        return _ektpcore.parse_niks((array.view(np.uint32), width), days, rset)
    if kind in "iu":
        _require_contiguous(array)
        if array.dtype == np.int64:
            return _ektpcore.parse_niks(array, days, rset)
        if kind == "u" and array.dtype.itemsize == 8:
            # Above 2^63 the number is far longer than 16 digits: clamp so it fails on length.
            array = np.minimum(array, np.uint64(10**16))
        return _ektpcore.parse_niks(array.astype(np.int64), days, rset)
    if kind == "f":
        raise TypeError(
            "float arrays cannot hold every NIK exactly (above 2^53 digits are lost); "
            "pass int64 or text"
        )
    if kind == "T":  # numpy's variable-width StringDType
        return _ektpcore.parse_niks(array.astype(object), days, rset)
    raise TypeError(f"cannot read NIKs from an array of dtype {array.dtype}")


def _from_pandas(values: Any, days: int | None, rset: Any) -> _Arrays:
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        raise TypeError("pass one column of the DataFrame, e.g. df['nik']")
    if isinstance(values.dtype, np.dtype):
        return _from_numpy(values.to_numpy(), days, rset)
    # Extension arrays (Arrow-backed strings, nullable integers) go through Arrow's buffers.
    import pyarrow as pa

    return _from_arrow(pa.array(values), days, rset)


def _from_arrow(array: Any, days: int | None, rset: Any) -> _Arrays:
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        parts = [_from_arrow(chunk, days, rset) for chunk in array.chunks]
        if not parts:
            return _ektpcore.parse_niks([], days, rset)
        v, e, p = zip(*parts, strict=True)
        return np.concatenate(v), np.concatenate(e), np.concatenate(p)
    if not isinstance(array, pa.Array):
        raise TypeError(f"cannot read NIKs from {type(array).__name__}")
    t = array.type
    if pa.types.is_dictionary(t):
        return _from_arrow(array.dictionary_decode(), days, rset)
    if pa.types.is_string_view(t):
        return _from_arrow(array.cast(pa.large_string()), days, rset)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        _, offsets_buf, data_buf = array.buffers()
        otype = np.int32 if pa.types.is_string(t) else np.int64
        offsets: npt.NDArray[np.signedinteger[Any]] = np.frombuffer(offsets_buf, dtype=otype)
        # Arrow buffers that crossed a process boundary may be misaligned; copying the offsets
        # (4 or 8 bytes a string) fixes that, while the character data is read in place.
        offsets = np.require(
            offsets[array.offset : array.offset + len(array) + 1], requirements=("C", "A")
        )
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)
            if data_buf is not None
            else np.zeros(0, np.uint8)
        )
        valid = None if array.null_count == 0 else array.is_valid().to_numpy(zero_copy_only=False)
        return _ektpcore.parse_niks((offsets, data, valid), days, rset)
    if pa.types.is_integer(t):
        nulls = array.is_null().to_numpy(zero_copy_only=False) if array.null_count else None
        filled = array.fill_null(0)
        if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
            import pyarrow.compute as pc

            # Above 2^63 the number is far longer than 16 digits: clamp so it fails on length.
            filled = pc.min_element_wise(filled, pa.scalar(10**16, pa.uint64()))
        ints = np.require(filled.cast(pa.int64()).to_numpy(), requirements=("C", "A"))
        values, error, position = _ektpcore.parse_niks(ints, days, rset)
        if nulls is not None:
            values[nulls], error[nulls], position[nulls] = -1, NikErrorCode.MISSING, -1
        return values, error, position
    if pa.types.is_null(t):
        return _ektpcore.parse_niks([None] * len(array), days, rset)
    if pa.types.is_floating(t):
        raise TypeError("float columns cannot hold every NIK exactly; pass int64 or text")
    return _ektpcore.parse_niks(array.to_pylist(), days, rset)


def crosscheck_niks(niks: Any, birth_dates: Any, sexes: Any) -> npt.NDArray[np.uint8]:
    """Bulk :meth:`Nik.crosscheck`: :class:`NikMismatch` flags per record.

    ``niks`` is anything :func:`parse_niks` accepts, ``birth_dates`` a ``datetime64`` array or
    a sequence of ``date``/``None``, ``sexes`` a sequence of :class:`Sex`, ``'M'``/``'F'``
    (also ``'L'``/``'P'``), ISO 5218 codes, or ``None``. Unknown dates and sexes are skipped.
    """
    values = niks if isinstance(niks, np.ndarray) and niks.dtype == np.int64 else None
    if values is None:
        values = parse_niks(niks).values
    dates = np.asarray(birth_dates)
    if dates.dtype == object:
        dates = np.array(
            [np.datetime64("NaT") if d is None else np.datetime64(d, "D") for d in dates.tolist()],
            dtype="datetime64[D]",
        )
    if dates.dtype.kind != "M":
        raise TypeError("birth_dates must be datetime64 values or dates")
    days = np.ascontiguousarray(dates.astype("datetime64[D]").view(np.int64))
    if isinstance(sexes, np.ndarray) and sexes.dtype.kind in "iu":
        sex_codes = sexes.astype(np.uint8)
    else:
        sex_codes = np.array([0 if s is None else int(_as_sex(s)) for s in sexes], dtype=np.uint8)
    return _ektpcore.crosscheck_niks(np.ascontiguousarray(values), days, sex_codes)


# A chain of digit groups joined by short separators (up to three characters that are neither
# letters nor digits: spaces, dots, dashes, slashes, line breaks, ...), after the text is
# brought to plain digits: the ways a NIK is written on forms and in notes.
_DIGIT_CHAIN = re.compile(r"[0-9]+(?:[^0-9a]{1,3}[0-9]+)*")
# Letters by their category that show nothing (Unicode's default-ignorable Hangul fillers):
# between digits they hide no separator, like a zero-width space.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def has_nik_shape(text: str) -> bool:
    """Whether ``text`` holds a number written like a NIK: sixteen digits, in one run or in
    groups joined by spaces, dots, dashes, slashes or other short separators, in any script's
    digits (full-width, Arabic-Indic, superscript, circled ...) and with invisible characters
    or combining marks anywhere. A run of more than sixteen digits counts too (a NIK with a
    digit added). Two serials of eight digits side by side read as one NIK: a reason names
    one blank, a batch or a range instead."""
    view = []
    for ch in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(ch)
        if category in ("Cf", "Mn", "Me") or ch in _INVISIBLE_LETTERS:
            continue  # invisible or combining: not seen, so not a separator
        # A digit value, not only a decimal one: dingbat circled digits (❶, ➀) have no
        # decimal value and read as digits all the same.
        digit = unicodedata.digit(ch, None)
        if digit is not None:
            view.append(str(digit))
        elif ch.isalpha():
            view.append("a")
        else:
            view.append(" ")
    for chain in _DIGIT_CHAIN.finditer("".join(view)):
        groups = re.findall(r"[0-9]+", chain.group())
        if sum(map(len, groups)) == 16 or max(map(len, groups)) >= 16:
            return True
    return False
