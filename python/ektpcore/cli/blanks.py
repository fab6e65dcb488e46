"""``ektpcore blanks``: lots of blank cards received, and where every blank is."""

from __future__ import annotations

from pathlib import Path

import click

from ..clock import wib_text
from ..lifecycle import Role
from .common import SERIAL, Who, acting, echo, on_ledger, open_ledger, signed_in

__all__ = ["blanks"]


@click.group()
def blanks() -> None:
    """Blank cards (blangko): lots received by serial range, and where each blank is."""


@blanks.command("receive")
@on_ledger
@click.option("--lot", "reference", required=True, help="The lot's reference (the delivery note).")
@click.option("--first", type=SERIAL, required=True, help="The lot's first serial.")
@click.option("--last", type=SERIAL, required=True, help="The lot's last serial.")
@acting(Role.SUPERVISOR)
def blanks_receive(
    ledger: str, keys: Path | None, reference: str, first: int, last: int, who: Who
) -> None:
    """A supervisor records a delivered lot of blanks, serials FIRST to LAST. A range that
    overlaps an earlier lot is refused (exit 8) and nothing is recorded; a lot larger than
    50,000 is written in parts, and receiving it again continues where it stopped."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        count = led.blanks.receive(reference, first, last, actor)
        stock = led.blanks.counts()
    in_stock = sum(n for s, n in stock.items() if s.value == "IN_STOCK")
    echo(f"lot {reference}: {count:,} blanks received ({first}-{last}); {in_stock:,} in stock")


@blanks.command("list")
@on_ledger
def blanks_list(ledger: str, keys: Path | None) -> None:
    """The lots received and the blanks by state."""
    with open_ledger(ledger, keys) as led:
        lots = led.blanks.lots()
        counts = led.blanks.counts()
    if not lots:
        echo("no blanks received")
    for lot in lots:
        part = "" if lot.complete else " (INCOMPLETE: receive it again to finish)"
        echo(
            f"lot {lot.reference}: {lot.first}-{lot.last} ({lot.count:,}), received"
            f" {wib_text(lot.received_at)} by {lot.received_by}{part}"
        )
    for state, count in sorted(counts.items(), key=lambda x: x[0].value):
        echo(f"  {state.value:<10} {count:>10,}")
