"""Deprecated: the ledger's database stores moved into :mod:`ektpcore.ledger`.

Import them from ``ektpcore.ledger`` or ``ektpcore``; this module keeps the old imports
working for one release."""

from __future__ import annotations

from ._deprecated import moved
from .ledger import (
    LedgerStore,
    SqliteStore,
)

__all__ = ["LedgerStore", "SqliteStore"]

moved(__name__, "ektpcore.ledger")
