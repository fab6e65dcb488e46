from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import ektpcore
from ektpcore import NikErrorCode, parse_niks, sample_niks
from ektpcore.cli import main


def test_samples_are_valid_unique_and_reproducible() -> None:
    niks = sample_niks(50_000, seed=11)
    batch = parse_niks(niks)
    assert batch.n_valid == len(niks)
    assert len(np.unique(niks)) == len(niks)
    assert np.array_equal(niks, sample_niks(50_000, seed=11))
    women = np.count_nonzero(batch.sex == 2) / len(niks)
    assert 0.45 < women < 0.55
    ages = (np.datetime64("today") - batch.birth_date).astype(int) / 365.25
    assert ages.min() >= 16.9
    assert ages.max() <= 100
    july_first = np.count_nonzero((niks // 10**6 % 100 == 7) & (niks // 10**8 % 100 % 40 == 1))
    assert july_first > 0.02 * len(niks)


def test_corruptions_break_what_they_say() -> None:
    niks = sample_niks(5_000, seed=5)
    texts = ektpcore.corrupt_niks(niks, 0.5, seed=5)
    batch = parse_niks(texts)
    assert 0.4 < 1 - batch.n_valid / len(texts) < 0.6
    reasons = set(batch.counts())
    assert {
        NikErrorCode.LENGTH,
        NikErrorCode.NON_DIGIT,
        NikErrorCode.DAY,
        NikErrorCode.MONTH,
        NikErrorCode.PROVINCE,
        NikErrorCode.SERIAL_ZERO,
    } <= reasons


def test_cli_sample_then_check(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "niks.txt"
    result = runner.invoke(
        main, ["nik", "sample", "2000", "--seed", "1", "--invalid-rate", "0.1", "-o", str(path)]
    )
    assert result.exit_code == 0, result.output
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2000
    result = runner.invoke(main, ["nik", "check", str(path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["row", "nik", "name", "code", "reason", "position"]
    expected = parse_niks(lines)
    assert len(rows) - 1 == len(expected) - expected.n_valid
    assert "NIKs checked" in result.stderr
    for row in rows[1:]:
        original = lines[int(row[0]) - 1]
        assert original[4:14] not in row[1]
        assert int(row[3]) == expected.error[int(row[0]) - 1]
    failing = runner.invoke(main, ["nik", "check", "--fail-on-invalid", str(path)])
    assert failing.exit_code == 14


def test_cli_check_reads_a_csv_column(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text(
        "id,nama,NIK\n1,Siti,3271014508990001\n2,Budi,3271013508990001\n", encoding="utf-8"
    )
    out = tmp_path / "errors.csv"
    result = CliRunner().invoke(main, ["nik", "check", str(path), "--errors", str(out)])
    assert result.exit_code == 0, result.output
    # The spreadsheet's row (the header is row 1), the name's initials.
    assert out.read_text(encoding="utf-8").splitlines()[1] == "3,3271**********01,B.,9,day,6"
    bad = CliRunner().invoke(main, ["nik", "check", str(path), "--column", "nope"])
    assert bad.exit_code == 3
    assert "no column 'nope'" in bad.output


def test_cli_demo_summarises() -> None:
    result = CliRunner().invoke(main, ["nik", "demo", "-n", "3000"])
    assert result.exit_code == 0, result.output
    assert result.output.count("NIKs checked") == 3
    assert "first errors" in result.output


def test_cli_dedup_report(tmp_path: Path) -> None:
    import json

    from ektpcore.testing import synthetic_people

    people = synthetic_people(3000, seed=8)
    path = tmp_path / "records.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["NIK", "name", "birth_date", "sex", "birth_place", "mother_name"])
        niks = [f"{v:016d}" for v in people["nik"].tolist()]
        niks[10] = niks[3]  # one repeated NIK
        for i in range(len(niks)):
            w.writerow(
                [
                    niks[i],
                    people["name"][i],
                    str(people["birth_date"][i]),
                    people["sex"][i],
                    people["birth_place"][i] or "",
                    people["mother_name"][i] or "",
                ]
            )
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["dedup", str(path), "--column", "nik=NIK", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["records"] == 3000
    assert report["exact_duplicates"] == 1
    assert report["probable_same_person_pairs"] > 100
    exact = (out / "exact_duplicates.csv").read_text().splitlines()
    assert exact[1].startswith("12,5,")  # rows as the spreadsheet numbers them
    assert niks[3][4:14] not in (out / "exact_duplicates.csv").read_text()
    assert (out / "candidates.csv").read_text().startswith("left_row,right_row,score,name_level")
    bad = CliRunner().invoke(main, ["dedup", str(path), "--column", "nik"])
    assert bad.exit_code == 2
