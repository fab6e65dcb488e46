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

from ..clock import stamp_window
from ..errors import InvalidArgumentError, RibbonExhaustedError, RibbonWarning
from ..lifecycle import Actor, Permission
from .sealing import check_label, whole_number
from .store import Session

if TYPE_CHECKING:
    from .core import Ledger
    from .transaction import Transaction

__all__ = ["Ribbon", "RibbonWrites", "Ribbons"]


@dataclass(frozen=True)
class Ribbon:
    """The ribbon installed in a printer: its kind (panels, e.g. ``YMCKO``), how many prints
    it holds and has left, when it was installed and by whom, and when it was taken out (the
    next one installed; ``None`` while it is in the printer)."""

    printer: str
    kind: str
    capacity: int
    remaining: int
    installed_at: str
    installed_by: str | None = None
    removed_at: str | None = None


class RibbonWrites:
    """The ribbon changes of one transaction: ``tx.ribbons``."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def install(
        self, printer: str, kind: str, capacity: int, *, remaining: int | None = None
    ) -> Ribbon:
        """Installs a ribbon (removing the current one); ``remaining`` for a part-used one."""
        tx = self._tx
        tx.require(Permission.INSTALL_RIBBON)
        check_label(printer, "a printer's name")
        check_label(kind, "a ribbon's kind")
        capacity = whole_number(capacity, "a ribbon's capacity", least=1)
        left = capacity if remaining is None else whole_number(remaining, "a ribbon's prints left")
        if not 0 <= left <= capacity:
            raise InvalidArgumentError("a ribbon has a positive capacity and 0..capacity left")
        tx.db.execute(
            "UPDATE ribbons SET removed_at = ? WHERE printer = ? AND removed_at IS NULL",
            (tx.now, printer),
        )
        tx.db.execute(
            "INSERT INTO ribbons (printer, kind, capacity, remaining, installed_at,"
            " installed_by) VALUES (?,?,?,?,?,?)",
            (printer, kind, capacity, left, tx.now, tx.actor.name),
        )
        return Ribbon(printer, kind, capacity, left, tx.now, tx.actor.name)


def consume(db: Session, printer: str, cards: int) -> None:
    """Takes ``cards`` prints off the printer's ribbon; refuses more than it has left."""
    # One conditional statement, so two stations sharing a printer beside each other never
    # take it below 0; why it changed nothing is asked only then.
    taken = db.one(
        "UPDATE ribbons SET remaining = remaining - ?"
        " WHERE printer = ? AND removed_at IS NULL AND remaining >= ? RETURNING remaining",
        (cards, printer, cards),
    )
    if taken is not None:
        return
    row = db.one(
        "SELECT remaining FROM ribbons WHERE printer = ? AND removed_at IS NULL", (printer,)
    )
    if row is None:
        raise RibbonExhaustedError(f"printer {printer} has no ribbon installed")
    raise RibbonExhaustedError(
        f"printer {printer}: {cards} cards printed but its ribbon had {row[0]} left;"
        " record the ribbon change first"
    )


_COLUMNS = "printer, kind, capacity, remaining, installed_at, installed_by, removed_at"


class Ribbons:
    """The ribbons of a :class:`~ektpcore.Ledger`: ``ledger.ribbons``."""

    def __init__(self, ledger: Ledger, reads: Session) -> None:
        self._ledger = ledger
        self._db = reads

    def install(
        self, printer: str, kind: str, capacity: int, actor: Actor, *, remaining: int | None = None
    ) -> Ribbon:
        """Installs a ribbon (removing the current one); ``remaining`` for a part-used one."""
        with self._ledger.transaction(actor) as tx:
            return tx.ribbons.install(printer, kind, capacity, remaining=remaining)

    def current(self, printer: str) -> Ribbon | None:
        row = self._db.one(
            f"SELECT {_COLUMNS} FROM ribbons WHERE printer = ? AND removed_at IS NULL",
            (printer,),
        )
        return Ribbon(*row) if row else None

    def installed(
        self, start: _dt.datetime | None = None, end: _dt.datetime | None = None
    ) -> list[Ribbon]:
        """The ribbons installed between ``start`` and ``end`` (aware datetimes; all when not
        given), in any printer, oldest first; a removed one shows the prints it had left."""
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM ribbons WHERE installed_at >= ? AND installed_at < ?"
            " ORDER BY id",
            stamp_window(start, end),
        )
        return [Ribbon(*row) for row in rows]

    def in_printers(self) -> list[Ribbon]:
        """The ribbon in each printer that has one, by printer."""
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM ribbons WHERE removed_at IS NULL ORDER BY printer"
        )
        return [Ribbon(*row) for row in rows]

    def changes(self, printer: str) -> int:
        """How many ribbons were installed in ``printer`` so far."""
        rows = self._db.all("SELECT count(*) FROM ribbons WHERE printer = ?", (printer,))
        return int(rows[0][0])

    def check(self, printer: str, cards: int) -> bool:
        """``True`` when the installed ribbon can print ``cards`` more; otherwise warns
        (:class:`~ektpcore.RibbonWarning`) and returns ``False``."""
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
