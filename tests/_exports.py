"""A day's export as SIAK gives it to a bureau, made for the command-line tests: CSV in
Windows-1252 from an older Excel, semicolons, CRLF, SIAK's column names, day-first dates,
names with curly apostrophes and accents, photos by relative path, and the rows data entry
gets wrong."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ektpcore import Nik

HEADER = (
    "NIK;NAMA_LGKP;TMPT_LHR;TGL_LHR;JENIS_KLMIN;ALAMAT;NO_RT;NO_RW;KEL_NAME;KEC_NAME;KAB_NAME;"
    "PROP_NAME;AGAMA;STAT_KWN;JENIS_PKRJN;FOTO"
)
GIVEN = ["Siti", "Muhammad", "Dewi", "José", "Nur", "Agus", "Rina", "Budi", "Ani"]
FAMILY = ["Ma\u2019ruf", "Rahmawati", "Hidayat", "Santoso", "Lestari", "Purnama"]
PLACES = [
    ("Bogor Barat", "32.71.04", ["Menteng", "Cilendek Barat"]),
    ("Bogor Tengah", "32.71.03", ["Paledang", "Tegallega"]),
]


@dataclass(frozen=True)
class Export:
    """The export's file, the NIKs of its good rows (in order), their names and
    kecamatan, and the spreadsheet rows of the bad ones with the column at fault."""

    path: Path
    niks: list[int]
    names: list[str]
    kecamatan: list[str]
    bad_rows: dict[int, str]

    def per_kecamatan(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in self.kecamatan:
            out[k] = out.get(k, 0) + 1
        return out


def siak_export(folder: Path, *, good: int = 18, name: str = "siak-export.csv") -> Export:
    """``good`` valid rows (the first ten in Bogor Barat, the rest in Bogor Tengah), then
    four bad ones: a NIK with a letter O, 31 February, a NIK repeated, an empty RT."""
    photos = folder / "foto"
    photos.mkdir(exist_ok=True)
    # The photo rule: a red background for an odd birth year, blue for an even one.
    Image.new("RGB", (60, 80), (200, 30, 30)).save(photos / "merah.png")
    Image.new("RGB", (60, 80), (30, 40, 200)).save(photos / "biru.png")
    lines = [HEADER]
    niks, names, kecamatan = [], [], []
    for i in range(good):
        kec, code, kels = PLACES[0] if i < 10 else PLACES[1]
        born = dt.date(1970 + i, 1 + i % 12, 1 + (3 * i) % 28)
        sex = "F" if i % 2 else "M"
        nik = Nik.compose(code, born, sex, 1 + i // 12)  # most end in 0001, as in a kota
        person = f"{GIVEN[i % len(GIVEN)]} {FAMILY[i % len(FAMILY)]}"
        lines.append(
            f"{nik};{person};Bogor;{born:%d/%m/%Y};{'PEREMPUAN' if sex == 'F' else 'LAKI-LAKI'};"
            f"Jl. Pajajaran No. {i + 1};00{1 + i % 3};00{2 + i % 2};{kels[i % 2]};{kec};Kota Bogor;"
            "Jawa Barat;Islam;"
            f"BELUM KAWIN;PELAJAR/MAHASISWA;foto/{'merah' if born.year % 2 else 'biru'}.png"
        )
        niks.append(int(nik))
        names.append(person)
        kecamatan.append(kec)
    first = str(niks[0])
    bad = {
        len(lines) + 1: "NIK",
        len(lines) + 2: "TGL_LHR",
        len(lines) + 3: "NIK",
        len(lines) + 4: "",
    }
    row = (
        "Bogor;{date};LAKI-LAKI;Jl. Sudirman 1;{rt};002;Menteng;Bogor Barat;Kota Bogor;Jawa Barat;"
        "Islam;KAWIN;PNS;"
        "foto/merah.png"
    )
    lines.append(f"{first[:8]}O{first[9:]};Bad Nik;" + row.format(date="05/08/1980", rt="001"))
    other = Nik.compose("32.71.04", dt.date(1990, 2, 3), "M", 7)
    lines.append(f"{other};Bad Date;" + row.format(date="31/02/1990", rt="001"))
    lines.append(f"{niks[1]};Twice Over;" + row.format(date="05/08/1980", rt="001"))
    lacking = Nik.compose("32.71.04", dt.date(1991, 3, 4), "M", 8)
    lines.append(f"{lacking};No Rete;" + row.format(date="04/03/1991", rt=""))
    path = folder / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return Export(path, niks, names, kecamatan, bad)


def collection_sheet(export: Export, folder: Path, name: str = "collected.csv") -> Path:
    """A kelurahan's collection day: every good row's citizen came, identified by KK and
    photo (SIAK-style headers)."""
    path = folder / name
    rows = ["NIK;CEK_IDENTITAS"] + [f"{nik};KK dan foto cocok" for nik in export.niks]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    return path


PRINTERS = """\
click_limit = 8

[[printers]]
id = "P1"
cards_per_hour = 120
"""
