"""The console's print stations: one :class:`~ektpcore.PrintStation` per printer, each run in a
thread of the server, its progress kept for the pages to show.

"Print next batch" picks the oldest batch with cards still ``QUEUED`` for the printer and runs
it at the printer's configured address, as the signed-in operator (every card in the ledger's
history under that name). After each card the station's progress callback takes the run's
figures from the station's own report (:attr:`~ektpcore.PrintStation.current`: printed,
spoiled, in doubt) with the cards still to go, without a question to the ledger; the page
polls them. *Pause* and *stop* ask the station to stop before its next card
(:meth:`~ektpcore.PrintStation.request_stop`): the card in the printer is finished and
recorded, the rest stay ``QUEUED`` with their blanks. A paused printer keeps its batch, and
*resume* prints the rest of it; a stopped one is free for the next batch.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import EktpcoreError, InvalidArgumentError, StationError
from ..lifecycle import Actor, Permission, State, permits

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..printing import BatchReport, CardFaces, PrintStation, Transport

__all__ = ["RunProgress", "StationRuns"]

RUNNING, STOPPING, PAUSING = "running", "stopping", "pausing"
FINISHED, STOPPED, PAUSED, FAILED = "finished", "stopped", "paused", "failed"
ACTIVE = frozenset({RUNNING, STOPPING, PAUSING})


@dataclass(frozen=True)
class RunProgress:
    """Where one printer's run stands: its batch, who started it, its state (``running``,
    ``pausing``, ``stopping``, then ``finished``, ``paused``, ``stopped`` or ``failed``),
    the batch's cards for this printer when it started (``total``), the cards printed,
    spoiled and put in doubt by this run, those still queued, and the seconds left at the
    pace so far (``None`` before the first card, without a known rate)."""

    printer: str
    batch: str
    operator: str
    state: str
    total: int
    printed: int = 0
    spoiled: int = 0
    in_doubt: int = 0
    remaining: int = 0
    seconds_left: float | None = None
    message: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def done(self) -> int:
        return self.total - self.remaining

    def as_json(self) -> dict[str, Any]:
        return {
            "printer": self.printer,
            "batch": self.batch,
            "operator": self.operator,
            "state": self.state,
            "active": self.active,
            "total": self.total,
            "done": self.done,
            "printed": self.printed,
            "spoiled": self.spoiled,
            "in_doubt": self.in_doubt,
            "remaining": self.remaining,
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left),
            "message": self.message,
        }


def next_batch(ledger: Ledger, printer: str) -> str | None:
    """The oldest batch with cards still ``QUEUED`` for ``printer``."""
    for summary in ledger.batches(holding=[State.QUEUED]):
        waiting = summary.waiting and printer in summary.printers
        if waiting and ledger.batch_printers(summary.name).get(printer):
            return summary.name
    return None


class _Run:
    """One run in its thread: the station, the figures at its start, its progress."""

    def __init__(self, progress: RunProgress, actor: Actor, rate: float | None) -> None:
        self.progress = progress
        self.actor = actor
        self.rate = rate  # cards per hour from the printers' file, for the first estimate
        self.station: PrintStation | None = None
        self.started = time.monotonic()
        self.thread: threading.Thread | None = None
        self.asked: str | None = None  # PAUSED or STOPPED once a stop is asked for


class StationRuns:
    """The runs of one console. ``open_ledger`` opens a connection of the run's own (a
    station's writes never wait behind a page's reads); ``addresses`` maps each printer to
    the ``host:port`` its station connects to; ``faces`` draws a record's card;
    ``connect`` opens a transport to an address (TCP port 9100 by default)."""

    def __init__(
        self,
        open_ledger: Callable[[], Ledger],
        addresses: dict[str, str],
        *,
        faces: Callable[[Any], CardFaces],
        rates: dict[str, float] | None = None,
        connect: Callable[[str], Transport] | None = None,
        on_finish: Callable[[Actor], None] | None = None,
    ) -> None:
        self._open = open_ledger
        self.addresses = dict(addresses)
        self.rates = dict(rates or {})
        self._faces = faces
        self._connect = connect or _tcp
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._on_finish = on_finish

    # -- what the pages read ---------------------------------------------------------------

    def progress(self, printer: str) -> RunProgress | None:
        with self._lock:
            run = self._runs.get(printer)
            return None if run is None else run.progress

    def all(self) -> dict[str, RunProgress]:
        with self._lock:
            return {p: r.progress for p, r in self._runs.items()}

    def busy(self, actor: Actor) -> bool:
        """Whether a run under ``actor``'s sign-in is still going."""
        with self._lock:
            return any(
                r.progress.active and r.actor.credential == actor.credential
                for r in self._runs.values()
            )

    # -- what the buttons do ---------------------------------------------------------------

    def start(self, ledger: Ledger, actor: Actor, printer: str) -> RunProgress:
        """Starts the next batch at ``printer`` (or, for a paused printer, the rest of its
        batch); refused with one line when the user may not print, the printer has no
        address, a run is going there, nothing waits for it, or it has no ribbon."""
        if not permits(actor.role, Permission.PRINT):
            raise InvalidArgumentError(f"{actor.name} ({actor.role.name.lower()}) may not print")
        address = self.addresses.get(printer)
        if address is None:
            raise InvalidArgumentError(f"printer {printer} has no address in the console's setup")
        with self._lock:
            current = self._runs.get(printer)
            if current is not None and current.progress.active:
                raise StationError(
                    f"printer {printer} is printing batch {current.progress.batch} already"
                )
        batch = None
        paused = current is not None and current.progress.state == PAUSED
        if (
            paused
            and current is not None
            and ledger.batch_printers(current.progress.batch).get(printer)
        ):
            batch = current.progress.batch
        batch = batch or next_batch(ledger, printer)
        if batch is None:
            raise StationError(f"no batch is waiting for printer {printer}")
        ribbon = ledger.ribbons.current(printer)
        if ribbon is None or ribbon.remaining < 1:
            state = "has no ribbon installed" if ribbon is None else "has used up its ribbon"
            raise StationError(f"printer {printer} {state}: record the new ribbon first")
        total = ledger.batch_printers(batch).get(printer, 0)
        progress = RunProgress(printer, batch, actor.name, RUNNING, total, remaining=total)
        run = _Run(progress, actor, self.rates.get(printer))
        with self._lock:
            current = self._runs.get(printer)
            if current is not None and current.progress.active:
                raise StationError(f"printer {printer} is printing already")
            self._runs[printer] = run
        run.thread = threading.Thread(
            target=self._run, args=(run, address), name=f"console {printer}", daemon=True
        )
        run.thread.start()
        return progress

    def pause(self, actor: Actor, printer: str) -> RunProgress:
        """Stops the run before its next card and keeps its batch for :meth:`start`."""
        return self._ask(actor, printer, PAUSED)

    def stop(self, actor: Actor, printer: str) -> RunProgress:
        """Stops the run before its next card; the printer is free for the next batch."""
        return self._ask(actor, printer, STOPPED)

    def _ask(self, actor: Actor, printer: str, outcome: str) -> RunProgress:
        if not permits(actor.role, Permission.PRINT):
            raise InvalidArgumentError(f"{actor.name} ({actor.role.name.lower()}) may not print")
        with self._lock:
            run = self._runs.get(printer)
            if run is None or not run.progress.active:
                raise StationError(f"printer {printer} is not printing")
            run.asked = outcome
            word = "paused" if outcome == PAUSED else "stopped"
            reason = f"{word} at the console by {actor.name}"
            run.progress = replace(run.progress, state=PAUSING if outcome == PAUSED else STOPPING)
            if run.station is not None:
                run.station.request_stop(reason)
            return run.progress

    def wait(self, printer: str, timeout: float | None = None) -> RunProgress | None:
        """Waits for ``printer``'s run to end (for tests and a clean shutdown)."""
        with self._lock:
            run = self._runs.get(printer)
        if run is not None and run.thread is not None:
            run.thread.join(timeout)
        return self.progress(printer)

    def stop_all(self, timeout: float = 30.0) -> None:
        """Asks every run to stop before its next card and waits for them (server shutdown)."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            if run.station is not None and run.progress.active:
                run.station.request_stop("the console was shut down")
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout)

    # -- the run's thread -------------------------------------------------------------------

    def _update(self, run: _Run, **changes: Any) -> None:
        with self._lock:
            run.progress = replace(run.progress, **changes)

    def _measure(self, run: _Run, done: int) -> None:
        """After each card: the run's figures from the station's own report (no question to
        the ledger, so a card's outcome is on the page at the next poll, whatever the
        ledger's size), and the time left at the pace so far."""
        station = run.station
        report = station.current if station is not None else None
        if report is None:
            return
        remaining = max(run.progress.total - done, 0)
        elapsed = time.monotonic() - run.started
        if done > 0:
            left: float | None = elapsed / done * remaining
        elif run.rate:
            left = remaining * 3_600.0 / run.rate
        else:
            left = None
        self._counted(run, report, remaining, seconds_left=left)

    def _counted(self, run: _Run, report: BatchReport, remaining: int, **more: Any) -> None:
        """The run's figures from ``report``, with the cards still queued."""
        self._update(
            run,
            printed=len(report.printed),
            in_doubt=len(report.in_doubt),
            spoiled=len(report.spoiled),
            remaining=remaining,
            **more,
        )

    def _run(self, run: _Run, address: str) -> None:
        from ..printing import PrintStation

        printer, batch = run.progress.printer, run.progress.batch
        try:
            with contextlib.closing(self._open()) as ledger:
                station = PrintStation(
                    ledger,
                    printer=printer,
                    connect=lambda: self._connect(address),
                    faces=self._faces,
                    actor=run.actor,
                    progress=lambda done, _total: self._measure(run, done),
                    station=f"{printer}@console",
                    lease=_dt.timedelta(seconds=90),
                )
                with self._lock:
                    run.station = station
                    if run.asked is not None:
                        station.request_stop(f"{run.asked} at the console")
                report = station.run(batch)
                left = ledger.batch_printers(batch).get(printer, 0)
            self._counted(run, report, left)
            if report.stopped is None:
                self._update(run, state=FINISHED, message=None, seconds_left=0)
            else:
                state = run.asked or FAILED
                self._update(run, state=state, message=report.stopped, seconds_left=None)
        except EktpcoreError as err:
            self._update(run, state=FAILED, message=str(err), seconds_left=None)
        except Exception as err:  # a failure of the run must never pass silently
            self._update(
                run, state=FAILED, message=f"{type(err).__name__}: {err}", seconds_left=None
            )
        finally:
            if self._on_finish is not None:
                self._on_finish(run.actor)


def _tcp(address: str) -> Transport:
    from ..printing import TcpTransport

    host, _, port = address.rpartition(":")
    return TcpTransport(host, int(port))
