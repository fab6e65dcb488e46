"""The exception tree of ektpcore.

Every exception the library raises on purpose derives from :class:`EktpcoreError`; the ones
caused by bad input also derive from :class:`ValueError`, so ``except ValueError`` keeps working
for callers that do not know ektpcore. Messages never carry an unmasked NIK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lifecycle import State
    from .nik import NikErrorCode

__all__ = [
    "AnchorError",
    "ApprovalRequiredError",
    "AuthenticationError",
    "BatchClaimedError",
    "BlankShortageError",
    "BlankShortageWarning",
    "CardDataError",
    "CardStatusError",
    "ChipConnectionError",
    "ChipDecodeError",
    "ChipError",
    "EktpcoreError",
    "IllegalTransitionError",
    "IndexFileError",
    "InvalidArgumentError",
    "InvalidNikError",
    "LeaseLostError",
    "LedgerBusyError",
    "LedgerConnectionError",
    "LedgerError",
    "LedgerFileError",
    "LedgerKeyError",
    "ManifestMismatchError",
    "OversizedBlockWarning",
    "PermissionDeniedError",
    "PhotoBackgroundError",
    "PrinterConnectionError",
    "RecordClaimedError",
    "ReplacedRowsKeptWarning",
    "RibbonExhaustedError",
    "RibbonMismatchError",
    "RibbonWarning",
    "SealedDataError",
    "SecureMessagingError",
    "SheetError",
    "StationError",
    "StreamDecodeError",
    "UnknownRecordError",
]


class EktpcoreError(Exception):
    """Base class of every ektpcore error."""


class InvalidArgumentError(EktpcoreError, ValueError):
    """An argument the library cannot use (a bad reference date, a malformed region table)."""


class CardDataError(InvalidArgumentError):
    """A record cannot be printed: its card lacks a field it shows, or its photo or signature
    file cannot be read. The message names the record (masked) and the fields."""


class SheetError(InvalidArgumentError):
    """A spreadsheet or CSV file that cannot be read as asked: its message is one line naming
    the file, and the row and column where they are known."""


class InvalidNikError(EktpcoreError, ValueError):
    """A NIK failed validation.

    Attributes:
        reason: the :class:`~ektpcore.NikErrorCode` of the first rule broken.
        position: 0-based character position of the offending field or character, or ``None``
            when the reason does not point at one (wrong length, missing value).
    """

    reason: NikErrorCode
    position: int | None

    def __init__(self, message: str, code: int, position: int | None = None) -> None:
        super().__init__(message, code, position)
        from .nik import NikErrorCode

        self.reason = NikErrorCode(code)
        self.position = position

    def __str__(self) -> str:
        return str(self.args[0])


class _AtOffset(EktpcoreError):
    """An error found at a byte offset of the input.

    Attributes:
        offset: the byte offset where the input stops making sense.
    """

    offset: int

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message, offset)
        self.offset = offset

    def __str__(self) -> str:
        return str(self.args[0])


class StreamDecodeError(_AtOffset, ValueError):
    """A printer stream that does not parse (``offset``: where it stops making sense)."""


class ChipError(EktpcoreError):
    """Base class of the chip-encoding errors."""


class ChipDecodeError(ChipError, _AtOffset, ValueError):
    """Bytes from a chip or reader that do not parse (BER-TLV, an APDU); ``offset`` is where
    they stop making sense."""


class SecureMessagingError(ChipError):
    """A secure-messaging session refused a response (wrong or missing MAC, malformed data
    objects, a plain error status) or was used after it closed. The session is closed when
    this is raised: its keys are wiped and its counter is no longer trusted."""


class CardStatusError(ChipError):
    """The chip refused a command.

    Attributes:
        sw: the status word, e.g. ``0x6982``.
    """

    sw: int

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message, sw)
        self.sw = sw

    def __str__(self) -> str:
        return str(self.args[0])


class ChipConnectionError(ChipError, OSError):
    """The chip or its reader does not answer (no card at the encoder, a dead chip, a
    reader unplugged)."""


# -- the ledger --------------------------------------------------------------------------------


class LedgerError(EktpcoreError):
    """The ledger's database cannot be used as it is: a schema newer than this ektpcore, a
    file that is not a ledger."""


class LedgerBusyError(LedgerError):
    """The ledger stayed locked by other writers for longer than the ledger's ``busy_timeout``
    (retried with backoff until then). Nothing was changed and nothing was sent to a printer;
    try again."""


class LedgerFileError(LedgerError):
    """The ledger's file or database cannot be used: missing (and not to be created), empty,
    truncated, corrupt, or another program's database. The message says which."""


class LedgerKeyError(LedgerError):
    """A sealed ledger's keys are missing, wrong (another ledger's), or unusable: a key file
    readable by others, malformed, or without the key a value was sealed with. The message
    says which; it never contains key material."""


class SealedDataError(LedgerError):
    """A sealed value in the ledger does not open with the ledger's keys: it was altered,
    moved from another row, or sealed under a key no longer held. The message names the table
    and row."""


class AnchorError(LedgerError):
    """The anchor given to a ledger holds checkpoints of another ledger: one anchor file per
    ledger. Raised before anything is changed when the ledger is opened with that anchor (or,
    another ledger's process having written to it since, when the next checkpoint is due).
    Also raised when a checkpoint is due and the ledger is behind the anchor's last one (the
    file rolled back to an older copy): nothing is appended."""


class LedgerConnectionError(LedgerError, ConnectionError):
    """The ledger's database server cannot be reached or dropped the connection."""


class BatchClaimedError(LedgerError):
    """Another station holds the batch's claim.

    Attributes: ``batch``, ``holder`` (the station), ``lease_until`` (aware datetime, UTC)."""

    def __init__(self, message: str, batch: str, holder: str, lease_until: object) -> None:
        super().__init__(message)
        self.batch, self.holder, self.lease_until = batch, holder, lease_until


class LeaseLostError(LedgerError):
    """A station's claim on its batch expired or was taken over: its writes are fenced and
    nothing it tried to record was recorded."""


class RecordClaimedError(EktpcoreError, ValueError):
    """A desk change to a record whose batch a station holds: it would race the printer."""


class UnknownRecordError(EktpcoreError, KeyError):
    """A NIK the ledger does not hold (the message shows it masked)."""

    def __str__(self) -> str:
        return str(self.args[0])


class PermissionDeniedError(EktpcoreError, PermissionError):
    """The actor's role may not make this change."""


class ApprovalRequiredError(PermissionDeniedError):
    """A two-person change made directly, or approved by the person who requested it: a
    reprint, or cancelling a printed card, is requested by one person and approved by
    another (``ledger.approvals``)."""


class AuthenticationError(EktpcoreError, PermissionError):
    """Who acts is not established. A sign-in refused (an unknown user and a wrong password
    get the same message, so names cannot be probed), or, on a ledger that has users, an
    actor the ledger did not sign in: self-declared, with a forged credential or one from
    another ledger, signed out, of a disabled user, or of a user whose role has changed since
    (sign in again). Nothing was changed."""


class IllegalTransitionError(EktpcoreError, ValueError):
    """A change the lifecycle does not allow, or one missing its required reason.

    Attributes: ``nik`` (masked), ``source``, ``target`` and ``rule`` (what was broken).
    """

    def __init__(self, nik: str, source: State, target: State, rule: str) -> None:
        super().__init__(f"record {nik}: {source.value} -> {target.value} refused: {rule}")
        self.nik, self.source, self.target, self.rule = nik, source, target, rule


class BlankShortageError(EktpcoreError):
    """Not enough blanks in stock for an allocation; nothing was allocated."""


class BlankShortageWarning(UserWarning):
    """More records are print-ready than there are blanks in stock."""


class ReplacedRowsKeptWarning(UserWarning):
    """A sealing is done, but the database still keeps the replaced clear row versions in
    its files, because transactions older than the sealing still run on the server (or, on
    SQLite, a connection still reads a snapshot older than it, which keeps them in the
    write-ahead log). The message names them; :meth:`~ektpcore.Ledger.purge` (``ektpcore
    ledger purge``) removes the versions once they have ended."""


class RibbonWarning(UserWarning):
    """A batch would need more prints than the printer's ribbon has left."""


class RibbonExhaustedError(EktpcoreError):
    """More cards printed than the installed ribbon had left, or no ribbon installed."""


class RibbonMismatchError(InvalidArgumentError):
    """Printing settings or panels that ask for panels the ribbon does not have: colour on a
    black ribbon, an overlay on a ribbon without one, colour on the back of a YMCKOK card."""


class ManifestMismatchError(EktpcoreError):
    """The count received does not match the manifest; nothing was recorded."""


# -- deduplication -----------------------------------------------------------------------------


class IndexFileError(EktpcoreError):
    """An index file cannot be used: truncated, corrupted, or not an index at all. Nothing of it
    has been loaded."""


class OversizedBlockWarning(UserWarning):
    """A blocking group was too large to compare in full (a very common name, or a placeholder
    birth date such as 1 July); its members were compared with their nearest neighbours by name
    only."""


# -- printing ----------------------------------------------------------------------------------


class PhotoBackgroundError(EktpcoreError, ValueError):
    """The photo's background colour breaks the rule for the holder's birth year."""


class PrinterConnectionError(EktpcoreError, ConnectionError):
    """The printer could not be reached, stopped answering, or dropped the connection."""


class StationError(EktpcoreError):
    """The station cannot run the batch (not queued for this printer, no blanks)."""
