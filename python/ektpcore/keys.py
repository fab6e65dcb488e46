"""The ledger's keys: who holds them and how a sealed ledger gets them.

A sealed ledger (``Ledger(path, keys=...)``) encrypts citizens' personal data, finds records
by NIK through a keyed blind index, chains its history with a keyed MAC and signs the
checkpoints it anchors outside the database. Every key for that lives in one
:class:`~ektpcore._ektpcore.KeyRing` of the Rust core, which does the work and never hands a
key out; a :class:`LedgerKeys` provider builds it:

- :class:`KeyFile` — a key file of the bureau's, readable by its owner only (mode 0600: any
  group or other permission is refused), one root secret and one or more data keys by id.
  ``KeyFile.create(path)`` makes one; :meth:`KeyFile.rotate` adds a data key that new values
  are sealed with (the ledger re-encrypts old ones in the background, see
  :meth:`~ektpcore.Ledger.rotate_keys`). With ``unwrap=`` the file holds the secrets wrapped
  by a KMS or an HSM, and each is unwrapped through that call when the file is read
  (envelope encryption: the key that wraps them never leaves its device).
- :class:`EnvironmentKeys` — one secret in an environment variable, for development and tests.

Providers, like every holder of key material in ektpcore, refuse ``pickle`` and copies, and
show no key in ``repr``, ``vars`` or errors (``docs/security.md``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from ._ektpcore import KeyRing, verify_signature
from .chip.keys import KeyHolder
from .errors import InvalidArgumentError, LedgerKeyError

__all__ = ["EnvironmentKeys", "KeyFile", "KeyRing", "LedgerKeys", "verify_signature"]

_MAGIC = "ektpcore ledger keys 1"
_HEADER = (
    "# The keys of an ektpcore ledger: whoever holds this file can read its citizens' data.\n"
    "# Keep it readable by its owner only (mode 0600) and a copy offline; never in the\n"
    "# ledger's folder or backups.\n"
)
_IDENTITY = re.compile(r"[0-9a-f]{32}")
"""A ledger's identity, as a key file lists the ledgers it serves."""
Unwrap = Callable[[bytes], bytes]
"""Turns a wrapped secret from a key file into the 32-byte secret (a KMS or HSM call)."""


class LedgerKeys(KeyHolder):
    """What a sealed ledger asks its keys of: a :class:`~ektpcore._ektpcore.KeyRing`.

    A provider for a KMS or an HSM derives from this and builds the ring from secrets it
    unwraps there (or uses :class:`KeyFile` with ``unwrap=``)."""

    __slots__ = ()

    def key_ring(self) -> KeyRing:
        raise NotImplementedError

    def serve(self, ledger: str, *, shared: bool = False) -> None:
        """Called before these keys seal the ledger whose identity is ``ledger``. A provider
        that keeps a list of the ledgers it serves (:class:`KeyFile`) refuses a second ledger
        unless ``shared``, and adds it to the list; this one keeps none."""


def _b64(value: str, what: str, path: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LedgerKeyError(f"{path}: {what} is not base64") from None


def _check_private(path: Path) -> os.stat_result:
    """Refuses a key file others can read or write, that another user owns, that is a
    symbolic link (it could be pointed elsewhere) or sits in a folder others may write to
    (they could replace it); returns its status."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise LedgerKeyError(f"{path}: no such key file") from None
    except OSError as err:
        raise LedgerKeyError(f"{path}: cannot read the key file ({err.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise LedgerKeyError(f"{path}: a key file is not a symbolic link; name the file itself")
    if not stat.S_ISREG(info.st_mode):
        raise LedgerKeyError(f"{path}: a key file is a regular file")
    if info.st_mode & 0o077:
        raise LedgerKeyError(
            f"{path}: the key file is open to others (mode {stat.S_IMODE(info.st_mode):04o});"
            f" make it private with: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise LedgerKeyError(f"{path}: the key file belongs to another user")
    folder = path.absolute().parent.stat()
    if folder.st_mode & 0o002 and not folder.st_mode & stat.S_ISVTX:
        raise LedgerKeyError(f"{path}: the key file's folder is open to everyone's writes")
    return info


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    """Writes ``text`` to a new file of mode 0600 (never readable by others, even for an
    instant), durably; with ``replace`` through a temporary file renamed over ``path``."""
    target = path.with_name(path.name + ".new") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise LedgerKeyError(f"{target}: already exists; it is not overwritten") from None
    except OSError as err:
        raise LedgerKeyError(f"{target}: cannot create the key file ({err.strerror})") from None
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if replace:
        os.replace(target, path)


class KeyFile(LedgerKeys):
    """A ledger's keys from a private file (see the module's documentation).

    Raises:
        LedgerKeyError: the file is missing, open to others, owned by another user, or not a
            key file; or ``unwrap`` failed.
    """

    __slots__ = ("_path", "_ring", "_seen", "_unwrap")

    def __init__(self, path: str | os.PathLike[str], *, unwrap: Unwrap | None = None) -> None:
        self._path = Path(path)
        self._unwrap = unwrap
        self._seen: tuple[int, int, int] | None = None
        self._ring = self._read()

    def __repr__(self) -> str:
        return f"KeyFile({str(self._path)!r}, fingerprint={self._ring.fingerprint!r})"

    @property
    def path(self) -> Path:
        return self._path

    def key_ring(self) -> KeyRing:
        """The keys, read again when the file changed since (a rotation by another process:
        this one then opens values sealed under the new key and seals with it too)."""
        try:
            info = self._path.stat()
        except OSError:
            return self._ring  # the file went away: the keys already read still hold
        if (info.st_ino, info.st_mtime_ns, info.st_size) != self._seen:
            self._ring = self._read()
        return self._ring

    def _secret(self, value: str, what: str) -> bytearray:
        raw = _b64(value, what, str(self._path))
        if self._unwrap is not None:
            try:
                raw = self._unwrap(raw)
            except Exception as err:
                raise LedgerKeyError(
                    f"{self._path}: {what} could not be unwrapped ({type(err).__name__})"
                ) from None
        return bytearray(raw)

    def _read(self) -> KeyRing:
        info = _check_private(self._path)
        self._seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        try:
            text = self._path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            raise LedgerKeyError(f"{self._path}: not an ektpcore key file") from None
        lines = [ln.split() for ln in text.splitlines() if ln.strip() and ln[0] != "#"]
        if not lines or " ".join(lines[0]) != _MAGIC:
            raise LedgerKeyError(f"{self._path}: not an ektpcore key file")
        root: bytearray | None = None
        data: list[tuple[int, bytearray]] = []
        current: int | None = None
        try:
            for number, words in enumerate(lines[1:], start=2):
                match words:
                    case ["root", value] if root is None:
                        root = self._secret(value, "the root key")
                    case ["data", key_id, value] if key_id.isdigit():
                        data.append((int(key_id), self._secret(value, f"data key {key_id}")))
                    case ["current", key_id] if key_id.isdigit():
                        current = int(key_id)
                    case ["ledger", identity] if _IDENTITY.fullmatch(identity):
                        pass  # a ledger the file serves (see serve())
                    case _:
                        raise LedgerKeyError(f"{self._path}: line {number} is not understood")
            if root is None or not data or current is None:
                raise LedgerKeyError(f"{self._path}: a key file has a root, data keys and current")
            try:
                return KeyRing(root, list(data), current)
            except InvalidArgumentError as err:
                raise LedgerKeyError(f"{self._path}: {err}") from None
        finally:
            for secret in [root, *(d for _, d in data)]:
                if secret is not None:
                    secret[:] = bytes(len(secret))

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        wrap: Callable[[bytes], bytes] | None = None,
        unwrap: Unwrap | None = None,
    ) -> KeyFile:
        """Makes a new key file (mode 0600; an existing file is never overwritten) with a
        fresh root secret and data key 1, and opens it. ``wrap`` and ``unwrap`` (a KMS's or an
        HSM's pair) keep the secrets wrapped in the file."""
        seal = wrap or (lambda secret: secret)
        text = (
            f"{_HEADER}{_MAGIC}\nroot {base64.b64encode(seal(secrets.token_bytes(32))).decode()}\n"
            f"data 1 {base64.b64encode(seal(secrets.token_bytes(32))).decode()}\ncurrent 1\n"
        )
        _write_private(Path(path), text, replace=False)
        return cls(path, unwrap=unwrap)

    def served(self) -> list[str]:
        """The identities of the ledgers this file's keys sealed, as the file lists them (a
        ledger sealed before key files kept the list is not among them)."""
        _check_private(self._path)
        words = (ln.split() for ln in self._path.read_text(encoding="ascii").splitlines())
        return [w[1] for w in words if len(w) == 2 and w[0] == "ledger"]

    def serve(self, ledger: str, *, shared: bool = False) -> None:
        """Adds ``ledger`` (an identity) to the ledgers this file serves; refused when it
        serves another one already, unless ``shared``: one key file per ledger keeps a file
        lost or leaked to one ledger's worth of data, and each ledger's working keys are
        derived from the file and its identity either way (a value copied between two
        ledgers of one file does not open)."""
        if not _IDENTITY.fullmatch(ledger):
            raise InvalidArgumentError("a ledger's identity is 32 hexadecimal digits")
        served = self.served()
        if ledger in served:
            return
        if served and not shared:
            raise LedgerKeyError(
                f"{self._path}: this key file already serves ledger {served[0]}; give each"
                " ledger its own key file, or share it explicitly (shared_keys=True, or"
                " --shared-keys)"
            )
        lines = self._path.read_text(encoding="ascii").splitlines()
        _write_private(self._path, "\n".join([*lines, f"ledger {ledger}"]) + "\n", replace=True)
        self._ring = self._read()

    def rotate(self, *, wrap: Callable[[bytes], bytes] | None = None) -> int:
        """Adds a new data key to the file and makes it the one new values are sealed with;
        returns its id. Older data keys stay in the file until every value sealed with them
        has been re-encrypted (:meth:`~ektpcore.Ledger.rotate_keys`), then
        :meth:`retire` removes them."""
        _check_private(self._path)
        lines = self._path.read_text(encoding="ascii").splitlines()
        self._ring = self._read()
        new_id = max(self._ring.key_ids) + 1
        seal = wrap or (lambda secret: secret)
        kept = [ln for ln in lines if not ln.startswith("current ")]
        kept.append(f"data {new_id} {base64.b64encode(seal(secrets.token_bytes(32))).decode()}")
        kept.append(f"current {new_id}")
        _write_private(self._path, "\n".join(kept) + "\n", replace=True)
        self._ring = self._read()
        return new_id

    def retire(self, key_id: int) -> None:
        """Removes an old data key from the file. Call it through
        :meth:`~ektpcore.Ledger.retire_key`, which first checks that no value in the ledger
        is sealed with it."""
        if key_id == self._ring.current_key:
            raise LedgerKeyError(f"{self._path}: data key {key_id} is the current one")
        _check_private(self._path)
        lines = self._path.read_text(encoding="ascii").splitlines()
        kept = [ln for ln in lines if ln.split()[:2] != ["data", str(key_id)]]
        _write_private(self._path, "\n".join(kept) + "\n", replace=True)
        self._ring = self._read()


class EnvironmentKeys(LedgerKeys):
    """A ledger's keys from one secret in an environment variable (base64 of 32 bytes), for
    development and tests; the root and data key 1 are derived from it. A bureau uses a
    :class:`KeyFile` (or a KMS) instead: an environment is seen by every child process and
    often by crash reports."""

    __slots__ = ("_ring", "_variable")

    def __init__(self, variable: str = "EKTPCORE_LEDGER_KEY") -> None:
        self._variable = variable
        value = os.environ.get(variable)
        if not value:
            raise LedgerKeyError(f"no ledger key in the environment variable {variable}")
        secret = bytearray(_b64(value.strip(), "the key", f"${variable}"))
        if len(secret) != 32:
            raise LedgerKeyError(f"${variable}: a ledger key is 32 bytes (base64 of them)")
        root = bytearray(hmac.digest(secret, b"root", hashlib.sha256))
        data = bytearray(hmac.digest(secret, b"data 1", hashlib.sha256))
        try:
            self._ring = KeyRing(root, [(1, data)], 1)
        finally:
            for buffer in (secret, root, data):
                buffer[:] = bytes(len(buffer))

    def __repr__(self) -> str:
        return f"EnvironmentKeys({self._variable!r}, fingerprint={self._ring.fingerprint!r})"

    def key_ring(self) -> KeyRing:
        return self._ring

    @staticmethod
    def generate() -> str:
        """A new secret to put in the variable."""
        return base64.b64encode(secrets.token_bytes(32)).decode()
