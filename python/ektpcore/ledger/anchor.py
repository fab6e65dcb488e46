"""Checkpoints of the ledger's chains, kept outside the database: the anchor.

A :class:`Checkpoint` names the head (sequence number and link) of every chain at one commit.
A ledger opened with ``anchor=`` hands one to the anchor after each committed transaction that
moved a chain (at most once every ``anchor_period`` seconds, and when it is closed); a sealed
ledger signs it (Ed25519, the key ring's checkpoint key), an open ledger does not.
:class:`FileAnchor` appends them to a file, one line each, flushed to disk before the
transaction returns; any callable taking a checkpoint is an anchor too (a line to a syslog
host, a row in another database).

Every ledger has an identity (:func:`identity`: a random number written once, in the audit
chain, when the ledger is made or migrated to schema 16), and every checkpoint carries it
(signed with the rest, in a sealed ledger). One anchor belongs to one ledger: a ledger
refuses to append to an anchor file holding another ledger's checkpoints, and ``verify``
names each line of another ledger instead of holding the chains to it. Lines written before
ledgers had an identity carry none and are taken as the ledger's own.

``ledger.verify(anchor=...)`` holds the chains to the checkpoints: a chain that ends before a
checkpoint lost committed rows (cut off, rolled back to an older copy, or a SQLite write-ahead
log lost with its writer), and a chain whose link at a checkpoint differs was rewritten up to
there. The anchor is only as good as its distance from the database: kept where whoever can
write the database cannot (another host, an append-only store), and, for an open ledger,
where nobody can write lines into it, since its checkpoints are not signed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import utc_stamp
from ..errors import AnchorError, LedgerError
from .store import Session

__all__ = ["Anchor", "Anchoring", "Checkpoint", "FileAnchor", "checkpoint_probes", "identity"]

_PREFIX = b"ektpcore checkpoint 1\n"


@dataclass(frozen=True)
class Checkpoint:
    """The heads of a ledger's chains at one commit: ``heads`` maps each chain's table to
    (sequence number, link); ``fingerprint`` names a sealed ledger's keys (``None`` when
    open), whose checkpoint key made ``signature`` over :meth:`message`; ``ledger`` is the
    ledger's identity (``None`` in lines written before ledgers had one)."""

    at: str
    heads: dict[str, tuple[int, bytes]]
    fingerprint: str | None = None
    signature: bytes | None = None
    ledger: str | None = None

    def _body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "at": self.at,
            "heads": {k: [seq, link.hex()] for k, (seq, link) in sorted(self.heads.items())},
            "keys": self.fingerprint,
        }
        if self.ledger is not None:  # absent, a line before identities is signed as it was
            body["ledger"] = self.ledger
        return body

    def message(self) -> bytes:
        """The bytes signed: everything but the signature, in one canonical form."""
        return _PREFIX + json.dumps(self._body(), sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        """The checkpoint as one line of text (JSON, no newline)."""
        body = self._body()
        body["signature"] = None if self.signature is None else self.signature.hex()
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str) -> Checkpoint:
        """The checkpoint :meth:`line` wrote; ``ValueError`` for anything else."""
        try:
            body = json.loads(line)
            heads = {
                str(k): (int(seq), bytes.fromhex(link)) for k, (seq, link) in body["heads"].items()
            }
            signature = body.get("signature")
            ledger = body.get("ledger")
            return cls(
                str(body["at"]),
                heads,
                None if body.get("keys") is None else str(body["keys"]),
                None if signature is None else bytes.fromhex(signature),
                None if ledger is None else str(ledger),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"not a checkpoint ({type(err).__name__})") from None


Anchor = Callable[[Checkpoint], None]
"""Anything that keeps a checkpoint: :class:`FileAnchor`, or a callable of your own."""


class FileAnchor:
    """An anchor file: each checkpoint appended as one line and flushed to disk (``fsync``)
    before the call returns; several processes of one ledger may append to one file (each
    line is one ``write`` to a file opened for appending). One file per ledger: a checkpoint
    is not appended after lines of another ledger (:meth:`claim`). Keep it on another disk or
    host than the ledger, where whoever can change the ledger cannot change it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._checked: tuple[str, int] | None = None  # (ledger, bytes of the file checked)

    def __repr__(self) -> str:
        return f"FileAnchor({str(self.path)!r})"

    def claim(self, ledger: str) -> None:
        """Refuses an anchor file holding checkpoints of a ledger other than ``ledger`` (an
        identity, see :func:`identity`). A ledger opened with this anchor calls it first, so
        nothing is changed that could not be anchored; each append checks what was appended
        since (another ledger's process writing to the same file).

        Raises:
            AnchorError: a line of the file is another ledger's checkpoint.
        """
        start = 0
        if self._checked is not None and self._checked[0] == ledger:
            start = self._checked[1]
        try:
            with self.path.open("rb") as f:
                if f.seek(0, os.SEEK_END) < start:
                    start = 0  # the file was replaced by a shorter one: read it all
                f.seek(start)
                data = f.read()
        except FileNotFoundError:
            self._checked = (ledger, 0)
            return
        except OSError as err:
            raise LedgerError(f"{self.path}: cannot read the anchor ({err.strerror})") from None
        whole = data.rfind(b"\n") + 1  # a line still being written is read next time
        # One pass over the bytes, not a parse of each line: a year's anchor is megabytes.
        others = set(_LEDGER_IN_LINE.findall(data, 0, whole)) - {ledger.encode()}
        if others:
            raise AnchorError(
                f"{self.path}: the anchor holds checkpoints of another ledger"
                f" ({min(others).decode(errors='replace')}; this one is {ledger}); give each"
                " ledger its own anchor file"
            )
        self._checked = (ledger, start + whole)

    def __call__(self, checkpoint: Checkpoint) -> None:
        data = (checkpoint.line() + "\n").encode()
        created = not self.path.exists()
        with self._lock:
            if checkpoint.ledger is not None:
                self.claim(checkpoint.ledger)
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as err:
                raise LedgerError(
                    f"{self.path}: cannot write the anchor ({err.strerror})"
                ) from None
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _sync_folder(self.path.parent)

    def last(self) -> Checkpoint | None:
        """The file's last checkpoint (read from its end: a year's anchor is megabytes)."""
        try:
            with self.path.open("rb") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(0, end - _TAIL))
                tail = f.read()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise LedgerError(f"{self.path}: cannot read the anchor ({err.strerror})") from None
        for raw in reversed(tail.split(b"\n")[1 if end > _TAIL else 0 : -1]):
            try:
                return Checkpoint.from_line(raw.decode())
            except (UnicodeDecodeError, ValueError):
                continue  # verify() names it; the checkpoint before it still holds
        return None

    def __iter__(self) -> Iterator[Checkpoint]:
        for _, item in self.lines():
            if isinstance(item, Checkpoint):
                yield item

    def lines(self) -> Iterator[tuple[int, Checkpoint | str]]:
        """Every line, numbered from 1: its checkpoint, or what is wrong with it. A last line
        without its newline (a write cut short) is left out."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as err:
            raise LedgerError(f"{self.path}: cannot read the anchor ({err.strerror})") from None
        pieces = text.split(b"\n")
        for number, raw in enumerate(pieces[:-1], start=1):
            try:
                yield number, Checkpoint.from_line(raw.decode())
            except (UnicodeDecodeError, ValueError) as err:
                yield number, str(err) if isinstance(err, ValueError) else "not text"


_TAIL = 1 << 16  # bytes read from an anchor's end for its last checkpoint


_LEDGER_IN_LINE = re.compile(rb'"ledger":"([^"]*)"')
"""A checkpoint line's ledger identity (its JSON is written compact, keys sorted)."""


def _sync_folder(folder: Path) -> None:
    """Makes a new file's name durable (its folder's entry), where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def heads(db: Session, chains: Iterable[Any]) -> dict[str, tuple[int, bytes]]:
    """Every chain's head (sequence number, link), as ``db`` sees them."""
    parts = [f"SELECT '{c.table}', seq, hash FROM {c.head} WHERE id = 1" for c in chains]
    return {str(t): (int(s), bytes(h)) for t, s, h in db.all(" UNION ALL ".join(parts))}


class Anchoring:
    """A ledger's side of its anchor: decides when a checkpoint is due, makes it (signed with
    ``ring`` when given, naming the ledger's identity ``ledger``) and hands it over. An
    anchor that can say whose checkpoints it holds (a :class:`FileAnchor`'s ``claim``) is
    asked first, so a ledger never appends to another ledger's anchor."""

    def __init__(
        self, anchor: Anchor, period: float, ring: Any = None, ledger: str | None = None
    ) -> None:
        if period < 0:
            raise ValueError("anchor_period is a number of seconds, 0 or more")
        self.anchor = anchor
        self.period = period
        self.ring = ring
        self.ledger = ledger
        claim = getattr(anchor, "claim", None)
        if ledger is not None and callable(claim):
            claim(ledger)
        self._last: dict[str, tuple[int, bytes]] | None = None
        self._when = float("-inf")

    def due(self) -> bool:
        return time.monotonic() - self._when >= self.period

    def write(
        self,
        current: dict[str, tuple[int, bytes]],
        link_at: Callable[[str, int], set[bytes]] | None = None,
    ) -> None:
        """Hands the checkpoint of ``current`` to the anchor, unless it is the last one
        written. An anchor that can say its last checkpoint (:meth:`FileAnchor.last`) is
        held to it first: the ledger must still hold each chain's row there with that link
        (among ``link_at(chain, row)``), or it was rolled back to an older copy or cut, and signing
        its heads would make the anchor vouch for what it exists to catch (AnchorError,
        nothing appended). A checkpoint no newer than the last (another process of the
        ledger anchored a later commit first) is not appended."""
        if current == self._last:
            return
        last = getattr(self.anchor, "last", None)
        before = last() if callable(last) and link_at is not None else None
        if before is not None and link_at is not None:
            for table, (seq, link) in sorted(before.heads.items()):
                if seq and link not in link_at(table, seq):
                    raise AnchorError(
                        f"{getattr(self.anchor, 'path', 'the anchor')}: the ledger's"
                        f" {table.replace('_', ' ')} chain does not hold the row its anchor's"
                        f" last checkpoint names (row {seq}): the ledger was rolled back to an"
                        " older copy or cut; nothing was anchored (ledger verify --anchor"
                        " names what is missing)"
                    )
            if all(current.get(t, (0, b""))[0] <= s for t, (s, _) in before.heads.items()):
                self._last = current
                return
        fingerprint = None if self.ring is None else str(self.ring.fingerprint)
        checkpoint = Checkpoint(utc_stamp(), current, fingerprint, None, self.ledger)
        if self.ring is not None:
            signature = bytes(self.ring.sign(checkpoint.message()))
            checkpoint = Checkpoint(checkpoint.at, current, fingerprint, signature, self.ledger)
        self.anchor(checkpoint)
        self._last = current
        self._when = time.monotonic()


def _numbered(anchor: Iterable[Checkpoint]) -> Iterator[tuple[str, Checkpoint | str]]:
    lines = getattr(anchor, "lines", None)
    if callable(lines):
        for number, item in lines():
            yield f"line {number}", item
        return
    for number, item in enumerate(anchor, start=1):
        yield f"checkpoint {number}", item


def checkpoint_probes(
    anchor: Iterable[Checkpoint], ring: Any = None, ledger: str | None = None
) -> tuple[dict[str, dict[int, list[tuple[bytes, str]]]], list[Any]]:
    """The links the anchor saw, by chain and sequence number (with where it saw each), and
    findings about the anchor itself: lines that are not checkpoints, checkpoints of a ledger
    other than ``ledger`` (this one's identity), and, given a sealed ledger's ``ring``,
    checkpoints whose signature does not verify with its checkpoint key (those are not
    used)."""
    from .chain import Finding

    probes: dict[str, dict[int, list[tuple[bytes, str]]]] = {}
    found: list[Finding] = []
    verify_key = None if ring is None else bytes(ring.verify_key)
    for where, item in _numbered(anchor):
        if not isinstance(item, Checkpoint):
            found.append(Finding("anchor", where, f"the anchor's {where} is {item}"))
            continue
        if ledger is not None and item.ledger is not None and item.ledger != ledger:
            found.append(
                Finding(
                    "anchor",
                    where,
                    f"the anchor's {where} is a checkpoint of another ledger ({item.ledger};"
                    f" this one is {ledger}): one anchor file per ledger",
                )
            )
            continue
        if verify_key is not None and not _signed(item, verify_key):
            found.append(
                Finding(
                    "anchor",
                    where,
                    f"the signature of the anchor's {where} does not verify with the ledger's"
                    " keys: the anchor was edited",
                )
            )
            continue
        for table, (seq, link) in item.heads.items():
            seen = probes.setdefault(table, {}).setdefault(seq, [])
            if all(link != known for known, _ in seen):
                seen.append((link, f"the anchor's {where} ({item.at})"))
    return probes, found


def _signed(checkpoint: Checkpoint, verify_key: bytes) -> bool:
    if checkpoint.signature is None:
        return False
    from ..keys import verify_signature  # type: ignore[import-not-found, unused-ignore]

    return bool(verify_signature(verify_key, checkpoint.message(), checkpoint.signature))


# -- the ledger's identity -----------------------------------------------------------------

_IDENTIFIED = "ledger identified"
_IDENTITY = re.compile(r"^ledger ([0-9a-f]{32})(?:;|$)")


def identify(db: Session, from_version: int) -> None:
    """Gives the ledger its identity (schema 16): a random 128-bit number, written once, as a
    row of the audit chain, so that it cannot be changed without breaking the chain; a
    migrated ledger's row says so."""
    from . import users

    since = "a new ledger" if from_version == 0 else f"schema {from_version} migrated to 16"
    users.audit(
        db, utc_stamp(), users.SYSTEM, _IDENTIFIED, None, f"ledger {secrets.token_hex(16)}; {since}"
    )


def identities(db: Session) -> list[tuple[int, str | None]]:
    """Every identity row of the audit: (audit row, identity; ``None`` where unreadable)."""
    rows = db.all("SELECT seq, detail FROM audit WHERE event = ? ORDER BY seq", (_IDENTIFIED,))
    out: list[tuple[int, str | None]] = []
    for seq, detail in rows:
        found = _IDENTITY.match(str(detail or ""))
        out.append((int(seq), None if found is None else found[1]))
    return out


def identity(db: Session) -> str | None:
    """The ledger's identity (32 hex digits): what its checkpoints carry; ``None`` for a
    ledger whose audit holds none (damaged, or edited)."""
    found = identities(db)
    return found[0][1] if found else None


def identity_findings(db: Session) -> list[Any]:
    """What is wrong with the ledger's identity: none in the audit, one that cannot be read,
    or more than one (the identity is written once)."""
    from .chain import Finding

    found = identities(db)
    if not found:
        return [Finding("audit", "-", "the audit holds no identity of the ledger")]
    out = [
        Finding("audit", str(seq), f"audit row {seq}: the ledger's identity is unreadable", seq)
        for seq, value in found
        if value is None
    ]
    out += [
        Finding("audit", str(seq), f"audit row {seq} gives the ledger a second identity", seq)
        for seq, _ in found[1:]
    ]
    return out
