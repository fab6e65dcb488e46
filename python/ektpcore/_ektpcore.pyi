# Stub of the private native module; the public, documented API is in ektpcore/__init__.py.
from collections.abc import Sequence
from typing import Any, Literal, NoReturn, Self, TypedDict, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ActingCheck",
    "BlankReplay",
    "EncodedPart",
    "KeyRing",
    "LedgerRows",
    "MasterKey",
    "RecordReplay",
    "RegionSet",
    "SmChallenge",
    "SmKeys",
    "SmSession",
    "apdu_encode",
    "apdu_parse",
    "check_nik",
    "check_nik_int",
    "compose_nik",
    "crosscheck_niks",
    "decompose_niks",
    "default_match_weights",
    "dialect_condition",
    "dialect_ribbon",
    "dialect_status_query",
    "evolis_decode",
    "evolis_encode_cards",
    "evolis_encode_panels",
    "evolis_job_part",
    "evolis_parse_prefix",
    "factorize_pairs",
    "find_people_matches",
    "first_occurrences",
    "history_chain",
    "history_first_break",
    "history_payloads",
    "history_payloads_columns",
    "index_checksum",
    "index_contains",
    "index_difference",
    "index_is_sorted",
    "index_read",
    "index_sorted_unique",
    "index_union",
    "json_list",
    "magicard_command",
    "magicard_decode",
    "magicard_encode_cards",
    "magicard_encode_panels",
    "magicard_encode_parts",
    "magicard_parse_prefix",
    "mask_nik",
    "mrz_check_digit",
    "nik_error_table",
    "normalize_names",
    "parse_name",
    "parse_niks",
    "people_block",
    "people_clusters",
    "people_keys",
    "people_rule_names",
    "people_score",
    "perso_scripts",
    "plan_batches",
    "plan_classes",
    "plan_combine_cards",
    "plan_ids_check",
    "plan_run",
    "plan_windows",
    "provinces",
    "raster_face",
    "retired_papua_regencies",
    "sealed_format",
    "sealed_key_id",
    "status_meaning",
    "tlv_decode",
    "tlv_encode",
    "verify_signature",
]

# -- NIKs --------------------------------------------------------------------------------------

_Bulk = tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.int8]]

@final
class RegionSet:
    def __new__(cls, codes: list[str]) -> Self: ...
    def lookup(self, region_code: int) -> int: ...
    def __len__(self) -> int: ...

def check_nik(
    text: str | bytes, reference_days: int | None = None, regions: RegionSet | None = None
) -> int: ...
def check_nik_int(
    value: int, reference_days: int | None = None, regions: RegionSet | None = None
) -> int: ...

_NikColumn = (
    tuple[npt.NDArray[np.uint8], int]
    | tuple[npt.NDArray[np.uint32], int]
    | npt.NDArray[np.int64]
    | tuple[
        npt.NDArray[np.signedinteger[Any]],
        npt.NDArray[np.uint8],
        npt.NDArray[np.bool_] | None,
    ]
    | list[Any]
    | npt.NDArray[np.object_]
)

def parse_niks(
    values: _NikColumn,
    reference_days: int | None = None,
    regions: RegionSet | None = None,
) -> _Bulk: ...
def decompose_niks(
    values: npt.NDArray[np.int64], reference_days: int
) -> tuple[
    npt.NDArray[np.uint8],
    npt.NDArray[np.uint8],
    npt.NDArray[np.uint8],
    npt.NDArray[np.uint8],
    npt.NDArray[np.int64],
]: ...
def crosscheck_niks(
    values: npt.NDArray[np.int64], birth_days: npt.NDArray[np.int64], sexes: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]: ...
def compose_nik(
    region_code: int, year: int, month: int, day: int, female: bool, serial: int
) -> int: ...
def nik_error_table() -> list[tuple[int, str, str]]: ...
def provinces() -> list[tuple[int, str]]: ...
def retired_papua_regencies() -> list[tuple[int, str, int]]: ...
def mask_nik(text: str) -> str: ...

# -- exact dedup and the issued-NIK index ------------------------------------------------------

def first_occurrences(
    keys: npt.NDArray[np.int64], limit: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], int]: ...
def index_sorted_unique(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]: ...
def index_contains(
    set: npt.NDArray[np.int64], queries: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]: ...
def index_union(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]: ...
def index_difference(
    a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]: ...
def index_checksum(values: npt.NDArray[np.int64]) -> int: ...
def index_is_sorted(values: npt.NDArray[np.int64]) -> bool: ...
def index_read(
    fd: int, offset: int, count: int
) -> tuple[npt.NDArray[np.int64], int, bool] | None: ...

# -- names -------------------------------------------------------------------------------------

def parse_name(name: str) -> tuple[str, str, list[str], str]: ...
def normalize_names(items: list[str | None], key: bool = False) -> list[str | None]: ...

# -- people ------------------------------------------------------------------------------------

class _PeopleColumns(TypedDict):
    names: list[str | None]
    birth: npt.NDArray[np.int64]
    sex: npt.NDArray[np.uint8]
    places: list[str | None]
    mothers: list[str | None]
    niks: npt.NDArray[np.int64]

def find_people_matches(
    columns: _PeopleColumns | dict[str, Any],
    weights: list[float],
    threshold: float,
    max_block: int,
    window: int,
) -> tuple[
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint32],
    npt.NDArray[np.float32],
    list[npt.NDArray[np.uint8]],
    npt.NDArray[np.int64],
    int,
    list[tuple[str, int]],
]: ...
def people_keys(
    columns: _PeopleColumns | dict[str, Any],
) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.bool_]], list[str]]: ...
def people_block(
    columns: _PeopleColumns | dict[str, Any],
    rows: npt.NDArray[np.int64],
    rule: int,
    max_block: int,
    window: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[int]]: ...
def people_score(
    left: _PeopleColumns | dict[str, Any],
    right: _PeopleColumns | dict[str, Any],
    frequency: npt.NDArray[np.int64],
    records: int,
    weights: list[float],
    threshold: float,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32], list[npt.NDArray[np.uint8]]]: ...
def people_clusters(
    n: int, left: npt.NDArray[np.uint32], right: npt.NDArray[np.uint32]
) -> npt.NDArray[np.int64]: ...
def people_rule_names() -> list[str]: ...
def default_match_weights() -> list[float]: ...

# -- ledger ------------------------------------------------------------------------------------

def history_chain(previous: bytes, payloads: list[bytes]) -> list[bytes]: ...
def history_first_break(
    previous: bytes, payloads: list[bytes], stored: list[bytes]
) -> int | None: ...
def history_payloads(tag: bytes, rows: list[tuple[int | str | None, ...]]) -> list[bytes]: ...
def history_payloads_columns(
    tag: bytes, first_seq: int, columns: list[object], count: int
) -> list[bytes]: ...
def json_list(columns: Sequence[Sequence[object]], rows: int) -> str | None: ...

_Subject = tuple[LedgerRows, int, int, list[int]]
_Findings = tuple[list[tuple[str, str, int | None, str]], int]
_HistoryColumns = tuple[int, int, int, int, int, int]

@final
class LedgerRows:
    def __new__(
        cls,
        text: bytes,
        width: int,
        links: bytes | None = None,
        *,
        form: Literal["json", "tuples"] = "json",
    ) -> Self: ...
    def __len__(self) -> int: ...
    @property
    def width(self) -> int: ...
    def row(self, index: int) -> list[str | None]: ...
    def seq_break(self, column: int, first: int) -> int | None: ...
    def payloads(
        self, format: int, tag: bytes, columns: list[int], subject: _Subject | None = None
    ) -> list[bytes]: ...
    def first_break(
        self,
        mac: Any,
        previous: bytes,
        format: int,
        tag: bytes,
        columns: list[int],
        subject: _Subject | None = None,
    ) -> int | None: ...
    def link(self, index: int) -> bytes: ...
    def sealed_records(self, ring: KeyRing, sealed: bytes) -> list[tuple[int, int]]: ...

@final
class RecordReplay:
    def __new__(
        cls,
        columns: _HistoryColumns,
        queued: str,
        printed: str,
        releasing: list[str],
        holding: list[str],
    ) -> Self: ...
    def feed(self, rows: LedgerRows) -> None: ...
    def check(self, records: LedgerRows, cards: LedgerRows) -> _Findings: ...

@final
class BlankReplay:
    def __new__(cls, columns: _HistoryColumns) -> Self: ...
    def feed(self, rows: LedgerRows) -> None: ...
    def check(
        self, blanks: LedgerRows, lots: LedgerRows, records: LedgerRows | None = None
    ) -> _Findings: ...

@final
class ActingCheck:
    def __new__(
        cls, columns: tuple[int, int, int, int], since: str, skip: tuple[str, str] | None = None
    ) -> Self: ...
    def learn(self, pair: int, spans: list[tuple[str, str | None]]) -> None: ...
    def feed(self, rows: LedgerRows, start: int = 0) -> tuple[int, int, str, str] | None: ...
    def outside(self) -> list[tuple[str, str, int, str]]: ...

# -- ledger keys -------------------------------------------------------------------------------

def sealed_format(value: bytes) -> int | None: ...
def sealed_key_id(value: bytes) -> int | None: ...
def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool: ...

# -- planning ----------------------------------------------------------------------------------

def plan_batches(
    jobs: dict[str, npt.NDArray[Any]],
    printers: list[tuple[float, float, int, int, float, float, list[tuple[float, float]]]],
    click_limit: int,
    click_overhead_s: float,
    blanks: int,
    blank_arrivals: list[tuple[float, int]],
) -> dict[str, Any]: ...

_Staffing = tuple[list[tuple[float, float, int, int | None]], float, float, int, bool]

def plan_run(
    jobs: dict[str, npt.NDArray[Any] | None],
    subset: npt.NDArray[np.int64] | None,
    rank: npt.NDArray[np.uint32],
    now: float,
    printers: list[
        tuple[
            float,
            float,
            int,
            int,
            float,
            float,
            list[tuple[float, float]],
            list[tuple[float, float]] | None,
        ]
    ],
    staffing: _Staffing,
    click_limit: int,
    click_overhead_s: float,
    blanks: int,
    blank_arrivals: list[tuple[float, int]],
) -> dict[str, Any]: ...
def plan_windows(
    printers: list[tuple[float, list[tuple[float, float]], list[tuple[float, float]] | None]],
    staffing: _Staffing,
    days: int,
) -> list[list[tuple[float, float]]]: ...
def plan_ids_check(ids: npt.NDArray[np.int64]) -> int: ...
def plan_combine_cards(
    order: npt.NDArray[np.uint32],
    card_start: npt.NDArray[np.float64],
    card_end: npt.NDArray[np.float64],
    firsts: npt.NDArray[np.int64],
    kept: npt.NDArray[np.int64],
    keep: npt.NDArray[np.bool_],
    fresh_order: npt.NDArray[np.uint32],
    fresh_start: npt.NDArray[np.float64],
    fresh_end: npt.NDArray[np.float64],
    fresh_reason: npt.NDArray[np.uint8],
) -> dict[str, Any]: ...
def plan_classes(values: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8] | None: ...
def factorize_pairs(
    kecamatan: npt.NDArray[np.object_],
    kelurahan: npt.NDArray[np.object_],
    known: list[tuple[str, str]],
) -> tuple[npt.NDArray[np.uint32], list[tuple[str, str]]]: ...

# -- raster ------------------------------------------------------------------------------------

_PanelArrays = tuple[
    int,
    int,
    npt.NDArray[np.uint8] | None,
    npt.NDArray[np.uint8] | None,
    npt.NDArray[np.uint8] | None,
    npt.NDArray[np.uint8] | None,
    npt.NDArray[np.uint8] | None,
]
_FaceArrays = tuple[
    npt.NDArray[np.uint8] | None,
    npt.NDArray[np.uint8] | None,
    npt.NDArray[np.uint8] | None,
    npt.NDArray[np.uint8] | None,
]

def raster_face(
    rgb: npt.NDArray[np.uint8] | None,
    black: npt.NDArray[np.uint8] | None,
    settings: dict[str, Any],
) -> _PanelArrays: ...

# -- printer dialects --------------------------------------------------------------------------

def evolis_encode_cards(
    cards: list[_FaceArrays],
    front: dict[str, Any],
    back: dict[str, Any],
    job: dict[str, Any],
) -> tuple[bytes, list[tuple[int, int]]]: ...
def evolis_encode_panels(
    front: tuple[Any, ...], back: tuple[Any, ...] | None, depth: int, job: dict[str, Any]
) -> bytes: ...
def evolis_job_part(
    part: str, job: dict[str, Any], station: str | None = None
) -> tuple[bytes, int]: ...
def evolis_decode(
    stream: bytes,
) -> tuple[
    list[tuple[int, str, list[str], bytes | None]],
    str | None,
    list[tuple[_PanelArrays, _PanelArrays | None, str | None, bool, int]],
]: ...
def evolis_parse_prefix(
    stream: bytes,
) -> tuple[list[tuple[int, str, list[str], bytes | None]], int]: ...
def magicard_encode_cards(
    cards: list[_FaceArrays],
    front: dict[str, Any],
    back: dict[str, Any],
    job: dict[str, Any],
) -> tuple[bytes, list[tuple[int, int]]]: ...

@final
class EncodedPart:
    """Encoded bytes in the core's memory; read them with ``memoryview(part)``."""

    def __len__(self) -> int: ...

def magicard_encode_parts(
    cards: list[_FaceArrays],
    front: dict[str, Any],
    back: dict[str, Any],
    job: dict[str, Any],
) -> tuple[list[EncodedPart], list[tuple[int, int]]]: ...
def magicard_encode_panels(
    front: tuple[Any, ...], back: tuple[Any, ...] | None, job: dict[str, Any]
) -> bytes: ...
def magicard_decode(
    stream: bytes,
) -> tuple[
    list[tuple[int, str, list[str], bytes | None]],
    str | None,
    list[tuple[_PanelArrays, _PanelArrays | None, str | None, bool, int]],
]: ...
def magicard_parse_prefix(
    stream: bytes,
) -> tuple[list[tuple[int, str, list[str], bytes | None]], int]: ...
def magicard_command(text: str) -> bytes: ...
def dialect_ribbon(
    dialect_name: str, ribbon: str
) -> tuple[tuple[bool, bool, bool], tuple[bool, bool, bool]]: ...
def dialect_condition(dialect_name: str, reply: str) -> str: ...
def dialect_status_query(dialect_name: str) -> tuple[bytes, int]: ...

# -- chip --------------------------------------------------------------------------------------

def tlv_encode(items: list[Any]) -> bytes: ...
def tlv_decode(data: bytes) -> list[Any]: ...
def apdu_encode(cla: int, ins: int, p1: int, p2: int, data: bytes, ne: int | None) -> bytes: ...
def apdu_parse(apdu: bytes) -> tuple[int, int, int, int, bytes, int | None]: ...
def status_meaning(sw: int) -> str: ...
def mrz_check_digit(field: str) -> int: ...
def perso_scripts(
    files: list[list[tuple[int, bytes]]],
    *,
    create: bool,
    write_chunk: int,
    read_chunk: int,
    sessions: list[SmSession] | None = None,
) -> list[tuple[list[bytes], list[bytes]]]: ...

class _KeyHolder:
    # Handles to key material refuse pickle and copies: these raise TypeError.
    def __copy__(self) -> NoReturn: ...
    def __deepcopy__(self, memo: Any) -> NoReturn: ...

@final
class MasterKey(_KeyHolder):
    def __new__(cls, key: bytes | bytearray | memoryview) -> Self: ...
    def chip_keys(self, algorithm: str, chip_uid: bytes) -> SmKeys: ...

@final
class SmKeys(_KeyHolder):
    def __new__(cls, algorithm: str, enc: bytes, mac: bytes) -> Self: ...
    @staticmethod
    def from_seed(algorithm: str, seed: bytes) -> SmKeys: ...
    @staticmethod
    def from_mrz(mrz_information: str) -> SmKeys: ...
    @property
    def algorithm(self) -> str: ...
    def authenticate(
        self, rnd_ic: bytes, rnd_ifd: bytes, k_ifd: bytes
    ) -> tuple[SmChallenge, bytes]: ...
    def answer(self, rnd_ic: bytes, k_ic: bytes, request: bytes) -> tuple[bytes, SmSession]: ...

@final
class SmChallenge(_KeyHolder):
    def finish(self, response: bytes) -> SmSession: ...

@final
class SmSession(_KeyHolder):
    def __new__(cls, keys: SmKeys, ssc: bytes) -> Self: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def ssc(self) -> bytes: ...
    def wrap(self, apdu: bytes) -> bytes: ...
    def wrap_script(self, apdus: list[bytes]) -> list[bytes]: ...
    def unwrap(self, apdu: bytes) -> tuple[bytes, int]: ...
    def unwrap_command(self, apdu: bytes) -> bytes: ...
    def wrap_response(self, data: bytes, sw: int) -> bytes: ...
    def close(self, reason: str | None = None) -> None: ...

@final
class KeyRing(_KeyHolder):
    def __new__(
        cls,
        root: bytes | bytearray | memoryview,
        data_keys: list[tuple[int, bytes | bytearray | memoryview]],
        current: int,
    ) -> Self: ...
    def bind(self, ledger: bytes, whole: bool) -> KeyRing: ...
    @property
    def bound(self) -> bool: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def current_key(self) -> int: ...
    @property
    def key_ids(self) -> list[int]: ...
    @property
    def verify_key(self) -> bytes: ...
    def blind(self, niks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]: ...
    def seal(self, plaintexts: list[bytes], aads: list[bytes]) -> list[bytes]: ...
    def open(self, sealed: list[bytes], aads: list[bytes]) -> list[bytes | None]: ...
    def chain(self, previous: bytes, payloads: list[bytes]) -> list[bytes]: ...
    def first_break(
        self, previous: bytes, payloads: list[bytes], stored: list[bytes]
    ) -> int | None: ...
    def sign(self, message: bytes) -> bytes: ...
