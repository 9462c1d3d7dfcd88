"""GIF-ready frames: every frame snapped, without dithering, to one shared 256-colour palette.

A GIF holds at most 256 colours per frame. Left to itself, the encoder picks a palette per frame
and dithers the anti-aliased edges and the sky, which makes the file several times larger and
the picture grainy. :func:`gif_frame` maps each rendered frame to a fixed palette built once from
reference frames (both players in many states, hitboxes, decision panels, banners), so frames
compress well and colours do not flicker between frames.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_PALETTE: Image.Image | None = None


def _reference_frames() -> list[np.ndarray]:
    """Frames that show every colour the renderer uses, for the palette."""
    from splitsecond.envs.streetfighter import fighter as F
    from splitsecond.envs.streetfighter.actions import ACTION_NAMES
    from splitsecond.envs.streetfighter.engine import BREAK, OVER, MatchConfig, Simulation
    from splitsecond.envs.streetfighter.render import render_frame

    frames = []
    lp, crouch = ACTION_NAMES.index("LP"), ACTION_NAMES.index("crouch")
    log = [(0, 0, lp, 30), (0, 1, crouch, 2)]
    for chars in (("kai", "zara"), ("brick", "kai")):
        sim = Simulation(MatchConfig(chars))
        f0, f1 = sim.fighters
        frames.append(render_frame(sim, decisions=log))
        f0.state, f0.move, f0.move_frame = F.MOVE, f0.char.moves["HP"], 9
        f1.state, f1.timer = F.HITSTUN, 10
        sim.events.append((0, "hit", 0, "HP 100"))
        frames.append(render_frame(sim, show_hitboxes=True, decisions=log))
        f0.move_frame = 20
        f1.state, f1.timer, f1.crouching = F.BLOCKSTUN, 5, True
        sim.events.append((0, "block", 0, "HP"))
        frames.append(render_frame(sim, decisions=log))
        f0.state, f0.move = F.KO, None
        sim.phase = BREAK
        frames.append(render_frame(sim))
        sim.phase, sim.winner = OVER, 1
        frames.append(render_frame(sim))
    return frames


def gif_palette() -> Image.Image:
    """The shared palette (a ``"P"`` image), built on first use."""
    global _PALETTE
    if _PALETTE is None:
        sample = np.concatenate(_reference_frames(), axis=0)
        _PALETTE = Image.fromarray(sample).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    return _PALETTE


def gif_frame(frame: np.ndarray) -> np.ndarray:
    """``frame`` (``H x W x 3`` uint8) with every pixel replaced by its nearest palette colour."""
    snapped = Image.fromarray(frame).quantize(palette=gif_palette(), dither=Image.Dither.NONE)
    return np.asarray(snapped.convert("RGB"))
