"""Numpy drawing primitives for the StreetFighter renderer: boxes, anti-aliased limbs and discs, text.

Everything draws in place on an ``(H, W, 3)`` uint8 image and clips to its borders. Limbs are
capsules (segments with a radius) drawn from their signed distance, so they are anti-aliased and
outlined; text is blitted from glyph masks rendered once per font size with Pillow (DejaVu Sans
Bold from matplotlib's fonts when present, Pillow's default font otherwise) and cached per string.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

Color = tuple[int, int, int]

_MASK_CACHE_SIZE = 512
"""String masks kept per font size (HUD strings repeat: names, numbers, move names)."""
_SPRITE_CACHE_SIZE = 160
"""Coloured text sprites kept per font size (a few MB at most; cleared when full)."""


def fill_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
    """Fill pixels ``x0 <= x < x1``, ``y0 <= y < y1`` (clipped) with ``color``."""
    h, w = img.shape[:2]
    x0, x1 = max(0, int(x0)), min(w, int(x1))
    y0, y1 = max(0, int(y0)), min(h, int(y1))
    if x0 < x1 and y0 < y1:
        img[y0:y1, x0:x1] = color


def blend_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: Color, alpha: float) -> None:
    """Blend ``color`` with opacity ``alpha`` over the box ``x0 <= x < x1``, ``y0 <= y < y1`` (clipped)."""
    h, w = img.shape[:2]
    x0, x1 = max(0, int(x0)), min(w, int(x1))
    y0, y1 = max(0, int(y0)), min(h, int(y1))
    if x0 < x1 and y0 < y1:
        region = img[y0:y1, x0:x1]
        region[...] = region * (1.0 - alpha) + np.asarray(color, dtype=np.float32) * alpha


def outline_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1) -> None:
    """Draw the border (``width`` pixels, inside the box) of ``x0 <= x < x1``, ``y0 <= y < y1``."""
    x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
    fill_rect(img, x0, y0, x1, y0 + width, color)
    fill_rect(img, x0, y1 - width, x1, y1, color)
    fill_rect(img, x0, y0, x0 + width, y1, color)
    fill_rect(img, x1 - width, y0, x1, y1, color)


@dataclass(frozen=True, slots=True)
class Capsule:
    """A segment from ``(x0, y0)`` to ``(x1, y1)`` (pixels) with radius ``r``; ``x0 == x1, y0 == y1`` is a disc."""

    x0: float
    y0: float
    x1: float
    y1: float
    r: float


def draw_capsules(
    img: np.ndarray,
    capsules: list[Capsule],
    color: Color,
    outline: Color | None = None,
    outline_width: float = 1.5,
) -> None:
    """Draw the union of ``capsules`` filled with ``color``, anti-aliased, optionally outlined.

    The union is drawn in one pass, so touching capsules merge into one shape with one outline.
    """
    if not capsules:
        return
    pad = outline_width + 1.5 if outline is not None else 1.5
    h, w = img.shape[:2]
    boxes = []
    for c in capsules:
        lo_x, hi_x = (c.x0, c.x1) if c.x0 < c.x1 else (c.x1, c.x0)
        lo_y, hi_y = (c.y0, c.y1) if c.y0 < c.y1 else (c.y1, c.y0)
        e = c.r + pad
        boxes.append((int(lo_x - e), int(hi_x + e) + 1, int(lo_y - e), int(hi_y + e) + 1))
    bx0 = max(0, min(b[0] for b in boxes))
    bx1 = min(w, max(b[1] for b in boxes))
    by0 = max(0, min(b[2] for b in boxes))
    by1 = min(h, max(b[3] for b in boxes))
    if bx0 >= bx1 or by0 >= by1:
        return
    xs = np.arange(bx0, bx1, dtype=np.float32) + 0.5
    ys = (np.arange(by0, by1, dtype=np.float32) + 0.5)[:, None]
    dist = np.full((by1 - by0, bx1 - bx0), np.inf, dtype=np.float32)
    for c, (cx0, cx1, cy0, cy1) in zip(capsules, boxes, strict=True):
        # Work in the capsule's own box: most of the layer's box is far from any one limb.
        cx0, cx1 = max(cx0, bx0), min(cx1, bx1)
        cy0, cy1 = max(cy0, by0), min(cy1, by1)
        if cx0 >= cx1 or cy0 >= cy1:
            continue
        px = xs[cx0 - bx0 : cx1 - bx0] - c.x0
        py = ys[cy0 - by0 : cy1 - by0] - c.y0
        dx, dy = c.x1 - c.x0, c.y1 - c.y0
        ll = dx * dx + dy * dy
        if ll > 1e-6:
            t = py * (dy / ll) + px * (dx / ll)
            np.maximum(t, 0.0, out=t)
            np.minimum(t, 1.0, out=t)
            ex = t * -dx
            ex += px
            t *= -dy
            t += py
            ex *= ex
            t *= t
            ex += t
        else:
            ex = px * px + py * py
        d = np.sqrt(ex, out=ex)
        d -= c.r
        sub = dist[cy0 - by0 : cy1 - by0, cx0 - bx0 : cx1 - bx0]
        np.minimum(sub, d, out=sub)
    # Solid inside (whole pixels written at once through a 3-byte view), then one anti-aliased
    # band of pixels along the outer edge (few pixels: sparse).
    edge = outline_width if outline is not None else 0.0
    outer = outline if outline is not None else color
    pixels = img.view(_PIXEL).reshape(h, w)[by0:by1, bx0:bx1]
    np.putmask(pixels, dist <= edge - 0.5, _pixel(outer))
    if outline is not None:
        np.putmask(pixels, dist <= 0.0, _pixel(color))
    dist -= edge
    np.abs(dist, out=dist)
    ys, xs = np.nonzero(dist < 0.5)
    if len(ys):
        region = img[by0:by1, bx0:bx1]
        a = (0.5 - dist[ys, xs])[:, None]
        px = region[ys, xs].astype(np.float32)
        region[ys, xs] = px + a * (np.asarray(outer, dtype=np.float32) - px) + 0.5


_PIXEL = np.dtype("V3")
_PIXELS: dict[Color, np.void] = {}


def _pixel(color: Color) -> np.void:
    """``color`` as one 3-byte pixel value (for whole-pixel writes)."""
    v = _PIXELS.get(color)
    if v is None:
        v = _PIXELS[color] = np.frombuffer(bytes(color), dtype=_PIXEL)[0]
    return v


@dataclass(frozen=True, slots=True)
class Sprite:
    """A pre-rendered image to composite: a pixel under it becomes ``pixel * keep + paint``.

    Attributes:
        keep: ``(h, w, 3)`` float32, how much of the pixel below shows through.
        paint: ``(h, w, 3)`` float32, the premultiplied colour on top (plus 0.5 for rounding).
    """

    keep: np.ndarray
    paint: np.ndarray


def blit(img: np.ndarray, x: int, y: int, sprite: Sprite) -> None:
    """Composite ``sprite`` with its top-left corner at pixel ``(x, y)`` (clipped)."""
    th, tw = sprite.keep.shape[:2]
    h, w = img.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(w, x + tw), min(h, y + th)
    if x0 < x1 and y0 < y1:
        region = img[y0:y1, x0:x1]
        sy, sx = slice(y0 - y, y1 - y), slice(x0 - x, x1 - x)
        region[...] = region * sprite.keep[sy, sx] + sprite.paint[sy, sx]


def _layers_sprite(layers: list[tuple[np.ndarray, Color]]) -> Sprite:
    """Stack coverage masks (bottom first) with their colours into one :class:`Sprite`."""
    h, w = layers[0][0].shape
    keep = np.ones((h, w, 1), np.float32)
    paint = np.zeros((h, w, 3), np.float32)
    for alpha, color in layers:
        a = alpha[..., None]
        keep *= 1.0 - a
        paint = paint * (1.0 - a) + a * np.asarray(color, np.float32)
    # Full-size (h, w, 3) arrays: numpy composites them much faster than a broadcast (h, w, 1).
    return Sprite(np.ascontiguousarray(np.repeat(keep, 3, axis=2)), np.ascontiguousarray(paint + 0.5))


_DISCS: dict[tuple, tuple[Sprite, int]] = {}


def draw_disc(
    img: np.ndarray,
    cx: float,
    cy: float,
    r: float,
    color: Color,
    outline: Color | None = None,
    outline_width: float = 1.3,
) -> None:
    """An anti-aliased disc of radius ``r`` centred at ``(cx, cy)`` (to the half pixel), from a sprite cache."""
    qx, qy = round(cx * 2) / 2, round(cy * 2) / 2
    x, y = math.floor(qx), math.floor(qy)
    key = (round(r * 4), color, outline, outline_width, qx - x, qy - y)
    cached = _DISCS.get(key)
    if cached is None:
        if len(_DISCS) > 4096:
            _DISCS.clear()
        rr = key[0] / 4
        n = math.ceil(rr + (outline_width if outline is not None else 0.0) + 1.5)
        grid = np.arange(-n, n + 1, dtype=np.float32) + 0.5
        d = np.sqrt((grid[None, :] - (qx - x)) ** 2 + (grid[:, None] - (qy - y)) ** 2) - rr
        layers = []
        if outline is not None:
            layers.append((np.clip(outline_width + 0.5 - d, 0.0, 1.0), outline))
        layers.append((np.clip(0.5 - d, 0.0, 1.0), color))
        cached = _DISCS[key] = (_layers_sprite(layers), n)
    sprite, n = cached
    blit(img, x - n, y - n, sprite)


_ELLIPSES: dict[tuple, tuple[Sprite, int, int]] = {}


def draw_ellipse(
    img: np.ndarray, cx: float, cy: float, rx: float, ry: float, color: Color, alpha: float = 1.0
) -> None:
    """A filled, anti-aliased ellipse with radii ``rx``, ``ry`` (whole pixels) and opacity ``alpha``."""
    key = (round(rx), round(ry), color, alpha)
    cached = _ELLIPSES.get(key)
    if cached is None:
        if len(_ELLIPSES) > 1024:
            _ELLIPSES.clear()
        ax, ay = max(1, key[0]), max(1, key[1])
        gx = np.arange(-ax - 1, ax + 2, dtype=np.float32)[None, :]
        gy = np.arange(-ay - 1, ay + 2, dtype=np.float32)[:, None]
        # Approximate distance to the ellipse edge in pixels, for a one-pixel soft edge.
        d = (np.sqrt((gx / ax) ** 2 + (gy / ay) ** 2) - 1.0) * min(ax, ay)
        cached = _ELLIPSES[key] = (
            _layers_sprite([(np.clip(0.5 - d, 0.0, 1.0) * alpha, color)]),
            ax + 1,
            ay + 1,
        )
    sprite, ox, oy = cached
    blit(img, round(cx) - ox, round(cy) - oy, sprite)


# ---- text --------------------------------------------------------------------------------------


def _font_path() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
    return path if path.is_file() else None


class Font:
    """A bitmap font at one pixel size: glyph masks rendered once, strings composed and cached.

    Args:
        size: the font size in pixels.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        path = _font_path()
        try:
            self._font = ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size)
        except OSError:  # a broken or unreadable font file: fall back to Pillow's own
            logger.debug("could not load %s; using Pillow's default font", path)
            self._font = ImageFont.load_default(size)
        ascent, descent = self._font.getmetrics()
        self.height = ascent + descent
        self._glyphs: dict[str, np.ndarray] = {}
        self._strings: dict[str, np.ndarray] = {}
        self._sprites: dict[tuple, Sprite] = {}

    def _glyph(self, ch: str) -> np.ndarray:
        g = self._glyphs.get(ch)
        if g is None:
            width = max(1, round(self._font.getlength(ch)))
            im = Image.new("L", (width + 2, self.height))
            ImageDraw.Draw(im).text((0, 0), ch, fill=255, font=self._font)
            g = np.asarray(im, dtype=np.float32)[:, :width] / 255.0
            self._glyphs[ch] = g
        return g

    def mask(self, text: str) -> np.ndarray:
        """The coverage mask (``height x width`` float32 in 0..1) of ``text``."""
        m = self._strings.get(text)
        if m is None:
            if len(self._strings) >= _MASK_CACHE_SIZE:
                self._strings.clear()
            glyphs = [self._glyph(c) for c in text] or [np.zeros((self.height, 1), np.float32)]
            m = np.concatenate(glyphs, axis=1)
            self._strings[text] = m
        return m

    def sprite(self, text: str, color: Color, shadow: Color | None) -> Sprite:
        """``text`` in ``color`` over an optional 1-pixel drop shadow (one pixel wider and taller than the text)."""
        key = (text, color, shadow)
        s = self._sprites.get(key)
        if s is None:
            if len(self._sprites) >= _SPRITE_CACHE_SIZE:
                self._sprites.clear()
            m = self.mask(text)
            h, w = m.shape
            a = np.zeros((h + 1, w + 1), np.float32)
            a[:h, :w] = m
            layers = []
            if shadow is not None:
                sh = np.zeros_like(a)
                sh[1:, 1:] = m
                layers.append((sh, shadow))
            layers.append((a, color))
            s = self._sprites[key] = _layers_sprite(layers)
        return s

    def width(self, text: str) -> int:
        """Width of ``text`` in pixels."""
        return self.mask(text).shape[1]


_FONTS: dict[int, Font] = {}


def font(size: int) -> Font:
    """The shared :class:`Font` of ``size`` pixels."""
    f = _FONTS.get(size)
    if f is None:
        f = _FONTS[size] = Font(size)
    return f


def draw_text(
    img: np.ndarray,
    x: float,
    y: float,
    text: str,
    color: Color,
    size: int = 11,
    anchor: str = "left",
    shadow: Color | None = (0, 0, 0),
) -> int:
    """Draw ``text`` with its top at ``y``; ``anchor`` is ``"left"``, ``"center"`` or ``"right"`` of ``x``.

    Returns the text's width in pixels. ``shadow`` draws a 1-pixel drop shadow for contrast.
    """
    sprite = font(size).sprite(text, color, shadow)
    tw = sprite.keep.shape[1]
    if anchor == "center":
        x -= (tw - 1) / 2
    elif anchor == "right":
        x -= tw - 1
    elif anchor != "left":
        raise ValueError(f"anchor must be 'left', 'center' or 'right', got {anchor!r}")
    blit(img, int(x), int(y), sprite)
    return tw - 1
