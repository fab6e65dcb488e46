"""``ektpcore record``, ``reprint`` and ``qc``: a desk's changes to single records: holds,
cancellations and reprints (two-person where the rules say so), and quality control."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..clock import wib_text
from ..errors import ApprovalRequiredError, InvalidArgumentError
from ..lifecycle import Role, State
from ..nik import Nik
from .common import (
    SERIAL,
    Exit,
    Who,
    acting,
    count,
    echo,
    failure,
    label,
    nik_argument,
    on_ledger,
    open_ledger,
    plain,
    signed_in,
)
from .ledger import record_of

__all__ = ["qc", "record", "reprint"]


def _one_record(f: Any) -> Any:
    """``NIK`` or ``--blank SERIAL``: the record a desk command changes."""
    f = click.option(
        "--blank",
        type=SERIAL,
        default=None,
        help="Or name the record by the serial of the blank its card is on.",
    )(f)
    return nik_argument()(f)


def _reason(f: Any) -> Any:
    return click.option(
        "--reason", required=True, help="Why (recorded; never a NIK: name the card otherwise)."
    )(f)


@click.group()
def record() -> None:
    """One record's holds and cancellation, and the two-person requests they need."""


@record.command("hold")
@on_ledger
@_one_record
@_reason
@acting(Role.OPERATOR)
def record_hold(
    ledger: str, keys: Path | None, nik: Nik | None, blank: int | None, reason: str, who: Who
) -> None:
    """Puts a record on hold (from bio-captured, sent for enrolment or print-ready): it is
    not planned or printed until a supervisor releases it."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        r = record_of(led, nik, blank)
        led.transition([int(r.nik)], State.ON_HOLD, actor, reason=reason)
        echo(f"{label(r)}: {r.state.value} -> ON_HOLD")


@record.command("release")
@on_ledger
@_one_record
@_reason
@acting(Role.SUPERVISOR)
def record_release(
    ledger: str, keys: Path | None, nik: Nik | None, blank: int | None, reason: str, who: Who
) -> None:
    """A supervisor releases a record from hold, back to the state it was held in."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        r = record_of(led, nik, blank)
        if r.state is not State.ON_HOLD:
            raise failure(f"{label(r)} is {r.state.value}, not on hold", Exit.REFUSED)
        held = [h for h in led.history(int(r.nik)) if h.target is State.ON_HOLD]
        back = held[-1].source
        assert back is not None
        led.transition([int(r.nik)], back, actor, reason=reason)
        echo(f"{label(r)}: ON_HOLD -> {back.value}")


@record.command("cancel")
@on_ledger
@_one_record
@_reason
@click.option(
    "--request",
    "as_request",
    is_flag=True,
    help="For a record that holds a printed card: file the request another supervisor"
    " approves (two-person rule).",
)
@acting(Role.SUPERVISOR)
def record_cancel(
    ledger: str,
    keys: Path | None,
    nik: Nik | None,
    blank: int | None,
    reason: str,
    as_request: bool,
    who: Who,
) -> None:
    """A supervisor cancels a record. Cancelling one that holds a printed card voids the
    card and takes two people: --request files it, and another supervisor approves it with
    ektpcore record approve."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        r = record_of(led, nik, blank)
        if as_request:
            made = led.approvals.request(int(r.nik), State.CANCELLED, actor, reason=reason)
            echo(
                f"{label(r)}: request {made.id} to cancel it filed; another supervisor"
                f" approves it (ektpcore record approve LEDGER {made.id})"
            )
            return
        try:
            led.transition([int(r.nik)], State.CANCELLED, actor, reason=reason)
        except ApprovalRequiredError:
            raise failure(
                f"{label(r)} holds a printed card ({r.state.value}): cancelling it voids the"
                " card and takes two people; file the request with --request, and another"
                " supervisor approves it (ektpcore record approve)",
                Exit.REFUSED,
            ) from None
        echo(f"{label(r)}: {r.state.value} -> CANCELLED")


def _request(led: Any, number: int, kind: str | None = None) -> Any:
    """A waiting two-person request (a reprint's, with ``kind``), or the reason it is not."""
    try:
        found = led.approvals.get(number)
    except InvalidArgumentError:
        raise failure(f"no request {number} in the ledger", Exit.UNKNOWN) from None
    if kind == "reprint" and found.target is not State.PRINT_READY:
        raise failure(
            f"request {number} is not a reprint ({found.source.value} -> {found.target.value});"
            " see ektpcore record requests",
            Exit.REFUSED,
        )
    if found.outcome is not None:
        raise failure(f"request {number} was {found.outcome} already", Exit.REFUSED)
    return found


def _decide(
    ledger: str,
    keys: Path | None,
    number: int,
    who: Who,
    note_text: str | None,
    approve: bool,
    kind: str | None = None,
) -> None:
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        found = _request(led, number, kind)
        if approve:
            led.approvals.approve(number, actor, note=note_text)
        else:
            led.approvals.refuse(number, actor, note=note_text or "")
        r = led.where_is(int(found.nik))
    what = "approved" if approve else "refused"
    echo(
        f"request {number} {what}: {label(r)} is {r.state.value}"
        + (f" (requested by {found.requested_by})" if approve else "")
    )


def _request_argument(f: Any) -> Any:
    return click.argument("number", metavar="REQUEST", type=click.IntRange(min=1, max=2**62))(f)


@record.command("approve")
@on_ledger
@_request_argument
@click.option("--note", "note_text", default=None, help="A note (recorded).")
@acting(Role.SUPERVISOR)
def record_approve(
    ledger: str, keys: Path | None, number: int, note_text: str | None, who: Who
) -> None:
    """Another supervisor approves a waiting two-person request (a cancellation or a
    reprint), and its change is made."""
    _decide(ledger, keys, number, who, note_text, approve=True)


@record.command("refuse")
@on_ledger
@_request_argument
@click.option("--note", "note_text", required=True, help="Why (recorded).")
@acting(Role.SUPERVISOR)
def record_refuse(ledger: str, keys: Path | None, number: int, note_text: str, who: Who) -> None:
    """Refuses a waiting request (or its requester withdraws it): nothing changes."""
    _decide(ledger, keys, number, who, note_text, approve=False)


@record.command("requests")
@on_ledger
def record_requests(ledger: str, keys: Path | None) -> None:
    """Two-person requests waiting for a second person's approval."""
    with open_ledger(ledger, keys) as led:
        waiting = led.approvals.waiting()
        if not waiting:
            echo("no request is waiting")
        for a in waiting:
            r = led.where_is(int(a.nik))
            echo(
                f"request {a.id}: {label(r)} {a.source.value} -> {a.target.value}, by"
                f" {a.requested_by} at {wib_text(a.requested_at)}: {plain(a.reason)}"
            )


@click.group()
def reprint() -> None:
    """Reprints of lost or damaged cards: one person requests, another supervisor approves."""


@reprint.command("request")
@on_ledger
@_one_record
@_reason
@acting(Role.OPERATOR)
def reprint_request(
    ledger: str, keys: Path | None, nik: Nik | None, blank: int | None, reason: str, who: Who
) -> None:
    """Requests a reprint of an issued card that was lost or damaged (say what happened:
    the police letter, the damage); another supervisor approves it with reprint approve."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        r = record_of(led, nik, blank)
        made = led.approvals.request(int(r.nik), State.PRINT_READY, actor, reason=reason)
    echo(
        f"{label(r)}: reprint request {made.id} filed; another supervisor approves it"
        f" (ektpcore reprint approve LEDGER {made.id})"
    )


@reprint.command("approve")
@on_ledger
@_request_argument
@click.option("--note", "note_text", default=None, help="A note (recorded).")
@acting(Role.SUPERVISOR)
def reprint_approve(
    ledger: str, keys: Path | None, number: int, note_text: str | None, who: Who
) -> None:
    """A supervisor other than the requester approves a reprint: the lost card is
    invalidated and the record is PRINT_READY again, served after first-time cards."""
    _decide(ledger, keys, number, who, note_text, approve=True, kind="reprint")


@reprint.command("refuse")
@on_ledger
@_request_argument
@click.option("--note", "note_text", required=True, help="Why (recorded).")
@acting(Role.SUPERVISOR)
def reprint_refuse(ledger: str, keys: Path | None, number: int, note_text: str, who: Who) -> None:
    """Refuses a reprint request (or its requester withdraws it)."""
    _decide(ledger, keys, number, who, note_text, approve=False, kind="reprint")


@click.group()
def qc() -> None:
    """Quality control of printed cards: passed (on to distribution) or failed (the blank
    spoiled, the record printed again)."""


_CHECKED = (State.PRINTED, State.ENCODED)


def _cards(f: Any) -> Any:
    """``NIK...`` and ``--blank SERIAL`` (repeatable): the cards quality control names."""
    f = click.option(
        "--blank",
        "blanks",
        multiple=True,
        type=SERIAL,
        help="A card by its blank's serial (repeatable).",
    )(f)
    return on_ledger(nik_argument(many=True)(f))


def _chosen(led: Any, niks: Sequence[Nik], blanks: Sequence[int], batch: str | None) -> list[Any]:
    """The records named by NIK, by blank, or the printed cards of a batch."""
    if not (niks or blanks or batch):
        raise click.UsageError(
            "name the cards: NIKs (- reads them from standard input), --blank SERIAL or --batch"
            " NAME"
        )
    found = [led.where_is(int(n)) for n in niks] + [led.where_is_card(s) for s in blanks]
    wrong = [r for r in found if r.state not in _CHECKED]
    if wrong:
        raise failure(
            f"{label(wrong[0])} is {wrong[0].state.value}: quality control checks printed cards",
            Exit.REFUSED,
        )
    if batch is not None:
        if not led.batches(batch):
            raise failure(f"no batch {batch} in the ledger", Exit.UNKNOWN)
        found += [r for r in led.batch(batch, current=True) if r.state in _CHECKED]
    unique = {int(r.nik): r for r in found}
    if not unique:
        raise failure(f"batch {batch}: no printed card waits for quality control", Exit.NOTHING)
    return list(unique.values())


@qc.command("pass")
@_cards
@click.option("--batch", default=None, help="Every printed card of this batch.")
@acting(Role.OPERATOR)
def qc_pass(
    ledger: str,
    keys: Path | None,
    niks: tuple[Nik, ...],
    blanks: tuple[int, ...],
    batch: str | None,
    who: Who,
) -> None:
    """Cards whose print and chip passed the check: QC_PASSED, ready for a manifest. All of
    them in one change, or none."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        chosen = _chosen(led, niks, blanks, batch)
        printed = [int(r.nik) for r in chosen if r.state is State.PRINTED]
        with led.transaction(actor) as tx:
            if printed:
                tx.transition(printed, State.ENCODED, reason="chip read back at quality control")
            tx.transition([int(r.nik) for r in chosen], State.QC_PASSED)
        left: dict[State, int] = {}
        if batch is not None:
            for r in led.batch(batch, current=True):
                if r.state in (State.QUEUED, State.IN_DOUBT):
                    left[r.state] = left.get(r.state, 0) + 1
    echo(f"{count(len(chosen))} passed quality control (QC_PASSED)")
    if left:
        waiting = ", ".join(f"{n} {s.value}" for s, n in left.items())
        echo(f"batch {batch}: not printed yet: {waiting}")


@qc.command("fail")
@_cards
@_reason
@acting(Role.OPERATOR)
def qc_fail(
    ledger: str,
    keys: Path | None,
    niks: tuple[Nik, ...],
    blanks: tuple[int, ...],
    reason: str,
    who: Who,
) -> None:
    """Cards that failed the check (a smudge, a chip that does not read): their blanks
    SPOILED, their records PRINT_READY again, to be planned and printed anew."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        chosen = _chosen(led, niks, blanks, None)
        led.transition([int(r.nik) for r in chosen], State.PRINT_READY, actor, reason=reason)
    for r in chosen:
        echo(f"{label(r)}: blank {r.card_serial} SPOILED; PRINT_READY again")
    echo(f"{count(len(chosen))} failed quality control; plan them again (ektpcore plan --commit)")
