"""The papers a bureau prints and signs, in Bahasa Indonesia: the manifest of a consignment of
cards (to a kecamatan, or from a kecamatan to a kelurahan), the record of a card handed to its
citizen (*berita acara serah terima*), and the production report of a shift or a day (PDF and
CSV, with a chart).

Built only on the public :class:`~ektpcore.Ledger` API, so a sealed ledger's names and NIKs
come out opened as in every other read. PDFs are drawn with ReportLab (fonts embedded, every
page numbered "Halaman i dari N"); the report's chart with matplotlib (``pip install
'ektpcore[plot]'``), left out of the PDF when matplotlib is not installed.

Personal data: a NIK is masked (``3271**********01``) on every document but the hand-over
record, whose purpose is to bind one card to one citizen, signed by both; it shows the full NIK
and the full name (``full_nik=False`` prints a masked copy). A manifest shows each card's
masked NIK, the initials of the name and the blank serial printed on the card, which is what
the receiving office checks the cards against. The report and its CSV name no citizen.
Every file written (``path=``) is a new file of mode 0600, never one written over nor a
symbolic link (:class:`FileExistsError`). See ``docs/documents.md``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ._files import spreadsheet_cell, write_private
from .clock import WIB, shift_window
from .errors import InvalidArgumentError
from .ledger import BlankState, Leg, Manifest, ManifestState, Ribbon
from .lifecycle import State
from .nik import Nik, parse_niks

if TYPE_CHECKING:
    from .ledger import Ledger

__all__ = [
    "Bureau",
    "InDoubtCard",
    "ProductionReport",
    "SpoiledBlank",
    "day_report",
    "handover_pdf",
    "manifest_pdf",
    "report_chart",
    "report_csv",
    "report_pdf",
    "shift_report",
]


@dataclass(frozen=True)
class Bureau:
    """Who issues the documents, printed at the head of every page: the region
    (``"Kota Bogor"``), the office's name and its address."""

    region: str
    address: str | None = None
    office: str = "Dinas Kependudukan dan Pencatatan Sipil"

    @property
    def government(self) -> str:
        return f"Pemerintah {self.region}"


# -- words, dates and numbers as the documents print them ------------------------------------

_DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
_MANIFEST_STATES = {
    ManifestState.OPEN: "disiapkan, belum dikirim",
    ManifestState.DISPATCHED: "dalam pengiriman",
    ManifestState.RECEIVED: "diterima",
}
_BLANK_STATES = {
    BlankState.IN_STOCK: "Di gudang",
    BlankState.ALLOCATED: "Dialokasikan",
    BlankState.USED: "Terpakai (kartu)",
    BlankState.SPOILED: "Rusak",
    BlankState.VOIDED: "Dibatalkan",
    BlankState.RETURNED: "Dikembalikan",
}
# Blank movements by kind: (from, to) -> (code in the CSV, words on the PDF).
_MOVES = {
    (None, BlankState.IN_STOCK): ("diterima", "Diterima dari lot (masuk gudang)"),
    (BlankState.IN_STOCK, BlankState.ALLOCATED): ("dialokasikan", "Dialokasikan ke batch"),
    (BlankState.ALLOCATED, BlankState.IN_STOCK): ("kembali_ke_gudang", "Kembali ke gudang"),
    (BlankState.ALLOCATED, BlankState.USED): ("terpakai", "Terpakai menjadi kartu"),
    (BlankState.ALLOCATED, BlankState.SPOILED): ("rusak", "Rusak sebelum menjadi kartu"),
    (BlankState.USED, BlankState.SPOILED): ("rusak_kartu", "Rusak setelah dicetak"),
    (BlankState.IN_STOCK, BlankState.VOIDED): ("dibatalkan", "Dibatalkan (void)"),
    (BlankState.ALLOCATED, BlankState.VOIDED): ("dibatalkan", "Dibatalkan (void)"),
    (BlankState.USED, BlankState.VOIDED): ("dibatalkan_kartu", "Kartu dibatalkan (void)"),
    (BlankState.IN_STOCK, BlankState.RETURNED): ("dikembalikan", "Dikembalikan / dipinjamkan"),
}
_OPERATOR_COLUMNS = (
    ("dicetak", "Dicetak"),
    ("lolos_qc", "Lolos QC"),
    ("rusak", "Rusak"),
    ("diragukan", "Diragukan"),
    ("dikirim", "Dikirim"),
    ("diserahkan", "Diserahkan"),
)
_NO_CAUSE = "(tanpa keterangan)"
_DASH = "\u2013"  # an en dash, between hours


def _number(value: int) -> str:
    """4000 as ``4.000``: Indonesian thousands."""
    return f"{value:,}".replace(",", ".")


def _wib(moment: _dt.datetime | str) -> _dt.datetime:
    when = _dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return (when if when.tzinfo else when.replace(tzinfo=WIB)).astimezone(WIB)


def _date(moment: _dt.datetime | str) -> str:
    """``Senin, 13 November 2017``."""
    when = _wib(moment)
    return f"{_DAYS[when.weekday()]}, {when.day} {_MONTHS[when.month - 1]} {when.year}"


def _time(moment: _dt.datetime | str) -> str:
    """``2017-11-13 10.15 WIB``: the bureau's clock, minutes only."""
    return _wib(moment).strftime("%Y-%m-%d %H.%M WIB")


def _initials(name: str | None) -> str:
    """``Siti Aminah`` as ``S. A.``; what a manifest shows of a name (the first eight words'
    initials, then ``...``)."""
    letters = [next((c for c in word if c.isalpha()), "") for word in (name or "").split()]
    shown = [f"{c.upper()}." for c in letters if c]
    return " ".join(shown[:8]) + (" ..." if len(shown) > 8 else "") if shown else "-"


def _kecamatan(name: str | None) -> str:
    return f"Kecamatan {name}" if name else "(kecamatan tidak tercatat)"


def _kelurahan(name: str | None) -> str:
    return f"Kelurahan {name}" if name else "(kelurahan tidak tercatat)"


# -- pages: fonts, styles, the header and footer of every page -------------------------------

_SANS, _BOLD, _ITALIC = "EktpSans", "EktpSans-Bold", "EktpSans-Italic"


def _fonts() -> None:
    """Bitstream Vera (shipped with ReportLab), embedded in every PDF: names print the same
    on any reader, accents included."""
    for name, file in ((_SANS, "Vera.ttf"), (_BOLD, "VeraBd.ttf"), (_ITALIC, "VeraIt.ttf")):
        pdfmetrics.registerFont(TTFont(name, file))
    pdfmetrics.registerFontFamily(_SANS, normal=_SANS, bold=_BOLD, italic=_ITALIC, boldItalic=_BOLD)


_fonts()


def _style(name: str, **options: Any) -> ParagraphStyle:
    base: dict[str, Any] = {"fontName": _SANS, "fontSize": 9.5, "leading": 12.5}
    return ParagraphStyle(name, **(base | options))


_TEXT = _style("text")
_SMALL = _style("small", fontSize=8, leading=10)
_TITLE = _style("title", fontName=_BOLD, fontSize=13, leading=17, alignment=TA_CENTER)
_SUBTITLE = _style("subtitle", fontSize=10, leading=13, alignment=TA_CENTER, spaceAfter=8)
_HEADING = _style("heading", fontName=_BOLD, fontSize=10.5, leading=14, spaceBefore=10)
_CELL = _style("cell", fontSize=8.5, leading=10.5)
_CELL_BOLD = _style("cell_bold", fontName=_BOLD, fontSize=8.5, leading=10.5)
_NUMBER = _style("number", fontSize=8.5, leading=10.5, alignment=TA_RIGHT)
_NUMBER_BOLD = _style("number_bold", fontName=_BOLD, fontSize=8.5, leading=10.5, alignment=TA_RIGHT)
_CENTER = _style("center", alignment=TA_CENTER)

_PAGE_WIDTH, _PAGE_HEIGHT = A4
_MARGIN = 18 * mm
_WIDTH = _PAGE_WIDTH - 2 * _MARGIN - 12  # the frame's padding, 6 pt each side
_HEADER = 31 * mm  # the bureau's header, above the frame
_KEEP_ROWS = 30  # a kelurahan of this many cards or fewer stays on one page


class _Pages(canvas.Canvas):
    """A canvas that draws the bureau's header and the footer on every page once the last
    page is known, so each says "Halaman i dari N". A file of several documents (hand-over
    records) numbers each document's pages on their own (see :class:`_Document`)."""

    def __init__(
        self, *args: Any, bureau: Bureau, reference: str, made_at: _dt.datetime, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._bureau, self._made_at = bureau, made_at
        self._states: list[dict[str, Any]] = []
        self._documents: dict[int, str] = {0: reference}  # first page -> reference

    def start_document(self, reference: str) -> None:
        self._documents[len(self._states)] = reference

    def page_index(self) -> int:
        """The page being drawn, from 0."""
        return len(self._states)

    def showPage(self) -> None:
        self._states.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]  # ReportLab's own, not in its stubs

    def save(self) -> None:
        starts = sorted(self._documents)
        ends = [*starts[1:], len(self._states)]
        for first, end in zip(starts, ends, strict=True):
            reference = self._documents[first]
            for page in range(first, end):
                self.__dict__.update(self._states[page])
                self._frame(reference, page - first + 1, end - first)
                super().showPage()
        super().save()

    def _frame(self, reference: str, number: int, total: int) -> None:
        bureau, top = self._bureau, _PAGE_HEIGHT - 14 * mm
        self.setFillColor(colors.black)
        self.setFont(_BOLD, 11)
        self.drawCentredString(_PAGE_WIDTH / 2, top, bureau.government.upper())
        self.setFont(_BOLD, 12.5)
        self.drawCentredString(_PAGE_WIDTH / 2, top - 6 * mm, bureau.office.upper())
        if bureau.address:
            self.setFont(_SANS, 8.5)
            self.drawCentredString(_PAGE_WIDTH / 2, top - 11 * mm, bureau.address)
        line = _PAGE_HEIGHT - _HEADER + 4 * mm
        self.setLineWidth(1.6)
        self.line(_MARGIN, line, _PAGE_WIDTH - _MARGIN, line)
        self.setLineWidth(0.5)
        self.line(_MARGIN, line - 1.2 * mm, _PAGE_WIDTH - _MARGIN, line - 1.2 * mm)
        bottom = 10 * mm
        self.setLineWidth(0.4)
        self.line(_MARGIN, bottom + 4 * mm, _PAGE_WIDTH - _MARGIN, bottom + 4 * mm)
        self.setFont(_SANS, 7.5)
        self.drawString(_MARGIN, bottom, f"{reference} · dicetak {_time(self._made_at)}")
        self.drawRightString(_PAGE_WIDTH - _MARGIN, bottom, f"Halaman {number} dari {total}")


class _Document(Flowable):
    """Where a document starts in a file of several: its pages are numbered on their own,
    under its own reference."""

    def __init__(self, reference: str) -> None:
        super().__init__()
        self.reference = reference

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        if isinstance(self.canv, _Pages):
            self.canv.start_document(self.reference)


def _pdf(
    story: list[Flowable],
    *,
    bureau: Bureau,
    reference: str,
    title: str,
    made_at: _dt.datetime,
    path: str | os.PathLike[str] | None,
) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_HEADER,
        bottomMargin=20 * mm,
        title=title,
        subject=reference,
        author=f"{bureau.office} {bureau.region}",
        creator="ektpcore",
    )
    doc.build(
        story,
        canvasmaker=functools.partial(_Pages, bureau=bureau, reference=reference, made_at=made_at),
    )
    data = buffer.getvalue()
    if path is not None:
        write_private(path, data)
    return data


def _p(text: str, style: ParagraphStyle = _TEXT) -> Paragraph:
    """A paragraph of plain text (escaped: a name with ``&`` or ``<`` prints as written)."""
    return Paragraph(escape(text), style)


def _table(
    rows: Sequence[Sequence[str | Flowable]],
    widths: Sequence[float],
    *,
    header_rows: int = 1,
    total: Sequence[str] | None = None,
    numeric: Sequence[int] = (),
    short: bool = False,
) -> Table:
    """A ruled table; its header rows repeat on every page it runs over; ``numeric`` columns
    are aligned right below the header; ``total`` is a last row in bold. ``short`` cells
    (none wider than its column) are drawn as plain text, several times faster than
    paragraphs on a manifest of thousands of cards."""

    def cell(value: str | Flowable, column: int, bold: bool) -> Flowable | str:
        if isinstance(value, Flowable) or (short and not bold):
            return value
        if column in numeric:
            return Paragraph(escape(value), _NUMBER_BOLD if bold else _NUMBER)
        return Paragraph(escape(value), _CELL_BOLD if bold else _CELL)

    cells = [
        [cell(v, i, False) if r >= header_rows else _header_cell(v) for i, v in enumerate(row)]
        for r, row in enumerate(rows)
    ]
    if total is not None:
        cells.append([cell(v, i, True) for i, v in enumerate(total)])
    table = Table(cells, colWidths=list(widths), repeatRows=header_rows)
    style: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.Color(0.88, 0.9, 0.94)),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if total is not None:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.Color(0.95, 0.95, 0.95)))
    if short:
        style.append(("FONT", (0, header_rows), (-1, -1), _SANS, _CELL.fontSize))
        style += [("ALIGN", (c, header_rows), (c, -1), "RIGHT") for c in numeric]
    table.setStyle(TableStyle(style))
    return table


def _header_cell(value: str | Flowable) -> Flowable:
    return value if isinstance(value, Flowable) else Paragraph(escape(value), _CELL_BOLD)


def _heading(text: str) -> list[Flowable]:
    """A section's heading, on a new page when less than a few rows' room is left under it."""
    return [CondPageBreak(32 * mm), _p(text, _HEADING)]


def _facts(rows: Sequence[tuple[str, str]]) -> Table:
    """Label and value, unruled: the head of a document."""
    table = Table(
        [[_p(k, _CELL_BOLD), _p(v, _CELL)] for k, v in rows],
        colWidths=[45 * mm, _WIDTH - 45 * mm],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
            ]
        )
    )
    return table


def _signed(
    above: Sequence[Flowable], columns: Sequence[tuple[str, str, str | None]]
) -> KeepTogether:
    """Signature blocks side by side, each (heading, role, name or ``None`` for a line to
    write it on), kept on one page with what is ``above`` them (never a page of signatures
    alone; ReportLab's KeepTogether does not nest, so this is the one around them)."""
    width = _WIDTH / len(columns)
    heads = [_p(h, _CENTER) for h, _, _ in columns]
    roles = [_p(r, _CENTER) for _, r, _ in columns]
    names = [
        _p(
            f"( {name} )" if name else "( ................................................ )",
            _CENTER,
        )
        for _, _, name in columns
    ]
    space = [Spacer(1, 20 * mm) for _ in columns]
    table = Table([heads, roles, space, names], colWidths=[width] * len(columns))
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return KeepTogether([*above, Spacer(1, 8 * mm), table])


# -- the manifest ----------------------------------------------------------------------------


def manifest_pdf(
    ledger: Ledger,
    manifest_id: int,
    *,
    bureau: Bureau,
    path: str | os.PathLike[str] | None = None,
) -> bytes:
    """The manifest of a consignment, as the office that sends it prints it for the box and
    the office that receives it signs it: route, dates, the cards grouped by kelurahan (each
    kelurahan's heading repeated on every page it runs over, never left alone at a page's
    foot) with masked NIK, initials and blank serial, counts per kelurahan and in all, and
    signature lines for sender and receiver, on a page with cards above them. Returns the
    PDF (also written to ``path``)."""
    found = ledger.distribution.manifest(manifest_id)
    cards = {record.nik: record for record in ledger.distribution.cards(manifest_id)}
    made_at = _dt.datetime.now(WIB)
    reference = f"Manifes No. {found.id}"
    sender, receiver = _route(found, bureau)

    def build(tail: int) -> tuple[bytes, bool]:
        story, rows_end, signed = _manifest_story(found, cards, sender, receiver, tail)
        pdf = _pdf(
            story,
            bureau=bureau,
            reference=reference,
            title=f"{reference}: {sender} kepada {receiver}",
            made_at=made_at,
            path=None,
        )
        return pdf, rows_end.page == signed.page

    pdf, together = build(0)
    if not together:
        # The last kelurahan ran on and left no room under it: its last rows go over with
        # the total and the signatures (its heading repeated over them, as on any page).
        pdf, _ = build(_TAIL_ROWS)
    if path is not None:
        write_private(path, pdf)
    return pdf


_TAIL_ROWS = 5  # cards of a long last kelurahan kept on the page of the signatures


class _Mark(Flowable):
    """Notes the page it lands on (drawn, not seen)."""

    def __init__(self) -> None:
        super().__init__()
        self.page: int | None = None

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        if isinstance(self.canv, _Pages):
            self.page = self.canv.page_index()


def _manifest_story(
    found: Manifest, cards: Mapping[Nik, Any], sender: str, receiver: str, tail: int
) -> tuple[list[Flowable], _Mark, _Mark]:
    """The manifest's flowables, with marks where the cards end and where the signatures
    begin; ``tail`` cards of a long last kelurahan are kept with the signatures."""
    story: list[Flowable] = [
        _p("MANIFES PENGIRIMAN KTP-EL", _TITLE),
        _p(f"{sender} kepada {receiver}", _SUBTITLE),
        _facts(_manifest_facts(found, sender, receiver)),
        *_heading("Ringkasan per kelurahan"),
        _summary_table(found),
        *_heading("Daftar kartu"),
        _p(
            "NIK ditampilkan tersamar (4 digit awal dan 2 digit akhir). Cocokkan setiap kartu"
            " dengan nomor seri blangko yang tercetak pada kartu dan inisial nama pemiliknya,"
            " lalu beri paraf pada kolom Cek.",
            _SMALL,
        ),
        Spacer(1, 2 * mm),
    ]
    rows_end, signed = _Mark(), _Mark()
    total = _p(
        f"Jumlah seluruhnya: {_number(found.count)} kartu untuk"
        f" {_number(len(found.kelurahan))} kelurahan.",
        _HEADING,
    )
    signatures = [
        ("Yang menyerahkan,", f"Petugas {sender}", None),
        ("Yang menerima,", f"Petugas {receiver}", found.received_by),
    ]
    # Each kelurahan's cards in the order of their blank serials, as they lie in the box.
    groups = [
        (kel, sorted(niks, key=lambda n: _serial_of(cards, n)))
        for kel, niks in found.kelurahan.items()
    ]
    last: list[Flowable] = []
    for index, (kelurahan, niks) in enumerate(groups):
        story.append(CondPageBreak(30 * mm))
        if index == len(groups) - 1 and len(niks) <= _KEEP_ROWS:
            # A short last kelurahan stays with the total and the signatures.
            last = [_kelurahan_table(kelurahan, niks, cards)]
        elif index == len(groups) - 1 and tail:
            split = len(niks) - tail
            story.append(_kelurahan_table(kelurahan, niks, cards, rows=slice(0, split)))
            last = [_kelurahan_table(kelurahan, niks, cards, rows=slice(split, None))]
        elif len(niks) > _KEEP_ROWS:  # runs on, its heading repeated on every page
            story += [_kelurahan_table(kelurahan, niks, cards), Spacer(1, 4 * mm)]
        else:  # a short kelurahan's cards are never split
            story += [KeepTogether([_kelurahan_table(kelurahan, niks, cards)]), Spacer(1, 4 * mm)]
    if last:
        story.append(_signed([*last, rows_end, Spacer(1, 4 * mm), signed, total], signatures))
    else:
        story += [rows_end, _signed([signed, total], signatures)]
    return story, rows_end, signed


def _serial_of(cards: Mapping[Nik, Any], nik: Nik) -> tuple[bool, int]:
    """A card's place in its box: by blank serial, cards without one last."""
    serial = getattr(cards.get(nik), "card_serial", None)
    return serial is None, serial or 0


def _route(found: Manifest, bureau: Bureau) -> tuple[str, str]:
    if found.leg is Leg.KECAMATAN:
        return f"Dinas Dukcapil {bureau.region}", _kecamatan(found.kecamatan)
    return _kecamatan(found.kecamatan), _kelurahan(found.to_kelurahan)


def _manifest_facts(found: Manifest, sender: str, receiver: str) -> list[tuple[str, str]]:
    received = "-"
    if found.received_at:
        received = f"{_time(found.received_at)}, oleh {found.received_by or '-'}"
        if found.received_count is not None:
            received += f" ({_number(found.received_count)} kartu dihitung)"
    return [
        ("Nomor manifes", str(found.id)),
        ("Dari", sender),
        ("Kepada", receiver),
        ("Status", _MANIFEST_STATES[found.state]),
        ("Dibuat", f"{_time(found.created_at)}, oleh {found.created_by}"),
        ("Dikirim", _time(found.dispatched_at) if found.dispatched_at else "-"),
        ("Diterima", received),
        ("Jumlah kartu", f"{_number(found.count)} kartu, {len(found.kelurahan)} kelurahan"),
    ]


def _summary_table(found: Manifest) -> Table:
    rows: list[Sequence[str | Flowable]] = [["No.", "Kelurahan", "Jumlah kartu"]]
    rows += [
        [str(i), _kelurahan(kel), _number(len(niks))]
        for i, (kel, niks) in enumerate(found.kelurahan.items(), start=1)
    ]
    total = ["", "Jumlah", _number(found.count)]
    return _table(rows, [12 * mm, _WIDTH - 52 * mm, 40 * mm], total=total, numeric=[2])


def _kelurahan_table(
    kelurahan: str,
    niks: Sequence[Nik],
    cards: Mapping[Nik, Any],
    *,
    rows: slice = slice(None),
) -> Table:
    """One kelurahan's cards (those of ``rows``); its heading is the table's first row,
    repeated with the column heads on every page, so a page break never leaves it apart
    from its rows. The part that holds the last card ends with the kelurahan's count."""
    heading = f"{_kelurahan(kelurahan)}: {_number(len(niks))} kartu"
    body: list[Sequence[str | Flowable]] = [
        [heading, "", "", "", ""],
        ["No.", "NIK (tersamar)", "Inisial nama", "No. seri blangko", "Cek"],
    ]
    first, stop, _ = rows.indices(len(niks))
    for i, nik in enumerate(niks[first:stop], start=first + 1):
        record = cards.get(nik)
        serial = record.card_serial if record is not None else None
        name = record.name if record is not None else None
        body.append(
            [str(i), nik.masked, _initials(name), "-" if serial is None else str(serial), ""]
        )
    ends = stop == len(niks)
    table = _table(
        body,
        [12 * mm, 48 * mm, 40 * mm, 40 * mm, _WIDTH - 140 * mm],
        header_rows=2,
        total=["", f"Jumlah {_kelurahan(kelurahan)}", "", _number(len(niks)), ""] if ends else None,
        short=True,
    )
    spans: list[Any] = [
        ("SPAN", (0, 0), (-1, 0)),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.8, 0.84, 0.9)),
    ]
    table.setStyle(TableStyle([*spans, ("SPAN", (1, -1), (2, -1))] if ends else spans))
    return table


# -- the hand-over record --------------------------------------------------------------------


def handover_pdf(
    ledger: Ledger,
    niks: Any,
    *,
    bureau: Bureau,
    full_nik: bool = True,
    path: str | os.PathLike[str] | None = None,
) -> bytes:
    """The *berita acara serah terima* of each card's latest hand-over (one NIK, or many:
    one page each, e.g. a kelurahan's collection day): where and when, who handed it over,
    who received it (the citizen, or who collected on their behalf), how identity was
    checked, the card (full NIK and name, blank serial), and signature lines for both
    parties. ``full_nik=False`` masks the NIK (a copy for a notice board)."""
    if isinstance(niks, (str, bytes, int, Nik)):
        niks = [niks]
    values = parse_niks(list(niks)).values.tolist()
    if not values or min(values) < 0:
        raise InvalidArgumentError("handover_pdf takes valid NIKs, one or more")
    made_at = _dt.datetime.now(WIB)
    story: list[Flowable] = []
    for index, value in enumerate(values):
        nik = Nik.from_int(int(value))
        given = ledger.distribution.handovers(nik)
        if not given:
            raise InvalidArgumentError(f"no hand-over is recorded for NIK {nik.masked}")
        if index:
            story.append(PageBreak())
        shown = str(nik) if full_nik else nik.masked
        story.append(_Document(f"Berita acara serah terima KTP-el, NIK {shown}"))
        story += _handover_story(given[-1], ledger.where_is(nik), full_nik)
    reference = "Berita acara serah terima KTP-el"
    return _pdf(
        story, bureau=bureau, reference=reference, title=reference, made_at=made_at, path=path
    )


def _handover_story(given: Any, record: Any, full_nik: bool) -> list[Flowable]:
    when = _wib(given.at)
    if given.office is State.AT_KELURAHAN:
        place = f"Kantor {_kelurahan(record.kelurahan)}, {_kecamatan(record.kecamatan)}"
        office = _kelurahan(record.kelurahan)
    else:
        place = f"Kantor {_kecamatan(record.kecamatan)}"
        office = _kecamatan(record.kecamatan)
    name = record.name or "(nama tidak tercatat)"
    receiver = given.receiver or name
    nik_text = str(given.nik) if full_nik else given.nik.masked
    on_behalf = given.receiver is not None
    story: list[Flowable] = [
        _p("BERITA ACARA SERAH TERIMA", _TITLE),
        _p("KARTU TANDA PENDUDUK ELEKTRONIK (KTP-EL)", _SUBTITLE),
        _p("Nomor: ........................................", _CENTER),
        Spacer(1, 5 * mm),
        _p(
            f"Pada hari ini, {_date(when)}, pukul {when:%H.%M} WIB, bertempat di {place},"
            " telah dilakukan serah terima Kartu Tanda Penduduk Elektronik (KTP-el) antara:"
        ),
        Spacer(1, 3 * mm),
        _p("PIHAK PERTAMA (yang menyerahkan)", _HEADING),
        _facts([("Nama", given.actor), ("Jabatan", f"Petugas {office}")]),
        _p("PIHAK KEDUA (yang menerima)", _HEADING),
        _facts(
            [("Nama", receiver)]
            + (
                [("Keterangan", f"menerima atas nama pemilik KTP-el, {name}")]
                if on_behalf
                else [("Keterangan", "pemilik KTP-el, menerima sendiri")]
            )
        ),
        _p("KTP-el yang diserahkan", _HEADING),
        _facts(
            [
                ("NIK", nik_text),
                ("Nama", name),
                ("Kecamatan", record.kecamatan or "-"),
                ("Kelurahan", record.kelurahan or "-"),
                ("No. seri blangko", "-" if given.card_serial is None else str(given.card_serial)),
            ]
        ),
        _p("Pemeriksaan identitas", _HEADING),
        _p(given.identity_check),
        Spacer(1, 4 * mm),
        _signed(
            [
                _p(
                    "PIHAK PERTAMA telah menyerahkan dan PIHAK KEDUA telah menerima KTP-el"
                    " tersebut di atas dalam keadaan baik. Demikian berita acara ini dibuat"
                    " dengan sebenarnya untuk dapat dipergunakan sebagaimana mestinya."
                )
            ],
            [
                ("Yang menyerahkan,", "PIHAK PERTAMA", given.actor),
                ("Yang menerima,", "PIHAK KEDUA", receiver),
            ],
        ),
    ]
    return story


# -- the production report of a shift or a day -----------------------------------------------


@dataclass(frozen=True)
class SpoiledBlank:
    """A blank spoiled in the period: its serial, when, the cause given, who recorded it."""

    serial: int
    at: _dt.datetime
    cause: str
    operator: str
    batch: str | None


@dataclass(frozen=True)
class InDoubtCard:
    """A card whose printing nobody could confirm: when it went in doubt (or was settled),
    at which printer, in which batch, on which blank, who recorded it, and (once settled)
    what was found. The NIK is shown masked."""

    nik: Nik
    at: _dt.datetime | None
    printer: str | None
    batch: str | None
    serial: int | None
    operator: str | None = None
    outcome: State | None = None


@dataclass(frozen=True)
class ProductionReport:
    """What a bureau produced in a period: a shift (``"pagi"`` 08-20 WIB, ``"malam"`` 20-08)
    or a day (``"harian"``, both shifts, ``shifts`` holding each).

    ``printed`` has one ``(time, operator, printer)`` per card printed; ``spoiled`` one entry
    per blank spoiled; ``blank_moves`` counts blank movements by kind (the CSV's codes);
    ``stock_start`` and ``stock_end`` are the blanks in each state when the period began and
    ended; ``ribbons_installed`` the ribbons put in, ``ribbons_now`` the ribbon each printer
    of the period holds when the report was made; ``in_doubt_*`` the cards that went in
    doubt, were settled, and are still in doubt; ``operators`` counts per operator."""

    kind: str
    start: _dt.datetime
    end: _dt.datetime
    made_at: _dt.datetime
    printed: list[tuple[_dt.datetime, str, str]]
    spoiled: list[SpoiledBlank]
    blank_moves: dict[str, int]
    stock_start: dict[BlankState, int]
    stock_end: dict[BlankState, int]
    ribbons_installed: list[Ribbon]
    ribbons_now: dict[str, Ribbon | None]
    in_doubt_entered: list[InDoubtCard]
    in_doubt_settled: list[InDoubtCard]
    in_doubt_open: list[InDoubtCard]
    operators: dict[str, dict[str, int]]
    shifts: tuple[ProductionReport, ...] = field(default=())

    @property
    def label(self) -> str:
        """``Shift pagi, Senin, 13 November 2017 (08.00-20.00 WIB)``, with an en dash."""
        if self.kind == "harian":
            return (
                f"Laporan harian, {_date(self.start)} {self.start:%H.%M} WIB s.d."
                f" {_date(self.end)} {self.end:%H.%M} WIB"
            )
        name = {"pagi": "Shift pagi", "malam": "Shift malam"}.get(self.kind, self.kind)
        return f"{name}, {_date(self.start)} ({self.start:%H.%M}{_DASH}{self.end:%H.%M} WIB)"

    def printed_by(self, key: str) -> dict[str, int]:
        """Cards printed per ``"operator"`` or per ``"printer"``."""
        if key not in ("operator", "printer"):
            raise InvalidArgumentError("printed_by 'operator' or 'printer'")
        names = [who if key == "operator" else printer for _, who, printer in self.printed]
        return dict(sorted(Counter(names).items()))

    def spoiled_by_cause(self) -> dict[str, int]:
        return dict(Counter(s.cause for s in self.spoiled).most_common())


def shift_report(ledger: Ledger, day: _dt.date, *, night: bool = False) -> ProductionReport:
    """The report of the day shift (08.00-20.00 WIB) of ``day``, or of its night shift
    (20.00 of ``day`` to 08.00 of the next)."""
    start, end = shift_window(day, night=night)
    return _report(ledger, "malam" if night else "pagi", start.astimezone(WIB), end.astimezone(WIB))


def day_report(ledger: Ledger, day: _dt.date) -> ProductionReport:
    """The report of ``day``: its day shift and the night shift after it (08.00 of ``day`` to
    08.00 of the next), in total and shift by shift."""
    shifts = (shift_report(ledger, day), shift_report(ledger, day, night=True))
    return _merge("harian", shifts)


def _report(ledger: Ledger, kind: str, start: _dt.datetime, end: _dt.datetime) -> ProductionReport:
    made_at = _dt.datetime.now(WIB)
    events = ledger.events(start, end)
    moves = ledger.blanks.movements(start, end)
    stock_start, stock_end = _stock(ledger, moves, end)
    printed: list[tuple[_dt.datetime, str, str]] = []
    operators: dict[str, Counter[str]] = defaultdict(Counter)
    entered: list[InDoubtCard] = []
    settled: list[InDoubtCard] = []
    for nik, entry in events:
        at, target = _wib(entry.at), entry.target
        column = _operator_column(entry.source, target)
        if column:
            operators[entry.actor][column] += 1
        if target is State.PRINTED and entry.source is State.QUEUED:
            printed.append((at, entry.actor, entry.printer or "-"))
        if target is State.PRINTED and entry.source is State.IN_DOUBT:
            # A card in doubt found whole in the tray was printed when it went through the
            # printer, by whoever sent it: counted with the cards printed, as its blank is.
            went = next((c for c in reversed(entered) if c.nik == nik), None)
            if went is None:  # it went in doubt in an earlier period
                printed.append((at, entry.actor, entry.printer or "-"))
                operators[entry.actor]["dicetak"] += 1
            else:
                who = went.operator or entry.actor
                printed.append((went.at or at, who, went.printer or entry.printer or "-"))
                operators[who]["dicetak"] += 1
        serial = int(entry.blank) if entry.blank else None
        if target is State.IN_DOUBT:
            entered.append(InDoubtCard(nik, at, entry.printer, entry.batch, serial, entry.actor))
        elif entry.source is State.IN_DOUBT:
            settled.append(
                InDoubtCard(nik, at, entry.printer, entry.batch, serial, entry.actor, target)
            )
    spoiled = [
        SpoiledBlank(m.serial, _wib(m.at), (m.reason or "").strip() or _NO_CAUSE, m.actor, m.batch)
        for m in moves
        if m.target is BlankState.SPOILED
    ]
    for blank in spoiled:
        operators[blank.operator]["rusak"] += 1
    kinds: Counter[str] = Counter()
    for m in moves:
        other = f"{m.source.value if m.source else 'baru'}_{m.target.value}".lower()
        code = _MOVES.get((m.source, m.target), (other, ""))[0]
        kinds[code] += 1
    installed = ledger.ribbons.installed(start, end)
    printers = sorted({p for _, _, p in printed if p != "-"} | {r.printer for r in installed})
    still = [
        InDoubtCard(Nik.from_int(nik), None, None, batch, serial)
        for nik, batch, serial in ledger.journal.in_doubt()
    ]
    # The history row of a card going in doubt may not name its batch and blank; the
    # journal and the settlement do.
    known = {c.nik: (c.batch, c.serial) for c in [*settled, *still] if c.batch}
    entered = [
        replace(c, batch=c.batch or known[c.nik][0], serial=c.serial or known[c.nik][1])
        if c.nik in known
        else c
        for c in entered
    ]
    return ProductionReport(
        kind,
        start,
        end,
        made_at,
        printed,
        spoiled,
        dict(kinds),
        stock_start,
        stock_end,
        installed,
        {p: ledger.ribbons.current(p) for p in printers},
        entered,
        settled,
        still,
        {who: dict(counts) for who, counts in sorted(operators.items(), key=_by_name)},
    )


def _by_name(item: tuple[str, Any]) -> tuple[str, str]:
    """Operators in alphabetical order, whatever their case."""
    return item[0].casefold(), item[0]


def _operator_column(source: State | None, target: State) -> str | None:
    if target is State.PRINTED and source is State.QUEUED:
        return "dicetak"
    if target is State.QC_PASSED and source is State.ENCODED:
        return "lolos_qc"
    if target is State.IN_DOUBT:
        return "diragukan"
    if target in (State.IN_TRANSIT_TO_KECAMATAN, State.IN_TRANSIT_TO_KELURAHAN):
        return "dikirim"
    if target is State.ISSUED:
        return "diserahkan"
    return None


def _stock(
    ledger: Ledger, moves: Sequence[Any], end: _dt.datetime
) -> tuple[dict[BlankState, int], dict[BlankState, int]]:
    """The blanks in each state when the period began and when it ended: today's counts with
    the movements since ``end`` undone, then those of the period. Stations may be printing
    while this is read: the counts and the later movements are read again until no movement
    came between them, so the two agree."""
    for _ in range(5):
        later = ledger.blanks.movements(end, None)
        now = ledger.blanks.counts()
        again = ledger.blanks.movements(end, None)
        if len(again) == len(later):
            break
    at_end = _undo(now, again)
    return _undo(at_end, moves), at_end


def _undo(counts: Mapping[BlankState, int], moves: Iterable[Any]) -> dict[BlankState, int]:
    out = Counter({state: counts.get(state, 0) for state in BlankState})
    for m in moves:
        out[m.target] -= 1
        if m.source is not None:
            out[m.source] += 1
    return {state: out[state] for state in BlankState}


def _merge(kind: str, parts: Sequence[ProductionReport]) -> ProductionReport:
    """One report of consecutive periods: lists joined, counts added, stock from the first
    period's start to the last one's end, and what was left at the time of the last."""
    first, last = parts[0], parts[-1]
    operators: dict[str, Counter[str]] = defaultdict(Counter)
    kinds: Counter[str] = Counter()
    for part in parts:
        kinds.update(part.blank_moves)
        for who, counts in part.operators.items():
            operators[who].update(counts)
    return replace(
        last,
        kind=kind,
        start=first.start,
        printed=[p for part in parts for p in part.printed],
        spoiled=[s for part in parts for s in part.spoiled],
        blank_moves=dict(kinds),
        stock_start=first.stock_start,
        ribbons_installed=[r for part in parts for r in part.ribbons_installed],
        ribbons_now={k: v for part in parts for k, v in part.ribbons_now.items()},
        in_doubt_entered=[c for part in parts for c in part.in_doubt_entered],
        in_doubt_settled=[c for part in parts for c in part.in_doubt_settled],
        operators={who: dict(c) for who, c in sorted(operators.items(), key=_by_name)},
        shifts=tuple(parts),
    )


# -- the report as CSV -----------------------------------------------------------------------

_CSV_COLUMNS = ("periode", "mulai", "selesai", "bagian", "rincian", "operator", "printer", "jumlah")


def report_csv(report: ProductionReport, path: str | os.PathLike[str] | None = None) -> str:
    """The report as CSV rows (``periode, mulai, selesai, bagian, rincian, operator, printer,
    jumlah``), for a spreadsheet: a day report's shifts first, then the day. No NIK and no
    name of a citizen; a cell a spreadsheet would take for a formula is written as text.
    Returns the text (also written to ``path``, UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for part in (*report.shifts, report):
        writer.writerows(tuple(spreadsheet_cell(v) for v in row) for row in _csv_rows(part))
    text = out.getvalue()
    if path is not None:
        write_private(path, text)
    return text


def _csv_rows(report: ProductionReport) -> Iterable[tuple[str | int, ...]]:
    head = (report.kind, report.start.isoformat(), report.end.isoformat())
    printed = Counter((who, printer) for _, who, printer in report.printed)
    for (who, printer), n in sorted(printed.items()):
        yield (*head, "dicetak", "", who, printer, n)
    spoiled = Counter((s.cause, s.operator) for s in report.spoiled)
    for (cause, who), n in sorted(spoiled.items()):
        yield (*head, "rusak", cause, who, "", n)
    for code, n in sorted(report.blank_moves.items()):
        yield (*head, "blangko", code, "", "", n)
    for section, stock in (("stok_awal", report.stock_start), ("stok_akhir", report.stock_end)):
        for state, n in stock.items():
            yield (*head, section, state.value, "", "", n)
    installs = Counter((r.kind, r.installed_by or "", r.printer) for r in report.ribbons_installed)
    for (kind, who, printer), n in sorted(installs.items()):
        yield (*head, "pita_dipasang", kind, who, printer, n)
    for printer, ribbon in report.ribbons_now.items():
        if ribbon is not None:
            yield (*head, "pita_sisa", ribbon.kind, "", printer, ribbon.remaining)
    entered = Counter((c.operator or "", c.printer or "") for c in report.in_doubt_entered)
    for (who, printer), n in sorted(entered.items()):
        yield (*head, "diragukan_masuk", "", who, printer, n)
    settled = Counter(
        (c.outcome.value if c.outcome else "", c.operator or "") for c in report.in_doubt_settled
    )
    for (outcome, who), n in sorted(settled.items()):
        yield (*head, "diragukan_selesai", outcome, who, "", n)
    yield (*head, "diragukan_terbuka", "", "", "", len(report.in_doubt_open))
    for who, counts in report.operators.items():
        for code, _ in _OPERATOR_COLUMNS:
            if counts.get(code):
                yield (*head, "operator", code, who, "", counts[code])


# -- the report's chart ----------------------------------------------------------------------


def report_chart(report: ProductionReport, path: str | os.PathLike[str] | None = None) -> bytes:
    """A PNG: cards printed per hour (WIB), stacked by printer, and blanks spoiled per hour.
    Needs matplotlib (``pip install 'ektpcore[plot]'``). Returns the PNG (also written to
    ``path``)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the report's chart needs matplotlib: pip install 'ektpcore[plot]'"
        ) from None
    hours = int((report.end - report.start).total_seconds() // 3600)
    slots = [report.start + _dt.timedelta(hours=h) for h in range(hours)]

    def slot(moment: _dt.datetime) -> int:
        return min(hours - 1, int((moment - report.start).total_seconds() // 3600))

    printers = sorted({p for _, _, p in report.printed})
    per_printer = {p: [0] * hours for p in printers}
    for at, _, printer in report.printed:
        per_printer[printer][slot(at)] += 1
    spoiled = [0] * hours
    for blank in report.spoiled:
        spoiled[slot(blank.at)] += 1
    figure = Figure(figsize=(9, 3.6), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bottom = [0] * hours
    positions = list(range(hours))
    for printer in printers:
        axes.bar(positions, per_printer[printer], bottom=bottom, label=f"Printer {printer}")
        bottom = [b + v for b, v in zip(bottom, per_printer[printer], strict=True)]
    axes.plot(positions, spoiled, color="#c0392b", marker="o", linewidth=1.5, label="Blangko rusak")
    axes.set_xticks(positions, [f"{s:%H}" for s in slots])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max([*bottom, *spoiled, 1]) * 1.1)
    axes.set_xlabel("Jam (WIB)")
    axes.set_ylabel("Kartu")
    axes.set_title("Kartu dicetak per jam, per printer", fontsize=9, loc="left")
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = buffer.getvalue()
    if path is not None:
        write_private(path, data)
    return data


# -- the report as PDF -----------------------------------------------------------------------


def report_pdf(
    report: ProductionReport,
    *,
    bureau: Bureau,
    chart: bool | None = None,
    path: str | os.PathLike[str] | None = None,
) -> bytes:
    """The report as the shift's supervisor signs it: figures, the chart (``chart=None``:
    when matplotlib is installed; ``True`` requires it), cards printed per printer, spoiled
    blanks by cause and one by one, blank movements and stock, ribbons, in-doubt cards
    (masked NIKs) and the work of each operator. Returns the PDF (also written to ``path``)."""
    if chart is None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            chart = False
        else:
            chart = True
    title = (
        "LAPORAN HARIAN PRODUKSI KTP-EL"
        if report.kind == "harian"
        else f"LAPORAN PRODUKSI KTP-EL SHIFT {report.kind.upper()}"
    )
    story: list[Flowable] = [
        _p(title, _TITLE),
        _p(report.label, _SUBTITLE),
        _facts(_report_facts(report)),
    ]
    if chart:
        png = report_chart(report)
        story += [Spacer(1, 3 * mm), Image(io.BytesIO(png), width=_WIDTH, height=_WIDTH * 0.4)]
    if report.shifts:
        story += [*_heading("Per shift"), _shift_table(report)]
    story += _printer_section(report)
    story += _spoiled_section(report)
    story += _blank_section(report)
    story += _ribbon_section(report)
    story += _in_doubt_section(report)
    signatures = [("Dibuat oleh,", "Operator", None), ("Diperiksa oleh,", "Supervisor", None)]
    story.append(_signed(_operator_section(report), signatures))
    day = f"{report.start:%d-%m-%Y}"
    reference = (
        f"Laporan harian {day}" if report.kind == "harian" else f"Laporan shift {report.kind} {day}"
    )
    return _pdf(
        story,
        bureau=bureau,
        reference=reference,
        title=f"Laporan produksi: {report.label}",
        made_at=report.made_at,
        path=path,
    )


def _report_facts(report: ProductionReport) -> list[tuple[str, str]]:
    doubt = (
        f"{_number(len(report.in_doubt_entered))} masuk, {_number(len(report.in_doubt_settled))}"
        f" diselesaikan; {_number(len(report.in_doubt_open))} masih diragukan"
        f" per {_time(report.made_at)}"
    )
    stock = BlankState.IN_STOCK
    return [
        ("Kartu dicetak", _number(len(report.printed))),
        ("Blangko rusak", _number(len(report.spoiled))),
        ("Kartu diragukan", doubt),
        ("Pita dipasang", _number(len(report.ribbons_installed))),
        (
            "Blangko di gudang",
            f"{_number(report.stock_start[stock])} di awal, {_number(report.stock_end[stock])}"
            " di akhir periode",
        ),
    ]


def _shift_table(report: ProductionReport) -> Table:
    rows: list[Sequence[str | Flowable]] = [
        ["Shift", "Dicetak", "Rusak", "Diragukan", "Pita dipasang"]
    ]
    rows += [[part.label.split(",")[0], *_shift_figures(part)] for part in report.shifts]
    widths = [_WIDTH - 128 * mm] + [32 * mm] * 4
    total = ["Jumlah", *_shift_figures(report)]
    return _table(rows, widths, total=total, numeric=[1, 2, 3, 4])


def _shift_figures(part: ProductionReport) -> list[str]:
    counts = (part.printed, part.spoiled, part.in_doubt_entered, part.ribbons_installed)
    return [_number(len(c)) for c in counts]


def _printer_section(report: ProductionReport) -> list[Flowable]:
    out = _heading("Kartu dicetak per printer")
    by_printer = report.printed_by("printer")
    printers = sorted(set(by_printer) | set(report.ribbons_now))
    if not printers:
        return [*out, _p("Tidak ada kartu dicetak.")]
    rows: list[Sequence[str | Flowable]] = [["Printer", "Dicetak", "Pita saat laporan dibuat"]]
    for printer in printers:
        ribbon = report.ribbons_now.get(printer)
        left = (
            f"{ribbon.kind}, sisa {_number(ribbon.remaining)} dari {_number(ribbon.capacity)}"
            if ribbon
            else "-"
        )
        rows.append([printer, _number(by_printer.get(printer, 0)), left])
    total = ["Jumlah", _number(len(report.printed)), ""]
    widths = [40 * mm, 30 * mm, _WIDTH - 70 * mm]
    return [*out, _table(rows, widths, total=total, numeric=[1])]


def _spoiled_section(report: ProductionReport) -> list[Flowable]:
    out = _heading("Blangko rusak menurut penyebab")
    if not report.spoiled:
        return [*out, _p("Tidak ada blangko rusak.")]
    causes: list[Sequence[str | Flowable]] = [["Penyebab", "Jumlah"]]
    causes += [[cause, _number(n)] for cause, n in report.spoiled_by_cause().items()]
    details: list[Sequence[str | Flowable]] = [
        ["No. seri", "Waktu", "Penyebab", "Operator", "Batch"]
    ]
    details += [
        [str(s.serial), f"{s.at:%d-%m %H.%M}", s.cause, s.operator, s.batch or "-"]
        for s in sorted(report.spoiled, key=lambda s: (s.at, s.serial))
    ]
    total = ["Jumlah", _number(len(report.spoiled))]
    widths = [25 * mm, 25 * mm, _WIDTH - 120 * mm, 35 * mm, 35 * mm]
    return [
        *out,
        _table(causes, [_WIDTH - 30 * mm, 30 * mm], total=total, numeric=[1]),
        *_heading("Rincian blangko rusak"),
        _table(details, widths),
    ]


def _blank_section(report: ProductionReport) -> list[Flowable]:
    order = list(dict.fromkeys(code for code, _ in _MOVES.values()))
    words = {code: text for code, text in _MOVES.values()}
    moves: list[Sequence[str | Flowable]] = [["Pergerakan", "Jumlah"]]
    moves += [
        [words.get(code, code), _number(n)]
        for code, n in sorted(
            report.blank_moves.items(),
            key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]),
        )
    ]
    if len(moves) == 1:
        moves.append(["Tidak ada pergerakan blangko", "0"])
    stock: list[Sequence[str | Flowable]] = [["Keadaan blangko", "Awal periode", "Akhir periode"]]
    stock += [
        [_BLANK_STATES[s], _number(report.stock_start[s]), _number(report.stock_end[s])]
        for s in BlankState
    ]
    total = [
        "Jumlah diterima",
        _number(sum(report.stock_start.values())),
        _number(sum(report.stock_end.values())),
    ]
    return [
        *_heading("Pergerakan blangko"),
        _table(moves, [_WIDTH - 30 * mm, 30 * mm], numeric=[1]),
        Spacer(1, 3 * mm),
        _table(stock, [_WIDTH - 70 * mm, 35 * mm, 35 * mm], total=total, numeric=[1, 2]),
    ]


def _ribbon_section(report: ProductionReport) -> list[Flowable]:
    out = _heading("Pita (ribbon) dipasang")
    if not report.ribbons_installed:
        return [*out, _p("Tidak ada pita dipasang dalam periode ini.")]
    rows: list[Sequence[str | Flowable]] = [
        ["Waktu", "Printer", "Jenis", "Kapasitas", "Sisa", "Dipasang oleh"]
    ]
    for ribbon in report.ribbons_installed:
        left = _number(ribbon.remaining) + (" (dilepas)" if ribbon.removed_at else "")
        rows.append(
            [
                f"{_wib(ribbon.installed_at):%d-%m %H.%M}",
                ribbon.printer,
                ribbon.kind,
                _number(ribbon.capacity),
                left,
                ribbon.installed_by or "-",
            ]
        )
    widths = [25 * mm, 25 * mm, 25 * mm, 25 * mm, 30 * mm, _WIDTH - 130 * mm]
    return [*out, _table(rows, widths, numeric=[3])]


_OUTCOMES = {
    State.PRINTED: "tercetak",
    State.ENCODED: "tercetak, chip terisi",
    State.QC_PASSED: "tercetak, lolos QC",
    State.PRINT_READY: "tidak tercetak, blangko rusak",
}


def _in_doubt_section(report: ProductionReport) -> list[Flowable]:
    out = _heading("Kartu diragukan")
    if not (report.in_doubt_entered or report.in_doubt_settled or report.in_doubt_open):
        return [*out, _p("Tidak ada kartu diragukan.")]
    rows: list[Sequence[str | Flowable]] = [
        ["Keadaan", "Waktu", "NIK (tersamar)", "Batch", "No. seri", "Oleh / hasil"]
    ]
    for label, cards in (
        ("Masuk", report.in_doubt_entered),
        ("Diselesaikan", report.in_doubt_settled),
        ("Masih diragukan", report.in_doubt_open),
    ):
        for card in cards:
            by = card.operator or "-"
            if card.outcome is not None:
                by = f"{by}: {_OUTCOMES.get(card.outcome, card.outcome.value)}"
            rows.append(
                [
                    label,
                    "-" if card.at is None else f"{card.at:%d-%m %H.%M}",
                    card.nik.masked,
                    card.batch or "-",
                    "-" if card.serial is None else str(card.serial),
                    by,
                ]
            )
    widths = [26 * mm, 25 * mm, 36 * mm, 25 * mm, 20 * mm, _WIDTH - 132 * mm]
    return [*out, _table(rows, widths)]


def _operator_section(report: ProductionReport) -> list[Flowable]:
    out = [_p("Per operator", _HEADING)]
    if not report.operators:
        return [*out, _p("Tidak ada pekerjaan tercatat.")]
    rows: list[Sequence[str | Flowable]] = [["Operator", *(w for _, w in _OPERATOR_COLUMNS)]]
    for who, counts in report.operators.items():
        rows.append([who, *(_number(counts.get(code, 0)) for code, _ in _OPERATOR_COLUMNS)])
    totals = [
        sum(c.get(code, 0) for c in report.operators.values()) for code, _ in _OPERATOR_COLUMNS
    ]
    count = len(_OPERATOR_COLUMNS)
    table = _table(
        rows,
        [_WIDTH - 23.5 * mm * count] + [23.5 * mm] * count,
        total=["Jumlah", *(_number(t) for t in totals)],
        numeric=list(range(1, count + 1)),
    )
    return [*out, table]
