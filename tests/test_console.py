"""The operator console without a browser (Starlette's test client): sign-in and its limit,
cookies and security headers, CSRF on every form, what each role sees and may do, NIKs
masked with every full showing recorded, holds, stations printing at virtual printers with
their progress, pause and stop, cards in doubt settled, distribution, reports, the language,
and the ``ektpcore console`` command's refusals."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from ektpcore import FileAnchor, Ledger, Role, State
from ektpcore.cli import main
from ektpcore.console import Console, create_app, open_console
from ektpcore.console.i18n import INDONESIAN
from ektpcore.nik import mask_nik
from ektpcore.printing import Faults, VirtualPrinter

from ._console import PASSWORD, bureau

TEMPLATES = Path(__file__).parents[1] / "python" / "ektpcore" / "console" / "templates"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class Desk:
    """One browser at the console: its own cookies, signed in as ``name``."""

    def __init__(self, console: Console, name: str | None = None) -> None:
        self.client = TestClient(create_app(console), base_url="http://127.0.0.1")
        self.client.__enter__()
        if name is not None:
            response = self.sign_in(name)
            assert response.status_code == 303, response.text

    def sign_in(self, name: str, password: str = PASSWORD) -> Any:
        token = _csrf(self.client.get("/login").text)
        return self.client.post(
            "/login",
            data={"name": name, "password": password, "csrf": token},
            follow_redirects=False,
        )

    def get(self, path: str) -> Any:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, str] | None = None, *, page: str = "/") -> Any:
        """Posts a form as the page ``page`` holds it, with that page's CSRF token."""
        token = _csrf(self.get(page).text)
        return self.client.post(path, data={"csrf": token, **(data or {})}, follow_redirects=False)

    def close(self) -> None:
        self.client.__exit__(None, None, None)


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[str, list[int], dict[str, VirtualPrinter]]]:
    location, niks = bureau(tmp_path)
    with VirtualPrinter() as p1, VirtualPrinter(faults=Faults(drop_after_cards=2)) as p2:
        yield location, niks, {"P1": p1, "P2": p2}


@pytest.fixture
def console(office: tuple[str, list[int], dict[str, VirtualPrinter]]) -> Iterator[Console]:
    location, _, printers = office
    addresses = {name: "{}:{}".format(*p.address) for name, p in printers.items()}
    made = open_console(location, addresses=addresses, photo_check=False)
    try:
        yield made
    finally:
        made.stations.stop_all()
        made.ledger.close()


def _wait(desk: Desk, printer: str) -> dict[str, Any]:
    for _ in range(600):  # bounded: a run of six cards ends long before
        progress: dict[str, Any] = desk.get(f"/printers/{printer}/progress.json").json()
        if not progress["active"]:
            return progress
        time.sleep(0.1)
    raise AssertionError(f"{printer} never finished: {progress}")


# -- sign-in, cookies, headers -----------------------------------------------------------------


def test_pages_need_a_sign_in_and_the_cookie_is_httponly_and_samesite(console: Console) -> None:
    desk = Desk(console)
    for path in ("/", "/queue", "/in-doubt", "/records", "/distribution", "/stock"):
        assert desk.get(path).headers["location"] == "/login"
    assert desk.get("/printers/P1/progress.json").status_code == 401
    refused = desk.sign_in("ani", "not the password at all")
    assert refused.status_code == 401
    assert "Gagal masuk" in refused.text  # Bahasa Indonesia by default
    assert "ektpcore_session" not in refused.headers.get("set-cookie", "")
    signed = desk.sign_in("ani")
    cookie = signed.headers["set-cookie"]
    assert "ektpcore_session=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    page = desk.get("/")
    assert page.status_code == 200
    assert "ani" in page.text
    desk.close()


def test_every_page_carries_the_security_headers(console: Console) -> None:
    desk = Desk(console, "ani")
    for path in ("/login", "/", "/queue", "/records"):
        headers = desk.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"
    static = desk.get("/static/console.css")
    assert static.status_code == 200
    assert "cache-control" not in static.headers
    desk.close()


def test_failed_sign_ins_are_limited_per_user_whatever_the_password(console: Console) -> None:
    desk = Desk(console)
    for _ in range(5):
        assert desk.sign_in("budi", "a wrong password here").status_code == 401
    blocked = desk.sign_in("budi")  # the right password, too late
    assert blocked.status_code == 429
    assert "Terlalu banyak" in blocked.text
    # Another user is not blocked by budi's failures, from another address.
    console.limiter.succeeded("address:testclient")
    other = Desk(console)
    assert other.sign_in("ani").status_code == 303
    desk.close()
    other.close()


def test_sign_out_ends_the_session_and_the_ledgers_sign_in(console: Console) -> None:
    desk = Desk(console, "ani")
    assert desk.post("/logout").headers["location"] == "/login"
    assert desk.get("/").headers["location"] == "/login"
    assert console.sessions.all() == []


# -- CSRF --------------------------------------------------------------------------------------


def test_every_form_is_refused_without_its_csrf_token(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    ani, budi = Desk(console, "ani"), Desk(console, "budi")
    posts = [
        "/printers/P1/start",
        "/printers/P1/stop",
        "/in-doubt/1001/settle",
        "/records/find",
        "/distribution/build",
        "/stock/blanks",
        "/stock/ribbon",
        "/logout",
    ]
    for path in posts:
        for token in (None, "", "forged", _csrf(budi.get("/").text)):  # none, or another's
            data = {} if token is None else {"csrf": token}
            response = ani.client.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, (path, token, response.status_code)
    # A form posted from another site (the Origin header) is refused even with the token.
    token = _csrf(ani.get("/").text)
    response = ani.client.post(
        "/printers/P1/start",
        data={"csrf": token},
        headers={"origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    # The sign-in form too: no visitor cookie, or a token of another visitor.
    fresh = Desk(console)
    response = fresh.client.post(
        "/login", data={"name": "ani", "password": PASSWORD, "csrf": "x"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert console.stations.progress("P1") is None  # nothing was started
    assert office[2]["P1"].cards == []
    for desk in (ani, budi, fresh):
        desk.close()


# -- roles -------------------------------------------------------------------------------------


def test_each_role_sees_only_the_buttons_it_may_use(console: Console) -> None:
    wati, ani, budi = Desk(console, "wati"), Desk(console, "ani"), Desk(console, "budi")
    # The auditor reads every page, and has no button that changes anything.
    for path in ("/", "/queue", "/in-doubt", "/distribution", "/stock"):
        text = wati.get(path).text
        assert "Cetak batch berikutnya" not in text
        assert 'action="/printers/' not in text
        assert "/settle" not in text
        assert 'action="/distribution/build"' not in text
        assert 'action="/stock/' not in text
    assert wati.post("/printers/P1/start").status_code == 403
    assert wati.post("/distribution/build").status_code == 403
    assert (
        wati.post("/stock/ribbon", {"printer": "P1", "kind": "Y", "capacity": "9"}).status_code
        == 403
    )
    # The operator prints and installs ribbons; receiving blanks and settling are a supervisor's.
    queue = ani.get("/queue").text
    assert 'action="/printers/P1/start"' in queue
    assert "Cetak batch berikutnya" in queue
    stock = ani.get("/stock").text
    assert 'action="/stock/ribbon"' in stock
    assert 'action="/stock/blanks"' not in stock
    assert (
        ani.post("/stock/blanks", {"reference": "L", "first": "5000", "last": "5009"}).status_code
        == 403
    )
    assert "/settle" not in ani.get("/in-doubt").text
    assert ani.post("/in-doubt/1001/settle", {"outcome": "printed", "note": "x"}).status_code == 403
    # The supervisor receives blanks (attributed to budi in the ledger).
    assert 'action="/stock/blanks"' in budi.get("/stock").text
    done = budi.post(
        "/stock/blanks", {"reference": "LOT-2", "first": "5000", "last": "5009"}, page="/stock"
    )
    assert done.status_code == 303
    lots = console.ledger.blanks.lots()
    assert [(lot.reference, lot.received_by) for lot in lots][-1] == ("LOT-2", "budi")
    for desk in (wati, ani, budi):
        desk.close()


# -- records: masked, each showing recorded ----------------------------------------------------


def test_a_record_is_shown_masked_and_each_full_showing_is_recorded(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    nik = office[1][-1]
    ani = Desk(console, "ani")
    found = ani.post("/records/find", {"nik": str(nik)}, page="/records")
    assert found.status_code == 303
    where = found.headers["location"]
    assert str(nik) not in where  # URLs carry a handle, never the NIK
    page = ani.get(where).text
    assert mask_nik(nik) in page
    assert str(nik) not in page
    assert "Warga Contoh" not in page  # the name is not on the page either
    assert "PRINT_READY" in page
    assert console.ledger.reveals(nik) == []
    # Without a purpose nothing is shown, and nothing recorded.
    refused = ani.post(f"{where}/reveal", {"purpose": "Budi asked, his neighbour"}, page=where)
    assert refused.status_code == 303
    assert console.ledger.reveals(nik) == []
    shown = ani.post(f"{where}/reveal", {"purpose": "citizen at the desk"}, page=where)
    assert shown.status_code == 200
    assert str(nik) in shown.text
    assert "Warga Contoh" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    reveals = console.ledger.reveals(nik)
    assert [(r.actor, r.role, r.purpose) for r in reveals] == [
        ("ani", "OPERATOR", "citizen at the desk")
    ]
    assert console.ledger.verify().ok
    # The record's page lists the showing; the next view is masked again.
    again = ani.get(where).text
    assert str(nik) not in again
    assert "penduduk di loket" in again  # the purpose, in the page's language
    # A handle of one session means nothing in another.
    budi = Desk(console, "budi")
    assert budi.get(where).status_code == 404
    # An invalid or unknown NIK is one line, masked.
    for typed in ("3271abc", "3201010101900001"):
        back = ani.post("/records/find", {"nik": typed}, page="/records")
        assert back.headers["location"] == "/records"
        page = ani.get("/records").text
        assert re.search(r'class="message error"[^>]*>[^<]+<', page), typed
        assert "3201010101900001" not in page  # an unknown NIK is named masked
    ani.close()
    budi.close()


def test_hold_by_an_operator_and_release_by_a_supervisor_attributed_to_each(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    nik = office[1][-2]
    ani, budi = Desk(console, "ani"), Desk(console, "budi")
    where = ani.post("/records/find", {"nik": str(nik)}, page="/records").headers["location"]
    page = ani.get(where).text
    assert f'action="{where}/hold"' in page
    assert (
        ani.post(f"{where}/hold", {"reason": "data being corrected"}, page=where).status_code == 303
    )
    assert console.ledger.state_of(nik) is State.ON_HOLD
    assert f'action="{where}/release"' not in ani.get(where).text
    assert ani.post(f"{where}/release", {"reason": "x"}, page=where).status_code == 403
    there = budi.post("/records/find", {"nik": str(nik)}, page="/records").headers["location"]
    assert f'action="{there}/release"' in budi.get(there).text
    budi.post(f"{there}/release", {"reason": "data corrected"}, page=there)
    assert console.ledger.state_of(nik) is State.PRINT_READY
    last_two = console.ledger.history(nik)[-2:]
    assert [(h.actor, h.target) for h in last_two] == [
        ("ani", State.ON_HOLD),
        ("budi", State.PRINT_READY),
    ]
    ani.close()
    budi.close()


# -- printing ----------------------------------------------------------------------------------


def test_print_next_batch_prints_it_as_the_signed_in_operator(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    _, niks, printers = office
    ani = Desk(console, "ani")
    queue = ani.get("/queue").text
    assert "B-P1" in queue
    assert "Menteng" in queue
    started = ani.post("/printers/P1/start", page="/queue")
    assert started.status_code == 303
    progress = _wait(ani, "P1")
    assert progress["state"] == "finished"
    assert (progress["printed"], progress["spoiled"], progress["in_doubt"]) == (6, 0, 0)
    assert progress["remaining"] == 0
    assert len(printers["P1"].cards) == 6
    for nik in niks[:6]:
        assert console.ledger.state_of(nik) is State.PRINTED
        printed = [h for h in console.ledger.history(nik) if h.target is State.PRINTED]
        assert printed[0].actor == "ani"
    # The day at a glance counts them.
    glance = ani.get("/").text
    assert re.search(r'data-shift="(pagi|malam)">6<', glance)
    # Nothing left for P1: the button goes, a second click is one line.
    assert 'action="/printers/P1/start"' not in ani.get("/queue").text
    ani.post("/printers/P1/start", page="/queue")
    assert "no batch is waiting for printer P1" in ani.get("/queue").text
    ani.close()


def test_each_cards_outcome_is_in_the_progress_json_before_the_next_card_goes(
    tmp_path: Path,
) -> None:
    """Whenever the printer holds card k + 1, the page's progress figures already count card
    k: each card's outcome reaches the JSON the page polls as soon as it is recorded, not at
    the end of the batch (read from the run, not the ledger)."""
    cards = 40
    location, _ = bureau(tmp_path, per_printer=cards, extra_ready=0)
    with VirtualPrinter(seconds_per_card=0.005) as p1:
        made = open_console(
            location, addresses={"P1": "{}:{}".format(*p1.address)}, photo_check=False
        )
        try:
            ani = Desk(made, "ani")
            assert ani.post("/printers/P1/start", page="/queue").status_code == 303
            seen: list[int] = []
            for _ in range(6_000):  # bounded: forty cards end long before
                at_printer = len(p1.cards)  # read first: the JSON is asked after
                progress = ani.get("/printers/P1/progress.json").json()
                assert progress["done"] >= at_printer - 1, (at_printer, progress)
                assert progress["printed"] + progress["remaining"] == cards, progress
                seen.append(progress["done"])
                if not progress["active"]:
                    break
                time.sleep(0.005)
            assert progress["state"] == "finished", progress
            assert (progress["printed"], progress["done"], len(p1.cards)) == (cards, cards, cards)
            assert seen == sorted(seen)  # the figures only go forward
            assert len(set(seen)) > 2  # seen on the way, not only at the start and the end
            ani.close()
        finally:
            made.stations.stop_all()
            made.ledger.close()


def test_a_lost_connection_leaves_a_card_in_doubt_that_a_supervisor_settles(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    _, niks, _ = office
    ani = Desk(console, "ani")
    ani.post("/printers/P2/start", page="/queue")
    progress = _wait(ani, "P2")
    assert progress["state"] == "failed"
    # The printer dropped the line as its second card went out: that card is in doubt.
    assert (progress["printed"], progress["in_doubt"]) == (1, 1)
    assert "connection lost" in progress["message"]
    doubt = console.ledger.journal.in_doubt()
    assert len(doubt) == 1
    nik, _, serial = doubt[0]
    glance = ani.get("/").text
    assert mask_nik(nik) in glance
    assert str(nik) not in glance
    budi = Desk(console, "budi")
    form = budi.get("/in-doubt").text
    assert f'action="/in-doubt/{serial}/settle"' in form
    budi.post(
        f"/in-doubt/{serial}/settle",
        {"outcome": "printed", "note": "found whole in the tray"},
        page="/in-doubt",
    )
    assert console.ledger.state_of(nik) is State.PRINTED
    assert console.ledger.history(nik)[-1].actor == "budi"
    assert console.ledger.journal.in_doubt() == []
    assert nik in niks
    ani.close()
    budi.close()


def test_stop_and_pause_end_the_run_between_cards_and_resume_prints_the_rest(
    tmp_path: Path,
) -> None:
    location, niks = bureau(tmp_path, per_printer=8)
    with VirtualPrinter(seconds_per_card=0.3) as slow:
        made = open_console(
            location, addresses={"P1": "{}:{}".format(*slow.address)}, photo_check=False
        )
        ani = Desk(made, "ani")
        ani.post("/printers/P1/start", page="/queue")
        while ani.get("/printers/P1/progress.json").json()["done"] < 1:
            time.sleep(0.05)
        assert 'action="/printers/P1/pause"' in ani.get("/queue").text
        ani.post("/printers/P1/pause", page="/queue")
        paused = _wait(ani, "P1")
        assert paused["state"] == "paused"
        assert 0 < paused["printed"] < 8
        assert paused["in_doubt"] == 0
        assert paused["remaining"] == 8 - paused["printed"]
        assert made.ledger.batch_printers("B-P1") == {"P1": paused["remaining"]}
        assert 'action="/printers/P1/resume"' in ani.get("/queue").text
        ani.post("/printers/P1/resume", page="/queue")
        while ani.get("/printers/P1/progress.json").json()["done"] < 1:
            time.sleep(0.05)
        ani.post("/printers/P1/stop", page="/queue")
        stopped = _wait(ani, "P1")
        assert stopped["state"] == "stopped"
        assert stopped["in_doubt"] == 0
        ani.post("/printers/P1/start", page="/queue")
        assert _wait(ani, "P1")["state"] == "finished"
        assert all(made.ledger.state_of(n) is State.PRINTED for n in niks[:8])
        assert len(slow.cards) == 8
        assert made.ledger.blanks.reconcile().balanced
        ani.close()
        made.ledger.close()


def test_quality_control_passes_a_batch_and_fails_a_card_by_its_blank(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    _, niks, _ = office
    ani, wati = Desk(console, "ani"), Desk(console, "wati")
    ani.post("/printers/P1/start", page="/queue")
    _wait(ani, "P1")
    failed = console.ledger.where_is(niks[2]).card_serial
    assert failed is not None
    assert 'action="/qc/fail"' not in wati.get("/qc").text
    assert wati.post("/qc/B-P1/pass").status_code == 403
    ani.post("/qc/fail", {"serial": str(failed), "reason": "photo smudged"}, page="/qc")
    assert console.ledger.state_of(niks[2]) is State.PRINT_READY
    assert console.ledger.blanks.state_of(failed).value == "SPOILED"
    ani.post("/qc/B-P1/pass", page="/qc")
    states = [console.ledger.state_of(n) for n in niks[:6]]
    assert states.count(State.QC_PASSED) == 5
    # Nothing left to check: the batch leaves the list, and a second click is one line.
    assert "B-P1: 5 kartu lolos kontrol mutu" in ani.get("/qc").text
    assert 'action="/qc/B-P1/pass"' not in ani.get("/qc").text
    ani.post("/qc/B-P1/pass", page="/qc")
    assert "no printed card waits for quality control" in ani.get("/qc").text
    ani.close()
    wati.close()


def test_the_queue_plans_the_print_ready_records_from_the_printers_file(
    office: tuple[str, list[int], dict[str, VirtualPrinter]],
) -> None:
    from ektpcore import Printer, PrinterSetup

    location, niks, _ = office
    setup = PrinterSetup((Printer("P1", cards_per_hour=120), Printer("P2", cards_per_hour=60)))
    made = open_console(location, printers=setup, photo_check=False)
    try:
        ani = Desk(made, "ani")
        page = ani.get("/queue").text
        assert 'action="/queue/plan"' in page
        assert re.search(r"\d\d\.\d\d WIB", page)  # each batch's time at its printer's rate
        ani.post("/queue/plan", page="/queue")
        assert "batch masuk antrean" in ani.get("/queue").text
        assert made.ledger.counts().get(State.PRINT_READY, 0) == 0
        queued = [made.ledger.state_of(n) for n in niks[12:]]
        assert queued == [State.QUEUED] * 4
        ani.close()
    finally:
        made.ledger.close()


def test_two_printers_at_once_on_either_store(ledger_location: str, tmp_path: Path) -> None:
    """Both printers print at the same time, each run on its own connection, while the pages
    are read: on SQLite and on PostgreSQL."""
    location, niks = bureau(tmp_path, location=ledger_location)
    with VirtualPrinter(seconds_per_card=0.05) as p1, VirtualPrinter() as p2:
        addresses = {"P1": "{}:{}".format(*p1.address), "P2": "{}:{}".format(*p2.address)}
        made = open_console(location, addresses=addresses, photo_check=False)
        try:
            ani = Desk(made, "ani")
            ani.post("/printers/P1/start", page="/queue")
            ani.post("/printers/P2/start", page="/queue")
            for path in ("/", "/queue", "/stock"):
                assert ani.get(path).status_code == 200
            assert _wait(ani, "P1")["state"] == "finished"
            assert _wait(ani, "P2")["state"] == "finished"
            assert made.ledger.counts()[State.PRINTED] == 12
            assert len(p1.cards) + len(p2.cards) == 12
            assert made.ledger.blanks.reconcile().balanced
            assert made.ledger.verify().ok
            assert all(made.ledger.state_of(n) is State.PRINTED for n in niks[:12])
            ani.close()
        finally:
            made.stations.stop_all()
            made.ledger.close()


def test_signing_out_while_printing_lets_the_run_finish_then_ends_the_sign_in(
    tmp_path: Path,
) -> None:
    from ektpcore.errors import AuthenticationError

    location, niks = bureau(tmp_path, per_printer=5, extra_ready=0)
    with VirtualPrinter(seconds_per_card=0.2) as slow:
        made = open_console(
            location, addresses={"P1": "{}:{}".format(*slow.address)}, photo_check=False
        )
        try:
            ani = Desk(made, "ani")
            ani.post("/printers/P1/start", page="/queue")
            actor = made.sessions.all()[0].actor
            ani.post("/logout")
            assert made.sessions.all() == []
            assert ani.get("/printers/P1/progress.json").status_code == 401
            ended = made.stations.wait("P1", timeout=60)
            assert ended is not None
            assert ended.state == "finished"
            assert all(made.ledger.state_of(n) is State.PRINTED for n in niks[:5])
            # Once the run ended, the ledger no longer takes the signed-out credential.
            with pytest.raises(AuthenticationError):
                made.ledger.transition([niks[5]], State.ON_HOLD, actor, reason="test")
        finally:
            made.stations.stop_all()
            made.ledger.close()


def test_a_sealed_ledger_prints_and_shows_a_record_only_through_reveal(tmp_path: Path) -> None:
    from ektpcore.keys import KeyFile

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    KeyFile.create(private / "bureau.keys")
    keys = KeyFile(private / "bureau.keys")
    location, niks = bureau(tmp_path, per_printer=3, extra_ready=1, keys=keys)
    with VirtualPrinter() as p1:
        made = open_console(
            location, keys=keys, addresses={"P1": "{}:{}".format(*p1.address)}, photo_check=False
        )
        try:
            ani = Desk(made, "ani")
            ani.post("/printers/P1/start", page="/queue")
            assert _wait(ani, "P1")["printed"] == 3
            assert len(p1.cards) == 3
            where = ani.post("/records/find", {"nik": str(niks[0])}, page="/records")
            page = ani.get(where.headers["location"]).text
            assert mask_nik(niks[0]) in page
            assert "Warga Contoh" not in page
            shown = ani.post(
                f"{where.headers['location']}/reveal",
                {"purpose": "data correction"},
                page=where.headers["location"],
            )
            assert str(niks[0]) in shown.text
            assert "Warga Contoh 0" in shown.text
            assert made.ledger.verify().ok
            ani.close()
        finally:
            made.stations.stop_all()
            made.ledger.close()
    raw = Path(location).read_bytes()
    assert b"Warga Contoh" not in raw
    assert b"data correction" in raw  # a purpose is one of a fixed list, kept in clear


# -- distribution, reports, stock --------------------------------------------------------------


def test_manifests_are_built_dispatched_received_and_printed_from_the_page(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    _, niks, _ = office
    ani = Desk(console, "ani")
    ani.post("/printers/P1/start", page="/queue")
    _wait(ani, "P1")
    assert "B-P1" in ani.get("/qc").text
    ani.post("/qc/B-P1/pass", page="/qc")
    assert all(console.ledger.state_of(n) is State.QC_PASSED for n in niks[:6])
    assert console.ledger.history(niks[0])[-1].actor == "ani"
    ani.post("/distribution/build", page="/distribution")
    manifests = console.ledger.distribution.manifests()
    assert len(manifests) == 1
    number = manifests[0].id
    assert manifests[0].created_by == "ani"
    ani.post("/distribution/dispatch", {"manifest": str(number)}, page="/distribution")
    refused = ani.post(
        "/distribution/receive",
        {"manifest": str(number), "receiver": "Ibu Camat", "count": "5"},
        page="/distribution",
    )
    assert refused.status_code == 303
    assert console.ledger.distribution.manifest(number).state.value == "DISPATCHED"
    ani.post(
        "/distribution/receive",
        {"manifest": str(number), "receiver": "Ibu Camat", "count": "6"},
        page="/distribution",
    )
    assert console.ledger.distribution.manifest(number).state.value == "RECEIVED"
    # The page lists the manifests on their way and only the latest received ones.
    ani.post("/distribution/build-kelurahan", page="/distribution")
    dist = console.ledger.distribution
    second, third, fourth = (m.id for m in dist.manifests(leg="KELURAHAN"))
    for m in (second, third):
        ani.post("/distribution/dispatch", {"manifest": str(m)}, page="/distribution")
        count = str(dist.manifest(m).count)
        ani.post(
            "/distribution/receive",
            {"manifest": str(m), "receiver": "Pak Lurah", "count": count},
            page="/distribution",
        )
    assert [m.id for m in dist.manifests(latest=2)] == [third, fourth]
    assert [m.id for m in dist.manifests(state="RECEIVED", latest=1)] == [third]
    console.received_shown = 1
    listed = ani.get("/distribution").text
    shown = {int(n) for n in re.findall(r'href="/distribution/(\d+)\.pdf"', listed)}
    assert shown == {third, fourth}
    pdf = ani.get(f"/distribution/{number}.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    for kind in ("day", "pagi", "malam"):
        report = ani.get(f"/reports/{kind}.pdf?day=2026-12-02")
        assert report.content.startswith(b"%PDF"), kind
    assert ani.get("/reports/day.pdf?day=yesterday").status_code == 400
    shown = ani.get("/reports?day=2026-12-02").text
    assert 'src="/reports/day.png?day=2026-12-02"' in shown
    assert ani.get("/reports/day.png?day=2026-12-02").content.startswith(b"\x89PNG")
    ani.close()


def test_from_print_to_hand_over_and_a_reprint_approved_by_another_person(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    _, niks, _ = office
    ani, budi, wati = Desk(console, "ani"), Desk(console, "budi"), Desk(console, "wati")
    ani.post("/printers/P1/start", page="/queue")
    _wait(ani, "P1")
    ani.post("/qc/B-P1/pass", page="/qc")
    ani.post("/distribution/build", page="/distribution")
    ani.post("/distribution/dispatch", {"manifest": "1"}, page="/distribution")
    ani.post(
        "/distribution/receive",
        {"manifest": "1", "receiver": "Ibu Camat", "count": "6"},
        page="/distribution",
    )
    ani.post("/distribution/build-kelurahan", page="/distribution")
    for m in console.ledger.distribution.manifests(leg="KELURAHAN"):
        ani.post("/distribution/dispatch", {"manifest": str(m.id)}, page="/distribution")
        ani.post(
            "/distribution/receive",
            {"manifest": str(m.id), "receiver": "Pak Lurah", "count": str(m.count)},
            page="/distribution",
        )
    nik = niks[0]
    assert console.ledger.state_of(nik) is State.AT_KELURAHAN
    where = ani.post("/records/find", {"nik": str(nik)}, page="/records").headers["location"]
    assert f'action="{where}/hand-over"' in ani.get(where).text
    ani.post(f"{where}/hand-over", {"identity_check": "KK and photo"}, page=where)
    assert console.ledger.state_of(nik) is State.ISSUED
    # The berita acara, with the NIK and name in full: recorded as a showing first.
    assert f'action="{where}/berita-acara"' in ani.get(where).text
    assert console.ledger.reveals(nik) == []
    paper = ani.post(f"{where}/berita-acara", page=where)
    assert paper.headers["content-type"] == "application/pdf"
    assert paper.content.startswith(b"%PDF")
    (shown,) = console.ledger.reveals(nik)
    assert (shown.actor, shown.purpose) == ("ani", "card hand-over")
    # The card is lost: an operator asks for a reprint, a supervisor approves it.
    page = ani.get(where).text
    assert f'action="{where}/reprint"' in page
    ani.post(f"{where}/reprint", {"reason": "card lost, police letter 12/XI"}, page=where)
    assert console.ledger.state_of(nik) is State.ISSUED  # not until approved
    waiting = console.ledger.approvals.waiting()
    assert [(a.requested_by, a.target) for a in waiting] == [("ani", State.PRINT_READY)]
    number = waiting[0].id
    listed = wati.get("/approvals").text
    assert mask_nik(nik) in listed
    assert str(nik) not in listed
    assert f'action="/approvals/{number}"' not in listed  # an auditor does not decide
    assert f'action="/approvals/{number}"' not in ani.get("/approvals").text
    assert ani.post(f"/approvals/{number}", {"decision": "approve"}).status_code == 403
    budi.post(
        f"/approvals/{number}", {"decision": "approve", "note": "letter seen"}, page="/approvals"
    )
    assert console.ledger.state_of(nik) is State.PRINT_READY
    assert console.ledger.approvals.get(number).decided_by == "budi"
    for desk in (ani, budi, wati):
        desk.close()


def test_the_administrator_manages_users_from_the_users_page(console: Console) -> None:
    root, budi = Desk(console, "root"), Desk(console, "budi")
    assert 'href="/users"' in root.get("/").text
    assert 'href="/users"' not in budi.get("/").text
    assert budi.get("/users").status_code == 403
    token = _csrf(budi.get("/").text)
    added = budi.client.post(
        "/users/add",
        data={"csrf": token, "name": "x", "role": "administrator", "password": PASSWORD},
        follow_redirects=False,
    )
    assert added.status_code == 403
    listed = root.get("/users").text
    assert all(f'data-user="{name}"' in listed for name in ("ani", "budi", "wati", "root"))
    root.post(
        "/users/add", {"name": "sari", "role": "supervisor", "password": PASSWORD}, page="/users"
    )
    root.post("/users/grant", {"name": "wati", "role": "operator"}, page="/users")
    root.post("/users/disable", {"name": "ani"}, page="/users")
    users = {u.name: u for u in console.ledger.users.list()}
    assert users["sari"].role is Role.SUPERVISOR
    assert users["sari"].created_by == "root"
    assert users["wati"].role is Role.OPERATOR
    assert not users["ani"].active
    assert users["ani"].disabled_by == "root"
    assert Desk(console).sign_in("ani").status_code == 401
    assert Desk(console).sign_in("sari").status_code == 303
    # The ledger's refusals come back as one line on the page.
    root.post(
        "/users/add", {"name": "sari", "role": "operator", "password": PASSWORD}, page="/users"
    )
    assert "sari" in root.get("/users").text
    assert len([u for u in console.ledger.users.list() if u.name == "sari"]) == 1
    events = [(e.actor, e.event, e.subject) for e in console.ledger.audit()]
    assert ("root", "user created", "sari") in events
    assert ("root", "role granted", "wati") in events
    root.close()
    budi.close()


def test_cancelling_a_printed_card_needs_a_second_persons_approval(
    console: Console, office: tuple[str, list[int], dict[str, VirtualPrinter]]
) -> None:
    _, niks, _ = office
    ani, budi, root = Desk(console, "ani"), Desk(console, "budi"), Desk(console, "root")
    root.post(
        "/users/add", {"name": "sari", "role": "supervisor", "password": PASSWORD}, page="/users"
    )
    sari = Desk(console, "sari")
    ani.post("/printers/P1/start", page="/queue")
    _wait(ani, "P1")
    printed, ready = niks[0], niks[-1]
    where = budi.post("/records/find", {"nik": str(printed)}, page="/records").headers["location"]
    assert f'action="{where}/cancel"' in budi.get(where).text
    mine = ani.post("/records/find", {"nik": str(printed)}, page="/records").headers["location"]
    assert f'action="{mine}/cancel"' not in ani.get(mine).text  # an operator may not
    budi.post(f"{where}/cancel", {"reason": "data of another citizen"}, page=where)
    assert console.ledger.state_of(printed) is State.PRINTED  # not until approved
    (waiting,) = console.ledger.approvals.waiting()
    assert (waiting.requested_by, waiting.target) == ("budi", State.CANCELLED)
    budi.post(f"/approvals/{waiting.id}", {"decision": "approve"}, page="/approvals")
    assert console.ledger.state_of(printed) is State.PRINTED  # the requester cannot approve
    sari.post(f"/approvals/{waiting.id}", {"decision": "approve"}, page="/approvals")
    assert console.ledger.state_of(printed) is State.CANCELLED
    assert console.ledger.where_is(printed).card_serial is None
    # A record with no card yet is cancelled at once by a supervisor.
    other = budi.post("/records/find", {"nik": str(ready)}, page="/records").headers["location"]
    assert "Batalkan rekaman" in budi.get(other).text
    budi.post(f"{other}/cancel", {"reason": "moved away"}, page=other)
    assert console.ledger.state_of(ready) is State.CANCELLED
    assert console.ledger.history(ready)[-1].actor == "budi"
    for desk in (ani, budi, root, sari):
        desk.close()


def test_a_ribbon_installed_at_the_stock_page(console: Console) -> None:
    ani = Desk(console, "ani")
    ani.post("/stock/ribbon", {"printer": "P1", "kind": "YMCKOK", "capacity": "250"}, page="/stock")
    ribbon = console.ledger.ribbons.current("P1")
    assert ribbon is not None
    assert (ribbon.kind, ribbon.capacity, ribbon.installed_by) == ("YMCKOK", 250, "ani")
    ani.post(
        "/stock/ribbon", {"printer": "P1", "kind": "YMCKOK", "capacity": "lots"}, page="/stock"
    )
    assert "a ribbon&#39;s capacity is a whole number" in ani.get("/stock").text
    ani.close()


# -- language ----------------------------------------------------------------------------------


def test_every_text_of_the_templates_has_its_indonesian_words() -> None:
    texts = set()
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text(encoding="utf-8")
        texts |= set(re.findall(r'_\("([^"]+)"\)', source))
        texts |= set(re.findall(r"_\('([^']+)'\)", source))
        texts |= set(re.findall(r'\("[^"]*", "([^"]+)"\)', source))  # (href, text) pairs
    assert len(texts) > 50
    missing = sorted(t for t in texts if t not in INDONESIAN)
    assert missing == []


def test_english_is_one_click_away(console: Console) -> None:
    ani = Desk(console, "ani")
    assert "Cetak batch berikutnya" in ani.get("/queue").text
    ani.get("/lang/en?back=/queue")
    page = ani.get("/queue").text
    assert "Print next batch" in page
    assert '<html lang="en">' in page
    assert ani.get("/lang/en?back=//evil.example").headers["location"] == "/"
    ani.close()


# -- the command -------------------------------------------------------------------------------


def test_the_console_command_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    runner = CliRunner()
    location, _ = bureau(tmp_path)
    remote = runner.invoke(main, ["console", "--ledger", location, "--host", "0.0.0.0"])
    assert remote.exit_code == 2
    assert "TLS proxy" in remote.output
    not_ledger = tmp_path / "notes.txt"
    not_ledger.write_text("hello", encoding="utf-8")
    bad = runner.invoke(main, ["console", "--ledger", str(not_ledger)])
    assert bad.exit_code == 5
    assert "Traceback" not in bad.output
    open_one = tmp_path / "open.db"
    Ledger(str(open_one)).close()
    served = runner.invoke(main, ["console", "--ledger", str(open_one), "--behind-tls-proxy"])
    assert served.exit_code == 7
    assert "no users" in served.output
    address = runner.invoke(main, ["console", "--ledger", location, "--printer", "P1=nowhere"])
    assert address.exit_code != 0
    assert "host:port" in address.output


def test_printers_file_gives_each_printer_its_address(tmp_path: Path) -> None:
    from ektpcore import printers_from_toml
    from ektpcore.errors import InvalidArgumentError

    path = tmp_path / "printers.toml"
    path.write_text(
        '[[printers]]\nid = "P1"\ncards_per_hour = 120\naddress = "10.0.0.21:9100"\n'
        '[[printers]]\nid = "P2"\ncards_per_hour = 90\n',
        encoding="utf-8",
    )
    setup = printers_from_toml(path)
    assert setup.addresses == {"P1": "10.0.0.21:9100"}
    assert [p.id for p in setup.printers] == ["P1", "P2"]
    path.write_text('[[printers]]\nid = "P1"\ncards_per_hour = 1\naddress = "nowhere"\n')
    with pytest.raises(InvalidArgumentError, match="printer 1: an address is host:port"):
        printers_from_toml(path)


def test_reveal_needs_a_signed_in_actor_and_a_purpose_without_a_nik(tmp_path: Path) -> None:
    from ektpcore import Actor, Role
    from ektpcore.errors import AuthenticationError, InvalidArgumentError

    location, niks = bureau(tmp_path, per_printer=1, extra_ready=0)
    with Ledger(location) as led:
        with pytest.raises(AuthenticationError):
            led.reveal(niks[0], Actor("ani", Role.OPERATOR), purpose="citizen at the desk")
        ani = led.sign_in("ani", PASSWORD)
        for purpose in (f"about {niks[1]}", "asked by Pak Budi", ""):  # free text names people
            with pytest.raises(InvalidArgumentError, match="one of: citizen at the desk"):
                led.reveal(niks[0], ani, purpose=purpose)
        assert led.reveals(niks[0]) == []
        record = led.reveal(niks[0], ani, purpose="citizen at the desk")
        assert int(record.nik) == niks[0]
        assert [r.actor for r in led.reveals(niks[0])] == ["ani"]
        assert led.audit()[-1].event == "personal data shown"
        assert str(niks[0]) not in str(led.audit()[-1])


def test_a_console_given_an_anchor_checkpoints_its_print_runs(
    office: tuple[str, list[int], dict[str, VirtualPrinter]], tmp_path: Path
) -> None:
    """Each connection the console opens (its own, each print run's) appends its
    checkpoints to the bureau's anchor, and the ledger verifies against them."""
    location, niks, printers = office
    anchor = FileAnchor(tmp_path / "bureau.anchor")
    addresses = {name: "{}:{}".format(*p.address) for name, p in printers.items()}
    made = open_console(location, addresses=addresses, photo_check=False, anchor=anchor)
    try:
        ani = Desk(made, "ani")
        assert ani.post("/printers/P1/start", page="/queue").status_code == 303
        assert _wait(ani, "P1")["printed"] == 6
        ani.close()
    finally:
        made.stations.stop_all()
        made.ledger.close()
    with Ledger(location, create=False) as led:
        last = led._query("SELECT max(seq) FROM history")[0][0]
        assert led.verify(anchor=anchor).ok
    assert [*anchor][-1].heads["history"][0] == last
    assert all(led_state is State.PRINTED for led_state in _states(location, niks[:6]))


def _states(location: str, niks: list[int]) -> list[State]:
    with Ledger(location, create=False) as led:
        return [led.state_of(n) for n in niks]
