"""Card faces: an E-KTP's front and back rendered with Pillow from a layout template.

The template is data, not code (``ektp.toml`` next to this module is the default; another
card is described by another file): the canvas, the background, the label/value rows, free
text, and the photo and signature boxes. Text and the signature go to the **black layer**
(printed in resin, sharp); the background and the photo to the colour face.

Before a card is drawn its photo background is checked against the rule the ministry applies
(a red background for an odd birth year, blue for an even one, orange for a foreigner);
:class:`PhotoBackgroundError` stops a card that would be reprinted on complaint.
"""

from __future__ import annotations

import datetime as _dt
import tomllib
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import CardDataError, InvalidArgumentError, PhotoBackgroundError
from ..nik import mask_nik
from .dialects import CardFaces

__all__ = [
    "CardData",
    "PhotoBackgroundError",
    "Template",
    "card_lacks",
    "check_card",
    "check_photo_background",
    "faces_from_record",
    "photo_background",
    "render",
]

Colour = Literal["red", "blue", "orange", "unknown"]


@dataclass(frozen=True)
class CardData:
    """What an E-KTP shows (UU 24/2013 Pasal 64(1)). ``photo`` is an RGB array
    (``height x width x 3``, uint8), ``signature`` a greyscale one (0 = ink)."""

    nik: str
    nama: str
    tempat_lahir: str
    tanggal_lahir: _dt.date
    jenis_kelamin: str
    alamat: str
    rt_rw: str
    kel_desa: str
    kecamatan: str
    agama: str
    status_perkawinan: str
    pekerjaan: str
    provinsi: str
    kabupaten: str
    tempat_terbit: str
    tanggal_terbit: _dt.date
    gol_darah: str = "-"
    kewarganegaraan: str = "WNI"
    berlaku_hingga: str = "SEUMUR HIDUP"
    photo: npt.NDArray[np.uint8] | None = field(default=None, repr=False)
    signature: npt.NDArray[np.uint8] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Personal data stays out of logs: the NIK masked, the name by its initial.
        return f"CardData(nik={mask_nik(self.nik)!r}, nama={self.nama[:1]!r}...)"

    @property
    def foreign(self) -> bool:
        return self.kewarganegaraan.strip().upper() not in ("WNI", "INDONESIA")

    def fields(self) -> dict[str, str]:
        """The values a template refers to, as printed (dates as DD-MM-YYYY, names upper)."""
        out: dict[str, str] = {}
        for name, value in vars(self).items():
            if name in ("photo", "signature"):
                continue
            if isinstance(value, _dt.date):
                out[name] = value.strftime("%d-%m-%Y")
            else:
                out[name] = str(value).upper()
        return out


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Text:
    text: str
    x: int
    y: int
    size: int = 24
    anchor: str = "la"


@dataclass(frozen=True)
class Template:
    """A card layout, read from TOML (:meth:`from_toml`; :meth:`default` is the E-KTP)."""

    name: str
    width: int
    height: int
    background: tuple[int, int, int]
    front: tuple[Text, ...]
    back: tuple[Text, ...]
    photo: Box | None
    signature: Box | None

    @classmethod
    def default(cls) -> Template:
        text = resources.files(__package__).joinpath("ektp.toml").read_text(encoding="utf-8")
        return cls.from_text(text, "ektp.toml")

    @classmethod
    def from_toml(cls, path: str | Path) -> Template:
        return cls.from_text(Path(path).read_text(encoding="utf-8"), str(path))

    @classmethod
    def from_text(cls, text: str, where: str = "template") -> Template:
        try:
            doc = tomllib.loads(text)
            front_doc, back_doc = doc.get("front", {}), doc.get("back", {})
            front: list[Text] = []
            rows = front_doc.get("rows", [])
            for i, (label, value) in enumerate(rows):
                y = int(front_doc["first_y"]) + i * int(front_doc["line"])
                front.append(
                    Text(label, int(front_doc["label_x"]), y, int(front_doc["label_size"]))
                )
                front.append(
                    Text(f": {value}", int(front_doc["value_x"]), y, int(front_doc["value_size"]))
                )
            front += [Text(**t) for t in front_doc.get("text", [])]
            back = [Text(**t) for t in back_doc.get("text", [])]

            def box(entry: dict[str, Any] | None) -> Box | None:
                return None if entry is None else Box(**entry)

            return cls(
                name=str(doc.get("name", where)),
                width=int(doc["width"]),
                height=int(doc["height"]),
                background=tuple(int(v) for v in doc.get("background", (255, 255, 255))),  # type: ignore[arg-type]
                front=tuple(front),
                back=tuple(back),
                photo=box(front_doc.get("photo")),
                signature=box(front_doc.get("signature")),
            )
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
            raise InvalidArgumentError(f"{where}: not a card template: {err}") from None


def photo_background(photo: npt.NDArray[np.uint8]) -> Colour:
    """The colour of a passport photo's background, from its top rows and side columns."""
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise InvalidArgumentError(f"a photo is height x width x 3, got {photo.shape}")
    h, w = photo.shape[:2]
    band = max(1, h // 12)
    edge = np.concatenate(
        [photo[:band].reshape(-1, 3), photo[:, : max(1, w // 12)].reshape(-1, 3)]
    ).astype(np.int32)
    r, g, b = np.median(edge, axis=0)
    if b > r + 40 and b > g:
        return "blue"
    if r > b + 60 and r > g + 20:
        return "orange" if g > 0.45 * r else "red"
    return "unknown"


def check_photo_background(card: CardData) -> None:
    """Raises :class:`PhotoBackgroundError` unless the photo's background follows the rule:
    orange for a foreigner (WNA), red for an odd birth year, blue for an even one."""
    if card.photo is None:
        raise PhotoBackgroundError(f"card {mask_nik(card.nik)} has no photo")
    odd = card.tanggal_lahir.year % 2 == 1
    want: Colour = "orange" if card.foreign else "red" if odd else "blue"
    why = "a foreigner" if card.foreign else f"born in an {'odd' if odd else 'even'} year"
    got = photo_background(card.photo)
    if got != want:
        raise PhotoBackgroundError(
            f"card {mask_nik(card.nik)}: the photo background is {got}; {why} wants {want}"
        )


def _has_glyph(font: Any, char: str) -> bool:
    """Whether ``font`` draws ``char`` (rather than its box for a missing glyph)."""
    key = (*font.getname(), char)
    if key not in _GLYPHS:

        def shape(c: str) -> tuple[tuple[int, int], bytes]:
            mask = font.getmask(c)
            return mask.size, bytes(mask)

        _GLYPHS[key] = char.isspace() or shape(char) != shape("\uffff")
    return _GLYPHS[key]


_GLYPHS: dict[tuple[str, ...], bool] = {}


def _drawable(text: str, font: Any) -> str:
    """``text`` as the card's font can draw it: a letter the font lacks is drawn as its base
    letter (``JOSÉ`` as ``JOSE``, as SIAK writes names), never as a missing glyph's box."""
    out = []
    for char in text:
        if char.isascii() or _has_glyph(font, char):
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if char in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212":
            base = "-"
        out.append(base if base and all(_has_glyph(font, c) for c in base) else "?")
    return "".join(out)


def _fit(image: npt.NDArray[np.uint8], box: Box, mode: str) -> Any:
    from PIL import Image

    picture = Image.fromarray(image, mode=None)
    if picture.mode != mode:
        picture = picture.convert(mode)
    return picture.resize((box.width, box.height), Image.Resampling.LANCZOS)


def render(
    card: CardData, template: Template | None = None, *, check_photo: bool = True
) -> CardFaces:
    """Draws a card: the colour front (background, photo), its black layer (text,
    signature), and the back's black layer. The photo rule is checked first."""
    from PIL import Image, ImageDraw, ImageFont

    t = template or Template.default()
    if check_photo:
        check_photo_background(card)
    values = card.fields()
    size = (t.width, t.height)
    colour = Image.new("RGB", size, t.background)
    if card.photo is not None and t.photo is not None:
        colour.paste(_fit(card.photo, t.photo, "RGB"), (t.photo.x, t.photo.y))

    def layer(texts: tuple[Text, ...]) -> Any:
        black = Image.new("L", size, 255)
        draw = ImageDraw.Draw(black)
        fonts: dict[int, Any] = {}
        for item in texts:
            font = fonts.setdefault(item.size, ImageFont.load_default(size=item.size))
            try:
                text = item.text.format_map(values)
            except KeyError as err:
                raise InvalidArgumentError(
                    f"the template refers to an unknown field {err}"
                ) from None
            draw.text(
                (item.x, item.y), _drawable(text, font), fill=0, font=font, anchor=item.anchor
            )
        return black

    front_black = layer(t.front)
    if card.signature is not None and t.signature is not None:
        ink = _fit(card.signature, t.signature, "L")
        region = (t.signature.x, t.signature.y)
        front_black.paste(
            Image.fromarray(
                np.minimum(
                    np.asarray(
                        front_black.crop(
                            (*region, region[0] + t.signature.width, region[1] + t.signature.height)
                        )
                    ),
                    np.asarray(ink),
                )
            ),
            region,
        )
    back_black = layer(t.back)
    return CardFaces(
        front=np.ascontiguousarray(np.asarray(colour, dtype=np.uint8)),
        front_black=np.ascontiguousarray(np.asarray(front_black, dtype=np.uint8)),
        back_black=np.ascontiguousarray(np.asarray(back_black, dtype=np.uint8)),
    )


def card_lacks(
    record: Any, *, kabupaten: str | None = None, province: str | None = None
) -> list[str]:
    """The fields ``record``'s card shows that it lacks (``[]``: it can be printed), with
    the bureau's ``kabupaten`` and ``province`` standing in where the record has none."""
    fields = getattr(record, "card", None)
    missing = [] if record.name else ["name"]
    if fields is None:
        from ..ledger import CardFields

        missing += list(CardFields.REQUIRED)
    else:
        missing += fields.missing()
    if not ((fields is not None and fields.kabupaten) or kabupaten):
        missing.append("kabupaten")
    if not ((fields is not None and fields.province) or province):
        missing.append("province")
    if not record.photo_ref:
        missing.append("photo")
    return missing


def check_card(record: Any, *, kabupaten: str | None = None, province: str | None = None) -> None:
    """Refuses a record whose card cannot be printed: a field missing (see
    :func:`card_lacks`), or a photo or signature file that cannot be read. A station checks
    each card of a batch with it before the first one moves.

    Raises:
        CardDataError: naming the record (masked NIK and initials) and what it lacks.
    """
    from PIL import Image

    who = _who(record)
    missing = card_lacks(record, kabupaten=kabupaten, province=province)
    if missing:
        raise CardDataError(
            f"record {who} cannot be printed: its card lacks {', '.join(missing)} (give them"
            " at intake)"
        )
    for what, ref in (("photo", record.photo_ref), ("signature", record.signature_ref)):
        if not ref:
            continue
        try:
            with Image.open(ref):
                pass
        except OSError as err:
            raise CardDataError(
                f"record {who} cannot be printed: its {what} file cannot be read"
                f" ({err.strerror or type(err).__name__})"
            ) from None


def _who(record: Any) -> str:
    """A record as errors name it: masked NIK and the name's initials."""
    from ..sheets import initials

    letters = initials(record.name)
    return mask_nik(int(record.nik)) + (f" ({letters})" if letters else "")


def faces_from_record(
    record: Any,
    template: Template | None = None,
    *,
    check_photo: bool = True,
    issued_at: str | None = None,
    issued_on: _dt.date | None = None,
    kabupaten: str | None = None,
    province: str | None = None,
) -> CardFaces:
    """Faces from what a ledger :class:`~ektpcore.Record` holds: its NIK, name, kecamatan and
    kelurahan, photo and signature files, and the card's other fields (``record.card``).
    ``issued_at`` and ``issued_on`` are where and when the card is issued (the card's
    kabupaten/kota and today by default); ``kabupaten`` and ``province`` stand in where the
    record has none.

    Raises:
        CardDataError: the record lacks a field the card shows (named in the message), or
            its photo cannot be read, before anything is drawn.
    """
    from PIL import Image

    from ..nik import Nik

    nik = Nik(int(record.nik)) if not isinstance(record.nik, Nik) else record.nik
    check_card(record, kabupaten=kabupaten, province=province)
    card_fields = record.card
    # Both are there: check_card refused a record without them.
    regency = str(card_fields.kabupaten or kabupaten)
    region = str(card_fields.province or province)

    def image(ref: str | None, mode: str, what: str) -> npt.NDArray[np.uint8] | None:
        if not ref:
            return None
        try:
            with Image.open(ref) as im:
                return np.asarray(im.convert(mode), dtype=np.uint8)
        except OSError as err:
            raise CardDataError(
                f"record {_who(record)} cannot be printed: its {what} file cannot be"
                f" read ({type(err).__name__})"
            ) from None

    card = CardData(
        nik=str(nik),
        nama=record.name,
        tempat_lahir=card_fields.birth_place,
        tanggal_lahir=_dt.date.fromisoformat(card_fields.birth_date),
        jenis_kelamin="PEREMPUAN" if nik.sex.value == 2 else "LAKI-LAKI",
        alamat=card_fields.address,
        rt_rw=f"{card_fields.rt}/{card_fields.rw}",
        kel_desa=record.kelurahan or "-",
        kecamatan=record.kecamatan or "-",
        agama=card_fields.religion,
        status_perkawinan=card_fields.marital_status,
        pekerjaan=card_fields.occupation,
        provinsi=region,
        kabupaten=regency,
        tempat_terbit=issued_at or regency,
        tanggal_terbit=issued_on or _dt.date.today(),
        gol_darah=card_fields.blood_type or "-",
        kewarganegaraan=card_fields.citizenship,
        photo=image(record.photo_ref, "RGB", "photo"),
        signature=image(record.signature_ref, "L", "signature"),
    )
    return render(card, template, check_photo=check_photo)
