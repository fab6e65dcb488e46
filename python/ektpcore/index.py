"""The issued-NIK index: the set of NIKs that already have a card, or one in progress.

A print bureau checks every new batch against it before a blank card is spent. It is a sorted
``int64`` column, persisted to one file that is written atomically. :meth:`NikIndex.load` reads
the file into memory and verifies that copy, so the file can be shared: replaced, rewritten,
truncated or removed by anyone after a load, it changes nothing in the loaded index (which
answers as the file was when loaded) and cannot crash the process. The cost is memory: 8 bytes
a NIK, 800 MB for 100,000,000 (see ``docs/dedup.md``).

File layout (little-endian)::

    0   8  magic  b"EKTPNIX\\0"
    8   4  format version (1)
    12  4  flags (0)
    16  8  number of NIKs
    24  8  checksum of the payload (XXH3-64 over 1 MiB blocks, see rust/dedup/index.rs)
    32  32 reserved, zero
    64  .. the NIKs, sorted ascending, int64 each
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _ektpcore
from .errors import IndexFileError
from .nik import Nik, parse_niks

__all__ = ["IndexFileError", "NikIndex"]

_MAGIC = b"EKTPNIX\0"
_VERSION = 1
_HEADER = struct.Struct("<8sIIQQ32x")
assert _HEADER.size == 64


class NikIndex:
    """A sorted set of NIKs with vectorised membership, insertion and removal.

    Every bulk method takes anything :func:`~ektpcore.parse_niks` accepts; invalid NIKs are never
    members and are never added. An index loaded from a file is read-only underneath: changes
    build a new column in memory, and the file changes only when :meth:`save` replaces it.
    """

    __slots__ = ("_values",)

    def __init__(self, niks: Any = None) -> None:
        if niks is None:
            self._values = np.zeros(0, dtype=np.int64)
        else:
            self._values = _ektpcore.index_sorted_unique(parse_niks(niks).values)

    @staticmethod
    def _keys(niks: Any) -> npt.NDArray[np.int64]:
        if isinstance(niks, NikIndex):
            return niks._values
        return np.ascontiguousarray(parse_niks(niks).values)

    def _replace(self, values: npt.NDArray[np.int64]) -> None:
        self._values = values

    # -- queries -----------------------------------------------------------------------------
    @property
    def values(self) -> npt.NDArray[np.int64]:
        """The NIKs, sorted, as a read-only ``int64`` array."""
        view = self._values.view()
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Nik]:
        for v in self._values.tolist():
            yield Nik.from_int(v)

    def __contains__(self, nik: object) -> bool:
        if not isinstance(nik, (Nik, str, bytes, int)):
            return False
        return bool(self.contains([nik])[0])

    def __repr__(self) -> str:
        return f"NikIndex({len(self):,} NIKs)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NikIndex) and np.array_equal(self._values, other._values)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def contains(self, niks: Any) -> npt.NDArray[np.bool_]:
        """For each NIK, whether the index holds it (``False`` for invalid NIKs)."""
        return _ektpcore.index_contains(self._values, self._keys(niks))

    # -- changes -----------------------------------------------------------------------------
    def add(self, niks: Any) -> npt.NDArray[np.bool_]:
        """Adds the NIKs; returns, per element, whether it was new (not in the index before and
        not earlier in the same call)."""
        keys = self._keys(niks)
        _, first, _ = _ektpcore.first_occurrences(keys, 10**16)
        new = first & ~_ektpcore.index_contains(self._values, keys)
        if new.any():
            added = _ektpcore.index_sorted_unique(np.ascontiguousarray(keys[new]))
            self._replace(_ektpcore.index_union(self._values, added))
        return new

    def discard(self, niks: Any) -> npt.NDArray[np.bool_]:
        """Removes the NIKs; returns, per element, whether it was in the index."""
        keys = self._keys(niks)
        present = _ektpcore.index_contains(self._values, keys)
        if present.any():
            gone = _ektpcore.index_sorted_unique(np.ascontiguousarray(keys[present]))
            self._replace(_ektpcore.index_difference(self._values, gone))
        return present

    def union(self, other: NikIndex | Any) -> NikIndex:
        """A new index holding the NIKs of both."""
        theirs = other if isinstance(other, NikIndex) else NikIndex(other)
        out = NikIndex()
        out._values = _ektpcore.index_union(self._values, theirs._values)
        return out

    __or__ = union

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the index to ``path`` atomically: a temporary file in the same directory is
        written, flushed to disk, then renamed over ``path``. A crash leaves either the old
        file or the new one, never a mix."""
        target = Path(path)
        header = _HEADER.pack(
            _MAGIC, _VERSION, 0, len(self._values), _ektpcore.index_checksum(self._values)
        )
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(np.ascontiguousarray(self._values, dtype="<i8").data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NikIndex:
        """Reads an index file into memory and verifies the copy (header, size, checksum,
        order) before it is used.

        The loaded index is the process's own: whatever happens to the file afterwards (saved
        over, copied over, rewritten in place, truncated, removed), it answers as the file was
        when it was read. A file that changes while it is being read is refused.

        Raises:
            IndexFileError: naming what is wrong (not an index, unknown version, truncated,
                trailing bytes, checksum mismatch, out of order, changed while being read).
        """
        name = os.fspath(path)
        with open(name, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            header = os.pread(f.fileno(), _HEADER.size, 0)
            if len(header) < _HEADER.size:
                raise IndexFileError(f"{name}: truncated: {size} bytes, shorter than the header")
            magic, version, _flags, count, checksum = _HEADER.unpack(header)
            if magic != _MAGIC:
                raise IndexFileError(f"{name}: not an ektpcore NIK index (bad magic)")
            if version != _VERSION:
                raise IndexFileError(f"{name}: format version {version} is not supported")
            expected = _HEADER.size + 8 * count
            if size < expected:
                raise IndexFileError(f"{name}: truncated: {size} bytes of the {expected} expected")
            if size > expected:
                raise IndexFileError(f"{name}: {size - expected} unexpected bytes after the index")
            # The size was checked against the file, so a damaged count cannot ask for more
            # memory than the file holds. The payload is read into this process's memory,
            # each block verified as it comes in.
            read = _ektpcore.index_read(f.fileno(), _HEADER.size, count)
            if read is None or os.pread(f.fileno(), 1, expected):
                raise IndexFileError(f"{name}: the file changed while it was being read")
            values, payload_checksum, increasing = read
        if payload_checksum != checksum:
            raise IndexFileError(f"{name}: checksum mismatch: the file is corrupted")
        if not increasing:
            raise IndexFileError(f"{name}: NIKs out of order: the file was not written by save()")
        values.flags.writeable = False
        out = cls()
        out._values = values
        return out
