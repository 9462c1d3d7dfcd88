"""The heads-up display: health bars, round markers, timer, frame clock and the decision panels.

Under each health bar a panel shows that player's latest decision: the action, the frame it was
decided on and the countdown until its input lands (frames and game-time milliseconds, with a
bar that empties as the moment nears), or when it landed. Static parts (bar frames, names,
panel boxes) are drawn once per match configuration by :func:`draw_static_hud` into the cached
background; :func:`draw_hud` draws what changes every frame.
"""

from __future__ import annotations

import numpy as np

from splitsecond.envs.streetfighter.engine import BREAK, OVER, MatchConfig, Simulation
from splitsecond.envs.streetfighter.frame_data import FPS
from splitsecond.envs.streetfighter.render_canvas import (
    Color,
    blend_rect,
    draw_disc,
    draw_text,
    fill_rect,
    outline_rect,
)
from splitsecond.envs.streetfighter.render_decisions import Decision

PLAYER_COLORS: tuple[Color, Color] = ((70, 140, 255), (240, 80, 60))
"""Main colour of player 1 (blue) and player 2 (red)."""
PLAYER_LIGHT: tuple[Color, Color] = ((170, 205, 255), (255, 175, 160))
"""Light shade of each player's colour, for text."""

BAR_W, BAR_H, BAR_Y = 250, 14, 10
PANEL_Y, PANEL_H = 46, 40
_MARGIN = 20
_WHITE: Color = (255, 255, 255)
_GREY: Color = (165, 170, 185)
_AMBER: Color = (255, 196, 60)
_GREEN: Color = (110, 220, 120)
_COUNTDOWN_W = 80


def _bar_x(player: int, width: int) -> int:
    return _MARGIN if player == 0 else width - _MARGIN - BAR_W


def draw_static_hud(img: np.ndarray, config: MatchConfig) -> None:
    """Draw the parts of the HUD that do not change during a match (into the background)."""
    w = img.shape[1]
    for p in (0, 1):
        x0 = _bar_x(p, w)
        fill_rect(img, x0 - 2, BAR_Y - 2, x0 + BAR_W + 2, BAR_Y + BAR_H + 2, (15, 15, 20))
        outline_rect(img, x0 - 2, BAR_Y - 2, x0 + BAR_W + 2, BAR_Y + BAR_H + 2, (230, 230, 235))
        name = f"P{p + 1}  {config.characters[p].upper()}"
        if p == 0:
            draw_text(img, x0, BAR_Y + BAR_H + 3, name, PLAYER_LIGHT[p], size=11)
        else:
            draw_text(img, x0 + BAR_W, BAR_Y + BAR_H + 3, name, PLAYER_LIGHT[p], size=11, anchor="right")
        blend_rect(img, x0 - 2, PANEL_Y, x0 + BAR_W + 2, PANEL_Y + PANEL_H, (10, 12, 24), 0.62)
        outline_rect(img, x0 - 2, PANEL_Y, x0 + BAR_W + 2, PANEL_Y + PANEL_H, PLAYER_COLORS[p])
    cx = w // 2
    fill_rect(img, cx - 26, 4, cx + 26, 34, (15, 15, 20))
    outline_rect(img, cx - 26, 4, cx + 26, 34, (230, 230, 235))


def draw_hud(
    img: np.ndarray, sim: Simulation, decisions: tuple[Decision | None, Decision | None] | None
) -> None:
    """Draw health, round markers, timer, frame clock, decision panels and round/match banners."""
    w = img.shape[1]
    for f in sim.fighters:
        p = f.index
        x0 = _bar_x(p, w)
        frac = max(0, f.health) / f.char.health
        filled = int(round(BAR_W * frac))
        fill_rect(img, x0, BAR_Y, x0 + BAR_W, BAR_Y + BAR_H, (110, 20, 25))
        color = (250, 210, 40) if frac > 0.3 else (255, 120, 40)
        if p == 0:
            fill_rect(img, x0 + BAR_W - filled, BAR_Y, x0 + BAR_W, BAR_Y + BAR_H, color)
        else:
            fill_rect(img, x0, BAR_Y, x0 + filled, BAR_Y + BAR_H, color)
        draw_text(img, x0 + BAR_W / 2, BAR_Y + 1, str(max(0, f.health)), (20, 20, 25), size=10, anchor="center",
                  shadow=None)  # fmt: skip
        for k in range(sim.config.rounds_to_win):
            px = (x0 + BAR_W - 7 - 14 * k) if p == 0 else (x0 + 7 + 14 * k)
            won = k < f.rounds_won
            draw_disc(
                img, px, BAR_Y + BAR_H + 10, 4.5, (250, 210, 40) if won else (45, 45, 50), (235, 235, 235)
            )
        if decisions is None:
            draw_text(img, x0 + 4, PANEL_Y + 3, f"P{p + 1} NEXT", PLAYER_LIGHT[p], size=9)
            draw_text(img, x0 + 4, PANEL_Y + 18, "decisions not recorded", _GREY, size=11)
        else:
            _draw_decision(img, x0, p, decisions[p], sim.frame)
    cx = w // 2
    seconds = -(-max(0, sim.timer_frames) // FPS)
    draw_text(img, cx, 6, f"{seconds:02d}", _WHITE, size=22, anchor="center")
    draw_text(img, cx, 37, f"ROUND {sim.round}", (215, 215, 225), size=10, anchor="center")
    draw_text(img, cx, 51, f"f {sim.frame}", _GREY, size=9, anchor="center")
    draw_text(img, cx, 62, f"{sim.frame / FPS:.2f} s", _GREY, size=9, anchor="center")
    if sim.phase == BREAK:
        ko = any(f.health <= 0 for f in sim.fighters)
        _banner(img, "K.O." if ko else "TIME", (255, 90, 80))
    elif sim.phase == OVER:
        msg = "DRAW" if sim.winner is None else f"P{sim.winner + 1} WINS"
        _banner(img, msg, (255, 230, 90) if sim.winner is None else PLAYER_LIGHT[sim.winner])


def _draw_decision(img: np.ndarray, x0: int, player: int, d: Decision | None, frame: int) -> None:
    y = PANEL_Y
    light = PLAYER_LIGHT[player]
    left = 0 if d is None else d.frames_left(frame)
    tag_w = draw_text(img, x0 + 4, y + 3, f"P{player + 1} {'NEXT' if left >= 0 else 'LAST'}", light, size=9)
    if d is None:
        draw_text(img, x0 + 10 + tag_w, y + 2, "no decision yet", _GREY, size=11)
        return
    draw_text(img, x0 + 10 + tag_w, y + 1, d.action_name, _WHITE, size=13)
    draw_text(img, x0 + BAR_W - 2, y + 3, f"decided f{d.decided}", _GREY, size=9, anchor="right")
    by = y + 25
    bx = x0 + 4
    fill_rect(img, bx, by, bx + _COUNTDOWN_W, by + 8, (45, 45, 55))
    if left >= 0:
        total = max(1, d.latency_frames)
        filled = int(round(_COUNTDOWN_W * min(1.0, (left + 1) / (total + 1))))
        fill_rect(img, bx, by, bx + filled, by + 8, _AMBER)
        text = f"lands in {left}f / {d.ms_left(frame)} ms" if left else "lands now"
        draw_text(img, bx + _COUNTDOWN_W + 6, by - 3, text, _AMBER, size=10)
    else:
        fill_rect(img, bx, by + 3, bx + _COUNTDOWN_W, by + 5, _GREEN)
        text = f"landed f{d.lands} (+{d.latency_frames}f)"
        draw_text(img, bx + _COUNTDOWN_W + 6, by - 3, text, _GREEN, size=10)
    outline_rect(img, bx, by, bx + _COUNTDOWN_W, by + 8, (200, 200, 210))


def _banner(img: np.ndarray, text: str, color: Color) -> None:
    w = img.shape[1]
    blend_rect(img, 0, 112, w, 162, (0, 0, 0), 0.55)
    draw_text(img, w / 2, 114, text, color, size=38, anchor="center", shadow=(20, 20, 20))
