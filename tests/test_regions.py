from __future__ import annotations

from pathlib import Path

import pytest

import ektpcore
from ektpcore import InvalidArgumentError, Nik, NikErrorCode, RegionTable, parse_niks

WILAYAH = Path(__file__).resolve().parents[2] / "shared" / "data" / "wilayah.csv"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regions.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_from_csv_with_header_and_dotted_codes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "code,name,level\n32,Jawa Barat,provinsi\n32.71,Kota Bogor,kota\n"
        '32.71.01,Bogor Selatan,kecamatan\n32.71.01.1001,"Batutulis, Kel.",kelurahan\n',
    )
    table = RegionTable.from_csv(path)
    assert len(table) == 4
    assert table.name("32.71") == table.name(3271) == "Kota Bogor"
    assert table.name("3271011001") == "Batutulis, Kel."
    assert "327101" in table
    assert "327102" not in table
    assert table.names("3271014508990001") == ektpcore.RegionNames(
        "Jawa Barat", "Kota Bogor", "Bogor Selatan"
    )
    batch = parse_niks(["3271014508990001", "3271024508990001"], regions=table)
    assert batch.error.tolist() == [0, NikErrorCode.REGION_UNKNOWN]


def test_headerless_and_alternative_column_names(tmp_path: Path) -> None:
    assert (
        RegionTable.from_csv(write(tmp_path, "327101,Bogor Selatan\n")).name(327101)
        == "Bogor Selatan"
    )
    table = RegionTable.from_csv(write(tmp_path, "level,nama,kode\nkota,Kota Bogor,32.71\n"))
    assert table.name("3271") == "Kota Bogor"
    # A province missing from the table still has its built-in name.
    assert table.name("32") == "Jawa Barat"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("code,name\n32.7x,Bad\n", "not a region code"),
        ("code,name\n32\n", "code and name"),
    ],
)
def test_malformed_tables_are_refused_with_the_line(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        RegionTable.from_csv(write(tmp_path, text))


def test_bad_codes_in_a_mapping() -> None:
    with pytest.raises(InvalidArgumentError):
        RegionTable({"3": "x"})
    with pytest.raises(InvalidArgumentError):
        parse_niks(["3271014508990001"], regions=RegionTable({"327": "x"}))


def test_retired_papua_regency_names() -> None:
    table = RegionTable({"91": "Papua", "95.01": "Jayawijaya", "95.01.02": "Kurulu"})
    names = table.names(Nik("9102034508990001", regions=table))
    assert names.historical
    assert names.district is None
    assert names.regency == "Jayawijaya (before 2022; now 95.01)"


@pytest.mark.skipif(
    not WILAYAH.exists(), reason="the shared Kemendagri table is not beside the checkout"
)
def test_the_kemendagri_table() -> None:
    table = RegionTable.from_csv(WILAYAH)
    assert table.names("3271014508990001").district == "Bogor Selatan"
    niks = ektpcore.sample_niks(20_000, seed=7, regions=table)
    assert parse_niks(niks, regions=table).n_valid == len(niks)
    # Invented region codes mostly do not exist.
    invented = ektpcore.sample_niks(2_000, seed=7)
    assert parse_niks(invented, regions=table).n_valid < len(invented)
