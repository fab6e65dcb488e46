"""An office's printer setup: its printers, shifts and planning settings, read from TOML."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from ..clock import DEFAULT_SHIFTS, Shift
from ..errors import InvalidArgumentError
from .model import Printer

__all__ = ["PrinterSetup", "check_address", "printers_from_toml"]


@dataclass(frozen=True)
class PrinterSetup:
    """An office's printers, shifts and planning settings, as read by
    :func:`printers_from_toml`."""

    printers: tuple[Printer, ...]
    shifts: tuple[Shift, ...] = DEFAULT_SHIFTS
    blanks: int | None = None
    click_limit: int = 300
    click_overhead: _dt.timedelta = _dt.timedelta(minutes=2)
    addresses: dict[str, str] = dataclasses.field(default_factory=dict)
    """Each printer's ``host:port`` where the file gives one (what a console's print
    stations connect to); the planner does not read it."""


def printers_from_toml(path: str | Path) -> PrinterSetup:
    """Reads printers from TOML::

    blanks = 60000                 # optional
    click_limit = 300              # optional
    click_overhead_minutes = 2     # optional

    [[printers]]
    id = "P1"
    cards_per_hour = 60            # one-sided
    cards_per_hour_two_sided = 45  # optional
    chip_seconds = 10              # optional
    ribbon_capacity = 500          # optional
    ribbon_remaining = 320         # optional
    ribbon_change_minutes = 15     # optional
    address = "10.0.0.21:9100"     # optional: where its station connects (raw port 9100)

    [[shifts]]                     # optional; default 08-20 and 20-08 WIB
    start = "08:00"
    end = "20:00"
    printers = 6                   # optional: how many the staff can run
    """
    import tomllib

    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InvalidArgumentError(f"{path}: {err}") from None
    fields = {f.name for f in dataclasses.fields(Printer)} - {"downtime", "available"}
    printers = []
    addresses: dict[str, str] = {}
    for i, entry in enumerate(doc.get("printers", [])):
        entry = dict(entry)
        address = entry.pop("address", None)
        unknown = set(entry) - fields
        if unknown:
            raise InvalidArgumentError(f"{path}: printer {i + 1}: unknown {sorted(unknown)}")
        if "id" not in entry or "cards_per_hour" not in entry:
            raise InvalidArgumentError(f"{path}: printer {i + 1} needs id and cards_per_hour")
        printers.append(Printer(**{**entry, "id": str(entry["id"])}))
        if address is not None:
            addresses[str(entry["id"])] = check_address(address, f"{path}: printer {i + 1}")
    if not printers:
        raise InvalidArgumentError(f"{path}: no [[printers]]")
    shifts = tuple(
        Shift(
            _dt.time.fromisoformat(str(s["start"])),
            _dt.time.fromisoformat(str(s["end"])),
            printers=s.get("printers"),
        )
        for s in doc.get("shifts", [])
    )
    return PrinterSetup(
        printers=tuple(printers),
        shifts=shifts or DEFAULT_SHIFTS,
        blanks=doc.get("blanks"),
        click_limit=int(doc.get("click_limit", 300)),
        click_overhead=_dt.timedelta(minutes=float(doc.get("click_overhead_minutes", 2))),
        addresses=addresses,
    )


def check_address(text: object, what: str = "an address") -> str:
    """``text`` when it is ``host:port`` (a port 1-65535); else
    :class:`~ektpcore.InvalidArgumentError` naming ``what``."""
    host, _, port = str(text).rpartition(":")
    if not isinstance(text, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgumentError(f"{what}: an address is host:port, got {text!r}")
    return text
