"""Drawing the world: :func:`render_frame` (an RGB array) and :class:`HumanViewer` (a window).

Rendering is off the simulation's hot path: nothing here runs unless a frame is asked for. It
draws, in plain numpy (:mod:`.render_canvas`):

* each fighter as an outlined stick figure with a pose per state (:mod:`.render_pose`): idle,
  walk, guard high/low, crouch, jump, attack startup (limb chambered), active (limb reaching into
  the hitbox), recovery (limb pulled back), hitstun, blockstun, falling, knockdown, KO, victory;
  player 1 blue, player 2 red, facing shown by the lead limbs, the eye and the headband's tail;
  a guard bar in front of a fighter holding back (bright in blockstun), hit and block sparks;
* the current move's name over the fighter with a startup/active/recovery bar, and pop-ups for
  hits, blocks and throws (:mod:`.render_labels`);
* projectiles in their owner's colour; with ``show_hitboxes``, hurtboxes (green), hitboxes and
  projectile boxes (red) and throw reach (magenta), with a legend;
* the HUD (:mod:`.render_hud`): health, rounds, timer, frame clock and, per player, the latest
  decision (:mod:`.render_decisions`): the action, the frame it was decided on and the countdown
  until it lands.

Replays draw the same frames (:meth:`Replay.frames`); their GIFs snap them to one shared palette
(:mod:`.render_gif`). A frame takes about 2 ms on a shared 2-core machine
(``python -m splitsecond.benchmarks.streetfighter_render``).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np

from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.actions import DOWN_BACK
from splitsecond.envs.streetfighter.engine import FIGHT, MatchConfig, Projectile, Simulation
from splitsecond.envs.streetfighter.fighter import Fighter
from splitsecond.envs.streetfighter.frame_data import STAGE_WIDTH, THROW
from splitsecond.envs.streetfighter.render_canvas import (
    Capsule,
    Color,
    blend_rect,
    draw_capsules,
    draw_disc,
    draw_ellipse,
    draw_text,
    fill_rect,
    outline_rect,
)
from splitsecond.envs.streetfighter.render_decisions import latest_decisions
from splitsecond.envs.streetfighter.render_hud import PLAYER_COLORS, PLAYER_LIGHT, draw_hud, draw_static_hud
from splitsecond.envs.streetfighter.render_labels import (
    draw_move_label,
    draw_pops,
    label_positions,
    move_label,
)
from splitsecond.envs.streetfighter.render_pose import (
    B_ELBOW,
    B_FOOT,
    B_HAND,
    B_KNEE,
    F_ELBOW,
    F_FOOT,
    F_HAND,
    F_KNEE,
    HEAD,
    HEAD_RADIUS,
    HIP,
    NECK,
    fighter_pose,
)

logger = logging.getLogger(__name__)

WIDTH = 640
HEIGHT = 360
UNITS_PER_PIXEL = STAGE_WIDTH // WIDTH  # 10
GROUND = 330
"""Pixel row of the floor."""

_OUTLINE: Color = (12, 14, 26)
_SKIN: Color = (236, 200, 160)
_DARK: tuple[Color, Color] = ((38, 80, 175), (160, 45, 35))
_GLOVE: tuple[Color, Color] = ((215, 230, 255), (255, 225, 205))
_HURT: Color = (60, 255, 100)
_HIT: Color = (255, 45, 45)
_GRAB: Color = (255, 80, 255)
_SPARK_FRAMES = 6
_BACKGROUNDS: dict[tuple, np.ndarray] = {}


def _stage() -> np.ndarray:
    img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    # A sky in a few flat bands: GIF palettes keep them exact (a smooth gradient gets dithered).
    t = np.floor(np.linspace(0.0, 1.0, GROUND, endpoint=False) * 8)[:, None] / 7
    sky = np.array([28, 30, 52]) * (1 - t) + np.array([96, 104, 146]) * t
    img[:GROUND] = sky[:, None, :].astype(np.uint8)
    img[GROUND:] = (70, 60, 50)
    img[GROUND : GROUND + 2] = (200, 190, 170)
    for x in range(0, WIDTH, 50):  # distance ticks every 500 units
        img[GROUND + 2 : GROUND + 6, x] = (150, 140, 125)
    img[:, :3] = (20, 20, 20)  # corners
    img[:, -3:] = (20, 20, 20)
    return img


def _background(config: MatchConfig) -> np.ndarray:
    key = (config.characters, config.rounds_to_win)
    bg = _BACKGROUNDS.get(key)
    if bg is None:
        if len(_BACKGROUNDS) >= 8:
            _BACKGROUNDS.clear()
        bg = _stage()
        draw_static_hud(bg, config)
        _BACKGROUNDS[key] = bg
    return bg


def _px(x: float) -> float:
    return x / UNITS_PER_PIXEL


def _py(y: float) -> float:
    return GROUND - y / UNITS_PER_PIXEL


def _mix(c: Color, other: Color, t: float) -> Color:
    return (
        int(c[0] + (other[0] - c[0]) * t),
        int(c[1] + (other[1] - c[1]) * t),
        int(c[2] + (other[2] - c[2]) * t),
    )


def render_frame(
    sim: Simulation, show_hitboxes: bool = False, decisions: Sequence[Sequence[int]] | None = None
) -> np.ndarray:
    """The current frame of ``sim`` as a ``(360, 640, 3)`` uint8 array.

    Args:
        sim: the world to draw.
        show_hitboxes: outline hurtboxes, hitboxes, projectile boxes and throw reach.
        decisions: the decision log, rows ``(decided, player, action, lands)`` sorted by ``decided``
            (see :mod:`.render_decisions`); ``None`` shows the panels as "not recorded".
    """
    img = _background(sim.config).copy()
    tops = []
    for f in sim.fighters:
        tops.append(_draw_fighter(img, f, sim))
    for p in sim.projectiles:
        _draw_projectile(img, p)
    _draw_sparks(img, sim)
    if show_hitboxes:
        _draw_boxes(img, sim)
    f0, f1 = sim.fighters
    labels = (move_label(f0), move_label(f1))
    xs = label_positions((_px(f0.x), _px(f1.x)), labels)
    for f, x, top in zip(sim.fighters, xs, tops, strict=True):
        draw_move_label(img, f, x, top)
    anchors = ((_px(f0.x), tops[0] - 46), (_px(f1.x), tops[1] - 46))
    draw_pops(img, sim, anchors)
    latest = None if decisions is None else latest_decisions(decisions, sim.frame)
    draw_hud(img, sim, latest)
    return img


# ---- fighters ----------------------------------------------------------------------------------


def _draw_fighter(img: np.ndarray, f: Fighter, sim: Simulation) -> float:
    """Draw ``f``; returns the pixel row just above its head (for labels)."""
    h = f.height
    opp = f.opp
    celebrating = (
        sim.phase != FIGHT and f.health > 0 and f.health * opp.char.health > opp.health * f.char.health
    )
    pose = fighter_pose(f, sim.frame, celebrating)
    fx, fy, facing = f.x, f.y, f.facing
    pts = [(_px(fx + facing * jx), _py(fy + jy)) for jx, jy in pose.joints]
    scale = h / 1000
    limb, torso, head_r = 3.6 * scale, 6.2 * scale, HEAD_RADIUS * h / UNITS_PER_PIXEL
    glove_r, foot_r = 4.9 * scale, 3.6 * scale
    main, dark, glove = PLAYER_COLORS[f.index], _DARK[f.index], _GLOVE[f.index]
    skin = _SKIN
    st = f.state
    if st == F.KO:
        main, dark, glove, skin = (150, 150, 155), (105, 105, 110), (190, 190, 190), (175, 170, 165)
    elif st in (F.HITSTUN, F.FALLING):
        main, dark, glove = (
            _mix(main, (255, 255, 255), 0.45),
            _mix(dark, (255, 255, 255), 0.45),
            (255, 255, 255),
        )

    # Shadow on the floor (smaller the higher the fighter is).
    sx = _px(fx)
    sw = max(6.0, f.half_width / UNITS_PER_PIXEL * (1.0 - min(0.6, fy / 2500)))
    draw_ellipse(img, sx, GROUND + 3, sw, 3, (0, 0, 0), 0.45)

    def seg(a: int, b: int, r: float) -> Capsule:
        return Capsule(pts[a][0], pts[a][1], pts[b][0], pts[b][1], r)

    def foot(knee: int, ankle: int) -> tuple[float, float]:
        # The toes: forward along the floor, or up when the shin lies flat (knocked down).
        kx, ky = pts[knee]
        ax, ay = pts[ankle]
        sx_, sy_ = ax - kx, ay - ky
        n = math.hypot(sx_, sy_) or 1.0
        p1, p2 = (-sy_ / n, sx_ / n), (sy_ / n, -sx_ / n)
        if abs(p1[0]) < 0.3:
            tx, ty = p1 if p1[1] < p2[1] else p2
        else:
            tx, ty = p1 if p1[0] * facing > p2[0] * facing else p2
        toe = 3.2 * scale
        return ax + tx * toe, ay + ty * toe

    far = [seg(NECK, B_ELBOW, limb), seg(B_ELBOW, B_HAND, limb), seg(HIP, B_KNEE, limb * 1.1),
           seg(B_KNEE, B_FOOT, limb)]  # fmt: skip
    draw_capsules(img, far, dark, _OUTLINE)
    draw_disc(img, *foot(B_KNEE, B_FOOT), foot_r, dark, _OUTLINE)
    draw_disc(img, *pts[B_HAND], glove_r * 0.9, _mix(glove, dark, 0.35), _OUTLINE)
    hx, hy = pts[HEAD]
    draw_disc(img, hx, hy, head_r, skin, _OUTLINE)
    _draw_face(img, pts, head_r, facing, main, st == F.KO)
    # The torso starts below the neck so that it does not cover the chin.
    (nx, ny), (px_, py_) = pts[NECK], pts[HIP]
    k = min(0.35, (head_r * 0.6) / (math.hypot(px_ - nx, py_ - ny) or 1.0))
    body = Capsule(nx + (px_ - nx) * k, ny + (py_ - ny) * k, px_, py_, torso)
    near = [body, seg(HIP, F_KNEE, limb * 1.1), seg(F_KNEE, F_FOOT, limb), seg(NECK, F_ELBOW, limb),
            seg(F_ELBOW, F_HAND, limb)]  # fmt: skip
    draw_capsules(img, near, main, _OUTLINE)
    draw_disc(img, *foot(F_KNEE, F_FOOT), foot_r, main, _OUTLINE)
    draw_disc(img, *pts[F_HAND], glove_r, glove, _OUTLINE)
    _draw_guard(img, f)
    return min(y for _, y in pts) - head_r


def _draw_face(
    img: np.ndarray, pts: list[tuple[float, float]], r: float, facing: int, band: Color, ko: bool
) -> None:
    """Headband (its tail trails behind) and an eye on the side the fighter faces."""
    (hx, hy), (nx, ny) = pts[HEAD], pts[NECK]
    ux, uy = hx - nx, hy - ny  # pixel "up" of the head
    n = math.hypot(ux, uy) or 1.0
    ux, uy = ux / n, uy / n
    fx, fy = -uy * facing, ux * facing  # pixel "forward" of the head
    if fx * facing < 0:
        fx, fy = -fx, -fy
    bx, by = hx + ux * 0.42 * r, hy + uy * 0.42 * r
    back_x, back_y = bx - fx * 0.95 * r, by - fy * 0.95 * r
    tail_x, tail_y = back_x - fx * 0.8 * r - ux * 0.25 * r, back_y - fy * 0.8 * r - uy * 0.25 * r
    draw_capsules(img, [Capsule(bx + fx * 0.9 * r, by + fy * 0.9 * r, tail_x, tail_y, 0.22 * r)], band)
    ex, ey = hx + fx * 0.5 * r - ux * 0.02 * r, hy + fy * 0.5 * r - uy * 0.02 * r
    if ko:
        d = 0.18 * r
        draw_capsules(img, [Capsule(ex - d, ey - d, ex + d, ey + d, 0.7), Capsule(ex - d, ey + d, ex + d, ey - d, 0.7)],
                      (30, 30, 30))  # fmt: skip
    else:
        draw_disc(img, ex, ey, max(1.2, 0.15 * r), (25, 20, 30))


def _draw_guard(img: np.ndarray, f: Fighter) -> None:
    """A bar in front of a guarding fighter: high (standing) or low (crouching); bright in blockstun."""
    st = f.state
    if not f.guarding:
        return
    stun = st == F.BLOCKSTUN
    low = f.crouching if stun else f.dir == DOWN_BACK
    h = f.crouch_height if low else f.height
    x = _px(f.x + f.facing * (f.half_width + 70))
    y0, y1 = _py(f.y + h * (0.05 if low else 0.35)), _py(f.y + h * 0.98)
    if stun:
        draw_capsules(img, [Capsule(x, y0, x, y1, 3.2)], (255, 250, 200), (255, 200, 40), 2.0)
    else:
        draw_capsules(img, [Capsule(x, y0, x, y1, 1.4)], (255, 215, 60))


def _draw_projectile(img: np.ndarray, p: Projectile) -> None:
    cx, cy = _px(p.x), _py(p.y)
    r = p.half_h / UNITS_PER_PIXEL
    d = 1 if p.vx > 0 else -1
    main, light = PLAYER_COLORS[p.owner], PLAYER_LIGHT[p.owner]
    draw_capsules(img, [Capsule(cx - d * 2.2 * r, cy, cx, cy, 0.45 * r)], _mix(main, (255, 255, 255), 0.2))
    draw_disc(img, cx, cy, r, light, _OUTLINE)
    draw_disc(img, cx + d * 0.15 * r, cy, 0.55 * r, (255, 255, 255))


def _draw_sparks(img: np.ndarray, sim: Simulation) -> None:
    """A burst where a hit or a block connected, for a few frames."""
    events = sim.events
    now = sim.frame
    for k in range(len(events) - 1, -1, -1):
        frame, kind, player, _detail = events[k]
        age = now - frame
        if age > _SPARK_FRAMES:
            break
        if kind not in ("hit", "block") or player not in (0, 1):
            continue
        dfd = sim.fighters[1 - player]
        x = _px(dfd.x + dfd.facing * dfd.half_width)
        y = _py(dfd.y + (dfd.crouch_height if dfd.crouching else dfd.height) * 0.62)
        size = (14.0 if kind == "hit" else 10.0) * (1.0 - age / (_SPARK_FRAMES + 2))
        color: Color = (255, 245, 170) if kind == "hit" else (170, 220, 255)
        rays = []
        for i in range(8):
            a = i * math.pi / 4 + 0.3
            length = size if i % 2 == 0 else size * 0.55
            rays.append(Capsule(x, y, x + math.cos(a) * length, y + math.sin(a) * length, 1.3))
        draw_capsules(img, rays, color, (255, 140, 40) if kind == "hit" else (60, 110, 220), 1.0)


def _box_px(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x0, x1, y0, y1 = box
    return int(_px(x0)), int(_py(y1)), int(math.ceil(_px(x1))), int(math.ceil(_py(y0)))


def _draw_boxes(img: np.ndarray, sim: Simulation) -> None:
    for f in sim.fighters:
        hu = f.hurtbox()
        if hu is not None:
            outline_rect(img, *_box_px(hu), _HURT, 1)
        elif f.state != F.KO:
            draw_text(img, _px(f.x), GROUND + 1, "invulnerable", _HURT, size=9, anchor="center")
        hb = f.hitbox()
        if hb is not None:
            x0, y0, x1, y1 = _box_px(hb)
            blend_rect(img, x0, y0, x1, y1, _HIT, 0.3)
            outline_rect(img, x0, y0, x1, y1, _HIT, 2)
        mv = f.move
        if (
            mv is not None
            and mv.kind == THROW
            and f.state == F.MOVE
            and mv.startup <= f.move_frame <= mv.last_active
        ):
            edge = f.x + f.facing * f.half_width
            reach = edge + f.facing * mv.throw_range
            outline_rect(img, *_box_px((min(edge, reach), max(edge, reach), f.y, f.y + f.height)), _GRAB, 2)
    for p in sim.projectiles:
        outline_rect(img, *_box_px(p.box()), _HIT, 2)
    x = 8
    for text, color in (("hurtbox", _HURT), ("hitbox", _HIT), ("throw reach", _GRAB)):
        fill_rect(img, x, HEIGHT - 14, x + 8, HEIGHT - 6, color)
        x += 12 + draw_text(img, x + 12, HEIGHT - 17, text, (230, 230, 230), size=10) + 8


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
