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
from .transports import (
    CaptureTransport,
    FileTransport,
    PrinterConnectionError,
    TcpTransport,
    Transport,
    UsbTransport,
)
from .virtual import Faults, VirtualPrinter

__all__ = [
    "CaptureTransport",
    "CardFaces",
    "DecodedCard",
    "DecodedCommand",
    "DecodedJob",
    "Dialect",
    "EvolisDialect",
    "Faults",
    "FileTransport",
    "Panels",
    "PrinterConnectionError",
    "RasterSettings",
    "TcpTransport",
    "Transport",
    "UsbTransport",
    "VirtualPrinter",
    "chip_clear_mask",
    "dialect",
    "dialects",
    "rasterize",
    "register_dialect",
]
