"""A virtual chip: a file system behind an application, the challenge-response that opens a
session, and secure messaging on the chip's side (the Rust core's, the same code the
terminal's side is checked against in the ICAO walk-through). Personalisation runs against it
end to end in the tests and in the print station's virtual setup; :class:`ChipFaults` makes
it fail on request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .._ektpcore import SmKeys, SmSession
from ..errors import ChipConnectionError, SecureMessagingError
from .codec import CommandApdu
from .transport import GET_UID

__all__ = ["ChipFaults", "VirtualChip"]

OK = 0x9000


@dataclass
class ChipFaults:
    """Failures on request; ``k`` counts the chip's protected commands from 1."""

    bad_mac_at: set[int] = field(default_factory=set)  # the k-th answer's MAC is corrupted
    truncate_at: set[int] = field(default_factory=set)  # the k-th answer loses its tail
    status_at: dict[int, int] = field(default_factory=dict)  # the k-th answer is this plain SW
    dead: bool = False  # nothing answers
    t0: bool = False  # answers with data come as 61xx + GET RESPONSE, as over T=0
    memory: int = 32_768  # bytes of file space; CREATE FILE beyond it answers 6A84


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


class VirtualChip:
    """A contactless chip. ``keys`` are its access keys (what the issuer loaded at the chip
    factory; :meth:`SoftwareKeyProvider.chip_keys`). ``application`` is what selects its
    application: an AID (SELECT by name) or a DF's 2-byte file id (SELECT by id). ``files``
    holds what was written."""

    def __init__(
        self,
        uid: bytes,
        keys: SmKeys,
        *,
        application: bytes = bytes.fromhex("A0000002471001"),
        faults: ChipFaults | None = None,
    ) -> None:
        self.uid = bytes(uid)
        self._keys = keys
        self.application = bytes(application)
        self.faults = faults or ChipFaults()
        self.files: dict[int, bytearray] = {}
        self._sizes: dict[int, int] = {}
        self._selected_app = False
        self._current: int | None = None
        self._challenge: bytes | None = None
        self._session: SmSession | None = None
        self._pending: bytes = b""  # T=0: data waiting for GET RESPONSE
        self.protected = 0  # protected commands received

    def __repr__(self) -> str:
        return f"VirtualChip(uid={self.uid.hex().upper()}, files={len(self.files)})"

    def transmit(self, apdu: bytes) -> bytes:
        if self.faults.dead:
            raise ChipConnectionError("the chip does not answer")
        apdu = bytes(apdu)
        if apdu == GET_UID:
            return _sw(OK, self.uid)
        if apdu[:2] == b"\x00\xc0":  # GET RESPONSE
            n = apdu[-1] or 256
            part, self._pending = self._pending[:n], self._pending[n:]
            if self._pending:
                return _sw(0x6100 | min(len(self._pending), 255), part)
            return _sw(OK, part)
        if len(apdu) >= 1 and apdu[0] & 0x0C == 0x0C:
            answer = self._protected(apdu)
        else:
            answer = self._plain(apdu)
        if self.faults.t0 and len(answer) > 2 and answer[-2:] == b"\x90\x00":
            # Over T=0 the data (a protected answer's data objects included) waits for
            # GET RESPONSE; 9000 comes after its last part.
            self._pending = answer[:-2]
            return _sw(0x6100 | min(len(self._pending), 255))
        return answer

    # -- before the session ---------------------------------------------------------------

    def _plain(self, apdu: bytes) -> bytes:
        try:
            cmd = CommandApdu.parse(apdu)
        except ValueError:
            return _sw(0x6700)
        if cmd.ins == 0xA4 and cmd.p1 in (0x00, 0x04):
            if cmd.data != self.application:
                return _sw(0x6A82)
            self._selected_app = True
            self._session = None
            return _sw(OK)
        if cmd.ins == 0x84:  # GET CHALLENGE
            if cmd.ne != 8:
                return _sw(0x6700)
            self._challenge = secrets.token_bytes(8)
            return _sw(OK, self._challenge)
        if cmd.ins == 0x82:  # EXTERNAL AUTHENTICATE
            if not self._selected_app or self._challenge is None:
                return _sw(0x6985)
            challenge, self._challenge = self._challenge, None
            try:
                answer, self._session = self._keys.answer(
                    challenge, secrets.token_bytes(16), cmd.data
                )
            except SecureMessagingError:
                return _sw(0x6300)
            return _sw(OK, answer)
        # Anything else needs the session.
        return _sw(0x6982)

    # -- in the session -------------------------------------------------------------------

    def _protected(self, apdu: bytes) -> bytes:
        session = self._session
        if session is None or not session.is_open:
            return _sw(0x6982)
        self.protected += 1
        k = self.protected
        if k in self.faults.status_at:
            session.close("the chip refused in the clear")
            self._session = None
            return _sw(self.faults.status_at[k])
        try:
            cmd = CommandApdu.parse(session.unwrap_command(apdu))
        except SecureMessagingError:
            self._session = None
            return _sw(0x6988)
        data, sw = self._execute(cmd)
        answer = session.wrap_response(data, sw)
        if k in self.faults.bad_mac_at:
            answer = answer[:-3] + bytes([answer[-3] ^ 0x01]) + answer[-2:]
        if k in self.faults.truncate_at:
            answer = answer[: len(answer) // 2] + answer[-2:]
        return answer

    def _execute(self, cmd: CommandApdu) -> tuple[bytes, int]:
        if cmd.ins == 0xE0:  # CREATE FILE: 63 04 <size:2> <fid:2>
            if len(cmd.data) != 6 or cmd.data[:2] != b"\x63\x04":
                return b"", 0x6A80
            size = int.from_bytes(cmd.data[2:4], "big")
            fid = int.from_bytes(cmd.data[4:6], "big")
            if fid in self.files:
                return b"", 0x6A89
            if sum(self._sizes.values()) + size > self.faults.memory:
                return b"", 0x6A84
            self.files[fid] = bytearray(size)
            self._sizes[fid] = size
            self._current = fid
            return b"", OK
        if cmd.ins == 0xA4 and cmd.p1 == 0x02:
            fid = int.from_bytes(cmd.data, "big")
            if fid not in self.files:
                return b"", 0x6A82
            self._current = fid
            return b"", OK
        if cmd.ins in (0xD6, 0xB0):
            if self._current is None:
                return b"", 0x6986
            body = self.files[self._current]
            offset = (cmd.p1 & 0x7F) << 8 | cmd.p2
            if offset > len(body):
                return b"", 0x6B00
            if cmd.ins == 0xD6:
                if offset + len(cmd.data) > len(body):
                    return b"", 0x6700
                body[offset : offset + len(cmd.data)] = cmd.data
                return b"", OK
            part = bytes(body[offset : offset + (cmd.ne or 256)])
            return part, (OK if len(part) == (cmd.ne or 256) else 0x6282)
        return b"", 0x6D00
