"""``ektpcore console``: the operator console (:mod:`ektpcore.console`) on a ledger, served
on this machine."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from .common import (
    Exit,
    anchor_option,
    failure,
    given_anchor,
    key_file,
    keys_option,
    note,
    open_ledger,
    shown,
)

__all__ = ["console_command"]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("console")
@click.option(
    "--ledger",
    "location",
    required=True,
    metavar="FILE|URL",
    help="The ledger: a file, or a postgresql:// URL.",
)
@keys_option
@anchor_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; leave 127.0.0.1 unless behind a TLS proxy.",
)
@click.option("--port", type=click.IntRange(1, 65_535), default=8080, show_default=True)
@click.option(
    "--printers",
    "printers_file",
    type=click.Path(path_type=Path),
    default=None,
    help="The printers' TOML (rates, and each one's address = \"host:port\").",
)
@click.option(
    "--printer",
    "printer_addresses",
    multiple=True,
    metavar="ID=HOST:PORT",
    help="A printer's address (repeatable; over the printers' file).",
)
@click.option(
    "--region",
    default=None,
    help='The region the office serves, at the head of printed documents ("Kota'
    ' Bogor"; without it, "Kabupaten/Kota").',
)
@click.option("--address", "office_address", default=None, help="The office's address.")
@click.option("--no-photo-check", is_flag=True, help="Skip the photo-background rule.")
@click.option(
    "--behind-tls-proxy",
    "tls",
    is_flag=True,
    help="Cookies over TLS only, HSTS, the client address from the proxy.",
)
def console_command(
    location: str,
    keys: Path | None,
    host: str,
    port: int,
    printers_file: Path | None,
    printer_addresses: tuple[str, ...],
    region: str | None,
    office_address: str | None,
    no_photo_check: bool,
    tls: bool,
) -> None:
    """Serve the operator console on the ledger (pip install 'ektpcore[console]'): the day
    at a glance, the queue and "Print next batch" per printer, cards in doubt, records,
    distribution, reports and stock, in the browser, each user signed in with the ledger's
    users and roles. Open http://127.0.0.1:8080/ on this machine."""
    try:
        from ..console import open_console, serve
    except ImportError as err:
        raise failure(
            f"the console needs its extra: pip install 'ektpcore[console]' ({err.name} is missing)"
        ) from None
    from ..documents import Bureau
    from ..ledger import FileAnchor
    from ..planning.config import check_address, printers_from_toml

    if not _loopback(host) and not tls:
        raise failure(
            f"--host {host} serves the console beyond this machine: put it behind a TLS proxy"
            " and add --behind-tls-proxy (docs/console.md)",
            Exit.USAGE,
        )
    setup = None
    if printers_file is not None:
        if not printers_file.is_file():
            raise failure(f"{printers_file}: no such file", Exit.INPUT)
        setup = printers_from_toml(printers_file)
    addresses: dict[str, str] = {}
    for item in printer_addresses:
        name, sep, address = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--printer takes ID=HOST:PORT, not {item!r}")
        addresses[name.strip()] = check_address(address.strip(), f"--printer {name.strip()}")
    with open_ledger(location, keys) as led:  # refused here if not a ledger, or wrong keys
        if tls and not led.users.exist():
            raise failure(
                f"{shown(location)} has no users (development mode: anyone may sign in as any"
                " role); give it users (ektpcore users create-administrator) before serving it"
                " beyond this machine",
                Exit.DENIED,
            )
    anchor = given_anchor()
    console = open_console(
        location,
        keys=key_file(keys),
        anchor=None if anchor is None else FileAnchor(anchor),
        printers=setup,
        addresses=addresses,
        bureau=Bureau(region or "Kabupaten/Kota", office_address),
        photo_check=not no_photo_check,
        secure=tls,
    )
    note(f"ektpcore console on {shown(location)}: http://{host}:{port}/ (Ctrl+C stops it)")
    serve(console, host=host, port=port, tls=tls)
