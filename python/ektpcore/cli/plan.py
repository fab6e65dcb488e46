"""``ektpcore plan``: print batches over the printers, from a sheet or from a ledger, and
(``--commit``) queued in the ledger for the stations."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..clock import WIB, wib_text
from ..errors import EktpcoreError, SheetError
from ..lifecycle import Role
from ..nik import parse_niks
from ..sheets import Sheet, parse_date
from .common import (
    Exit,
    Reject,
    Who,
    acting,
    anchor_option,
    check_cleaned,
    check_output,
    column_map,
    columns_option,
    count,
    echo,
    failure,
    failure_of,
    keys_option,
    note,
    open_ledger,
    output_errors,
    output_option,
    read_input,
    reject,
    rejects_option,
    rejects_path,
    serial_ranges,
    signed_in,
    tell_rejects,
    write_cleaned,
    write_rejects,
)

__all__ = ["plan_command"]

_FIELDS = ("nik", "id", "name", "kecamatan", "kelurahan", "priority", "ready", "two_sided")
_YES, _NO = ("1", "true", "yes", "y", "ya"), ("0", "false", "no", "n", "tidak")


def _printers(path: Path) -> Any:
    from ..planning import printers_from_toml

    try:
        return printers_from_toml(path)
    except OSError as err:
        raise failure(f"{path}: cannot read the printers ({err.strerror})", Exit.INPUT) from None
    except UnicodeDecodeError:
        raise failure(f"{path}: not a printers file (TOML, UTF-8 text)", Exit.INPUT) from None
    except EktpcoreError as err:
        raise failure(str(err), Exit.INPUT) from None


def _records(
    sheet: Sheet, start: _dt.datetime
) -> tuple[dict[str, Any], list[int], list[Reject], list[str]]:
    """The sheet's rows as planner columns: the rows kept, the rows left out (with why), and
    each kept row's ``ready`` cell as written back to a cleaned sheet."""
    if not (sheet.has("nik") or sheet.has("id")):
        sheet.require("nik")
    key = "nik" if sheet.has("nik") else "id"
    n = len(sheet)
    bad: dict[int, Reject] = {}
    ids = np.zeros(n, dtype=np.int64)
    if key == "nik":
        parsed = parse_niks(sheet.values("nik"))
        ids = parsed.values
        for i, message in enumerate(parsed.messages()):
            if message:
                bad[i] = reject(sheet, i, "nik", f"invalid NIK: {message}")
    else:
        for i, text in enumerate(sheet.values("id")):
            if text.isdigit() and len(text) <= 18:
                ids[i] = int(text)
            else:
                bad[i] = reject(sheet, i, "id", "an id is a whole number (up to 18 digits)")
    seen: dict[int, int] = {}
    for i in range(n):
        if i not in bad and int(ids[i]) in seen:
            bad[i] = reject(sheet, i, key, f"repeats row {sheet.numbers[seen[int(ids[i])]]}")
        seen.setdefault(int(ids[i]), i)
    priority = [0] * n
    if sheet.has("priority"):
        for i, text in enumerate(sheet.values("priority")):
            if text.isdigit() and int(text) <= 255:
                priority[i] = int(text)
            elif text:
                bad.setdefault(i, reject(sheet, i, "priority", "a priority is a class 0-255"))
    two_sided = [True] * n
    if sheet.has("two_sided"):
        for i, text in enumerate(sheet.values("two_sided")):
            if text.lower() in _YES + _NO:
                two_sided[i] = text.lower() in _YES
            elif text:
                bad.setdefault(i, reject(sheet, i, "two_sided", "not yes or no"))
    ready: list[_dt.datetime | None] = [start] * n
    ready_text = [""] * n
    if sheet.has("ready"):
        for i, text in enumerate(sheet.values("ready")):
            try:
                ready[i] = _ready(text, start)
                ready_text[i] = (
                    "" if ready[i] is start else ("unknown" if ready[i] is None else text)
                )
            except (ValueError, SheetError):
                bad.setdefault(
                    i, reject(sheet, i, "ready", "not a time (ISO 8601, a date, or 'unknown')")
                )
    keep = [i for i in range(n) if i not in bad]
    columns: dict[str, Any] = {
        "id": ids[keep],
        "priority": [priority[i] for i in keep],
        "two_sided": [two_sided[i] for i in keep],
        "ready": [ready[i] for i in keep],
    }
    for name in ("kecamatan", "kelurahan"):
        if sheet.has(name):
            values = sheet.values(name)
            columns[name] = [values[i] for i in keep]
    return columns, keep, sorted(bad.values(), key=lambda r: r.row), ready_text


def _ready(text: str, start: _dt.datetime) -> _dt.datetime | None:
    """An empty ``ready`` is ready at the start; ``unknown`` is not yet print-ready."""
    if not text:
        return start
    if text.lower() == "unknown":
        return None
    if len(text) <= 10 and not text[:4].isdigit():
        day = parse_date(text)  # DD/MM/YYYY: the start of that day in WIB
        return _dt.datetime(day.year, day.month, day.day, tzinfo=WIB)
    moment = _dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=WIB)


@click.command("plan")
@click.argument("files", nargs=-1, metavar="[RECORDS] PRINTERS")
@click.option(
    "--ledger",
    "ledger",
    default=None,
    help="Plan the ledger's PRINT_READY records over its blanks and ribbons (instead of a"
    " RECORDS sheet); a file or a postgresql:// URL.",
)
@keys_option
@anchor_option
@click.option(
    "--commit",
    is_flag=True,
    help="Queue the batches in the ledger (records QUEUED, blanks ALLOCATED) for station run.",
)
@acting(Role.OPERATOR)
@click.option(
    "--blanks",
    type=click.IntRange(min=0, max=10**9),
    default=None,
    help="Blanks in stock (default: the printers file's 'blanks'; with --ledger, its stock).",
)
@click.option(
    "--start",
    "start_text",
    default=None,
    help="Planning start, ISO 8601 (default: now; naive times are WIB).",
)
@click.option(
    "--prefix",
    default=None,
    help="Batch names are PREFIX-00001 and on (default: B and the start, e.g. B201711130800).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    help="Write the plan as JSON (figures and batches).",
)
@click.option(
    "--csv",
    "csv_out",
    type=click.Path(path_type=Path),
    help="Write one row per record: batch, printer, position, ETA.",
)
@columns_option(", ".join(_FIELDS))
@rejects_option
@output_option
def plan_command(
    files: tuple[str, ...],
    ledger: str | None,
    keys: Path | None,
    commit: bool,
    who: Who,
    blanks: int | None,
    start_text: str | None,
    prefix: str | None,
    json_out: Path | None,
    csv_out: Path | None,
    columns: tuple[str, ...],
    rejects: Path | None,
    output: Path | None,
) -> None:
    """Plan print batches over PRINTERS (TOML: [[printers]], optional [[shifts]], blanks,
    click_limit, click_overhead_minutes), for the records of a RECORDS sheet (CSV in any
    encoding and delimiter, or .xlsx: nik or id, and optionally kecamatan, kelurahan,
    priority, ready, two_sided) or of a ledger (--ledger). With --ledger and --commit the
    batches are queued in the ledger, each with its blanks, for station run; without
    --commit nothing is written."""
    if (ledger is None and len(files) != 2) or (ledger is not None and len(files) != 1):
        raise click.UsageError(
            "give RECORDS and PRINTERS, or PRINTERS with --ledger (the ledger's records)"
        )
    if commit and ledger is None:
        raise click.UsageError("--commit queues batches in a ledger: give --ledger")
    if ledger is not None and (blanks is not None or columns or rejects or output):
        raise click.UsageError(
            "with --ledger the ledger's records and blank stock are planned:"
            " --blanks, --column, --rejects and --output are for a RECORDS sheet"
        )
    for path, what in ((json_out, "the plan"), (csv_out, "the plan's records")):
        if path is not None:  # records named by NIK when planned from a ledger
            check_output(path, what, new=True)
    check_cleaned(output)
    setup = _printers(Path(files[-1]))
    try:
        start = _dt.datetime.fromisoformat(start_text) if start_text else _dt.datetime.now(WIB)
    except ValueError:
        raise click.UsageError(f"--start is a time in ISO 8601, not {start_text!r}") from None
    start = start if start.tzinfo else start.replace(tzinfo=WIB)
    options = {
        "start": start,
        "shifts": setup.shifts,
        "click_limit": setup.click_limit,
        "click_overhead": setup.click_overhead,
        "prefix": prefix,
    }
    if ledger is not None:
        _from_ledger(ledger, keys, commit, who, setup, options, json_out, csv_out)
        return
    from ..planning import plan

    stock = blanks if blanks is not None else setup.blanks
    if stock is None:
        raise click.UsageError("give --blanks or 'blanks = N' in the printers file")
    records_path = Path(files[0])
    sheet = read_input(records_path, column_map(columns), _FIELDS)
    table, keep, left_out, ready_text = _records(sheet, start)
    if left_out:
        where = rejects_path(records_path, rejects)
        check_output(where, "the rejects")
        write_rejects(where, left_out)
        tell_rejects(left_out, where)
    if output is not None:
        ready = {"ready": ready_text} if sheet.has("ready") else None
        write_cleaned(output, sheet, keep, ready)
    if not keep:
        raise failure(f"{records_path.name}: no record to plan", Exit.NOTHING)
    result = plan(table, setup.printers, blanks=stock, **options)
    _tell(result, json_out, csv_out)
    if left_out:
        raise failure(
            f"{len(left_out):,} of {len(sheet):,} rows left out of the plan (see the rejects)",
            Exit.PARTIAL,
        )


def _tell(result: Any, json_out: Path | None, csv_out: Path | None) -> None:
    summary = result.summary()
    echo(
        f"{count(summary['cards'])} in {count(summary['batches'], 'batch')}, "
        f"{wib_text(result.start)} to {wib_text(result.finish)}"
    )
    echo(
        f"makespan {summary['makespan_hours']:.1f} h, lower bound "
        f"{summary['lower_bound_hours']:.1f} h (ratio {summary['quality']:.3f}); "
        f"kelurahan groups split: {summary['groups_split']}"
    )
    for why, many in summary["unscheduled"].items():
        echo(f"not scheduled ({why}): {many:,}")
    if json_out is not None:
        with output_errors(json_out):
            result.to_json(json_out)
        echo(f"plan: {json_out}")
    if csv_out is not None:
        with output_errors(csv_out):
            result.to_csv(csv_out)
        echo(f"records: {csv_out}")


def _from_ledger(
    location: str,
    keys: Path | None,
    commit: bool,
    who: Who,
    setup: Any,
    options: dict[str, Any],
    json_out: Path | None,
    csv_out: Path | None,
) -> None:
    from ..planning import Plan, Unscheduled

    with open_ledger(location, keys) as led:
        result = Plan.from_ledger(led, setup.printers, **options)
        _tell(result, json_out, csv_out)
        chosen: Sequence[Any] = result.batches
        if not chosen:
            why = "; ".join(
                f"{count(len(ids), 'record')}: {reason.value}"
                for reason, ids in result.unscheduled.items()
            )
            if set(result.unscheduled) == {Unscheduled.NO_BLANK}:
                raise failure(
                    f"nothing planned: {why} (receive blanks first: ektpcore blanks receive)",
                    Exit.SHORT,
                )
            raise failure(
                "nothing to plan: " + (why or "the ledger has no PRINT_READY record"),
                Exit.NOTHING,
            )
        if not commit:
            note("a preview: nothing was written (--commit queues the batches)")
            return
        taken = [b.id for b in chosen if led.batches(b.id)]
        if taken:
            raise failure(
                f"batch {taken[0]} exists in the ledger already: plan with another --prefix"
                " or --start",
                Exit.REFUSED,
            )
        with signed_in(led, who) as actor:
            for done, b in enumerate(chosen):
                try:
                    serials = result.commit(led, actor, [b])[b.id]
                except EktpcoreError as err:
                    raise failure(
                        f"{done} of {len(chosen)} batches queued; {b.id} was not: {err}",
                        Exit.PARTIAL if done else _code(err),
                    ) from None
                echo(
                    f"{b.id}: {count(len(b))} queued for {b.printer} on blanks"
                    f" {serial_ranges(serials)}, {wib_text(b.start)} to {wib_text(b.end)}"
                    + _ribbon_changes(b)
                )
        left = sum(len(ids) for ids in result.unscheduled.values())
        if left:
            why = "; ".join(
                f"{count(len(ids), 'record')}: {reason.value}"
                for reason, ids in result.unscheduled.items()
            )
            raise failure(
                f"{count(len(chosen), 'batch')} queued;"
                f" {count(left, 'record')} not planned ({why})",
                Exit.PARTIAL,
            )


def _ribbon_changes(b: Any) -> str:
    """Where the plan changes the batch's ribbon: the station stops there (exit 12) for
    ``ektpcore ribbon change``, then the batch is run again."""
    if not b.ribbon_changes:
        return ""
    cards = ", ".join(str(i + 1) for i in b.ribbon_changes)
    return f"; ribbon change before its card {cards} (ektpcore ribbon change)"


def _code(err: EktpcoreError) -> Exit:
    return Exit(failure_of(err).exit_code)
