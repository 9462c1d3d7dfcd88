"""Built-in opponents: a ladder of scripted fighters, from a training dummy to a frame-perfect punisher.

Each opponent is a scripted policy plus a *reaction latency*: it observes the world at frame
``f`` and its action lands ``reaction_ms`` later (``ceil`` to whole frames), exactly like an
agent's; it decides again on the frame after that. Opponents read the same ``Dict`` observation
as agents, from their own side, and know the public frame data (:mod:`.frame_data`). They can be
used as baseline agents too: ``make_opponent("punisher").act(obs)`` on any StreetFighter-v0
observation returns an action index.

The registry (:data:`OPPONENTS`) is ordered weakest to strongest, each at its own reaction time.
The order is *measured*, not assumed: ``python -m splitsecond.benchmarks.streetfighter_ladder``
plays a round robin (both sides, every character pair, several seeds), rates it with
Bradley–Terry and checks that each rung's 95 % interval lies above the one below
(``benchmarks/results/streetfighter_ladder.json``).

=========  ============  =========================================================================
name       reaction_ms   strategy
=========  ============  =========================================================================
dummy      0             stands still (a training dummy)
brawler    200           walks in and swings heavy punches; never blocks (a punching bag)
masher     100           a uniformly random action every decision
turtle     200           crouch-blocks, punishes what its reaction allows, creeps in and throws
rushdown   150           blocks what it sees, punishes, walks and dashes in; throws, low chains,
                         overheads and jump-ins up close
zoner      200           keeps its distance with projectiles and long low pokes, anti-airs jumps,
                         jabs and back-dashes out of throw range
punisher   0             blocks everything it sees, punishes every unsafe move within its window,
                         anti-airs jumps, walks in behind its guard and throws (the frame-perfect
                         ceiling)
=========  ============  =========================================================================

What decides the order: at human reaction times (150-200 ms) a fighter that walks in without
blocking trades hits with a random masher and loses (the brawler); holding guard and punishing
beats random play (the turtle); throws and mix-ups beat a guard (the rushdown); spacing, long pokes
and anti-airs beat a rushdown (the zoner); and only a 0 ms reaction can walk through a zoner's
fire, blocking each projectile on its last frame (the punisher). The same punisher at 200 ms
loses to random play: its dominance is bought with reaction time, which is what the benchmark
measures.
"""

from __future__ import annotations

import random
from collections.abc import Callable

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
    STAGE_WIDTH,
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
_M_ADV, _M_FRAME = MATCH_INDEX["frame_advantage"], MATCH_INDEX["frame"]

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
        self.held = A.BLOCK_LOW
        self._next_tactic = 0

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

    tactic_frames = 0
    """Fewest frames between two tactical (random) choices; 0: one at every decision.

    Set to the fighter's decision period at its declared reaction, so that the same fighter run
    faster still reacts faster but does not re-roll its plan every frame.
    """

    def tactic_due(self, v: View) -> bool:
        """Whether a new tactical choice is due at this observation (see :attr:`tactic_frames`)."""
        frame = int(v.match[_M_FRAME])
        if frame < self._next_tactic:
            return False
        self._next_tactic = frame + self.tactic_frames
        return True

    def paced(self, v: View, choose: Callable[[View], int]) -> int:
        """``choose(v)`` when a tactical choice is due, else keep holding the last one's direction.

        A press is never repeated: after one, the fighter crouch-blocks until its next choice.
        """
        if not self.tactic_due(v):
            return self.held
        action = choose(v)
        self.held = A.BLOCK_LOW if A.ACTION_IS_PRESS[action] else action
        return action

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


class Masher(Opponent):
    """Presses random buttons."""

    name = "masher"
    description = "button-masher: a uniformly random action every decision; reaction 100 ms"
    default_reaction_ms = 100.0

    def decide(self, v: View) -> int:
        return self.rng.randrange(A.N_ACTIONS)


class Turtle(Opponent):
    """Blocks, punishes what it can, and creeps in to throw."""

    name = "turtle"
    description = (
        "crouch-blocks, stands up against jumps and overheads, punishes what its reaction allows, "
        "creeps in and throws; reaction 200 ms"
    )
    default_reaction_ms = 200.0
    quiet_frames = 60
    """Frames without the opponent moving after which it walks in and throws regardless."""
    approach_gap = 700
    """Farther than this, it walks in on half of its decisions."""
    throws_per_second = 1.5
    """Throw attempts per second when in range of a free opponent."""

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.quiet = 0

    def decide(self, v: View) -> int:
        p = self.punish(v)
        if p is not None:
            return p
        op = v.op
        moving = op[_STATE] not in (F.STAND, F.CROUCH) or op[_VX] != 0 or v.theirs[0]
        self.quiet = 0 if moving else self.quiet + self.delay_frames + 1
        if v.op_threat_level() is not None or v.theirs[0]:
            return self.guard(v)
        if v.me[_BUSY]:
            return A.BLOCK_LOW
        quiet = self.quiet >= self.quiet_frames
        if v.gap <= v.my_char.moves["throw"].throw_range - 20:
            if not op[_BUSY] and (quiet or self.chance(self.throws_per_second)):
                return A.THROW
        elif quiet or (v.gap > self.approach_gap and self.rng.random() < 0.5):
            return A.WALK_FORWARD
        return A.BLOCK_LOW


class Rushdown(Opponent):
    """Blocks what it sees, then walks and dashes in and pressures up close."""

    name = "rushdown"
    description = (
        "blocks what it sees and punishes; walks and dashes in; throws, low chains, overheads and jump-ins "
        "up close; reaction 150 ms"
    )
    default_reaction_ms = 150.0
    tactic_frames = 10

    def decide(self, v: View) -> int:
        if self.plan:
            return self.plan.pop(0)
        me, gap = v.me, v.gap
        if me[_AIRBORNE]:
            return A.action_index("HK") if gap < 400 else A.IDLE
        p = self.punish(v)
        if p is not None:
            return p
        if v.theirs[0] and 0 <= v.theirs[4] <= self.delay_frames + 12:
            return A.JUMP_FORWARD if v.theirs[4] > 6 and gap < 2200 else A.BLOCK_LOW
        level = v.op_threat_level()
        if level is not None:
            return guard_against(level)
        if me[_BUSY]:
            return A.BLOCK_LOW
        return self.paced(v, self.pressure)

    def pressure(self, v: View) -> int:
        """Its tactical choice: close in, then throw, low chains or overheads, or guard."""
        op, gap = v.op, v.gap
        r = self.rng.random()
        throw_gap = v.my_char.moves["throw"].throw_range - 10
        if op[_BUSY] > self.delay_frames and gap > throw_gap:
            return A.DASH_FORWARD if gap > 600 and r < 0.3 else A.WALK_FORWARD  # it is recovering: close in
        if gap > 1500:
            return A.DASH_FORWARD if r < 0.3 else A.WALK_FORWARD
        if gap > 600:
            if gap <= 1400 and r < 0.1:
                return A.JUMP_FORWARD
            return A.WALK_FORWARD if r < 0.5 else A.BLOCK_LOW
        low_chain = A.action_index("crouch_LK")
        if gap > throw_gap:  # inside the opponent's pokes: mostly guard, but a guard loses to throws
            if gap <= v.op_char.moves["throw"].throw_range + 20 and r < 0.5:
                self.plan = [A.action_index("crouch_LP")]
                return low_chain
            if r < 0.15:
                return A.WALK_FORWARD
            if r < 0.3:
                self.plan = [A.action_index("crouch_LP")]
                return low_chain
            return A.BLOCK_LOW
        if r < 0.45:
            return A.THROW
        if r < 0.65:
            self.plan = [A.action_index("crouch_LP")]
            return low_chain
        if r < 0.75:
            return A.action_index("overhead")
        return A.BLOCK_LOW


class Zoner(Opponent):
    """Keeps its distance with projectiles and long pokes."""

    name = "zoner"
    description = (
        "keeps its distance with projectiles and long low pokes, anti-airs jumps, jabs and back-dashes out "
        "of throw range; reaction 200 ms"
    )
    default_reaction_ms = 200.0
    corner_margin = 700
    """Closer than this to a wall, it stops retreating."""
    tactic_frames = 13

    def decide(self, v: View) -> int:
        if self.anti_air(v):
            return A.ANTI_AIR
        p = self.punish(v)
        if p is not None:
            return p
        me = v.me
        if v.theirs[0] and 0 <= v.theirs[4] <= self.delay_frames + 25:
            if not me[_HAS_PROJ] and me[_BUSY] == 0 and v.theirs[4] > 14:
                return A.PROJECTILE  # cancel it out
            return A.BLOCK_LOW
        level = v.op_threat_level()
        if level is not None:
            return guard_against(level)
        if me[_BUSY]:
            return A.BLOCK_LOW
        return self.paced(v, self.spacing)

    def spacing(self, v: View) -> int:
        """Its tactical choice: jab, throw or back off up close, poke at mid range, fire from afar."""
        me, gap = v.me, v.gap
        r = self.rng.random()
        cornered = min(me[_X], STAGE_WIDTH - me[_X]) < self.corner_margin
        moves, hw = v.my_char.moves, v.my_char.half_width
        if gap <= max(150, v.op_char.moves["throw"].throw_range + 20):  # inside the opponent's throw range
            if r < 0.5 and gap <= reach(moves["crouch_LP"], hw) - 20:
                return A.action_index("crouch_LP")
            if r < 0.75 and gap <= moves["throw"].throw_range - 10:
                return A.THROW
            return A.JUMP_FORWARD if cornered else A.DASH_BACK
        if gap <= reach(moves["crouch_MK"], hw) - 20:
            return A.action_index("crouch_MK") if r < 0.5 else A.BLOCK_LOW
        if gap < 700:
            if cornered:
                return A.BLOCK_LOW
            return A.DASH_BACK if r < 0.3 else A.WALK_BACK
        if not me[_HAS_PROJ] and self.chance(1.5):
            return A.PROJECTILE
        if gap < 1500 and not cornered:
            return A.WALK_BACK
        if gap > 3000:
            return A.WALK_FORWARD
        return A.BLOCK_LOW


class Punisher(Opponent):
    """Frame-perfect defence: block, punish inside the window, anti-air; walks in and throws."""

    name = "punisher"
    description = (
        "blocks everything it sees, punishes every unsafe move inside its frame window, anti-airs jumps, "
        "walks in behind its guard and throws; reaction 0 ms (frame-perfect)"
    )
    default_reaction_ms = 0.0

    def decide(self, v: View) -> int:
        if self.anti_air(v):
            return A.ANTI_AIR
        p = self.punish(v)
        if p is not None:
            return p
        level = v.op_threat_level()
        if level is not None or v.op_throwing():
            return guard_against(level)
        if v.theirs[0] and 0 <= v.theirs[4] <= self.delay_frames + 2:
            return A.BLOCK_LOW  # hold guard only for the projectile's last frames
        me, op = v.me, v.op
        if me[_BUSY] or op[_AIRBORNE]:
            return A.BLOCK_LOW
        if v.gap <= v.my_char.moves["throw"].throw_range - 10 and not op[_BUSY]:
            return A.THROW
        return A.WALK_FORWARD


_CLASSES: dict[str, type[Opponent]] = {
    c.name: c for c in (Dummy, Brawler, Masher, Turtle, Rushdown, Zoner, Punisher)
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
