"""Printing: faces to panels (the raster stage), panels to printer commands (dialects) and
back. The layer printer-driver developers build on; see ``docs/printing.md``."""

from __future__ import annotations

from .dialects import (
    CardFaces,
    Condition,
    DecodedCard,
    DecodedCommand,
    DecodedJob,
    Dialect,
    EvolisDialect,
    Exchange,
    MagicardDialect,
    PrinterStatus,
    dialect,
    dialects,
    register_dialect,
)
from .layout import (
    CardData,
    PhotoBackgroundError,
    Template,
    card_lacks,
    check_card,
    check_photo_background,
    faces_from_record,
    photo_background,
    render,
)
from .raster import Panels, RasterSettings, chip_clear_mask, rasterize
from .station import BatchReport, ChipEncoding, PrintStation, StationError
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
    "BatchReport",
    "CaptureTransport",
    "CardData",
    "CardFaces",
    "ChipEncoding",
    "Condition",
    "DecodedCard",
    "DecodedCommand",
    "DecodedJob",
    "Dialect",
    "EvolisDialect",
    "Exchange",
    "Faults",
    "FileTransport",
    "MagicardDialect",
    "Panels",
    "PhotoBackgroundError",
    "PrintStation",
    "PrinterConnectionError",
    "PrinterStatus",
    "RasterSettings",
    "StationError",
    "TcpTransport",
    "Template",
    "Transport",
    "UsbTransport",
    "VirtualPrinter",
    "card_lacks",
    "check_card",
    "check_photo_background",
    "chip_clear_mask",
    "dialect",
    "dialects",
    "faces_from_record",
    "photo_background",
    "rasterize",
    "register_dialect",
    "render",
]
