"""Printing: faces to panels (the raster stage), panels to printer commands (dialects) and
back. The layer printer-driver developers build on; see ``docs/printing.md``."""

from __future__ import annotations

from .dialects import (
    CardFaces,
    DecodedCard,
    DecodedCommand,
    DecodedJob,
    Dialect,
    EvolisDialect,
    dialect,
    dialects,
    register_dialect,
)
from .raster import Panels, RasterSettings, chip_clear_mask, rasterize

__all__ = [
    "CardFaces",
    "DecodedCard",
    "DecodedCommand",
    "DecodedJob",
    "Dialect",
    "EvolisDialect",
    "Panels",
    "RasterSettings",
    "chip_clear_mask",
    "dialect",
    "dialects",
    "rasterize",
    "register_dialect",
]
