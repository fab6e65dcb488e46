"""The operator console in a real browser: Debian's Chromium driven by Playwright, against
the console served by uvicorn on 127.0.0.1 and two virtual printers (one jams on its third
card, the other drops its connection on its second). An operator signs in, clicks "Print next
batch" on both printers and watches both runs end on the page, prints the jammed printer's
rest; a supervisor settles the card in doubt; the ledger afterwards: every blank accounted
for, the history verified, one valid card per printed record. Screenshots of each page are
written under the test's folder (and to ``EKTPCORE_CONSOLE_SCREENSHOTS`` when it is set, as
docs/console.md's pictures are made)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ektpcore import Printer, PrinterSetup, State
from ektpcore.console import create_app, open_console
from ektpcore.printing import Faults, VirtualPrinter

from ._console import PASSWORD, bureau

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None
)


def _browser_or_skip() -> Any:
    """Playwright's sync API, or a skip where no browser is installed; never a skip under CI,
    which installs Chromium (.ci/run)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if CHROMIUM is None or sync_playwright is None:
        missing = "Debian's chromium" if CHROMIUM is None else "the playwright package"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} is not installed; .ci/run installs it")
        pytest.skip(
            f"{missing} is not installed (apt-get install chromium; pip install playwright)"
        )
    return sync_playwright


class Server:
    """The console served by uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return f"http://127.0.0.1:{self.port}"
            time.sleep(0.05)
        raise AssertionError("the console did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def screens(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "screens"
    folder.mkdir()
    yield folder
    also = os.environ.get("EKTPCORE_CONSOLE_SCREENSHOTS")
    if also:
        for picture in folder.glob("*.png"):
            shutil.copy(picture, Path(also) / picture.name)


def test_an_operator_prints_two_printers_and_a_supervisor_settles_the_card_in_doubt(
    tmp_path: Path, screens: Path
) -> None:
    sync_playwright = _browser_or_skip()
    location, niks = bureau(tmp_path, per_printer=8, extra_ready=4)
    with (
        VirtualPrinter(seconds_per_card=0.15, faults=Faults(jam_at={3})) as p1,
        VirtualPrinter(seconds_per_card=0.15, faults=Faults(drop_after_cards=2)) as p2,
    ):
        addresses = {"P1": "{}:{}".format(*p1.address), "P2": "{}:{}".format(*p2.address)}
        rates = PrinterSetup((Printer("P1", cards_per_hour=120), Printer("P2", cards_per_hour=90)))
        console = open_console(location, printers=rates, addresses=addresses, photo_check=False)
        with Server(create_app(console)) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                _the_day(browser, url, screens, console)
            finally:
                browser.close()
        console.stations.stop_all()
        ledger = console.ledger
        # The ledger afterwards.
        assert ledger.journal.in_doubt() == []
        assert ledger.blanks.reconcile().balanced
        assert ledger.verify().ok
        printed = ledger.records(State.IN_TRANSIT_TO_KECAMATAN)
        # P1: eight cards, one jammed (back to PRINT_READY, its blank spoiled), seven printed;
        # P2: one printed, one in doubt settled as printed, six still queued. The nine
        # passed quality control and left on one manifest.
        assert len(printed) == 9
        manifests = ledger.distribution.manifests()
        assert [(m.count, m.state.value) for m in manifests] == [(9, "DISPATCHED")]
        serials = [r.card_serial for r in printed]
        assert None not in serials
        assert len(set(serials)) == len(serials)  # one valid card per record, each its own blank
        assert len(p1.cards) == 7
        assert sum(1 for n in niks[:8] if ledger.state_of(n) is State.PRINT_READY) == 1
        assert sum(1 for n in niks[8:16] if ledger.state_of(n) is State.QUEUED) == 6
        for record in printed:
            actors = {h.actor for h in ledger.history(int(record.nik))}
            assert actors <= {"ani", "budi"}
        # The cancellation asked for waits; the administrator's new user is in the ledger.
        assert [a.target for a in ledger.approvals.waiting()] == [State.CANCELLED]
        assert "sari" in {u.name for u in ledger.users.list()}
        ledger.close()
    pictures = sorted(p.name for p in screens.glob("*.png"))
    assert len(pictures) >= 18, pictures


def _until(condition: Any, seconds: float = 30.0) -> None:
    """Waits for ``condition()`` (polled from the test: the page's policy forbids the
    evaluated scripts Playwright's own polling uses)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the page never got there"
        time.sleep(0.1)


def _the_day(browser: Any, url: str, screens: Path, console: Any) -> None:
    operator = browser.new_context(viewport={"width": 1280, "height": 860}, locale="id-ID")
    page = operator.new_page()
    page.goto(f"{url}/")
    page.wait_for_url("**/login")
    page.screenshot(path=str(screens / "01-masuk.png"))
    page.fill("input[name=name]", "ani")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{url}/")
    page.screenshot(path=str(screens / "02-ringkasan.png"), full_page=True)
    page.click("nav >> text=Antrean")
    page.wait_for_url(f"{url}/queue")
    page.screenshot(path=str(screens / "03-antrean.png"), full_page=True)
    # One click on each printer.
    page.click("#printer-P1 >> text=Cetak batch berikutnya")
    page.wait_for_url(f"{url}/queue")
    page.click("#printer-P2 >> text=Cetak batch berikutnya")
    page.wait_for_url(f"{url}/queue")
    # The live figures move on the page while P1 prints.
    _until(lambda: int(page.inner_text("#printer-P1 [data-field=printed]")) >= 1)
    page.screenshot(path=str(screens / "04-mencetak.png"), full_page=True)
    # Both runs end (the page reloads itself when a run ends): P1 at its jam, P2 at the drop.
    for printer in ("P1", "P2"):
        page.wait_for_selector(f"#printer-{printer} .progress[data-state=failed]", timeout=60_000)
    text = page.inner_text("#printer-P1")
    assert "jammed" in text
    assert "connection lost" in page.inner_text("#printer-P2")
    page.screenshot(path=str(screens / "05-berhenti.png"), full_page=True)
    # The jam cleared, the rest of P1's batch is printed with one more click.
    page.click("#printer-P1 >> text=Cetak batch berikutnya")
    page.wait_for_selector(
        "#printer-P1:not([data-watch]) .progress[data-state=finished]", timeout=60_000
    )
    assert page.inner_text("#printer-P1 [data-field=remaining]").strip() == "0"
    page.screenshot(path=str(screens / "06-selesai.png"), full_page=True)
    page.click("nav >> text=Diragukan")
    assert "Hanya supervisor" in page.inner_text("main")
    assert page.query_selector("form.settle") is None
    page.click("nav >> text=Hari ini")
    page.screenshot(path=str(screens / "07-ringkasan-sore.png"), full_page=True)
    operator.close()

    supervisor = browser.new_context(viewport={"width": 1280, "height": 860})
    page = supervisor.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=name]", "budi")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{url}/")
    page.click("nav >> text=Diragukan")
    row = page.locator("tr[id^=blank-]")
    assert row.count() == 1
    page.screenshot(path=str(screens / "08-diragukan.png"), full_page=True)
    row.locator("input[value=printed]").check()
    row.locator("input[name=note]").fill("ditemukan utuh di baki keluaran")
    row.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}/in-doubt")
    assert "PRINTED" in page.inner_text(".message.ok")
    assert page.locator("tr[id^=blank-]").count() == 0
    page.screenshot(path=str(screens / "09-diselesaikan.png"), full_page=True)
    # A record found by NIK: masked, then shown in full with the showing recorded.
    nik = str(console.ledger.records(State.PRINTED)[0].nik)
    page.click("nav >> text=Rekaman")
    page.fill("input[name=nik]", nik)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{url}/records/**")
    assert nik not in page.content()
    page.screenshot(path=str(screens / "10-rekaman.png"), full_page=True)
    # Quality control: both batches' printed cards pass; a manifest is built and dispatched.
    page.click("nav >> text=Kontrol mutu")
    page.screenshot(path=str(screens / "11-kontrol-mutu.png"), full_page=True)
    for batch in ("B-P1", "B-P2"):
        page.click(f"form[action='/qc/{batch}/pass'] button")
        page.wait_for_url(f"{url}/qc")
    page.click("a[href^='/lang/en']")
    page.click("nav >> text=Distribution")
    page.click("text=Build manifests for the kecamatan")
    page.wait_for_url(f"{url}/distribution")
    pdf = page.request.get(f"{url}/distribution/1.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    page.click("form[action='/distribution/dispatch'] button")
    page.wait_for_url(f"{url}/distribution")
    page.screenshot(path=str(screens / "12-distribution-en.png"), full_page=True)
    page.click("nav >> text=Stock")
    page.screenshot(path=str(screens / "13-stock-en.png"), full_page=True)
    page.click("nav >> text=Reports")
    chart = page.locator("img.chart")
    _until(lambda: chart.evaluate("img => img.complete && img.naturalWidth > 0"))
    page.screenshot(path=str(screens / "14-reports-en.png"), full_page=True)
    # A tablet held upright: the same queue, its buttons within reach.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.click("nav >> text=Queue")
    assert page.locator("#printer-P2 button.primary").is_visible()
    page.screenshot(path=str(screens / "15-queue-tablet.png"), full_page=True)
    # A card on its way is asked to be cancelled: a request another person decides.
    page.set_viewport_size({"width": 1280, "height": 860})
    page.click("nav >> text=Records")
    page.fill("input[name=nik]", nik)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{url}/records/**")
    form = page.locator("form[action$='/cancel']")
    form.locator("input[name=reason]").fill("data belongs to another citizen")
    page.screenshot(path=str(screens / "16-cancel-request-en.png"), full_page=True)
    form.locator("button[type=submit]").click()
    assert "waits for another person's approval" in page.inner_text(".message.ok")
    page.click("nav >> text=Approvals")
    assert page.locator("tr[id^=request-]").count() == 1
    page.screenshot(path=str(screens / "17-approvals-en.png"), full_page=True)
    supervisor.close()
    # The administrator adds a person and sees every user.
    admin = browser.new_context(viewport={"width": 1280, "height": 860}, locale="id-ID")
    page = admin.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=name]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{url}/")
    page.click("nav >> text=Pengguna")
    form = page.locator("form[action='/users/add']")
    form.locator("input[name=name]").fill("sari")
    form.locator("select[name=role]").select_option("supervisor")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}/users")
    assert page.locator("tr[data-user=sari]").count() == 1
    page.screenshot(path=str(screens / "18-pengguna.png"), full_page=True)
    admin.close()
