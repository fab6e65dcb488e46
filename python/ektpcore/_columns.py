"""Reading columns out of the tables users hold: pandas and polars DataFrames, pyarrow Tables,
or plain mappings of column name to sequence."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_NAT = np.iinfo(np.int64).min
_SEX_CODES = {
    "M": 1,
    "L": 1,
    "MALE": 1,
    "LAKI-LAKI": 1,
    "F": 2,
    "P": 2,
    "FEMALE": 2,
    "PEREMPUAN": 2,
}


def has_column(records: Any, name: str) -> bool:
    columns = getattr(records, "column_names", None) or getattr(records, "columns", None)
    if columns is None:
        return name in records
    return name in list(columns)


def column(records: Any, name: str) -> npt.NDArray[Any]:
    """One column as a numpy array (object dtype for text)."""
    values = records[name]
    to_numpy = getattr(values, "to_numpy", None)
    if to_numpy is not None:
        try:
            return np.asarray(to_numpy(zero_copy_only=False))
        except TypeError:
            return np.asarray(to_numpy())
    if not isinstance(values, np.ndarray) and len(values) == 0:
        return np.asarray([], dtype=object)  # not numpy's float64 for an empty list
    return np.asarray(values)


def texts(values: npt.NDArray[Any]) -> list[str | None]:
    """Text cells, with missing values (None, NaN, empty) as ``None``."""
    return [v if isinstance(v, str) and v.strip() else None for v in values.tolist()]


def days(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Dates as days since 1970-01-01; missing as NaT's integer."""
    if values.dtype.kind != "M":
        values = np.array(
            [np.datetime64("NaT") if v is None else np.datetime64(v, "D") for v in values.tolist()],
            dtype="datetime64[D]",
        )
    return np.ascontiguousarray(values.astype("datetime64[D]").view(np.int64))


def sex_codes(values: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """ISO/IEC 5218 codes from codes or letters (M/L, F/P); unknown as 0."""
    if values.dtype.kind in "iu":
        return np.where(np.isin(values, (1, 2)), values, 0).astype(np.uint8)
    return np.array([_sex_code(v) for v in values.tolist()], dtype=np.uint8)


def _sex_code(v: object) -> int:
    if isinstance(v, str):
        return _SEX_CODES.get(v.strip().upper(), 0)
    return v if isinstance(v, int) and v in (1, 2) else 0


NAT = _NAT
