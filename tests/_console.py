"""A bureau's morning for the console's tests: a ledger file with its users (an
administrator, a supervisor, an operator, an auditor), print-ready records with everything
their cards show, blanks, a ribbon in each printer, and batches queued for P1 and P2."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PIL import Image

import ektpcore
from ektpcore import Ledger, Role

from .conftest import card_intake

PASSWORD = "kata sandi yang panjang"
USERS = {"budi": Role.SUPERVISOR, "ani": Role.OPERATOR, "wati": Role.AUDITOR}
KELURAHAN = ("Menteng", "Cibogor", "Paledang")


def bureau(
    tmp_path: Path,
    *,
    per_printer: int = 6,
    extra_ready: int = 4,
    location: str | None = None,
    keys: Any = None,
) -> tuple[str, list[int]]:
    """The ledger's location (a new file under ``tmp_path``, or ``location``) and its
    records' NIKs: ``per_printer`` cards queued for each of P1 and P2 (batches B-P1 and B-P2)
    and ``extra_ready`` print-ready ones; ``keys`` seal it."""
    photo = tmp_path / "foto.png"
    Image.new("RGB", (60, 80), (200, 30, 30)).save(photo)
    location = location or str(tmp_path / "bureau.db")
    total = 2 * per_printer + extra_ready
    niks = [
        int(ektpcore.Nik.compose("32.71.01", dt.date(1990, 1, 1) + dt.timedelta(days=i), "M", 1))
        for i in range(total)
    ]
    with Ledger(location, keys=keys) as led:
        led.users.create_administrator("root", PASSWORD)
        root = led.sign_in("root", PASSWORD)
        for name, role in USERS.items():
            led.users.add(root, name, role, password=PASSWORD)
        budi, ani = led.sign_in("budi", PASSWORD), led.sign_in("ani", PASSWORD)
        led.add_records(
            niks,
            ani,
            state=ektpcore.State.PRINT_READY,
            kecamatan=["Bogor Tengah"] * total,
            kelurahan=[KELURAHAN[i % 3] for i in range(total)],
            **card_intake(niks, str(photo)),
        )
        led.blanks.receive("KEMENDAGRI-2026-12", 1001, 1100, budi)
        for printer in ("P1", "P2"):
            led.ribbons.install(printer, "YMCKO", 500, ani)
        led.queue(niks[:per_printer], "B-P1", "P1", ani)
        led.queue(niks[per_printer : 2 * per_printer], "B-P2", "P2", ani)
        for actor in (root, budi, ani):
            led.sign_out(actor)
    return location, niks
