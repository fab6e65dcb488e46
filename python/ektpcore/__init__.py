"""ektpcore: the Rust-accelerated core of an E-KTP print bureau.

The public API is what ``__all__`` lists; ``ektpcore._ektpcore`` is the private native module.
"""

from __future__ import annotations

from .blanks import (
    BlankShortageError,
    BlankShortageWarning,
    BlankState,
    BlankStock,
    Reconciliation,
    shift_window,
)
from .dedup import DuplicateGroup, NikConflict, NikDedup, dedup_niks, nik_conflicts
from .distribution import Distribution, Manifest, ManifestMismatchError, ManifestState
from .errors import EktpcoreError, InvalidArgumentError, InvalidNikError, StreamDecodeError
from .index import IndexFileError, NikIndex
from .ledger import (
    HistoryEntry,
    IllegalTransitionError,
    IntakeReport,
    Ledger,
    PermissionDeniedError,
    Record,
    UnknownRecordError,
    VerifyReport,
)
from .lifecycle import TRANSITIONS, Actor, Role, State, Transition
from .names import NameParts, name_key, normalize_name, normalize_names, parse_name
from .nik import (
    Nik,
    NikBatch,
    NikErrorCode,
    NikMismatch,
    Sex,
    crosscheck_niks,
    mask_nik,
    nik_error_message,
    parse_niks,
)
from .people import (
    MatchWeights,
    OversizedBlockWarning,
    PeopleMatches,
    find_duplicate_people,
)
from .planning import (
    DEFAULT_SHIFTS,
    Batch,
    BlanksReceived,
    CardSpoiled,
    Jam,
    NewRecords,
    Plan,
    PlanEvent,
    Printer,
    PrinterDown,
    PrinterSetup,
    Priority,
    Shift,
    Unscheduled,
    plan,
    printers_from_toml,
)
from .regions import RegionNames, RegionTable
from .ribbons import Ribbon, RibbonExhaustedError, Ribbons, RibbonWarning
from .sample import corrupt_niks, sample_niks
from .simulate import CampaignReport, load_scenario, plot_report, simulate
from .store import LedgerStore, SqliteStore

__all__ = [
    "DEFAULT_SHIFTS",
    "TRANSITIONS",
    "Actor",
    "Batch",
    "BlankShortageError",
    "BlankShortageWarning",
    "BlankState",
    "BlankStock",
    "BlanksReceived",
    "CampaignReport",
    "CardSpoiled",
    "Distribution",
    "DuplicateGroup",
    "EktpcoreError",
    "HistoryEntry",
    "IllegalTransitionError",
    "IndexFileError",
    "IntakeReport",
    "InvalidArgumentError",
    "InvalidNikError",
    "Jam",
    "Ledger",
    "LedgerStore",
    "Manifest",
    "ManifestMismatchError",
    "ManifestState",
    "MatchWeights",
    "NameParts",
    "NewRecords",
    "Nik",
    "NikBatch",
    "NikConflict",
    "NikDedup",
    "NikErrorCode",
    "NikIndex",
    "NikMismatch",
    "OversizedBlockWarning",
    "PeopleMatches",
    "PermissionDeniedError",
    "Plan",
    "PlanEvent",
    "Printer",
    "PrinterDown",
    "PrinterSetup",
    "Priority",
    "Reconciliation",
    "Record",
    "RegionNames",
    "RegionTable",
    "Ribbon",
    "RibbonExhaustedError",
    "RibbonWarning",
    "Ribbons",
    "Role",
    "Sex",
    "Shift",
    "SqliteStore",
    "State",
    "StreamDecodeError",
    "Transition",
    "UnknownRecordError",
    "Unscheduled",
    "VerifyReport",
    "corrupt_niks",
    "crosscheck_niks",
    "dedup_niks",
    "find_duplicate_people",
    "load_scenario",
    "mask_nik",
    "name_key",
    "nik_conflicts",
    "nik_error_message",
    "normalize_name",
    "normalize_names",
    "parse_name",
    "parse_niks",
    "plan",
    "plot_report",
    "printers_from_toml",
    "sample_niks",
    "shift_window",
    "simulate",
]
