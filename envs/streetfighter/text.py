"""Text for LLM agents: :func:`describe` renders an observation, :data:`RULES` states the game."""

from __future__ import annotations

import numpy as np

from splitsecond.envs.streetfighter.actions import ACTION_NAMES
from splitsecond.envs.streetfighter.fighter import STATE_NAMES
from splitsecond.envs.streetfighter.frame_data import (
    CHARACTER_NAMES,
    CHARACTERS,
    FPS,
    INPUT_BUFFER_FRAMES,
    REACTION_WINDOWS,
    START_DISTANCE,
)
from splitsecond.envs.streetfighter.observation import (
    FIGHTER_FIELDS,
    MATCH_FIELDS,
    MOVE_NAMES,
    PROJECTILE_FIELDS,
    flatten_observation,
)
from splitsecond.envs.streetfighter.situation import situation

_STATE_TEXT = (
    "standing",
    "crouching",
    "starting a jump",
    "in the air",
    "landing",
    "attacking",
    "attacking in the air",
    "in hitstun",
    "in blockstun",
    "knocked down",
    "falling (hit in the air)",
    "KO",
)
"""State descriptions, indexed like :data:`~splitsecond.envs.streetfighter.fighter.STATE_NAMES`."""
if len(_STATE_TEXT) != len(STATE_NAMES):
    raise RuntimeError("text.py's state descriptions are out of sync with fighter.STATE_NAMES")
_PHASE_SUFFIX = ("", " - round over", " - match over")
_PHASE_TEXT = ("startup", "active", "recovery")
_KNOCKDOWN = STATE_NAMES.index("knockdown")


def _range_name(gap: int) -> str:
    if gap <= 120:
        return "throw range"
    if gap <= 450:
        return "close"
    if gap <= 1200:
        return "mid range"
    return "far"


def _fighter_text(who: str, row: list[int]) -> str:
    (x, y, _vx, _vy, facing, hp, max_hp, state, move, move_frame, phase, busy, _crouch, guard, _air, invuln,
     _proj, char, _rounds, combo, _held, _press) = row  # fmt: skip
    if move >= 0:
        mname = MOVE_NAMES[move]
        if mname[:5] == "dash_":
            doing = f"dashing {mname[5:]}"
        else:
            doing = f"doing {mname} ({_PHASE_TEXT[phase - 1]}, frame {move_frame})"
    else:
        doing = _STATE_TEXT[state]
    extra = ""
    if guard:
        extra += ", guarding"
    if invuln and state < _KNOCKDOWN:  # knockdown, falling and KO are invulnerable anyway
        extra += ", invincible"
    if combo > 1:
        extra += f", taking a {combo}-hit combo"
    return (
        f"{who} ({CHARACTER_NAMES[char]}): {hp}/{max_hp} HP, {doing}{extra}, "
        f"{'free to act' if busy == 0 else f'busy {busy}f'}, x={x}{f' height {y}' if y else ''}, "
        f"facing {'right' if facing > 0 else 'left'}."
    )


def describe(obs: dict[str, np.ndarray]) -> str:
    """A concise, complete plain-text description of a StreetFighter-v0 observation.

    It ends with what is in reach and the situation's tag (:mod:`.situation`).

    Args:
        obs: an observation (``env.step``'s first value), from the side of the player it describes.
    """
    return describe_values(flatten_observation(obs))


_M0 = 2 * len(FIGHTER_FIELDS)
_P0 = _M0 + len(MATCH_FIELDS)
_NP = len(PROJECTILE_FIELDS)


def describe_values(values: list[int]) -> str:
    """:func:`describe` from the flat values of :func:`~.observation.observation_values` (the env's fast path)."""
    nf = _M0 // 2
    me = values[:nf]
    op = values[nf:_M0]
    frame, rnd, _timer, seconds, phase, dist, gap, _dy, adv, _to_win = values[_M0:_P0]
    text = (
        f"Round {rnd}, {seconds}s left (frame {frame}){_PHASE_SUFFIX[phase]}. "
        f"Rounds won: you {me[18]}, opponent {op[18]}.\n"
        f"{_fighter_text('You', me)}\n{_fighter_text('Opponent', op)}\n"
        f"Distance {dist} ({_range_name(gap)}, gap {gap}). Frame advantage {adv:+d}"
        f"{' (you act first).' if adv > 0 else ' (opponent acts first).' if adv < 0 else '.'}"
    )
    if values[_P0 + _NP]:
        eta = values[_P0 + _NP + 4]
        text += f"\nOpponent projectile at x={values[_P0 + _NP + 1]}" + (
            f", reaches you in {eta}f." if eta >= 0 else ", moving away."
        )
    if values[_P0]:
        text += f"\nYour projectile at x={values[_P0 + 1]}."
    return text + "\n" + situation(values).text()


def _rules() -> str:
    kai = CHARACTERS["kai"]
    lines = [
        "StreetFighter-v0: a 2D fighting game at 60 frames per second (1 frame = 16.7 ms), best of three "
        "rounds, 99-second rounds. Reduce the opponent's health to 0 (KO) or have more health when time runs out.",
        "Your action lands after your thinking time (latency); until then your previous input stays held "
        "and the world keeps moving.",
        "Actions: " + ", ".join(f"{i}={n}" for i, n in enumerate(ACTION_NAMES)) + ".",
        "Movement/guard actions are held until your next action: holding back (walk_back, block_high) "
        "blocks high and overhead attacks, block_low (crouch back) blocks high and low attacks; you cannot "
        "block in the air, while attacking, or during landing.",
        f"Attacks, specials, throws, dashes and jumps are presses: they execute once (kept "
        f"{INPUT_BUFFER_FRAMES} frames if you are busy). crouch_LK/MK/HK hit low, overhead and jump attacks "
        "hit overhead, throw (close range) beats blocking, anti_air is invincible at startup, projectile "
        "travels across the stage, rush charges forward.",
        "Light attacks chain into light attacks; light/medium attacks and crouch_HP cancel into specials "
        "on contact (combos).",
        "Frame data (kai, startup/on-block): "
        + ", ".join(
            f"{m} {kai.moves[m].startup}/{kai.moves[m].on_block:+d}"
            for m in ("LP", "MP", "HP", "crouch_LK", "crouch_MK", "crouch_HK", "anti_air", "rush", "throw")
        )
        + ". A move that is -N on block can be punished by a move with startup below N+1.",
        "Key timing windows: " + "; ".join(REACTION_WINDOWS.values()) + ".",
        f"Rounds start {START_DISTANCE} units apart on a {6400}-unit stage.",
        "Characters: " + "; ".join(f"{c.name} ({c.description})" for c in CHARACTERS.values()) + ".",
        f"Time: one frame is {1000 / FPS:.2f} ms; a latency of L ms delays your action by ceil(L / 16.67) frames.",
    ]
    return "\n".join(lines)


RULES: str = _rules()
"""A short plain-text statement of the rules for LLM prompts: actions, blocking, key frame windows."""
