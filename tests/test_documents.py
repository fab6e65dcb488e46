"""The printed documents, read back as a receiving officer would: the text of each PDF page
(pypdf) checked for counts, page numbers, masked and full NIKs, names and signatures; the CSV
by its rows; the chart as a PNG in the report. Each runs on both stores."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

import ektpcore
from ektpcore import Actor, BlankState, InvalidArgumentError, Ledger, Role, State
from ektpcore import documents as docs
from ektpcore.clock import WIB
from ektpcore.keys import KeyFile

OPERATOR = Actor("ani", Role.OPERATOR)
CLERK = Actor("Sri Wahyuni", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)
LURAH = Actor("Dedi Kurniawan", Role.OPERATOR)
BUREAU = docs.Bureau("Kota Bogor", address="Jl. Ir. H. Juanda No. 10, Bogor")
FIRST = ["Siti", "Budi", "Agus", "Dewi", "Joko", "Rina", "Nur", "Ahmad"]
LAST = ["Aminah", "Santoso", "Salim", "Lestari", "Widodo", "Wati", "Hidayat"]
# Bogor Selatan: Empang has more cards than a page holds, so its list runs over two pages.
PLACES = [("Bogor Selatan", "Empang")] * 80 + [("Bogor Selatan", "Batutulis")] * 12
PLACES += [("Bogor Selatan", "Cikaret")] * 5 + [("Bogor Tengah", "Paledang")] * 8


def _pages(pdf: bytes) -> list[str]:
    """Each page's text, its runs of spaces and line ends as one space (a table's cells then
    read along their row)."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def _name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i * 3) % len(LAST)]}"


class Bureau:
    """A ledger after one shift's work: 105 records printed in batches on two printers, three
    attempts spoiled (two causes) and a blank jammed, a ribbon changed, both distribution
    legs of Bogor Selatan, two hand-overs at the kelurahan and one at the kecamatan, and a
    station that died with two cards in its printer (one settled, one still in doubt)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.started = dt.datetime.now(WIB)
        self.niks = [str(v) for v in ektpcore.sample_niks(len(PLACES) + 2, seed=12)]
        self.cards, self.doubtful = self.niks[: len(PLACES)], self.niks[len(PLACES) :]
        self.names = {nik: _name(i) for i, nik in enumerate(self.niks)}
        ledger.add_records(
            self.niks,
            OPERATOR,
            state=State.PRINT_READY,
            names=[self.names[n] for n in self.niks],
            kecamatan=[k for k, _ in PLACES] + ["Bogor Tengah"] * 2,
            kelurahan=[k for _, k in PLACES] + ["Paledang"] * 2,
        )
        ledger.blanks.receive("LOT-2017-11", 70001, 70200, SUPERVISOR)
        ledger.ribbons.install("P1", "YMCKO", 500, OPERATOR, remaining=30)
        ledger.ribbons.install("P2", "YMCKO", 500, CLERK)
        for b, first in enumerate(range(0, len(self.cards), 20)):
            group = self.cards[first : first + 20]
            printer, who = ("P1", OPERATOR) if b % 2 == 0 else ("P2", CLERK)
            if ledger.ribbons.current(printer).remaining < len(group):
                ledger.ribbons.install(printer, "YMCKO", 500, who)
            serials = ledger.queue(group, f"B-{b}", printer, who)
            ledger.transition(group, State.PRINTED, who, batch=f"B-{b}", printer=printer,
                              blanks=serials)  # fmt: skip
        self.spoiled = {self.cards[0]: "chip gagal", self.cards[20]: "chip gagal",
                        self.cards[40]: "hasil cetak buram"}  # fmt: skip
        for nik, cause in self.spoiled.items():
            ledger.transition([nik], State.PRINT_READY, CLERK, reason=cause)
        jammed = ledger.blanks.allocate("JAM", 1, OPERATOR)
        ledger.blanks.move(jammed, BlankState.SPOILED, OPERATOR, reason="macet di printer")
        self.good = [n for n in self.cards if n not in self.spoiled]
        ledger.transition(self.good, State.ENCODED, OPERATOR)
        ledger.transition(self.good, State.QC_PASSED, OPERATOR)
        self.manifests = {m.kecamatan: m for m in ledger.distribution.build(OPERATOR)}
        for m in self.manifests.values():
            ledger.distribution.dispatch(m.id, OPERATOR)
            ledger.distribution.receive(m.id, "Hendra Gunawan", m.count, OPERATOR)
        self.kelurahan = {
            m.to_kelurahan: m
            for m in ledger.distribution.build_kelurahan(OPERATOR, kecamatan="Bogor Selatan")
        }
        empang = self.kelurahan["Empang"]
        ledger.distribution.dispatch(empang.id, OPERATOR)
        ledger.distribution.receive(empang.id, "Ibu Lurah", empang.count, LURAH)
        self.at_empang = [str(n) for n in empang.kelurahan["Empang"]]
        ledger.distribution.hand_over(
            self.at_empang[0], LURAH, identity_check="KTP lama diserahkan, foto cocok"
        )
        ledger.distribution.hand_over(
            self.at_empang[1], LURAH, identity_check="KK diperiksa", receiver="Rahmat (suami)"
        )
        self.at_tengah = self.manifests["Bogor Tengah"].kelurahan["Paledang"][0]
        ledger.distribution.hand_over(self.at_tengah, OPERATOR, identity_check="foto cocok")
        serials = ledger.queue(self.doubtful, "B-N", "P2", CLERK)
        with ledger.transaction(CLERK) as tx:
            for nik, serial in zip(self.doubtful, serials, strict=True):
                tx.journal.sent(int(nik), "B-N", "P2", serial)
        with ledger.transaction(SUPERVISOR) as tx:
            tx.journal.recover(reason="station P2 mati listrik", batch="B-N")
        ledger.settle(self.doubtful[0], SUPERVISOR, printed=False, note="tidak ada di tray")
        self.ended = dt.datetime.now(WIB)


@pytest.fixture
def bureau(ledger_location: str) -> Iterator[Bureau]:
    with Ledger(ledger_location) as ledger:
        yield Bureau(ledger)


def _masked(nik: str) -> str:
    return f"{nik[:4]}{'*' * 10}{nik[-2:]}"


def _initials(name: str) -> str:
    return " ".join(f"{w[0]}." for w in name.split())


def test_a_manifest_lists_every_card_masked_by_kelurahan_with_counts_and_pages(
    bureau: Bureau,
) -> None:
    ledger, selatan = bureau.ledger, bureau.manifests["Bogor Selatan"]
    pdf = docs.manifest_pdf(ledger, selatan.id, bureau=BUREAU)
    pages = _pages(pdf)
    text = "\n".join(pages)
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Halaman {number} dari {len(pages)}" in page
        assert "DINAS KEPENDUDUKAN DAN PENCATATAN SIPIL" in page
        assert f"Manifes No. {selatan.id}" in page
    assert "Dinas Dukcapil Kota Bogor kepada Kecamatan Bogor Selatan" in text
    assert "Kelurahan Empang: 77 kartu" in text  # three of its 80 cards were spoiled
    assert "Kelurahan Batutulis: 12 kartu" in text
    assert "Kelurahan Cikaret: 5 kartu" in text
    assert "Jumlah seluruhnya: 94 kartu untuk 3 kelurahan." in text
    assert "Hendra Gunawan" in text  # the receiver, once received
    cards = {str(r.nik): r for r in ledger.distribution.cards(selatan.id)}
    assert len(cards) == 94
    for nik in cards:
        assert _masked(nik) in text
        assert nik not in text  # never the full NIK
        assert bureau.names[nik] not in text  # nor the full name
    # Each card's row (masked NIK, initials, blank serial: two cards may share a masked
    # NIK, never a serial). A page holding a kelurahan's rows holds its heading too: a page
    # break never leaves rows without the kelurahan they belong to.
    rows = {
        nik: f"{_masked(nik)} {_initials(bureau.names[nik])} {record.card_serial}"
        for nik, record in cards.items()
    }
    for nik, record in cards.items():
        on = [page for page in pages if rows[nik] in page]
        assert len(on) == 1
        assert f"Kelurahan {record.kelurahan}:" in on[0]
    empang = [p for p in pages if any(rows[n] in p for n, r in cards.items()
                                      if r.kelurahan == "Empang")]  # fmt: skip
    assert len(empang) >= 2  # Empang's list runs over pages, its heading on each
    assert sum("Kelurahan Empang: 77 kartu" in page for page in pages) == len(empang)
    assert len(re.findall(r"\( \.{10,} \)", text)) == 1  # the sender signs by hand
    assert "Yang menerima," in pages[-1]
    assert any(row in pages[-1] for row in rows.values())  # the signatures under cards


def test_a_kelurahan_manifest_names_its_route_and_prints_on_a_path(
    bureau: Bureau, tmp_path: Path
) -> None:
    batutulis = bureau.kelurahan["Batutulis"]
    path = tmp_path / "manifest.pdf"
    pdf = docs.manifest_pdf(bureau.ledger, batutulis.id, bureau=BUREAU, path=path)
    assert path.read_bytes() == pdf
    (page,) = _pages(pdf)
    assert "Kecamatan Bogor Selatan kepada Kelurahan Batutulis" in page
    assert "disiapkan, belum dikirim" in page
    assert "Kelurahan Batutulis: 12 kartu" in page
    assert "Halaman 1 dari 1" in page
    assert len(re.findall(r"\( \.{10,} \)", page)) == 2  # nobody has received it yet
    with pytest.raises(InvalidArgumentError, match="no manifest"):
        docs.manifest_pdf(bureau.ledger, 9999, bureau=BUREAU)


def test_the_handover_record_names_the_citizen_with_the_full_nik_each_on_its_own_pages(
    bureau: Bureau,
) -> None:
    ledger = bureau.ledger
    own, collected = bureau.at_empang[:2]
    pdf = docs.handover_pdf(ledger, [own, collected, str(bureau.at_tengah)], bureau=BUREAU)
    first, second, third = _pages(pdf)
    for page in (first, second, third):
        assert "BERITA ACARA SERAH TERIMA" in page
        assert "Halaman 1 dari 1" in page  # each record numbered on its own
    assert own in first
    assert bureau.names[own] in first
    assert "Kantor Kelurahan Empang, Kecamatan Bogor Selatan" in first
    assert "KTP lama diserahkan, foto cocok" in first
    assert "pemilik KTP-el, menerima sendiri" in first
    assert "Dedi Kurniawan" in first
    assert str(ledger.where_is(own).card_serial) in first
    assert f"( {bureau.names[own]} )" in first  # the citizen signs
    assert "Rahmat (suami)" in second
    assert f"menerima atas nama pemilik KTP-el, {bureau.names[collected]}" in second
    assert "( Rahmat (suami) )" in second
    assert "Kantor Kecamatan Bogor Tengah" in third
    masked = _pages(docs.handover_pdf(ledger, own, bureau=BUREAU, full_nik=False))[0]
    assert own not in masked
    assert _masked(own) in masked
    with pytest.raises(InvalidArgumentError, match="no hand-over"):
        docs.handover_pdf(ledger, bureau.at_empang[2], bureau=BUREAU)
    with pytest.raises(InvalidArgumentError):
        docs.handover_pdf(ledger, ["not a NIK"], bureau=BUREAU)


def _shift_of(ledger: Ledger, started: dt.datetime, ended: dt.datetime) -> docs.ProductionReport:
    """The report of the shift the work from ``started`` to ``ended`` (WIB) was done in."""
    day = (started - dt.timedelta(hours=8)).date()  # a night shift's first day
    report = docs.shift_report(ledger, day, night=not 8 <= started.hour < 20)
    assert report.start <= started
    if ended >= report.end:
        pytest.skip("the ledger's work crossed a shift change")
    return report


def _shift(bureau: Bureau) -> docs.ProductionReport:
    return _shift_of(bureau.ledger, bureau.started, bureau.ended)


def test_the_shift_report_counts_printing_spoils_blanks_ribbons_doubt_and_operators(
    bureau: Bureau,
) -> None:
    report = _shift(bureau)
    assert len(report.printed) == 105
    assert report.printed_by("printer") == {"P1": 60, "P2": 45}
    assert report.printed_by("operator") == {"Sri Wahyuni": 45, "ani": 60}
    assert report.spoiled_by_cause() == {
        "chip gagal": 2,
        "hasil cetak buram": 1,
        "macet di printer": 1,
        "in-doubt resolution: tidak ada di tray": 1,
    }
    assert report.blank_moves["diterima"] == 200
    assert report.blank_moves["terpakai"] == 105
    assert report.stock_start == dict.fromkeys(BlankState, 0)  # the lot came in this shift
    assert report.stock_end == bureau.ledger.blanks.counts() | {
        s: 0 for s in BlankState if s not in bureau.ledger.blanks.counts()
    }
    assert sum(report.stock_end.values()) == 200
    assert [r.printer for r in report.ribbons_installed] == ["P1", "P2", "P1"]
    assert report.ribbons_installed[0].removed_at is not None
    assert {p: r.remaining for p, r in report.ribbons_now.items() if r} == {"P1": 460, "P2": 455}
    assert [str(c.nik) for c in report.in_doubt_entered] == bureau.doubtful
    assert [(str(c.nik), c.outcome) for c in report.in_doubt_settled] == [
        (bureau.doubtful[0], State.PRINT_READY)
    ]
    assert [str(c.nik) for c in report.in_doubt_open] == bureau.doubtful[1:]
    assert report.operators["ani"]["dicetak"] == 60
    assert report.operators["Sri Wahyuni"]["rusak"] == 3
    assert report.operators["budi"] == {"diragukan": 2, "rusak": 1}
    assert report.operators["Dedi Kurniawan"]["diserahkan"] == 2


def test_the_shift_report_as_pdf_with_its_chart_and_as_csv(bureau: Bureau, tmp_path: Path) -> None:
    report = _shift(bureau)
    pdf = docs.report_pdf(report, bureau=BUREAU)
    pages = _pages(pdf)
    text = "\n".join(pages)
    for number, page in enumerate(pages, start=1):
        assert f"Halaman {number} dari {len(pages)}" in page
    assert f"LAPORAN PRODUKSI KTP-EL SHIFT {report.kind.upper()}" in text
    assert "Kartu dicetak 105" in text
    assert "Blangko rusak 5" in text
    assert "2 masuk, 1 diselesaikan; 1 masih diragukan" in text
    assert "chip gagal 2" in text
    assert _masked(bureau.doubtful[1]) in text
    assert not any(nik in text for nik in bureau.niks)  # no full NIK
    assert not any(name in text for name in bureau.names.values())  # no citizen's name
    assert "Dibuat oleh," in pages[-1]
    assert "Per operator" in pages[-1]  # the signatures stay with the last table
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages[0].images) == 1  # the chart
    plain = PdfReader(io.BytesIO(docs.report_pdf(report, bureau=BUREAU, chart=False)))
    assert sum(len(page.images) for page in plain.pages) == 0
    png = docs.report_chart(report, path=tmp_path / "chart.png")
    assert png.startswith(b"\x89PNG")
    assert (tmp_path / "chart.png").read_bytes() == png

    text_csv = docs.report_csv(report, path=tmp_path / "shift.csv")
    assert (tmp_path / "shift.csv").read_text(encoding="utf-8") == text_csv
    rows = list(csv.DictReader(io.StringIO(text_csv)))
    assert not any(nik in text_csv for nik in bureau.niks)

    def total(section: str, **match: str) -> int:
        return sum(
            int(r["jumlah"])
            for r in rows
            if r["bagian"] == section and all(r[k] == v for k, v in match.items())
        )

    assert total("dicetak") == 105
    assert total("dicetak", printer="P1") == 60
    assert total("rusak", rincian="chip gagal") == 2
    assert total("blangko", rincian="terpakai") == 105
    assert total("stok_akhir") == 200
    assert total("pita_dipasang") == 3
    assert total("pita_sisa", printer="P2") == 455
    assert total("diragukan_masuk") == 2
    assert total("diragukan_terbuka") == 1
    assert total("operator", rincian="diserahkan", operator="Dedi Kurniawan") == 2
    assert {r["periode"] for r in rows} == {report.kind}


def test_the_day_report_is_its_two_shifts(bureau: Bureau) -> None:
    shift = _shift(bureau)
    report = docs.day_report(bureau.ledger, shift.start.date())  # a night shift: its first day
    assert [s.kind for s in report.shifts] == ["pagi", "malam"]
    assert report.end - report.start == dt.timedelta(hours=24)
    assert len(report.printed) == sum(len(s.printed) for s in report.shifts) == 105
    assert report.stock_start == report.shifts[0].stock_start
    assert report.stock_end == report.shifts[1].stock_end
    text = "\n".join(_pages(docs.report_pdf(report, bureau=BUREAU, chart=False)))
    assert "LAPORAN HARIAN PRODUKSI KTP-EL" in text
    assert f"Shift {shift.kind} 105" in text
    rows = list(csv.DictReader(io.StringIO(docs.report_csv(report))))
    assert rows[0]["periode"] == "pagi"
    assert {r["periode"] for r in rows} == {"pagi", "malam", "harian"}
    by_period = {
        p: sum(int(r["jumlah"]) for r in rows if r["periode"] == p and r["bagian"] == "dicetak")
        for p in ("pagi", "malam", "harian")
    }
    assert by_period["pagi"] + by_period["malam"] == by_period["harian"] == 105


def test_a_sealed_ledger_prints_the_same_documents(ledger_location: str, tmp_path: Path) -> None:
    keys = KeyFile.create(tmp_path / "ledger.keys")
    with Ledger(ledger_location, keys=keys) as ledger:
        sealed = Bureau(ledger)
        selatan = sealed.manifests["Bogor Selatan"]
        text = "\n".join(_pages(docs.manifest_pdf(ledger, selatan.id, bureau=BUREAU)))
        nik = str(ledger.distribution.cards(selatan.id)[0].nik)
        assert f"{_masked(nik)} {_initials(sealed.names[nik])}" in text
        own = sealed.at_empang[0]
        (page,) = _pages(docs.handover_pdf(ledger, own, bureau=BUREAU))
        assert own in page
        assert sealed.names[own] in page
        assert "KTP lama diserahkan, foto cocok" in page


def test_the_csv_keeps_a_cause_typed_as_a_formula_as_text(ledger_location: str) -> None:
    with Ledger(ledger_location) as ledger:
        started = dt.datetime.now(WIB)
        ledger.blanks.receive("LOT-1", 1, 10, SUPERVISOR)
        jammed = ledger.blanks.allocate("B-1", 2, OPERATOR)
        ledger.blanks.move(jammed[:1], BlankState.SPOILED, OPERATOR, reason="=HYPERLINK(1)")
        ledger.blanks.move(jammed[1:], BlankState.SPOILED, OPERATOR, reason="-kusut")
        report = _shift_of(ledger, started, dt.datetime.now(WIB))
        rows = list(csv.DictReader(io.StringIO(docs.report_csv(report))))
        causes = sorted(r["rincian"] for r in rows if r["bagian"] == "rusak")
        assert causes == ["'-kusut", "'=HYPERLINK(1)"]
        assert report.spoiled_by_cause() == {"=HYPERLINK(1)": 1, "-kusut": 1}


def test_a_card_in_doubt_found_printed_counts_as_printed(ledger_location: str) -> None:
    """The report's cards printed agree with its blanks used: a card that went in doubt and
    was found whole in the tray is one of the cards printed, by whoever sent it."""
    niks = [str(v) for v in ektpcore.sample_niks(3, seed=1616)]
    with Ledger(ledger_location) as ledger:
        started = dt.datetime.now(WIB)
        ledger.add_records(niks, OPERATOR, state=State.PRINT_READY, kecamatan=["Bogor Barat"] * 3)
        ledger.blanks.receive("LOT", 1, 10, SUPERVISOR)
        ledger.ribbons.install("P1", "YMCKO", 500, OPERATOR)
        serials = ledger.queue(niks, "B-1", "P1", CLERK)
        ledger.transition(
            niks[:1], State.PRINTED, CLERK, batch="B-1", printer="P1", blanks=serials[:1]
        )
        with ledger.transaction(CLERK) as tx:
            for nik, serial in zip(niks[1:], serials[1:], strict=True):
                tx.journal.sent(int(nik), "B-1", "P1", serial)
        with ledger.transaction(CLERK) as tx:
            tx.journal.recover(reason="printer stopped answering", batch="B-1")
        ledger.settle(niks[1], SUPERVISOR, printed=True, note="found whole in the tray")
        report = _shift_of(ledger, started, dt.datetime.now(WIB))
        assert len(report.printed) == 2 == report.blank_moves["terpakai"]
        assert report.printed_by("printer") == {"P1": 2}
        assert report.operators["Sri Wahyuni"]["dicetak"] == 2
        assert [str(c.nik) for c in report.in_doubt_open] == niks[2:]


def test_every_document_is_a_new_private_file_never_one_written_over_nor_a_link(
    bureau: Bureau, tmp_path: Path
) -> None:
    """A berita acara holds a citizen's full NIK, name and identity check: each document is
    made mode 0600 whatever the umask, an existing file is refused and left as it was, and a
    symbolic link planted where the file is expected (pointing nowhere, or at a file) is
    refused without writing through it."""
    ledger, own = bureau.ledger, bureau.at_empang[0]
    report = _shift(bureau)
    writers = {
        "berita-acara.pdf": lambda p: docs.handover_pdf(ledger, own, bureau=BUREAU, path=p),
        "manifest.pdf": lambda p: docs.manifest_pdf(
            ledger, bureau.kelurahan["Batutulis"].id, bureau=BUREAU, path=p
        ),
        "report.pdf": lambda p: docs.report_pdf(report, bureau=BUREAU, path=p),
        "report.csv": lambda p: docs.report_csv(report, path=p),
        "chart.png": lambda p: docs.report_chart(report, path=p),
    }
    old = os.umask(0o022)
    try:
        for name, write in writers.items():
            path = tmp_path / name
            write(path)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
            before = path.read_bytes()
            with pytest.raises(FileExistsError, match=re.escape(str(path))):
                write(path)
            assert path.read_bytes() == before  # neither written over nor removed
            dangling, target = tmp_path / f"link-{name}", tmp_path / f"elsewhere-{name}"
            dangling.symlink_to(target)
            with pytest.raises(FileExistsError):
                write(dangling)
            assert not target.exists()  # nothing written through the link
            decoy = tmp_path / f"decoy-{name}"
            decoy.write_bytes(b"someone else's")
            aimed = tmp_path / f"aimed-{name}"
            aimed.symlink_to(decoy)
            with pytest.raises(FileExistsError):
                write(aimed)
            assert decoy.read_bytes() == b"someone else's"
    finally:
        os.umask(old)
