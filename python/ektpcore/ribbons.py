"""Printer ribbons: one installed per printer, consumed one print per card.

A ribbon prints about 500 cards; a batch that would run it out is warned about before it is
sent (:meth:`Ribbons.check`), and printing more cards than the installed ribbon has left is
refused, since those cards cannot have been printed on it.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import EktpcoreError, InvalidArgumentError
from .lifecycle import Actor, Role

if TYPE_CHECKING:
    import sqlite3

    from .ledger import Ledger

__all__ = ["Ribbon", "RibbonExhaustedError", "RibbonWarning", "Ribbons"]


class RibbonWarning(UserWarning):
    """A batch would need more prints than the printer's ribbon has left."""


class RibbonExhaustedError(EktpcoreError):
    """More cards printed than the installed ribbon had left, or no ribbon installed."""


@dataclass(frozen=True)
class Ribbon:
    printer: str
    kind: str
    capacity: int
    remaining: int
    installed_at: str


class Ribbons:
    """The ribbons of a :class:`~ektpcore.Ledger`: ``ledger.ribbons``."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def install(
        self, printer: str, kind: str, capacity: int, actor: Actor, *, remaining: int | None = None
    ) -> Ribbon:
        """Installs a ribbon (removing the current one); ``remaining`` for a part-used one."""
        self._ledger._require(actor, Role.OPERATOR)
        left = capacity if remaining is None else remaining
        if capacity <= 0 or not 0 <= left <= capacity:
            raise InvalidArgumentError("a ribbon has a positive capacity and 0..capacity left")
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
        with self._ledger._write() as db:
            db.execute(
                "UPDATE ribbons SET removed_at = ? WHERE printer = ? AND removed_at IS NULL",
                (now, printer),
            )
            db.execute(
                "INSERT INTO ribbons (printer, kind, capacity, remaining, installed_at,"
                " installed_by) VALUES (?,?,?,?,?,?)",
                (printer, kind, capacity, left, now, actor.name),
            )
        return Ribbon(printer, kind, capacity, left, now)

    def current(self, printer: str) -> Ribbon | None:
        row = next(
            iter(
                self._ledger._query(
                    "SELECT printer, kind, capacity, remaining, installed_at FROM ribbons"
                    " WHERE printer = ? AND removed_at IS NULL",
                    (printer,),
                )
            ),
            None,
        )
        return Ribbon(*row) if row else None

    def changes(self, printer: str) -> int:
        """How many ribbons were installed in ``printer`` so far."""
        rows = self._ledger._query("SELECT count(*) FROM ribbons WHERE printer = ?", (printer,))
        return int(rows[0][0])

    def check(self, printer: str, cards: int) -> bool:
        """``True`` when the installed ribbon can print ``cards`` more; otherwise warns
        (:class:`RibbonWarning`) and returns ``False``."""
        ribbon = self.current(printer)
        left = ribbon.remaining if ribbon else 0
        if cards > left:
            warnings.warn(
                f"printer {printer}: a batch of {cards} cards needs more than the {left} prints"
                " left on its ribbon; change it first or mid-batch",
                RibbonWarning,
                stacklevel=2,
            )
            return False
        return True

    def _consume(self, db: sqlite3.Connection, printer: str, cards: int) -> None:
        row = db.execute(
            "SELECT id, remaining FROM ribbons WHERE printer = ? AND removed_at IS NULL",
            (printer,),
        ).fetchone()
        if row is None:
            raise RibbonExhaustedError(f"printer {printer} has no ribbon installed")
        if row[1] < cards:
            raise RibbonExhaustedError(
                f"printer {printer}: {cards} cards printed but its ribbon had {row[1]} left;"
                " record the ribbon change first"
            )
        db.execute("UPDATE ribbons SET remaining = remaining - ? WHERE id = ?", (cards, row[0]))
