"""ektpcore: the Rust-accelerated core of an E-KTP print bureau.

The public API is what ``__all__`` lists; ``ektpcore._ektpcore`` is the private native module.
"""

from __future__ import annotations

from .errors import EktpcoreError, InvalidArgumentError, InvalidNikError
from .nik import (
    Nik,
    NikBatch,
    NikErrorCode,
    NikMismatch,
    Sex,
    crosscheck_niks,
    mask_nik,
    nik_error_message,
    parse_niks,
)
from .regions import RegionNames, RegionTable
from .sample import corrupt_niks, sample_niks

__all__ = [
    "EktpcoreError",
    "InvalidArgumentError",
    "InvalidNikError",
    "Nik",
    "NikBatch",
    "NikErrorCode",
    "NikMismatch",
    "RegionNames",
    "RegionTable",
    "Sex",
    "corrupt_niks",
    "crosscheck_niks",
    "mask_nik",
    "nik_error_message",
    "parse_niks",
    "sample_niks",
]
