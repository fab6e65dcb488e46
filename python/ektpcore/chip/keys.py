"""Keys: the interface a key store implements, and a software store for development.

A chip is opened by a challenge-response (9303-11 §9.7.2): the chip sends a challenge, the
terminal answers with a cryptogram made with the chip's access keys, the chip answers with
its own, and both derive the session keys. Who holds the access keys is the
:class:`KeyProvider`'s business. In an issuing office it is a SAM or an HSM that computes the
cryptograms and hands back only a session; :class:`SoftwareKeyProvider` does the same in
software, from a master key, for tests and development.

Key material never appears in a ``repr``, a log line or an error message, nor as a Python
``bytes`` attribute: keys and sessions are opaque handles of the Rust core (:class:`SmKeys`,
:class:`SmSession`, the master key of :class:`SoftwareKeyProvider`) with no getter for their
bytes, wiped when they are dropped, and whose ``repr`` shows the algorithm and state only.
Every object that holds key material refuses ``pickle``, ``copy.copy`` and ``copy.deepcopy``
with a :class:`TypeError` (see ``docs/security.md``).
"""

from __future__ import annotations

import secrets
from typing import Any, NoReturn, Protocol, SupportsIndex, runtime_checkable

from .._ektpcore import MasterKey, SmChallenge, SmKeys, SmSession
from ..errors import InvalidArgumentError

__all__ = [
    "ALGORITHMS",
    "Authentication",
    "KeyHolder",
    "KeyProvider",
    "SmKeys",
    "SmSession",
    "SoftwareKeyProvider",
]

ALGORITHMS = ("3des", "aes128", "aes192", "aes256")


class KeyHolder:
    """A base for objects that hold key material, or handles to it: they cannot be pickled
    or copied, so a key never leaves the process in a pickle (a queue to a worker, a cache, a
    crash dump of a session's state) nor is duplicated behind its owner's back. A worker that
    needs keys builds its own provider from the configuration."""

    __slots__ = ()

    def _refuse(self) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} holds key material: it cannot be pickled or copied (keep it "
            "in the process that made it and share the key provider's configuration instead)"
        )

    def __reduce__(self) -> NoReturn:
        self._refuse()

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        self._refuse()

    def __getstate__(self) -> NoReturn:
        self._refuse()

    def __copy__(self) -> NoReturn:
        self._refuse()

    def __deepcopy__(self, memo: dict[int, Any]) -> NoReturn:
        self._refuse()


@runtime_checkable
class Authentication(Protocol):
    """One mutual authentication in progress."""

    #: The EXTERNAL AUTHENTICATE data to send to the chip.
    request: bytes

    def finish(self, response: bytes) -> SmSession:
        """Checks the chip's answer and returns the open session; raises
        :class:`~ektpcore.errors.SecureMessagingError` if the chip is not the one the keys
        belong to."""
        ...


@runtime_checkable
class KeyProvider(Protocol):
    """Where a chip's access keys live. A SAM- or HSM-backed provider implements
    :meth:`authenticate` by sending the chip's UID and challenge to the SAM and getting the
    cryptogram and, after the chip's answer, the session keys (see ``docs/chip.md``)."""

    algorithm: str

    def authenticate(self, chip_uid: bytes, challenge: bytes) -> Authentication: ...


class _Pending(KeyHolder):
    """An :class:`Authentication` over keys held in this process."""

    def __init__(self, challenge: SmChallenge, request: bytes) -> None:
        self._challenge = challenge
        self.request = request

    def finish(self, response: bytes) -> SmSession:
        return self._challenge.finish(response)

    def __repr__(self) -> str:
        return "Authentication(<hidden>)"


class SoftwareKeyProvider(KeyHolder):
    """Access keys diversified from a master key per chip: ``seed = HMAC-SHA-256(master,
    uid)[:16]``, then ``K_enc = KDF(seed, 1)`` and ``K_mac = KDF(seed, 2)`` (9303-11 §9.7.1).

    For tests and development: the master key sits in this process's memory, inside a Rust
    handle that is wiped when the provider is dropped (the caller's own ``master_key`` object
    is the caller's to drop). Production keys belong in a SAM or HSM behind the same
    :class:`KeyProvider` interface.
    """

    def __init__(
        self, master_key: bytes | bytearray | memoryview, *, algorithm: str = "3des"
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise InvalidArgumentError(
                f"algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}"
            )
        self._master = MasterKey(master_key)
        self.algorithm = algorithm

    def __repr__(self) -> str:
        return f"SoftwareKeyProvider({self.algorithm}, <master key hidden>)"

    def chip_keys(self, chip_uid: bytes) -> SmKeys:
        """The access keys loaded onto the chip ``chip_uid`` (what a virtual chip is given)."""
        return self._master.chip_keys(self.algorithm, bytes(chip_uid))

    def authenticate(self, chip_uid: bytes, challenge: bytes) -> Authentication:
        challenge_state, request = self.chip_keys(chip_uid).authenticate(
            bytes(challenge), secrets.token_bytes(8), secrets.token_bytes(16)
        )
        return _Pending(challenge_state, request)
