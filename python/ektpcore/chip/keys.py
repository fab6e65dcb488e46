"""Keys: the interface a key store implements, and a software store for development.

A chip is opened by a challenge-response (9303-11 §9.7.2): the chip sends a challenge, the
terminal answers with a cryptogram made with the chip's access keys, the chip answers with
its own, and both derive the session keys. Who holds the access keys is the
:class:`KeyProvider`'s business. In an issuing office it is a SAM or an HSM that computes the
cryptograms and hands back only a session; :class:`SoftwareKeyProvider` does the same in
software, from a master key, for tests and development.

Key material never appears in a ``repr``, a log line or an error message: keys and sessions
are opaque handles (:class:`SmKeys`, :class:`SmSession`) whose ``repr`` shows the algorithm
and state only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol, runtime_checkable

from .._ektpcore import SmChallenge, SmKeys, SmSession
from ..errors import InvalidArgumentError

__all__ = [
    "ALGORITHMS",
    "Authentication",
    "KeyProvider",
    "SmKeys",
    "SmSession",
    "SoftwareKeyProvider",
]

ALGORITHMS = ("3des", "aes128", "aes192", "aes256")


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


class _Pending:
    """An :class:`Authentication` over keys held in this process."""

    def __init__(self, challenge: SmChallenge, request: bytes) -> None:
        self._challenge = challenge
        self.request = request

    def finish(self, response: bytes) -> SmSession:
        return self._challenge.finish(response)

    def __repr__(self) -> str:
        return "Authentication(<hidden>)"


class SoftwareKeyProvider:
    """Access keys diversified from a master key per chip: ``seed = HMAC-SHA-256(master,
    uid)[:16]``, then ``K_enc = KDF(seed, 1)`` and ``K_mac = KDF(seed, 2)`` (9303-11 §9.7.1).

    For tests and development: the master key sits in this process's memory. Production
    keys belong in a SAM or HSM behind the same :class:`KeyProvider` interface.
    """

    def __init__(self, master_key: bytes, *, algorithm: str = "3des") -> None:
        if len(master_key) < 16:
            raise InvalidArgumentError("a master key is at least 16 bytes")
        if algorithm not in ALGORITHMS:
            raise InvalidArgumentError(
                f"algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}"
            )
        self._master = bytes(master_key)
        self.algorithm = algorithm

    def __repr__(self) -> str:
        return f"SoftwareKeyProvider({self.algorithm}, <master key hidden>)"

    def chip_keys(self, chip_uid: bytes) -> SmKeys:
        """The access keys loaded onto the chip ``chip_uid`` (what a virtual chip is given)."""
        seed = hmac.new(self._master, bytes(chip_uid), hashlib.sha256).digest()[:16]
        return SmKeys.from_seed(self.algorithm, seed)

    def authenticate(self, chip_uid: bytes, challenge: bytes) -> Authentication:
        challenge_state, request = self.chip_keys(chip_uid).authenticate(
            bytes(challenge), secrets.token_bytes(8), secrets.token_bytes(16)
        )
        return _Pending(challenge_state, request)
