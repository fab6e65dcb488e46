"""Synthetic people with known truth, for testing and tuning duplicate detection.

:func:`synthetic_people` builds a register in which some people appear twice or more, under
different NIKs and with the variations real registers show: old spellings (*Soeharto*), typing
slips, swapped word order, added titles (*H.*, *Hj.*, *S.H.*), day and month swapped, a digit
of the birth date wrong, a missing birth place or mother's name. The ``entity`` column says
who is who, and :func:`pairwise_precision_recall` scores a clustering against it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import numpy.typing as npt

from .sample import sample_niks

__all__ = ["card_intake", "pairwise_precision_recall", "synthetic_people"]

GIVEN_MALE = [
    "Budi",
    "Agus",
    "Ahmad",
    "Muhammad",
    "Joko",
    "Slamet",
    "Bambang",
    "Hadi",
    "Eko",
    "Dedi",
    "Rudi",
    "Andi",
    "Yusuf",
    "Rizki",
    "Fajar",
    "Dimas",
    "Wahyu",
    "Hendra",
    "Iwan",
    "Teguh",
    "Sutrisno",
    "Suharto",
    "Supriyadi",
    "Ridwan",
    "Arif",
    "Bayu",
    "Imam",
    "Yoga",
    "Gilang",
    "Rahmat",
    "Hasan",
    "Irfan",
    "Aditya",
    "Bagus",
    "Cahyo",
    "Danu",
    "Fikri",
    "Galih",
    "Haris",
    "Ilham",
    "Jaka",
    "Krisna",
    "Lutfi",
    "Made",
    "Nyoman",
    "Putu",
    "Wayan",
    "Ketut",
    "Oki",
    "Panji",
    "Raka",
    "Sigit",
    "Tri",
    "Umar",
    "Wawan",
    "Yudi",
    "Zainal",
    "Bima",
    "Candra",
    "Darmawan",
]
GIVEN_FEMALE = [
    "Siti",
    "Sri",
    "Dewi",
    "Ani",
    "Rina",
    "Yuni",
    "Wati",
    "Lestari",
    "Putri",
    "Ayu",
    "Indah",
    "Fitri",
    "Rahma",
    "Nurul",
    "Dian",
    "Ratna",
    "Endang",
    "Sumarni",
    "Suryani",
    "Yanti",
    "Rini",
    "Tuti",
    "Anisa",
    "Bunga",
    "Citra",
    "Dinda",
    "Eka",
    "Farah",
    "Gita",
    "Hana",
    "Intan",
    "Jihan",
    "Kartika",
    "Laras",
    "Maya",
    "Nadia",
    "Okta",
    "Puspa",
    "Ratih",
    "Salsabila",
    "Tari",
    "Utami",
    "Vina",
    "Wulan",
    "Yulia",
    "Zahra",
    "Aminah",
    "Khadijah",
    "Fatimah",
    "Aisyah",
    "Melati",
    "Kirana",
    "Sekar",
    "Ningsih",
    "Rohani",
    "Suci",
    "Tiara",
    "Wening",
    "Astuti",
]
FAMILY = [
    "Santoso",
    "Wijaya",
    "Saputra",
    "Hidayat",
    "Kurniawan",
    "Setiawan",
    "Pratama",
    "Nugroho",
    "Susanto",
    "Gunawan",
    "Hakim",
    "Rahman",
    "Syahputra",
    "Siregar",
    "Nasution",
    "Lubis",
    "Harahap",
    "Simanjuntak",
    "Purba",
    "Ginting",
    "Sembiring",
    "Tarigan",
    "Hutapea",
    "Wibowo",
    "Utomo",
    "Prasetyo",
    "Firmansyah",
    "Ramadhan",
    "Hasibuan",
    "Rahmawati",
    "Handayani",
    "Permata",
    "Anggraini",
    "Wulandari",
    "Sari",
    "Puspita",
    "Maharani",
    "Kusuma",
    "Yulianti",
    "Safitri",
    "Hartono",
    "Sudirman",
    "Wahyudi",
    "Suryadi",
    "Kusnadi",
    "Hermawan",
    "Sulistyo",
    "Junaidi",
    "Syarifuddin",
    "Fauzi",
    "Hamzah",
    "Iskandar",
    "Mulyadi",
    "Nainggolan",
    "Pangaribuan",
    "Sihombing",
    "Manurung",
    "Sinaga",
    "Tambunan",
    "Panjaitan",
    "Situmorang",
    "Damanik",
    "Saragih",
    "Pohan",
]
PLACES = [
    "Bogor",
    "Jakarta",
    "Bandung",
    "Semarang",
    "Surabaya",
    "Yogyakarta",
    "Medan",
    "Palembang",
    "Makassar",
    "Denpasar",
    "Malang",
    "Solo",
    "Cirebon",
    "Tasikmalaya",
    "Sukabumi",
    "Cianjur",
    "Garut",
    "Bekasi",
    "Depok",
    "Tangerang",
    "Serang",
    "Padang",
    "Pekanbaru",
    "Jambi",
    "Bengkulu",
    "Lampung",
    "Pontianak",
    "Banjarmasin",
    "Samarinda",
    "Balikpapan",
    "Manado",
    "Palu",
    "Kendari",
    "Gorontalo",
    "Ambon",
    "Ternate",
    "Jayapura",
    "Merauke",
    "Kupang",
    "Mataram",
    "Kudus",
    "Pati",
    "Tegal",
    "Purwokerto",
    "Magelang",
    "Kediri",
    "Jember",
    "Banyuwangi",
    "Madiun",
    "Blitar",
]

# Modern spelling -> pre-1972 spelling, the direction registers drift back to.
_OLD_SPELLING = (
    ("u", "oe"),
    ("j", "dj"),
    ("c", "tj"),
    ("y", "j"),
    ("ny", "nj"),
    ("sy", "sj"),
    ("kh", "ch"),
)
_TITLES_BEFORE = ("H.", "Hj.", "Drs.", "Ir.", "Bapak", "Ibu")
_TITLES_AFTER = (", S.H.", ", S.Pd.", " S.E.", ", M.M.", " S.Kom")


def _person_name(rng: np.random.Generator, female: bool) -> str:
    given = GIVEN_FEMALE if female else GIVEN_MALE
    words = [str(rng.choice(given))]
    shape = rng.random()
    if shape > 0.15:
        if shape > 0.75:
            words.append(str(rng.choice(given)))
        words.append(str(rng.choice(FAMILY)))
    return " ".join(words)


def _old_spelling(name: str, rng: np.random.Generator) -> str:
    options = [(a, b) for a, b in _OLD_SPELLING if a in name.lower()]
    if not options:
        return name
    a, b = options[int(rng.integers(len(options)))]
    i = name.lower().index(a)
    replacement = b if name[i].islower() else b.capitalize()
    return name[:i] + replacement + name[i + len(a) :]


def _typo(name: str, rng: np.random.Generator) -> str:
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    i = letters[int(rng.integers(1, len(letters)))] if len(letters) > 1 else letters[0]
    kind = rng.integers(3)
    if kind == 0:  # substitution
        return name[:i] + str(rng.choice(list("aiueonrstklm"))) + name[i + 1 :]
    if kind == 1 and len(letters) > 4:  # deletion
        return name[:i] + name[i + 1 :]
    return name[:i] + name[i] + name[i:]  # a doubled letter


def _vary_date(born: _dt.date, rng: np.random.Generator) -> _dt.date:
    if born.day <= 12 and born.day != born.month and rng.random() < 0.5:
        return born.replace(day=born.month, month=born.day)
    text = born.strftime("%d%m%Y")
    for _ in range(20):
        i = int(rng.integers(8))
        changed = text[:i] + str(rng.integers(10)) + text[i + 1 :]
        try:
            other = _dt.datetime.strptime(changed, "%d%m%Y").date()
        except ValueError:
            continue
        if other != born and other.year > 1900:
            return other
    return born


def _variant(record: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    out = dict(record)
    kinds = rng.choice(
        ["spelling", "typo", "order", "title", "date", "missing"], size=2, replace=False
    )
    for kind in kinds:
        name = out["name"]
        if kind == "spelling":
            out["name"] = _old_spelling(name, rng)
        elif kind == "typo":
            out["name"] = _typo(name, rng)
        elif kind == "order" and " " in name:
            out["name"] = " ".join(reversed(name.split()))
        elif kind == "title":
            if rng.random() < 0.5:
                out["name"] = f"{rng.choice(_TITLES_BEFORE)} {name}"
            else:
                out["name"] = f"{name}{rng.choice(_TITLES_AFTER)}"
        elif kind == "date":
            out["birth_date"] = _vary_date(out["birth_date"], rng)
        elif kind == "missing":
            out["birth_place" if rng.random() < 0.5 else "mother_name"] = None
    if rng.random() < 0.3:
        out["name"] = out["name"].upper()
    return out


def synthetic_people(
    n: int, *, duplicate_rate: float = 0.1, seed: int | None = None
) -> dict[str, Any]:
    """``n`` records, about ``duplicate_rate`` of them extra records of people already present.

    Returns columns ``nik`` (int64, every record its own NIK), ``name``, ``birth_date``
    (``datetime64[D]``), ``sex`` (``M``/``F``), ``birth_place``, ``mother_name`` and ``entity``
    (the true person of each record), ready for ``pandas.DataFrame(...)``.
    """
    rng = np.random.default_rng(seed)
    n_dup = int(n * duplicate_rate)
    n_people = n - n_dup
    female = rng.random(n_people) < 0.5
    years = rng.integers(1940, 2008, n_people)
    day_of_year = rng.integers(0, 365, n_people)
    placeholder = rng.random(n_people)
    people: list[dict[str, Any]] = []
    for i in range(n_people):
        born = _dt.date(int(years[i]), 1, 1) + _dt.timedelta(days=int(day_of_year[i]))
        if placeholder[i] < 0.02:
            born = _dt.date(int(years[i]), 7, 1)
        people.append(
            {
                "name": _person_name(rng, bool(female[i])),
                "birth_date": born,
                "sex": "F" if female[i] else "M",
                "birth_place": str(rng.choice(PLACES)) if rng.random() < 0.9 else None,
                "mother_name": _person_name(rng, True) if rng.random() < 0.8 else None,
                "entity": i,
            }
        )
    extra = [_variant(people[int(j)], rng) for j in rng.integers(0, n_people, n_dup)]
    rows = people + extra
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    return {
        "nik": sample_niks(len(rows), seed=seed),
        "name": [r["name"] for r in rows],
        "birth_date": np.array([r["birth_date"] for r in rows], dtype="datetime64[D]"),
        "sex": [r["sex"] for r in rows],
        "birth_place": [r["birth_place"] for r in rows],
        "mother_name": [r["mother_name"] for r in rows],
        "entity": np.array([r["entity"] for r in rows], dtype=np.int64),
    }


def _pairs_within(labels: npt.NDArray[np.int64]) -> int:
    counts = np.unique(labels, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_precision_recall(
    cluster: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]
) -> tuple[float, float]:
    """Precision and recall over record pairs: a pair counts as found when both records share a
    predicted cluster, and as true when they are the same person."""
    cluster = np.asarray(cluster, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    both = cluster * (int(truth.max(initial=0)) + 1) + truth
    found, true, correct = _pairs_within(cluster), _pairs_within(truth), _pairs_within(both)
    return (correct / found if found else 1.0, correct / true if true else 1.0)


def _born(nik: Any) -> _dt.date:
    """A birth date the NIK holds (day, month, the year's last two digits), as the ledger
    requires: the NIK's own, or in the other century when that one has no such day."""
    if nik.birth_date is not None:
        return nik.birth_date  # type: ignore[no-any-return]
    for century in (1900, 2000, 1800):
        try:
            return _dt.date(century + nik.birth_yy, nik.birth_month, nik.birth_day)
        except ValueError:
            continue
    return _dt.date(1990, 1, 1)  # a NIK with no such day at all: refused at intake anyway


def card_intake(niks: Any, photo: str) -> dict[str, Any]:
    """Intake columns (for :meth:`~ektpcore.Ledger.add_records`) that give each of ``niks``
    everything its card shows, so a print station prints it: a name, the card's fields (the
    birth date from the NIK), and one photo file for all. Made-up values, for tests and
    demonstrations."""
    from .nik import Nik

    values = [int(v) for v in niks]
    n = len(values)
    born = [_born(Nik(v)) for v in values]
    return {
        "names": [f"Warga Contoh {i}" for i in range(n)],
        "photos": [photo] * n,
        "card": {
            "birth_place": ["Bogor"] * n,
            "birth_date": [d.isoformat() for d in born],
            "address": ["Jl. Pajajaran No. 10"] * n,
            "rt": ["001"] * n,
            "rw": ["002"] * n,
            "religion": ["Islam"] * n,
            "marital_status": ["Belum Kawin"] * n,
            "occupation": ["Pelajar/Mahasiswa"] * n,
            "citizenship": ["WNI"] * n,
            "kabupaten": ["Kota Bogor"] * n,
            "province": ["Jawa Barat"] * n,
        },
    }
