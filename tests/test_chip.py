"""The chip layer from Python: codecs, the ICAO 9303-11 walk-through, sessions, profiles,
personalisation against the virtual chip with faults, and keys kept out of sight."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from ektpcore import _ektpcore
from ektpcore.chip import (
    LDS1,
    ChipChannel,
    ChipData,
    ChipFaults,
    ChipProfile,
    CommandApdu,
    Personaliser,
    ResponseApdu,
    SmKeys,
    SmSession,
    SoftwareKeyProvider,
    Tlv,
    VirtualChip,
    data_groups,
    mrz_check_digit,
    status_meaning,
    tlv_decode,
    tlv_encode,
    tlv_find,
)
from ektpcore.errors import (
    CardStatusError,
    ChipConnectionError,
    ChipDecodeError,
    SecureMessagingError,
)

# -- codecs ------------------------------------------------------------------------------------


def test_ef_com_sample_decodes_and_encodes_back() -> None:
    com = bytes.fromhex("60165F0104303130375F36063034303030305C046175766C")
    items = tlv_decode(com)
    assert items == [
        Tlv(
            0x60,
            [Tlv(0x5F01, b"0107"), Tlv(0x5F36, b"040000"), Tlv(0x5C, bytes.fromhex("6175766C"))],
        )
    ]
    assert tlv_encode(items) == com
    found = tlv_find(items, 0x60, 0x5C)
    assert found is not None
    assert found.value == b"auvl"
    assert tlv_find(items, 0x60, 0x99) is None


def test_malformed_tlv_raises_with_the_offset() -> None:
    with pytest.raises(ChipDecodeError) as err:
        tlv_decode(bytes.fromhex("6105AABB"))
    assert err.value.offset == 0
    assert "declares 5 bytes" in str(err.value)
    with pytest.raises(ValueError, match="constructed"):
        tlv_encode([Tlv(0x61, b"\x01")])
    with pytest.raises(ValueError, match="primitive"):
        tlv_encode([Tlv(0x04, [Tlv(0x04, b"")])])


tags = st.one_of(
    st.integers(1, 30).map(lambda n: n | 0x40),  # application primitive
    st.integers(0x1F, 0x7F).map(lambda n: 0x5F00 | n),  # two-byte application primitive
)
ctags = st.one_of(
    st.integers(1, 30).map(lambda n: n | 0x60),
    st.integers(0x1F, 0x7F).map(lambda n: 0x7F00 | n),
)
tlvs = st.recursive(
    st.builds(Tlv, tags, st.binary(max_size=300)),
    lambda children: st.builds(Tlv, ctags, st.lists(children, max_size=4)),
    max_leaves=12,
)


@given(st.lists(tlvs, max_size=4))
def test_tlv_round_trips(items: list[Tlv]) -> None:
    assert tlv_decode(tlv_encode(items)) == items


@given(st.binary(max_size=200))
def test_tlv_decoder_fails_cleanly(data: bytes) -> None:
    try:
        items = tlv_decode(data)
    except ChipDecodeError as err:
        offset = err.offset
    else:
        # Longer length forms than the minimal one re-encode shorter.
        assert len(tlv_encode(items)) <= len(data)
        return
    assert 0 <= offset <= len(data)


apdus = st.builds(
    CommandApdu,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.one_of(st.binary(max_size=8), st.binary(min_size=250, max_size=300)),
    st.one_of(st.none(), st.integers(1, 256), st.integers(1, 65_536)),
)


@given(apdus)
def test_command_apdus_round_trip(cmd: CommandApdu) -> None:
    assert CommandApdu.parse(bytes(cmd)) == cmd


@given(st.binary(max_size=300))
def test_apdu_parser_fails_cleanly(data: bytes) -> None:
    try:
        cmd = CommandApdu.parse(data)
    except ChipDecodeError:
        return
    # Extended forms of short lengths parse; the encoder writes the short form.
    assert len(bytes(cmd)) <= len(data)
    assert CommandApdu.parse(bytes(cmd)) == cmd


def test_apdu_cases_and_status_words() -> None:
    assert bytes(CommandApdu(0, 0xB0, 0, 4, ne=15_575)).hex().upper() == "00B00004003CD7"
    assert bytes(CommandApdu(0, 0x10, 0x20, 0x30, ne=256)).hex() == "0010203000"
    assert status_meaning(0x6982) == "security status not satisfied"
    assert "12 more" in status_meaning(0x610C)
    response = ResponseApdu.parse(bytes.fromhex("6A82"))
    with pytest.raises(CardStatusError) as err:
        response.check("SELECT")
    assert err.value.sw == 0x6A82
    assert "file or application not found" in str(err.value)
    assert repr(CommandApdu(0, 0xD6, 0, 0, b"SITI AMINAH")).find("SITI") == -1


def test_mrz_check_digits() -> None:
    assert [mrz_check_digit(f) for f in ("L898902C<", "690806", "940623")] == [3, 1, 6]


# -- ICAO 9303-11 Appendix D through the Python surface ---------------------------------------

MRZ_INFORMATION = "L898902C<369080619406236"


def _icao_session() -> SmSession:
    keys = SmKeys.from_mrz(MRZ_INFORMATION)
    challenge, request = keys.authenticate(
        bytes.fromhex("4608F91988702212"),
        bytes.fromhex("781723860C06C226"),
        bytes.fromhex("0B795240CB7049B01C19B33E32804F0B"),
    )
    assert request.hex().upper() == (
        "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F25F1448EEA8AD90A7"
    )
    return challenge.finish(
        bytes.fromhex(
            "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449"
        )
    )


def test_icao_appendix_d_walk_through() -> None:
    session = _icao_session()
    assert session.ssc.hex().upper() == "887022120C06C226"
    steps = [
        ("00A4020C02011E", "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
         "990290008E08FA855A5D4C50A8ED9000", ""),
        ("00B0000004", "0CB000000D9701048E08ED6705417E96BA5500",
         "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000", "60145F01"),
        ("00B0000412", "0CB000040D9701128E082EA28A70F3C7B53500",
         "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08"
         "C8B2787EAEA07D749000", "04303130365F36063034303030305C026175"),
    ]  # fmt: skip
    for plain, protected, response, data in steps:
        assert session.wrap(bytes.fromhex(plain)).hex().upper() == protected
        assert session.unwrap(bytes.fromhex(response)) == (bytes.fromhex(data), 0x9000)
    assert session.ssc.hex().upper() == "887022120C06C22C"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("990290008E08FA855A5D4C50A8EC9000", "MAC"),  # one bit of the MAC
        ("990290008E08FA855A5D", "declares"),  # truncated
        ("6982", "6982"),  # refused in the clear
    ],
)
def test_a_bad_answer_tears_the_session_down(answer: str, why: str) -> None:
    session = _icao_session()
    session.wrap(bytes.fromhex("00A4020C02011E"))
    with pytest.raises(SecureMessagingError, match=why):
        session.unwrap(bytes.fromhex(answer))
    assert not session.is_open
    assert "closed" in session.state
    assert not any(session.ssc)  # wiped
    with pytest.raises(SecureMessagingError, match="closed"):
        session.wrap(bytes.fromhex("00B0000004"))


def test_keys_and_sessions_hide_their_material() -> None:
    keys = SmKeys.from_mrz(MRZ_INFORMATION)
    provider = SoftwareKeyProvider(b"zq-secret-0123456789", algorithm="aes128")
    texts = [repr(keys), repr(_icao_session()), repr(provider), repr(provider.chip_keys(b"1"))]
    joined = " ".join(texts).lower()
    assert "ab94fdec" not in joined
    assert "zq-secret" not in joined
    assert not any(hasattr(keys, name) for name in ("enc", "mac", "key", "seed"))
    with pytest.raises(ValueError, match="16 bytes"):
        SmKeys("aes128", b"short", b"short")


@given(
    st.sampled_from(["3des", "aes128", "aes192", "aes256"]),
    st.binary(min_size=16, max_size=16),
    st.lists(apdus, min_size=1, max_size=4),
    st.binary(max_size=200),
)
def test_wrap_unwrap_round_trip_between_terminal_and_chip(
    algorithm: str, seed: bytes, commands: list[CommandApdu], answer: bytes
) -> None:
    keys = SmKeys.from_seed(algorithm, seed)
    challenge, request = keys.authenticate(b"C" * 8, b"T" * 8, b"K" * 16)
    reply, chip = keys.answer(b"C" * 8, b"k" * 16, request)
    terminal = challenge.finish(reply)
    for cmd in commands:
        cmd = dataclasses.replace(cmd, cla=cmd.cla & 0xF3)
        assert CommandApdu.parse(chip.unwrap_command(terminal.wrap(bytes(cmd)))) == cmd
        assert terminal.unwrap(chip.wrap_response(answer, 0x9000)) == (answer, 0x9000)


# -- profiles and personalisation ------------------------------------------------------------


def _jpeg(size: tuple[int, int] = (240, 320)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def sample_data(nik: str = "3271014508990001") -> ChipData:
    return ChipData(
        nik=nik,
        name="SITI AMINAH",
        birth_place="BOGOR",
        birth_date=dt.date(1999, 8, 5),
        photo=_jpeg(),
        signature=b"\x89PNG" + bytes(700),
        fingerprints=(bytes(range(256)) * 2, bytes(range(200))),
        address="JL. PAJAJARAN NO. 1",
        occupation="KARYAWAN SWASTA",
    )


def test_lds1_data_groups() -> None:
    data = sample_data()
    files = dict(data_groups(LDS1, data))
    assert 0x0101 not in files  # no MRZ given: no DG1, and EF.COM does not list it
    com = tlv_decode(files[0x011E])[0]
    assert tlv_find([com], 0x60, 0x5C).value == bytes([0x75, 0x63, 0x67, 0x6B, 0x6D])  # type: ignore[union-attr]
    dg11 = tlv_decode(files[0x010B])
    assert tlv_find(dg11, 0x6B, 0x5F10).value == b"3271014508990001"  # type: ignore[union-attr]
    assert tlv_find(dg11, 0x6B, 0x5F2B).value == b"19990805"  # type: ignore[union-attr]
    face = tlv_find(tlv_decode(files[0x0102]), 0x75, 0x7F61, 0x7F60, 0x5F2E)
    assert face is not None
    assert isinstance(face.value, bytes)
    assert face.value.startswith(b"FAC\x00010\x00")
    assert face.value.endswith(data.photo)
    fingers = tlv_find(tlv_decode(files[0x0103]), 0x63, 0x7F61)
    assert fingers is not None
    assert len(fingers.value) == 3  # count + two fingers
    assert "SITI" not in repr(data)
    assert "4508990001" not in repr(data)


def test_a_profile_from_toml() -> None:
    profile = ChipProfile.from_toml(
        """
[profile]
name = "observed e-KTP layout"
df = "7F0A"
algorithm = "aes128"
extended = true
max_chunk = 900

[[files]]
name = "biodata"
fid = "6FF1"
tag = "6B"
kind = "details"
fields = { nik = "5F10", name = "5F0E" }

[[files]]
name = "photo"
fid = "6FF2"
tag = "75"
kind = "face"
"""
    )
    assert profile.chunks == (900, 900)
    assert bytes(profile.select()).hex().upper() == "00A4000C027F0A"
    keys = SoftwareKeyProvider(b"office master key 16", algorithm="aes128")
    chip = VirtualChip(UID, keys.chip_keys(UID), application=bytes.fromhex("7F0A"))
    result = Personaliser(profile, keys).personalise(chip, sample_data())
    assert result.ok, result
    assert set(chip.files) == {0x6FF1, 0x6FF2}
    assert [f.fid for f in profile.files] == [0x6FF1, 0x6FF2]
    files = dict(data_groups(profile, sample_data()))
    assert tlv_find(tlv_decode(files[0x6FF1]), 0x6B, 0x5F0E).value == b"SITI AMINAH"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no such fields"):
        ChipProfile.from_toml(
            '[profile]\nname="x"\ndf=0x7F0A\n[[files]]\nname="d"\nfid=1\ntag=0x6B\n'
            'kind="details"\nfields={shoe_size=0x5F10}\n'
        )


UID = bytes.fromhex("04A1B2C3D4E5F6")


@pytest.mark.parametrize("algorithm", ["3des", "aes128", "aes256"])
@pytest.mark.parametrize("extended", [False, True])
def test_personalisation_writes_and_verifies_a_chip(algorithm: str, extended: bool) -> None:
    keys = SoftwareKeyProvider(b"office master key 16", algorithm=algorithm)
    profile = dataclasses.replace(LDS1, algorithm=algorithm, extended=extended)
    chip = VirtualChip(UID, keys.chip_keys(UID))
    data = sample_data()
    result = Personaliser(profile, keys).personalise(chip, data)
    assert result.ok, result
    assert result.uid == UID.hex().upper(), result
    assert {fid: bytes(body) for fid, body in chip.files.items()} == dict(
        data_groups(profile, data)
    )


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        (ChipFaults(bad_mac_at={3}), "MAC does not verify"),
        (ChipFaults(truncate_at={2}), "declares"),
        (ChipFaults(status_at={4: 0x6982}), "6982"),
        (ChipFaults(memory=1500), "6A84"),
        (ChipFaults(dead=True), "does not answer"),
    ],
)
def test_a_failing_chip_gives_a_failed_result_and_a_closed_session(
    faults: ChipFaults, reason: str
) -> None:
    keys = SoftwareKeyProvider(b"office master key 16")
    chip = VirtualChip(UID, keys.chip_keys(UID), faults=faults)
    result = Personaliser(LDS1, keys).personalise(chip, sample_data())
    assert not result.ok, result
    assert reason in (result.reason or ""), result
    assert "3271014508990001" not in (result.reason or "")


def test_t0_answers_are_fetched_with_get_response() -> None:
    keys = SoftwareKeyProvider(b"office master key 16")
    chip = VirtualChip(UID, keys.chip_keys(UID), faults=ChipFaults(t0=True))
    result = Personaliser(LDS1, keys).personalise(chip, sample_data())
    plain = Personaliser(LDS1, keys).personalise(
        VirtualChip(UID, keys.chip_keys(UID)), sample_data()
    )
    assert result.ok
    assert result.apdus > plain.apdus


def test_a_chip_with_other_keys_refuses_authentication() -> None:
    keys = SoftwareKeyProvider(b"office master key 16")
    stranger = SoftwareKeyProvider(b"another master key!!")
    chip = VirtualChip(UID, stranger.chip_keys(UID))
    result = Personaliser(LDS1, keys).personalise(chip, sample_data())
    assert not result.ok
    assert "6300" in (result.reason or "")
    # Nothing was written: without a session every file command is refused.
    assert chip.files == {}
    assert ChipChannel(chip).transmit(bytes(CommandApdu(0, 0xB0, 0, 0, ne=4)))[-2:] == b"\x69\x82"


def test_scripts_for_many_cards_are_built_at_once() -> None:
    keys = SoftwareKeyProvider(b"office master key 16")
    cards = [sample_data(f"32710145089900{i:02d}") for i in range(1, 6)]
    perso = Personaliser(LDS1, keys)
    plain = perso.scripts(cards)
    # In the clear, UPDATE BINARY carries 255 bytes.
    updates = [CommandApdu.parse(a) for a in plain[0][0] if a[1] == 0xD6]
    assert max(len(u.data) for u in updates) == 255
    sessions = [SmSession(SmKeys.from_seed("3des", bytes([i]) * 16), bytes(8)) for i in range(5)]
    wrapped = perso.scripts(cards, sessions)
    # Each protected command opens, on the chip's side, to the plain command cut at the
    # protected chunk size.
    write_chunk, read_chunk = LDS1.chunks
    for i, (card, (write, _)) in enumerate(zip(cards, wrapped, strict=True)):
        ((expected, _),) = _ektpcore.perso_scripts(
            [data_groups(LDS1, card)],
            create=True,
            write_chunk=write_chunk,
            read_chunk=read_chunk,
        )
        chip = SmSession(SmKeys.from_seed("3des", bytes([i]) * 16), bytes(8))
        for protected, apdu in zip(write, expected, strict=True):
            assert chip.unwrap_command(protected) == apdu
            chip.wrap_response(b"", 0x9000)


def test_pcsc_without_pyscard_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pyscard(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("smartcard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pyscard)
    from ektpcore.chip import PcscTransport

    with pytest.raises(ChipConnectionError, match=r"ektpcore\[pcsc\]"):
        PcscTransport()


def test_chip_data_from_a_record(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from ektpcore.chip import chip_data_from_record
    from ektpcore.errors import InvalidArgumentError

    png = tmp_path / "photo.png"
    Image.new("RGB", (60, 80), (10, 20, 200)).save(png)
    record = SimpleNamespace(
        nik="3271014508990001",
        name="SITI AMINAH",
        kecamatan="Bogor Tengah",
        kelurahan="Paledang",
        photo_ref=str(png),
        signature_ref=None,
    )
    data = chip_data_from_record(record, (b"R", b"L"))
    assert data.photo.startswith(b"\xff\xd8")  # re-encoded as JPEG
    assert data.birth_date == dt.date(1999, 8, 5)
    assert data.sex == "PEREMPUAN"
    missing = SimpleNamespace(**{**vars(record), "photo_ref": str(tmp_path / "nope.jpg")})
    with pytest.raises(InvalidArgumentError, match="cannot be read") as err:
        chip_data_from_record(missing, (b"R", b"L"))
    assert "4508990001" not in str(err.value)
    assert "nope" not in str(err.value)


@pytest.mark.parametrize("ne", [4, 300])
def test_the_channel_resends_a_command_with_the_le_a_6cxx_asks_for(ne: int) -> None:
    sent: list[CommandApdu] = []

    class Reader:
        def transmit(self, apdu: bytes) -> bytes:
            cmd = CommandApdu.parse(apdu)
            sent.append(cmd)
            if cmd.ne != 5:
                return bytes.fromhex("6C05")  # exactly 5 bytes are there
            return b"HELLO\x90\x00"

    answer = ChipChannel(Reader()).transmit(bytes(CommandApdu(0, 0xB0, 0, 0, ne=ne)))
    assert answer == b"HELLO\x90\x00"
    assert [c.ne for c in sent] == [ne, 5]
    assert sent[1].ins == 0xB0
