"""``ektpcore nik``: check the NIKs of an export, make sample NIKs, the bulk demo."""

from __future__ import annotations

import csv
import datetime as _dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click
import numpy as np

from ..errors import EktpcoreError
from ..nik import NikBatch, NikErrorCode, mask_nik, nik_error_message, parse_niks
from ..regions import RegionTable
from ..sample import corrupt_niks, sample_niks
from ..sheets import initials
from .common import (
    Exit,
    check_cleaned,
    check_output,
    column_map,
    columns_option,
    echo,
    failure,
    note,
    output_option,
    read_input,
    write_cleaned,
    writing,
)

__all__ = ["nik", "regions_option", "regions_table"]

_MOST = 100_000_000
"""The most NIKs ``sample`` and ``demo`` make (1.7 GB of text)."""


@click.group()
def nik() -> None:
    """Validate and generate NIKs."""


def regions_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--regions PATH``: a Kemendagri region table (``code,name`` CSV)."""
    return click.option("--regions", type=click.Path(path_type=Path), help=text)


def regions_table(path: Path | None) -> RegionTable | None:
    """The region table in ``path``; one that cannot be read is bad input."""
    if path is None:
        return None
    try:
        return RegionTable.from_csv(path)
    except OSError as err:
        raise failure(
            f"{path}: cannot read the region table ({err.strerror})", Exit.INPUT
        ) from None
    except EktpcoreError as err:
        raise failure(str(err), Exit.INPUT) from None


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
@click.argument("file", type=click.Path(path_type=Path))
@columns_option("nik, name; or just HEADER for the NIK's column")
@regions_option("Kemendagri region table (code,name CSV) to check region codes against.")
@click.option(
    "--reference-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Resolve birth-year centuries against this date (default: unknown century).",
)
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(path_type=Path),
    help="Write the per-row errors CSV here instead of standard output.",
)
@output_option
@click.option("--fail-on-invalid", is_flag=True, help="Exit with status 14 if any NIK is invalid.")
def nik_check(
    file: Path,
    columns: tuple[str, ...],
    regions: Path | None,
    reference_date: _dt.datetime | None,
    errors_path: Path | None,
    output: Path | None,
    fail_on_invalid: bool,
) -> None:
    """Validate the NIKs in FILE: a list of NIKs one per line, or a spreadsheet export
    (CSV in any encoding and delimiter, or .xlsx) whose NIK column is found by its name
    (NIK, NO_NIK, ...; or --column nik=HEADER).

    Prints the invalid rows as CSV (the spreadsheet's row, the masked NIK, the name's
    initials, code, reason, position) and a summary on standard error."""
    if errors_path is not None:
        check_output(errors_path, "the errors")
    check_cleaned(output)
    table = regions_table(regions)
    sheet = read_input(file, column_map(columns, bare="nik"), ["nik", "name"])
    sheet.require("nik")
    texts = sheet.values("nik")
    names = sheet.values("name") if sheet.has("name") else [""] * len(texts)
    start = time.perf_counter()
    batch = parse_niks(
        texts, reference_date=reference_date.date() if reference_date else None, regions=table
    )
    seconds = time.perf_counter() - start
    with writing(errors_path) as out:
        writer = csv.writer(out)
        writer.writerow(["row", "nik", "name", "code", "reason", "position"])
        for index, code, position in batch.errors():
            writer.writerow(
                [
                    sheet.numbers[index],
                    mask_nik(texts[index]),
                    initials(names[index]),
                    int(code),
                    code.name.lower(),
                    "" if position is None else position,
                ]
            )
    if output is not None:
        write_cleaned(output, sheet, np.flatnonzero(batch.valid).tolist())
        note(f"{batch.n_valid:,} rows with a valid NIK: {output}")
    _summary(batch, seconds, sys.stderr)
    if fail_on_invalid and batch.n_valid < len(batch):
        raise failure(f"{len(batch) - batch.n_valid:,} invalid NIKs in {file.name}", Exit.CHECK)


@nik.command("sample")
@click.argument("n", type=click.IntRange(min=0, max=_MOST))
@click.option("--seed", type=int, default=None, help="Random seed, for a reproducible sample.")
@click.option(
    "--invalid-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of NIKs broken the ways data entry breaks them.",
)
@regions_option("Draw region codes from this Kemendagri table instead of invented ones.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write here instead of standard output.",
)
def nik_sample(
    n: int, seed: int | None, invalid_rate: float, regions: Path | None, output: Path | None
) -> None:
    """Write N realistic synthetic NIKs, one per line."""
    if output is not None:
        check_output(output, "the sample")
    values = sample_niks(n, seed=seed, regions=regions_table(regions))
    texts = corrupt_niks(values, invalid_rate, seed=seed)
    data = "".join(t + "\n" for t in texts)
    with writing(output) as out:
        out.write(data)


@nik.command("demo")
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1, max=_MOST),
    default=1_000_000,
    show_default=True,
    help="How many NIKs to generate.",
)
@click.option("--seed", type=int, default=2017, show_default=True)
@click.option("--invalid-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True)
@regions_option("Kemendagri region table to draw from and check against.")
def nik_demo(n: int, seed: int, invalid_rate: float, regions: Path | None) -> None:
    """Generate sample NIKs with typical data-entry faults and validate them in bulk."""
    table = regions_table(regions)
    values = sample_niks(n, seed=seed, regions=table)
    texts = corrupt_niks(values, invalid_rate, seed=seed)
    echo(f"generated {n:,} NIKs, about {invalid_rate:.0%} of them broken on purpose")
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
        echo(f"\n[{name}]", lines=True)
        _summary(batch, seconds, sys.stdout)
    batch = parse_niks(texts, regions=table)
    examples = list(batch.errors())[:5]
    if examples:
        echo("\nfirst errors (NIKs masked):", lines=True)
        for index, code, position in examples:
            echo(
                f"  row {index + 1:>9}: {mask_nik(texts[index])}  "
                f"{nik_error_message(code, position)}"
            )
    women = int(np.count_nonzero(batch.sex == 2))
    echo(f"\nvalid NIKs of women: {women:,} of {batch.n_valid:,}", lines=True)
    if batch.counts().get(NikErrorCode.VALID, 0) == 0:
        raise failure("no valid NIK among the samples", Exit.CHECK)
