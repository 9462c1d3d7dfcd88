"""Built-in opponents, from a button-masher to a frame-perfect punisher.

Each opponent is a scripted policy plus a *reaction latency*: it observes the world at frame
``f`` and its action lands ``reaction_ms`` later (``ceil`` to whole frames), exactly like an
agent's; it decides again on the frame after that. Opponents read the same ``Dict`` observation
as agents, from their own side, and know the public frame data (:mod:`.frame_data`). They can be
used as baseline agents too: ``make_opponent("punisher").act(obs)`` on any StreetFighter-v0
observation returns an action index.

=========  ============  =========================================================================
name       reaction_ms   strategy
=========  ============  =========================================================================
dummy      0             stands still (a training dummy)
masher     100           presses random buttons
brawler    200           walks in and swings heavy punches; never blocks
turtle     300           crouch-blocks, jabs and throws up close, punishes slowly
zoner      200           keeps its distance, throws projectiles, anti-airs jumps
rushdown   150           walks and dashes in, pressures with lows, throws, jump-ins and rushes
punisher   0             blocks everything it sees, punishes every unsafe move within its window,
                         anti-airs jumps, blocks projectiles (the frame-perfect ceiling)
=========  ============  =========================================================================
"""

from __future__ import annotations

import random

import numpy as np

from splitsecond.envs.streetfighter import actions as A
from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.frame_data import (
    CHARACTER_NAMES,
    CHARACTERS,
    FPS,
    HIGH,
    INPUT_BUFFER_FRAMES,
    OVERHEAD,
    Move,
    latency_frames,
)
from splitsecond.envs.streetfighter.observation import FIGHTER_INDEX, MATCH_INDEX, MOVE_NAMES
from splitsecond.envs.timing import TimedAction, ms_to_us

_X, _Y, _VX, _VY = FIGHTER_INDEX["x"], FIGHTER_INDEX["y"], FIGHTER_INDEX["vx"], FIGHTER_INDEX["vy"]
_STATE, _MOVE, _PHASE = FIGHTER_INDEX["state"], FIGHTER_INDEX["move"], FIGHTER_INDEX["move_phase"]
_BUSY, _AIRBORNE, _CHAR = FIGHTER_INDEX["busy_frames"], FIGHTER_INDEX["airborne"], FIGHTER_INDEX["character"]
_HAS_PROJ, _INVULN = FIGHTER_INDEX["has_projectile"], FIGHTER_INDEX["invulnerable"]
_M_PHASE, _M_DIST, _M_GAP = MATCH_INDEX["phase"], MATCH_INDEX["distance"], MATCH_INDEX["gap"]
_M_ADV = MATCH_INDEX["frame_advantage"]

_PUNISH_CANDIDATES = ("anti_air", "HP", "crouch_HP", "MK", "MP", "crouch_MP", "LP", "crouch_LP", "crouch_LK")


class View:
    """The parts of an observation a scripted opponent reads, as plain Python numbers."""

    __slots__ = ("me", "op", "match", "mine", "theirs", "my_char", "op_char")

    def __init__(self, obs: dict[str, np.ndarray]) -> None:
        self.me = obs["self"].tolist()
        self.op = obs["opponent"].tolist()
        self.match = obs["match"].tolist()
        self.mine, self.theirs = obs["projectiles"].tolist()
        self.my_char = CHARACTERS[CHARACTER_NAMES[int(self.me[_CHAR])]]
        self.op_char = CHARACTERS[CHARACTER_NAMES[int(self.op[_CHAR])]]

    @property
    def fighting(self) -> bool:
        """The round is on."""
        return self.match[_M_PHASE] == 0

    @property
    def gap(self) -> int:
        """Space between the two bodies."""
        return int(self.match[_M_GAP])

    def op_move(self) -> Move | None:
        """The opponent's current move, if any."""
        m = int(self.op[_MOVE])
        return None if m < 0 else self.op_char.moves[MOVE_NAMES[m]]

    def op_threat_level(self) -> int | None:
        """Level of the opponent's attack in startup/active, or of its jump-in; ``None`` if none."""
        op = self.op
        st = op[_STATE]
        mv = self.op_move()
        if mv is not None and op[_PHASE] in (1, 2) and mv.hitbox is not None:
            return mv.level
        if mv is not None and mv.projectile is not None and op[_PHASE] == 1:
            return HIGH
        if st in (F.AIR, F.AIR_MOVE, F.PREJUMP):
            return OVERHEAD
        return None

    def op_throwing(self) -> bool:
        """The opponent is starting a throw."""
        mv = self.op_move()
        return mv is not None and mv.name == "throw" and self.op[_PHASE] == 1


def guard_against(level: int | None) -> int:
    """The guard action that blocks ``level`` (crouch-block when unknown)."""
    return A.BLOCK_HIGH if level == OVERHEAD else A.BLOCK_LOW


def reach(char_move: Move, my_half_width: int) -> int:
    """Largest body gap at which ``char_move`` hits a standing opponent (rush: its travel)."""
    if char_move.hitbox is None:
        return -1
    travel = sum(char_move.vx_by_frame[: char_move.startup + 1])
    return char_move.hitbox.x1 - my_half_width + travel


class Opponent:
    """Base class of the built-in opponents.

    Args:
        reaction_ms: reaction latency; ``None`` for the opponent's default.
        seed: seed of its random choices.

    Attributes:
        name: registry name.
        reaction_ms: its reaction latency in milliseconds.
        delay_frames: frames from an observation until its action lands.
    """

    name = "base"
    description = ""
    default_reaction_ms = 0.0

    def __init__(self, reaction_ms: float | None = None, seed: int | None = None) -> None:
        ms = self.default_reaction_ms if reaction_ms is None else reaction_ms
        TimedAction(None, ms)  # validates
        self.reaction_ms = float(ms)
        self.delay_frames = latency_frames(ms_to_us(ms))
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """Start a new match; ``seed`` makes its random choices reproducible."""
        self.rng = random.Random(seed)
        self.plan: list[int] = []

    def act(self, obs: dict[str, np.ndarray]) -> int:
        """The action index to play for ``obs`` (its own-side observation)."""
        v = View(obs)
        if not v.fighting:
            self.plan.clear()
            return A.IDLE
        return self.decide(v)

    def decide(self, v: View) -> int:
        """The policy; subclasses override."""
        return A.IDLE

    def chance(self, per_second: float) -> bool:
        """True with a probability that makes ``per_second`` events per second at its decision rate."""
        return self.rng.random() < per_second * (self.delay_frames + 1) / FPS

    # ---- shared tactics ----------------------------------------------------------------------

    def punish(self, v: View) -> int | None:
        """The most damaging move that surely hits the opponent's recovery, if it can be timed now."""
        me, op = v.me, v.op
        if op[_INVULN] or op[_STATE] not in (F.MOVE, F.LANDING) or op[_AIRBORNE]:
            return None
        if op[_STATE] == F.MOVE and op[_PHASE] == 1:
            return None  # still starting up: block it first
        my_busy, op_busy = int(me[_BUSY]), int(op[_BUSY])
        d = self.delay_frames
        if my_busy - d >= INPUT_BUFFER_FRAMES:
            return None  # too early: the press would be dropped
        start = max(d, my_busy)
        best, best_damage = None, -1
        hw = v.my_char.half_width
        for name in _PUNISH_CANDIDATES:
            mv = v.my_char.moves[name]
            if start + mv.startup - 1 < op_busy and v.gap + 30 <= reach(mv, hw) and mv.damage > best_damage:
                best, best_damage = A.action_index(name), mv.damage
        return best

    def anti_air(self, v: View) -> bool:
        """Whether an anti-air started after this decision's latency would meet the opponent in the air."""
        op = v.op
        if op[_STATE] not in (F.AIR, F.AIR_MOVE, F.PREJUMP) or op[_INVULN]:
            return False
        me = v.me
        aa = v.my_char.moves["anti_air"]
        start = max(self.delay_frames, int(me[_BUSY]))
        if int(me[_BUSY]) - self.delay_frames >= INPUT_BUFFER_FRAMES:
            return False
        # Predict the jumper's arc frame by frame.
        g = v.op_char.gravity
        if op[_STATE] == F.PREJUMP:
            return False
        x, y, vx, vy = op[_X], op[_Y], op[_VX], op[_VY] - g
        facing = 1 if op[_X] > me[_X] else -1
        lo = me[_X] + facing * aa.hitbox.x0
        hi = me[_X] + facing * aa.hitbox.x1
        lo, hi = min(lo, hi), max(lo, hi)
        ohw = v.op_char.half_width - 20
        for t in range(1, start + aa.last_active + 1):
            x += vx
            y += vy
            vy -= g
            if y <= 0:
                return False
            if t >= start + aa.startup - 1 and x + ohw > lo and x - ohw < hi and y + 100 < aa.hitbox.y1:
                return True
        return False

    def guard(self, v: View) -> int:
        """Block whatever is coming (crouch-block by default)."""
        return guard_against(v.op_threat_level())


class Dummy(Opponent):
    """Stands still."""

    name = "dummy"
    description = "stands still and never blocks (a training dummy); reaction 0 ms"
    default_reaction_ms = 0.0

    def decide(self, v: View) -> int:
        return A.IDLE


class Masher(Opponent):
    """Presses random buttons."""

    name = "masher"
    description = "button-masher: a uniformly random action every decision; reaction 100 ms"
    default_reaction_ms = 100.0

    def decide(self, v: View) -> int:
        return self.rng.randrange(A.N_ACTIONS)


class Brawler(Opponent):
    """Walks in and swings heavy punches; never blocks."""

    name = "brawler"
    description = (
        "walks in and swings heavy punches, never blocks (a punching bag for punishes); reaction 200 ms"
    )
    default_reaction_ms = 200.0

    def decide(self, v: View) -> int:
        if v.gap <= reach(v.my_char.moves["HP"], v.my_char.half_width) - 40:
            return A.action_index("HP")
        return A.WALK_FORWARD


class Turtle(Opponent):
    """Blocks a lot, pokes and throws up close."""

    name = "turtle"
    description = (
        "crouch-blocks, stands up against jumps and overheads, jabs and throws up close; reaction 300 ms"
    )
    default_reaction_ms = 300.0

    def decide(self, v: View) -> int:
        p = self.punish(v)
        if p is not None:
            return p
        if v.op_throwing() or v.op_threat_level() is not None or v.theirs[0]:
            return self.guard(v)
        if v.gap <= 100 and v.me[_BUSY] == 0 and self.chance(1.0):
            return A.THROW
        if v.gap <= 200 and v.me[_BUSY] == 0 and self.chance(2.0):
            return A.action_index("crouch_LP")
        return A.BLOCK_LOW


class Zoner(Opponent):
    """Keeps its distance and throws projectiles."""

    name = "zoner"
    description = "keeps its distance, throws projectiles, anti-airs jumps; reaction 200 ms"
    default_reaction_ms = 200.0

    def decide(self, v: View) -> int:
        if self.anti_air(v):
            return A.ANTI_AIR
        p = self.punish(v)
        if p is not None:
            return p
        gap = v.gap
        if v.theirs[0] and 0 <= v.theirs[4] <= self.delay_frames + 25:
            if not v.me[_HAS_PROJ] and v.me[_BUSY] == 0 and v.theirs[4] > 14:
                return A.PROJECTILE
            return A.BLOCK_LOW
        if gap < 700:
            if v.op_threat_level() is not None:
                return self.guard(v)
            r = self.rng.random()
            if r < 0.3:
                return A.action_index("crouch_MK")
            if r < 0.5:
                return A.DASH_BACK
            if r < 0.6:
                return A.JUMP_BACK
            return A.BLOCK_LOW
        if not v.me[_HAS_PROJ] and v.me[_BUSY] == 0 and self.chance(1.5):
            return A.PROJECTILE
        if gap < 1500:
            return A.WALK_BACK
        if gap > 3000:
            return A.WALK_FORWARD
        return A.BLOCK_LOW


class Rushdown(Opponent):
    """Walks and dashes in, pressures up close."""

    name = "rushdown"
    description = "walks and dashes in; pressures with lows, throws, jump-ins and rushes; blocks half the time; reaction 150 ms"
    default_reaction_ms = 150.0

    def decide(self, v: View) -> int:
        if self.plan:
            return self.plan.pop(0)
        me = v.me
        gap = v.gap
        if me[_AIRBORNE]:
            return A.action_index("HK") if gap < 400 else A.IDLE
        p = self.punish(v)
        if p is not None:
            return p
        if v.theirs[0] and 0 <= v.theirs[4] <= self.delay_frames + 12:
            return A.JUMP_FORWARD if v.theirs[4] > 6 and gap < 2200 else A.BLOCK_LOW
        if v.op_threat_level() is not None and self.rng.random() < 0.5:
            return self.guard(v)
        if gap > 600:
            r = self.rng.random()
            if 1000 <= gap <= 1500 and r < 0.15:
                return A.JUMP_FORWARD
            if r < 0.25:
                return A.DASH_FORWARD
            return A.WALK_FORWARD
        r = self.rng.random()
        if gap <= 110 and r < 0.3:
            return A.THROW
        if r < 0.55:
            self.plan = [A.action_index("crouch_LP"), A.RUSH]
            return A.action_index("crouch_LK")
        if r < 0.7:
            self.plan = [A.PROJECTILE]
            return A.action_index("crouch_MK")
        if r < 0.8:
            return A.action_index("overhead")
        if r < 0.9:
            return A.action_index("HP")
        return A.BLOCK_LOW


class Punisher(Opponent):
    """Frame-perfect defence: block, punish inside the window, anti-air."""

    name = "punisher"
    description = (
        "blocks everything it sees, punishes every unsafe move inside its frame window, anti-airs jumps, "
        "blocks projectiles; reaction 0 ms (frame-perfect)"
    )
    default_reaction_ms = 0.0

    def decide(self, v: View) -> int:
        if self.anti_air(v):
            return A.ANTI_AIR
        p = self.punish(v)
        if p is not None:
            return p
        level = v.op_threat_level()
        if level is not None:
            return guard_against(level)
        if v.theirs[0] and 0 <= v.theirs[4] <= self.delay_frames + 30:
            return A.BLOCK_LOW
        if v.me[_BUSY] == 0 and v.op[_BUSY] == 0:
            if v.gap <= 100 and self.chance(0.5):
                return A.THROW
            if v.gap > 1500 and not v.me[_HAS_PROJ] and self.chance(0.5):
                return A.PROJECTILE
            if v.gap > 2500:
                return A.WALK_FORWARD
        return A.BLOCK_LOW


_CLASSES: dict[str, type[Opponent]] = {
    c.name: c for c in (Dummy, Masher, Brawler, Turtle, Zoner, Rushdown, Punisher)
}
OPPONENTS: dict[str, str] = {name: cls.description for name, cls in _CLASSES.items()}
"""Built-in opponents by name, weakest to strongest, with a one-line description."""
DEFAULT_OPPONENT = "rushdown"
"""The opponent of ``StreetFighterEnv`` unless another is named."""


def make_opponent(name: str, seed: int | None = None, reaction_ms: float | None = None) -> Opponent:
    """Build a built-in opponent by name (see :data:`OPPONENTS`).

    Args:
        name: registry name.
        seed: seed of its random choices.
        reaction_ms: override its reaction latency.

    Raises:
        ValueError: for an unknown name or an invalid latency.
    """
    try:
        cls = _CLASSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown opponent {name!r}; valid opponents: {', '.join(_CLASSES)}") from None
    return cls(reaction_ms=reaction_ms, seed=seed)
