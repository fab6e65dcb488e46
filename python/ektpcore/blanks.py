"""Deprecated: blank cards moved into :mod:`ektpcore.ledger`.

Import them from ``ektpcore.ledger`` or ``ektpcore``; this module keeps the old imports
working for one release."""

from __future__ import annotations

from ._deprecated import moved
from .clock import WIB, shift_window
from .ledger import (
    BlankShortageError,
    BlankShortageWarning,
    BlankState,
    BlankStock,
    Reconciliation,
)

__all__ = [
    "WIB",
    "BlankShortageError",
    "BlankShortageWarning",
    "BlankState",
    "BlankStock",
    "Reconciliation",
    "shift_window",
]

moved(__name__, "ektpcore.ledger")
