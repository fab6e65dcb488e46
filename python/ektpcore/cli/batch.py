"""``ektpcore batch``: the print batches a plan queued, where their cards are, and taking a
batch's queued cards back out of it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click

from ..clock import wib_text
from ..ledger import BlankState
from ..lifecycle import Role, State
from .common import (
    Exit,
    Who,
    acting,
    count,
    echo,
    failure,
    label,
    on_ledger,
    open_ledger,
    signed_in,
)

__all__ = ["batch"]


@click.group()
def batch() -> None:
    """Print batches: what was queued for which printer, and where its cards are now."""


def _states(counts: Mapping[State, int] | Mapping[BlankState, int]) -> str:
    """Counts by state, in the order of the lifecycle."""
    members: list[State | BlankState] = [*State, *BlankState]
    items: list[tuple[State | BlankState, int]] = list(counts.items())
    text = ", ".join(f"{n} {s.value}" for s, n in sorted(items, key=lambda x: members.index(x[0])))
    return text or "none"


@batch.command("list")
@on_ledger
@click.option("--waiting", is_flag=True, help="Only batches with cards still queued.")
def batch_list(ledger: str, keys: Path | None, waiting: bool) -> None:
    """Every batch, oldest first: its printer, its records by state, its blanks."""
    with open_ledger(ledger, keys) as led:
        found = led.batches()
    if waiting:
        found = [b for b in found if b.waiting]
    if not found:
        echo("no batch" + (" has cards waiting" if waiting else " was queued"))
    for b in found:
        printers = ", ".join(sorted(b.printers))
        echo(
            f"{b.name}: {printers}, queued {wib_text(b.queued_at)}; records"
            f" {_states(b.states)}; blanks {_states(b.blanks)}"
        )


@batch.command("show")
@on_ledger
@click.argument("name", metavar="BATCH")
def batch_show(ledger: str, keys: Path | None, name: str) -> None:
    """One batch's records in print order: the masked NIK with the name's initials and the
    kelurahan, the state, and the blank its card is on."""
    with open_ledger(ledger, keys) as led:
        found = led.batches(name)
        if not found:
            raise failure(f"no batch {name} in the ledger", Exit.UNKNOWN)
        records = led.batch(name, current=True)
    b = found[0]
    echo(f"{b.name}: {', '.join(sorted(b.printers))}, queued {wib_text(b.queued_at)}")
    echo(f"  records {_states(b.states)}; blanks {_states(b.blanks)}")
    order = sorted(records, key=lambda r: (r.kecamatan or "", r.kelurahan or "", int(r.nik)))
    for r in order:
        blank = f", blank {r.card_serial}" if r.card_serial is not None else ""
        echo(f"  {label(r)}: {r.state.value}{blank}")


@batch.command("pull")
@on_ledger
@click.argument("name", metavar="BATCH")
@click.option(
    "--reason", required=True, help="Why (recorded; never a NIK), e.g. 'printer P2 broke down'."
)
@acting(Role.OPERATOR)
def batch_pull(ledger: str, keys: Path | None, name: str, reason: str, who: Who) -> None:
    """Takes a batch's cards still queued out of it (a printer broke down, the plan
    changed): they are PRINT_READY again, to be planned anew, and the batch's blanks not
    used go back to stock. Cards printed stay as they are; a batch a station is printing is
    refused (exit 8), one with nothing queued exits 9."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        found = led.batches(name)
        if not found:
            raise failure(f"no batch {name} in the ledger", Exit.UNKNOWN)
        queued = [r for r in led.batch(name, current=True) if r.state is State.QUEUED]
        if not queued:
            raise failure(
                f"batch {name}: no card queued to take out ({_states(found[0].states)})",
                Exit.NOTHING,
            )
        before = led.blanks.counts().get(BlankState.IN_STOCK, 0)
        led.transition([int(r.nik) for r in queued], State.PRINT_READY, actor, reason=reason)
        back = led.blanks.counts().get(BlankState.IN_STOCK, 0) - before
    echo(
        f"{name}: {count(len(queued))} taken out of the batch, PRINT_READY again;"
        f" {count(back, 'blank')} back in stock (plan them again: ektpcore plan --commit)"
    )
