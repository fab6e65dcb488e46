"""The ``ektpcore`` command line: programs that call the public API, nothing more."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click
import numpy as np

from .clock import WIB, wib_text
from .errors import EktpcoreError
from .nik import NikBatch, NikErrorCode, mask_nik, nik_error_message, parse_niks
from .regions import RegionTable
from .sample import corrupt_niks, sample_niks

__all__ = ["main"]


def _ledger_location(*, exists: bool) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Checks a ledger's file like ``click.Path`` does; the URL of a PostgreSQL database
    (``postgresql://...``) passes as given."""
    file = click.Path(exists=exists, dir_okay=False)

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from .ledger.store import is_database_url

        if value is None or is_database_url(value):
            return value
        return str(file.convert(value, param, ctx))

    return check


@click.group()
@click.version_option(package_name="ektpcore")
def main() -> None:
    """ektpcore: the core of an E-KTP print bureau."""


@main.group()
def nik() -> None:
    """Validate and generate NIKs."""


def _regions_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--regions PATH``: a Kemendagri region table (``code,name`` CSV)."""
    return click.option(
        "--regions", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=text
    )


def _regions(path: Path | None) -> RegionTable | None:
    return None if path is None else RegionTable.from_csv(path)


def _read_niks(path: Path, column: str | None) -> list[str]:
    """One NIK per line, or a CSV with a header whose NIK column is found by name."""
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    if not lines:
        return []
    first = lines[0]
    if column is None and not any(sep in first for sep in ",;\t"):
        return lines
    dialect = (
        csv.Sniffer().sniff(first, delimiters=",;\t")
        if any(s in first for s in ",;\t")
        else csv.excel
    )
    reader = csv.reader(lines, dialect)
    header = [h.strip() for h in next(reader)]
    lowered = [h.lower() for h in header]
    if column is not None:
        if column.lower() not in lowered:
            raise click.UsageError(f"no column {column!r} in {path} (columns: {', '.join(header)})")
        index = lowered.index(column.lower())
    else:
        index = next((i for i, h in enumerate(lowered) if "nik" in h), 0)
    return [row[index] if index < len(row) else "" for row in reader]


def _summary(batch: NikBatch, seconds: float, out: IO[str]) -> None:
    n = len(batch)
    rate = n / seconds if seconds > 0 else float("inf")
    click.echo(f"{n:,} NIKs checked in {seconds * 1000:.1f} ms ({rate:,.0f}/s)", file=out)
    click.echo(f"  valid   {batch.n_valid:>12,}", file=out)
    click.echo(f"  invalid {n - batch.n_valid:>12,}", file=out)
    for code, count in sorted(batch.counts().items()):
        if code:
            click.echo(f"    {code.name.lower():<15} {count:>10,}  {code.message}", file=out)


@nik.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--column", help="CSV column holding the NIK (default: the first named *nik*).")
@_regions_option("Kemendagri region table (code,name CSV) to check region codes against.")
@click.option(
    "--reference-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Resolve birth-year centuries against this date (default: unknown century).",
)
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the per-row errors CSV here instead of standard output.",
)
@click.option("--fail-on-invalid", is_flag=True, help="Exit with status 1 if any NIK is invalid.")
def nik_check(
    file: Path,
    column: str | None,
    regions: Path | None,
    reference_date: _dt.datetime | None,
    errors_path: Path | None,
    fail_on_invalid: bool,
) -> None:
    """Validate the NIKs in FILE (one per line, or a CSV with a header).

    Prints the per-row errors as CSV (row, masked NIK, code, reason, position) and a summary
    on standard error. NIKs are masked in the output.
    """
    texts = _read_niks(file, column)
    start = time.perf_counter()
    batch = parse_niks(
        texts,
        reference_date=reference_date.date() if reference_date else None,
        regions=_regions(regions),
    )
    seconds = time.perf_counter() - start
    with errors_path.open("w", newline="", encoding="utf-8") if errors_path else _stdout() as out:
        writer = csv.writer(out)
        writer.writerow(["row", "nik", "code", "reason", "position"])
        for index, code, position in batch.errors():
            writer.writerow(
                [
                    index + 1,
                    mask_nik(texts[index]),
                    int(code),
                    code.name.lower(),
                    "" if position is None else position,
                ]
            )
    _summary(batch, seconds, sys.stderr)
    if fail_on_invalid and batch.n_valid < len(batch):
        sys.exit(1)


class _stdout:
    """``sys.stdout`` as a context manager that does not close it."""

    def __enter__(self) -> IO[str]:
        return sys.stdout

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.flush()


def _read_table(path: Path) -> dict[str, list[str]]:
    """A CSV file as columns of text, with a progress bar for large files."""
    columns: dict[str, list[str]] = {}
    size = path.stat().st_size
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, csv.Sniffer().sniff(f.readline(), delimiters=",;\t"))
        f.seek(0)
        header = [h.strip() for h in next(reader)]
        columns = {h: [] for h in header}
        cells = list(columns.values())
        with click.progressbar(
            length=size, label=f"reading {path.name}", file=sys.stderr, hidden=size < 8 << 20
        ) as bar:
            consumed = 0
            for count, row in enumerate(reader, start=1):
                for cell, value in zip(cells, row, strict=False):
                    cell.append(value)
                consumed += sum(map(len, row)) + len(row)
                if count % 65536 == 0:
                    bar.update(min(consumed, size) - bar.pos)
            bar.update(size - bar.pos)
    return columns


@main.command("dedup")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder (default: FILE's name with -dedup).",
)
@click.option(
    "--column",
    "renames",
    multiple=True,
    metavar="FIELD=NAME",
    help="Read FIELD (nik, name, birth_date, sex, birth_place, mother_name) from "
    "column NAME; repeatable.",
)
@click.option(
    "--threshold",
    type=float,
    default=10.0,
    show_default=True,
    help="Score from which a pair of records is reported as the same person.",
)
def dedup_command(file: Path, out: Path | None, renames: tuple[str, ...], threshold: float) -> None:
    """Report duplicates in a CSV of records: repeated NIKs, NIKs shared by records that
    disagree (conflicts), and records that are probably one person under two NIKs.

    Writes exact_duplicates.csv, conflicts.csv, candidates.csv and report.json; NIKs are masked.
    Birth dates are read as YYYY-MM-DD.
    """
    from .dedup import dedup_niks, nik_conflicts
    from .people import find_duplicate_people

    mapping = {"nik": "nik"}
    for item in renames:
        field, _, name = item.partition("=")
        if not name:
            raise click.UsageError(f"--column takes FIELD=NAME, not {item!r}")
        mapping[field.strip()] = name.strip()
    table = _read_table(file)
    nik_col = mapping["nik"]
    if nik_col not in table:
        raise click.UsageError(f"no column {nik_col!r} in {file} (columns: {', '.join(table)})")
    records: dict[str, Any] = {}
    for field in ("nik", "name", "birth_date", "sex", "birth_place", "mother_name"):
        name = mapping.get(field, field)
        if name in table:
            records[field] = table[name]
    if "birth_date" in records:
        records["birth_date"] = np.array(
            [v.strip() or "NaT" for v in records["birth_date"]], dtype="datetime64[D]"
        )
    folder = out or file.with_name(f"{file.stem}-dedup")
    folder.mkdir(parents=True, exist_ok=True)
    texts = records["nik"]

    def writer(name: str, header: list[str]) -> Any:
        f = (folder / name).open("w", newline="", encoding="utf-8")
        w = csv.writer(f)
        w.writerow(header)
        return f, w

    steps = ["NIKs", "conflicts", "people"] if "name" in records else ["NIKs", "conflicts"]
    with click.progressbar(steps, label="deduplicating", file=sys.stderr) as bar:
        report: dict[str, Any] = {"records": len(texts)}
        for step in bar:
            if step == "NIKs":
                result = dedup_niks(texts)
                f, w = writer("exact_duplicates.csv", ["row", "first_row", "nik"])
                with f:
                    for i in np.flatnonzero(result.duplicated).tolist():
                        w.writerow([i + 1, int(result.first_index[i]) + 1, mask_nik(texts[i])])
                report |= {
                    "invalid_niks": result.n_invalid,
                    "unique_niks": result.n_unique,
                    "exact_duplicates": result.n_duplicates,
                }
            elif step == "conflicts":
                fields = [f for f in ("name", "birth_date", "sex") if f in records]
                conflicts = nik_conflicts(records, fields=fields) if fields else []
                f, w = writer("conflicts.csv", ["first_row", "other_row", "nik", "fields"])
                with f:
                    for c in conflicts:
                        w.writerow([c.first + 1, c.other + 1, c.nik.masked, " ".join(c.fields)])
                report["conflicts"] = len(conflicts)
            else:
                matches = find_duplicate_people(records, threshold=threshold)
                levels = list(matches.levels)
                f, w = writer(
                    "candidates.csv",
                    ["left_row", "right_row", "score", *(f"{x}_level" for x in levels)],
                )
                with f:
                    for k in range(len(matches)):
                        w.writerow(
                            [
                                int(matches.left[k]) + 1,
                                int(matches.right[k]) + 1,
                                round(float(matches.score[k]), 2),
                                *(int(matches.levels[x][k]) for x in levels),
                            ]
                        )
                report |= {
                    "candidate_pairs_compared": matches.candidates,
                    "probable_same_person_pairs": len(matches),
                    "probable_same_person_clusters": matches.n_clusters,
                    "oversized_blocks": [list(o) for o in matches.oversized],
                }
    (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for key, value in report.items():
        if not isinstance(value, list):
            click.echo(f"{key.replace('_', ' '):<32} {value:>12,}")
    click.echo(f"report written to {folder}")


@nik.command("sample")
@click.argument("n", type=click.IntRange(min=0))
@click.option("--seed", type=int, default=None, help="Random seed, for a reproducible sample.")
@click.option(
    "--invalid-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of NIKs broken the ways data entry breaks them.",
)
@_regions_option("Draw region codes from this Kemendagri table instead of invented ones.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output.",
)
def nik_sample(
    n: int, seed: int | None, invalid_rate: float, regions: Path | None, output: Path | None
) -> None:
    """Write N realistic synthetic NIKs, one per line."""
    values = sample_niks(n, seed=seed, regions=_regions(regions))
    texts = corrupt_niks(values, invalid_rate, seed=seed)
    data = "".join(t + "\n" for t in texts)
    if output:
        output.write_text(data, encoding="utf-8")
    else:
        sys.stdout.write(data)


@nik.command("demo")
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="How many NIKs to generate.",
)
@click.option("--seed", type=int, default=2017, show_default=True)
@click.option("--invalid-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True)
@_regions_option("Kemendagri region table to draw from and check against.")
def nik_demo(n: int, seed: int, invalid_rate: float, regions: Path | None) -> None:
    """Generate sample NIKs with typical data-entry faults and validate them in bulk."""
    table = _regions(regions)
    values = sample_niks(n, seed=seed, regions=table)
    texts = corrupt_niks(values, invalid_rate, seed=seed)
    click.echo(f"generated {n:,} NIKs, about {invalid_rate:.0%} of them broken on purpose")
    # Non-ASCII characters become "?" in the byte-string column: still one wrong character.
    as_bytes = np.array([t.encode("ascii", "replace") for t in texts])
    for name, data in (
        ("list of str", texts),
        (f"numpy {as_bytes.dtype.str[1:]}", as_bytes),
        ("int64", values),
    ):
        start = time.perf_counter()
        batch = parse_niks(data, regions=table)
        seconds = time.perf_counter() - start
        click.echo(f"\n[{name}]")
        _summary(batch, seconds, sys.stdout)
    batch = parse_niks(texts, regions=table)
    examples = list(batch.errors())[:5]
    if examples:
        click.echo("\nfirst errors (NIKs masked):")
        for index, code, position in examples:
            click.echo(
                f"  row {index + 1:>9}: {mask_nik(texts[index])}  "
                f"{nik_error_message(code, position)}"
            )
    women = int(np.count_nonzero(batch.sex == 2))
    click.echo(f"\nvalid NIKs of women: {women:,} of {batch.n_valid:,}")
    if batch.counts().get(NikErrorCode.VALID, 0) == 0:
        sys.exit(1)


@main.command("simulate")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML scenario (over the default, Kota Bogor 2017); see --show-scenario.",
)
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same report).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one number of the scenario, e.g. --set printers.count=8 (repeatable).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the full report as JSON.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("ektpcore-campaign.png"),
    show_default=True,
    help="Write the picture of the campaign here (needs matplotlib).",
)
@click.option("--no-plot", is_flag=True, help="Do not draw the picture.")
@click.option(
    "--ledger",
    callback=_ledger_location(exists=False),
    help="Keep the campaign's ledger in this (new) file, or a PostgreSQL database's URL.",
)
@_regions_option("Name kecamatan and kelurahan from this region table (code,name CSV).")
@click.option("--show-scenario", is_flag=True, help="Print the default scenario (TOML) and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate_command(
    scenario: Path | None,
    seed: int | None,
    overrides: tuple[str, ...],
    json_out: Path | None,
    plot: Path,
    no_plot: bool,
    ledger: str | None,
    regions: Path | None,
    show_scenario: bool,
    quiet: bool,
) -> None:
    """Simulate a printing campaign, from records to cards in citizens' hands.

    Runs the real planner and a real (temporary) ledger through a seeded discrete-event
    simulation: central confirmations, printers, ribbons, jams, chip failures, breakdowns,
    distribution and collection. Prints a summary and draws the campaign.
    """
    from .simulate import default_scenario_text, load_scenario, plot_report, simulate

    if show_scenario:
        click.echo(default_scenario_text(), nl=False)
        return
    try:
        config = load_scenario(scenario, overrides)
    except EktpcoreError as err:
        raise click.UsageError(str(err)) from None
    with click.progressbar(length=1000, label="simulating", file=sys.stderr, hidden=quiet) as bar:
        done = [0]

        def progress(fraction: float) -> None:
            step = int(fraction * 1000)
            if step > done[0]:
                bar.update(step - done[0])
                done[0] = step

        try:
            report = simulate(
                config, seed=seed, ledger=ledger, regions=_regions(regions), progress=progress
            )
        except EktpcoreError as err:  # a ledger that exists, a server that cannot be reached
            raise click.ClickException(str(err)) from None
        bar.update(1000 - done[0])
    click.echo(report.summary())
    if json_out is not None:
        report.to_json(json_out)
        click.echo(f"report: {json_out}")
    if not no_plot:
        try:
            plot_report(report, plot)
            click.echo(f"picture: {plot}")
        except ImportError as err:
            click.echo(f"no picture: {err}", err=True)


@main.command("plan")
@click.argument("records", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("printers", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--blanks",
    type=int,
    default=None,
    help="Blanks in stock (default: the printers file's 'blanks').",
)
@click.option(
    "--start",
    "start_text",
    default=None,
    help="Planning start, ISO 8601 (default: now; naive times are WIB).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plan as JSON (figures and batches).",
)
@click.option(
    "--csv",
    "csv_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one row per record: batch, printer, position, ETA.",
)
def plan_command(
    records: Path,
    printers: Path,
    blanks: int | None,
    start_text: str | None,
    json_out: Path | None,
    csv_out: Path | None,
) -> None:
    """Plan print batches: RECORDS (CSV: id or nik, and optionally kecamatan, kelurahan,
    priority, ready, two_sided) over PRINTERS (TOML: [[printers]], optional [[shifts]],
    blanks, click_limit, click_overhead_minutes)."""
    from .planning import plan, printers_from_toml

    try:
        setup = printers_from_toml(printers)
        stock = blanks if blanks is not None else setup.blanks
        if stock is None:
            raise click.UsageError("give --blanks or 'blanks = N' in the printers file")
        start = _dt.datetime.fromisoformat(start_text) if start_text else _dt.datetime.now(WIB)
        table = _read_plan_records(records, start)
        result = plan(
            table,
            setup.printers,
            blanks=stock,
            start=start,
            shifts=setup.shifts,
            click_limit=setup.click_limit,
            click_overhead=setup.click_overhead,
        )
    except (EktpcoreError, ValueError) as err:
        raise click.UsageError(str(err)) from None
    summary = result.summary()
    click.echo(
        f"{summary['cards']:,} cards in {summary['batches']} batches, "
        f"{summary['start']} to {summary['finish']}"
    )
    click.echo(
        f"makespan {summary['makespan_hours']:.1f} h, lower bound "
        f"{summary['lower_bound_hours']:.1f} h (ratio {summary['quality']:.3f}); "
        f"kelurahan groups split: {summary['groups_split']}"
    )
    for why, count in summary["unscheduled"].items():
        click.echo(f"not scheduled ({why}): {count:,}")
    if json_out is not None:
        result.to_json(json_out)
        click.echo(f"plan: {json_out}")
    if csv_out is not None:
        result.to_csv(csv_out)
        click.echo(f"records: {csv_out}")


def _read_plan_records(path: Path, start: _dt.datetime) -> dict[str, Any]:
    """The records CSV as planner columns. An empty ``ready`` means ready at the start;
    ``unknown`` means not yet print-ready."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise click.UsageError(f"{path}: no records")
    key = "id" if "id" in rows[0] else "nik" if "nik" in rows[0] else None
    if key is None:
        raise click.UsageError(f"{path}: needs an 'id' or 'nik' column")
    out: dict[str, Any] = {"id": np.array([int(r[key]) for r in rows], dtype=np.int64)}
    for name in ("kecamatan", "kelurahan"):
        if name in rows[0]:
            out[name] = [r[name] for r in rows]
    if "priority" in rows[0]:
        out["priority"] = [int(r["priority"] or 0) for r in rows]
    if "two_sided" in rows[0]:
        out["two_sided"] = [r["two_sided"].strip().lower() in ("1", "true", "yes") for r in rows]
    if "ready" in rows[0]:

        def ready(text: str) -> _dt.datetime | None:
            text = text.strip()
            if text.lower() == "unknown":
                return None
            return _dt.datetime.fromisoformat(text) if text else start

        out["ready"] = [ready(r["ready"]) for r in rows]
    return out


@main.group()
def printer() -> None:
    """Printers: a virtual one for trying stations and drivers."""


@printer.command("virtual")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9100, show_default=True)
@click.option("--seconds-per-card", type=float, default=0.0, help="Print time per card.")
@click.option("--jam-at", type=int, multiple=True, help="Jam at this card (repeatable).")
@click.option("--ribbon-cards", type=int, default=None, help="The ribbon ends after N cards.")
@click.option("--chip-fail-at", type=int, multiple=True, help="Chip station fails at card N.")
@click.option("--drop-after", type=int, default=None, help="Drop the connection after N cards.")
@click.option("--cover-open", is_flag=True, help="Start with the cover open.")
@click.option("--for-seconds", type=float, default=None, help="Stop after this long.")
@click.option(
    "--chips",
    "chip_keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Blanks carry virtual chips whose keys derive from this master-key file (hex).",
)
@click.option(
    "--algorithm",
    type=click.Choice(["3des", "aes128", "aes192", "aes256"]),
    default="3des",
    show_default=True,
    help="The chips' secure messaging.",
)
@click.option(
    "--encoder-port",
    type=int,
    default=9101,
    show_default=True,
    help="TCP port of the chip encoder's reader (with --chips).",
)
def printer_virtual(
    host: str,
    port: int,
    seconds_per_card: float,
    jam_at: tuple[int, ...],
    ribbon_cards: int | None,
    chip_fail_at: tuple[int, ...],
    drop_after: int | None,
    cover_open: bool,
    for_seconds: float | None,
    chip_keys: Path | None,
    algorithm: str,
    encoder_port: int,
) -> None:
    """Run a virtual Evolis printer on a TCP port until Ctrl-C: it decodes what it gets,
    answers status commands and fails on request. With --chips every blank carries a
    virtual chip and the chip station's reader listens on --encoder-port."""
    from .chip import ChipServer, SoftwareKeyProvider, VirtualChip
    from .printing import Faults, VirtualPrinter

    faults = Faults(
        ribbon_cards=ribbon_cards,
        jam_at=set(jam_at),
        chip_fail_at=set(chip_fail_at),
        cover_open=cover_open,
        drop_after_cards=drop_after,
    )
    chips = None
    if chip_keys is not None:
        keys = SoftwareKeyProvider(_master_key(chip_keys), algorithm=algorithm)

        def chips(k: int) -> VirtualChip:
            uid = bytes.fromhex("04E0") + k.to_bytes(5, "big")
            return VirtualChip(uid, keys.chip_keys(uid))

    with contextlib.ExitStack() as stack:
        vp = stack.enter_context(
            VirtualPrinter(
                host=host, port=port, seconds_per_card=seconds_per_card, faults=faults, chips=chips
            )
        )
        h, p = vp.address
        click.echo(f"virtual Evolis printer listening on {h}:{p} (Ctrl-C stops it)")
        if chips is not None:
            server = stack.enter_context(ChipServer(vp.encoder(), host=host, port=encoder_port))
            eh, ep = server.address
            click.echo(f"its chip encoder's reader listens on {eh}:{ep} ({algorithm})")
        started = time.monotonic()
        try:
            while for_seconds is None or time.monotonic() - started < for_seconds:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        click.echo(
            f"printed {len(vp.cards)} cards, jammed {len(vp.spoiled)}, rejected {vp.rejected}"
        )


def _master_key(path: Path) -> bytes:
    """A development master key: hex digits in a file (whitespace ignored)."""
    try:
        key = bytes.fromhex("".join(path.read_text().split()))
    except ValueError:
        raise click.UsageError(f"{path}: a key file holds hex digits") from None
    if len(key) < 16:
        raise click.UsageError(f"{path}: a master key is at least 16 bytes")
    return key


@main.group()
def station() -> None:
    """Print stations: planned batches from a ledger to a printer."""


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise click.UsageError(f"an address is host:port, got {text!r}")
    return host, int(port)


@station.command("run")
@click.argument("ledger", callback=_ledger_location(exists=True))
@click.option("--printer", "printer_id", required=True, help="The printer's id in the plan.")
@click.option("--address", required=True, help="host:port of the printer (raw port 9100).")
@click.option("--batch", "batches", multiple=True, required=True, help="Batch id (repeatable).")
@click.option(
    "--operator",
    default="operator",
    show_default=True,
    help="Who runs the station, on a ledger without users (development mode).",
)
@click.option(
    "--user",
    default=None,
    help="Sign in as this user (password from EKTPCORE_PASSWORD or a prompt).",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sign in with this station's token (or EKTPCORE_STATION_TOKEN).",
)
@click.option(
    "--station",
    "station_name",
    default=None,
    help="This station's name in batch claims (default: PRINTER@host).",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=5.0),
    default=90.0,
    show_default=True,
    help="Seconds a batch claim lasts between heartbeats.",
)
@click.option(
    "--take-over",
    is_flag=True,
    help="Take over a batch whose claim lapsed (its station died); a live claim is never taken.",
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
    "--fingerprints",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory of <NIK>.right and <NIK>.left templates from the enrolment system.",
)
def station_run(
    ledger: str,
    printer_id: str,
    address: str,
    batches: tuple[str, ...],
    operator: str,
    user: str | None,
    token_file: Path | None,
    station_name: str | None,
    lease: float,
    take_over: bool,
    no_photo_check: bool,
    chip_reader: str | None,
    chip_profile: str,
    key_file: Path | None,
    fingerprints: Path | None,
) -> None:
    """Print queued batches at one printer, recording every card in the LEDGER (a file, or a
    postgresql:// URL). Cards are drawn from the E-KTP template with what the ledger holds
    (NIK, name, kecamatan, kelurahan, photo and signature files). With --chip-reader every
    card's chip is personalised and read back first (two-phase jobs); a failed chip spoils its
    blank. The station claims each batch before its first card and gives it back at the end;
    a batch another station holds is refused, naming that station. On a ledger with users the
    station signs in first (--user, or a station token), and --operator is not taken."""
    import datetime as dt

    from .lifecycle import Role
    from .printing import PrintStation, TcpTransport
    from .printing.layout import faces_from_record

    host, port = _address(address)
    chip = None
    if chip_reader is not None:
        chip = _chip_encoding(chip_reader, chip_profile, key_file, fingerprints)
    with _open_ledger(ledger) as led:
        actor = _actor(
            led, operator, Role.OPERATOR, user=user, token_file=token_file, name_signs_in=False
        )
        for batch in batches:
            with click.progressbar(length=1, label=f"batch {batch}", file=sys.stderr) as bar:

                def progress(done: int, total: int, bar: Any = bar) -> None:
                    bar.length = total
                    bar.update(1)

                st = PrintStation(
                    led,
                    printer=printer_id,
                    connect=lambda: TcpTransport(host, port),
                    faces=lambda record: faces_from_record(record, check_photo=not no_photo_check),
                    actor=actor,
                    progress=progress,
                    chip=chip,
                    station=station_name,
                    lease=dt.timedelta(seconds=lease),
                    take_over=take_over,
                )
                try:
                    report = st.run(batch)
                except EktpcoreError as err:
                    raise click.ClickException(str(err)) from None
            click.echo(
                f"{batch}: printed {len(report.printed)}, spoiled {len(report.spoiled)}"
                + (f" ({len(report.chip_failed)} chips failed)" if chip is not None else "")
                + ", "
                f"in doubt {len(report.in_doubt)}, still queued {report.left}"
                + (
                    f" ({len(report.recovered)} earlier card(s) found sent and put in doubt:"
                    " see station in-doubt)"
                    if report.recovered
                    else ""
                )
                + (f" - stopped: {report.stopped}" if report.stopped else "")
            )
            if report.stopped:
                sys.exit(1)


def _open_ledger(location: str, *, create: bool = False) -> Any:
    """An existing ledger (a new one only with ``create``), its errors as one line."""
    from .ledger import Ledger

    try:
        return Ledger(location, create=create)
    except EktpcoreError as err:
        raise click.ClickException(str(err)) from None


@contextlib.contextmanager
def _one_line() -> Any:
    """The ledger's refusals as one line each, never a traceback."""
    try:
        yield
    except EktpcoreError as err:
        raise click.ClickException(str(err)) from None


_PASSWORD, _NEW_PASSWORD, _STATION_TOKEN = (
    "EKTPCORE_PASSWORD",
    "EKTPCORE_NEW_PASSWORD",
    "EKTPCORE_STATION_TOKEN",
)


def _password(name: str) -> str:
    """``name``'s password: from ``EKTPCORE_PASSWORD``, or asked for without echo."""
    import os

    given = os.environ.get(_PASSWORD)
    if given is not None:
        return given
    return str(click.prompt(f"password of {name}", hide_input=True, err=True))


def _new_password(name: str) -> str:
    """A new user's password: from ``EKTPCORE_NEW_PASSWORD``, or asked for twice."""
    import os

    given = os.environ.get(_NEW_PASSWORD)
    if given is not None:
        return given
    return str(
        click.prompt(
            f"new password for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    )


def _actor(
    led: Any,
    name: str,
    role: Any,
    *,
    user: str | None = None,
    token_file: Path | None = None,
    name_signs_in: bool = True,
) -> Any:
    """Who acts for a command. On a ledger with users: signed in, with a station token
    (``--token-file`` or ``EKTPCORE_STATION_TOKEN``) or as ``user`` (or ``name``, unless
    ``name_signs_in`` is false) with a password; on a ledger without users (development
    mode), ``name`` in ``role`` as given."""
    import os

    from .lifecycle import Actor

    token = token_file.read_text(encoding="utf-8") if token_file else os.environ.get(_STATION_TOKEN)
    with _one_line():
        if token:
            return led.sign_in_station(token.strip())
        if user is None and led.users.exist():
            if not name_signs_in:
                raise click.ClickException(
                    "this ledger has users: sign in with --user NAME (password from"
                    f" {_PASSWORD} or a prompt) or a station token (--token-file,"
                    f" {_STATION_TOKEN}); --operator is taken only on a ledger without users"
                )
            user = name
        if user is not None:
            return led.sign_in(user, _password(user))
        return Actor(name, role)


@station.command("claims")
@click.argument("ledger", callback=_ledger_location(exists=True))
@click.option("--all", "show_all", is_flag=True, help="Also released claims.")
def station_claims(ledger: str, show_all: bool) -> None:
    """Which station holds which batch, and until when. A claim whose lease ran out belongs
    to a station that died or hangs: a supervisor releases it (station release), or a
    station takes it over (station run --take-over)."""
    import datetime as dt

    with _open_ledger(ledger) as led:
        claims = led.claims.all() if show_all else led.claims.held()
    now = dt.datetime.now(dt.UTC)
    if not claims:
        click.echo("no batch is claimed")
    for c in claims:
        status = "released" if c.released else ("LAPSED" if c.expired(now) else "live")
        click.echo(
            f"{c.batch}: {c.station} (generation {c.generation}), lease until"
            f" {wib_text(c.lease_until)} - {status}"
        )


@station.command("release")
@click.argument("ledger", callback=_ledger_location(exists=True))
@click.option("--batch", required=True, help="The batch whose claim is released.")
@click.option(
    "--supervisor",
    required=True,
    help="The supervisor's name (signed in with a password on a ledger with users).",
)
@click.option("--reason", required=True, help="Why (recorded).")
def station_release(ledger: str, batch: str, supervisor: str, reason: str) -> None:
    """A supervisor releases a batch's claim (its station died, or the printer moved): the old
    station can record nothing more, and its card in flight becomes IN_DOUBT for settle."""
    from .lifecycle import Role

    with _open_ledger(ledger) as led:
        actor = _actor(led, supervisor, Role.SUPERVISOR)
        try:
            led.claims.release(batch, actor, reason=reason)
            doubt = [n for n, _, _ in led.journal.in_doubt(batch=batch)]
        except EktpcoreError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"{batch}: claim released; {len(doubt)} card(s) in doubt to settle")
    for nik in doubt:
        click.echo(f"  {mask_nik(nik)}")


@station.command("in-doubt")
@click.argument("ledger", callback=_ledger_location(exists=True))
@click.option("--printer", default=None, help="Only this printer's cards.")
def station_in_doubt(ledger: str, printer: str | None) -> None:
    """Cards whose outcome nobody knows, for a supervisor to settle: the blank serial printed
    on each (find it in the output tray), the printer, the batch and the masked NIK."""
    with _open_ledger(ledger) as led:
        cards = led.journal.in_doubt(printer)
    if not cards:
        click.echo("no card is in doubt")
    for nik, batch, serial in cards:
        click.echo(f"blank {serial}: {mask_nik(nik)} in batch {batch}")


@station.command("settle")
@click.argument("ledger", callback=_ledger_location(exists=True))
@click.option("--nik", default=None, help="The in-doubt card's NIK.")
@click.option(
    "--blank",
    type=int,
    default=None,
    help="Or the serial of the blank it went through the printer on (see station in-doubt).",
)
@click.option(
    "--printed/--not-printed",
    required=True,
    help="Whether the card was found whole in the output tray.",
)
@click.option(
    "--supervisor",
    required=True,
    help="The supervisor's name (signed in with a password on a ledger with users).",
)
@click.option("--note", required=True, help="What was found (recorded).")
@click.option("--serial", type=int, default=None, help="The blank's serial, if not known.")
def station_settle(
    ledger: str,
    nik: str | None,
    blank: int | None,
    printed: bool,
    supervisor: str,
    note: str,
    serial: int | None,
) -> None:
    """A supervisor settles an IN_DOUBT card, named by its NIK or by the blank it went
    through the printer on: printed (kept; its blank USED) or not printed (its blank SPOILED,
    the record back to PRINT_READY)."""
    from .lifecycle import Role

    if (nik is None) == (blank is None):
        raise click.UsageError("name the card by --nik or by --blank (one of them)")
    with _open_ledger(ledger) as led:
        actor = _actor(led, supervisor, Role.SUPERVISOR)
        if blank is not None:
            found = [n for n, _, s in led.journal.in_doubt() if s == blank]
            if not found:
                raise click.ClickException(
                    f"no card in doubt went through the printer on blank {blank}"
                )
            nik = str(found[0])
        assert nik is not None
        try:
            led.settle(nik, actor, printed=printed, note=note, serial=serial)
            state = led.state_of(nik)
        except EktpcoreError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"{mask_nik(nik)}: {state.value}")


@main.group()
def users() -> None:
    """Users of a ledger: the first administrator, persons, stations, roles.

    A ledger without users takes any name it is given (development mode); once it has an
    administrator it takes changes only from users who signed in. Passwords come from
    EKTPCORE_PASSWORD (the acting user's) and EKTPCORE_NEW_PASSWORD (a new user's), or are
    asked for without echo."""


def _as_administrator(ledger: str, admin: str, change: Callable[[Any, Any], Any]) -> Any:
    """``change(ledger, actor)`` by the administrator ``admin``, signed in with a password;
    its refusals in one line."""
    with _open_ledger(ledger) as led:
        actor = _actor(led, admin, "administrator", user=admin)
        with _one_line():
            return change(led, actor)


_ADMIN_OPTION = click.option("--admin", required=True, help="The administrator acting.")
_ROLE_CHOICE = click.Choice(["auditor", "operator", "supervisor", "administrator"])


@users.command("create-administrator")
@click.argument("ledger", callback=_ledger_location(exists=False))
@click.option("--name", required=True, help="The administrator's user name.")
def users_create_administrator(ledger: str, name: str) -> None:
    """Creates the LEDGER's first user, an administrator (only while it has none; a new
    ledger file is made if there is none)."""
    with _open_ledger(ledger, create=True) as led, _one_line():
        led.users.create_administrator(name, _new_password(name))
    click.echo(f"{name}: administrator created; the ledger now takes only signed-in users")


@users.command("add")
@click.argument("ledger", callback=_ledger_location(exists=True))
@_ADMIN_OPTION
@click.option("--name", required=True, help="The new user's name.")
@click.option("--role", type=_ROLE_CHOICE, required=True)
def users_add(ledger: str, admin: str, name: str, role: str) -> None:
    """Adds a person, who signs in with a password."""
    _as_administrator(
        ledger,
        admin,
        lambda led, actor: led.users.add(actor, name, role, password=_new_password(name)),
    )
    click.echo(f"{name}: {role} added")


@users.command("add-station")
@click.argument("ledger", callback=_ledger_location(exists=True))
@_ADMIN_OPTION
@click.option("--name", required=True, help="The station's name (e.g. P1@pc-3).")
@click.option("--role", type=_ROLE_CHOICE, default="operator", show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the token to this new file (readable by its owner only) instead of showing it.",
)
def users_add_station(
    ledger: str, admin: str, name: str, role: str, token_file: Path | None
) -> None:
    """Adds an unattended station and makes its token: shown once (or written to a new
    file), stored in the ledger only as a hash."""
    import os

    if token_file is not None and token_file.exists():
        raise click.ClickException(f"{token_file} exists; a token is written to a new file")
    token = _as_administrator(
        ledger, admin, lambda led, actor: led.users.add_station(actor, name, role)
    )
    if token_file is None:
        click.echo(f"{name}: station added; its token, shown this once:")
        click.echo(token)
        return
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    click.echo(f"{name}: station added; its token is in {token_file}")


@users.command("grant")
@click.argument("ledger", callback=_ledger_location(exists=True))
@_ADMIN_OPTION
@click.option("--name", required=True, help="The user whose role changes.")
@click.option("--role", type=_ROLE_CHOICE, required=True)
def users_grant(ledger: str, admin: str, name: str, role: str) -> None:
    """Gives a user another role (the one it had is revoked; it signs in again)."""
    _as_administrator(ledger, admin, lambda led, actor: led.users.grant(actor, name, role))
    click.echo(f"{name}: now {role}")


@users.command("set-password")
@click.argument("ledger", callback=_ledger_location(exists=True))
@_ADMIN_OPTION
@click.option("--name", required=True, help="The person whose password is replaced.")
def users_set_password(ledger: str, admin: str, name: str) -> None:
    """Gives a person a new password (EKTPCORE_NEW_PASSWORD, or asked for twice); whoever
    signed in with the old one is refused from now on."""
    _as_administrator(
        ledger, admin, lambda led, actor: led.users.set_password(actor, name, _new_password(name))
    )
    click.echo(f"{name}: new password set")


@users.command("disable")
@click.argument("ledger", callback=_ledger_location(exists=True))
@_ADMIN_OPTION
@click.option("--name", required=True, help="The user to disable.")
def users_disable(ledger: str, admin: str, name: str) -> None:
    """Disables a user: no more sign-ins, and its signed-in sessions are refused at once."""
    _as_administrator(ledger, admin, lambda led, actor: led.users.disable(actor, name))
    click.echo(f"{name}: disabled")


@users.command("list")
@click.argument("ledger", callback=_ledger_location(exists=True))
def users_list(ledger: str) -> None:
    """Every user: name, role, person or station, and who created or disabled it when."""
    with _open_ledger(ledger) as led, _one_line():
        found = led.users.list()
    if not found:
        click.echo("no users: the ledger takes any name it is given (development mode)")
    for u in found:
        made = f"created {wib_text(u.created_at)} by {u.created_by}"
        off = f", DISABLED {wib_text(u.disabled_at)} by {u.disabled_by}" if u.disabled_at else ""
        click.echo(f"{u.name}: {u.role.name.lower()} {u.kind}, {made}{off}")


def _chip_encoding(
    reader: str, profile_name: str, key_file: Path | None, fingerprints: Path | None
) -> Any:
    """The station's chip encoding from the command line's options."""
    from .chip import (
        LDS1,
        ChipProfile,
        PcscTransport,
        Personaliser,
        SoftwareKeyProvider,
        TcpChipTransport,
        chip_data_from_record,
    )
    from .printing import ChipEncoding

    if key_file is None or fingerprints is None:
        raise click.UsageError("--chip-reader needs --key-file and --fingerprints")
    profile = LDS1 if profile_name == "lds1" else ChipProfile.from_toml(profile_name)
    keys = SoftwareKeyProvider(_master_key(key_file), algorithm=profile.algorithm)
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
