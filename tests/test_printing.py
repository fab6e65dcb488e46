"""Printing: the raster stage and the Evolis dialect through the Python API."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ektpcore import InvalidArgumentError, RibbonMismatchError, StreamDecodeError
from ektpcore.printing import (
    CardFaces,
    Dialect,
    EvolisDialect,
    MagicardDialect,
    Panels,
    RasterSettings,
    TcpTransport,
    VirtualPrinter,
    chip_clear_mask,
    dialect,
    dialects,
    rasterize,
)

H, W = 648, 1016  # an Evolis face, landscape


def face(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A card-like face: a light gradient, a photo block with noise, black text strokes."""
    rng = np.random.default_rng(seed)
    rgb = np.empty((H, W, 3), dtype=np.uint8)
    rgb[:] = np.linspace(200, 255, W, dtype=np.uint8)[None, :, None]
    rgb[150:550, 700:980] = rng.integers(0, 256, (400, 280, 3), dtype=np.uint8)
    black = np.full((H, W), 255, dtype=np.uint8)
    black[60:80, 40:600] = 0
    black[100:110, 40:300] = 90  # grey, anti-aliased text
    return rgb, black


def test_rasterize_gives_evolis_panels() -> None:
    rgb, black = face()
    p = rasterize(rgb, black, RasterSettings(depth=6))
    assert (p.lines, p.dots) == (1016, 648)
    assert p.y is not None
    assert p.y.max() < 64
    k = p.mono_plane("k")
    assert k is not None
    assert k.sum() == 20 * 560 + 10 * 260  # threshold 128: the grey stroke prints too
    # Turned clockwise: face row 60, column 40 is line 40, dot 648 - 1 - 60.
    assert k[40, 647 - 60]
    o = p.mono_plane("o")
    assert o is not None
    assert o.all()


def test_chip_area_is_left_without_overlay() -> None:
    rgb, _ = face()
    mask = chip_clear_mask(H, W)
    p = rasterize(rgb, None, RasterSettings(overlay=mask, black="none"))
    o = p.mono_plane("o")
    assert o is not None
    assert 0.9 < o.mean() < 1.0
    assert p.k is None


@pytest.mark.parametrize(
    ("rgb", "black", "message"),
    [
        (np.zeros((10, 10, 3), dtype=np.float32), None, "must be uint8"),
        (np.zeros((10, 10), dtype=np.uint8), None, "height x width x 3"),
        (np.zeros((10, 20, 3), dtype=np.uint8)[:, ::2], None, "C-contiguous"),
        (np.zeros((10, 10, 3), dtype=np.uint8), np.zeros((9, 10), dtype=np.uint8), "black"),
        ([[0]], None, "numpy array"),
    ],
)
def test_wrong_arrays_are_refused_with_the_reason(rgb: object, black: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        rasterize(rgb, black)  # type: ignore[arg-type]


def test_bad_settings_are_refused() -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(InvalidArgumentError, match="5 to 8"):
        rasterize(rgb, None, RasterSettings(depth=4))
    with pytest.raises(InvalidArgumentError, match="rotation"):
        rasterize(rgb, None, RasterSettings(rotation=45))
    with pytest.raises(InvalidArgumentError, match="256 values"):
        rasterize(rgb, None, RasterSettings(curve=(1, 2)))


def test_a_two_sided_batch_streams_and_decodes_back_to_its_panels() -> None:
    d = EvolisDialect()
    faces = [face(i) for i in range(3)]
    cards = [CardFaces(front=rgb, front_black=blk, back_black=blk) for rgb, blk in faces]
    stream = b"".join(d.stream(cards, chunk=2))
    job = d.decode(stream)
    assert job.ribbon == "ymckok"
    assert len(job.cards) == 3
    for (rgb, blk), card in zip(faces, job.cards, strict=True):
        assert card.front == rasterize(rgb, blk, d.front)
        assert card.back == rasterize(None, blk, d.back)
        assert card.depth == 5
    names = [c.name for c in job.commands]
    assert names[:2] == ["Pr", "Pmi"]
    assert names.count("Ss") == names.count("Se") == 3
    assert d.encode_faces(cards) == stream[len(d.job_start()) : -len(d.job_end())]


@given(
    depth=st.integers(5, 8),
    compress=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    panels=st.sets(st.sampled_from("cko"), min_size=1),
    back=st.booleans(),
)
def test_property_decode_inverts_encode(
    depth: int, compress: bool, seed: int, panels: set[str], back: bool
) -> None:
    rng = np.random.default_rng(seed)
    lines, dots = 1016, 648

    def colour() -> np.ndarray:
        runs = rng.integers(1, 900, 2_000)
        values = rng.integers(0, 1 << depth, 2_000).astype(np.uint8)
        return np.repeat(values, runs)[: lines * dots].copy()

    def mono() -> np.ndarray:
        b = rng.integers(0, 256, lines * 81, dtype=np.uint8)
        b[: 81 * 300] = 0
        b[81 * 300 : 81 * 400] = 255
        return b

    y, m, c = (colour(), colour(), colour()) if "c" in panels else (None, None, None)
    side = Panels(
        lines,
        dots,
        y=y,
        m=m,
        c=c,
        k=mono() if "k" in panels else None,
        o=mono() if "o" in panels else None,
    )
    other = Panels(lines, dots, k=mono()) if back else None
    d = EvolisDialect(compress=compress, front=RasterSettings(depth=depth))
    stream = d.job_start() + d.chip_phase("contact") + d.encode_card(side, other) + d.job_end()
    job = d.decode(stream)
    (card,) = job.cards
    assert card.front == side
    assert card.back == other
    assert card.chip == "contact"


@given(st.binary(max_size=400))
def test_property_the_decoder_refuses_or_parses_any_bytes(data: bytes) -> None:
    offset = None
    try:
        EvolisDialect().decode(data)
    except StreamDecodeError as err:
        offset = err.offset
    assert offset is None or 0 <= offset <= len(data)


def test_commands_read_the_framing_and_refuse_a_cut_stream() -> None:
    d = EvolisDialect()
    stream = d.job_start() + d.encode_faces([CardFaces(front=face()[0], front_black=face()[1])])
    names = [c.name for c in d.commands(stream)]
    assert names == [c.name for c in d.decode(stream).commands]
    with pytest.raises(StreamDecodeError, match="ends inside a command"):
        d.commands(stream[:-3])


def test_a_malformed_stream_names_its_offset() -> None:
    with pytest.raises(StreamDecodeError, match="at byte 16") as info:
        EvolisDialect().decode(b"\x1bSs\r\x1bDbc;k;2;10;abc")
    assert info.value.offset == 16


def test_dialects_register_by_name_and_python_dialects_plug_in() -> None:
    assert "evolis" in dialects()
    assert isinstance(dialect("evolis", ribbon="ko"), EvolisDialect)
    assert isinstance(EvolisDialect(), Dialect)
    with pytest.raises(InvalidArgumentError, match="no dialect"):
        dialect("nope")


def worked_example() -> Any:
    """The dialect written in docs/printing.md, run as written."""
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "printing.md").read_text(encoding="utf-8")
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "MonoEvolis" in b)
    scope: dict[str, object] = {}
    exec(compile(code, "docs/printing.md", "exec"), scope)
    return dialect("mono-evolis")


def test_the_worked_example_of_a_python_dialect_runs() -> None:
    mono = worked_example()
    assert isinstance(mono, Dialect)
    _, black = face(3)
    panels = rasterize(None, black, RasterSettings(colour=False, overlay="none"))
    cards = mono.encode_cards([CardFaces(front_black=black)] * 2)
    assert [c.replies for c in cards] == [4, 4]
    stream = mono.job_start() + b"".join(cards) + mono.job_end()
    job = mono.decode(stream)
    assert len(job.cards) == 2
    assert job.cards[0].front.k is not None
    assert panels.k is not None
    assert np.array_equal(job.cards[0].front.k, panels.k)
    # The Evolis decoder reads the same stream: it is Evolis framing with raw downloads.
    again = EvolisDialect(ribbon="k").decode(stream).cards[1].front.k
    assert again is not None
    assert np.array_equal(again, panels.k)
    with pytest.raises(StreamDecodeError) as info:
        mono.decode(stream[: len(stream) // 2])
    assert info.value.offset > 0
    with VirtualPrinter(dialect=mono) as printer, TcpTransport(*printer.address) as t:
        t.write(stream)
        assert t.command("Rco;p") == "2"
    assert np.array_equal(printer.cards[1].front.k, panels.k)  # type: ignore[arg-type]


def test_encoders_count_the_replies_a_card_draws() -> None:
    """The encoder says how many replies each card draws; the decoder of the same bytes (a
    second reading, which the station never does) agrees."""
    rgb, black = face(5)
    cases = [
        (EvolisDialect(), CardFaces(front=rgb, front_black=black, back_black=black)),
        (EvolisDialect(ribbon="ymcko"), CardFaces(front=rgb, front_black=black, back=rgb)),
        (EvolisDialect(ribbon="k"), CardFaces(front_black=black)),
        (EvolisDialect(), CardFaces(front_black=black)),  # no RGB face: no colour
    ]
    for d, card in cases:
        (one,) = d.encode_cards([card])
        assert one.replies == len(d.commands(one)), d
        assert bytes(one) == d.encode_faces([card])
        several = d.encode_cards([card] * 5)
        assert b"".join(several) == d.encode_faces([card] * 5)
    magicard = MagicardDialect()
    (page,) = magicard.encode_cards([CardFaces(front_black=black[:642].copy())])
    assert page.replies == 0  # a Magicard answers nothing while it takes pages
    handshake = EvolisDialect().handshake()
    assert handshake.replies == len(EvolisDialect().commands(handshake)) == 4
    assert EvolisDialect().chip_phase("contact").replies == 2
    assert EvolisDialect().reject().replies == 1


# -- the ribbon decides the panels ------------------------------------------------------------


def test_a_black_ribbon_sends_black_only() -> None:
    d = EvolisDialect(ribbon="k")
    assert (d.front.colour, d.front.black, d.front.overlay) == (False, "layer", "none")
    rgb, blk = face()
    job = d.decode(b"".join(d.stream([CardFaces(front=rgb, front_black=blk)])))
    (card,) = job.cards
    assert card.front.k is not None
    assert (card.front.y, card.front.o, card.depth) == (None, None, 0)
    assert [c.params[0] for c in job.commands if c.name == "Dbc"] == ["k"]


@pytest.mark.parametrize(
    ("ribbon", "front", "back", "message"),
    [
        ("k", RasterSettings(), None, "prints K on the front; the front asks for colour"),
        ("ko", RasterSettings(overlay="none"), None, "asks for colour (Y, M, C) too"),
        ("ymckok", None, RasterSettings(), "prints K on the back; the back asks for colour"),
    ],
)
def test_settings_that_contradict_the_ribbon_are_refused(
    ribbon: str, front: RasterSettings | None, back: RasterSettings | None, message: str
) -> None:
    with pytest.raises(RibbonMismatchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EvolisDialect(ribbon=ribbon, front=front, back=back)


def test_panels_the_ribbon_lacks_are_refused_by_the_encoder() -> None:
    rgb, blk = face()
    colour = rasterize(rgb, blk)
    with pytest.raises(RibbonMismatchError, match="the ko ribbon prints K and O on the front"):
        EvolisDialect(ribbon="ko").encode_card(colour)
    with pytest.raises(InvalidArgumentError, match="unknown Evolis ribbon"):
        EvolisDialect(ribbon="zz")
    # Fewer panels than the ribbon has are fine: a YMCKO front without its overlay.
    d = EvolisDialect(ribbon="ymcko", front=RasterSettings(overlay="none"))
    (card,) = d.decode(d.encode_card(rasterize(rgb, blk, d.front))).cards
    assert card.front.o is None
    assert card.front.y is not None


# -- Magicard ---------------------------------------------------------------------------------

MH = 642  # a Magicard face: 642 x 1016


def magicard_face(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rgb, black = face(seed)
    return np.ascontiguousarray(rgb[:MH]), np.ascontiguousarray(black[:MH])


def test_a_two_sided_magicard_batch_decodes_back_to_its_panels() -> None:
    d = MagicardDialect()
    assert d.canvas == (1016, 642)
    assert d.depth == 6
    faces = [magicard_face(i) for i in range(3)]
    cards = [CardFaces(front=rgb, front_black=blk, back_black=blk) for rgb, blk in faces]
    stream = b"".join(d.stream(cards, chunk=2))
    job = d.decode(stream)
    assert job.ribbon == "ymckok"
    for (rgb, blk), card in zip(faces, job.cards, strict=True):
        assert card.front == rasterize(rgb, blk, d.front)
        assert card.back == rasterize(None, blk, d.back)
        assert card.depth == 6
    header = b"\x05" * 64 + b"\x01,LC8,DPXON,BACK,PAG1,OVRON,HGT1016,WID642,IMFBGRK,"
    assert stream.startswith(header)
    assert [c.name for c in job.commands[:6]] == ["JOB", "B", "G", "R", "K", "END"]
    assert d.commands(stream) == job.commands


def test_magicard_refusals() -> None:
    rgb, blk = face()  # an Evolis-sized face: 648 dots
    with pytest.raises(InvalidArgumentError, match="642 dots"):
        MagicardDialect().encode_faces([CardFaces(front=rgb, front_black=blk)])
    with pytest.raises(RibbonMismatchError, match="the k ribbon prints K on the front"):
        MagicardDialect(ribbon="k", front=RasterSettings(depth=6))
    with pytest.raises(InvalidArgumentError, match="chip encoder"):
        MagicardDialect().chip_phase("contact")
    with pytest.raises(StreamDecodeError) as info:
        MagicardDialect().decode(b"\x05" * 64 + b"\x01,LC3,IMFK,SZK12\x1c")
    assert info.value.offset == 65
    assert isinstance(dialect("magicard", ribbon="ko"), MagicardDialect)
    assert MagicardDialect().command("REQ,STA,MSR,") == b"\x05" * 9 + b"\x01REQ,STA,MSR,\x1c\x03"


def test_a_magicard_stream_is_handed_over_without_a_copy() -> None:
    """The pages stay in the encoder's memory, read through views; the views hold them."""
    rgb, black = face(7)
    cards = [CardFaces(front=rgb[:642].copy(), front_black=black[:642].copy())] * 5
    d = MagicardDialect()
    pieces = list(d.stream(cards, chunk=4))
    views = [p for p in pieces if isinstance(p, memoryview)]
    assert views
    assert all(v.readonly for v in views)
    whole = b"".join(pieces)
    del d
    assert whole == MagicardDialect().job_start() + MagicardDialect().encode_faces(cards)
    assert len(MagicardDialect().decode(whole).cards) == 5
    for _ in range(3):  # pieces given back and taken again by the next chunks
        assert b"".join(MagicardDialect().stream(cards, chunk=2)) == whole
