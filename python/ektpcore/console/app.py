"""The console's pages and buttons: a Starlette application over one ledger.

Every page is rendered on the server from the public API (nothing here speaks SQL or reaches
into the ledger's insides); every button is a form posted with the session's CSRF token, and
answered by a redirect to the page it came from (the result said there). What a page shows
and which buttons it has follow :data:`~ektpcore.PERMISSIONS` for the signed-in user's role,
and every action is checked again here and by the ledger itself.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import secrets
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..clock import WIB, wib_text
from ..errors import AuthenticationError, EktpcoreError, InvalidArgumentError, InvalidNikError
from ..ledger import BlankState, Leg, ManifestState
from ..ledger.records import REVEAL_PURPOSES
from ..lifecycle import Actor, Permission, Role, State, as_role, permits, transition_rule
from ..nik import Nik, mask_nik
from ..sheets import initials
from . import i18n
from .security import (
    ANONYMOUS_COOKIE,
    SESSION_COOKIE,
    LoginLimiter,
    SecurityHeaders,
    Session,
    Sessions,
    anonymous_csrf,
    csrf_matches,
)
from .stations import StationRuns

if TYPE_CHECKING:
    from ..documents import Bureau
    from ..ledger import Ledger, Record
    from ..planning import PrinterSetup

__all__ = ["Console", "create_app"]

_SHIFT_START = _dt.timedelta(hours=8)  # a bureau's day runs 08.00 to 08.00 WIB


@dataclass
class Console:
    """What the application works with: the ledger (shared by the pages; each print run
    opens its own connection through ``open_ledger``), the stations, the sessions, the
    sign-in limit, the office named on printed documents, and whether the cookies are sent
    over TLS only (``secure``: behind a TLS proxy)."""

    ledger: Ledger
    open_ledger: Callable[[], Ledger]
    stations: StationRuns
    bureau: Bureau
    printers: tuple[str, ...] = ()
    setup: PrinterSetup | None = None
    secure: bool = False
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    lock: threading.RLock = field(default_factory=threading.RLock)
    deferred: list[Actor] = field(default_factory=list)  # sign-outs waiting for a run's end
    received_shown: int = 20  # received manifests listed on the distribution page, latest

    def sign_out(self, actor: Actor) -> None:
        """Ends the ledger's sign-in of ``actor``, once no print run uses it."""
        if actor.credential is None:
            return
        if self.stations.busy(actor):
            with self.lock:
                self.deferred.append(actor)
            return
        with self.lock, contextlib.suppress(EktpcoreError):
            self.ledger.sign_out(actor)

    def run_ended(self, actor: Actor) -> None:
        with self.lock:
            waiting = [a for a in self.deferred if a.credential == actor.credential]
            if not waiting or self.stations.busy(actor):
                return
            self.deferred = [a for a in self.deferred if a.credential != actor.credential]
        self.sign_out(actor)


# -- rendering ---------------------------------------------------------------------------------

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ektpcore.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _language(request: Request) -> str:
    chosen = request.cookies.get("ektpcore_lang", i18n.DEFAULT)
    return chosen if chosen in i18n.LANGUAGES else i18n.DEFAULT


def _duration(seconds: float | None, language: str) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    minutes, rest = divmod(seconds, 60)
    words = ("menit", "detik") if language == "id" else ("min", "s")
    return f"{minutes} {words[0]} {rest} {words[1]}" if minutes else f"{rest} {words[1]}"


def _when(stamp: str | None) -> str:
    return "-" if not stamp else wib_text(stamp)


def _can(role: Role | None) -> dict[str, bool]:
    return {p.name: role is not None and permits(role, p) for p in Permission}


def render(
    request: Request,
    console: Console,
    template: str,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    language = _language(request)
    visitor = request.cookies.get(ANONYMOUS_COOKIE) or secrets.token_urlsafe(24)
    csrf = session.csrf if session is not None else anonymous_csrf(console.secret, visitor)
    page = _ENV.get_template(template).render(
        _=lambda text: i18n.translate(language, text),
        lang=language,
        csrf=csrf,
        user=None if session is None else session.actor,
        can=_can(None if session is None else session.actor.role),
        messages=[] if session is None else session.take_messages(),
        path=request.url.path,
        when=_when,
        duration=lambda s: _duration(s, language),
        mask=mask_nik,
        **context,
    )
    response = HTMLResponse(page, status_code=status)
    if session is None and ANONYMOUS_COOKIE not in request.cookies:
        _cookie(response, console, ANONYMOUS_COOKIE, visitor)
    return response


def _cookie(response: Response, console: Console, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="strict", secure=console.secure, path="/"
    )


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# -- who is asking -----------------------------------------------------------------------------


def _session(request: Request) -> Session | None:
    console: Console = request.app.state.console
    return console.sessions.find(request.cookies.get(SESSION_COOKIE))


def _refused(request: Request, status: int, text: str) -> Response:
    """A request turned away, in one line of the page's language."""
    return PlainTextResponse(i18n.translate(_language(request), text), status_code=status)


def _not_found(request: Request) -> Response:
    return _refused(request, 404, "Not found.")


async def _checked_form(request: Request, session: Session | None) -> dict[str, str] | None:
    """The posted form, or ``None`` when its CSRF token (the session's, or for the sign-in
    form the visitor cookie's) or its origin is not this console's."""
    console: Console = request.app.state.console
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return None
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if session is not None:
        expected = session.csrf
    else:
        visitor = request.cookies.get(ANONYMOUS_COOKIE)
        if not visitor:
            return None
        expected = anonymous_csrf(console.secret, visitor)
    return values if csrf_matches(expected, values.get("csrf")) else None


Handler = Callable[[Request], Any]
EXPIRED = "The form has expired; please try again."


def page(permission: Permission = Permission.READ) -> Callable[[Handler], Handler]:
    """A page or button for signed-in users whose role holds ``permission``: others are sent
    to sign in (no session) or refused (403). A button's form is checked first (its CSRF
    token and origin) and handed over as ``request.state.form``."""

    def decorate(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            session = _session(request)
            if session is None:
                if request.method == "GET" and not request.url.path.endswith(".json"):
                    return _back("/login")
                return _refused(request, 401, "Sign in")
            if request.method == "POST":
                form = await _checked_form(request, session)
                if form is None:
                    return _refused(request, 403, EXPIRED)
                request.state.form = form
            if not permits(session.actor.role, permission):
                return _refused(request, 403, "Your role may not do this.")
            try:
                result: Response = await handler(request)
                return result
            except AuthenticationError as err:
                # The ledger no longer takes this sign-in (the user disabled, the role changed).
                console.sessions.end(session.key)
                return PlainTextResponse(str(err), status_code=401)

        return endpoint

    return decorate


def _button(request: Request) -> tuple[Console, Session, dict[str, str]]:
    """What a handler behind :func:`page` works with: the console, the signed-in session
    and the posted form (checked; empty for a page)."""
    console: Console = request.app.state.console
    session = _session(request)
    assert session is not None  # page() let only signed-in requests through
    form: dict[str, str] = getattr(request.state, "form", {})
    return console, session, form


def _say(request: Request, session: Session, text: str, **values: object) -> None:
    """A message for the next page, in its language (``text`` is English, with fields)."""
    session.say("ok", i18n.translate(_language(request), text).format(**values))


@contextlib.contextmanager
def _acting(session: Session) -> Iterator[None]:
    """A button's work: a library error becomes the message on the page returned to."""
    try:
        yield
    except AuthenticationError:
        raise
    except EktpcoreError as err:
        session.say("error", str(err))


# -- sign-in -----------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    console: Console = request.app.state.console
    if _session(request) is not None:
        return _back("/")
    with console.lock:
        development = not console.ledger.users.exist()
    return render(
        request,
        console,
        "login.html",
        None,
        development=development,
        error=None,
        roles=[r.name.lower() for r in Role],
    )


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    language = _language(request)
    checked = await _checked_form(request, None)
    if checked is None:
        return _refused(request, 403, EXPIRED)
    form = checked
    name = form.get("name", "").strip()
    client = request.client.host if request.client else "unknown"
    keys = (f"user:{name.casefold()}", f"address:{client}")
    with console.lock:
        development = not console.ledger.users.exist()
    roles = [r.name.lower() for r in Role]

    def refused(text: str, status: int) -> Response:
        return render(
            request,
            console,
            "login.html",
            None,
            status,
            development=development,
            error=i18n.translate(language, text),
            roles=roles,
        )

    if console.limiter.wait(keys) > 0:
        return refused("Too many failed sign-ins; try again in a few minutes.", 429)
    try:
        with console.lock:
            if development:
                actor = Actor(name, as_role(form.get("role", "operator")))
            else:
                actor = console.ledger.sign_in(name, form.get("password", ""))
    except (AuthenticationError, InvalidArgumentError):
        console.limiter.failed(keys)
        return refused("Sign-in refused: unknown user or wrong password.", 401)
    console.limiter.succeeded(keys[0])
    for ended in console.sessions.expired():
        console.sign_out(ended.actor)
    session = console.sessions.start(actor)
    response = _back("/")
    _cookie(response, console, SESSION_COOKIE, session.key)
    return response


async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    if session is not None:
        if await _checked_form(request, session) is None:
            return _refused(request, 403, EXPIRED)
        console.sessions.end(session.key)
        console.sign_out(session.actor)
    response = _back("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def language(request: Request) -> Response:
    chosen = request.path_params["code"]
    back = request.query_params.get("back", "/")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    response = _back(back)
    if chosen in i18n.LANGUAGES:
        console: Console = request.app.state.console
        response.set_cookie(
            "ektpcore_lang",
            chosen,
            samesite="strict",
            secure=console.secure,
            path="/",
            max_age=365 * 86_400,
        )
    return response


# -- the day at a glance -----------------------------------------------------------------------


def _bureau_day(now: _dt.datetime | None = None) -> _dt.date:
    """The bureau's day now: it starts at 08.00 WIB (the night shift belongs to the day it
    started on)."""
    moment = (now or _dt.datetime.now(WIB)).astimezone(WIB)
    return (moment - _SHIFT_START).date()


def _printers(console: Console) -> list[str]:
    """Every printer the console knows: configured, holding a ribbon, or in a batch."""
    names = set(console.printers) | set(console.stations.addresses)
    names |= {r.printer for r in console.ledger.ribbons.in_printers()}
    names |= set(console.stations.all())
    return sorted(names)


def _label(record: Record) -> str:
    text = mask_nik(record.nik)
    letters = initials(record.name)
    return f"{text} ({letters})" if letters else text


def _in_doubt(console: Console) -> list[dict[str, Any]]:
    cards = []
    for nik, batch, serial in console.ledger.journal.in_doubt():
        record = console.ledger.where_is(nik)
        cards.append(
            {
                "serial": serial,
                "batch": batch,
                "label": _label(record),
                "kelurahan": record.kelurahan or "-",
            }
        )
    return cards


def _shifts(console: Console, day: _dt.date) -> list[tuple[str, dict[State, int], dict[str, int]]]:
    """The bureau's two shifts of ``day``: each one's changes counted by state, and its
    cards printed per printer."""
    from ..clock import shift_window

    shifts = []
    for kind, night in (("pagi", False), ("malam", True)):
        counts = console.ledger.transition_counts(*shift_window(day, night=night))
        states: dict[State, int] = {}
        printed: dict[str, int] = {}
        for (state, printer), n in counts.items():
            states[state] = states.get(state, 0) + n
            if state is State.PRINTED and printer:
                printed[printer] = printed.get(printer, 0) + n
        shifts.append((kind, states, dict(sorted(printed.items()))))
    return shifts


@page()
async def dashboard(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    day = _bureau_day()
    with console.lock:
        led = console.ledger
        counts = led.counts()
        blanks = led.blanks.counts()
        shifts = [
            (kind, states.get(State.PRINTED, 0), per) for kind, states, per in _shifts(console, day)
        ]
        ribbons = {r.printer: r for r in led.ribbons.in_printers()}
        printers = _printers(console)
        doubt = _in_doubt(console)
    ready, stock = counts.get(State.PRINT_READY, 0), blanks.get(BlankState.IN_STOCK, 0)
    return render(
        request,
        console,
        "dashboard.html",
        session,
        day=day,
        states=[(s.value, counts[s]) for s in State if counts.get(s)],
        shifts=shifts,
        blanks=[(s.value, n) for s, n in blanks.items() if n],
        in_stock=stock,
        print_ready=ready,
        shortage=ready > stock,
        printers=printers,
        ribbons=ribbons,
        runs=console.stations.all(),
        in_doubt=doubt,
    )


# -- the queue and printing --------------------------------------------------------------------


def _queue(console: Console, now: _dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """Per printer, its waiting batches in print order, each with its cards, its kelurahan
    and when it should be done at the printer's rate (from the printers' file)."""
    led = console.ledger
    queue: dict[str, list[dict[str, Any]]] = {}
    ends: dict[str, _dt.datetime] = {}
    for summary in led.batches(holding=[State.QUEUED]):
        if not summary.waiting:
            continue
        for printer, cards in sorted(led.batch_printers(summary.name).items()):
            records = led.queued(summary.name, printer)
            places = Counter(r.kelurahan or "-" for r in records)
            rate = console.stations.rates.get(printer)
            eta = None
            if rate:
                start = ends.get(printer, now)
                ends[printer] = eta = start + _dt.timedelta(hours=cards / rate)
            queue.setdefault(printer, []).append(
                {
                    "name": summary.name,
                    "cards": cards,
                    "eta": eta,
                    "kelurahan": sorted(places.items()),
                }
            )
    return queue


@page()
async def queue_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    now = _dt.datetime.now(WIB)
    with console.lock:
        queue = _queue(console, now)
        printers = sorted(set(_printers(console)) | set(queue))
    runs = console.stations.all()
    watching = any(r.active for r in runs.values())
    return render(
        request,
        console,
        "queue.html",
        session,
        plannable=console.setup is not None,
        queue=queue,
        printers=printers,
        runs=runs,
        addresses=console.stations.addresses,
        watching=watching,
    )


@page(Permission.PRINT)
async def printer_action(request: Request) -> Response:
    console, session, _ = _button(request)
    printer, action = request.path_params["printer"], request.path_params["action"]
    with _acting(session):
        if action in ("start", "resume"):
            with console.lock:
                started = console.stations.start(console.ledger, session.actor, printer)
            _say(
                request,
                session,
                "{printer}: batch {batch}, {cards} cards",
                printer=printer,
                batch=started.batch,
                cards=started.total,
            )
        elif action == "pause":
            console.stations.pause(session.actor, printer)
        elif action == "stop":
            console.stations.stop(session.actor, printer)
        else:
            return _not_found(request)
    return _back("/queue")


@page()
async def printer_progress(request: Request) -> Response:
    console: Console = request.app.state.console
    found = console.stations.progress(request.path_params["printer"])
    language = _language(request)
    if found is None:
        return JSONResponse({"state": "idle", "active": False})
    body = found.as_json()
    body["state_text"] = i18n.translate(language, found.state)
    body["time_left"] = _duration(found.seconds_left, language)
    return JSONResponse(body)


@page(Permission.QUEUE)
async def plan_queue(request: Request) -> Response:
    """Plans every print-ready record over the printers' file and queues the batches (what
    ``ektpcore plan --ledger --commit`` does)."""
    from ..planning import Plan

    console, session, _ = _button(request)
    setup = console.setup
    if setup is None:
        return _not_found(request)
    with _acting(session), console.lock:
        made = Plan.from_ledger(
            console.ledger,
            setup.printers,
            shifts=setup.shifts,
            click_limit=setup.click_limit,
            click_overhead=setup.click_overhead,
        )
        if not made.batches:
            raise InvalidArgumentError("nothing to plan: no print-ready record, or no blank")
        taken = [b.id for b in made.batches if console.ledger.batches(b.id)]
        if taken:
            raise InvalidArgumentError(f"batch {taken[0]} exists in the ledger already")
        made.commit(console.ledger, session.actor)
        _say(
            request,
            session,
            "{count} batches queued: {names}",
            count=len(made.batches),
            names=", ".join(b.id for b in made.batches),
        )
    return _back("/queue")


# -- quality control ---------------------------------------------------------------------------

_CHECKED = (State.PRINTED, State.ENCODED)


@page()
async def qc_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    with console.lock:
        batches = [
            (b.name, sum(b.states.get(s, 0) for s in _CHECKED), b.states.get(State.QUEUED, 0))
            for b in console.ledger.batches(holding=_CHECKED)
            if any(b.states.get(s) for s in _CHECKED)
        ]
    return render(request, console, "qc.html", session, batches=batches)


@page(Permission.PRINT)
async def qc_pass(request: Request) -> Response:
    """Every printed card of a batch passed the check: ``QC_PASSED`` (through ``ENCODED``,
    the chip read back), in one change."""
    console, session, _ = _button(request)
    batch = request.path_params["batch"]
    with _acting(session), console.lock:
        cards = [r for r in console.ledger.batch(batch, current=True) if r.state in _CHECKED]
        if not cards:
            raise InvalidArgumentError(f"batch {batch}: no printed card waits for quality control")
        printed = [int(r.nik) for r in cards if r.state is State.PRINTED]
        with console.ledger.transaction(session.actor) as tx:
            if printed:
                tx.transition(printed, State.ENCODED, reason="chip read back at quality control")
            tx.transition([int(r.nik) for r in cards], State.QC_PASSED)
        _say(
            request,
            session,
            "{batch}: {count} cards passed quality control",
            batch=batch,
            count=len(cards),
        )
    return _back("/qc")


@page(Permission.PRINT)
async def qc_fail(request: Request) -> Response:
    """One card failed the check (by the serial on it): its blank spoiled, its record
    print-ready again."""
    console, session, form = _button(request)
    with _acting(session), console.lock:
        serial = _whole(form, "serial", "a blank's serial")
        record = console.ledger.where_is_card(serial)
        if record.state not in _CHECKED:
            raise InvalidArgumentError(
                f"the card on blank {serial} is {record.state.value}: quality control checks"
                " printed cards"
            )
        console.ledger.transition(
            [int(record.nik)], State.PRINT_READY, session.actor, reason=form.get("reason")
        )
        _say(
            request,
            session,
            "blank {serial}: spoiled; the record is print-ready again",
            serial=serial,
        )
    return _back("/qc")


# -- cards in doubt ----------------------------------------------------------------------------


@page()
async def in_doubt_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    with console.lock:
        cards = _in_doubt(console)
    return render(request, console, "in_doubt.html", session, cards=cards)


@page(Permission.SETTLE)
async def settle(request: Request) -> Response:
    console, session, form = _button(request)
    serial = int(request.path_params["serial"])
    with _acting(session), console.lock:
        found = [n for n, _, s in console.ledger.journal.in_doubt() if s == serial]
        if not found:
            raise InvalidArgumentError(
                f"no card in doubt went through the printer on blank {serial}"
            )
        printed = form.get("outcome") == "printed"
        console.ledger.settle(found[0], session.actor, printed=printed, note=form.get("note", ""))
        state = console.ledger.where_is(found[0]).state
        session.say("ok", f"blank {serial}: {mask_nik(found[0])} {state.value}")
    return _back("/in-doubt")


# -- records -----------------------------------------------------------------------------------


@page()
async def records_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    return render(request, console, "records.html", session)


@page()
async def find_record(request: Request) -> Response:
    console, session, form = _button(request)
    try:
        nik = Nik.parse(form.get("nik", "").strip())
        with console.lock:
            console.ledger.where_is(nik)
    except (InvalidNikError, EktpcoreError) as err:
        session.say("error", str(err))
        return _back("/records")
    return _back(f"/records/{session.handle(int(nik))}")


def _record_nik(request: Request, session: Session) -> int | None:
    """The NIK a handle of this session stands for (``None``: not one of its handles)."""
    return session.handles.get(request.path_params["handle"])


def _record_context(console: Console, nik: int, role: Role) -> dict[str, Any]:
    led = console.ledger
    record = led.where_is(nik)
    held = record.state is State.ON_HOLD
    back = None
    if held:
        before = [h for h in led.history(nik) if h.target is State.ON_HOLD]
        back = before[-1].source if before else None
    return {
        "record": record,
        "label": _label(record),
        "history": led.history(nik),
        "reveals": led.reveals(nik),
        "may_hold": transition_rule(record.state, State.ON_HOLD) is not None
        and permits(role, Permission.HOLD),
        "may_release": held and back is not None and permits(role, Permission.RELEASE_HOLD),
        "may_request_reprint": _may_request(record.state, State.PRINT_READY, role),
        "may_request_cancel": _may_request(record.state, State.CANCELLED, role),
        "may_cancel": _may_cancel(record.state, role),
        "handed_over": record.state is State.ISSUED,
        "purposes": REVEAL_PURPOSES,
        "may_hand_over": record.state is State.AT_KELURAHAN and permits(role, Permission.HAND_OVER),
    }


def _may_request(state: State, target: State, role: Role) -> bool:
    """Whether ``role`` may ask for a record in ``state`` to go to ``target`` as a two-person
    change (a reprint, cancelling a printed card): another person approves it."""
    rule = transition_rule(state, target)
    return rule is not None and rule.requested_by is not None and permits(role, rule.requested_by)


def _may_cancel(state: State, role: Role) -> bool:
    """Whether ``role`` may cancel a record in ``state`` at once (no card printed for it
    yet: one person's change)."""
    rule = transition_rule(state, State.CANCELLED)
    return rule is not None and rule.requested_by is None and permits(role, rule.permission)


@page()
async def record_page(request: Request) -> Response:
    console, session, _ = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    with console.lock:
        context = _record_context(console, nik, session.actor.role)
    return render(
        request,
        console,
        "record.html",
        session,
        handle=request.path_params["handle"],
        shown=None,
        **context,
    )


@page()
async def reveal(request: Request) -> Response:
    console, session, form = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    handle = request.path_params["handle"]
    try:
        with console.lock:
            record = console.ledger.reveal(nik, session.actor, purpose=form.get("purpose", ""))
    except AuthenticationError:
        raise
    except EktpcoreError as err:
        session.say("error", str(err))
        return _back(f"/records/{handle}")
    with console.lock:
        context = _record_context(console, nik, session.actor.role)
    shown = {"nik": str(record.nik), "name": record.name or "-"}
    return render(request, console, "record.html", session, handle=handle, shown=shown, **context)


@page(Permission.HOLD)
async def hold(request: Request) -> Response:
    console, session, form = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    with _acting(session), console.lock:
        console.ledger.transition([nik], State.ON_HOLD, session.actor, reason=form.get("reason"))
        session.say("ok", f"{mask_nik(nik)}: ON_HOLD")
    return _back(f"/records/{request.path_params['handle']}")


@page(Permission.RELEASE_HOLD)
async def release(request: Request) -> Response:
    console, session, form = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    with _acting(session), console.lock:
        before = [h for h in console.ledger.history(nik) if h.target is State.ON_HOLD]
        if console.ledger.where_is(nik).state is not State.ON_HOLD or not before:
            raise InvalidArgumentError(f"{mask_nik(nik)} is not on hold")
        back = before[-1].source
        assert back is not None
        console.ledger.transition([nik], back, session.actor, reason=form.get("reason"))
        session.say("ok", f"{mask_nik(nik)}: {back.value}")
    return _back(f"/records/{request.path_params['handle']}")


@page(Permission.REQUEST_REPRINT)
async def request_reprint(request: Request) -> Response:
    console, session, form = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    with _acting(session), console.lock:
        made = console.ledger.approvals.request(
            nik, State.PRINT_READY, session.actor, reason=form.get("reason", "")
        )
        _say(
            request, session, "request {number} waits for another person's approval", number=made.id
        )
    return _back(f"/records/{request.path_params['handle']}")


@page()
async def cancel(request: Request) -> Response:
    """Cancels a record: at once when no card was printed for it (a supervisor), or, for a
    printed card, as a request another person approves on the approvals page."""
    console, session, form = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    with _acting(session), console.lock:
        reason = form.get("reason", "")
        state = console.ledger.where_is(nik).state
        if _may_request(state, State.CANCELLED, session.actor.role):
            made = console.ledger.approvals.request(
                nik, State.CANCELLED, session.actor, reason=reason
            )
            _say(
                request,
                session,
                "request {number} waits for another person's approval",
                number=made.id,
            )
        elif _may_cancel(state, session.actor.role):
            console.ledger.transition([nik], State.CANCELLED, session.actor, reason=reason)
            session.say("ok", f"{mask_nik(nik)}: {State.CANCELLED.value}")
        else:
            raise InvalidArgumentError(
                f"{mask_nik(nik)} ({state.value}) cannot be cancelled by"
                f" {session.actor.role.name.lower()}s"
            )
    return _back(f"/records/{request.path_params['handle']}")


@page()
async def berita_acara(request: Request) -> Response:
    """The hand-over record (berita acara serah terima) of the card's latest hand-over, as
    a PDF with the full NIK and name: a showing of the citizen's data, so it is written to
    the audit first (purpose: the card's hand-over)."""
    from ..documents import handover_pdf

    console, session, _ = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    try:
        with console.lock:
            console.ledger.reveal(nik, session.actor, purpose="card hand-over")
            pdf = handover_pdf(console.ledger, nik, bureau=console.bureau)
    except AuthenticationError:
        raise
    except EktpcoreError as err:
        session.say("error", str(err))
        return _back(f"/records/{request.path_params['handle']}")
    return _pdf(pdf, "berita-acara.pdf")


@page(Permission.HAND_OVER)
async def hand_over(request: Request) -> Response:
    """The card handed to its citizen at the kelurahan (``ISSUED``), with how identity was
    checked, and who received it if not the citizen."""
    console, session, form = _button(request)
    nik = _record_nik(request, session)
    if nik is None:
        return _not_found(request)
    with _acting(session), console.lock:
        receiver = form.get("receiver", "").strip() or None
        console.ledger.distribution.hand_over(
            nik, session.actor, identity_check=form.get("identity_check", ""), receiver=receiver
        )
        session.say("ok", f"{mask_nik(nik)}: {State.ISSUED.value}")
    return _back(f"/records/{request.path_params['handle']}")


# -- two-person changes ------------------------------------------------------------------------


@page()
async def approvals_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    with console.lock:
        waiting = console.ledger.approvals.waiting()
    return render(request, console, "approvals.html", session, waiting=waiting)


@page(Permission.APPROVE_REPRINT)
async def decide(request: Request) -> Response:
    """Another person approves or refuses a waiting two-person change (the ledger refuses
    the person who asked)."""
    console, session, form = _button(request)
    number = int(request.path_params["number"])
    with _acting(session), console.lock:
        note = form.get("note", "").strip()
        if form.get("decision") == "approve":
            console.ledger.approvals.approve(number, session.actor, note=note or None)
        else:
            console.ledger.approvals.refuse(number, session.actor, note=note)
        found = console.ledger.approvals.get(number)
        _say(
            request,
            session,
            "request {number}: {outcome}",
            number=number,
            outcome=found.outcome or "",
        )
    return _back("/approvals")


# -- distribution ------------------------------------------------------------------------------


@page()
async def distribution_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    with console.lock:
        # Those still on their way, and the latest received: not every manifest ever made.
        dist = console.ledger.distribution
        manifests = dist.manifests(state=ManifestState.OPEN)
        manifests += dist.manifests(state=ManifestState.DISPATCHED)
        manifests += dist.manifests(state=ManifestState.RECEIVED, latest=console.received_shown)
        manifests.sort(key=lambda m: m.id)
        ready = console.ledger.counts().get(State.QC_PASSED, 0)
    return render(
        request,
        console,
        "distribution.html",
        session,
        manifests=manifests,
        received_shown=console.received_shown,
        ready=ready,
        Leg=Leg,
        ManifestState=ManifestState,
    )


@page(Permission.DISTRIBUTE)
async def distribution_action(request: Request) -> Response:
    console, session, form = _button(request)
    action = request.path_params["action"]
    with _acting(session), console.lock:
        dist, actor = console.ledger.distribution, session.actor
        if action == "build":
            built = dist.build(actor)
            session.say("ok", ", ".join(f"#{m.id} {m.destination} ({m.count})" for m in built))
        elif action == "build-kelurahan":
            built = dist.build_kelurahan(actor)
            session.say("ok", ", ".join(f"#{m.id} {m.destination} ({m.count})" for m in built))
        elif action in ("dispatch", "receive"):
            number = int(form.get("manifest", "0") or 0)
            if action == "dispatch":
                dist.dispatch(number, actor)
            else:
                count = form.get("count", "").strip()
                if not count.isdigit():
                    raise InvalidArgumentError("the cards counted are a whole number")
                dist.receive(number, form.get("receiver", ""), int(count), actor)
            session.say("ok", f"#{number}: {dist.manifest(number).state.value}")
        else:
            return _not_found(request)
    return _back("/distribution")


@page()
async def manifest_pdf_page(request: Request) -> Response:
    from ..documents import manifest_pdf

    console: Console = request.app.state.console
    number = int(request.path_params["number"])
    try:
        with console.lock:
            pdf = manifest_pdf(console.ledger, number, bureau=console.bureau)
    except EktpcoreError as err:
        return PlainTextResponse(str(err), status_code=404)
    return _pdf(pdf, f"manifes-{number}.pdf")


def _pdf(data: bytes, name: str) -> Response:
    """A PDF the browser shows (and saves as ``name``)."""
    return Response(
        data,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="{name}"'},
    )


# -- reports and stock -------------------------------------------------------------------------


def _day(request: Request) -> _dt.date | None:
    """The ``day`` asked for (today's bureau day when none); ``None`` when it is no date."""
    given = request.query_params.get("day")
    if not given:
        return _bureau_day()
    try:
        return _dt.date.fromisoformat(given)
    except ValueError:
        return None


def _has_charts() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@page()
async def reports_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    day = _day(request)
    if day is None:
        return PlainTextResponse("a day is YYYY-MM-DD", status_code=400)
    with console.lock:
        shifts = [
            (kind, states.get(State.PRINTED, 0), states.get(State.IN_DOUBT, 0))
            for kind, states, _ in _shifts(console, day)
        ]
    return render(
        request, console, "reports.html", session, day=day, shifts=shifts, chart=_has_charts()
    )


@page()
async def report_chart_page(request: Request) -> Response:
    from ..documents import day_report, report_chart

    console: Console = request.app.state.console
    day = _day(request)
    if day is None:
        return PlainTextResponse("a day is YYYY-MM-DD", status_code=400)
    with console.lock:
        picture = report_chart(day_report(console.ledger, day))
    return Response(picture, media_type="image/png")


@page()
async def report_pdf_page(request: Request) -> Response:
    from ..documents import day_report, report_pdf, shift_report

    console: Console = request.app.state.console
    kind = request.path_params["kind"]
    try:
        day = _dt.date.fromisoformat(request.query_params.get("day", ""))
    except ValueError:
        return PlainTextResponse("a day is YYYY-MM-DD", status_code=400)
    if kind not in ("day", "pagi", "malam"):
        return PlainTextResponse("Not found.", status_code=404)
    with console.lock:
        report = (
            day_report(console.ledger, day)
            if kind == "day"
            else shift_report(console.ledger, day, night=kind == "malam")
        )
        pdf = report_pdf(report, bureau=console.bureau)
    return _pdf(pdf, f"laporan-{kind}-{day.isoformat()}.pdf")


@page()
async def stock_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session = _session(request)
    with console.lock:
        lots = console.ledger.blanks.lots()
        blanks = console.ledger.blanks.counts()
        ribbons = console.ledger.ribbons.in_printers()
        printers = _printers(console)
    return render(
        request,
        console,
        "stock.html",
        session,
        lots=lots,
        ribbons=ribbons,
        blanks=[(s.value, n) for s, n in blanks.items() if n],
        printers=printers,
    )


def _whole(form: dict[str, str], key: str, what: str) -> int:
    text = form.get(key, "").strip()
    if not text.isdigit() or not 0 < int(text) <= 2**62:
        raise InvalidArgumentError(f"{what} is a whole number from 1")
    return int(text)


@page(Permission.RECEIVE_BLANKS)
async def receive_blanks(request: Request) -> Response:
    console, session, form = _button(request)
    with _acting(session), console.lock:
        first = _whole(form, "first", "the first serial")
        last = _whole(form, "last", "the last serial")
        added = console.ledger.blanks.receive(form.get("reference", ""), first, last, session.actor)
        _say(
            request,
            session,
            "{reference}: {count} blanks received",
            reference=form.get("reference", ""),
            count=added,
        )
    return _back("/stock")


@page(Permission.INSTALL_RIBBON)
async def install_ribbon(request: Request) -> Response:
    console, session, form = _button(request)
    with _acting(session), console.lock:
        capacity = _whole(form, "capacity", "a ribbon's capacity")
        ribbon = console.ledger.ribbons.install(
            form.get("printer", "").strip(), form.get("kind", "").strip(), capacity, session.actor
        )
        session.say("ok", f"{ribbon.printer}: {ribbon.kind} {ribbon.remaining}/{ribbon.capacity}")
    return _back("/stock")


# -- users -------------------------------------------------------------------------------------


@page(Permission.MANAGE_USERS)
async def users_page(request: Request) -> Response:
    console, session, _ = _button(request)
    with console.lock:
        users = console.ledger.users.list()
    roles = [r.name.lower() for r in Role]
    return render(request, console, "users.html", session, users=users, roles=roles)


@page(Permission.MANAGE_USERS)
async def users_action(request: Request) -> Response:
    """Adds a person, grants another role, sets a new password or disables a user: each one
    change of the ledger's users by the signed-in administrator, written to the audit."""
    console, session, form = _button(request)
    action, users = request.path_params["action"], console.ledger.users
    name, admin = form.get("name", "").strip(), session.actor
    with _acting(session), console.lock:
        if action == "add":
            users.add(admin, name, as_role(form.get("role", "")), password=form.get("password", ""))
            _say(request, session, "{name}: user added", name=name)
        elif action == "grant":
            role = as_role(form.get("role", ""))
            users.grant(admin, name, role)
            _say(request, session, "{name}: now {role}", name=name, role=role.name.lower())
        elif action == "password":
            users.set_password(admin, name, form.get("password", ""))
            _say(request, session, "{name}: password set", name=name)
        elif action == "disable":
            users.disable(admin, name)
            _say(request, session, "{name}: disabled", name=name)
        else:
            return _not_found(request)
    return _back("/users")


# -- the application ---------------------------------------------------------------------------


def create_app(console: Console, *, tls: bool = False) -> Any:
    """The ASGI application of ``console``: its pages, buttons and static files, behind the
    security headers (HSTS too with ``tls``: behind a TLS proxy)."""
    static = resources.files("ektpcore.console") / "static"
    routes = [
        Route("/", dashboard),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang/{code}", language),
        Route("/queue", queue_page),
        Route("/queue/plan", plan_queue, methods=["POST"]),
        Route("/qc", qc_page),
        Route("/qc/fail", qc_fail, methods=["POST"]),
        Route("/qc/{batch}/pass", qc_pass, methods=["POST"]),
        Route("/printers/{printer}/progress.json", printer_progress),
        Route("/printers/{printer}/{action}", printer_action, methods=["POST"]),
        Route("/in-doubt", in_doubt_page),
        Route("/in-doubt/{serial:int}/settle", settle, methods=["POST"]),
        Route("/records", records_page),
        Route("/records/find", find_record, methods=["POST"]),
        Route("/records/{handle}", record_page),
        Route("/records/{handle}/reveal", reveal, methods=["POST"]),
        Route("/records/{handle}/hold", hold, methods=["POST"]),
        Route("/records/{handle}/release", release, methods=["POST"]),
        Route("/records/{handle}/reprint", request_reprint, methods=["POST"]),
        Route("/records/{handle}/hand-over", hand_over, methods=["POST"]),
        Route("/records/{handle}/cancel", cancel, methods=["POST"]),
        Route("/records/{handle}/berita-acara", berita_acara, methods=["POST"]),
        Route("/approvals", approvals_page),
        Route("/approvals/{number:int}", decide, methods=["POST"]),
        Route("/distribution", distribution_page),
        Route("/distribution/{number:int}.pdf", manifest_pdf_page),
        Route("/distribution/{action}", distribution_action, methods=["POST"]),
        Route("/reports", reports_page),
        Route("/reports/day.png", report_chart_page),
        Route("/reports/{kind}.pdf", report_pdf_page),
        Route("/stock", stock_page),
        Route("/stock/blanks", receive_blanks, methods=["POST"]),
        Route("/stock/ribbon", install_ribbon, methods=["POST"]),
        Route("/users", users_page),
        Route("/users/{action}", users_action, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        # Shutting down: every run stops before its next card, its cards all recorded.
        await anyio.to_thread.run_sync(console.stations.stop_all)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.console = console
    return SecurityHeaders(app, tls=tls)
