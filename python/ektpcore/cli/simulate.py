"""``ektpcore simulate``: a printing campaign on the real planner and ledger."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import EktpcoreError
from .common import Exit, check_folder, check_output, echo, failure, note, shown, writing
from .nik import regions_option, regions_table

__all__ = ["simulate_command"]


@click.command("simulate")
@click.option(
    "--scenario",
    type=click.Path(path_type=Path),
    help="A TOML scenario (over the default, Kota Bogor 2017); see --show-scenario.",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Random seed.")
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
    type=click.Path(allow_dash=True, path_type=Path),
    help="Write the full report as JSON ('-': standard output, the summary then goes to"
    " standard error).",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    default=Path("ektpcore-campaign.png"),
    show_default=True,
    help="Write the picture of the campaign here (needs matplotlib).",
)
@click.option("--no-plot", is_flag=True, help="Do not draw the picture.")
@click.option(
    "--ledger",
    default=None,
    help="Keep the campaign's ledger in this new file, or an empty PostgreSQL database's URL.",
)
@regions_option("Name kecamatan and kelurahan from this region table (code,name CSV).")
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
    distribution and collection. Prints a summary naming the bottlenecks (blanks, ribbons,
    staff, printers) and draws the campaign. Every output path is checked before the run.
    """
    from ..ledger.store import is_database_url
    from ..simulate import default_scenario_text, load_scenario, plot_report, simulate

    if show_scenario:
        echo(default_scenario_text().rstrip("\n"), lines=True)
        return
    to_stdout = json_out is not None and str(json_out) == "-"
    if json_out is not None and not to_stdout:
        check_output(json_out, "the report")
    if not no_plot:
        check_output(plot, "the picture")
    if ledger is not None and not is_database_url(ledger):
        path = Path(ledger)
        if path.exists():
            raise failure(
                f"{ledger}: exists; the simulation keeps its ledger in a new file", Exit.LEDGER
            )
        check_folder(path.parent, ledger)
    try:
        config = load_scenario(scenario, overrides)
    except OSError as err:
        raise failure(
            f"{scenario}: cannot read the scenario ({err.strerror})", Exit.INPUT
        ) from None
    except UnicodeDecodeError:
        raise failure(f"{scenario}: not a scenario (TOML, UTF-8 text)", Exit.INPUT) from None
    except EktpcoreError as err:
        if scenario is not None and str(err).startswith(f"{scenario}: "):
            raise failure(str(err), Exit.INPUT) from None  # the file is not TOML
        raise click.UsageError(str(err)) from None
    table = regions_table(regions)
    with click.progressbar(length=1000, label="simulating", file=sys.stderr, hidden=quiet) as bar:
        done = [0]

        def progress(fraction: float) -> None:
            step = int(fraction * 1000)
            if step > done[0]:
                bar.update(step - done[0])
                done[0] = step

        try:
            report = simulate(config, seed=seed, ledger=ledger, regions=table, progress=progress)
        except KeyboardInterrupt:
            if ledger is not None:
                note(f"interrupted: {shown(ledger)} holds the campaign up to this point")
            raise
        bar.update(1000 - done[0])
    say = note if to_stdout else echo
    for line in report.summary_lines():
        say(line)
    if ledger is not None:
        say(f"ledger: {shown(ledger)}")
    if json_out is not None:
        with writing(json_out) as out:
            out.write(report.to_json() + "\n")
        if not to_stdout:
            echo(f"report: {json_out}")
    if not no_plot:
        try:
            plot_report(report, plot)
            say(f"picture: {plot}")
        except ImportError as err:
            note(f"no picture: {err}")
        except OSError as err:
            raise failure(f"{plot}: cannot be written ({err.strerror})", Exit.OUTPUT) from None
