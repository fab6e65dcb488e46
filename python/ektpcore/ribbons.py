"""Deprecated: printer ribbons moved into :mod:`ektpcore.ledger`.

Import them from ``ektpcore.ledger`` or ``ektpcore``; this module keeps the old imports
working for one release."""

from __future__ import annotations

from ._deprecated import moved
from .ledger import (
    Ribbon,
    RibbonExhaustedError,
    Ribbons,
    RibbonWarning,
)

__all__ = ["Ribbon", "RibbonExhaustedError", "RibbonWarning", "Ribbons"]

moved(__name__, "ektpcore.ledger")
