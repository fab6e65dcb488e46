"""One process of a print floor, for the tests and benchmarks that run stations and desks as
separate processes on one ledger: a print station with its own virtual printer, a desk, or a
timed station for the benchmarks.

Run as ``python _station_worker.py '<json config>'``. Every process appends lines to its own
log file with ``os.write`` on an ``O_APPEND`` descriptor, so a line written is kept even if the
process is killed the next instant:

- a station logs ``start <batch>`` before it runs a batch and ``end <batch> ...`` after the run
  returns, and its printer logs ``print <nik>`` for every card that lands in its output tray,
  the NIK read back from the card itself (decoded from the bytes the printer received), before
  the printer answers ``ACK``;
- a desk logs ``<action> <nik> <outcome>`` for every change it tries.

Every card carries its holder's NIK in its K panel: sixteen digit columns, each a black block
in one of ten rows (:func:`nik_face`, :func:`read_nik`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ektpcore import (
    Actor,
    BatchClaimedError,
    FileAnchor,
    IllegalTransitionError,
    Ledger,
    PermissionDeniedError,
    RecordClaimedError,
    Role,
    State,
)
from ektpcore.printing import (
    CardFaces,
    EvolisDialect,
    PrintStation,
    RasterSettings,
    TcpTransport,
    VirtualPrinter,
)
from ektpcore.printing.dialects import DecodedCard

OPERATOR = Actor("ani", Role.OPERATOR)
SUPERVISOR = Actor("budi", Role.SUPERVISOR)

# One black-only side: the cheapest card to encode and decode, and all a NIK needs.
DIALECT = EvolisDialect(ribbon="k", front=RasterSettings(colour=False, overlay="none"))
HEIGHT, WIDTH = 648, 1016
_LEFT, _COLUMN, _TOP, _ROW, _BLOCK = 24, 61, 24, 60, 40


def _block(digit_at: int, digit: int) -> tuple[slice, slice]:
    top, left = _TOP + digit * _ROW, _LEFT + digit_at * _COLUMN
    return slice(top, top + _BLOCK), slice(left, left + _BLOCK)


def nik_face(nik: int) -> npt.NDArray[np.uint8]:
    """A front black layer that carries ``nik``: one black block per digit, in the row of
    its value."""
    face = np.full((HEIGHT, WIDTH), 255, dtype=np.uint8)
    for at, digit in enumerate(f"{nik:016d}"):
        face[_block(at, int(digit))] = 0
    return face


# Where read_nik looks: five dots of every block (its centre and four dots inset from its
# corners), as face rows and columns indexed by (digit position, digit value, dot).
_DOTS = ((20, 20), (4, 4), (4, 35), (35, 4), (35, 35))
_ROWS = np.array([[[_TOP + d * _ROW + y for y, _ in _DOTS] for d in range(10)]] * 16)
_COLS = np.array([[[_LEFT + a * _COLUMN + x for _, x in _DOTS]] * 10 for a in range(16)])


def read_nik(card: DecodedCard) -> int:
    """The NIK a printed card carries, read from its K panel as the printer decoded it: in
    every digit column exactly one block inked (all five of its dots), the others blank."""
    k = card.front.k
    lines, dots = card.front.lines, card.front.dots
    if k is None or (lines, dots) != (WIDTH, HEIGHT):
        raise ValueError("the card has no K panel of the expected size")
    # The dialect turns the face 90 degrees clockwise: face (row, column) is printer line
    # `column`, dot `HEIGHT - 1 - row`; K holds eight dots per byte, most significant first.
    line, dot = _COLS, HEIGHT - 1 - _ROWS
    inked = (k[line * ((dots + 7) // 8) + dot // 8] >> (7 - dot % 8)) & 1
    blocks = inked.sum(axis=2)  # inked dots per (position, digit)
    if not np.isin(blocks, (0, len(_DOTS))).all() or not (blocks.sum(axis=1) == len(_DOTS)).all():
        raise ValueError("the card does not read as sixteen digits")
    return int("".join(str(d) for d in blocks.argmax(axis=1)))


def faces(record: Any) -> CardFaces:
    return CardFaces(front_black=nik_face(int(record.nik)))


class Log:
    """Lines appended straight to the file (no buffer in the process)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(self, *words: object) -> None:
        os.write(self._fd, (" ".join(str(w) for w in words) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class OutputTray(list[DecodedCard]):
    """Stands in for a printer's ``cards``: every card the printer appends is read back and
    logged as it lands, before the printer answers for it. With ``die_after`` the process is
    killed right after that many cards landed: the card is out, its ACK never sent."""

    def __init__(self, log: Log, die_after: int | None) -> None:
        super().__init__()
        self._log, self._die_after = log, die_after

    def append(self, card: DecodedCard) -> None:
        super().append(card)
        self._log.line("print", read_nik(card))
        if self._die_after is not None and len(self) >= self._die_after:
            _die()


class DyingTransport(TcpTransport):
    """A transport whose process is killed while the ``die_at``-th card it sends in this
    process's life is leaving: half of its bytes sent, the card never complete at the
    printer."""

    sent_cards = 0  # in this process, over every connection

    def __init__(self, host: str, port: int, die_at: int | None, **kw: Any) -> None:
        super().__init__(host, port, **kw)
        self._die_at = die_at

    def _send(self, data: bytes) -> None:
        if self._die_at is not None and b"\x1bSe;1\r" in data:
            DyingTransport.sent_cards += 1
            if DyingTransport.sent_cards >= self._die_at:
                super()._send(data[: len(data) // 2])
                _die()
        super()._send(data)


def _printer(config: dict[str, Any], log: Log) -> VirtualPrinter:
    printer = VirtualPrinter(seconds_per_card=config.get("seconds_per_card", 0.0))
    printer.cards = OutputTray(log, config.get("die_after_tray"))
    return printer


def _station(ledger: Ledger, printer: VirtualPrinter, config: dict[str, Any]) -> PrintStation:
    host, port = printer.address
    die_at = config.get("die_mid_send")
    return PrintStation(
        ledger,
        printer=config["printer"],
        connect=lambda: DyingTransport(host, port, die_at, timeout=10),
        faces=faces,
        actor=OPERATOR,
        dialect=DIALECT,
        reply_timeout=10,
        station=config["name"],
        lease=dt.timedelta(seconds=config.get("lease", 90.0)),
        take_over=config.get("take_over", False),
        window=config.get("window", 1),
    )


def _batches(path: str, printer: str) -> list[str]:
    """The batches planned so far for ``printer`` (lines ``<batch> <printer>``)."""
    text = Path(path).read_text() if Path(path).exists() else ""
    return [b for b, p in (line.split() for line in text.splitlines() if line) if p == printer]


def run_station(config: dict[str, Any]) -> None:
    """Picks a batch of its printer with cards still queued, runs it, and again, until told
    to stop; a batch another station holds is left for another."""
    log = Log(config["log"])
    rng = random.Random(config.get("seed", 0))
    stop = Path(config["stop"])
    with Ledger(config["location"]) as ledger, _printer(config, log) as printer:
        station = _station(ledger, printer, config)
        log.line("ready")
        while not stop.exists():
            batches = _batches(config["batches"], config["printer"])
            rng.shuffle(batches)
            ran = False
            for batch in batches:
                if stop.exists() or not ledger.queued(batch, config["printer"]):
                    continue
                log.line("start", batch)
                try:
                    report = station.run(batch)
                except BatchClaimedError:
                    log.line("end", batch, "claimed")
                    continue
                log.line(
                    "end",
                    batch,
                    f"printed={len(report.printed)} in_doubt={len(report.in_doubt)}",
                    f"left={report.left} stopped={report.stopped}",
                )
                ran = True
                break
            if not ran:
                time.sleep(0.05)
    log.line("stopped")
    log.close()


class _MovedOn(Exception):
    """The record is no longer what the desk saw: it changes nothing."""


# The desk's changes: the target, who makes it, and why.
DESK_CHANGES = {
    "hold": (State.ON_HOLD, OPERATOR, "citizen asked to wait"),
    "cancel": (State.CANCELLED, SUPERVISOR, "registered twice"),
    "back": (State.PRINT_READY, OPERATOR, "address changed"),
}


def desk_change(ledger: Ledger, nik: int, action: str, *, recheck: bool) -> str:
    """One desk change to a record the desk saw queued: ``done``, or why not. With
    ``recheck`` the desk makes it only if the record is still queued when its transaction
    starts (the read is on the transaction's own connection, under its write lock), as desk
    software that saw the record a moment ago should; without, it changes whatever the record
    has become since."""
    target, actor, reason = DESK_CHANGES[action]
    try:
        with ledger.transaction(actor) as tx:
            if recheck and ledger.state_of(nik) is not State.QUEUED:
                raise _MovedOn
            tx.transition([nik], target, reason=reason)
    except _MovedOn:
        return "moved-on"
    except RecordClaimedError:
        return "claimed"
    except IllegalTransitionError:
        return "illegal"
    except PermissionDeniedError:
        return "denied"
    return "done"


def run_desk(config: dict[str, Any]) -> None:
    """Aims desk changes at records in flight (queued, mostly in batches a station holds):
    a hold, a supervisor's cancellation, or back to ``PRINT_READY``. Each is done or refused;
    the refusals a desk may meet are ``RecordClaimedError``, ``IllegalTransitionError`` and,
    for an operator whose record went in doubt meanwhile, ``PermissionDeniedError``. Anything
    else ends the process with its traceback."""
    log = Log(config["log"])
    rng = random.Random(config.get("seed", 0))
    stop = Path(config["stop"])
    pause = config.get("pause", 0.05)
    with Ledger(config["location"]) as ledger:
        while not stop.exists():
            printer_of = {}
            for printer in ("P1", "P2"):
                printer_of.update(dict.fromkeys(_batches(config["batches"], printer), printer))
            held = [c.batch for c in ledger.claims.held() if c.batch in printer_of]
            pool = held if held and rng.random() < 0.75 else sorted(printer_of)
            if not pool:
                time.sleep(pause)
                continue
            batch = rng.choice(pool)
            queued = ledger.queued(batch, printer_of[batch])
            if not queued:
                time.sleep(pause / 5)
                continue
            nik = int(rng.choice(queued).nik)
            action = rng.choice(sorted(DESK_CHANGES))
            outcome = desk_change(ledger, nik, action, recheck=config.get("recheck", True))
            log.line(action, nik, outcome, batch)
            time.sleep(rng.uniform(pause / 2, pause * 1.5))
    log.close()


def run_timed(config: dict[str, Any]) -> None:
    """One batch through a zero-delay printer, timed from a common start: waits for the
    ``go`` file, runs, and logs ``timed <start> <end> <printed>`` (``time.time()``). With an
    ``anchor`` file, the ledger checkpoints to it every ``anchor_period`` seconds."""
    log = Log(config["log"])
    go = Path(config["go"])
    anchoring: dict[str, Any] = {}
    if config.get("anchor"):
        anchoring = {
            "anchor": FileAnchor(config["anchor"]),
            "anchor_period": config.get("anchor_period", 1.0),
        }
    with Ledger(config["location"], **anchoring) as ledger, _printer(config, log) as printer:
        station = _station(ledger, printer, config)
        log.line("ready")
        while not go.exists():
            time.sleep(0.001)
        start = time.time()
        report = station.run(config["batch"])
        end = time.time()
        log.line("timed", start, end, len(report.printed), report.left, report.stopped)
    log.close()


def main() -> None:
    config = json.loads(sys.argv[1])
    {"station": run_station, "desk": run_desk, "timed": run_timed}[config["mode"]](config)


if __name__ == "__main__":
    main()
