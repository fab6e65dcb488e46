"""The operator console: a bureau's day in the browser, built only on ektpcore's public API.

``pip install 'ektpcore[console]'``, then ``ektpcore console --ledger bureau.db`` serves it
on 127.0.0.1:8080. Pages are rendered on the server (Starlette and Jinja2, every asset in
this package: no CDN), in Bahasa Indonesia or English: the day at a glance, the queue with
"Print next batch" per printer and its live progress, cards in doubt to settle, records
(found by NIK, shown masked, each full showing recorded), distribution, reports and stock.
Users sign in with the ledger's own users and roles; see ``docs/console.md``.

From Python::

    from ektpcore.console import open_console, create_app
    console = open_console("bureau.db", printers=printers_from_toml("printers.toml"))
    app = create_app(console)          # any ASGI server; ektpcore console uses uvicorn
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .app import Console, create_app
from .stations import RunProgress, StationRuns

if TYPE_CHECKING:
    from ..documents import Bureau
    from ..keys import LedgerKeys
    from ..ledger import Ledger
    from ..ledger.anchor import Anchor
    from ..planning import PrinterSetup
    from ..printing import Transport

__all__ = ["Console", "RunProgress", "StationRuns", "create_app", "open_console", "serve"]


def open_console(
    location: str,
    *,
    keys: LedgerKeys | None = None,
    anchor: Anchor | None = None,
    printers: PrinterSetup | None = None,
    addresses: dict[str, str] | None = None,
    bureau: Bureau | None = None,
    photo_check: bool = True,
    secure: bool = False,
    connect: Callable[[str], Transport] | None = None,
) -> Console:
    """A console over the existing ledger at ``location`` (a file or a ``postgresql://``
    URL; ``keys`` for a sealed one; ``anchor`` keeps the checkpoints of every connection it
    opens, see docs/ledger.md#the-anchor). ``printers`` (:func:`~ektpcore.printers_from_toml`)
    gives each printer's rate, for the queue's times, and its ``address``; ``addresses``
    adds or overrides ``printer -> host:port``. ``bureau`` heads printed documents;
    ``photo_check`` applies the photo-background rule before each card; ``secure`` sends
    cookies over TLS only (behind a TLS proxy); ``connect`` opens a transport to an address
    (TCP port 9100 by default)."""
    from ..documents import Bureau
    from ..ledger import Ledger
    from ..printing.layout import faces_from_record

    def open_ledger() -> Ledger:
        return Ledger(location, create=False, keys=keys, anchor=anchor)

    known = dict(printers.addresses) if printers is not None else {}
    known.update(addresses or {})
    rates = {p.id: p.cards_per_hour for p in printers.printers} if printers is not None else {}
    ledger = open_ledger()
    console: Console

    def faces(record: Any) -> Any:
        return faces_from_record(record, check_photo=photo_check)

    def finished(actor: Any) -> None:
        console.run_ended(actor)

    stations = StationRuns(
        open_ledger, known, faces=faces, rates=rates, connect=connect, on_finish=finished
    )
    # The ledger counts its records and blanks by state once, then follows the changes: done
    # here, the first page shown pays no full count of a large ledger.
    ledger.counts()
    ledger.blanks.counts()
    console = Console(
        ledger,
        open_ledger,
        stations,
        bureau or Bureau("Kabupaten/Kota"),
        printers=tuple(sorted(set(rates) | set(known))),
        setup=printers,
        secure=secure,
    )
    return console


@contextlib.contextmanager
def closing(console: Console) -> Iterator[Console]:
    """``console``, its print runs stopped and its ledger closed when the block ends."""
    try:
        yield console
    finally:
        console.stations.stop_all()
        for session in console.sessions.all():
            console.sign_out(session.actor)
        console.ledger.close()


def serve(
    console: Console, *, host: str = "127.0.0.1", port: int = 8080, tls: bool = False
) -> None:
    """Serves ``console`` with uvicorn until interrupted; ``tls``: it sits behind a TLS
    proxy (HSTS; the proxy's forwarded client address is taken from 127.0.0.1 only)."""
    import uvicorn

    with closing(console):
        uvicorn.run(
            create_app(console, tls=tls),
            host=host,
            port=port,
            log_level="info",
            proxy_headers=tls,
            forwarded_allow_ips="127.0.0.1",
            server_header=False,
        )
