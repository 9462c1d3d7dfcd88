"""The observation of StreetFighter-v0: a ``Dict`` of four float32 arrays, from one player's side.

``obs["self"]`` and ``obs["opponent"]`` have the fields :data:`FIGHTER_FIELDS` (index with
:data:`FIGHTER_INDEX`, e.g. ``obs["self"][FIGHTER_INDEX["health"]]``); ``obs["match"]`` has
:data:`MATCH_FIELDS`; ``obs["projectiles"]`` is a ``(2, 5)`` array, row 0 for the observer's own
projectile and row 1 for the opponent's, with columns :data:`PROJECTILE_FIELDS`.
:func:`decode_observation` turns an observation into nested plain dicts with names.

Positions are stage units (``0 .. STAGE_WIDTH``; 10 units = 1 rendered pixel), ``vx``/``vy`` the
displacement over the last frame, ``facing`` +1 (right) or -1 (left). ``state`` indexes
:data:`~splitsecond.envs.streetfighter.fighter.STATE_NAMES`, ``move`` indexes :data:`MOVE_NAMES`
(-1: none), ``move_phase`` is 0 none, 1 startup, 2 active, 3 recovery. ``busy_frames`` counts
the frames from the next one during which the fighter cannot act; ``frame_advantage`` is the
opponent's busy frames minus the observer's (positive: the observer acts first). The opponent's
``held_action`` and ``pending_press`` are hidden (-1): you see what it does, not what it pressed.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.actions import N_ACTIONS
from splitsecond.envs.streetfighter.engine import PHASE_NAMES, Simulation
from splitsecond.envs.streetfighter.fighter import Fighter
from splitsecond.envs.streetfighter.frame_data import (
    AIR_RESET_FRAMES,
    CHARACTER_NAMES,
    FPS,
    KNOCKDOWN_FRAMES,
    REQUIRED_MOVES,
    STAGE_WIDTH,
)

MOVE_NAMES: tuple[str, ...] = REQUIRED_MOVES
"""Names of every move, indexed by the ``move`` field."""
_MOVE_INDEX = {name: i for i, name in enumerate(MOVE_NAMES)}

FIGHTER_FIELDS: tuple[str, ...] = (
    "x",
    "y",
    "vx",
    "vy",
    "facing",
    "health",
    "max_health",
    "state",
    "move",
    "move_frame",
    "move_phase",
    "busy_frames",
    "crouching",
    "guarding",
    "airborne",
    "invulnerable",
    "has_projectile",
    "character",
    "rounds_won",
    "combo",
    "held_action",
    "pending_press",
)
FIGHTER_INDEX = {name: i for i, name in enumerate(FIGHTER_FIELDS)}
MATCH_FIELDS: tuple[str, ...] = (
    "frame",
    "round",
    "timer_frames",
    "timer_seconds",
    "phase",
    "distance",
    "gap",
    "height_diff",
    "frame_advantage",
    "rounds_to_win",
)
MATCH_INDEX = {name: i for i, name in enumerate(MATCH_FIELDS)}
PROJECTILE_FIELDS: tuple[str, ...] = ("active", "x", "y", "vx", "frames_to_hit")

_MAX_HEALTH = 5000
_MAX_FRAMES = 1 << 24  # float32 counts integers exactly up to here
_FIGHTER_LOW = np.array(
    [0, -1000, -1000, -1000, -1, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1], dtype=np.float32
)
_FIGHTER_HIGH = np.array(
    [
        STAGE_WIDTH,
        5000,
        1000,
        1000,
        1,
        _MAX_HEALTH,
        _MAX_HEALTH,
        len(F.STATE_NAMES) - 1,
        len(MOVE_NAMES) - 1,
        1000,
        3,
        1000,
        1,
        1,
        1,
        1,
        1,
        len(CHARACTER_NAMES) - 1,
        100,
        100,
        N_ACTIONS - 1,
        N_ACTIONS - 1,
    ],
    dtype=np.float32,
)
_MATCH_LOW = np.array([0, 1, 0, 0, 0, 0, -1000, -5000, -1000, 1], dtype=np.float32)
_MATCH_HIGH = np.array(
    [
        _MAX_FRAMES,
        1000,
        _MAX_FRAMES,
        _MAX_FRAMES,
        len(PHASE_NAMES) - 1,
        STAGE_WIDTH,
        STAGE_WIDTH,
        5000,
        1000,
        100,
    ],
    dtype=np.float32,
)
_PROJ_LOW = np.tile(np.array([0, -1000, 0, -1000, -1], dtype=np.float32), (2, 1))
_PROJ_HIGH = np.tile(np.array([1, STAGE_WIDTH + 1000, 5000, 1000, 1000], dtype=np.float32), (2, 1))

_NF = len(FIGHTER_FIELDS)
_NM = len(MATCH_FIELDS)
_NP = len(PROJECTILE_FIELDS)
_CHAR_INDEX = {name: i for i, name in enumerate(CHARACTER_NAMES)}
_AIR_CACHE: dict[tuple[int, int, int], int] = {}


def observation_space() -> spaces.Dict:
    """A fresh copy of the observation space."""
    return spaces.Dict(
        {
            "self": spaces.Box(_FIGHTER_LOW, _FIGHTER_HIGH, dtype=np.float32),
            "opponent": spaces.Box(_FIGHTER_LOW, _FIGHTER_HIGH, dtype=np.float32),
            "match": spaces.Box(_MATCH_LOW, _MATCH_HIGH, dtype=np.float32),
            "projectiles": spaces.Box(_PROJ_LOW, _PROJ_HIGH, dtype=np.float32),
        }
    )


def _air_frames(y: int, vy: int, g: int) -> int:
    key = (y, vy, g)
    n = _AIR_CACHE.get(key)
    if n is None:
        n = 0
        while True:
            y += vy
            vy -= g
            n += 1
            if y <= 0:
                break
        if len(_AIR_CACHE) < 100_000:
            _AIR_CACHE[key] = n
    return n


def busy_frames(f: Fighter) -> int:
    """Like :meth:`Fighter.busy_frames`, memoising the air-time computation."""
    st = f.state
    if st <= F.CROUCH or st == F.KO:
        return 0
    if st == F.MOVE:
        return f.move.total - f.move_frame
    if st == F.HITSTUN or st == F.BLOCKSTUN or st == F.KNOCKDOWN or st == F.LANDING:
        return f.timer
    g = f.char.gravity
    if st == F.PREJUMP:
        return f.timer + _air_frames(0, f.char.jump_vy, g) + f.char.landing - 1
    n = _air_frames(f.y, f.vy, g)
    if st == F.FALLING:
        return n + (KNOCKDOWN_FRAMES if f.fall_kd else AIR_RESET_FRAMES) - 1
    return n + f.char.landing - 1


def _fighter_row(f: Fighter, busy: int, hidden: bool) -> list:
    mv = f.move
    if mv is None:
        move, mf, phase = -1, 0, 0
    else:
        move, mf = _MOVE_INDEX[mv.name], f.move_frame
        phase = 1 if mf < mv.startup else 2 if mf <= mv.last_active else 3
    st = f.state
    return [
        f.x,
        f.y,
        f.x - f.px,
        f.y - f.py,
        f.facing,
        f.health,
        f.char.health,
        st,
        move,
        mf,
        phase,
        busy,
        1 if f.crouching else 0,
        1 if f.guarding else 0,
        1 if f.y > 0 or st == F.AIR or st == F.AIR_MOVE or st == F.FALLING else 0,
        1 if f.hurtbox() is None else 0,
        0 if f.projectile is None else 1,
        _CHAR_INDEX[f.char.name],
        f.rounds_won,
        f.combo,
        -1 if hidden else f.action,
        -1 if hidden else f.press,
    ]


def _projectile_row(sim: Simulation, owner: int) -> list:
    p = sim.fighters[owner].projectile
    if p is None:
        return [0, 0, 0, 0, -1]
    target = sim.fighters[1 - owner]
    front = p.x + p.half_w if p.vx > 0 else p.x - p.half_w
    body = target.x - target.half_width if p.vx > 0 else target.x + target.half_width
    gap = (body - front) if p.vx > 0 else (front - body)
    speed = abs(p.vx)
    eta = -1 if gap < -2 * (p.half_w + target.half_width) else max(0, -(-gap // speed))
    return [1, p.x, p.y, p.vx, eta]


def observation_values(sim: Simulation, player: int) -> list[int]:
    """Every observation value of ``player``, flat, as Python ints (``self``, ``opponent``, ``match``, ``projectiles``)."""
    me = sim.fighters[player]
    op = sim.fighters[1 - player]
    b_me = busy_frames(me)
    b_op = busy_frames(op)
    dx = op.x - me.x
    dist = dx if dx >= 0 else -dx
    timer = sim.timer_frames
    flat = _fighter_row(me, b_me, False)
    flat += _fighter_row(op, b_op, True)
    flat += (
        sim.frame,
        sim.round,
        timer,
        -(-timer // FPS),
        sim.phase,
        dist,
        dist - me.half_width - op.half_width,
        op.y - me.y,
        b_op - b_me,
        sim.config.rounds_to_win,
    )
    flat += _projectile_row(sim, player)
    flat += _projectile_row(sim, 1 - player)
    return flat


def to_observation(values: list[int]) -> dict[str, np.ndarray]:
    """Pack :func:`observation_values` into the ``Dict`` observation (fresh arrays every call)."""
    arr = np.array(values, dtype=np.float32)
    return {
        "self": arr[:_NF],
        "opponent": arr[_NF : 2 * _NF],
        "match": arr[2 * _NF : 2 * _NF + _NM],
        "projectiles": arr[2 * _NF + _NM :].reshape(2, _NP),
    }


def build_observation(sim: Simulation, player: int) -> dict[str, np.ndarray]:
    """The observation of ``player`` (0 or 1) at the current frame."""
    return to_observation(observation_values(sim, player))


def flatten_observation(obs: dict[str, np.ndarray]) -> list[int]:
    """The inverse of :func:`to_observation`: the flat list of values as ints."""
    parts = [obs["self"], obs["opponent"], obs["match"], np.asarray(obs["projectiles"]).reshape(-1)]
    return np.concatenate(parts).astype(np.int64).tolist()


def decode_observation(obs: dict[str, np.ndarray]) -> dict:
    """Nested plain dict with named fields (ints where the field is integral, names for ids)."""
    out: dict = {}
    for side in ("self", "opponent"):
        row = {name: int(v) for name, v in zip(FIGHTER_FIELDS, obs[side].tolist(), strict=True)}
        row["state_name"] = F.STATE_NAMES[row["state"]]
        row["move_name"] = MOVE_NAMES[row["move"]] if row["move"] >= 0 else None
        row["character_name"] = CHARACTER_NAMES[row["character"]]
        out[side] = row
    out["match"] = {name: int(v) for name, v in zip(MATCH_FIELDS, obs["match"].tolist(), strict=True)}
    out["match"]["phase_name"] = PHASE_NAMES[out["match"]["phase"]]
    out["projectiles"] = [
        {name: int(v) for name, v in zip(PROJECTILE_FIELDS, row, strict=True)}
        for row in obs["projectiles"].tolist()
    ]
    return out
