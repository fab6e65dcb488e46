"""The raster stage: card faces become printer panels (Y, M, C at 5-8 bits; K and O at one).

The work runs in Rust with the GIL released (see ``rust/raster``). Faces are numpy arrays:
``uint8`` RGB of shape ``(height, width, 3)`` and an optional ``uint8`` black layer of shape
``(height, width)`` (0 = black ink, 255 = none: text rendered apart from the picture so it
prints sharp in resin). Arrays must be C-contiguous; anything else is refused with the reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _ektpcore
from ..errors import InvalidArgumentError

__all__ = ["Panels", "RasterSettings", "chip_clear_mask", "rasterize"]

Bytes = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class RasterSettings:
    """How a face becomes panels.

    Attributes:
        depth: bits per colour dot (5-8); Evolis calls 5 bits "32 levels".
        gamma: the transfer curve as a power on ink (1.0 linear), or ``curve``: 256 values.
        black: ``"layer"`` (K from the black layer), ``"near-black"`` (also from face pixels
            with every channel at or under ``near_black``), or ``"none"`` (no K panel).
        halftone: how a grey black layer becomes one bit: ``"threshold"`` (at ``threshold``),
            ``"floyd-steinberg"`` or ``"ordered"`` (8x8 Bayer).
        overlay: ``"full"``, ``"none"``, or an array (``height x width``, non-zero varnishes),
            e.g. from :func:`chip_clear_mask`.
        rotation: clockwise turn from the face to the printer's lines (Evolis: 90).
        colour: whether Y, M and C are wanted (``False`` for a black-only side).
    """

    depth: int = 5
    gamma: float = 1.0
    curve: tuple[int, ...] | None = None
    black: Literal["layer", "near-black", "none"] = "layer"
    near_black: int = 40
    halftone: Literal["threshold", "floyd-steinberg", "ordered"] = "threshold"
    threshold: int = 128
    overlay: Literal["full", "none"] | Bytes = "full"
    rotation: int = 90
    colour: bool = True

    def curve_table(self) -> list[int]:
        """The transfer curve's 256 values."""
        return list(self._curve)

    @functools.cached_property
    def _curve(self) -> tuple[int, ...]:
        # Worked out once per settings: a station encodes every card with the same ones.
        if self.curve is not None:
            if len(self.curve) != 256 or not all(0 <= v <= 255 for v in self.curve):
                raise InvalidArgumentError("a transfer curve is 256 values in 0..255")
            return tuple(self.curve)
        if not self.gamma > 0:
            raise InvalidArgumentError("gamma must be > 0")
        x = np.arange(256) / 255.0
        return tuple(np.rint(255 * x**self.gamma).astype(int).tolist())

    def as_core(self) -> dict[str, Any]:
        mask = None
        overlay: str
        if isinstance(self.overlay, str):
            overlay = self.overlay
        else:
            mask = _contiguous(self.overlay, 2, "overlay mask")
            overlay = "mask"
        return {
            "depth": self.depth,
            "curve": self.curve_table(),
            "black": self.black,
            "near_black": self.near_black,
            "halftone": self.halftone,
            "threshold": self.threshold,
            "overlay": overlay,
            "mask": mask,
            "rotation": self.rotation,
            "colour": self.colour,
        }


@dataclass(frozen=True)
class Panels:
    """One side's panels in printer order: ``lines`` lines of ``dots`` dots. ``y``, ``m``,
    ``c`` hold one level per dot (``None`` when not printed); ``k`` and ``o`` eight dots per
    byte, most significant bit first, a set bit printing."""

    lines: int
    dots: int
    y: Bytes | None = field(default=None, repr=False)
    m: Bytes | None = field(default=None, repr=False)
    c: Bytes | None = field(default=None, repr=False)
    k: Bytes | None = field(default=None, repr=False)
    o: Bytes | None = field(default=None, repr=False)

    def colour_plane(self, name: str) -> Bytes | None:
        """A colour panel as ``lines x dots``."""
        v = getattr(self, name)
        return None if v is None else v.reshape(self.lines, self.dots)

    def mono_plane(self, name: str) -> npt.NDArray[np.bool_] | None:
        """K or O unpacked to ``lines x dots`` booleans."""
        v = getattr(self, name)
        if v is None:
            return None
        bits = np.unpackbits(v.reshape(self.lines, -1), axis=1)
        return bits[:, : self.dots].astype(bool)

    def as_core(self) -> tuple[Any, ...]:
        return (self.lines, self.dots, self.y, self.m, self.c, self.k, self.o)

    @classmethod
    def from_core(cls, t: tuple[Any, ...]) -> Panels:
        return cls(*t)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Panels):
            return NotImplemented
        if (self.lines, self.dots) != (other.lines, other.dots):
            return False
        for name in "ymcko":
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


def _contiguous(a: Any, ndim: int, what: str) -> Bytes:
    if not isinstance(a, np.ndarray):
        raise InvalidArgumentError(f"the {what} must be a numpy array, got {type(a).__name__}")
    if a.dtype != np.uint8:
        raise InvalidArgumentError(f"the {what} must be uint8, got {a.dtype}")
    if a.ndim != ndim or (ndim == 3 and a.shape[2] != 3):
        shape = "height x width x 3" if ndim == 3 else "height x width"
        raise InvalidArgumentError(f"the {what} must be {shape}, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise InvalidArgumentError(
            f"the {what} must be C-contiguous (numpy.ascontiguousarray(...))"
        )
    return a


def check_face(rgb: Any, black: Any, what: str = "face") -> tuple[Bytes | None, Bytes | None]:
    """Validates a face's arrays, with a clear reason for each refusal."""
    r = None if rgb is None else _contiguous(rgb, 3, f"{what} RGB array")
    b = None if black is None else _contiguous(black, 2, f"{what} black layer")
    if r is not None and b is not None and r.shape[:2] != b.shape:
        raise InvalidArgumentError(
            f"the {what} black layer is {b.shape}, its RGB array {r.shape[:2]}"
        )
    return r, b


def rasterize(
    rgb: Bytes | None, black: Bytes | None = None, settings: RasterSettings | None = None
) -> Panels:
    """Separates one face into panels (in Rust, GIL released)."""
    s = settings or RasterSettings()
    r, b = check_face(rgb, black)
    return Panels.from_core(_ektpcore.raster_face(r, b, s.as_core()))


def chip_clear_mask(height: int, width: int, box: tuple[int, int, int, int] | None = None) -> Bytes:
    """An overlay mask that varnishes everything except ``box`` (``top, left, bottom,
    right`` in face pixels): by default the contact-chip area of an ID-1 card at 300 dpi
    (ISO/IEC 7816-2 places the contacts about 10-20 mm from the left and 19-29 mm from the
    top edge; the box adds a margin)."""
    mask = np.ones((height, width), dtype=np.uint8)
    if box is None:
        dpmm = 300 / 25.4
        box = (int(17 * dpmm), int(8 * dpmm), int(31 * dpmm), int(23 * dpmm))
    top, left, bottom, right = box
    mask[max(0, top) : bottom, max(0, left) : right] = 0
    return mask
