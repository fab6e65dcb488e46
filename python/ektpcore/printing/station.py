"""The print station: a planned batch from the ledger, through a printer, back into the
ledger, one card at a time.

The station knows a printer only through its :class:`~ektpcore.printing.Dialect`: the
handshake, each card's bytes with the replies they draw, the chip phase, the reject, the
status query and what every reply means (:class:`~ektpcore.printing.PrinterStatus`). It holds
no printer-language bytes of its own.

For each card of a ``QUEUED`` batch, in kecamatan and kelurahan order, the station asks the
printer's status (busy or held by another client: it waits; a fault the operator must clear:
it pauses with a message, or stops), writes the card to its **journal** (in the ledger, with
the blank it goes on) *before* the bytes leave, sends it, and records the outcome in one
transaction with the journal row's removal. The next cards' faces are rendered and encoded on
another thread (the encoder uses every core) while the printer prints the current one.

- confirmed by the printer (every reply ready; for a printer that answers nothing while it
  prints, its card counter up by one): ``PRINTED`` with its blank serial;
- a jam or mechanical fault: the blank ``SPOILED``, the record back to ``PRINT_READY``, the
  batch stops (clear the printer and run it again);
- refused before printing (ribbon, cover, feeder, another refusal): nothing printed, the
  record stays ``QUEUED`` with its blank; the station pauses for the operator and sends the
  card again once the printer is ready, or stops with the reason;
- a lost connection, no answer, or a card the printer does not confirm: ``IN_DOUBT``; the
  card is never sent again by the station.

With a :class:`ChipEncoding` every card is a two-phase job: the card goes to the chip
station first, its chip is personalised and read back, and then either the card is printed
(``PRINTED`` with its blank serial and chip serial) or, when the chip fails, it is ejected to
the reject tray (its blank ``SPOILED``, the record back to ``PRINT_READY``) and the batch goes
on with the next card. Every chip attempt is in the ledger's chip log.

Killed at any point, the station loses nothing: on the next start :meth:`PrintStation.recover`
turns every journal row still marked *sent* into ``IN_DOUBT`` (the blank stays allocated to
the batch, so its whereabouts are known), and the batch continues with the cards still
``QUEUED``. A supervisor settles in-doubt cards with :meth:`PrintStation.resolve` (printed
or not, after looking at the printer's output tray).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import (
    AuthenticationError,
    EktpcoreError,
    InvalidArgumentError,
    LeaseLostError,
    LedgerBusyError,
    LedgerConnectionError,
    LedgerError,
    PermissionDeniedError,
    StationError,
)
from ..ledger.claims import DEFAULT_LEASE, Claim
from ..lifecycle import Actor, Permission, State, permits
from ..nik import mask_nik
from .dialects import (
    CardFaces,
    ChipStation,
    Condition,
    Dialect,
    EvolisDialect,
    Exchange,
    PrinterStatus,
)
from .transports import PrinterConnectionError, Transport

if TYPE_CHECKING:
    from ..chip import ChipData, ChipResult, ChipTransport, Personaliser
    from ..ledger import Ledger, Record, Transaction

__all__ = ["BatchReport", "ChipEncoding", "PrintStation", "StationError"]


@dataclass
class ChipEncoding:
    """How a station personalises the chips of its cards.

    Attributes:
        personaliser: the profile and key provider (:class:`~ektpcore.chip.Personaliser`).
        reader: opens the encoder's reader (a PC/SC reader, or ``VirtualPrinter.encoder``).
        data: a record's chip data (:func:`~ektpcore.chip.chip_data_from_record` or the
            office's own source, which holds the fingerprints).
        station: the printer's contact or contactless chip station.
    """

    personaliser: Personaliser
    reader: Callable[[], ChipTransport]
    data: Callable[[Record], ChipData]
    station: ChipStation = "contactless"

    def prepare(self, record: Record) -> ChipData:
        """The record's chip data, checked against the profile before any card moves: its
        files are encoded and their (plain) script built, so a photo that is not a JPEG or a
        file too big for the profile stops the run before a blank is used."""
        data = self.data(record)
        self.personaliser.scripts([data])
        return data

    def personalise(self, data: ChipData) -> ChipResult:
        """Writes ``data`` onto the chip at the encoder; a reader that cannot be opened is a
        failed chip like any other."""
        from ..chip import ChipResult
        from ..errors import ChipConnectionError

        try:
            transport = self.reader()
        except ChipConnectionError as err:
            return ChipResult(None, False, str(err))
        try:
            return self.personaliser.personalise(transport, data)
        finally:
            close = getattr(transport, "close", None)
            if close is not None:
                close()


@dataclass
class BatchReport:
    """What a run of a batch did."""

    batch: str
    printed: list[int] = field(default_factory=list)  # NIKs
    spoiled: list[int] = field(default_factory=list)
    in_doubt: list[int] = field(default_factory=list)
    chip_failed: list[int] = field(default_factory=list)  # NIKs whose chip failed (spoiled)
    left: int = 0  # cards still QUEUED when the run stopped
    stopped: str | None = None  # why the run stopped early, if it did
    recovered: list[int] = field(default_factory=list)  # earlier cards put in doubt at start
    warnings: list[str] = field(default_factory=list)  # what the printer warned of (ribbon low)
    paused: list[str] = field(default_factory=list)  # why the run paused for the operator
    unreachable: bool = False  # the printer could not be reached: no card moved

    def __repr__(self) -> str:
        return (
            f"BatchReport({self.batch!r}, printed={len(self.printed)}, "
            f"spoiled={len(self.spoiled)}, chip_failed={len(self.chip_failed)}, "
            f"in_doubt={len(self.in_doubt)}, left={self.left}, "
            f"stopped={self.stopped!r})"
        )


class PrintStation:
    """One printer's station.

    Args:
        ledger: where batches come from and outcomes go.
        printer: the printer's id, as the plan and the ledger name it.
        connect: opens a transport to the printer (called once per run).
        faces: the faces of a record's card (render them with :func:`render`).
        actor: who runs the station (an operator).
        dialect: the printer's dialect (Evolis by default): all the station knows of the
            printer's language.
        progress: called with (cards done, cards in the batch) after each card.
        reply_timeout: how long a reply may take (a card's includes its print time).
        chip: personalises each card's chip before it is printed (two-phase jobs).
        station: the station's name in batch claims (default ``"<printer>@<host>"``).
        lease: how long a claim lasts between heartbeats (renewed a third of the way in).
        take_over: take over a batch whose claim lapsed (its station died); a claim still
            live is never taken.
        wait: how long to wait for a printer that is busy, printing or held by another
            client before the run stops.
        pause: called with the operator's message when the printer needs them (cover open,
            ribbon out, feeder empty, reject tray full ...).
        pause_timeout: how long a pause waits for the printer to be ready again before the
            run stops (0: stop at once).
        poll: seconds between status queries while waiting or paused.
        prefetch: cards rendered and encoded ahead, on another thread, while the printer
            prints (0: each card is made when its turn comes).
        window: cards written to the journal together, ahead of the printer, in the same
            transaction as the outcomes of the cards before them: the most cards a crash or
            a lost claim can leave in doubt. 1 (the default) is one transaction per card;
            a larger window makes fewer transactions for fast printers and busy servers.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        printer: str,
        connect: Callable[[], Transport],
        faces: Callable[[Record], CardFaces],
        actor: Actor,
        dialect: Dialect | None = None,
        progress: Callable[[int, int], None] | None = None,
        reply_timeout: float = 60.0,
        chip: ChipEncoding | None = None,
        station: str | None = None,
        lease: _dt.timedelta = DEFAULT_LEASE,
        take_over: bool = False,
        wait: float = 60.0,
        pause: Callable[[str], None] | None = None,
        pause_timeout: float = 0.0,
        poll: float = 0.5,
        prefetch: int = 2,
        window: int = 1,
    ) -> None:
        if min(wait, pause_timeout) < 0 or poll <= 0 or prefetch < 0 or window < 1:
            raise InvalidArgumentError(
                "wait and pause_timeout must be >= 0, poll > 0, prefetch >= 0 and window >= 1"
            )
        self.wait, self.pause, self.pause_timeout = wait, pause, pause_timeout
        self.poll, self.prefetch, self.window = poll, prefetch, window
        self.chip = chip
        self.station = station or f"{printer}@{socket.gethostname()}"
        self.lease = lease
        self.take_over = take_over
        self._claim: Claim | None = None
        self._keep_claim = False
        self.ledger = ledger
        self.printer = printer
        self.connect = connect
        self.faces = faces
        self.actor = actor
        self.dialect: Dialect = dialect or EvolisDialect()
        self.progress = progress
        self.reply_timeout = reply_timeout
        self._stop_reason: str | None = None
        self._current: BatchReport | None = None

    def __repr__(self) -> str:
        return f"PrintStation(printer={self.printer!r})"

    @property
    def current(self) -> BatchReport | None:
        """The report of the run in progress, as far as it got (the cards printed, spoiled
        and put in doubt so far), or of the last run once it ended: what a progress callback
        reads to show more than a count, without asking the ledger after every card."""
        return self._current

    def request_stop(self, reason: str) -> None:
        """Asks a run in progress (from another thread: a console's stop button) to stop
        before its next card: the card in the printer is finished and recorded, the cards
        not yet sent stay ``QUEUED`` with their blanks, and the report's ``stopped`` is
        ``reason``. A later :meth:`run` prints the rest."""
        self._stop_reason = reason

    # -- after a crash -------------------------------------------------------------------

    def recover(self) -> list[int]:
        """Cards this printer was sent whose outcome was never recorded become
        ``IN_DOUBT``; returns their NIKs."""
        if not self.ledger.journal.sent(self.printer):
            return []
        with self.ledger.transaction(self.actor) as tx:
            return tx.journal.recover(
                printer=self.printer,
                reason="the station stopped after sending the card; outcome unknown",
            )

    def in_doubt(self) -> list[tuple[int, str, int]]:
        """In-doubt cards of this printer: (NIK, batch, blank serial)."""
        return self.ledger.journal.in_doubt(self.printer)

    def resolve(self, nik: int, *, printed: bool, supervisor: Actor, note: str) -> None:
        """Settles an in-doubt card: ``printed`` (found in the output tray) binds its blank
        and makes it ``PRINTED``; otherwise the blank is spoiled (it went through the
        printer) and the record goes back to ``PRINT_READY`` (see :meth:`Ledger.settle`)."""
        if not permits(supervisor.role, Permission.SETTLE):
            raise InvalidArgumentError("in-doubt cards are settled by a supervisor")
        if not any(row[0] == int(nik) for row in self.in_doubt()):
            raise InvalidArgumentError(f"{mask_nik(int(nik))} is not in doubt at {self.printer}")
        self.ledger.settle(nik, supervisor, printed=printed, note=note)

    # -- running a batch -----------------------------------------------------------------

    def run(self, batch: str) -> BatchReport:
        """Prints what is left of ``batch`` (its ``QUEUED`` records); see the module
        documentation for what each outcome records. The station claims the batch first
        (:class:`~ektpcore.BatchClaimedError` if another station holds it), renews the claim
        while it prints, and gives it back when the run ends."""
        if not isinstance(self.actor, Actor) or not permits(self.actor.role, Permission.PRINT):
            raise PermissionDeniedError(
                f"{getattr(self.actor, 'name', self.actor)!s} may not run a print station;"
                " it needs an operator"
            )
        try:
            recovered = self.recover()
        except PermissionDeniedError:
            # An unattended station's token recovers only under a claim it holds: cards of
            # other batches left sent stay for a person to recover; this batch's are
            # recovered when it is claimed.
            recovered = []
        if not self.ledger.queued(batch, self.printer):
            self._nothing_to_print(batch)
            return BatchReport(batch, recovered=recovered)
        claim = self.ledger.claims.claim(
            batch, self.station, self.actor, lease=self.lease, take_over=self.take_over
        )
        self._claim = claim
        heartbeat = _Heartbeat(self.ledger, claim, self.actor, self.lease)
        self._keep_claim = False
        try:
            report = self._run(batch, heartbeat)
            # With the cards an earlier holder left sent, put in doubt by the claim (a
            # station taking over a dead one's batch).
            report.recovered = recovered + list(claim.in_doubt)
            return report
        finally:
            self._stop_reason = None  # a stop asked for holds for one run
            heartbeat.stop()
            # A claim that cannot be given back lapses by itself; the report stands.
            if not self._keep_claim:
                with contextlib.suppress(LeaseLostError, LedgerBusyError, LedgerConnectionError):
                    self.ledger.claims.give_back(claim, self.actor)
            self._claim = None

    def _nothing_to_print(self, batch: str) -> None:
        """A batch with no card left for this printer: finished, unknown, or another's."""
        queued = self.ledger.batch_printers(batch)
        if queued:
            where = ", ".join(f"{n} at {p}" for p, n in sorted(queued.items()))
            raise StationError(
                f"batch {batch} has no card queued for printer {self.printer} ({where})"
            )
        if not self.ledger.batch(batch):
            raise StationError(f"no batch {batch} in the ledger")

    def _run(self, batch: str, heartbeat: _Heartbeat) -> BatchReport:
        report = self._current = BatchReport(batch)
        records = self.ledger.queued(batch, self.printer)
        if not records:
            return report
        blanks = self.ledger.journal.free_blanks(batch)
        if len(blanks) < len(records):
            raise StationError(
                f"batch {batch}: {len(records)} cards queued but {len(blanks)} blanks allocated"
            )
        # The lowest serials, as the stack is loaded; any more allocated to the batch stay
        # allocated (another printer's share, or strays that reconcile() names).
        blanks = blanks[: len(records)]
        with _Ahead(self.dialect, self.faces, records, self.prefetch) as ahead:
            ahead.after(-1)  # the first cards are made while the printer is reached
            return self._print(batch, heartbeat, records, blanks, ahead, report)

    def _print(
        self,
        batch: str,
        heartbeat: _Heartbeat,
        records: list[Record],
        blanks: list[int],
        ahead: _Ahead,
        report: BatchReport,
    ) -> BatchReport:
        total = len(records)
        try:
            transport = self.connect()
        except PrinterConnectionError as err:
            report.left, report.stopped, report.unreachable = total, str(err), True
            return report
        with transport:
            try:
                handshake = self.dialect.handshake()
                refused = self._refusal(self._exchange(transport, handshake))
                if refused is not None:
                    raise StationError(f"the printer answered {refused.reply!r} to the handshake")
            except (PrinterConnectionError, StationError) as err:
                report.left, report.stopped = total, str(err)
                return report
            window = _Window(batch, [(int(r.nik), s) for r, s in zip(records, blanks, strict=True)])
            try:
                self._cards(transport, heartbeat, records, window, ahead, report)
            finally:
                # Whatever stopped the run, the cards it printed are recorded and those it
                # journalled but never sent leave the journal (in doubt if even that fails).
                why = self._advance(window, report, closing=True)
                if why is not None and report.stopped is None:
                    report.stopped = why
            end = self.dialect.job_end()
            if report.stopped is None and end:
                # The padding is a courtesy: every card is already settled.
                with contextlib.suppress(PrinterConnectionError):
                    transport.write(end)
        report.left = self._left(batch, records, report)
        return report

    def _left(self, batch: str, records: list[Record], report: BatchReport) -> int:
        """The batch's cards for this printer still to print: ``QUEUED`` in the ledger, less
        those this run left in the journal in doubt (still ``QUEUED`` until the claim goes).
        From the run's own records when the ledger cannot answer."""
        doubt = set(report.in_doubt)
        try:
            queued = [int(r.nik) for r in self.ledger.queued(batch, self.printer)]
        except LedgerError:
            done = doubt | set(report.printed) | set(report.spoiled)
            queued = [int(r.nik) for r in records if int(r.nik) not in done]
        return sum(1 for nik in queued if nik not in doubt)

    def _cards(
        self,
        transport: Transport,
        heartbeat: _Heartbeat,
        records: list[Record],
        window: _Window,
        ahead: _Ahead,
        report: BatchReport,
    ) -> None:
        """The run's card loop; ``window.done`` counts the cards it is through with."""
        total, retried = len(records), 0
        while window.done < total:
            done = window.done
            lost = heartbeat.beat()
            if lost is not None or self._stop_reason is not None:
                report.stopped = lost or self._stop_reason
                return
            try:
                why, status = self._ready(transport, report)
            except PrinterConnectionError as err:
                why = f"connection lost: {err}"
            if why is None and done >= window.upto:
                why = self._advance(window, report)
            if why is not None:
                report.stopped = why
                return
            record = records[done]
            try:
                card = ahead.card(done)
                outcome = self._one(
                    transport,
                    window,
                    record,
                    (card, functools.partial(ahead.after, done)),
                    report,
                    status,
                )
            except (LeaseLostError, LedgerBusyError, LedgerConnectionError) as err:
                # The card went to the printer but its outcome could not be recorded (the
                # claim was lost, the ledger stayed locked or its server was lost): it stays
                # in the journal, and becomes IN_DOUBT at the next run, claim or release of
                # the batch.
                report.in_doubt.append(int(record.nik))
                outcome = _unrecorded(err, 1)
            except EktpcoreError as err:
                # Any other refusal of the outcome: the card may be out, so it is put in
                # doubt under the claim (with every card of the window) before the claim
                # goes.
                if window.flying <= window.done:
                    raise  # nothing was sent: the refusal is the run's
                window.done += 1
                self._in_doubt_now(window, err, report, [int(record.nik)])
                report.stopped = f"{err}; the card was left in doubt for a supervisor"
                return
            if isinstance(outcome, PrinterStatus):
                # Refused before printing: the operator clears the cause, the card goes
                # again (once: a printer that refuses it again stops the run, the card
                # still QUEUED and never sent).
                why = f"again: {outcome}" if retried else self._paused(transport, outcome, report)
                if why is None:
                    retried += 1
                    continue
                report.stopped = f"the printer refused the card: {why}"
                return
            retried = 0
            window.done += 1
            if outcome is None and window.upto <= window.done:
                # The window is through: its outcomes are recorded now, with the next
                # window's journal rows (none after the batch's last card), so the report
                # (and a console reading it) counts a card only once the ledger holds it.
                outcome = self._advance(window, report, closing=window.done == total)
            if self.progress is not None:
                self.progress(window.done, total)
            if outcome is not None:
                report.stopped = outcome
                return

    def _advance(
        self, window: _Window, report: BatchReport, *, closing: bool = False
    ) -> str | None:
        """One transaction: the outcomes of the cards printed since the last one, and the
        next cards (up to ``window``, as far as the ribbon lasts) written to the journal
        before they leave; ``closing``, the cards journalled but never sent leave the
        journal instead. Returns why the run stops, or ``None``."""
        printed, unsent = window.printed, window.unsent()
        ahead: list[tuple[int, int]] = []
        stop = None
        try:
            if not closing:
                ribbon = self.ledger.ribbons.current(self.printer)
                left = 0 if ribbon is None else ribbon.remaining - len(printed)
                ahead = window.cards[window.done : window.done + min(self.window, left)]
                if not ahead:
                    state = (
                        "has no ribbon installed" if ribbon is None else "has used up its ribbon"
                    )
                    stop = (
                        f"printer {self.printer} {state}: record the ribbon change and run"
                        " the batch again (the card was not sent)"
                    )
            if not (printed or unsent or ahead):
                return stop
            with self._fenced(self.actor) as tx:
                # The journal first: the outcomes lock the ledger's chain heads, which
                # stations beside each other take in turn, until the commit.
                tx.journal.forget([nik for nik, _, _ in printed] + unsent)
                tx.journal.sent_all(ahead, window.batch, self.printer)
                self._record_printed(tx, window.batch, printed)
        except (LeaseLostError, LedgerBusyError, LedgerConnectionError) as err:
            # The cards stay in the journal and become IN_DOUBT at the next run, claim or
            # release of the batch: whoever takes the batch over finds them there.
            report.in_doubt.extend([nik for nik, _, _ in printed] + unsent)
            window.printed, window.upto = [], window.done
            return _unrecorded(err, len(printed), len(unsent))
        except EktpcoreError as err:
            if not (printed or unsent):
                raise  # nothing in the journal: the refusal is the run's
            self._in_doubt_now(window, err, report)
            return f"{err}; the cards in the journal were left in doubt for a supervisor"
        report.printed.extend(nik for nik, _, _ in printed)
        window.printed, window.upto = [], window.done + len(ahead)
        return stop

    def _record_printed(
        self, tx: Transaction, batch: str, printed: list[tuple[int, int, str | None]]
    ) -> None:
        """``PRINTED`` with their blanks (and chip serials), cards of one reason together."""
        by_reason: dict[str | None, list[tuple[int, int, str | None]]] = {}
        for card in printed:
            by_reason.setdefault(
                None if card[2] is None else f"chip {card[2]} written and verified", []
            ).append(card)
        for reason, cards in by_reason.items():
            tx.transition(
                [nik for nik, _, _ in cards],
                State.PRINTED,
                reason=reason,
                batch=batch,
                printer=self.printer,
                blanks=[serial for _, serial, _ in cards],
            )
        for nik, serial, chip in printed:
            if chip is not None:
                tx.journal.log_chip(nik, serial, self.printer, chip, written=True, reason=None)

    def _one(
        self,
        transport: Transport,
        window: _Window,
        record: Record,
        sending: tuple[Exchange, Callable[[], None]],
        report: BatchReport,
        ready: PrinterStatus,
    ) -> str | PrinterStatus | None:
        """Prints one card, journalled with its blank, on a printer whose status was
        ``ready``: its bytes, and what to start once they are sent (the next cards, made while
        the printer prints). Returns why the batch stops, ``None`` to go on, or the printer's
        status when it refused the card before printing it (nothing happened to it)."""
        card, sent = sending
        nik, serial = window.cards[window.done]
        batch = window.batch
        # The chip's data is gathered before the card moves: a record whose data cannot be
        # written stops the run here, before a blank is used.
        chip_data = self.chip.prepare(record) if self.chip is not None else None
        chip: str | None = None  # the chip serial once the chip is written
        window.flying = window.done + 1
        try:
            counted = None if card.replies else ready.cards
            if chip_data is not None:
                chip, stop = self._chip_phase(transport, batch, nik, chip_data, serial, report)
                if chip is None:
                    return stop
            transport.write(card)
            sent()
            refused = self._refusal(self._exchange(transport, Exchange(b"", card.replies)))
            unconfirmed = None
            if refused is None and not card.replies:
                unconfirmed = self._confirmed(transport, counted)
        except PrinterConnectionError as err:
            self._doubt(batch, nik, f"no answer from the printer after sending: {err}", report)
            return f"connection lost: {err}"
        if unconfirmed is not None:
            self._doubt(batch, nik, unconfirmed, report)
            return f"{unconfirmed}; the card was left in doubt for a supervisor"
        if refused is None:
            # Recorded with the next cards' journal rows (see ``window``), and in the report
            # once recorded.
            window.printed.append((nik, serial, chip))
            return None
        jam = refused.condition.action == "stop"
        if jam or chip is not None:
            # A jam spoils the card; so does any refusal once its chip holds someone's data
            # (the card is ejected: a written chip never goes to another record).
            why = (
                f"{refused.condition.advice}: the card was spoiled"
                if jam
                else f"the printer refused the card after its chip was written ({refused.reply})"
            )
            if not jam:
                with contextlib.suppress(PrinterConnectionError):
                    self._exchange(transport, self.dialect.reject())
            self._settle(
                [nik],
                State.PRINT_READY,
                self.actor,
                batch,
                why,
                spoil=[serial],
                chip=None if chip is None else (serial, chip, False, why),
            )
            report.spoiled.append(nik)
            # The spoiled card's record left the batch (print-ready again): it goes into the
            # next plan, not into this batch's next run.
            again = "its record is print-ready again for the next plan"
            if refused.condition is Condition.JAM:
                return (
                    f"the printer jammed ({refused.reply}): clear it and run the batch again;"
                    f" the jammed card was spoiled and {again}"
                )
            if jam:
                return f"{refused}: clear the printer and run the batch again; {again}"
            return why
        # Refused before printing (ribbon, cover, a bad command): nothing happened to the
        # card; it stays in the journal for the next try, or leaves it when the run stops.
        window.flying = window.done
        return refused

    def _doubt(self, batch: str, nik: int, reason: str, report: BatchReport) -> None:
        self._settle([nik], State.IN_DOUBT, self.actor, batch, reason, keep_journal=True)
        report.in_doubt.append(nik)

    # -- talking to the printer, through its dialect ------------------------------------

    def _exchange(self, transport: Transport, exchange: Exchange) -> list[str]:
        """Sends ``exchange`` and reads the replies it draws."""
        if exchange:
            transport.write(exchange)
        end = self.dialect.reply_end
        return [transport.read_reply(self.reply_timeout, end) for _ in range(exchange.replies)]

    def _refusal(self, replies: Sequence[str]) -> PrinterStatus | None:
        """The first reply that is not the printer going on, if any."""
        for reply in replies:
            status = self.dialect.status(reply)
            if not status.ok:
                return status
        return None

    def _status(self, transport: Transport) -> PrinterStatus:
        replies = self._exchange(transport, self.dialect.status_query())
        statuses = [self.dialect.status(r) for r in replies]
        worst = next((st for st in statuses if not st.ok), None)
        return worst or (statuses[-1] if statuses else PrinterStatus(Condition.READY, ""))

    def _ready(self, transport: Transport, report: BatchReport) -> tuple[str | None, PrinterStatus]:
        """Before a card: waits while the printer is busy or held, pauses for the operator
        while it needs them; ``(why the run stops, status)``, ``why`` ``None`` to print."""
        until = time.monotonic() + self.wait
        status = self._status(transport)
        while True:
            action = status.condition.action
            if action == "go":
                if status.condition is Condition.RIBBON_LOW and str(status) not in report.warnings:
                    report.warnings.append(str(status))
                return None, status
            if action == "wait":
                if time.monotonic() >= until:
                    return f"{status}; waited {self.wait:g} s", status
                time.sleep(self.poll)
            else:
                why = self._paused(transport, status, report)
                if why is not None:
                    return why, status
            status = self._status(transport)

    def _paused(
        self, transport: Transport, status: PrinterStatus, report: BatchReport
    ) -> str | None:
        """Tells the operator and waits (up to ``pause_timeout``) for the printer to be
        ready, sending the handshake again (which clears an error whose cause is gone);
        ``None`` once it is, or why the run stops."""
        message = str(status)
        if status.condition.action == "stop":
            return f"{message}: clear the printer and run the batch again"
        if self.pause_timeout <= 0:
            return message
        report.paused.append(message)
        if self.pause is not None:
            self.pause(message)
        until = time.monotonic() + self.pause_timeout
        while time.monotonic() < until:
            time.sleep(self.poll)
            self._exchange(transport, self.dialect.handshake())
            now = self._status(transport)
            if now.condition.action in ("go", "wait"):
                return None
        return f"{message}; not cleared within {self.pause_timeout:g} s"

    def _confirmed(self, transport: Transport, before: int | None) -> str | None:
        """For a card the printer answers nothing for: waits (up to ``reply_timeout``) for
        its card counter to go up by one; ``None`` once it did, or why the card is in doubt."""
        if before is None:
            return "the printer does not say whether the card printed"
        until = time.monotonic() + self.reply_timeout
        while True:
            status = self._status(transport)
            if status.cards == before + 1:
                return None
            if status.cards is not None and status.cards > before + 1:
                return f"the printer counted {status.cards - before} cards for one"
            if status.condition.action in ("pause", "stop"):
                return f"the printer did not confirm the card: {status}"
            if time.monotonic() >= until:
                return "the printer did not confirm the card within the reply timeout"
            time.sleep(min(self.poll, 0.05))

    def _chip_phase(
        self,
        transport: Transport,
        batch: str,
        nik: int,
        data: ChipData,
        serial: int,
        report: BatchReport,
    ) -> tuple[str | None, str | None]:
        """Moves the card to the chip station and personalises it: ``(chip serial, None)``
        to go on and print it; ``(None, None)`` when the chip failed (the card was ejected to
        the reject tray and spoiled; the batch goes on); ``(None, why)`` when the batch
        stops."""
        assert self.chip is not None
        refused = self._refusal(
            self._exchange(transport, self.dialect.chip_phase(self.chip.station))
        )
        if refused is not None:
            with self._fenced(self.actor) as tx:
                tx.journal.forget([nik])
            return None, f"the printer refused the chip station ({refused.reply})"
        result = self.chip.personalise(data)
        if result.ok:
            return result.uid or "unknown", None
        self._exchange(transport, self.dialect.reject())
        reason = f"chip {result.uid or 'not answering'}: {result.reason}"
        self._settle(
            [nik],
            State.PRINT_READY,
            self.actor,
            batch,
            reason,
            spoil=[serial],
            chip=(serial, result.uid, False, result.reason),
        )
        report.spoiled.append(nik)
        report.chip_failed.append(nik)
        return None, None

    def _settle(
        self,
        niks: list[int],
        target: State,
        actor: Actor,
        batch: str,
        reason: str | None,
        *,
        blanks: list[int] | None = None,
        spoil: list[int] | None = None,
        keep_journal: bool = False,
        chip: tuple[int, str | None, bool, str | None] | None = None,
    ) -> None:
        """The outcome, the chip attempt (blank serial, chip serial, written, why not) and
        the journal's update in one transaction."""
        with self._fenced(actor) as tx:
            tx.transition(
                niks, target, reason=reason, batch=batch, printer=self.printer, blanks=blanks
            )
            self._after_outcome(tx, niks, reason, spoil, keep_journal, chip)

    def _in_doubt_now(
        self, window: _Window, err: Exception, report: BatchReport, flight: Sequence[int] = ()
    ) -> None:
        """Turns every card in the journal (``flight``, the card whose outcome was refused;
        the cards printed since the last transaction; those journalled ahead) into
        ``IN_DOUBT`` at once; if even that cannot be recorded, the claim is kept (it lapses,
        and whoever takes the batch over finds the cards in the journal) rather than given
        back over cards nobody accounts for."""
        try:
            with self._fenced(self.actor) as tx:
                niks = tx.journal.recover(
                    batch=window.batch, reason=f"its outcome could not be recorded: {err}"
                )
        except EktpcoreError:
            self._keep_claim = True
            niks = list(flight) + [nik for nik, _, _ in window.printed] + window.unsent()
        report.in_doubt.extend(dict.fromkeys(niks))
        window.printed, window.upto = [], window.done

    @contextlib.contextmanager
    def _fenced(self, actor: Actor) -> Iterator[Transaction]:
        """A transaction under the station's claim: refused (LeaseLostError) once the claim
        lapsed or was taken over, so a fenced station records nothing."""
        if self._claim is None:
            with self.ledger.transaction(actor) as tx:
                yield tx
            return
        with self.ledger.claims.under(self._claim, actor) as tx:
            yield tx

    def _after_outcome(
        self,
        tx: Transaction,
        niks: list[int],
        reason: str | None,
        spoil: list[int] | None,
        keep_journal: bool,
        chip: tuple[int, str | None, bool, str | None] | None,
    ) -> None:
        if chip is not None:
            blank, chip_serial, written, why = chip
            tx.journal.log_chip(
                niks[0], blank, self.printer, chip_serial, written=written, reason=why
            )
        if spoil:
            tx.blanks.spoil(spoil, reason=reason)
        if keep_journal:
            tx.journal.mark_in_doubt(niks)
        else:
            tx.journal.forget(niks)


@dataclass
class _Window:
    """A run's cards, ``(NIK, blank serial)`` in printing order, and how far it got: through
    ``done`` of them, ``upto`` journalled; ``printed`` are cards out of the printer whose
    outcome is recorded with the next journal rows ``(NIK, blank serial, chip serial)``;
    the cards before ``flying`` began to leave for the printer (the others journalled are
    known never sent, and leave the journal when the run ends)."""

    batch: str
    cards: list[tuple[int, int]]
    done: int = 0
    upto: int = 0
    flying: int = 0
    printed: list[tuple[int, int, str | None]] = field(default_factory=list)

    def unsent(self) -> list[int]:
        """The cards journalled that never began to leave."""
        return [nik for nik, _ in self.cards[max(self.done, self.flying) : self.upto]]


def _unrecorded(err: LedgerError, sent: int, journalled: int = 0) -> str:
    """Why a run stopped when the ledger would not take its cards' outcomes, and what became
    of them: they stay in the journal, in doubt for a supervisor from the batch's next claim
    or release (the station's own give-back, when the ledger answers again). ``sent``: cards
    that went to the printer; ``journalled``: cards journalled that never left."""
    if not (sent or journalled):
        return f"{err}; no card was sent after it"
    what = [f"{sent} card(s) sent to the printer could not be recorded"] if sent else []
    if journalled:
        what.append(f"{journalled} card(s) journalled were never sent")
    return (
        f"{err}; {' and '.join(what)}: they stay in the journal, in doubt for a supervisor"
        " once the batch's claim is given back, taken over or released; no card was sent"
        " after them"
    )


class _Heartbeat:
    """Renews a station's claim a third of the way into each lease, from its own thread and
    its own connection to the ledger (opened in that thread: an SQLite connection serves the
    thread that made it), so a slow printer reply never lets the lease lapse. It stops only
    when the run has settled its last card. Where no second connection can be made (an
    in-memory ledger), the station renews between cards instead."""

    def __init__(self, ledger: Ledger, claim: Claim, actor: Actor, lease: _dt.timedelta) -> None:
        self._claim, self._actor, self._lease = claim, actor, lease
        self._lost: str | None = None
        self._stop = threading.Event()
        self._ledger = ledger
        self._threaded = ledger.path != ":memory:"
        self._thread: threading.Thread | None = None
        if self._threaded:
            self._thread = threading.Thread(
                target=self._loop, name=f"heartbeat {claim.batch}", daemon=True
            )
            self._thread.start()

    def _renew(self, ledger: Ledger) -> None:
        try:
            self._claim = ledger.claims.renew(self._claim, self._actor, self._lease)
        except (LeaseLostError, AuthenticationError) as err:  # lost, or its user disabled
            self._lost = str(err)
        except LedgerError:
            pass  # busy or briefly unreachable: the next beat tries again

    def _loop(self) -> None:
        try:
            own = self._ledger.reopen()
        except LedgerError:
            own = None
        if own is None:
            self._threaded = False  # the station renews between cards instead
            return
        with own:
            interval = self._lease.total_seconds() / 3
            while self._lost is None and not self._stop.wait(interval):
                self._renew(own)

    def beat(self) -> str | None:
        """Before each card: why the station must stop (its claim is lost), or ``None``."""
        if not self._threaded and self._lost is None:
            self._renew(self._ledger)
        return self._lost

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class _Ahead:
    """The next cards, rendered and encoded on a thread of its own while the printer prints
    the current one: ``prefetch`` cards ahead of the one asked for (the encoder itself uses
    every core, with the GIL released). A card whose faces cannot be made raises when its
    turn comes, as if it were made then. Cards made for a run that stops are dropped."""

    def __init__(
        self,
        dialect: Dialect,
        faces: Callable[[Record], CardFaces],
        records: Sequence[Record],
        prefetch: int,
    ) -> None:
        self._dialect, self._faces, self._records = dialect, faces, records
        self._prefetch = prefetch
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="station-encode")
            if prefetch
            else None
        )
        self._made: dict[int, Future[Exchange]] = {}

    def _make(self, index: int) -> Exchange:
        cards = self._dialect.encode_cards([self._faces(self._records[index])])
        if len(cards) != 1:
            raise StationError(
                f"the {self._dialect.name} dialect encoded one card's faces as {len(cards)}"
            )
        return cards[0]

    def card(self, index: int) -> Exchange:
        """The card of the run's ``index``-th record."""
        if self._pool is None:
            return self._make(index)
        if index not in self._made:  # the first card, or one sent again
            self.after(index - 1)
        return self._made.pop(index).result()

    def after(self, index: int) -> None:
        """The ``index``-th card has left: the next ones are made while it prints (not
        before, so that making them does not slow the sending)."""
        if self._pool is None:
            return
        for ahead in range(index + 1, min(index + 1 + self._prefetch, len(self._records))):
            if ahead not in self._made:
                self._made[ahead] = self._pool.submit(self._make, ahead)

    def __enter__(self) -> _Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
