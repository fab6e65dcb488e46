"""How a module that moved keeps its old import path for one release."""

from __future__ import annotations

import warnings


def moved(old: str, new: str) -> None:
    """Warns the importer of ``old`` (a module being imported) that it now lives in ``new``."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; import from {new} or"
        " ektpcore",
        DeprecationWarning,
        stacklevel=3,
    )
