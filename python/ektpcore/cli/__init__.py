"""The ``ektpcore`` command line: programs that call the public API, nothing more.

One module per command group (``nik``, ``dedup``, ``plan``, ``simulate``, ``printer``,
``station`` with ``in-doubt``, ``users``, ``ledger``, ``blanks``, ``ribbon``, ``batch``,
``records`` for ``record``, ``reprint`` and ``qc``, ``distribution`` for ``manifest`` and
``handover``, ``console`` serving :mod:`ektpcore.console`) and :mod:`~ektpcore.cli.common`
for what they share: opening ledgers and their keys, signing in, reading sheets, and every
error as one line with its exit code (:class:`~ektpcore.cli.common.Exit`, docs/cli.md).
"""

from __future__ import annotations

import click

from .batch import batch
from .blanks import blanks
from .common import Exit, Main
from .console import console_command
from .dedup import dedup_command
from .distribution import handover, manifest
from .documents import berita_acara, print_manifest, report
from .ledger import ledger
from .nik import nik
from .plan import plan_command
from .printer import printer
from .records import qc, record, reprint
from .ribbon import ribbon
from .simulate import simulate_command
from .station import in_doubt, station
from .users import users

__all__ = ["Exit", "main"]


@click.group(cls=Main)
@click.version_option(package_name="ektpcore")
def main() -> None:
    """ektpcore: the core of an E-KTP print bureau.

    A day's work: ledger import (a SIAK export), blanks receive, ribbon install, plan
    --commit, station run, in-doubt settle, qc pass, manifest build/dispatch/receive,
    handover; ledger reconcile and verify at the end. The walk-through: docs/cli.md.

    \b
    Exit codes:
       0 done                  8 refused by the ledger
       1 other error           9 nothing to do
       2 usage                10 no such record, batch, ...
       3 bad input file       11 batch queued for another printer
       4 output not writable  12 not enough blanks, or no ribbon
       5 not a ledger, busy   13 done in part (stopped, rows left out)
       6 keys missing/wrong   14 a check failed (verify, reconcile)
       7 sign-in/permission
    """


for command in (
    nik,
    dedup_command,
    plan_command,
    simulate_command,
    printer,
    station,
    in_doubt,
    users,
    ledger,
    blanks,
    ribbon,
    batch,
    record,
    reprint,
    qc,
    manifest,
    handover,
    berita_acara,
    report,
    console_command,
):
    main.add_command(command)
manifest.add_command(print_manifest)
