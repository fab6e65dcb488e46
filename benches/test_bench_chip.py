"""Chip personalisation scripts: for 500 cards, the data groups of the LDS1 profile (photo,
two fingerprints, signature, personal details), the write and read-back command sequences
and their protection under secure messaging, in at most 0.5 s here. The peer is the same
script built and wrapped in Python with PyCryptodome below; both produce the same bytes, which
the benchmark checks in every run (timed or not).

Sizes shrink for the untimed smoke run of a plain ``pytest``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
from typing import Any

import numpy as np
import pytest
from Crypto.Cipher import AES, DES, DES3
from Crypto.Hash import CMAC
from PIL import Image

from ektpcore.chip import LDS1, ChipData, Personaliser, SmKeys, SmSession, SoftwareKeyProvider
from ektpcore.chip.profile import data_groups

from .conftest import NOTES, RESULTS, Measure, judge


def _photo(rng: np.random.Generator) -> bytes:
    """A passport-style photo: a plain background and a textured face area, as JPEG."""
    img = np.full((320, 240, 3), 235, dtype=np.uint8)
    img[60:300, 50:190] = rng.integers(90, 200, (240, 140, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).resize((240, 320)).save(buf, "JPEG", quality=40)
    return buf.getvalue()


def cards(n: int) -> list[ChipData]:
    rng = np.random.default_rng(9303)
    photos = [_photo(rng) for _ in range(8)]
    return [
        ChipData(
            nik=f"3271{(i % 28) + 1:02d}{(i % 12) + 1:02d}99{i % 10_000:04d}",
            name=f"WARGA NOMOR {i}",
            birth_place="BOGOR",
            birth_date=dt.date(1999, (i % 12) + 1, (i % 28) + 1),
            photo=photos[i % 8],
            signature=rng.integers(0, 256, 1_500, dtype=np.uint8).tobytes(),
            fingerprints=(
                rng.integers(0, 256, 600, dtype=np.uint8).tobytes(),
                rng.integers(0, 256, 560, dtype=np.uint8).tobytes(),
            ),
            address="JL. PAJAJARAN NO. 1",
            occupation="KARYAWAN SWASTA",
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def batch(pytestconfig: Any) -> list[ChipData]:
    return cards(500 if pytestconfig.getoption("benchmark_enable") else 20)


@pytest.fixture(scope="module", params=["3des", "aes128"])
def alg(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def session_keys(batch: list[ChipData], alg: str) -> list[tuple[bytes, bytes, bytes]]:
    """Per card: session encryption key, MAC key, starting counter (as after authentication)."""
    block = 8 if alg == "3des" else 16
    return [(os.urandom(16), os.urandom(16), os.urandom(block)) for _ in batch]


def ektpcore_scripts(
    perso: Personaliser, batch: list[ChipData], keys: list[tuple[bytes, bytes, bytes]], alg: str
) -> list[tuple[list[bytes], list[bytes]]]:
    sessions = [SmSession(SmKeys(alg, enc, mac), ssc) for enc, mac, ssc in keys]
    return perso.scripts(batch, sessions)


# -- the peer: the same scripts in Python with PyCryptodome -----------------------------------


def _pad(data: bytes, block: int) -> bytes:
    return data + b"\x80" + b"\x00" * (-(len(data) + 1) % block)


def _ber_len(n: int) -> bytes:
    return (
        bytes([n])
        if n < 0x80
        else b"\x81" + bytes([n])
        if n < 0x100
        else b"\x82" + n.to_bytes(2, "big")
    )


class PySession:
    """ICAO 9303-11 command protection, 3DES (retail MAC) or AES (CMAC)."""

    def __init__(self, alg: str, enc: bytes, mac: bytes, ssc: bytes) -> None:
        self.alg, self.enc, self.mac, self.ssc = alg, enc, mac, int.from_bytes(ssc, "big")
        self.block = 8 if alg == "3des" else 16

    def _mac(self, data: bytes) -> bytes:
        if self.alg == "3des":
            h = DES.new(self.mac[:8], DES.MODE_CBC, iv=bytes(8)).encrypt(data)[-8:]
            h = DES.new(self.mac[8:], DES.MODE_ECB).decrypt(h)
            return DES.new(self.mac[:8], DES.MODE_ECB).encrypt(h)
        return CMAC.new(self.mac, data, ciphermod=AES).digest()[:8]

    def _encrypt(self, ssc: bytes, data: bytes) -> bytes:
        if self.alg == "3des":
            return DES3.new(self.enc, DES3.MODE_CBC, iv=bytes(8)).encrypt(data)
        iv = AES.new(self.enc, AES.MODE_ECB).encrypt(ssc)
        return AES.new(self.enc, AES.MODE_CBC, iv=iv).encrypt(data)

    def wrap_ahead(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes, ne: int | None
    ) -> bytes:
        self.ssc += 1
        ssc = self.ssc.to_bytes(self.block, "big")
        self.ssc += 1  # the response's
        header = bytes([cla | 0x0C, ins, p1, p2])
        dos = b""
        if data:
            c = self._encrypt(ssc, _pad(data, self.block))
            dos += b"\x87" + _ber_len(len(c) + 1) + b"\x01" + c
        if ne is not None:
            dos += b"\x97\x01" + bytes([ne & 0xFF])
        cc = self._mac(ssc + _pad(header, self.block) + _pad(dos, self.block))
        body = dos + b"\x8e\x08" + cc
        return header + bytes([len(body)]) + body + b"\x00"


def python_scripts(
    files: list[list[tuple[int, bytes]]], keys: list[tuple[bytes, bytes, bytes]], alg: str
) -> list[tuple[list[bytes], list[bytes]]]:
    out = []
    for card, (enc, mac, ssc) in zip(files, keys, strict=True):
        s = PySession(alg, enc, mac, ssc)
        write, read = [], []
        for fid, content in card:
            f = fid.to_bytes(2, "big")
            write.append(
                s.wrap_ahead(0, 0xE0, 0, 0, b"\x63\x04" + len(content).to_bytes(2, "big") + f, None)
            )
            write.append(s.wrap_ahead(0, 0xA4, 2, 0x0C, f, None))
            for off in range(0, len(content), 239):
                write.append(
                    s.wrap_ahead(0, 0xD6, off >> 8, off & 0xFF, content[off : off + 239], None)
                )
        for fid, content in card:
            read.append(s.wrap_ahead(0, 0xA4, 2, 0x0C, fid.to_bytes(2, "big"), None))
            for off in range(0, len(content), 223):
                n = min(223, len(content) - off)
                read.append(s.wrap_ahead(0, 0xB0, off >> 8, off & 0xFF, b"", n))
        out.append((write, read))
    return out


def test_perso_scripts(
    measure: Measure,
    batch: list[ChipData],
    session_keys: list[tuple[bytes, bytes, bytes]],
    alg: str,
    pytestconfig: Any,
) -> None:
    profile = dataclasses.replace(LDS1, algorithm=alg)
    perso = Personaliser(profile, SoftwareKeyProvider(b"bench master key", algorithm=alg))
    group = f"chip-{alg}"
    ours = measure(group, "ektpcore", ektpcore_scripts, perso, batch, session_keys, alg)
    # The reference check, in every run: the peer's bytes, card by card.
    files = [data_groups(profile, card) for card in batch]
    assert ours == python_scripts(files, session_keys, alg)
    apdus = sum(len(w) + len(r) for w, r in ours)
    size = sum(len(c) for card in files for _, c in card) / len(batch)
    NOTES.append(
        f"{group}: {len(batch)} cards, {size / 1024:,.1f} KiB of files each, {apdus:,} APDUs"
    )
    seconds = RESULTS.get(group, {}).get("ektpcore")
    if seconds is not None:
        judge(
            f"build and wrap {len(batch)} personalisation scripts ({alg}), seconds (median)",
            seconds,
            0.5,
            bool(pytestconfig.getoption("benchmark_enable")),
            higher_is_better=False,
        )


def test_perso_scripts_python(
    measure: Measure,
    batch: list[ChipData],
    session_keys: list[tuple[bytes, bytes, bytes]],
    alg: str,
) -> None:
    profile = dataclasses.replace(LDS1, algorithm=alg)
    files = [data_groups(profile, card) for card in batch]
    scripts = measure(f"chip-{alg}", "python", python_scripts, files, session_keys, alg)
    assert len(scripts) == len(batch)
