"""``ektpcore ledger``: make a ledger, take a day's export in, and ask it questions: where a
card is, whether the history verifies, whether every blank is accounted for; export, back up
and seal it."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import os
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .._ektpcore import KeyRing
from .._files import spreadsheet_cell
from ..clock import shift_window, wib_text
from ..errors import (
    BlankShortageWarning,
    LedgerError,
    LedgerFileError,
    LedgerKeyError,
    ReplacedRowsKeptWarning,
    SheetError,
)
from ..keys import KeyFile, LedgerKeys
from ..ledger import CARD_FIELDS, FileAnchor
from ..ledger.sealing import text_rule
from ..lifecycle import Role, State
from ..nik import Nik, Sex, parse_niks
from ..sheets import Sheet, parse_date
from .common import (
    KEYS_VARIABLE,
    PASSWORD_VARIABLE,
    SERIAL,
    Exit,
    Reject,
    Who,
    acting,
    anchor_option,
    check_anchor_folder,
    check_cleaned,
    check_output,
    column_map,
    columns_option,
    echo,
    failure,
    given_anchor,
    key_file,
    label,
    nik_argument,
    note,
    on_ledger,
    open_ledger,
    output_option,
    plain,
    read_input,
    reject,
    rejects_option,
    rejects_path,
    shown,
    signed_in,
    tell_rejects,
    write_cleaned,
    write_rejects,
    writing,
)
from .dedup import date_reason

__all__ = ["ledger", "record_of"]


@click.group()
def ledger() -> None:
    """A ledger: make one, take records in, and ask it where things are.

    LEDGER is a ledger file or a postgresql:// URL. A sealed ledger opens with its key file
    (--keys, or EKTPCORE_LEDGER_KEYS)."""


def _keys_options(f: Any) -> Any:
    f = click.option(
        "--shared-keys",
        is_flag=True,
        help="Use the key file even though it already serves another ledger (refused"
        " otherwise: one key file per ledger).",
    )(f)
    f = click.option(
        "--new-keys",
        is_flag=True,
        help="Make the key file first (mode 0600; an existing file is never overwritten).",
    )(f)
    return click.option(
        "--keys",
        type=click.Path(path_type=Path),
        envvar=KEYS_VARIABLE,
        default=None,
        help=f"Seal the ledger with this key file (or {KEYS_VARIABLE}).",
    )(f)


def _sealing_keys(keys: Path | None, new_keys: bool) -> Any:
    """The keys to seal with: the key file ``keys``, or with ``new_keys`` one made when the
    ledger first asks for them (after the sign-in and the permission check, so a refused
    ``ledger seal`` leaves no key file behind)."""
    if new_keys and keys is None:
        raise click.UsageError("--new-keys makes the file --keys names: give --keys FILE")
    if new_keys:
        assert keys is not None
        check_output(keys, "a key file", new=True)
        return _KeysMadeOnUse(keys)
    return key_file(keys)


class _KeysMadeOnUse(LedgerKeys):
    """A new key file, made the first time the ledger asks for its keys."""

    __slots__ = ("_made", "_path")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._made: KeyFile | None = None

    def key_ring(self) -> KeyRing:
        if self._made is None:
            self._made = KeyFile.create(self._path)
            note(
                f"{self._path}: new key file (mode 0600): keep a copy offline, never beside"
                " the ledger"
            )
        return self._made.key_ring()

    def serve(self, ledger: str, *, shared: bool = False) -> None:
        if self._made is not None:
            self._made.serve(ledger, shared=shared)


def _new_anchor(path: Path | None) -> FileAnchor | None:
    """The anchor of a ledger whose history starts here (made, or sealed): a file that
    holds no checkpoint yet, since older ones are another history's and would not verify."""
    if path is None:
        return None
    check_anchor_folder(path)
    if path.is_file() and path.stat().st_size > 0:
        raise failure(
            f"{path}: the anchor holds checkpoints already (of another ledger, or of this one"
            " before it was sealed); give this ledger a new anchor file",
            Exit.OUTPUT,
        )
    return FileAnchor(path)


@ledger.command("init")
@click.argument("location", metavar="LEDGER")
@_keys_options
@anchor_option
def ledger_init(location: str, keys: Path | None, new_keys: bool, shared_keys: bool) -> None:
    """Makes a new, empty LEDGER: a new file (mode 0600), or the tables in an empty
    PostgreSQL database. With --keys it is sealed: citizens' data kept encrypted, opened
    only with that key file (one serving another ledger is refused without --shared-keys).
    With --anchor its first checkpoint is written to a new anchor file. A place that holds a
    ledger (or any file) is refused."""
    from ..ledger import Ledger
    from ..ledger.store import is_database_url

    anchor = _new_anchor(given_anchor())

    if is_database_url(location):
        try:
            Ledger(location, create=False).close()
        except LedgerKeyError:  # a sealed one
            raise failure(f"{shown(location)}: holds a ledger already", Exit.LEDGER) from None
        except LedgerFileError:
            pass  # no ledger there: one is made
        else:
            raise failure(f"{shown(location)}: holds a ledger already", Exit.LEDGER)
    elif Path(location).exists():
        raise failure(
            f"{location}: exists; ledger init makes a new ledger in a new file", Exit.LEDGER
        )
    elif not Path(location).parent.is_dir():
        raise failure(f"{location}: the folder {Path(location).parent} does not exist", Exit.LEDGER)
    ring = _sealing_keys(keys, new_keys)
    if isinstance(ring, KeyFile) and ring.served() and not shared_keys:
        # Refused before the ledger is made, so a refusal leaves no file behind.
        raise failure(
            f"{keys}: this key file already serves ledger {ring.served()[0]}; give each"
            " ledger its own key file (--new-keys), or share it explicitly (--shared-keys)",
            Exit.KEYS,
        )
    with Ledger(location, keys=ring, anchor=anchor, shared_keys=shared_keys) as led:
        echo(
            f"{led.path}: new ledger (schema {led.schema_version})"
            + (f", sealed with {keys}" if led.sealed else ", open (not sealed)")
            + (f", anchored in {anchor.path}" if anchor is not None else "")
        )


# -- intake ------------------------------------------------------------------------------------

_STATES = {
    "print-ready": State.PRINT_READY,
    "sent-for-enrolment": State.SENT_FOR_ENROLMENT,
    "bio-captured": State.BIO_CAPTURED,
}
# The intake's texts, each held to its rule (text_rule) cell by cell; the birth date is
# read as a date and the priority as a class instead.
_TEXTS = (
    "name",
    "kecamatan",
    "kelurahan",
    "photo",
    "signature",
    *(f for f in CARD_FIELDS if f != "birth_date"),
)
_INTAKE = (
    "nik",
    "name",
    "kecamatan",
    "kelurahan",
    "photo",
    "signature",
    "priority",
    *CARD_FIELDS,
)


@dataclass
class _Intake:
    """A sheet's rows checked for intake: the columns of the rows kept, and the rows left out."""

    keep: list[int]
    rejects: list[Reject]
    columns: dict[str, list[str | None]] = field(default_factory=dict)
    card: dict[str, list[str | None]] = field(default_factory=dict)
    priority: list[int] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)


def _needed_for_print() -> tuple[str, ...]:
    from ..ledger import CardFields

    return (
        "name",
        "photo",
        *CardFields.REQUIRED,
        "kecamatan",
        "kelurahan",
        "kabupaten",
        "province",
    )


def _check_intake(
    sheet: Sheet, state: State, defaults: dict[str, str], priority: int | None
) -> _Intake:
    """Every row checked: a valid NIK not repeated in the sheet, a birth date that is a
    date, a priority class, and for print-ready records every field the card shows."""
    sheet.require("nik")
    n = len(sheet)

    def cells(name: str) -> list[str]:
        values = sheet.values(name) if sheet.has(name) else [""] * n
        return [v or defaults.get(name, "") for v in values]

    needed = _needed_for_print() if state is State.PRINT_READY else ()
    absent = [f for f in needed if not sheet.has(f) and f not in defaults]
    if absent:
        raise SheetError(
            f"{sheet.path.name}: print-ready records need every field their card shows; no"
            f" column for {', '.join(absent)} (map one with --column FIELD=HEADER, give one"
            " value for all with --default FIELD=VALUE, or take the records in with --state"
            " sent-for-enrolment)"
        )
    bad: dict[int, Reject] = {}
    parsed = parse_niks(sheet.values("nik"))
    first: dict[int, int] = {}
    for i, message in enumerate(parsed.messages()):
        if message:
            bad[i] = reject(sheet, i, "nik", f"invalid NIK: {message}")
            continue
        value = int(parsed.values[i])
        if value in first:
            bad[i] = reject(sheet, i, "nik", f"the NIK repeats row {sheet.numbers[first[value]]}")
        first.setdefault(value, i)
    dates = cells("birth_date")
    for i, text in enumerate(dates):
        if text and i not in bad:
            try:
                dates[i] = parse_date(text).isoformat()
            except SheetError as err:
                bad[i] = reject(sheet, i, "birth_date", date_reason(err))
    _check_against_nik(sheet, parsed.values, dates, bad)
    classes = [priority or 0] * n
    if sheet.has("priority") and priority is None:
        for i, text in enumerate(sheet.values("priority")):
            if text.isdigit() and int(text) <= 255:
                classes[i] = int(text)
            elif text:
                bad.setdefault(i, reject(sheet, i, "priority", "a priority is a class 0-255"))
    columns = {name: cells(name) for name in _INTAKE if sheet.has(name) or name in defaults}
    columns["birth_date"] = dates
    # The ledger's rule for each text a record holds (its length, control characters and
    # direction overrides, NIK-shaped numbers where kept in clear: text_rule), applied row by
    # row so that one bad cell leaves its row out, not the whole sheet.
    base = sheet.path.resolve().parent

    def where(ref: str) -> str | None:
        if not ref:
            return None
        return ref if "://" in ref or os.path.isabs(ref) else str(base / ref)

    for name in _TEXTS:
        rule = text_rule(name)
        # A photo's or signature's reference is kept as the path the sheet's folder makes of it.
        kept_as = where if name in ("photo", "signature") else str
        for i, text in enumerate(columns.get(name, ())):
            if text and i not in bad:
                fault = rule.fault(kept_as(text) or "")
                if fault is not None:
                    bad[i] = reject(sheet, i, name, f"the cell {fault}")
    for i in range(n):
        lacking = [f for f in needed if not (dates if f == "birth_date" else columns[f])[i]]
        if lacking and i not in bad:
            bad[i] = reject(sheet, i, None, f"the card lacks {', '.join(lacking)}")
    if needed:
        # A card is drawn from its photo and signature files: one not there is found now,
        # not at the printer.
        for name in ("photo", "signature"):
            for i, ref in enumerate(columns.get(name, ())):
                path = where(ref)
                if i not in bad and path and "://" not in path and not os.path.isfile(path):
                    bad[i] = reject(sheet, i, name, f"no {name} file {ref}")
    keep = [i for i in range(n) if i not in bad]

    kept: dict[str, list[str | None]] = {
        name: [columns[name][i] or None for i in keep]
        for name in ("nik", "name", "kecamatan", "kelurahan")
        if name in columns
    }
    for name in ("photo", "signature"):
        if name in columns:
            kept[name] = [where(columns[name][i]) for i in keep]
    card = {
        name: [columns[name][i] or None for i in keep]
        for name in CARD_FIELDS
        if name in columns and any(columns[name][i] for i in keep)
    }
    return _Intake(
        keep,
        sorted(bad.values(), key=lambda r: r.row),
        kept,
        card,
        [classes[i] for i in keep],
        dates,
    )


_FEMALE = {"PEREMPUAN", "P", "F", "2", "WANITA", "FEMALE"}
_MALE = {"LAKI-LAKI", "LAKI LAKI", "LAKI", "L", "M", "1", "PRIA", "MALE"}


def _check_against_nik(sheet: Sheet, niks: Any, dates: list[str], bad: dict[int, Reject]) -> None:
    """Rows whose birth date or sex says other than their NIK (which holds both) are left
    out: the card would print a NIK and a birth date or sex that disagree."""
    sexes = sheet.values("sex") if sheet.has("sex") else [""] * len(sheet)
    for i, (value, born, sex) in enumerate(zip(niks.tolist(), dates, sexes, strict=True)):
        if i in bad:
            continue
        nik = Nik(int(value))
        if born:
            day = _dt.date.fromisoformat(born)
            if (day.day, day.month, day.year % 100) != (
                nik.birth_day,
                nik.birth_month,
                nik.birth_yy,
            ):
                bad[i] = reject(sheet, i, "birth_date", "the birth date is not the NIK's")
                continue
        said = sex.strip().upper()
        if not said:
            continue
        if said not in _FEMALE | _MALE:
            bad[i] = reject(sheet, i, "sex", "not a sex (LAKI-LAKI or PEREMPUAN)")
        elif (said in _FEMALE) != (nik.sex is Sex.FEMALE):
            bad[i] = reject(sheet, i, "sex", "the sex is not the NIK's")


def _defaults(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in _INTAKE[1:] or not value.strip():
            raise click.UsageError(
                f"--default takes FIELD=VALUE with FIELD one of {', '.join(_INTAKE[1:])};"
                f" got {item!r}"
            )
        out[name.strip()] = value.strip()
    return out


@ledger.command("import")
@on_ledger
@click.argument("sheet_path", metavar="SHEET", type=click.Path(path_type=Path))
@acting(Role.OPERATOR)
@click.option(
    "--state",
    type=click.Choice(list(_STATES)),
    default="print-ready",
    show_default=True,
    help="Where the records enter: print-ready (PRR, confirmed by SIAK), or earlier.",
)
@columns_option(", ".join(_INTAKE))
@click.option(
    "--default",
    "defaults",
    multiple=True,
    metavar="FIELD=VALUE",
    help="A value for every row whose cell (or column) for FIELD is empty, e.g."
    " --default citizenship=WNI; repeatable.",
)
@click.option(
    "--priority",
    type=click.IntRange(0, 255),
    default=None,
    help="The priority class of every record (0 first-time, 1 data change, 2 replacement).",
)
@rejects_option
@output_option
def ledger_import(
    ledger: str,
    keys: Path | None,
    sheet_path: Path,
    who: Who,
    state: str,
    columns: tuple[str, ...],
    defaults: tuple[str, ...],
    priority: int | None,
    rejects: Path | None,
    output: Path | None,
) -> None:
    """Takes the records of a SHEET (a SIAK export or any spreadsheet: CSV in any encoding
    and delimiter, or .xlsx) into the LEDGER: NIK, name, kecamatan, kelurahan, photo and
    signature (paths relative to the sheet's folder, or URIs) and the card's fields
    (birth place and date, address, RT/RW, religion, marital status, occupation,
    citizenship, blood type, kabupaten/kota, province, ...), found by their SIAK column
    names or --column.

    Rows with an invalid or repeated NIK, a birth date that is not a date, a birth date or
    sex other than the NIK's, or (print-ready)
    a field the card shows missing (kecamatan, kelurahan, kabupaten and province included)
    or a photo file that is not there are left out, each with its reason in the rejects
    file; the rest are taken in, in one transaction. Rows whose NIK the ledger holds already
    are left as they are. Exits 13 when rows were left out."""
    target = _STATES[state]
    check_cleaned(output)
    where = rejects_path(sheet_path, rejects)
    check_output(where, "the rejects")
    sheet = read_input(sheet_path, column_map(columns), (*_INTAKE, "sex"))
    intake = _check_intake(sheet, target, _defaults(defaults), priority)
    kept = intake.columns
    with open_ledger(ledger, keys) as led, signed_in(led, who) as actor:
        report = (
            led.add_records(
                kept["nik"],
                actor,
                state=target,
                names=kept.get("name"),
                kecamatan=kept.get("kecamatan"),
                kelurahan=kept.get("kelurahan"),
                photos=kept.get("photo"),
                signatures=kept.get("signature"),
                priority=intake.priority,
                card=intake.card or None,
            )
            if intake.keep
            else None
        )
    there = [] if report is None else [i for i, _ in report.refused]
    held = (
        [reject(sheet, intake.keep[i], "nik", why) for i, why in report.refused] if report else []
    )
    left_out = sorted([*intake.rejects, *held], key=lambda r: r.row)
    if left_out:
        write_rejects(where, left_out)
    if output is not None:
        write_cleaned(output, sheet, intake.keep, {"birth_date": intake.dates})
    added = 0 if report is None else report.added
    echo(
        f"{sheet_path.name}: {len(sheet):,} rows; {added:,} record{'' if added == 1 else 's'}"
        f" added as {target.value};"
        f" {len(intake.rejects):,} left out"
        + (f"; {len(there):,} already in the ledger (left as they are)" if there else "")
    )
    if left_out:
        held_only = not intake.rejects
        tell_rejects(
            left_out, where, what="rows already in the ledger" if held_only else "rows left out"
        )
    if intake.rejects:
        raise failure(
            f"{len(intake.rejects):,} of {len(sheet):,} rows left out (see {where})",
            Exit.PARTIAL,
        )


# -- questions ---------------------------------------------------------------------------------


def record_of(led: Any, nik: Nik | None, blank: int | None) -> Any:
    """The record named by its NIK or by the blank its card is on (one of them)."""
    if (nik is None) == (blank is None):
        raise click.UsageError(
            "name the record by its NIK (- reads it from standard input) or by --blank SERIAL"
            " (one of them)"
        )
    return led.where_is(int(nik)) if nik is not None else led.where_is_card(blank)


@ledger.command("where-is")
@on_ledger
@nik_argument()
@click.option(
    "--blank",
    type=SERIAL,
    default=None,
    help="Or find it by the serial of the blank its card is on.",
)
@click.option("--history", "show_history", is_flag=True, help="Also every change, oldest first.")
def ledger_where_is(
    ledger: str, keys: Path | None, nik: Nik | None, blank: int | None, show_history: bool
) -> None:
    """Where a citizen's card is: its state, kecamatan and kelurahan, the blank it is on,
    its manifest (the NIK shown masked, the name as initials)."""
    with open_ledger(ledger, keys) as led:
        record = record_of(led, nik, blank)
        echo(f"{label(record)}: {record.state.value}")
        echo(f"  kecamatan {record.kecamatan or '-'}, kelurahan {record.kelurahan or '-'}")
        if record.card_serial is not None or record.manifest is not None:
            echo(f"  card on blank {record.card_serial or '-'}, manifest {record.manifest or '-'}")
        from ..printing.layout import card_lacks

        missing = card_lacks(record)
        if missing and record.state in (State.PRINT_READY, State.QUEUED):
            echo(f"  cannot be printed: the card lacks {', '.join(missing)}")
        echo(f"  last change {wib_text(record.updated_at)}")
        if show_history:
            for h in led.history(int(record.nik)):
                source = h.source.value if h.source else "-"
                extra = "".join(
                    f", {name} {value}"
                    for name, value in (
                        ("batch", h.batch),
                        ("printer", h.printer),
                        ("blank", h.blank),
                    )
                    if value
                )
                why = f": {plain(h.reason)}" if h.reason else ""
                echo(
                    f"  {wib_text(h.at)} {plain(h.actor)} ({h.role.lower()}) {source} -> "
                    f"{h.target.value}{extra}{why}"
                )


@ledger.command("status")
@on_ledger
def ledger_status(ledger: str, keys: Path | None) -> None:
    """The ledger at a glance: records by state, blanks by state, ribbons, cards in doubt,
    requests waiting for a second person, batches claimed."""
    with open_ledger(ledger, keys) as led:
        counts = led.counts()
        blanks = led.blanks.counts()
        ribbons = led.ribbons.in_printers()
        doubt = led.journal.in_doubt()
        waiting = led.approvals.waiting()
        claims = led.claims.held()
        mode = "sealed" if led.sealed else "open"
        users = "users" if led.users.exist() else "no users (development mode)"
        echo(f"{led.path}: {mode} ledger, {users}")
    echo(f"records: {sum(counts.values()):,}")
    for state in State:
        if counts.get(state):
            echo(f"  {state.value:<24} {counts[state]:>10,}")
    echo(f"blanks: {sum(blanks.values()):,}")
    for blank_state, count in sorted(blanks.items(), key=lambda x: x[0].value):
        echo(f"  {blank_state.value:<24} {count:>10,}")
    for r in ribbons:
        echo(f"ribbon in {r.printer}: {r.kind}, {r.remaining} of {r.capacity} prints left")
    echo(
        f"cards in doubt: {len(doubt)}; requests waiting for approval: {len(waiting)};"
        f" batches claimed by a station: {len(claims)}"
    )


@ledger.command("verify")
@on_ledger
def ledger_verify(ledger: str, keys: Path | None) -> None:
    """Checks the whole ledger: the hash chains of the record history, the blank history
    and the audit, and the tables against them; a row edited, inserted or deleted behind
    the ledger's back is named (exit 14). With --anchor (or EKTPCORE_ANCHOR) it also holds
    the chains to the checkpoints there: a tail cut off, a file rolled back to an older
    copy, a lost write-ahead log or a chain rewritten is found (exit 14), and so is an
    anchor file missing or empty."""
    path = given_anchor()
    last = None if path is None else _anchor_to_check(path)
    with open_ledger(ledger, keys, anchored=False) as led:  # verifying writes no checkpoint
        report = led.verify(anchor=None if path is None else FileAnchor(path))
    if not report.ok:
        shown_at_most = 20
        for found in report.findings[:shown_at_most]:
            echo(f"  {found.table} {found.row}: {found.problem}")
        if len(report.findings) > shown_at_most:
            echo(f"  ... and {len(report.findings) - shown_at_most:,} more")
        row = f" (row {report.first_bad_seq})" if report.first_bad_seq is not None else ""
        raise failure(f"the ledger does not verify: {report.problem}{row}", Exit.CHECK)
    echo(f"history verified: {report.rows:,} rows (records, blanks, audit)")
    if last is not None:
        echo(f"anchor {path}: every checkpoint found in the ledger, the last of {last.at}")


def _anchor_to_check(path: Path) -> Any:
    """The last checkpoint of the anchor file ``path``; an anchor that is not there, not a
    file or holds no checkpoint is a failed check: it cannot vouch for the ledger (a bureau
    whose anchor was deleted must hear of it)."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise failure(
            f"{path}: the anchor {what}; the ledger cannot be held to its checkpoints",
            Exit.CHECK,
        )
    try:
        last = FileAnchor(path).last()
    except LedgerError as err:
        raise failure(str(err), Exit.CHECK) from None
    if last is None:
        raise failure(
            f"{path}: the anchor holds no checkpoint; the ledger cannot be held to it",
            Exit.CHECK,
        )
    return last


@ledger.command("reconcile")
@on_ledger
@click.option(
    "--day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Also count the movements of this day's shift (08:00-20:00 WIB).",
)
@click.option("--night", is_flag=True, help="With --day: the night shift (20:00-08:00 WIB).")
def ledger_reconcile(ledger: str, keys: Path | None, day: _dt.datetime | None, night: bool) -> None:
    """Every blank accounted for: received = in stock + allocated + used + spoiled + voided +
    returned, and every blank that does not add up listed by serial (exit 14)."""
    if night and day is None:
        raise click.UsageError("--night is a shift of a --day")
    window = shift_window(day.date(), night=night) if day is not None else (None, None)
    with open_ledger(ledger, keys) as led, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BlankShortageWarning)
        result = led.blanks.reconcile(*window)
    echo(f"received {result.received:,} blanks")
    for state, count in sorted(result.counts.items(), key=lambda x: x[0].value):
        echo(f"  {state.value:<10} {count:>10,}")
    if window[0] is not None:
        shift = "night" if night else "day"
        moved = ", ".join(
            f"{s.value} {n:,}"
            for s, n in sorted(result.movements.items(), key=lambda x: x[0].value)
        )
        echo(f"moved in the {shift} shift of {day:%Y-%m-%d}: {moved or 'nothing'}")
    for w in caught:
        note(f"warning: {w.message}")
    for serial, problem in result.discrepancies[:50]:
        echo(f"  blank {serial}: {problem}")
    if not result.balanced:
        raise failure(
            f"the blanks do not balance: {len(result.discrepancies):,} discrepancies"
            f" ({result.received:,} received, {sum(result.counts.values()):,} accounted for)",
            Exit.CHECK,
        )
    echo("balanced: every blank is accounted for")


@ledger.command("export")
@on_ledger
@click.argument("out", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in State], case_sensitive=False),
    help="Only records in this state (repeatable).",
)
def ledger_export(ledger: str, keys: Path | None, out: Path, states: tuple[str, ...]) -> None:
    """Writes the records (all, or those in --state) to a new CSV file, OUTPUT: NIK, name,
    state, kecamatan, kelurahan, the card's blank, manifest, last change, photo and signature
    references and the card's fields. It holds citizens' data in clear (a sealed ledger's
    too): it is made readable by its owner only (mode 0600). A cell a spreadsheet would
    take for a formula (text beginning with =, +, -, @) begins with an apostrophe."""
    check_output(out, "the export", new=True)
    with open_ledger(ledger, keys) as led:
        found = led.records(*(State(s.upper()) for s in states))
    with writing(out, private=True) as f:
        w = csv.writer(f)
        w.writerow(
            [
                "nik",
                "name",
                "state",
                "kecamatan",
                "kelurahan",
                "card_serial",
                "manifest",
                "updated_at",
                "photo",
                "signature",
                *CARD_FIELDS,
            ]
        )
        for r in found:
            row = [
                str(r.nik),
                r.name or "",
                r.state.value,
                r.kecamatan or "",
                r.kelurahan or "",
                r.card_serial or "",
                r.manifest or "",
                r.updated_at,
                r.photo_ref or "",
                r.signature_ref or "",
                *(getattr(r.card, name) or "" for name in CARD_FIELDS),
            ]
            # A name or address imported as "=HYPERLINK(...)" stays text in a spreadsheet.
            w.writerow([spreadsheet_cell(v) for v in row])
    echo(f"{len(found):,} records written to {out} (mode 0600: it holds citizens' data)")


@ledger.command("backup")
@on_ledger
@click.argument("dest", metavar="BACKUP", type=click.Path(path_type=Path))
def ledger_backup(ledger: str, keys: Path | None, dest: Path) -> None:
    """Copies the LEDGER into a new file, BACKUP (mode 0600), while stations keep working,
    and verifies the copy; a sealed ledger's copy stays sealed. A PostgreSQL ledger is
    dumped with pg_dump (custom format; restore it with pg_restore)."""
    from ..ledger import Ledger
    from ..ledger.store import is_database_url

    check_output(dest, "the backup", new=True)
    if is_database_url(ledger):
        with open_ledger(ledger, keys):
            pass  # a ledger there, and its keys if it is sealed
        _pg_dump(ledger, dest)
        echo(f"{shown(ledger)}: dumped to {dest} by pg_dump (restore it with pg_restore)")
        return
    with open_ledger(ledger, keys) as led:
        led.backup(dest)
        ring = key_file(keys)
    with Ledger(dest, create=False, keys=ring) as copy:
        report = copy.verify()
        counts = copy.counts()
    if not report.ok:
        raise failure(f"{dest}: the copy does not verify: {report.problem}", Exit.CHECK)
    echo(
        f"{ledger}: backed up to {dest} ({sum(counts.values()):,} records; history verified,"
        f" {report.rows:,} rows)"
    )


def _pg_dump_command(program: str, url: str, dest: Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``pg_dump`` for ``url``: its password (in the
    authority or a ``password=`` parameter) passed through the environment, never on the
    command line, which every account of the machine can read (``ps``, ``/proc``)."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    env = dict(os.environ)
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    kept = []
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name == "password":
            env["PGPASSWORD"] = value
        elif name == "sslpassword":
            # libpq reads the TLS key's passphrase from no variable: it would be on the
            # command line.
            raise failure(
                "pg_dump would show the TLS key's passphrase (sslpassword) on its command line,"
                " where every account of this machine can read it; back up with pg_dump"
                " yourself, or use a key without a passphrase for the backup's connection",
                Exit.USAGE,
            )
        else:
            kept.append((name, value))
    query = urllib.parse.urlencode(kept, quote_via=urllib.parse.quote)
    plain = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
    command = [program, "--format=custom", "--no-password", f"--file={dest}", f"--dbname={plain}"]
    return command, env


def _pg_dump(url: str, dest: Path) -> None:
    """``pg_dump`` of the database ``url`` names (see :func:`_pg_dump_command`)."""
    program = shutil.which("pg_dump")
    if program is None:
        raise failure("a PostgreSQL ledger is backed up with pg_dump, which is not installed")
    command, env = _pg_dump_command(program, url, dest)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        dest.unlink(missing_ok=True)
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise failure(f"pg_dump: {reason}", Exit.LEDGER)


@ledger.command("seal")
@click.argument("location", metavar="LEDGER")
@_keys_options
@anchor_option
@click.option(
    "--user",
    default=None,
    help="The administrator who seals a ledger with users (password from"
    f" {PASSWORD_VARIABLE} or a prompt).",
)
def ledger_seal(
    location: str, keys: Path | None, new_keys: bool, shared_keys: bool, user: str | None
) -> None:
    """Seals an open LEDGER with the key file --keys names (--new-keys makes it), in one
    transaction: every record's personal fields encrypted, NIKs found through a keyed index.
    From then on the ledger opens only with those keys. The history written before keeps
    its reasons in clear (it is append-only). A sealed ledger signs its checkpoints, and
    the open ledger's were not: --anchor names a new anchor file for the sealed one (verify
    the open ledger against its old anchor first). A ledger with users is sealed by an
    administrator (--user), and the audit says who sealed it."""
    if keys is None:
        raise click.UsageError("give the key file to seal with: --keys FILE (--new-keys makes it)")
    _new_anchor(given_anchor())
    with open_ledger(location, None) as led:
        if led.users.exist() and user is None:
            raise failure(
                "this ledger has users: an administrator seals it, signed in with --user NAME"
                f" (password from {PASSWORD_VARIABLE} or a prompt); nothing was changed",
                Exit.DENIED,
            )
        signing: Any = contextlib.nullcontext(None)
        if user is not None:
            signing = signed_in(led, Who(Role.ADMINISTRATOR, user, None, None))
        with signing as actor, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ReplacedRowsKeptWarning)
            ring = _sealing_keys(keys, new_keys)
            count = led.seal(ring, actor, shared_keys=shared_keys)
    echo(f"{shown(location)}: sealed, {count:,} records; it opens only with {keys} from now on")
    for w in caught:
        note(f"warning: {w.message}")


@ledger.command("purge")
@on_ledger
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for older transactions on the server to end.",
)
def ledger_purge(ledger: str, keys: Path | None, wait: float) -> None:
    """Removes from the database's files the clear row versions a sealing replaced (a
    PostgreSQL server's data files, a SQLite ledger's write-ahead log), once no transaction
    older than the sealing runs (ledger seal says when some did). Exit 1 while some still
    do, naming them."""
    with open_ledger(ledger, keys) as led, warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", ReplacedRowsKeptWarning)
        holders = led.purge(wait=wait)
    if holders:
        raise failure(
            f"{shown(ledger)}: replaced clear row versions are still kept, held by: "
            + "; ".join(holders)
            + "; run ledger purge again when they have ended",
            Exit.ERROR,
        )
    echo(f"{shown(ledger)}: no replaced row version is left in the database's files")
