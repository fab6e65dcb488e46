"""The ledger: records, blank cards, ribbons, the print stations' journal and distribution, in
one database, and the only part of ektpcore that knows SQL or the schema.

Modules: :mod:`~ektpcore.ledger.store` (the database and its dialect), ``postgres`` (the same
ledger on a PostgreSQL server), ``schema`` (versions and migrations), ``chain`` (the
hash-chained histories), ``verify`` (what ``Ledger.verify`` checks), ``anchor`` (checkpoints
kept outside the database), ``records``, ``blanks``, ``ribbons``, ``journal`` (station journal and
chip log), ``distribution``, ``batches`` (print batches as the ledger knows them), ``users``
(users, sign-in and the audit), ``approvals`` (two-person changes), and ``transaction``, the
one way a change happens.
:class:`Ledger` is what applications hold.
"""

from __future__ import annotations

from ..errors import (
    ApprovalRequiredError,
    AuthenticationError,
    BlankShortageError,
    BlankShortageWarning,
    IllegalTransitionError,
    ManifestMismatchError,
    PermissionDeniedError,
    RibbonExhaustedError,
    RibbonWarning,
    UnknownRecordError,
)
from .anchor import Checkpoint, FileAnchor
from .approvals import Approval, Approvals, ApprovalWrites
from .batches import BatchSummary
from .blanks import BlankMovement, BlankState, BlankStock, BlankWrites, Lot, Reconciliation
from .chain import AUDIT_CHAIN, BLANK_CHAIN, CHAINS, RECORD_CHAIN, Finding, VerifyReport
from .chain import payload as _payload
from .claims import Claim, Claims, ClaimWrites
from .core import Ledger
from .distribution import (
    Distribution,
    DistributionWrites,
    Handover,
    Leg,
    Manifest,
    ManifestState,
)
from .journal import ChipLogEntry, Journal, JournalWrites
from .postgres import PostgresStore
from .records import (
    CARD_FIELDS,
    CardFields,
    Change,
    HistoryEntry,
    Intake,
    IntakeReport,
    Moves,
    Record,
    Reveal,
)
from .records import CARD_HOLDING as _CARD_HOLDING
from .ribbons import Ribbon, Ribbons, RibbonWrites
from .schema import MIGRATIONS as _MIGRATIONS
from .schema import SCHEMA_VERSION
from .store import LedgerStore, Session, SqliteStore, open_store
from .transaction import Transaction
from .users import AuditEntry, User, Users

__all__ = [
    "AUDIT_CHAIN",
    "BLANK_CHAIN",
    "CARD_FIELDS",
    "CHAINS",
    "RECORD_CHAIN",
    "SCHEMA_VERSION",
    "Approval",
    "ApprovalRequiredError",
    "ApprovalWrites",
    "Approvals",
    "AuditEntry",
    "AuthenticationError",
    "BatchSummary",
    "BlankMovement",
    "BlankShortageError",
    "BlankShortageWarning",
    "BlankState",
    "BlankStock",
    "BlankWrites",
    "CardFields",
    "Change",
    "Checkpoint",
    "ChipLogEntry",
    "Claim",
    "ClaimWrites",
    "Claims",
    "Distribution",
    "DistributionWrites",
    "FileAnchor",
    "Finding",
    "Handover",
    "HistoryEntry",
    "IllegalTransitionError",
    "Intake",
    "IntakeReport",
    "Journal",
    "JournalWrites",
    "Ledger",
    "LedgerStore",
    "Leg",
    "Lot",
    "Manifest",
    "ManifestMismatchError",
    "ManifestState",
    "Moves",
    "PermissionDeniedError",
    "PostgresStore",
    "Reconciliation",
    "Record",
    "Reveal",
    "Ribbon",
    "RibbonExhaustedError",
    "RibbonWarning",
    "RibbonWrites",
    "Ribbons",
    "Session",
    "SqliteStore",
    "Transaction",
    "UnknownRecordError",
    "User",
    "Users",
    "VerifyReport",
    "open_store",
]

# Private names the ledger's own tests and benchmarks reach for, kept out of ``__all__``.
_TEST_HOOKS = (_payload, _CARD_HOLDING, _MIGRATIONS)
