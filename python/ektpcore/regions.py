"""Kemendagri region tables loaded at run time.

A NIK carries the province, kabupaten/kota (regency) and kecamatan (district) codes of the
place it was first issued. Those codes change with every Kepmendagri revision, so ektpcore
ships only the 38 province names and loads the rest from a table the user provides, such as
the Kemendagri list (``code,name``, codes dotted ``32.71.01`` or plain ``327101``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from . import _ektpcore
from .errors import InvalidArgumentError
from .nik import Nik

__all__ = ["RegionNames", "RegionTable"]

_PROVINCES: dict[int, str] = dict(_ektpcore.provinces())
_RETIRED: dict[int, tuple[str, int]] = {
    old: (name, new) for old, name, new in _ektpcore.retired_papua_regencies()
}


def _digits(code: str) -> str | None:
    digits = code.strip().replace(".", "")
    return digits if digits.isascii() and digits.isdigit() else None


@dataclass(frozen=True)
class RegionNames:
    """The names behind a NIK's region code. ``historical`` marks a regency the 2022 Papua
    split retired: its kecamatan was renumbered, so ``district`` is ``None``."""

    province: str | None
    regency: str | None
    district: str | None
    historical: bool = False


class RegionTable:
    """A mapping from digit-only region codes to names, and the lookup NIK checks use.

    Pass it as ``regions=`` to :meth:`Nik.parse` or :func:`parse_niks` to reject region codes
    the table does not know (``NikErrorCode.REGION_UNKNOWN``). Regencies retired by the 2022
    Papua split (91.01, 91.02, ... now in provinces 93-96) stay accepted, because a NIK never
    changes after issue.
    """

    def __init__(self, names: Mapping[str, str]) -> None:
        cleaned: dict[str, str] = {}
        for code, name in names.items():
            digits = _digits(code)
            if digits is None or len(digits) < 2:
                raise InvalidArgumentError(f"region code {code!r} is not a digit code")
            cleaned[digits] = name
        self._names = cleaned

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], *, encoding: str = "utf-8") -> RegionTable:
        """Loads a ``code,name[,...]`` CSV. A header row is recognised by its first cell not
        being a code; columns named ``code``/``kode`` and ``name``/``nama`` are then used."""
        with open(path, newline="", encoding=encoding) as f:
            rows = csv.reader(f)
            first = next(rows, None)
            if first is None:
                raise InvalidArgumentError(f"{os.fspath(path)}: the region table is empty")
            code_col, name_col = 0, 1
            body: Iterable[list[str]] = rows
            if first and _digits(first[0]) is None:
                header = [h.strip().lower() for h in first]
                code_col = next((i for i, h in enumerate(header) if h in ("code", "kode")), 0)
                name_col = next((i for i, h in enumerate(header) if h in ("name", "nama")), 1)
            else:
                body = [first, *rows]
            names: dict[str, str] = {}
            for line, row in enumerate(body, start=2 if body is rows else 1):
                if not row:
                    continue
                if len(row) <= max(code_col, name_col):
                    raise InvalidArgumentError(f"{os.fspath(path)}:{line}: expected code and name")
                digits = _digits(row[code_col])
                if digits is None:
                    raise InvalidArgumentError(
                        f"{os.fspath(path)}:{line}: {row[code_col]!r} is not a region code"
                    )
                names[digits] = row[name_col].strip()
        return cls(names)

    @cached_property
    def _region_set(self) -> _ektpcore.RegionSet:
        return _ektpcore.RegionSet(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, (str, int)) and self._key(code) in self._names

    def __repr__(self) -> str:
        return f"RegionTable({len(self)} codes)"

    @staticmethod
    def _key(code: str | int) -> str | None:
        if isinstance(code, int):
            text = str(code)
            # Integer codes lose nothing: every province code has two digits (11-96).
            return text
        return _digits(code)

    def name(self, code: str | int) -> str | None:
        """The name of a code (``'32.71'``, ``'3271'`` or ``3271``), or ``None``."""
        key = self._key(code)
        if key is None:
            return None
        if key in self._names:
            return self._names[key]
        if len(key) == 2 and int(key) in _PROVINCES:
            return _PROVINCES[int(key)]
        return None

    def children(self, code: str | int) -> list[tuple[str, str]]:
        """The regions one level below ``code`` as ``(code, name)`` in code order: the
        regencies of a province, the kecamatan of a regency (``'32.71'``), the kelurahan and
        desa of a kecamatan (``'32.71.01'``). Codes come back digit-only."""
        key = self._key(code)
        width = {2: 4, 4: 6, 6: 10}.get(len(key or ""))
        if key is None or width is None:
            raise InvalidArgumentError(f"{code!r} is not a province, regency or kecamatan code")
        return sorted(
            (c, name) for c, name in self._names.items() if len(c) == width and c.startswith(key)
        )

    def names(self, nik: Nik | str | int) -> RegionNames:
        """Province, regency and kecamatan names of a NIK's region code."""
        if not isinstance(nik, Nik):
            nik = Nik(nik)
        code = nik.region_code
        regency = code // 100
        province = self.name(code // 10_000)
        if self._region_set.lookup(code) == 2 and f"{code}" not in self._names:
            old_name, new = _RETIRED[regency]
            moved = f"{new // 100}.{new % 100:02d}"
            return RegionNames(province, f"{old_name} (before 2022; now {moved})", None, True)
        return RegionNames(province, self.name(regency), self.name(code))
