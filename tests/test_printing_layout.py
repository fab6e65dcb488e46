"""Card faces from the layout template, and the photo-background rule."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from ektpcore import InvalidArgumentError
from ektpcore.printing import (
    CardData,
    EvolisDialect,
    PhotoBackgroundError,
    Template,
    photo_background,
    render,
)


def photo(background: tuple[int, int, int]) -> np.ndarray:
    p = np.zeros((400, 300, 3), np.uint8)
    p[:] = background
    yy, xx = np.mgrid[:400, :300]
    p[((yy - 220) / 150) ** 2 + ((xx - 150) / 100) ** 2 < 1] = (220, 180, 150)
    return p


RED, BLUE, ORANGE = (200, 30, 40), (30, 60, 200), (240, 140, 30)


def citizen(**changes: object) -> CardData:
    card = CardData(
        nik="3271014508990001",
        nama="Siti Nurhaliza",
        tempat_lahir="Bogor",
        tanggal_lahir=dt.date(1999, 8, 5),
        jenis_kelamin="Perempuan",
        alamat="Jl. Pajajaran No. 12",
        rt_rw="003/007",
        kel_desa="Baranangsiang",
        kecamatan="Bogor Timur",
        agama="Islam",
        status_perkawinan="Belum Kawin",
        pekerjaan="Pelajar/Mahasiswa",
        provinsi="Jawa Barat",
        kabupaten="Kota Bogor",
        tempat_terbit="Kota Bogor",
        tanggal_terbit=dt.date(2017, 11, 14),
        photo=photo(RED),
        signature=np.full((90, 200), 255, np.uint8),
    )
    return dataclasses.replace(card, **changes)  # type: ignore[arg-type]


def test_a_card_renders_text_to_the_black_layer_and_the_photo_in_colour() -> None:
    faces = render(citizen())
    assert faces.front is not None
    assert faces.front_black is not None
    assert faces.back_black is not None
    assert faces.front.shape == (648, 1016, 3)
    t = Template.default()
    # The NIK row has ink; the photo box shows the red background; the rest of the colour
    # face is the template's background.
    assert (faces.front_black[112:140, 262:600] < 128).any()
    assert t.photo is not None
    assert tuple(faces.front[t.photo.y + 2, t.photo.x + 2]) == RED
    assert tuple(faces.front[600, 40]) == t.background
    assert (faces.back_black < 128).any()


def test_the_photo_background_rule() -> None:
    assert photo_background(photo(RED)) == "red"
    assert photo_background(photo(BLUE)) == "blue"
    assert photo_background(photo(ORANGE)) == "orange"
    render(citizen(tanggal_lahir=dt.date(2000, 1, 1), photo=photo(BLUE)))
    render(citizen(kewarganegaraan="WNA", photo=photo(ORANGE)))
    with pytest.raises(PhotoBackgroundError, match=r"born in an odd year wants red") as info:
        render(citizen(photo=photo(BLUE)))
    assert "3271**********01" in str(info.value)
    assert "4508" not in str(info.value)
    with pytest.raises(PhotoBackgroundError, match="no photo"):
        render(citizen(photo=None))
    render(citizen(photo=photo(BLUE)), check_photo=False)  # a supervisor's override


def test_personal_data_stays_out_of_the_repr() -> None:
    text = repr(citizen())
    assert "3271**********01" in text
    assert "Nurhaliza" not in text
    assert "4508" not in text


def test_templates_are_data(tmp_path: Path) -> None:
    path = tmp_path / "card.toml"
    path.write_text(
        'name = "test"\nwidth = 400\nheight = 250\n'
        '[[front.text]]\ntext = "{nama}"\nx = 10\ny = 10\nsize = 20\n',
        encoding="utf-8",
    )
    faces = render(citizen(), Template.from_toml(path), check_photo=False)
    assert faces.front is not None
    assert faces.front.shape == (250, 400, 3)
    assert faces.front_black is not None
    assert (faces.front_black < 128).any()
    path.write_text('width = "x"\n', encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="not a card template"):
        Template.from_toml(path)
    path.write_text(
        'width = 10\nheight = 10\n[[front.text]]\ntext = "{colour}"\nx = 1\ny = 1\n',
        encoding="utf-8",
    )
    with pytest.raises(InvalidArgumentError, match="unknown field"):
        render(citizen(), Template.from_toml(path), check_photo=False)


def test_rendered_cards_encode_and_decode() -> None:
    d = EvolisDialect()
    faces = render(citizen())
    job = d.decode(d.job_start() + d.encode_faces([faces]) + d.job_end())
    (card,) = job.cards
    k = card.front.mono_plane("k")
    assert k is not None
    assert k.any()
    assert card.back is not None
