"""Drawing the world: :func:`render_frame` (RGB array) and :class:`HumanViewer` (a window).

Rendering is off the simulation's hot path: nothing here runs unless a frame is asked for.
Fighters are coloured boxes (player 1 blue, player 2 red) with a head; attacks show their limb
during active frames, projectiles are orange balls, health bars, the round timer and round
markers sit at the top. ``show_hitboxes`` adds hurtboxes (green) and hitboxes (red) outlines.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from PIL import Image, ImageDraw

from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.engine import BREAK, OVER, Simulation
from splitsecond.envs.streetfighter.fighter import Fighter
from splitsecond.envs.streetfighter.frame_data import FPS, STAGE_WIDTH

logger = logging.getLogger(__name__)

WIDTH = 640
HEIGHT = 360
UNITS_PER_PIXEL = STAGE_WIDTH // WIDTH  # 10
GROUND = 330
"""Pixel row of the floor."""

_COLORS = ((60, 120, 230), (225, 70, 60))
_LIGHT = ((150, 190, 255), (255, 160, 150))
_BACKGROUND: np.ndarray | None = None


def _background() -> np.ndarray:
    global _BACKGROUND
    if _BACKGROUND is None:
        img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        t = np.linspace(0.0, 1.0, GROUND)[:, None]
        img[:GROUND] = (np.array([40, 44, 70]) * (1 - t) + np.array([110, 120, 160]) * t)[:, None, :].astype(
            np.uint8
        )
        img[GROUND:] = (70, 60, 50)
        img[GROUND : GROUND + 2] = (200, 190, 170)
        img[:, :3] = (20, 20, 20)  # corners
        img[:, -3:] = (20, 20, 20)
        _BACKGROUND = img
    return _BACKGROUND


def _px(x: int) -> float:
    return x / UNITS_PER_PIXEL


def _py(y: int) -> float:
    return GROUND - y / UNITS_PER_PIXEL


def _rect(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], **kw) -> None:
    x0, x1, y0, y1 = box
    draw.rectangle((_px(x0), _py(y1), _px(x1), _py(y0)), **kw)


def _draw_fighter(draw: ImageDraw.ImageDraw, f: Fighter) -> None:
    color, light = _COLORS[f.index], _LIGHT[f.index]
    st = f.state
    hw = f.half_width
    if st in (F.KNOCKDOWN, F.KO) and f.y == 0:
        body = (f.x - f.height // 2, f.x + f.height // 2, 0, 260)
        _rect(draw, body, fill=light if st == F.KNOCKDOWN else (90, 90, 90), outline=(0, 0, 0))
        return
    top = f.crouch_height if f.crouching else f.height
    lift = 0
    if (
        st == F.MOVE
        and f.move is not None
        and f.move.name == "anti_air"
        and f.move_frame <= f.move.last_active
    ):
        lift = 300  # the uppercut rises
    body = (f.x - hw, f.x + hw, f.y + lift, f.y + lift + int(top * 0.8))
    fill = color
    if st == F.HITSTUN or st == F.FALLING:
        fill = (255, 255, 255)
    outline = (255, 220, 0) if st == F.BLOCKSTUN else (0, 0, 0)
    _rect(draw, body, fill=fill, outline=outline, width=3 if st == F.BLOCKSTUN else 1)
    head_r = hw * 0.55 / UNITS_PER_PIXEL
    cx, cy = _px(f.x), _py(f.y + lift + int(top * 0.8)) - head_r
    draw.ellipse((cx - head_r, cy - head_r, cx + head_r, cy + head_r), fill=light, outline=(0, 0, 0))
    # eye shows the facing
    ex = cx + f.facing * head_r * 0.5
    draw.ellipse((ex - 2, cy - 3, ex + 2, cy + 1), fill=(0, 0, 0))
    hb = f.hitbox()
    if hb is not None:
        _rect(draw, hb, fill=(255, 240, 200), outline=color)
    if f.guarding and st != F.BLOCKSTUN:
        gx = _px(f.x + f.facing * (hw + 40))
        draw.line((gx, _py(f.y + 100), gx, _py(f.y + int(top * 0.8))), fill=(255, 220, 0), width=2)


def render_frame(sim: Simulation, show_hitboxes: bool = False) -> np.ndarray:
    """The current frame of ``sim`` as a ``(360, 640, 3)`` uint8 array."""
    img = Image.fromarray(_background().copy())
    draw = ImageDraw.Draw(img)
    for f in sim.fighters:
        _draw_fighter(draw, f)
    for p in sim.projectiles:
        _rect(draw, p.box(), fill=(255, 150, 30), outline=(255, 240, 120), width=2)
    if show_hitboxes:
        for f in sim.fighters:
            hu = f.hurtbox()
            if hu is not None:
                _rect(draw, hu, outline=(0, 255, 0))
            hb = f.hitbox()
            if hb is not None:
                _rect(draw, hb, outline=(255, 0, 0), width=2)
    _draw_hud(draw, sim)
    return np.asarray(img, dtype=np.uint8)


def _draw_hud(draw: ImageDraw.ImageDraw, sim: Simulation) -> None:
    bar_w, bar_h, y0 = 250, 14, 14
    for f in sim.fighters:
        frac = max(0, f.health) / f.char.health
        if f.index == 0:
            x0, x1 = 20, 20 + bar_w
            fill = (x1 - int(bar_w * frac), y0, x1, y0 + bar_h)
            name_x = 20
        else:
            x0, x1 = WIDTH - 20 - bar_w, WIDTH - 20
            fill = (x0, y0, x0 + int(bar_w * frac), y0 + bar_h)
            name_x = WIDTH - 20 - bar_w
        draw.rectangle((x0, y0, x1, y0 + bar_h), fill=(120, 20, 20), outline=(255, 255, 255))
        if frac > 0:
            draw.rectangle(fill, fill=(250, 210, 40))
        draw.text(
            (name_x, y0 + bar_h + 3), f"P{f.index + 1} {f.char.name} {max(0, f.health)}", fill=_LIGHT[f.index]
        )
        for k in range(sim.config.rounds_to_win):
            cx = (x1 - 8 - 14 * k) if f.index == 0 else (x0 + 8 + 14 * k)
            won = k < f.rounds_won
            draw.ellipse((cx - 5, y0 + bar_h + 18, cx + 5, y0 + bar_h + 28),
                         fill=(250, 210, 40) if won else (40, 40, 40), outline=(255, 255, 255))  # fmt: skip
    seconds = -(-sim.timer_frames // FPS)
    draw.text((WIDTH // 2 - 8, y0), f"{seconds:02d}", fill=(255, 255, 255))
    draw.text((WIDTH // 2 - 22, y0 + 16), f"ROUND {sim.round}", fill=(200, 200, 200))
    if sim.phase == BREAK:
        draw.text(
            (WIDTH // 2 - 10, 120),
            "K.O." if any(f.health <= 0 for f in sim.fighters) else "TIME",
            fill=(255, 80, 80),
        )
    elif sim.phase == OVER:
        msg = "DRAW" if sim.winner is None else f"P{sim.winner + 1} WINS"
        draw.text((WIDTH // 2 - 25, 120), msg, fill=(255, 230, 80))


class HumanViewer:
    """Shows frames in a matplotlib window; without a display it warns once and does nothing."""

    def __init__(self) -> None:
        self._fig = None
        self._image = None
        self._disabled = False

    def show(self, frame: np.ndarray) -> None:
        """Display ``frame`` (non-blocking)."""
        if self._disabled:
            return
        try:
            import matplotlib
            import matplotlib.pyplot as plt

            if matplotlib.get_backend().lower() in ("agg", "pdf", "ps", "svg", "cairo", "template"):
                raise RuntimeError(f"matplotlib backend {matplotlib.get_backend()!r} cannot open a window")
            if self._fig is None:
                plt.ion()
                self._fig, ax = plt.subplots(figsize=(WIDTH / 100, HEIGHT / 100))
                ax.set_axis_off()
                self._image = ax.imshow(frame)
                self._fig.tight_layout()
            else:
                self._image.set_data(frame)
            self._fig.canvas.draw_idle()
            plt.pause(0.001)
        except Exception as exc:  # no display, no GUI backend: keep the env running
            self._disabled = True
            warnings.warn(
                f"human rendering is unavailable ({exc}); continuing without a window. "
                "Use render_mode='rgb_array' to get frames.",
                RuntimeWarning,
                stacklevel=2,
            )

    def close(self) -> None:
        """Close the window."""
        if self._fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self._fig)
            self._fig = None
