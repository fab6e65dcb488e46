"""``ektpcore manifest print``, ``ektpcore berita-acara`` and ``ektpcore report``: the papers
a bureau prints and signs, as PDF (and the report as CSV), through
:mod:`ektpcore.documents`."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import click

from ..clock import WIB
from ..documents import (
    Bureau,
    day_report,
    handover_pdf,
    manifest_pdf,
    report_csv,
    report_pdf,
    shift_report,
)
from ..nik import Nik
from .common import (
    Exit,
    check_output,
    echo,
    failure,
    label,
    nik_argument,
    on_ledger,
    open_ledger,
    output_errors,
)
from .distribution import find_manifest

__all__ = ["berita_acara", "print_manifest", "report"]

# Checked by check_output, with its exit code. Every document is a new file of mode 0600,
# never one written over nor a symbolic link: a berita acara holds a citizen's full NIK and
# name, a manifest masked NIKs and initials by kelurahan, a report the staff's work.
_PDF = click.Path(path_type=Path)


def _bureau(f: Any) -> Any:
    """The office printed at the head of every page."""
    f = click.option("--address", default=None, help="The office's address, under its name.")(f)
    return click.option(
        "--region", required=True, help='The region the office serves, e.g. "Kota Bogor".'
    )(f)


@click.command("print")
@on_ledger
@click.argument("number", metavar="MANIFEST", type=click.IntRange(min=1, max=2**62))
@_bureau
@click.option("--output", "-o", type=_PDF, required=True, help="The PDF to write.")
def print_manifest(
    ledger: str, keys: Path | None, number: int, region: str, address: str | None, output: Path
) -> None:
    """A manifest as the box travels with it: cards by kelurahan (masked NIK, initials, blank
    serial), counts, and signature lines for sender and receiver."""
    check_output(output, "the manifest", new=True)
    with open_ledger(ledger, keys) as led, output_errors(output):
        find_manifest(led, number)  # an unknown one is exit 10, as everywhere
        manifest_pdf(led, number, bureau=Bureau(region, address), path=output)
    echo(f"manifest {number}: {output}")


@click.command("berita-acara")
@on_ledger
@nik_argument(many=True, required=True)
@_bureau
@click.option("--masked", is_flag=True, help="Mask the NIK (a copy for a notice board).")
@click.option("--output", "-o", type=_PDF, required=True, help="The PDF to write.")
def berita_acara(
    ledger: str,
    keys: Path | None,
    niks: tuple[Nik, ...],
    region: str,
    address: str | None,
    masked: bool,
    output: Path,
) -> None:
    """The hand-over record (berita acara serah terima) of each card's latest hand-over, one
    page each, with signature lines for both parties."""
    check_output(output, "the hand-over record", new=True)
    with open_ledger(ledger, keys) as led:
        for nik in niks:
            record = led.where_is(nik)  # an unknown NIK is exit 10
            if not led.distribution.handovers(nik):
                raise failure(
                    f"{label(record)}: no hand-over is recorded (the card is"
                    f" {record.state.value}): nothing to print",
                    Exit.NOTHING,
                )
        with output_errors(output):
            handover_pdf(
                led,
                [int(n) for n in niks],
                bureau=Bureau(region, address),
                full_nik=not masked,
                path=output,
            )
    echo(f"berita acara for {len(niks)} card(s): {output}")


@click.group()
def report() -> None:
    """The shift's and the day's production: cards printed, spoiled blanks by cause, blank
    movements and stock, ribbons, in-doubt cards, each operator's work."""


def _report_options(f: Any) -> Any:
    f = click.option("--csv", "csv_path", type=_PDF, default=None, help="Also a CSV.")(f)
    f = click.option("--output", "-o", type=_PDF, required=True, help="The PDF to write.")(f)
    f = _bureau(f)
    return click.option(
        "--date",
        "day",
        type=click.DateTime(formats=["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"]),
        default=None,
        help="The day (WIB), YYYY-MM-DD or DD/MM/YYYY; by default the day in progress (before"
        " 08.00 WIB, yesterday: its night shift is still on).",
    )(f)


def _write(
    found: Any, region: str, address: str | None, output: Path, csv_path: Path | None
) -> None:
    with output_errors(output):
        report_pdf(found, bureau=Bureau(region, address), path=output)
    echo(f"report: {output}")
    if csv_path is not None:
        with output_errors(csv_path):
            report_csv(found, csv_path)
        echo(f"figures: {csv_path}")


def _day(day: _dt.datetime | None) -> _dt.date:
    """The day asked for, or the bureau's day in progress: its 08.00-08.00 WIB window holds
    now, so between midnight and 08.00 it is yesterday (the night shift's day)."""
    if day is not None:
        return day.date()
    return (_dt.datetime.now(WIB) - _dt.timedelta(hours=8)).date()


@report.command("shift")
@on_ledger
@_report_options
@click.option("--night", is_flag=True, help="The night shift (20-08 WIB) starting that day.")
def report_shift(
    ledger: str,
    keys: Path | None,
    day: _dt.datetime | None,
    region: str,
    address: str | None,
    output: Path,
    csv_path: Path | None,
    night: bool,
) -> None:
    """One shift's report: the day shift 08-20 WIB, or with ``--night`` 20-08."""
    for path in (output, csv_path):
        if path is not None:
            check_output(path, "the report", new=True)
    with open_ledger(ledger, keys) as led:
        found = shift_report(led, _day(day), night=night)
    _write(found, region, address, output, csv_path)


@report.command("day")
@on_ledger
@_report_options
def report_day(
    ledger: str,
    keys: Path | None,
    day: _dt.datetime | None,
    region: str,
    address: str | None,
    output: Path,
    csv_path: Path | None,
) -> None:
    """A whole day's report, both shifts (08 WIB to 08 WIB the next day)."""
    for path in (output, csv_path):
        if path is not None:
            check_output(path, "the report", new=True)
    if day is not None and day.date() > _day(None):
        raise failure(f"{day.date()} has not come yet: nothing to report", Exit.NOTHING)
    with open_ledger(ledger, keys) as led:
        found = day_report(led, _day(day))
    _write(found, region, address, output, csv_path)
