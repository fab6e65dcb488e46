"""The one spreadsheet reader, on the files bureaus actually export: encodings, delimiters,
headers, dates, workbooks, and every bad input as one line naming file, row and column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from ektpcore.errors import InvalidArgumentError, SheetError
from ektpcore.sheets import initials, parse_date, read_sheet, row_label

NIK = "3271014508990001"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_a_siak_export_in_utf8_with_a_bom_and_semicolons(tmp_path: Path) -> None:
    text = (
        "NIK;NAMA_LGKP;TMPT_LHR;TGL_LHR;KEC_NAME;KEL_NAME\r\n"
        f"{NIK};Siti Aminah;Bogor;05/08/1999;Bogor Barat;Menteng\r\n"
    )
    sheet = read_sheet(write(tmp_path, "siak.csv", b"\xef\xbb\xbf" + text.encode()))
    assert (sheet.encoding, sheet.delimiter) == ("utf-8 with BOM", ";")
    assert sheet.values("nik") == [NIK]
    assert sheet.values("name") == ["Siti Aminah"]
    assert sheet.values("kelurahan") == ["Menteng"]
    assert sheet.dates("birth_date") == [dt.date(1999, 8, 5)]  # day first
    assert sheet.numbers == [2]


def test_windows_1252_is_detected_and_said(tmp_path: Path) -> None:
    data = f"nik,nama\n{NIK},Muhammad Ma\u2019ruf Jos\u00e9\n".encode("cp1252")
    sheet = read_sheet(write(tmp_path, "old-excel.csv", data))
    assert sheet.encoding == "windows-1252"
    assert sheet.values("name") == ["Muhammad Ma\u2019ruf Jos\u00e9"]


def test_headers_match_whatever_their_case_and_spacing(tmp_path: Path) -> None:
    sheet = read_sheet(
        write(tmp_path, "a.csv", f"  Nama Lengkap \t Tgl. Lahir\tnik\nAni\t1999-08-05\t{NIK}\n")
    )
    assert sheet.delimiter == "\t"
    assert sheet.header_of("name") == "Nama Lengkap"
    assert sheet.dates("birth_date") == [dt.date(1999, 8, 5)]
    assert sheet.values("nik") == [NIK]


def test_one_column_with_or_without_a_header(tmp_path: Path) -> None:
    with_header = read_sheet(
        write(tmp_path, "a.csv", f"NIK\n{NIK}\n\n3271014508990002\n"), fields=["nik"]
    )
    assert with_header.values("nik") == [NIK, "3271014508990002"]
    assert with_header.numbers == [2, 4]  # the blank line keeps its row number
    bare = read_sheet(write(tmp_path, "b.txt", f"{NIK}\n3271014508990002\n"), fields=["nik"])
    assert bare.values("nik") == [NIK, "3271014508990002"]
    assert bare.numbers == [1, 2]
    # A header that names no field is not a NIK to validate: the column is reported missing.
    unnamed = read_sheet(write(tmp_path, "c.csv", f"nomor\n{NIK}\n"), fields=["nik"])
    with pytest.raises(SheetError, match=r"c\.csv: no column for nik .*headers are nomor"):
        unnamed.require("nik")


def test_a_column_mapping_for_unknown_headers(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", f"Nomor Induk,Warga\n{NIK},Ani\n")
    sheet = read_sheet(path, columns={"nik": "nomor induk", "name": "WARGA"})
    assert (sheet.values("nik"), sheet.values("name")) == ([NIK], ["Ani"])
    with pytest.raises(SheetError, match="no column 'Nomer' for nik"):
        read_sheet(path, columns={"nik": "Nomer"})
    with pytest.raises(SheetError, match="no field nama"):
        read_sheet(path, columns={"nama": "Warga"})


def test_a_workbook_with_a_nik_typed_as_a_number_and_real_dates(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["NIK", "Nama", "Tanggal Lahir"])
    sheet.append([int(NIK), "Ani", dt.datetime(1999, 8, 5)])
    sheet.append([None, None, None])
    sheet.append(["3271014508990002", "Budi", "05-08-1999"])
    book.save(tmp_path / "a.xlsx")
    read = read_sheet(tmp_path / "a.xlsx")
    assert read.encoding == "xlsx"
    assert read.values("nik") == [NIK, "3271014508990002"]
    assert read.dates("birth_date") == [dt.date(1999, 8, 5)] * 2
    assert read.numbers == [2, 4]


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("05/08/1999", dt.date(1999, 8, 5)),
        ("5-8-1999", dt.date(1999, 8, 5)),
        ("05.08.1999", dt.date(1999, 8, 5)),
        ("1999-08-05", dt.date(1999, 8, 5)),
        ("1999-08-05 00:00:00", dt.date(1999, 8, 5)),
    ],
)
def test_dates_as_bureaus_write_them(text: str, date: dt.date) -> None:
    assert parse_date(text) == date


def test_a_bad_date_names_file_row_and_column(tmp_path: Path) -> None:
    sheet = read_sheet(
        write(tmp_path, "a.csv", f"nik,tgl_lhr\n{NIK},05/08/1999\n{NIK},08/13/1999\n")
    )
    with pytest.raises(SheetError) as caught:
        sheet.dates("birth_date")
    message = str(caught.value)
    assert message == "a.csv, row 3, column tgl_lhr: '08/13/1999' is not a date (no such day)"
    assert "\n" not in message
    assert isinstance(caught.value, InvalidArgumentError)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", r"empty\.csv: the file is empty"),
        ("blank.csv", b"\n \n", r"blank\.csv: the file is empty"),
        ("old.csv", b"\xd0\xcf\x11\xe0\x00\x00\x00\x00", r"not a text file"),
        ("book.csv", b"PK\x03\x04rest", r"a workbook; name it \.xlsx"),
        ("long.csv", f"nik,nama\n{NIK},Ani,Bogor\n".encode(), r"long\.csv, row 2: 3 cells under 2"),
        ("bad.xlsx", b"not a zip", r"bad\.xlsx: not a readable \.xlsx"),
    ],
)
def test_bad_files_are_one_line_errors(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    with pytest.raises(SheetError, match=message) as caught:
        read_sheet(write(tmp_path, name, data))
    assert "\n" not in str(caught.value)


def test_a_missing_file_or_folder_is_a_sheet_error(tmp_path: Path) -> None:
    with pytest.raises(SheetError, match="cannot read the file"):
        read_sheet(tmp_path / "missing.csv")
    with pytest.raises(SheetError, match="cannot read the file"):
        read_sheet(tmp_path)


def test_a_header_only_sheet_has_no_rows(tmp_path: Path) -> None:
    sheet = read_sheet(write(tmp_path, "a.csv", "NIK,Nama\n"))
    assert len(sheet) == 0
    assert sheet.has("nik")


def test_a_cell_over_two_lines_leaves_its_row_one_row(tmp_path: Path) -> None:
    """An address in two lines (a quoted cell with a line break, CRLF or LF) is one row of
    the spreadsheet: it keeps its line break, and the rows after it keep the numbers a clerk
    sees in the spreadsheet, blank rows counted."""
    path = tmp_path / "alamat.csv"
    path.write_bytes(
        b'NIK;NAMA_LGKP;ALAMAT\r\n1;Ani;"Jl. Mawar 5\r\nBlok C"\r\n\r\n'
        b'2;Budi;"Gg. Melati\nRT 3"\r\n3;Sari;Jl. Anggrek\r\n'
    )
    sheet = read_sheet(path)
    assert sheet.numbers == [2, 4, 5]
    assert sheet.values("address") == ["Jl. Mawar 5\r\nBlok C", "Gg. Melati\nRT 3", "Jl. Anggrek"]


def test_a_short_row_is_padded_not_shifted(tmp_path: Path) -> None:
    sheet = read_sheet(write(tmp_path, "a.csv", f"nik,nama,kecamatan\n{NIK},Ani\n"))
    assert sheet.values("kecamatan") == [""]


def test_row_labels_find_a_record_without_showing_it() -> None:
    assert row_label(14, NIK, "Siti rahma aminah") == "row 14, 3271**********01 (S. R. A.)"
    assert row_label(3, None) == "row 3"
    assert (initials("Muhammad Ma\u2019ruf"), initials(None), initials(" ")) == ("M. M.", "", "")
