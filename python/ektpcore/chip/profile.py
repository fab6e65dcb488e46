"""What goes on the chip and where: a :class:`ChipProfile` names the application, its
files (id, tag, what each holds) and how they are written; :class:`ChipData` is one holder's
data; :func:`data_groups` turns the one into the other's file contents.

The built-in :data:`LDS1` profile follows ICAO Doc 9303-10: EF.COM, DG1 (MRZ, when given),
DG2 (face), DG3 (two fingerprints), DG7 (signature), DG11 (personal details) and DG13 (the
E-KTP fields DG11 has no tag for). The ministry's own e-KTP layout is not public; another
layout is a TOML file (``ChipProfile.from_toml``), see ``docs/chip.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgumentError
from ..nik import mask_nik
from .codec import CommandApdu, Tlv, tlv_encode
from .keys import ALGORITHMS

__all__ = ["LDS1", "ChipData", "ChipFile", "ChipProfile", "chip_data_from_record", "data_groups"]

KINDS = ("com", "mrz", "face", "fingerprints", "signature", "details")

#: ChipData fields and the DG11 tags of ICAO 9303-10 §4.7.11 (5F0E full name, 5F10 personal
#: number, 5F2B full date of birth, 5F11 place of birth, 5F42 address, 5F13 profession).
DG11_FIELDS: dict[str, int] = {
    "name": 0x5F0E,
    "nik": 0x5F10,
    "birth_date": 0x5F2B,
    "birth_place": 0x5F11,
    "address": 0x5F42,
    "occupation": 0x5F13,
}
#: The E-KTP fields DG11 has no tag for, under private-class tags of DG13 (issuer-defined).
DG13_FIELDS: dict[str, int] = {
    "sex": 0xDF01,
    "blood_type": 0xDF02,
    "rt_rw": 0xDF03,
    "kelurahan": 0xDF04,
    "kecamatan": 0xDF05,
    "religion": 0xDF06,
    "marital_status": 0xDF07,
    "nationality": 0xDF08,
    "valid_until": 0xDF09,
    "issued_place": 0xDF0A,
    "issued_date": 0xDF0B,
}


@dataclass(frozen=True)
class ChipFile:
    """One elementary file: its id, the tag its content is wrapped in, and what it holds
    (``kind``: com, mrz, face, fingerprints, signature or details; ``fields`` maps
    :class:`ChipData` attributes to tags for ``details``)."""

    name: str
    fid: int
    tag: int
    kind: str
    fields: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgumentError(
                f"file {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}"
            )
        if not 0 < self.fid <= 0xFFFF:
            raise InvalidArgumentError(f"file {self.name}: file id {self.fid:#x} is not 2 bytes")


@dataclass(frozen=True)
class ChipProfile:
    """An application on the chip and how to write it.

    Attributes:
        aid: the application's identifier (selected by name before anything else), or
        df: the file id of the application's DF (selected by id instead, as chips without an
            AID are).
        files: what is written, in order.
        algorithm: the secure-messaging suite (3des, aes128, aes192, aes256).
        create_files: send CREATE FILE before each file (a blank chip has none).
        extended: the encoder takes extended APDUs (bigger chunks, fewer commands).
        max_chunk: the data bytes per UPDATE BINARY with extended APDUs.
    """

    name: str
    aid: bytes | None
    files: tuple[ChipFile, ...]
    algorithm: str = "3des"
    create_files: bool = True
    extended: bool = False
    max_chunk: int = 1024
    df: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise InvalidArgumentError(
                f"profile {self.name}: algorithm {self.algorithm!r} is not one of "
                + ", ".join(ALGORITHMS)
            )
        if (self.aid is None) == (self.df is None):
            raise InvalidArgumentError(f"profile {self.name}: give an AID or a DF file id")
        if self.aid is not None and not 5 <= len(self.aid) <= 16:
            raise InvalidArgumentError(f"profile {self.name}: an AID is 5 to 16 bytes")
        known = {f.name for f in dataclasses.fields(ChipData)}
        for f in self.files:
            unknown = set(f.fields) - known
            if unknown:
                raise InvalidArgumentError(
                    f"profile {self.name}, file {f.name}: no such fields {sorted(unknown)}"
                )

    def select(self) -> CommandApdu:
        """The SELECT of the application: by name (``00 A4 04 0C``) or by DF id
        (``00 A4 00 0C``)."""
        if self.aid is not None:
            return CommandApdu(0x00, 0xA4, 0x04, 0x0C, self.aid)
        assert self.df is not None
        return CommandApdu(0x00, 0xA4, 0x00, 0x0C, self.df.to_bytes(2, "big"))

    @property
    def chunks(self) -> tuple[int, int]:
        """Data bytes per protected UPDATE BINARY and READ BINARY.

        Short APDUs: 239 written (DO'87' of 1 + 240 bytes with an ``81 xx`` length, DO'8E',
        all within 255 bytes; padding always adds a byte) and 223 read (DO'87', DO'99' and
        DO'8E' within a 256-byte answer; AES pads to 16). Extended: ``max_chunk`` both ways.
        """
        if self.extended:
            return self.max_chunk, self.max_chunk
        return 239, 223

    @property
    def plain_chunks(self) -> tuple[int, int]:
        """Data bytes per UPDATE BINARY and READ BINARY in the clear: 255 and 256 short
        (Le ``00``), ``max_chunk`` extended."""
        if self.extended:
            return self.max_chunk, self.max_chunk
        return 255, 256

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> ChipProfile:
        """Reads a profile from a TOML file (or TOML text when ``source`` starts with
        ``[`` or contains a newline)."""
        text = str(source)
        if "\n" not in text and not text.lstrip().startswith("["):
            with open(source, "rb") as f:
                doc = tomllib.load(f)
        else:
            doc = tomllib.loads(text)
        try:
            p = doc["profile"]
            files = tuple(
                ChipFile(
                    name=f["name"],
                    fid=_int(f["fid"]),
                    tag=_int(f["tag"]),
                    kind=f["kind"],
                    fields={k: _int(v) for k, v in f.get("fields", {}).items()},
                )
                for f in doc["files"]
            )
            return cls(
                name=p["name"],
                aid=bytes.fromhex(p["aid"]) if "aid" in p else None,
                df=_int(p["df"]) if "df" in p else None,
                files=files,
                algorithm=p.get("algorithm", "3des"),
                create_files=p.get("create_files", True),
                extended=p.get("extended", False),
                max_chunk=p.get("max_chunk", 1024),
            )
        except KeyError as err:
            raise InvalidArgumentError(f"chip profile: missing key {err}") from None


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


@dataclass(frozen=True)
class ChipData:
    """One holder's chip contents. The photo is a JPEG, the signature an image file's bytes,
    the fingerprints two templates (right and left index finger, ISO/IEC 19794-2 records as
    the enrolment system produced them). ``repr`` masks the NIK and hides the rest."""

    nik: str
    name: str
    birth_place: str
    birth_date: _dt.date
    photo: bytes
    signature: bytes
    fingerprints: tuple[bytes, bytes]
    sex: str = ""
    blood_type: str = ""
    address: str = ""
    rt_rw: str = ""
    kelurahan: str = ""
    kecamatan: str = ""
    religion: str = ""
    marital_status: str = ""
    occupation: str = ""
    nationality: str = "WNI"
    valid_until: str = "SEUMUR HIDUP"
    issued_place: str = ""
    issued_date: _dt.date | None = None
    mrz: str | None = None

    def __repr__(self) -> str:
        return (
            f"ChipData(nik={mask_nik(self.nik)}, photo={len(self.photo)} bytes, "
            f"signature={len(self.signature)} bytes)"
        )

    def text(self, name: str) -> bytes:
        value = getattr(self, name)
        if isinstance(value, _dt.date):
            return value.strftime("%Y%m%d").encode()
        return str(value).encode("utf-8")


LDS1 = ChipProfile(
    name="ICAO LDS1",
    aid=bytes.fromhex("A0000002471001"),
    files=(
        ChipFile("EF.COM", 0x011E, 0x60, "com"),
        ChipFile("DG1", 0x0101, 0x61, "mrz"),
        ChipFile("DG2", 0x0102, 0x75, "face"),
        ChipFile("DG3", 0x0103, 0x63, "fingerprints"),
        ChipFile("DG7", 0x0107, 0x67, "signature"),
        ChipFile("DG11", 0x010B, 0x6B, "details", DG11_FIELDS),
        ChipFile("DG13", 0x010D, 0x6D, "details", DG13_FIELDS),
    ),
)


# Biometric header templates (ICAO 9303-10 §4.7.2 / ISO/IEC 7816-11): 80 header version,
# 81 biometric type (02 face, 08 finger), 82 subtype (09 right index, 0A left index),
# 87 format owner (0101: ISO/IEC JTC 1/SC 37), 88 format type (0008 face image, 0001
# finger minutiae).
def _header(kind: int, subtype: int | None, format_type: int) -> Tlv:
    items = [Tlv(0x80, b"\x01\x01"), Tlv(0x81, bytes([kind]))]
    if subtype is not None:
        items.append(Tlv(0x82, bytes([subtype])))
    items += [Tlv(0x87, b"\x01\x01"), Tlv(0x88, format_type.to_bytes(2, "big"))]
    return Tlv(0xA1, items)


def _face_record(jpeg: bytes) -> bytes:
    """An ISO/IEC 19794-5:2005 facial record holding one JPEG: general header (14 bytes),
    facial information (20), image information (12), then the image."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(jpeg)) as im:
            if im.format != "JPEG":
                raise InvalidArgumentError(f"the chip photo must be a JPEG, not {im.format}")
            width, height = im.size
    except OSError:
        raise InvalidArgumentError("the chip photo is not a readable JPEG") from None
    block = 20 + 12 + len(jpeg)
    return b"".join(
        [
            b"FAC\x00010\x00",
            (14 + block).to_bytes(4, "big"),
            (1).to_bytes(2, "big"),  # one image
            block.to_bytes(4, "big"),
            b"\x00\x00",  # no feature points
            b"\x00\x00\x00",  # gender, eye and hair colour unspecified
            b"\x00\x00\x00",  # property mask
            b"\x00\x00",  # expression
            b"\x00\x00\x00",  # pose angles
            b"\x00\x00\x00",  # pose angle uncertainty
            b"\x01",  # full frontal
            b"\x00",  # JPEG
            width.to_bytes(2, "big"),
            height.to_bytes(2, "big"),
            b"\x01",  # 24-bit RGB
            b"\x02",  # captured by a digital camera
            b"\x00\x00",  # device type
            b"\x00\x00",  # quality
            jpeg,
        ]
    )


def _content(f: ChipFile, profile: ChipProfile, data: ChipData) -> list[Tlv] | None:
    """The data objects inside file ``f``'s tag; ``None`` leaves the file out."""
    if f.kind == "com":
        tags = bytes(
            g.tag
            for g in profile.files
            if g.kind != "com" and (g.kind != "mrz" or data.mrz is not None)
        )
        return [Tlv(0x5F01, b"0107"), Tlv(0x5F36, b"040000"), Tlv(0x5C, tags)]
    if f.kind == "mrz":
        return None if data.mrz is None else [Tlv(0x5F1F, data.mrz.encode("ascii"))]
    if f.kind == "face":
        return [
            Tlv(
                0x7F61,
                [
                    Tlv(0x02, b"\x01"),
                    Tlv(
                        0x7F60, [_header(0x02, None, 0x0008), Tlv(0x5F2E, _face_record(data.photo))]
                    ),
                ],
            )
        ]
    if f.kind == "fingerprints":
        fingers = [
            Tlv(0x7F60, [_header(0x08, subtype, 0x0001), Tlv(0x5F2E, template)])
            for subtype, template in zip((0x09, 0x0A), data.fingerprints, strict=True)
        ]
        return [Tlv(0x7F61, [Tlv(0x02, bytes([len(fingers)])), *fingers])]
    if f.kind == "signature":
        return [Tlv(0x02, b"\x01"), Tlv(0x5F43, data.signature)]
    # details: a tag list (5C), then one primitive object per non-empty field.
    present = [(name, tag) for name, tag in f.fields.items() if data.text(name)]
    tag_list = b"".join(tag.to_bytes(2 if tag > 0xFF else 1, "big") for _, tag in present)
    return [Tlv(0x5C, tag_list), *(Tlv(tag, data.text(name)) for name, tag in present)]


def data_groups(profile: ChipProfile, data: ChipData) -> list[tuple[int, bytes]]:
    """The ``(file id, content)`` of every file ``profile`` writes for ``data``."""
    out = []
    for f in profile.files:
        inner = _content(f, profile, data)
        if inner is not None:
            out.append((f.fid, tlv_encode([Tlv(f.tag, inner)])))
    return out


def chip_data_from_record(
    record: Any, fingerprints: tuple[bytes, bytes], *, photo_quality: int = 85
) -> ChipData:
    """Chip data from what a ledger record holds (NIK, name, kecamatan, kelurahan, the photo
    and signature files it points at); the birth date and sex come from the NIK. The
    fingerprint templates come from the enrolment system, which the ledger does not hold.
    A photo in another format is re-encoded as JPEG."""
    from PIL import Image

    from ..nik import Nik, Sex

    nik = Nik(int(record.nik))
    photo = signature = b""
    try:
        if record.photo_ref:
            with Image.open(record.photo_ref) as im:
                if im.format == "JPEG":
                    with open(record.photo_ref, "rb") as f:
                        photo = f.read()
                else:
                    buf = io.BytesIO()
                    im.convert("RGB").save(buf, "JPEG", quality=photo_quality)
                    photo = buf.getvalue()
        if record.signature_ref:
            with open(record.signature_ref, "rb") as f:
                signature = f.read()
    except OSError as err:
        # The path may name the person: say which record (masked) and why, not where.
        raise InvalidArgumentError(
            f"the photo or signature of {mask_nik(str(nik))} cannot be read: {err.strerror}"
        ) from None
    return ChipData(
        nik=str(nik),
        name=record.name or "",
        birth_place="",
        birth_date=nik.birth_date or _dt.date(1970, 1, 1),
        sex="PEREMPUAN" if nik.sex is Sex.FEMALE else "LAKI-LAKI",
        kecamatan=record.kecamatan or "",
        kelurahan=record.kelurahan or "",
        photo=photo,
        signature=signature,
        fingerprints=fingerprints,
    )
