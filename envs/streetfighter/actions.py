"""The action set of StreetFighter-v0: names, what each holds and presses, validation.

Every action is a *held direction* plus, for most, a *press*:

* movement and guard actions (``idle``, ``walk_forward``, ``walk_back``, ``crouch``,
  ``block_high``, ``block_low``) only set the held direction, which stays in force until the
  fighter's next action lands (holding back, i.e. ``walk_back``, ``block_high`` or
  ``block_low``, blocks);
* every other action is a press that executes once (buffered for
  :data:`~splitsecond.envs.streetfighter.frame_data.INPUT_BUFFER_FRAMES` frames when the fighter
  is busy), after which the fighter holds neutral, or down for crouching attacks.

"Forward" and "back" are relative to the opponent, so blocking always means holding away from
the opponent (no cross-ups).
"""

from __future__ import annotations

import numbers

# Held directions.
NEUTRAL = 0
FORWARD = 1
BACK = 2
"""Walk back; blocks high."""
GUARD = 3
"""Hold back without walking; blocks high."""
DOWN = 4
DOWN_BACK = 5
"""Crouch and hold back; blocks low."""
DIRECTION_NAMES = ("neutral", "forward", "back", "guard", "down", "down_back")

# (name, held direction, press?)
_TABLE: tuple[tuple[str, int, bool], ...] = (
    ("idle", NEUTRAL, False),
    ("walk_forward", FORWARD, False),
    ("walk_back", BACK, False),
    ("dash_forward", NEUTRAL, True),
    ("dash_back", NEUTRAL, True),
    ("jump_up", NEUTRAL, True),
    ("jump_forward", NEUTRAL, True),
    ("jump_back", NEUTRAL, True),
    ("crouch", DOWN, False),
    ("block_high", GUARD, False),
    ("block_low", DOWN_BACK, False),
    ("LP", NEUTRAL, True),
    ("MP", NEUTRAL, True),
    ("HP", NEUTRAL, True),
    ("LK", NEUTRAL, True),
    ("MK", NEUTRAL, True),
    ("HK", NEUTRAL, True),
    ("crouch_LP", DOWN, True),
    ("crouch_MP", DOWN, True),
    ("crouch_HP", DOWN, True),
    ("crouch_LK", DOWN, True),
    ("crouch_MK", DOWN, True),
    ("crouch_HK", DOWN, True),
    ("overhead", NEUTRAL, True),
    ("throw", NEUTRAL, True),
    ("projectile", NEUTRAL, True),
    ("anti_air", NEUTRAL, True),
    ("rush", NEUTRAL, True),
)

ACTION_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _TABLE)
"""Names of the discrete actions, index-aligned with the action space."""
N_ACTIONS = len(ACTION_NAMES)
ACTION_DIRECTION: tuple[int, ...] = tuple(d for _, d, _ in _TABLE)
"""The direction each action holds."""
ACTION_IS_PRESS: tuple[bool, ...] = tuple(p for _, _, p in _TABLE)
"""Whether each action is a press (executes once) rather than a held direction only."""

_INDEX = {name: i for i, name in enumerate(ACTION_NAMES)}

IDLE = _INDEX["idle"]
WALK_FORWARD = _INDEX["walk_forward"]
WALK_BACK = _INDEX["walk_back"]
DASH_FORWARD = _INDEX["dash_forward"]
DASH_BACK = _INDEX["dash_back"]
JUMP_UP = _INDEX["jump_up"]
JUMP_FORWARD = _INDEX["jump_forward"]
JUMP_BACK = _INDEX["jump_back"]
CROUCH = _INDEX["crouch"]
BLOCK_HIGH = _INDEX["block_high"]
BLOCK_LOW = _INDEX["block_low"]
THROW = _INDEX["throw"]
PROJECTILE = _INDEX["projectile"]
ANTI_AIR = _INDEX["anti_air"]
RUSH = _INDEX["rush"]
JUMPS = frozenset((JUMP_UP, JUMP_FORWARD, JUMP_BACK))
LIGHT_ATTACKS = frozenset(_INDEX[n] for n in ("LP", "LK", "crouch_LP", "crouch_LK"))
SPECIAL_ACTIONS = frozenset((PROJECTILE, ANTI_AIR, RUSH))
NORMAL_ATTACKS = frozenset(
    _INDEX[n] for n in ACTION_NAMES if n.removeprefix("crouch_") in ("LP", "MP", "HP", "LK", "MK", "HK")
)
"""Normal attacks; pressed in the air they become the matching jump attack (``air_LP`` ...)."""
AIR_MOVE_OF: dict[int, str] = {a: "air_" + ACTION_NAMES[a].removeprefix("crouch_") for a in NORMAL_ATTACKS}


def _valid_set_text() -> str:
    return ", ".join(f"{i}={n}" for i, n in enumerate(ACTION_NAMES))


VALID_ACTIONS_TEXT = f"valid actions are 0..{N_ACTIONS - 1}: {_valid_set_text()}"


def action_index(name: str) -> int:
    """The index of the action called ``name`` (e.g. ``action_index("HP") == 13``).

    Raises:
        ValueError: for an unknown name, listing the valid names.
    """
    try:
        return _INDEX[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown action name {name!r}; {VALID_ACTIONS_TEXT}") from None


def validate_action(action: object) -> int:
    """Return ``action`` as a plain ``int`` if it is a valid action index.

    Accepts Python and NumPy integers (and 0-d integer arrays); rejects booleans, floats and
    anything out of range, with a message naming the valid set. Nothing is clamped.
    """
    if type(action) is int:
        if 0 <= action < N_ACTIONS:
            return action
    elif isinstance(action, numbers.Integral) and not isinstance(action, bool):
        value = int(action)
        if 0 <= value < N_ACTIONS:
            return value
    elif getattr(action, "shape", None) == () and getattr(getattr(action, "dtype", None), "kind", None) in (
        "i",
        "u",
    ):
        return validate_action(int(action))  # type: ignore[call-overload]
    raise ValueError(f"invalid action {action!r}; {VALID_ACTIONS_TEXT}")
