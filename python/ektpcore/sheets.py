"""Reading the spreadsheets a bureau exports: one reader for every command.

Bureaus hand ektpcore what SIAK and their office software export: CSV in UTF-8 (with or
without a byte-order mark) or in Windows-1252 from an older Excel, with commas, semicolons,
tabs or no delimiter at all (one column), headers in any case and spacing, dates written
``DD/MM/YYYY``, ``DD-MM-YYYY`` or ISO, and ``.xlsx`` workbooks. :func:`read_sheet` reads any of
them into a :class:`Sheet` whose rows are numbered as the spreadsheet shows them (the header is
row 1), finds each field by its name in the SIAK export or a common spelling, or by the
mapping the user gives, and says which encoding it found.

Every problem is a :class:`~ektpcore.errors.SheetError`: one line naming the file, the row and
the column, never a traceback.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SheetError
from .nik import mask_nik

__all__ = [
    "FIELDS",
    "SIAK",
    "Sheet",
    "SheetError",
    "initials",
    "parse_date",
    "read_sheet",
    "row_label",
]

FIELDS: dict[str, str] = {
    "nik": "NIK",
    "name": "nama",
    "birth_place": "tempat lahir",
    "birth_date": "tanggal lahir",
    "sex": "jenis kelamin",
    "blood_type": "golongan darah",
    "address": "alamat",
    "rt": "RT",
    "rw": "RW",
    "kelurahan": "kelurahan/desa",
    "kecamatan": "kecamatan",
    "kabupaten": "kabupaten/kota",
    "province": "provinsi",
    "religion": "agama",
    "marital_status": "status perkawinan",
    "occupation": "pekerjaan",
    "citizenship": "kewarganegaraan",
    "photo": "pas foto (path or URI)",
    "signature": "tanda tangan (path or URI)",
    "priority": "priority class (0 first-time, 1 data change, 2 replacement)",
    "mother_name": "nama ibu kandung",
    "id": "a record's number, for planning a sheet without NIKs",
    "ready": "when the record can be printed (ISO 8601; empty: now; 'unknown': not yet)",
    "two_sided": "printed on both sides (yes/no)",
    "identity_check": "how the citizen's identity was checked at hand-over",
    "receiver": "who received the card, when not the citizen",
}
"""The fields ektpcore reads from a sheet, with what each holds (the card's fields follow
UU 24/2013 Pasal 64)."""

SIAK: dict[str, tuple[str, ...]] = {
    "nik": ("nik", "no_nik", "nomor_nik"),
    "name": ("nama_lgkp", "nama_lengkap", "nama", "name"),
    "birth_place": ("tmpt_lhr", "tempat_lahir", "birth_place"),
    "birth_date": ("tgl_lhr", "tanggal_lahir", "tgl_lahir", "birth_date"),
    "sex": ("jenis_klmin", "jenis_kelamin", "jk", "sex"),
    "blood_type": ("gol_drh", "golongan_darah", "gol_darah", "blood_type"),
    "address": ("alamat", "address"),
    "rt": ("no_rt", "rt"),
    "rw": ("no_rw", "rw"),
    "kelurahan": ("kel_name", "nama_kel", "kelurahan", "kelurahan_desa", "desa", "kel"),
    "kecamatan": ("kec_name", "nama_kec", "kecamatan", "kec"),
    "kabupaten": ("kab_name", "nama_kab", "kabupaten", "kota", "kabupaten_kota"),
    "province": ("prop_name", "nama_prop", "provinsi", "province"),
    "religion": ("agama", "religion"),
    "marital_status": ("stat_kwn", "status_kawin", "status_perkawinan", "marital_status"),
    "occupation": ("jenis_pkrjn", "pekerjaan", "occupation"),
    "citizenship": ("kewarganegaraan", "wni_wna", "citizenship"),
    "photo": ("foto", "pas_foto", "photo", "photo_ref"),
    "signature": ("ttd", "tanda_tangan", "signature", "signature_ref"),
    "priority": ("prioritas", "priority"),
    "mother_name": ("nama_lgkp_ibu", "nama_ibu", "nama_ibu_kandung", "mother_name"),
    "id": ("id", "no", "nomor"),
    "ready": ("ready", "siap", "siap_cetak"),
    "two_sided": ("two_sided", "dua_sisi"),
    "identity_check": ("identity_check", "cek_identitas", "pemeriksaan_identitas"),
    "receiver": ("receiver", "penerima"),
}
"""Header spellings each field is found by (after :func:`_key`): the SIAK export's column
names first, then common ones."""

_DELIMITERS = ",;\t|"
_DATE = re.compile(r"^\s*(\d{1,2})[/\-.](\d{1,2})[/\-.](\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?\s*$")


def _key(header: str) -> str:
    """A header as headers are compared: case, spaces, dots, dashes and slashes ignored."""
    return re.sub(r"[\s_./\-]+", "_", header.strip().lower()).strip("_")


def row_label(row: int, nik: str | int | None, name: str | None = None) -> str:
    """How a report points a clerk at a record without showing it: the spreadsheet row, the
    masked NIK and the name's initials (``row 14, 3271**********01 (S. R.)``)."""
    text = f"row {row}"
    if nik not in (None, ""):
        text += f", {mask_nik(nik)}"
    letters = initials(name)
    if letters:
        text += f" ({letters})"
    return text


def initials(name: str | None) -> str:
    """A name's initials (``S. R. A.``), which tell records apart in a report without
    naming anyone; ``''`` for no name."""
    return " ".join(w[0].upper() + "." for w in (name or "").split() if w[:1].isalpha())


def parse_date(text: str, *, where: str = "") -> _dt.date:
    """A date as bureaus write it: ``DD/MM/YYYY``, ``DD-MM-YYYY``, ``DD.MM.YYYY`` (day first,
    as in Indonesia) or ISO ``YYYY-MM-DD``. ``where`` prefixes the error."""
    match = _ISO.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    elif (match := _DATE.match(text)) is not None:
        day, month, year = (int(g) for g in match.groups())
    else:
        raise SheetError(
            f"{where}{text.strip()!r} is not a date (DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD)"
        )
    try:
        return _dt.date(year, month, day)
    except ValueError:
        raise SheetError(f"{where}{text.strip()!r} is not a date (no such day)") from None


@dataclass(frozen=True)
class Sheet:
    """A spreadsheet's rows as text, with where each field is.

    Attributes:
        path: the file read.
        encoding: ``utf-8``, ``utf-8 with BOM``, ``windows-1252`` or ``xlsx``.
        delimiter: the CSV delimiter found (``None`` for one column or a workbook).
        headers: the header row as written.
        rows: the data rows, each as many cells as there are headers.
        numbers: each data row's number as the spreadsheet shows it.
        columns: each field found, mapped to its column index.
    """

    path: Path
    encoding: str
    delimiter: str | None
    headers: list[str]
    rows: list[list[str]]
    numbers: list[int]
    columns: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, name: str) -> bool:
        return name in self.columns

    def header_of(self, name: str) -> str:
        return self.headers[self.columns[name]]

    def values(self, name: str) -> list[str]:
        """A field's cells, stripped, in row order (``KeyError`` when the sheet lacks it)."""
        index = self.columns[name]
        return [row[index].strip() for row in self.rows]

    def where(self, i: int, name: str | None = None) -> str:
        """``file, row N, column C: `` for the ``i``-th data row, to start an error with."""
        column = f", column {self.header_of(name)}" if name in self.columns else ""
        return f"{self.path.name}, row {self.numbers[i]}{column}: "

    def dates(self, name: str, *, required: bool = False) -> list[_dt.date | None]:
        """A field's cells as dates (``None`` for an empty cell unless ``required``)."""
        out: list[_dt.date | None] = []
        for i, text in enumerate(self.values(name)):
            if not text:
                if required:
                    raise SheetError(f"{self.where(i, name)}the date is missing")
                out.append(None)
            else:
                out.append(parse_date(text, where=self.where(i, name)))
        return out

    def require(self, *names: str) -> None:
        """Refuses a sheet without each named field, listing the headers it has."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            wanted = ", ".join(f"{n} ({' or '.join(SIAK.get(n, (n,))[:2])})" for n in missing)
            raise SheetError(
                f"{self.path.name}: no column for {wanted}; the headers are"
                f" {', '.join(self.headers) or '(none)'} (map one with --column FIELD=HEADER)"
            )


def read_sheet(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    fields: Iterable[str] | None = None,
) -> Sheet:
    """Reads a CSV or ``.xlsx`` file (see the module's documentation).

    ``columns`` maps a field of :data:`FIELDS` to the header that holds it, for headers the
    preset does not know; ``fields`` limits which fields are looked for (all by default). A
    file whose header names none of the fields, and that has one column, is read as a list
    of values without a header (one NIK per line) under the first field asked for.

    Raises:
        SheetError: the file cannot be read, is empty, is not a table (a row longer than the
            header), or a mapping names a header the file does not have.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            encoding, delimiter, table = "xlsx", None, _read_xlsx(path)
        else:
            encoding, delimiter, table = _read_csv(path)
    except OSError as err:
        raise SheetError(f"{path}: cannot read the file ({err.strerror or err})") from None
    if not table:
        raise SheetError(f"{path.name}: the file is empty")
    wanted = list(fields) if fields is not None else list(FIELDS)
    unknown = sorted(set(columns or {}) - set(FIELDS))
    if unknown:
        raise SheetError(f"--column: no field {', '.join(unknown)} (fields: {', '.join(FIELDS)})")
    numbers = [n for n, _ in table]
    headers = [h.strip() for h in table[0][1]]
    found = _find(path, headers, columns or {}, wanted)
    first_data = 1
    if not found and len(headers) == 1 and wanted and any(c.isdigit() for c in headers[0]):
        # A bare list (one value per line, no header), such as a list of NIKs.
        found, headers, first_data = {wanted[0]: 0}, [wanted[0]], 0
    rows: list[list[str]] = []
    for number, cells in table[first_data:]:
        if len(cells) > len(headers) and any(c.strip() for c in cells[len(headers) :]):
            raise SheetError(
                f"{path.name}, row {number}: {len(cells)} cells under {len(headers)} headers"
                " (a delimiter inside an unquoted cell?)"
            )
        rows.append([*cells[: len(headers)], *[""] * (len(headers) - len(cells))])
    return Sheet(path, encoding, delimiter, headers, rows, numbers[first_data:], found)


def _find(
    path: Path, headers: Sequence[str], columns: Mapping[str, str], wanted: Sequence[str]
) -> dict[str, int]:
    keys = [_key(h) for h in headers]
    found: dict[str, int] = {}
    for name, header in columns.items():
        if _key(header) not in keys:
            have = ", ".join(headers)
            raise SheetError(
                f"{path.name}: no column {header!r} for {name}; the headers are {have}"
            )
        found[name] = keys.index(_key(header))
    for name in wanted:
        if name in found:
            continue
        for alias in SIAK.get(name, (name,)):
            if alias in keys and keys.index(alias) not in found.values():
                found[name] = keys.index(alias)
                break
    return found


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was in: UTF-8 (with or without BOM), or
    Windows-1252 as older Excel writes it (bytes it leaves undefined read as Latin-1)."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8 with BOM"
        except UnicodeDecodeError as err:
            raise SheetError(f"{path.name}: a UTF-8 mark, then {err.reason}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    if b"\x00" in data[:4096]:
        raise SheetError(f"{path.name}: not a text file (a spreadsheet saved as .xls? save as CSV)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = "".join(
        chunk.decode("cp1252", errors="strict") if i % 2 == 0 else chunk.decode("latin-1")
        for i, chunk in enumerate(re.split(b"([\x81\x8d\x8f\x90\x9d])", data))
    )
    return text, "windows-1252"


def _read_csv(path: Path) -> tuple[str, str | None, list[tuple[int, list[str]]]]:
    data = path.read_bytes()
    if data.startswith(b"PK\x03\x04"):
        raise SheetError(f"{path.name}: a workbook; name it .xlsx")
    text, encoding = _decode(path, data)
    lines = text.splitlines()
    header = next((ln for ln in lines if ln.strip()), "")
    delimiter: str | None = None
    present = [d for d in _DELIMITERS if d in header]
    if present:
        try:
            sample = "\n".join(lines[:50])
            delimiter = csv.Sniffer().sniff(sample, delimiters="".join(present)).delimiter
        except csv.Error:
            delimiter = max(present, key=header.count)
    table: list[tuple[int, list[str]]] = []
    if delimiter is None:
        table = [(i, [ln]) for i, ln in enumerate(lines, start=1) if ln.strip()]
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        # Rows are counted as a spreadsheet shows them: a blank line is a row, and a quoted
        # cell over several lines (an address in two lines) leaves its row one row, so the
        # rows after it keep the numbers a clerk sees (the reader's line_num counts lines).
        row = 0
        try:
            for row, cells in enumerate(reader, start=1):
                if any(c.strip() for c in cells):
                    table.append((row, cells))
        except csv.Error as err:
            raise SheetError(f"{path.name}, row {row + 1}: {err}") from None
    # A header-only sheet keeps its header row.
    return encoding, delimiter, table


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if value.time() == _dt.time() else value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))  # a NIK typed into Excel is a number
    return str(value)


def _read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as err:
        raise SheetError(f"{path.name}: not a readable .xlsx workbook ({err})") from None
    try:
        sheet = book.worksheets[0]
        table = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                table.append((number, cells))
        return table
    finally:
        book.close()
