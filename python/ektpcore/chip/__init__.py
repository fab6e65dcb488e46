"""Chip encoding: BER-TLV and APDUs, ICAO 9303-11 secure messaging, keys, chip profiles,
personalisation, a virtual chip and a PC/SC transport. See ``docs/chip.md``."""

from __future__ import annotations

from .codec import (
    CommandApdu,
    ResponseApdu,
    Tlv,
    mrz_check_digit,
    status_meaning,
    tlv_decode,
    tlv_encode,
    tlv_find,
)
from .keys import ALGORITHMS, Authentication, KeyProvider, SmKeys, SmSession, SoftwareKeyProvider
from .perso import ChipResult, Personaliser
from .profile import LDS1, ChipData, ChipFile, ChipProfile, chip_data_from_record, data_groups
from .transport import ChipChannel, ChipServer, ChipTransport, PcscTransport, TcpChipTransport
from .virtual import ChipFaults, VirtualChip

__all__ = [
    "ALGORITHMS",
    "LDS1",
    "Authentication",
    "ChipChannel",
    "ChipData",
    "ChipFaults",
    "ChipFile",
    "ChipProfile",
    "ChipResult",
    "ChipServer",
    "ChipTransport",
    "CommandApdu",
    "KeyProvider",
    "PcscTransport",
    "Personaliser",
    "ResponseApdu",
    "SmKeys",
    "SmSession",
    "SoftwareKeyProvider",
    "TcpChipTransport",
    "Tlv",
    "VirtualChip",
    "chip_data_from_record",
    "data_groups",
    "mrz_check_digit",
    "status_meaning",
    "tlv_decode",
    "tlv_encode",
    "tlv_find",
]
