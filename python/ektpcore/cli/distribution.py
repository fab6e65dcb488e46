"""``ektpcore manifest`` and ``ektpcore handover``: cards from the bureau to each kecamatan,
from a kecamatan to each kelurahan (``manifest build --leg kelurahan``), and into citizens'
hands. ``manifest print`` (in :mod:`ektpcore.cli.documents`) prints a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import EktpcoreError, InvalidArgumentError, SheetError
from ..lifecycle import Role, State
from ..nik import Nik, parse_niks
from .common import (
    SERIAL,
    Exit,
    Reject,
    Who,
    acting,
    check_output,
    column_map,
    columns_option,
    count,
    echo,
    failure,
    label,
    nik_argument,
    on_ledger,
    open_ledger,
    read_input,
    reject,
    rejects_option,
    rejects_path,
    signed_in,
    tell_rejects,
    write_rejects,
)
from .ledger import record_of

__all__ = ["handover", "manifest"]


@click.group()
def manifest() -> None:
    """Manifests: the QC-passed cards of each kecamatan, grouped by kelurahan, dispatched
    and received with their count checked."""


def find_manifest(led: Any, number: int) -> Any:
    try:
        return led.distribution.manifest(number)
    except InvalidArgumentError:
        raise failure(f"no manifest {number} in the ledger", Exit.UNKNOWN) from None


def _line(m: Any) -> str:
    groups = ", ".join(f"{kel or '-'} {len(cards)}" for kel, cards in m.kelurahan.items())
    to = m.kecamatan or "-" if m.to_kelurahan is None else f"{m.kecamatan} / {m.to_kelurahan}"
    return f"manifest {m.id}: {to}, {count(m.count)}, {m.state.value} ({groups})"


def _manifest_argument(f: Any) -> Any:
    return click.argument("number", metavar="MANIFEST", type=click.IntRange(min=1, max=2**62))(f)


@manifest.command("build")
@on_ledger
@click.option(
    "--leg",
    type=click.Choice(["kecamatan", "kelurahan"]),
    default="kecamatan",
    show_default=True,
    help="kecamatan: QC-passed cards, one manifest per kecamatan; kelurahan: cards received"
    " at a kecamatan, one manifest per kelurahan.",
)
@click.option("--kecamatan", default=None, help="With --leg kelurahan: this kecamatan only.")
@acting(Role.OPERATOR)
def manifest_build(
    ledger: str, keys: Path | None, leg: str, kecamatan: str | None, who: Who
) -> None:
    """New manifests for the cards on no manifest yet: one per kecamatan for the cards that
    passed quality control, or (``--leg kelurahan``) one per kelurahan for the cards received
    at their kecamatan."""
    if kecamatan is not None and leg != "kelurahan":
        raise failure("--kecamatan goes with --leg kelurahan", Exit.USAGE)
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        if leg == "kelurahan":
            built = led.distribution.build_kelurahan(actor, kecamatan=kecamatan)
        else:
            built = led.distribution.build(actor)
    if not built:
        waiting = "received at a kecamatan" if leg == "kelurahan" else "passed quality control"
        raise failure(f"no card {waiting} that is not on a manifest", Exit.NOTHING)
    for m in built:
        echo(_line(m))


@manifest.command("list")
@on_ledger
def manifest_list(ledger: str, keys: Path | None) -> None:
    """Every manifest: its kecamatan, cards by kelurahan, and where it is."""
    with open_ledger(ledger, keys) as led:
        found = led.distribution.manifests()
    if not found:
        echo("no manifest")
    for m in found:
        echo(_line(m))


@manifest.command("show")
@on_ledger
@_manifest_argument
def manifest_show(ledger: str, keys: Path | None, number: int) -> None:
    """A manifest's cards by kelurahan: the masked NIK with the name's initials, the blank
    each card is on, and where each is now."""
    with open_ledger(ledger, keys) as led:
        m = find_manifest(led, number)
        echo(_line(m))
        for kel, cards in m.kelurahan.items():
            echo(f"  {kel or '-'}:")
            for nik in cards:
                r = led.where_is(int(nik))
                echo(f"    {label(r)}: blank {r.card_serial or '-'}, {r.state.value}")


@manifest.command("dispatch")
@on_ledger
@_manifest_argument
@acting(Role.OPERATOR)
def manifest_dispatch(ledger: str, keys: Path | None, number: int, who: Who) -> None:
    """Sends a manifest's consignment: its cards are on their way to the kecamatan."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        m = find_manifest(led, number)
        led.distribution.dispatch(number, actor)
    echo(f"manifest {number}: {count(m.count)} dispatched to {m.destination or '-'}")


@manifest.command("receive")
@on_ledger
@_manifest_argument
@click.option("--receiver", required=True, help="Who received the consignment (recorded).")
@click.option(
    "--count",
    "counted",
    type=click.IntRange(min=0, max=10_000_000),
    required=True,
    help="The cards the receiver counted: a count that differs is refused, nothing recorded.",
)
@acting(Role.OPERATOR)
def manifest_receive(
    ledger: str, keys: Path | None, number: int, receiver: str, counted: int, who: Who
) -> None:
    """The kecamatan confirms receipt of a manifest with the count it made; a count that
    does not match is refused (exit 8) and nothing is recorded."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        find_manifest(led, number)
        m = led.distribution.receive(number, receiver, counted, actor)
    echo(f"manifest {number}: {count(m.count)} received at {m.destination or '-'}")


_HANDED = (State.AT_KECAMATAN, State.AT_KELURAHAN)


@click.command("handover")
@on_ledger
@nik_argument()
@click.option("--blank", type=SERIAL, default=None, help="Or the card's blank.")
@click.option(
    "--identity-check",
    default=None,
    help="How the citizen was identified (recorded; e.g. 'KK and photo checked').",
)
@click.option("--receiver", default=None, help="Who received the card, if not the citizen.")
@click.option(
    "--sheet",
    "sheet_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Hand over every card of a sheet (a collection day): nik and identity_check"
    " columns (--identity-check fills empty ones).",
)
@columns_option("nik, name, identity_check")
@rejects_option
@acting(Role.OPERATOR)
def handover(
    ledger: str,
    keys: Path | None,
    nik: Nik | None,
    blank: int | None,
    identity_check: str | None,
    receiver: str | None,
    sheet_path: Path | None,
    columns: tuple[str, ...],
    rejects: Path | None,
    who: Who,
) -> None:
    """Hands a card to its citizen (ISSUED), recording how identity was checked; or every
    card of a --sheet at once (rows whose card is not at the kecamatan or kelurahan, or whose
    identity check is missing, are left out with the reason: exit 13)."""
    if sheet_path is None:
        if identity_check is None:
            raise click.UsageError("say how the citizen was identified: --identity-check TEXT")
        with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
            r = record_of(led, nik, blank)
            led.distribution.hand_over(
                int(r.nik), actor, identity_check=identity_check, receiver=receiver
            )
        echo(f"{label(r)}: handed over (ISSUED)")
        return
    if nik is not None or blank is not None or receiver is not None:
        raise click.UsageError(
            "--sheet hands over the sheet's cards: no NIK, --blank or --receiver"
        )
    where = rejects_path(sheet_path, rejects)
    check_output(where, "the rejects")
    sheet = read_input(sheet_path, column_map(columns), ["nik", "name", "identity_check"])
    sheet.require("nik")
    _given(sheet, identity_check)
    checks = sheet.values("identity_check") if sheet.has("identity_check") else [""] * len(sheet)
    parsed = parse_niks(sheet.values("nik"))
    left_out: list[Reject] = []
    keep: list[int] = []
    first: dict[int, int] = {}
    with open_ledger(ledger, keys) as led:
        for i, message in enumerate(parsed.messages()):
            why = _why_not(led, int(parsed.values[i]), message, checks[i] or identity_check)
            if why is None and int(parsed.values[i]) in first:
                # One card per citizen: a second row of the same NIK hands nothing over.
                why = ("nik", f"the NIK repeats row {sheet.numbers[first[int(parsed.values[i])]]}")
            if why is None:
                first[int(parsed.values[i])] = i
                keep.append(i)
            else:
                left_out.append(reject(sheet, i, why[0], why[1]))
        if keep:
            with signed_in(led, who) as actor:
                led.distribution.hand_over_many(
                    [int(parsed.values[i]) for i in keep],
                    actor,
                    identity_checks=[checks[i] or identity_check or "" for i in keep],
                )
    echo(f"{sheet_path.name}: {count(len(keep))} handed over (ISSUED); {len(left_out)} left out")
    if left_out:
        write_rejects(where, left_out)
        tell_rejects(left_out, where)
        raise failure(
            f"{len(left_out)} of {len(sheet)} cards not handed over (see {where})", Exit.PARTIAL
        )


def _given(sheet: Any, identity_check: str | None) -> None:
    if not sheet.has("identity_check") and identity_check is None:
        raise SheetError(
            f"{sheet.path.name}: no identity_check column; give one (--column"
            " identity_check=HEADER) or --identity-check TEXT for every row"
        )


def _why_not(led: Any, nik: int, message: str | None, check: str | None) -> tuple[str, str] | None:
    """Why a row's card cannot be handed over (the column and the reason), or ``None``."""
    from ..ledger.sealing import check_free_text

    if message:
        return "nik", f"invalid NIK: {message}"
    if not (check or "").strip():
        return "identity_check", "how the citizen was identified is not recorded"
    try:
        check_free_text(check, "the identity check")
        state = led.state_of(nik)
    except EktpcoreError as err:
        return (
            ("nik", "not in the ledger")
            if isinstance(err, KeyError)
            else (
                "identity_check",
                str(err),
            )
        )
    if state not in _HANDED:
        return "nik", f"the card is {state.value}, not at the kecamatan or kelurahan"
    return None
