"""Personalisation: one chip written and verified, or the scripts of many cards built at
once.

For one chip, :meth:`Personaliser.personalise` selects the application, reads the UID,
opens a secure-messaging session through the :class:`~ektpcore.chip.KeyProvider`, writes
every file of the profile (CREATE FILE, SELECT, UPDATE BINARY in chunks), reads every file
back and compares it, and closes the session. Any failure — a refusal, a wrong MAC, a
truncated answer, a dead chip — closes the session (its keys are wiped) and comes back as a
failed :class:`ChipResult` with the reason, never as a half-known state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import _ektpcore
from ..errors import (
    CardStatusError,
    ChipConnectionError,
    ChipDecodeError,
    InvalidArgumentError,
    SecureMessagingError,
)
from .codec import CommandApdu, ResponseApdu
from .keys import KeyHolder, KeyProvider, SmSession
from .profile import ChipData, ChipProfile, data_groups
from .transport import ChipChannel, ChipTransport

__all__ = ["ChipResult", "Personaliser"]

_FAILURES = (CardStatusError, ChipConnectionError, ChipDecodeError, SecureMessagingError)
_NAMES = {0xE0: "CREATE FILE", 0xA4: "SELECT", 0xD6: "UPDATE BINARY", 0xB0: "READ BINARY"}


@dataclass(frozen=True)
class ChipResult:
    """What happened to one chip: its UID (hex, the chip serial the ledger records), whether
    it was written and read back intact, why not, and how many APDUs it took."""

    uid: str | None
    ok: bool
    reason: str | None = None
    apdus: int = 0


class Personaliser(KeyHolder):
    """Writes :class:`ChipData` onto chips laid out by ``profile``, with keys from ``keys``.

    It holds the key provider, so like it it cannot be pickled or copied: a worker process
    builds its own from the profile and the provider's configuration."""

    def __init__(self, profile: ChipProfile, keys: KeyProvider) -> None:
        if keys.algorithm != profile.algorithm:
            raise InvalidArgumentError(
                f"the key provider speaks {keys.algorithm}, the profile {profile.algorithm}"
            )
        self.profile = profile
        self.keys = keys

    def __repr__(self) -> str:
        return f"Personaliser({self.profile.name!r}, {self.keys!r})"

    def scripts(
        self, cards: Sequence[ChipData], sessions: Sequence[SmSession] | None = None
    ) -> list[tuple[list[bytes], list[bytes]]]:
        """Each card's write and read-back APDUs, protected by ``sessions[i]`` when given
        (wrapped ahead: the session then expects the answers in order), in the clear
        otherwise (with the larger plain chunks). Built in parallel in the Rust core."""
        profile = self.profile
        write_chunk, read_chunk = profile.chunks if sessions is not None else profile.plain_chunks
        return _ektpcore.perso_scripts(
            [data_groups(self.profile, card) for card in cards],
            create=self.profile.create_files,
            write_chunk=write_chunk,
            read_chunk=read_chunk,
            sessions=list(sessions) if sessions is not None else None,
        )

    def open(self, channel: ChipChannel) -> tuple[str, SmSession]:
        """Selects the application and authenticates: ``(uid hex, session)``."""
        uid = channel.uid()
        channel.command(self.profile.select(), "SELECT")
        challenge = channel.command(CommandApdu(0x00, 0x84, 0x00, 0x00, ne=8), "GET CHALLENGE")
        auth = self.keys.authenticate(uid, challenge.data)
        answer = channel.command(
            CommandApdu(0x00, 0x82, 0x00, 0x00, auth.request, ne=len(auth.request)),
            "EXTERNAL AUTHENTICATE",
        )
        return uid.hex().upper(), auth.finish(answer.data)

    def personalise(self, transport: ChipTransport, data: ChipData) -> ChipResult:
        """Writes and verifies one chip; see the module documentation."""
        channel = ChipChannel(transport)
        uid: str | None = None
        session: SmSession | None = None
        try:
            uid, session = self.open(channel)
            files = data_groups(self.profile, data)
            write, read = self.scripts([data], [session])[0]
            for apdu in write:
                _, sw = session.unwrap(channel.transmit(apdu))
                _check(sw, _NAMES.get(apdu[1], f"INS {apdu[1]:02X}"))
            answers = iter(read)
            for fid, content in files:
                _check(session.unwrap(channel.transmit(next(answers)))[1], "SELECT")
                got = bytearray()
                for _ in range(-(-len(content) // self.profile.chunks[1])):
                    part, sw = session.unwrap(channel.transmit(next(answers)))
                    _check(sw, "READ BINARY")
                    got += part
                if bytes(got) != content:
                    raise CardStatusError(f"file {fid:04X} reads back differently", 0x6F00)
            session.close("personalisation complete")
            return ChipResult(uid, True, None, channel.sent)
        except _FAILURES as err:
            if session is not None:
                session.close("personalisation failed")
            return ChipResult(uid, False, str(err), channel.sent)


def _check(sw: int, what: str) -> None:
    ResponseApdu(b"", sw).check(what)
