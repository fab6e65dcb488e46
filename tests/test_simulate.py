"""The campaign simulator: end to end on a small campaign, reproducible, and its inputs."""

from __future__ import annotations

import copy
import dataclasses
import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from ektpcore import BlankState, InvalidArgumentError, Ledger, State
from ektpcore.cli import main
from ektpcore.simulate import (
    CampaignReport,
    _Campaign,
    campaign_figure,
    load_scenario,
    plot_report,
    simulate,
)

from ._campaign_stepwise import simulate_stepwise

# A small campaign with every fault frequent enough to happen: jams, chip and QC failures,
# breakdowns, ribbons running out before a delivery, and fewer blanks than records.
SMALL = [
    "records.print_ready=500",
    "records.sent_for_enrolment=300",
    "records.bio_captured=200",
    "blanks.in_stock=900",
    "printers.count=2",
    "printers.cards_per_hour=120",
    "printers.cards_per_hour_two_sided=90",
    "ribbons.capacity=100",
    "ribbons.in_stock=3",
    "ribbons.deliveries=[{ day = 3, count = 10 }]",
    "faults.jam_rate=0.01",
    "faults.chip_failure_rate=0.02",
    "faults.qc_reject_rate=0.01",
    "faults.breakdowns_per_printer_day=0.5",
    "faults.repair_hours=6",
    "campaign.click_limit=60",
    "campaign.max_days=30",
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[CampaignReport, Path]:
    path = tmp_path_factory.mktemp("sim") / "campaign.db"
    report = simulate(load_scenario(overrides=SMALL), seed=7, ledger=path)
    return report, path


def test_a_campaign_runs_end_to_end_and_the_ledger_adds_up(
    small_run: tuple[CampaignReport, Path],
) -> None:
    report, path = small_run
    assert report.ledger_verified
    assert report.blanks_balanced
    spoiled = sum(report.spoiled.values())
    assert report.spoiled.get("jam", 0) > 0
    assert report.spoiled.get("chip", 0) > 0
    assert report.ribbon_waits_hours > 0
    with Ledger(path) as led:
        assert led.verify().ok
        counts = led.counts()
        blanks = led.blanks.counts()
        # Every blank is accounted for: printed on an issued or travelling card, spoiled, or
        # still in stock; none is left allocated to a batch that is not running.
        assert blanks.get(BlankState.ALLOCATED, 0) == 0
        assert sum(blanks.values()) == 900
        assert blanks.get(BlankState.SPOILED, 0) == spoiled
        assert counts.get(State.QUEUED, 0) == 0
        assert counts.get(State.ISSUED, 0) == report.issued
        # One valid card per record: the ledger's cards table has no record twice.
        rows = led._query("SELECT record_id, count(*) FROM cards WHERE valid = 1 GROUP BY 1")
        assert all(n == 1 for _, n in rows)
        assert len(rows) == report.printed
        assert counts.get(State.DUPLICATE_RECORD, 0) == report.duplicates
    # 1,000 records, fewer printable than that, 900 blanks: the shortfall is reported.
    printable = 1_000 - report.duplicates
    assert report.printed + report.blank_shortfall == printable
    assert "BLANK SHORTFALL" in report.summary()


def test_the_summary_names_every_bottleneck(small_run: tuple[CampaignReport, Path]) -> None:
    report = small_run[0]
    lines = report.bottlenecks()
    assert [line.split(":")[0] for line in lines] == ["blanks", "ribbons", "staff", "printers"]
    assert lines[0].startswith("blanks: a BOTTLENECK: ")  # fewer blanks than records
    assert lines[1].startswith("ribbons: a BOTTLENECK: printers waited ")
    assert lines[2] == "staff: not a bottleneck (every shift runs both printers)"
    assert all(f"    {line}" in report.summary() for line in lines)
    assert report.to_dict()["bottlenecks"] == lines
    # Too few operators at night, and printers busy all the time yet short of the target.
    scenario = copy.deepcopy(report.scenario)
    scenario["staffing"]["printers_per_operator"] = 1
    scenario["shifts"][1]["staff"] = 1
    busy = {p: 0.97 for p in report.utilisation}
    thin = dataclasses.replace(report, scenario=scenario, utilisation=busy, printed_by_target=10)
    staff, printers = thin.bottlenecks()[2:]
    assert staff == "staff: a BOTTLENECK: the 20:00-08:00 shift's 1 operator runs 1 of 2 printers"
    assert printers.startswith("printers: a BOTTLENECK: busy 97% of the time, yet 10 of ")


def test_a_scenario_too_large_to_hold_is_refused_by_name() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"records\.print_ready must be a whole number in"
    ):
        load_scenario(overrides=["records.print_ready=1e12"])
    with pytest.raises(InvalidArgumentError, match=r"blanks\.in_stock must be a whole number in"):
        load_scenario(overrides=["blanks.in_stock=100000000000"])


def test_a_scenario_given_in_part_is_the_default_with_those_settings() -> None:
    small = dict(item.split("=") for item in SMALL[:4])
    part = {
        "records": {k.split(".")[1]: int(v) for k, v in small.items() if k.startswith("records")},
        "blanks": {"in_stock": int(small["blanks.in_stock"])},
    }
    full = load_scenario(overrides=SMALL[:4])
    assert simulate(part, seed=3).to_dict()["printed"] == simulate(full, seed=3).printed
    with pytest.raises(InvalidArgumentError, match=r"printers\.count must be a whole number"):
        simulate({"printers": {"count": -3}})
    with pytest.raises(InvalidArgumentError, match=r"unknown setting 'printers\.colour'"):
        simulate({"printers": {"colour": 3}})


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ('blanks.deliveries="x"', "blanks.deliveries must be a list"),
        ("blanks.deliveries=[1, 2]", r"blanks.deliveries\[0\] must be a table of count, day"),
        ("blanks.deliveries=[{day = 1}]", r"blanks.deliveries\[0\] must be a table"),
        ('blanks.deliveries=[{day = "x", count = 1}]', r"blanks.deliveries\[0\].day must be"),
        ("blanks.deliveries=[{day = -0.5, count = 5}]", r"blanks.deliveries\[0\].day must be"),
        ("blanks.deliveries=[{day = nan, count = 5}]", r"blanks.deliveries\[0\].day must be"),
        ("blanks.deliveries=[{day = 1e9, count = 5}]", r"blanks.deliveries\[0\].day must be"),
        ("blanks.deliveries=[{day = 1, count = 2.5}]", r"blanks.deliveries\[0\].count must be"),
        ("blanks.deliveries=[{day = 1, count = 1e12}]", r"blanks.deliveries\[0\].count must be"),
        ("blanks.deliveries=[{day = 1, count = 1, lot = 2}]", r"blanks.deliveries\[0\] must be"),
        ("ribbons.deliveries=[{day = 1}]", r"ribbons.deliveries\[0\] must be a table"),
        ("shifts=3", "shifts must be a list of at least one shift"),
        ("shifts=[]", "shifts must be a list of at least one shift"),
        ("shifts=[1]", r"shifts\[0\] must be a table of end, staff, start"),
        ('shifts=[{start = "08:00"}]', r"shifts\[0\] must be a table"),
        ('shifts=[{start = "25:00", end = "08:00", staff = 1}]', r"shifts\[0\].start must be"),
        ('shifts=[{start = "08:00", end = "20:00", staff = -1}]', r"shifts\[0\].staff must be"),
        ("shifts.staffing=[]", "shifts must be a list of at least one shift"),
        ("staffing.printers_per_operator=0", "staffing.printers_per_operator must be"),
        ('distribution.kecamatan=[{name = "X"}]', r"distribution.kecamatan\[0\] must be"),
        (
            'distribution.kecamatan=[{name = "X", kelurahan = 0}]',
            r"distribution.kecamatan\[0\].kelurahan must be",
        ),
        ("distribution.kecamatan=[]", "distribution.kecamatan must be a list of 1 to 99"),
        ('distribution.kabkota="xx"', "distribution.kabkota must be a regency or city code"),
        ("campaign.start=9999-12-31T00:00:00", "campaign.start must be a TOML date-time"),
        ("printers.count=2.5", "printers.count must be a whole number"),
        ('records.two_sided="yes"', "records.two_sided must be true or false"),
        ("campaign.click_limit=0", "campaign.click_limit must be a whole number"),
    ],
)
def test_a_bad_setting_is_refused_by_name(override: str, named: str) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        load_scenario(overrides=[override])


def test_the_same_seed_gives_the_same_report(small_run: tuple[CampaignReport, Path]) -> None:
    first = small_run[0].to_dict()
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    during: set[float] = set()
    again = simulate(
        load_scenario(overrides=SMALL),
        seed=7,
        progress=lambda _: during.add(sys.getswitchinterval()),
    ).to_dict()
    # The campaign's rarer collections and quicker thread switches end with it: the process's
    # thresholds and switch interval are as before.
    assert [round(s, 6) for s in during] == [0.0002]
    assert gc.get_threshold() == thresholds
    assert sys.getswitchinterval() == interval
    other = simulate(load_scenario(overrides=SMALL), seed=8).to_dict()
    for doc in (first, again, other):
        doc.pop("replan_ms_mean")
        # The time split: wall-clock figures, never the same twice. The ledger's changes run
        # beside planning and the simulation, so the parts cover the run and overlap by at
        # most the ledger's time.
        seconds = doc.pop("seconds")
        assert set(seconds) == {"planning", "ledger", "simulation", "total"}
        assert min(seconds.values()) >= 0
        parts = seconds["planning"] + seconds["ledger"] + seconds["simulation"]
        assert seconds["total"] - 1e-6 <= parts <= seconds["total"] + seconds["ledger"]
    assert again == first
    assert other != first


def test_a_change_that_fails_stops_the_campaign_and_the_changes_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger's changes run on a thread of their own: the first one that fails is raised
    to the caller, and none queued after it reaches the ledger (they would act on a ledger
    that missed it); the thread is gone after."""

    def lost_box(self: _Campaign, sent: list[int], counts: list[int]) -> None:
        raise RuntimeError("a kelurahan box went missing")

    monkeypatch.setattr(_Campaign, "receive_at_kelurahan", lost_box)
    path = tmp_path / "failed.db"
    with pytest.raises(RuntimeError, match="box went missing"):
        simulate(load_scenario(overrides=SMALL), seed=7, ledger=path)
    assert not [t for t in threading.enumerate() if t.name.startswith("ektpcore-ledger")]
    with Ledger(path) as led:
        counts = led.counts()
        # Cards reached the kecamatan, but no box was received at a kelurahan and no card
        # handed over after the failure (their collection days were queued behind it).
        assert counts.get(State.IN_TRANSIT_TO_KELURAHAN, 0) > 0
        assert counts.get(State.AT_KELURAHAN, 0) == 0
        assert counts.get(State.ISSUED, 0) == 0
        assert led.verify().ok


def test_campaigns_on_two_threads_at_once_leave_the_process_as_they_found_it() -> None:
    """A campaign's process settings (rare collections, quick thread switches) hold while any
    campaign plays and are put back when the last one ends: a campaign that started first and
    ends first takes nothing from one that started during it."""
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    first_plays, second_plays, first_ended = (threading.Event() for _ in range(3))
    seen: set[float] = set()

    def first_progress(_: float) -> None:
        first_plays.set()
        second_plays.wait(timeout=60)  # both play from here on

    def second_progress(_: float) -> None:
        second_plays.set()
        first_ended.wait(timeout=60)
        seen.add(round(sys.getswitchinterval(), 6))

    def second() -> CampaignReport:
        first_plays.wait(timeout=60)
        return simulate(load_scenario(overrides=SMALL), seed=7, progress=second_progress)

    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(second)
        simulate(load_scenario(overrides=SMALL), seed=8, progress=first_progress)
        first_ended.set()
        report = later.result(timeout=600)
    assert report.ledger_verified
    # Every step of the second campaign after the first ended still had the quick switches.
    assert seen == {0.0002}
    assert gc.get_threshold() == thresholds
    assert sys.getswitchinterval() == interval


@pytest.mark.parametrize("gap", [0.0, 0.002, 0.02])
def test_ctrl_c_twice_ends_the_run_and_leaves_a_ledger_that_verifies(
    tmp_path: Path, gap: float
) -> None:
    """Ctrl-C pressed twice in a row while the ledger's thread writes: the process says it was
    interrupted and where the ledger is, never crashes (a second interrupt once closed the
    ledger under the change being made) and never shows a traceback; the ledger verifies."""
    path = tmp_path / "interrupted.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONFAULTHANDLER": "1"}
    words = ["simulate", "--no-plot", "--quiet", "--ledger", str(path)]
    with subprocess.Popen(
        [sys.executable, "-m", "ektpcore", *words],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        # As at a terminal, whatever the runner of the tests does with Ctrl-C itself.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as child:
        # Once cards are printing: the default campaign then has seconds of changes to go.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as peek:
                    if peek.execute("SELECT count(*) FROM cards").fetchone()[0]:
                        break
            except sqlite3.Error:
                continue
        child.send_signal(signal.SIGINT)
        time.sleep(gap)
        child.send_signal(signal.SIGINT)
        err = child.communicate(timeout=120)[1]
    # Aborted (1); or killed by the second interrupt once Python had begun to exit.
    assert child.returncode in (1, -signal.SIGINT), err
    assert "Traceback" not in err
    assert "Fatal Python error" not in err
    assert f"interrupted: {path} holds the campaign up to this point" in err
    with Ledger(path) as led:
        assert led.verify().ok
        # Every blank accounted for where the campaign stopped.
        assert led.blanks.reconcile().balanced


def test_recording_a_step_as_one_change_keeps_the_report_and_every_cards_way(
    small_run: tuple[CampaignReport, Path], tmp_path: Path
) -> None:
    """The simulator records a batch's outcome, a morning's dispatch and a kecamatan's arrival
    as one change each; driving the ledger one call at a time, as it did before, gives the
    same report and a ledger in which every record went the same way."""
    ours, path = small_run
    peer = simulate_stepwise(load_scenario(overrides=SMALL), 7, tmp_path / "stepwise.db")
    docs = [ours.to_dict(), peer.to_dict()]
    for doc in docs:
        doc.pop("seconds")
        doc.pop("replan_ms_mean")
    assert docs[0] == docs[1]
    assert peer.printed > 0
    assert peer.spoiled.get("jam", 0) > 0
    assert peer.issued > 0
    ways = []
    for ledger in (path, tmp_path / "stepwise.db"):
        with Ledger(ledger) as led:
            everyone = sorted(int(r.nik) for r in led.records(*State))
            ways.append(
                {
                    nik: [
                        (e.source, e.target, e.reason, e.batch, e.printer, e.blank)
                        for e in led.history(nik)
                    ]
                    for nik in everyone
                }
            )
            ways.append(led.blanks.counts())
    assert len(ways[0]) == ours.records
    assert ways[0] == ways[2]
    assert ways[1] == ways[3]


def test_the_report_is_written_as_json_and_as_a_picture(
    small_run: tuple[CampaignReport, Path], tmp_path: Path
) -> None:
    report = small_run[0]
    doc = json.loads(report.to_json(tmp_path / "r.json"))
    assert doc["printed"] == report.printed
    assert doc["scenario"]["records"]["print_ready"] == 500
    plot_report(report, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_picture_shows_the_blank_shortfall_the_summary_reports(
    small_run: tuple[CampaignReport, Path],
) -> None:
    import matplotlib.pyplot as plt

    report = small_run[0]
    assert report.blank_shortfall > 0
    fig = campaign_figure(report)
    try:
        top = fig.axes[0]
        labels = top.get_legend_handles_labels()[1]
        assert f"blank shortfall: {report.blank_shortfall:,} records without a card" in labels
        assert f"BLANK SHORTFALL {report.blank_shortfall:,}" in top.get_title()
        assert f"BLANK SHORTFALL: {report.blank_shortfall:,}" in report.summary()
    finally:
        plt.close(fig)


def test_scenarios_load_from_toml_and_overrides(tmp_path: Path) -> None:
    default = load_scenario()
    assert default["records"]["print_ready"] == 31_000
    assert default["blanks"]["in_stock"] == 60_000
    assert default["printers"]["count"] == 6
    own = tmp_path / "office.toml"
    own.write_text('[printers]\ncount = 9\n[campaign]\nname = "Kota Contoh"\n', encoding="utf-8")
    s = load_scenario(own, ["printers.count=4", "faults.jam_rate=0.01"])
    assert s["printers"]["count"] == 4
    assert s["campaign"]["name"] == "Kota Contoh"
    assert s["faults"]["jam_rate"] == 0.01
    assert s["records"]["print_ready"] == 31_000
    with pytest.raises(InvalidArgumentError, match=r"unknown setting 'printers\.colour'"):
        load_scenario(overrides=["printers.colour=3"])
    with pytest.raises(InvalidArgumentError, match=r"faults\.jam_rate must be a number"):
        load_scenario(overrides=["faults.jam_rate=2"])
    with pytest.raises(InvalidArgumentError, match=r"section\.key=value"):
        load_scenario(overrides=["printers.count"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[printers\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=r"bad\.toml"):
        load_scenario(bad)


def test_the_cli_simulates_with_overrides(tmp_path: Path) -> None:
    args = ["simulate", "--seed", "3", "--quiet"]
    for o in SMALL:
        args += ["--set", o]
    out_json, out_png = tmp_path / "r.json", tmp_path / "c.png"
    result = CliRunner().invoke(main, [*args, "--json", str(out_json), "--plot", str(out_png)])
    assert result.exit_code == 0, result.output
    assert "printed" in result.output
    assert "BLANK SHORTFALL" in result.output
    assert json.loads(out_json.read_text())["seed"] == 3
    assert out_png.exists()
    # The summary's lines are lines; a line break in a scenario's name stays escaped.
    named = CliRunner().invoke(main, [*args, "--no-plot", "--set", 'campaign.name="Kota\\nPalsu"'])
    assert named.exit_code == 0, named.output
    lines = named.output.splitlines()
    assert lines[0].startswith("Kota\\nPalsu: ")
    assert any(line.startswith("  printed ") for line in lines)
    assert any(line.startswith("  run: ") for line in lines)
    shown = CliRunner().invoke(main, ["simulate", "--show-scenario"])
    assert "[campaign]" in shown.output
    wrong = CliRunner().invoke(main, ["simulate", "--set", "printers.colour=3"])
    assert wrong.exit_code != 0
    assert "unknown setting" in wrong.output


def test_the_cli_plans_from_csv_and_toml(tmp_path: Path) -> None:
    records = tmp_path / "records.csv"
    lines = ["nik,kecamatan,kelurahan,priority,ready"]
    lines += [f"{3271010101900000 + i},Bogor Barat,Kel {i % 3},{i % 2}," for i in range(1, 400)]
    lines.append("3271010101909999,Bogor Barat,Kel 1,0,unknown")
    records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    printers = tmp_path / "printers.toml"
    printers.write_text(
        'blanks = 350\nclick_limit = 100\n[[printers]]\nid = "A"\ncards_per_hour = 120\n'
        '[[printers]]\nid = "B"\ncards_per_hour = 100\nribbon_remaining = 20\n',
        encoding="utf-8",
    )
    out_json, out_csv = tmp_path / "plan.json", tmp_path / "plan.csv"
    result = CliRunner().invoke(
        main,
        [
            "plan",
            str(records),
            str(printers),
            "--start",
            "2017-11-13T08:00",
            "--json",
            str(out_json),
            "--csv",
            str(out_csv),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "350 cards" in result.output
    assert "NO_BLANK" in result.output
    assert "NOT_READY" in result.output
    doc = json.loads(out_json.read_text())
    assert all(len(b["records"]) <= 100 for b in doc["batch_list"])
    assert len(out_csv.read_text().splitlines()) == 401
    bad = tmp_path / "bad.toml"
    bad.write_text('[[printers]]\nid = "A"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", str(records), str(bad), "--blanks", "5"])
    assert result.exit_code != 0
    assert "needs id and cards_per_hour" in result.output
