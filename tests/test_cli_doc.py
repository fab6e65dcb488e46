"""docs/cli.md's day at the bureau, run from the page: every ``sh`` block of its walk-through,
as written, in a shell, each command a process of its own, against a virtual printer at the
printer's address. The day ends with every card issued, the blanks balanced and the history
verified."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import ektpcore
from ektpcore import FileAnchor, Ledger, State
from ektpcore.keys import KeyFile
from ektpcore.printing import VirtualPrinter

from ._exports import collection_sheet, siak_export

DOC = Path(__file__).parents[1] / "docs" / "cli.md"
PASSWORD = "kata sandi yang panjang"


def walk_through() -> str:
    """The ``sh`` blocks of the walk-through section, in order."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## A day at the bureau", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S)
    assert len(blocks) >= 8
    return "\n".join(blocks)


def test_the_day_in_the_docs_runs_as_written(tmp_path: Path) -> None:
    export = siak_export(tmp_path, name="siak-2017-11-13.csv")
    collection_sheet(export, tmp_path, "pengambilan-2017-11-13.csv")
    keys = tmp_path / "etc-ektpcore"
    arsip = tmp_path / "arsip"  # the archive server's share
    arsip.mkdir()
    env = dict(os.environ, EKTPCORE_PASSWORD=PASSWORD, EKTPCORE_NEW_PASSWORD=PASSWORD)
    env["PYTHONPATH"] = str(Path(ektpcore.__file__).parent.parent)
    env.pop("EKTPCORE_LEDGER_KEYS", None)
    env.pop("EKTPCORE_ANCHOR", None)
    with VirtualPrinter() as printer:
        script = walk_through().replace("/etc/ektpcore", str(keys))
        script = script.replace("/mnt/arsip", str(arsip))
        script = script.replace("10.0.0.21:9100", "{}:{}".format(*printer.address))
        preamble = (
            f'set -euo pipefail\nektpcore() {{ {shlex.quote(sys.executable)} -m ektpcore "$@"; }}\n'
        )
        done = subprocess.run(
            ["bash", "-c", preamble + script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(printer.cards) == 19  # 18 cards, and one printed again after QC
    shown = done.stdout + done.stderr
    assert "Traceback" not in shown
    assert not any(str(nik) in shown for nik in export.niks)
    assert "18 records added as PRINT_READY; 4 left out" in done.stdout
    assert "balanced: every blank is accounted for" in done.stdout
    anchor = arsip / "bureau.anchor"
    assert f"anchor {anchor}: every checkpoint found in the ledger" in done.stdout
    checkpoints = [*FileAnchor(anchor)]
    assert len(checkpoints) >= 20  # the day's changing commands, each signed
    assert all(c.signature is not None for c in checkpoints)
    with Ledger(tmp_path / "bureau.db", create=False, keys=KeyFile(keys / "bureau.keys")) as led:
        assert led.counts() == {State.ISSUED: 18}
        assert led.verify(anchor=FileAnchor(anchor)).ok
    with Ledger(
        tmp_path / "backup" / "bureau-2017-11-13.db",
        create=False,
        keys=KeyFile(keys / "bureau.keys"),
    ) as copy:
        assert copy.counts() == {State.ISSUED: 18}
