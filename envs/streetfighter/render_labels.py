"""Text over the fighters: the current move's name with its frame-data bar, and hit/block pop-ups.

A move's label appears on its first frame and stays until the move ends; its colour gives the
phase (startup yellow, active red, recovery grey) and the bar under it shows the move's startup
(green), active (red) and recovery (blue) frames with a cursor on the current one. Hits, blocks,
throws and techs pop up over the fighter who took them and rise for :data:`POP_FRAMES` frames.
Both are read from the simulation alone, so a replay shows them whichever frames it draws.
"""

from __future__ import annotations

import numpy as np

from splitsecond.envs.streetfighter.engine import Simulation
from splitsecond.envs.streetfighter.fighter import Fighter
from splitsecond.envs.streetfighter.render_canvas import Color, draw_text, fill_rect, font
from splitsecond.envs.streetfighter.render_pose import move_phase

POP_FRAMES = 30
"""Frames a hit/block pop-up stays on screen."""
PHASE_COLORS: dict[str, Color] = {
    "startup": (255, 225, 90),
    "active": (255, 80, 70),
    "recovery": (175, 180, 195),
}
_BAR_COLORS: tuple[Color, Color, Color] = ((90, 210, 110), (240, 70, 60), (80, 130, 230))
_LABEL_SIZE = 12
_BAR_MAX_W = 72
_POP_STYLE: dict[str, tuple[str, Color]] = {
    "hit": ("HIT", (255, 240, 120)),
    "block": ("BLOCK", (150, 205, 255)),
    "throw": ("THROW", (255, 140, 250)),
    "tech": ("TECH", (220, 220, 220)),
    "clash": ("CLASH", (255, 200, 120)),
}


def move_label(f: Fighter) -> str:
    """The label of ``f``'s current move (``"crouch MK"``), or ``""`` when it is not in a move."""
    return "" if f.move is None else f.move.name.replace("_", " ")


def label_positions(xs: tuple[float, float], labels: tuple[str, str]) -> tuple[float, float]:
    """Centres for the two labels, pushed apart when they would overlap."""
    w0 = font(_LABEL_SIZE).width(labels[0]) if labels[0] else 0
    w1 = font(_LABEL_SIZE).width(labels[1]) if labels[1] else 0
    x0, x1 = xs
    need = (w0 + w1) / 2 + 6
    gap = abs(x1 - x0)
    if not (w0 and w1) or gap >= need:
        return x0, x1
    push = (need - gap) / 2
    if x0 <= x1:
        return x0 - push, x1 + push
    return x0 + push, x1 - push


def draw_move_label(img: np.ndarray, f: Fighter, cx: float, top: float) -> None:
    """The move name centred at ``cx`` with its bottom (frame-data bar) just above ``top``."""
    mv = f.move
    if mv is None:
        return
    phase = move_phase(f)
    half = max(font(_LABEL_SIZE).width(move_label(f)), _BAR_MAX_W) / 2 + 2
    cx = min(max(cx, half), img.shape[1] - half)
    draw_text(img, cx, top - 24, move_label(f), PHASE_COLORS[phase], size=_LABEL_SIZE, anchor="center")
    total = mv.total
    scale = min(2.0, _BAR_MAX_W / total)
    bw = total * scale
    x = cx - bw / 2
    y = int(top - 8)
    segments = ((1, mv.startup - 1), (mv.startup, mv.last_active), (mv.last_active + 1, total))
    fill_rect(img, x - 1, y - 1, x + bw + 1, y + 5, (10, 10, 15))
    for (first, last), color in zip(segments, _BAR_COLORS, strict=True):
        if last >= first:
            fill_rect(img, x + (first - 1) * scale, y, x + last * scale, y + 4, color)
    cur = x + (f.move_frame - 0.5) * scale
    fill_rect(img, cur - 1, y - 2, cur + 1, y + 6, (255, 255, 255))


def draw_pops(
    img: np.ndarray, sim: Simulation, anchors: tuple[tuple[float, float], tuple[float, float]]
) -> None:
    """Pop-ups for recent hits, blocks, throws, techs and clashes.

    Args:
        anchors: ``(x, y)`` pixel point over each fighter where its pop-ups start.
    """
    events = sim.events
    now = sim.frame
    stacked = [0, 0]
    for k in range(len(events) - 1, -1, -1):
        frame, kind, player, detail = events[k]
        age = now - frame
        if age > POP_FRAMES:
            break
        style = _POP_STYLE.get(kind)
        if style is None:
            continue
        text, color = style
        if kind == "hit":
            text = _hit_text(detail)
        if kind in ("tech", "clash"):
            x = (anchors[0][0] + anchors[1][0]) / 2
            y = min(anchors[0][1], anchors[1][1])
            target = 0
        else:
            target = 1 - player if player in (0, 1) else 0
            x, y = anchors[target]
        y -= age * 0.8 + 16 * stacked[target]
        stacked[target] += 1
        half = font(13).width(text) / 2 + 2
        x = min(max(x, half), img.shape[1] - half)
        draw_text(img, x, y, text, color, size=13, anchor="center", shadow=(30, 10, 10))


def _hit_text(detail: str) -> str:
    """``"HIT 100"`` / ``"HIT 90  3 COMBO"`` from an engine hit detail such as ``"HP 100 combo 3"``."""
    words = detail.split()
    damage = next((w for w in words[1:2] if w.isdigit()), "")
    text = f"HIT {damage}".rstrip()
    if "combo" in words:
        i = words.index("combo")
        if i + 1 < len(words) and words[i + 1].isdigit():
            text += f"  {words[i + 1]} COMBO"
    return text
