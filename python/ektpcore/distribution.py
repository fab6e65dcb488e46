"""Deprecated: manifests and hand-overs moved into :mod:`ektpcore.ledger`.

Import them from ``ektpcore.ledger`` or ``ektpcore``; this module keeps the old imports
working for one release."""

from __future__ import annotations

from ._deprecated import moved
from .ledger import (
    Distribution,
    Manifest,
    ManifestMismatchError,
    ManifestState,
)

__all__ = ["Distribution", "Manifest", "ManifestMismatchError", "ManifestState"]

moved(__name__, "ektpcore.ledger")
