"""Files that hold citizens' data in clear (a berita acara, a manifest, a report, an export,
a plan of the ledger's records): written only as new files of mode 0600.

One way to make them, so that none is readable by the office's other accounts (whatever the
umask), none is written over (yesterday's berita acara replaced by today's, or a file someone
else prepared and can still read), and none is written through a symbolic link planted where
the file is expected (the data would land wherever the link points, with that file's mode).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["EXISTS", "new_private", "spreadsheet_cell", "write_private"]

_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

EXISTS = "exists (a file or a symbolic link); citizens' data is written only to a new file"
"""What an existing path is refused with."""


@contextlib.contextmanager
def new_private(path: str | os.PathLike[str], *, binary: bool = False) -> Iterator[IO[Any]]:
    """A new file at ``path``, mode 0600, opened for writing (text as UTF-8, or ``binary``).
    An existing file, or a symbolic link (even one that points nowhere), is refused with
    :class:`FileExistsError` naming the path, and nothing is written. A write that fails
    removes the file it began, so no half file of personal data is left behind."""
    target = os.fspath(path)
    try:
        fd = os.open(target, _FLAGS, 0o600)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, EXISTS, target) from None
    try:
        if binary:
            with os.fdopen(fd, "wb") as f:
                yield f
        else:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                yield f
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise


def write_private(path: str | os.PathLike[str], data: bytes | str) -> None:
    """``data`` written to a new file of mode 0600 (see :func:`new_private`)."""
    with new_private(path, binary=isinstance(data, bytes)) as f:
        f.write(data)


def spreadsheet_cell(value: Any) -> Any:
    """A CSV cell as a spreadsheet will take it: text that a spreadsheet would run as a
    formula (a name, an address or a cause typed or imported as ``=HYPERLINK(...)``, ``+``,
    ``-``, ``@``, or after a tab or carriage return) starts with an apostrophe instead, which
    spreadsheets show as text. Such a cell, opened by a clerk, could otherwise send the row's
    NIK to an address on a click, or run a command through an old link to another program.
    Anything else is returned as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
