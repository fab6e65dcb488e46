"""BER-TLV and APDUs in Python terms: :class:`Tlv` pairs, :class:`CommandApdu` and
:class:`ResponseApdu`. The encoding and parsing run in the Rust core; malformed bytes raise
:class:`~ektpcore.errors.ChipDecodeError` with the byte offset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Union

from .. import _ektpcore
from ..errors import CardStatusError

__all__ = [
    "CommandApdu",
    "ResponseApdu",
    "Tlv",
    "mrz_check_digit",
    "status_meaning",
    "tlv_decode",
    "tlv_encode",
    "tlv_find",
]


class Tlv(NamedTuple):
    """One data object: ``value`` is bytes for a primitive tag, a list of data objects for a
    constructed one (tag bit 6 set: ``0x61``, ``0x7F61``)."""

    tag: int
    value: Union[bytes, list[Tlv]]  # noqa: UP007 (a NamedTuple field cannot use | with itself)


def _wrap(item: Any) -> Tlv:
    tag, value = item
    if isinstance(value, list):
        return Tlv(tag, [_wrap(child) for child in value])
    return Tlv(tag, bytes(value))


def tlv_encode(items: Iterable[Tlv | tuple[int, Any]]) -> bytes:
    """Encodes data objects with minimal lengths; nested lengths are exact by construction."""
    return _ektpcore.tlv_encode(list(items))


def tlv_decode(data: bytes) -> list[Tlv]:
    """Decodes every data object of ``data``, descending into constructed ones."""
    return [_wrap(item) for item in _ektpcore.tlv_decode(bytes(data))]


def tlv_find(items: Iterable[Tlv], *path: int) -> Tlv | None:
    """The data object at ``path`` (a tag per level), or ``None``."""
    current: Iterable[Tlv] = items
    found: Tlv | None = None
    for tag in path:
        found = next((t for t in current if t.tag == tag), None)
        if found is None:
            return None
        current = found.value if isinstance(found.value, list) else []
    return found


def status_meaning(sw: int) -> str:
    """What a status word means, e.g. ``0x6982`` → "security status not satisfied"."""
    return _ektpcore.status_meaning(sw)


def mrz_check_digit(field: str) -> int:
    """The ICAO 9303-3 check digit of an MRZ field (weights 7, 3, 1)."""
    return _ektpcore.mrz_check_digit(field)


@dataclass(frozen=True)
class CommandApdu:
    """An ISO/IEC 7816-4 command. ``ne`` is the number of response bytes expected (1-65,536;
    ``None`` sends no Le); the case and the short or extended form follow from the lengths."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None

    def __bytes__(self) -> bytes:
        return _ektpcore.apdu_encode(self.cla, self.ins, self.p1, self.p2, self.data, self.ne)

    @classmethod
    def parse(cls, apdu: bytes) -> CommandApdu:
        cla, ins, p1, p2, data, ne = _ektpcore.apdu_parse(bytes(apdu))
        return cls(cla, ins, p1, p2, bytes(data), ne)

    def __repr__(self) -> str:
        # The data may be personal (a name, a photo): its length only.
        return (
            f"CommandApdu({self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}, "
            f"{len(self.data)} data bytes, ne={self.ne})"
        )


@dataclass(frozen=True)
class ResponseApdu:
    """A response: data and the status word."""

    data: bytes
    sw: int

    @classmethod
    def parse(cls, apdu: bytes) -> ResponseApdu:
        if len(apdu) < 2:
            from ..errors import ChipDecodeError

            raise ChipDecodeError("response APDU shorter than its 2-byte status word", len(apdu))
        return cls(bytes(apdu[:-2]), int.from_bytes(apdu[-2:], "big"))

    def __bytes__(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    @property
    def meaning(self) -> str:
        return status_meaning(self.sw)

    def check(self, what: str) -> ResponseApdu:
        """Returns the response if it is ``9000``; raises :class:`CardStatusError` otherwise."""
        if not self.ok:
            raise CardStatusError(
                f"{what}: the chip answered {self.sw:04X} ({self.meaning})", self.sw
            )
        return self

    def __repr__(self) -> str:
        return f"ResponseApdu({len(self.data)} data bytes, sw={self.sw:04X})"
