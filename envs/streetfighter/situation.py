"""The situation of one observation in a few words: what matters for the next decision.

A small language model cannot work out from coordinates and frame counts whether a jab reaches or
whether the opponent's recovery can be punished. :func:`situation` does that arithmetic once, from
the observer's flat observation values (:func:`~.observation.observation_values`), and names the
situation with one of :data:`SITUATIONS` (upper-case tags, so a prompt can key a playbook on them),
the moves that reach the opponent now, and the facts behind the tag. The env's text observation
ends with it; it is game knowledge (ranges, frame data), not advice on what to press.
"""

from __future__ import annotations

from dataclasses import dataclass

from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.frame_data import CHARACTER_NAMES, CHARACTERS, HIGH, LOW, OVERHEAD, Move
from splitsecond.envs.streetfighter.observation import (
    FIGHTER_FIELDS,
    FIGHTER_INDEX,
    MATCH_FIELDS,
    MATCH_INDEX,
    MOVE_NAMES,
    PROJECTILE_FIELDS,
)
from splitsecond.envs.streetfighter.opponents import reach

SITUATIONS: tuple[str, ...] = (
    "ROUND OVER",
    "YOU ARE STUNNED",
    "INCOMING PROJECTILE",
    "OPPONENT JUMPING IN",
    "OPPONENT KNOCKED DOWN",
    "PUNISH",
    "OPPONENT ATTACKING",
    "THROW RANGE",
    "IN REACH",
    "MID RANGE",
    "FAR",
)
"""Every tag :func:`situation` gives, from the most to the least pressing."""

REACH_MOVES: tuple[str, ...] = ("LP", "LK", "crouch_LK", "MP", "crouch_MK", "MK", "HP", "HK", "crouch_HK")
"""Ground normals listed in ``in_reach`` (those that reach, in this order)."""
MID_RANGE_GAP = 1200
"""Body gaps above this are ``FAR``."""
PROJECTILE_ALERT_FRAMES = 40
"""An opponent projectile that arrives within this many frames is ``INCOMING PROJECTILE``."""
PUNISH_MIN_FRAMES = 6
"""The opponent must stay busy at least this many frames longer than the observer to be ``PUNISH``."""

_NF = len(FIGHTER_FIELDS)
_M0 = 2 * _NF
_P0 = _M0 + len(MATCH_FIELDS)
_NP = len(PROJECTILE_FIELDS)
_I = FIGHTER_INDEX
_LEVEL_NAMES = {HIGH: "high", LOW: "low", OVERHEAD: "overhead"}
_STUNNED = (F.HITSTUN, F.BLOCKSTUN, F.KNOCKDOWN, F.FALLING)
_AIRBORNE = (F.PREJUMP, F.AIR, F.AIR_MOVE)


@dataclass(frozen=True)
class Situation:
    """The situation of one observation (see the module docstring).

    Attributes:
        tag: one of :data:`SITUATIONS`.
        detail: the facts behind the tag (``"opponent recovering from HP for 14 frames"``).
        in_reach: the ground normals (of :data:`REACH_MOVES`) and ``throw`` that reach the opponent's
            body now, as the observer's character.
    """

    tag: str
    detail: str
    in_reach: tuple[str, ...]

    def text(self) -> str:
        """Two lines for the text observation."""
        reach = ", ".join(self.in_reach) if self.in_reach else "nothing (too far)"
        return f"In reach: {reach}.\nSituation: {self.tag}" + (f" ({self.detail})." if self.detail else ".")


def move_reach(move: Move, half_width: int) -> int:
    """Largest gap between the bodies at which ``move`` hits a standing opponent (-1: it cannot); a
    throw's is its grab range, any other move's :func:`~.opponents.reach`."""
    return move.throw_range if move.throw_range else reach(move, half_width)


def situation(values: list[int]) -> Situation:
    """The :class:`Situation` of the observer's flat observation ``values``."""
    me, op = values[:_NF], values[_NF:_M0]
    phase, gap = values[_M0 + MATCH_INDEX["phase"]], values[_M0 + MATCH_INDEX["gap"]]
    mine = CHARACTERS[CHARACTER_NAMES[me[_I["character"]]]]
    theirs = CHARACTERS[CHARACTER_NAMES[op[_I["character"]]]]
    in_reach = tuple(
        name
        for name in (*REACH_MOVES, "throw")
        if gap <= move_reach(mine.moves[name], mine.half_width) and not op[_I["airborne"]]
    )
    op_state, op_busy = op[_I["state"]], op[_I["busy_frames"]]
    advantage = op_busy - me[_I["busy_frames"]]
    op_move = MOVE_NAMES[op[_I["move"]]] if op[_I["move"]] >= 0 else None
    op_phase = op[_I["move_phase"]]

    def tagged(tag: str, detail: str = "") -> Situation:
        return Situation(tag, detail, in_reach)

    if phase != 0:
        return tagged("ROUND OVER")
    if me[_I["state"]] in _STUNNED:
        return tagged("YOU ARE STUNNED", f"you recover in {me[_I['busy_frames']]} frames")
    proj = values[_P0 + _NP : _P0 + 2 * _NP]
    if proj[0] and 0 <= proj[4] <= PROJECTILE_ALERT_FRAMES:
        return tagged("INCOMING PROJECTILE", f"it hits you in {proj[4]} frames unless you block high or jump")
    toward = (op[_I["vx"]] > 0) == (op[_I["x"]] < me[_I["x"]])
    if op_state in _AIRBORNE and (toward or gap < 600):
        return tagged("OPPONENT JUMPING IN", f"gap {gap}, height {op[_I['y']]}")
    if op_state in (F.KNOCKDOWN, F.FALLING):
        return tagged("OPPONENT KNOCKED DOWN", f"it gets up in {op_busy} frames")
    if op_move is not None and op_state == F.MOVE:
        move = theirs.moves[op_move]
        if op_phase == 3 and advantage >= PUNISH_MIN_FRAMES and in_reach:
            return tagged("PUNISH", f"opponent recovering from {op_move} for {op_busy} frames")
        if op_phase in (1, 2) and move.hitbox is not None:
            level = _LEVEL_NAMES[move.level]
            return tagged(
                "OPPONENT ATTACKING", f"{op_move}, hits {level}, {op_phase == 1 and 'starting' or 'active'}"
            )
        if op_phase == 1 and move.projectile is not None:
            return tagged("INCOMING PROJECTILE", "opponent is throwing a projectile")
    if op_state == F.LANDING and advantage >= PUNISH_MIN_FRAMES and in_reach:
        return tagged("PUNISH", f"opponent landing for {op_busy} frames")
    if "throw" in in_reach and not op[_I["invulnerable"]]:
        return tagged("THROW RANGE", f"gap {gap}")
    if in_reach:
        return tagged("IN REACH", f"gap {gap}")
    if gap <= MID_RANGE_GAP:
        return tagged("MID RANGE", f"gap {gap}")
    return tagged("FAR", f"gap {gap}" + (", your projectile is out" if me[_I["has_projectile"]] else ""))
