"""``ektpcore ribbon``: the ribbon in each printer, installed and changed."""

from __future__ import annotations

from pathlib import Path

import click

from ..clock import wib_text
from ..lifecycle import Role
from .common import Exit, Who, acting, echo, failure, on_ledger, open_ledger, signed_in

__all__ = ["ribbon"]


@click.group()
def ribbon() -> None:
    """Printer ribbons: one per printer, one print taken off it per card printed."""


def _remaining(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--remaining",
        type=click.IntRange(min=0, max=1_000_000),
        default=None,
        help="Prints left on a part-used ribbon (default: all of them).",
    )(f)


@ribbon.command("install")
@on_ledger
@click.option("--printer", required=True, help="The printer's id (as the plan names it).")
@click.option("--kind", default="YMCKO", show_default=True, help="The ribbon's panels.")
@click.option(
    "--capacity",
    type=click.IntRange(min=1, max=1_000_000),
    default=500,
    show_default=True,
    help="Prints a full ribbon holds.",
)
@_remaining
@acting(Role.OPERATOR)
def ribbon_install(
    ledger: str,
    keys: Path | None,
    printer: str,
    kind: str,
    capacity: int,
    remaining: int | None,
    who: Who,
) -> None:
    """Records a ribbon put into a printer that has none (ribbon change replaces one)."""
    with open_ledger(ledger, keys) as led:
        current = led.ribbons.current(printer)
        if current is not None:
            raise failure(
                f"printer {printer} has a ribbon ({current.remaining} of {current.capacity}"
                " prints left): record a new one with ribbon change",
                Exit.REFUSED,
            )
        with signed_in(led, who) as actor:
            new = led.ribbons.install(printer, kind, capacity, actor, remaining=remaining)
    echo(
        f"printer {printer}: {new.kind} ribbon installed, {new.remaining} of {new.capacity} prints"
    )


@ribbon.command("change")
@on_ledger
@click.option("--printer", required=True, help="The printer's id (as the plan names it).")
@click.option("--kind", default=None, help="The new ribbon's panels (default: as the old one).")
@click.option(
    "--capacity",
    type=click.IntRange(min=1, max=1_000_000),
    default=None,
    help="Prints the new ribbon holds (default: as the old one).",
)
@_remaining
@acting(Role.OPERATOR)
def ribbon_change(
    ledger: str,
    keys: Path | None,
    printer: str,
    kind: str | None,
    capacity: int | None,
    remaining: int | None,
    who: Who,
) -> None:
    """Records a new ribbon in place of the printer's current one (used up, or changed
    before a long batch), saying how many prints the old one had left."""
    with open_ledger(ledger, keys) as led:
        old = led.ribbons.current(printer)
        if old is None:
            raise failure(
                f"printer {printer} has no ribbon to change: record one with ribbon install",
                Exit.NOTHING,
            )
        with signed_in(led, who) as actor:
            new = led.ribbons.install(
                printer, kind or old.kind, capacity or old.capacity, actor, remaining=remaining
            )
    echo(
        f"printer {printer}: ribbon changed ({old.remaining} prints were left on the old one);"
        f" {new.kind}, {new.remaining} of {new.capacity} prints"
    )


@ribbon.command("status")
@on_ledger
@click.option("--printer", default=None, help="Only this printer.")
def ribbon_status(ledger: str, keys: Path | None, printer: str | None) -> None:
    """The ribbon in each printer: its kind, prints left, when it was installed, and how
    many ribbons the printer has had."""
    with open_ledger(ledger, keys) as led:
        found = led.ribbons.in_printers()
        if printer is not None:
            found = [r for r in found if r.printer == printer]
            if not found:
                raise failure(f"printer {printer} has no ribbon installed", Exit.NOTHING)
        changes = {r.printer: led.ribbons.changes(r.printer) for r in found}
    if not found:
        echo("no printer has a ribbon installed")
    for r in found:
        low = " - USED UP" if r.remaining == 0 else ""
        echo(
            f"{r.printer}: {r.kind}, {r.remaining} of {r.capacity} prints left{low}; installed"
            f" {wib_text(r.installed_at)}; ribbon {changes[r.printer]} of this printer"
        )
