"""``ektpcore dedup``: repeated NIKs, conflicts and probable same people in an export."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import SheetError
from ..nik import mask_nik
from ..sheets import initials, parse_date
from .common import (
    Exit,
    Reject,
    check_folder,
    check_output,
    column_map,
    columns_option,
    echo,
    failure,
    read_input,
    reject,
    rejects_option,
    rejects_path,
    tell_rejects,
    write_rejects,
    writing,
)

__all__ = ["date_reason", "dedup_command"]

_FIELDS = ("nik", "name", "birth_date", "sex", "birth_place", "mother_name")


def date_reason(err: SheetError) -> str:
    """Why a cell is not a date, without quoting it (a birth date is personal data)."""
    if "no such day" in str(err):
        return "not a date: no such day"
    return "not a date (DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD)"


@click.command("dedup")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    help="Report folder (default: FILE's name with -dedup).",
)
@columns_option(", ".join(_FIELDS))
@click.option(
    "--threshold",
    type=click.FloatRange(min=0.0, max=1000.0),
    default=10.0,
    show_default=True,
    help="Score from which a pair of records is reported as the same person.",
)
@rejects_option
def dedup_command(
    file: Path, out: Path | None, columns: tuple[str, ...], threshold: float, rejects: Path | None
) -> None:
    """Report duplicates in a spreadsheet of records (CSV in any encoding and delimiter,
    or .xlsx; SIAK's column names are known): repeated NIKs, NIKs shared by records that
    disagree (conflicts), and records that are probably one person under two NIKs.

    Writes exact_duplicates.csv, conflicts.csv, candidates.csv and report.json, naming rows
    as the spreadsheet numbers them, NIKs masked and names as initials. Birth dates are read
    as DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD; a row whose date is not one is left out (see
    --rejects)."""
    from ..dedup import dedup_niks, nik_conflicts
    from ..people import find_duplicate_people

    folder = out or file.with_name(f"{file.stem}-dedup")
    if folder.exists() and not folder.is_dir():
        raise failure(f"{folder}: is a file; the report is written to a folder", Exit.OUTPUT)
    check_folder(folder if folder.is_dir() else folder.parent, str(folder))
    mapping = column_map(columns)
    sheet = read_input(file, mapping, _FIELDS)
    sheet.require("nik")
    left_out: list[Reject] = []
    dates: list[str] = []
    keep = list(range(len(sheet)))
    if sheet.has("birth_date"):
        keep = []
        for i, text in enumerate(sheet.values("birth_date")):
            try:
                dates.append(parse_date(text).isoformat() if text else "NaT")
                keep.append(i)
            except SheetError as err:
                left_out.append(reject(sheet, i, "birth_date", date_reason(err)))
    if left_out:
        where = rejects_path(file, rejects)
        check_output(where, "the rejects")
        write_rejects(where, left_out)
        tell_rejects(left_out, where)
    records: dict[str, Any] = {}
    for field in _FIELDS:
        if sheet.has(field):
            values = sheet.values(field)
            records[field] = [values[i] for i in keep]
    if dates:
        records["birth_date"] = np.array(dates, dtype="datetime64[D]")
    rows = [sheet.numbers[i] for i in keep]
    texts = records["nik"]
    names = records.get("name", [""] * len(texts))
    folder.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def report_file(name: str, header: list[str]) -> Iterator[Any]:
        with writing(folder / name) as f:
            w = csv.writer(f)
            w.writerow(header)
            yield w

    steps = ["NIKs", "conflicts", "people"] if "name" in records else ["NIKs", "conflicts"]
    report: dict[str, Any] = {"records": len(sheet), "rows_left_out": len(left_out)}
    with click.progressbar(steps, label="deduplicating", file=sys.stderr) as bar:
        for step in bar:
            if step == "NIKs":
                result = dedup_niks(texts)
                with report_file("exact_duplicates.csv", ["row", "first_row", "nik", "name"]) as w:
                    for i in np.flatnonzero(result.duplicated).tolist():
                        first = int(result.first_index[i])
                        w.writerow([rows[i], rows[first], mask_nik(texts[i]), initials(names[i])])
                report |= {
                    "invalid_niks": result.n_invalid,
                    "unique_niks": result.n_unique,
                    "exact_duplicates": result.n_duplicates,
                }
            elif step == "conflicts":
                fields = [f for f in ("name", "birth_date", "sex") if f in records]
                conflicts = nik_conflicts(records, fields=fields) if fields else []
                header = ["first_row", "other_row", "nik", "name", "fields"]
                with report_file("conflicts.csv", header) as w:
                    for c in conflicts:
                        w.writerow(
                            [
                                rows[c.first],
                                rows[c.other],
                                c.nik.masked,
                                initials(names[c.first]),
                                " ".join(c.fields),
                            ]
                        )
                report["conflicts"] = len(conflicts)
            else:
                matches = find_duplicate_people(records, threshold=threshold)
                levels = list(matches.levels)
                header = ["left_row", "right_row", "score", *(f"{x}_level" for x in levels)]
                header += ["left_name", "right_name"]
                with report_file("candidates.csv", header) as w:
                    for k in range(len(matches)):
                        a, b = int(matches.left[k]), int(matches.right[k])
                        w.writerow(
                            [
                                rows[a],
                                rows[b],
                                round(float(matches.score[k]), 2),
                                *(int(matches.levels[x][k]) for x in levels),
                                initials(names[a]),
                                initials(names[b]),
                            ]
                        )
                report |= {
                    "candidate_pairs_compared": matches.candidates,
                    "probable_same_person_pairs": len(matches),
                    "probable_same_person_clusters": matches.n_clusters,
                    "oversized_blocks": [list(o) for o in matches.oversized],
                }
    with writing(folder / "report.json") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    for key, value in report.items():
        if not isinstance(value, list):
            echo(f"{key.replace('_', ' '):<32} {value:>12,}")
    echo(f"report written to {folder}")
    if left_out:
        raise failure(
            f"{len(left_out):,} of {len(sheet):,} rows left out (see the rejects)", Exit.PARTIAL
        )
