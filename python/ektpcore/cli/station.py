"""``ektpcore station`` and ``ektpcore in-doubt``: print queued batches at a printer, see
which station holds which batch, release a dead station's batch, settle in-doubt cards."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from ..clock import wib_text
from ..errors import EktpcoreError
from ..lifecycle import Role
from ..nik import Nik, mask_nik
from .common import (
    NIK,
    SERIAL,
    Exit,
    Who,
    acting,
    echo,
    failure,
    label,
    note,
    on_ledger,
    open_ledger,
    signed_in,
)
from .printer import master_key

__all__ = ["in_doubt", "station"]


@click.group()
def station() -> None:
    """Print stations: planned batches from a ledger to a printer."""


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.UsageError(f"an address is host:port, got {text!r}")
    return host, int(port)


def _chip_encoding(
    reader: str, profile_name: str, key_file: Path | None, fingerprints: Path | None
) -> Any:
    """The station's chip encoding from the command line's options."""
    from ..chip import (
        LDS1,
        ChipProfile,
        PcscTransport,
        Personaliser,
        SoftwareKeyProvider,
        TcpChipTransport,
        chip_data_from_record,
    )
    from ..printing import ChipEncoding

    if key_file is None or fingerprints is None:
        raise click.UsageError("--chip-reader needs --key-file and --fingerprints")
    profile = LDS1 if profile_name == "lds1" else ChipProfile.from_toml(profile_name)
    keys = SoftwareKeyProvider(master_key(key_file), algorithm=profile.algorithm)
    kind, _, where = reader.partition(":")
    if kind == "tcp":
        h, p = _address(where)

        def connect() -> Any:
            return TcpChipTransport(h, p)

    elif kind == "pcsc":

        def connect() -> Any:
            return PcscTransport(int(where) if where.isdigit() else where)

    else:
        raise click.UsageError(f"--chip-reader is tcp:HOST:PORT or pcsc:NAME, got {reader!r}")

    def data(record: Any) -> Any:
        nik = str(record.nik)
        try:
            right = (fingerprints / f"{nik}.right").read_bytes()
            left = (fingerprints / f"{nik}.left").read_bytes()
        except OSError:
            raise EktpcoreError(
                f"no fingerprint templates for {record.nik!r} in {fingerprints}"
            ) from None
        return chip_data_from_record(record, (right, left))

    return ChipEncoding(Personaliser(profile, keys), connect, data)


def _printable(led: Any, batch: str, printer: str) -> int:
    """How many of ``batch``'s cards wait for ``printer``; a batch that is unknown, queued
    for another printer, or has nothing left is refused with its own exit code."""
    waiting = led.batch_printers(batch)
    if waiting.get(printer):
        return int(waiting[printer])
    if waiting:
        where = ", ".join(f"{p} ({n} cards)" for p, n in sorted(waiting.items()))
        raise failure(f"batch {batch} is queued for printer {where}, not {printer}", Exit.ELSEWHERE)
    known = led.batches(batch)
    if not known:
        raise failure(f"no batch {batch} in the ledger", Exit.UNKNOWN)
    states = ", ".join(f"{n} {s.value}" for s, n in sorted(known[0].states.items()))
    raise failure(f"batch {batch}: nothing left to print ({states or 'no records'})", Exit.NOTHING)


def _ribbon(led: Any, printer: str) -> None:
    ribbon = led.ribbons.current(printer)
    if ribbon is None or ribbon.remaining < 1:
        state = "has no ribbon installed" if ribbon is None else "has used up its ribbon"
        raise failure(
            f"printer {printer} {state}: record the new one first (ektpcore ribbon"
            f" {'install' if ribbon is None else 'change'} LEDGER --printer {printer} ...)",
            Exit.SHORT,
        )


@station.command("run")
@on_ledger
@click.option("--printer", "printer_id", required=True, help="The printer's id in the plan.")
@click.option("--address", required=True, help="host:port of the printer (raw port 9100).")
@click.option("--batch", "batches", multiple=True, required=True, help="Batch id (repeatable).")
@acting(Role.OPERATOR, default="operator")
@click.option(
    "--station",
    "station_name",
    default=None,
    help="This station's name in batch claims (default: PRINTER@host).",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=5.0, max=86_400.0),
    default=90.0,
    show_default=True,
    help="Seconds a batch claim lasts between heartbeats.",
)
@click.option(
    "--take-over",
    is_flag=True,
    help="Take over a batch whose claim lapsed (its station died); a live claim is never taken.",
)
@click.option(
    "--window",
    type=click.IntRange(min=1, max=1_000),
    default=1,
    show_default=True,
    help="Cards journalled together ahead of the printer, in one transaction with the"
    " outcomes before them: fewer transactions, and at most this many cards in doubt after a"
    " crash.",
)
@click.option("--no-photo-check", is_flag=True, help="Skip the photo-background rule.")
@click.option(
    "--chip-reader",
    default=None,
    help="Personalise each chip first: tcp:HOST:PORT (a served reader) or pcsc:NAME.",
)
@click.option(
    "--chip-profile",
    default="lds1",
    show_default=True,
    help="lds1, or a profile TOML file (docs/chip.md).",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Development master key (hex) for the chips' keys; production keys are in a SAM.",
)
@click.option(
    "--dialect",
    "dialect_name",
    type=click.Choice(["evolis", "magicard"]),
    default="evolis",
    show_default=True,
    help="The printer's language.",
)
@click.option(
    "--pause-for",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for the operator when the printer needs them (cover open, ribbon"
    " out, feeder empty ...); 0 stops the run at once.",
)
@click.option(
    "--fingerprints",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory of <NIK>.right and <NIK>.left templates from the enrolment system.",
)
def station_run(
    ledger: str,
    keys: Path | None,
    printer_id: str,
    address: str,
    batches: tuple[str, ...],
    who: Who,
    station_name: str | None,
    lease: float,
    take_over: bool,
    window: int,
    no_photo_check: bool,
    chip_reader: str | None,
    chip_profile: str,
    key_file: Path | None,
    dialect_name: str,
    pause_for: float,
    fingerprints: Path | None,
) -> None:
    """Print queued batches at one printer, recording every card in the LEDGER (a file, or a
    postgresql:// URL). Cards are drawn from the E-KTP template with what the ledger holds
    (NIK, name, kecamatan, kelurahan, the card's fields, photo and signature files). With
    --chip-reader every card's chip is personalised and read back first (two-phase jobs); a
    failed chip spoils its blank. The station claims each batch before its first card and
    gives it back at the end; a batch another station holds is refused, naming that station.
    On a ledger with users the station signs in first (--user, or a station token), and
    --operator is not taken.

    Every batch is checked before the first card moves: one that is unknown (exit 10),
    queued for another printer (11) or has nothing left to print (9), or a printer without
    a ribbon (12), or a card that cannot be drawn (a field missing, a photo file not there: 8),
    is refused. A run that stops before the batch's end (a jam, the printer
    refusing, a lost connection: cards in doubt) exits 13, its ribbon used up 12; a printer
    that cannot be reached, 1. When the printer needs the operator, the station says what to
    do and waits --pause-for seconds."""
    from ..printing import PrintStation, TcpTransport, Template, dialect
    from ..printing.layout import check_card, faces_from_record

    language = dialect(dialect_name)
    # The E-KTP layout on the printer's canvas (a Magicard's is 642 dots high, not 648: the
    # layout's bottom edge, all bleed, is left off).
    lines, dots = language.canvas
    template = dataclasses.replace(Template.default(), width=lines, height=dots)

    host, port = _address(address)
    chip = None
    if chip_reader is not None:
        chip = _chip_encoding(chip_reader, chip_profile, key_file, fingerprints)
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        for batch in batches:
            _printable(led, batch, printer_id)
            for record in led.queued(batch, printer_id):
                check_card(record)  # every card drawable before the first one moves
        _ribbon(led, printer_id)
        for batch in batches:
            with click.progressbar(length=1, label=f"batch {batch}", file=sys.stderr) as bar:

                def progress(done: int, total: int, bar: Any = bar) -> None:
                    bar.length = total
                    bar.update(1)

                st = PrintStation(
                    led,
                    printer=printer_id,
                    connect=lambda: TcpTransport(host, port),
                    faces=lambda record: faces_from_record(
                        record, template, check_photo=not no_photo_check
                    ),
                    actor=actor,
                    progress=progress,
                    chip=chip,
                    station=station_name,
                    lease=dt.timedelta(seconds=lease),
                    take_over=take_over,
                    window=window,
                    dialect=language,
                    pause=lambda message: note(f"printer {printer_id}: {message}"),
                    pause_timeout=pause_for,
                )
                report = st.run(batch)
            for warning in report.warnings:
                note(f"printer {printer_id}: {warning}")
            echo(
                f"{batch}: printed {len(report.printed)}, spoiled {len(report.spoiled)}"
                + (f" ({len(report.chip_failed)} chips failed)" if chip is not None else "")
                + f", in doubt {len(report.in_doubt)}, still queued {report.left}"
                + (
                    f" ({len(report.recovered)} earlier card(s) found sent and put in doubt:"
                    " see ektpcore in-doubt list)"
                    if report.recovered
                    else ""
                )
            )
            if report.stopped:
                ribbon = led.ribbons.current(printer_id)
                used_up = ribbon is None or ribbon.remaining < 1
                code = Exit.SHORT if used_up else Exit.PARTIAL
                raise failure(
                    f"batch {batch} stopped: {report.stopped}",
                    Exit.ERROR if report.unreachable else code,
                )


@station.command("claims")
@on_ledger
@click.option("--all", "show_all", is_flag=True, help="Also released claims.")
def station_claims(ledger: str, keys: Path | None, show_all: bool) -> None:
    """Which station holds which batch, and until when. A claim whose lease ran out belongs
    to a station that died or hangs: a supervisor releases it (station release), or a
    station takes it over (station run --take-over)."""
    with open_ledger(ledger, keys) as led:
        claims = led.claims.all() if show_all else led.claims.held()
    now = dt.datetime.now(dt.UTC)
    if not claims:
        echo("no batch is claimed")
    for c in claims:
        status = "released" if c.released else ("LAPSED" if c.expired(now) else "live")
        echo(
            f"{c.batch}: {c.station} (generation {c.generation}), lease until"
            f" {wib_text(c.lease_until)} - {status}"
        )


@station.command("release")
@on_ledger
@click.option("--batch", required=True, help="The batch whose claim is released.")
@acting(Role.SUPERVISOR)
@click.option("--reason", required=True, help="Why (recorded).")
def station_release(ledger: str, keys: Path | None, batch: str, who: Who, reason: str) -> None:
    """A supervisor releases a batch's claim (its station died, or the printer moved): the old
    station can record nothing more, and its card in flight becomes IN_DOUBT for settle."""
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        led.claims.release(batch, actor, reason=reason)
        doubt = led.journal.in_doubt(batch=batch)
        echo(f"{batch}: claim released; {len(doubt)} card(s) in doubt to settle")
        for nik, _, serial in doubt:
            echo(f"  blank {serial}: {label(led.where_is(nik))}")


@click.group("in-doubt")
def in_doubt() -> None:
    """Cards sent to a printer whose outcome nobody knows, and settling them."""


@in_doubt.command("list")
@on_ledger
@click.option("--printer", default=None, help="Only this printer's cards.")
def in_doubt_list(ledger: str, keys: Path | None, printer: str | None) -> None:
    """Cards whose outcome nobody knows, for a supervisor to settle: the blank serial printed
    on each (find it in the output tray), the masked NIK with the name's initials and the
    kelurahan, and the batch."""
    with open_ledger(ledger, keys) as led:
        cards = led.journal.in_doubt(printer)
        if not cards:
            echo("no card is in doubt")
        for nik, batch, serial in cards:
            echo(f"blank {serial}: {label(led.where_is(nik))} in batch {batch}")


@in_doubt.command("settle")
@on_ledger
@click.option("--nik", type=NIK, default=None, help="The in-doubt card's NIK.")
@click.option(
    "--blank",
    type=SERIAL,
    default=None,
    help="Or the serial of the blank it went through the printer on (see in-doubt list).",
)
@click.option(
    "--printed/--not-printed",
    required=True,
    help="Whether the card was found whole in the output tray.",
)
@acting(Role.SUPERVISOR)
@click.option("--note", "note_text", required=True, help="What was found (recorded).")
@click.option(
    "--serial",
    type=SERIAL,
    default=None,
    help="With --printed: the serial on the card, when the journal does not know its blank.",
)
def in_doubt_settle(
    ledger: str,
    keys: Path | None,
    nik: Nik | None,
    blank: int | None,
    printed: bool,
    who: Who,
    note_text: str,
    serial: int | None,
) -> None:
    """A supervisor settles an IN_DOUBT card, named by its NIK or by the blank it went
    through the printer on: printed (kept; its blank USED) or not printed (its blank SPOILED,
    the record back to PRINT_READY)."""
    if (nik is None) == (blank is None):
        raise click.UsageError("name the card by --nik or by --blank (one of them)")
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        value: Any = nik
        if blank is not None:
            found = [n for n, _, s in led.journal.in_doubt() if s == blank]
            if not found:
                raise failure(
                    f"no card in doubt went through the printer on blank {blank}", Exit.UNKNOWN
                )
            value = found[0]
        led.settle(value, actor, printed=printed, note=note_text, serial=serial)
        record = led.where_is(value)
    echo(
        f"{mask_nik(value)}: {record.state.value}"
        + (f" (card on blank {record.card_serial})" if record.card_serial else "")
    )


# The station's own names for the same two commands.
station.add_command(in_doubt_list, "in-doubt")
station.add_command(in_doubt_settle, "settle")
