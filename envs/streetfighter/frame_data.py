"""Characters and their moves: the frame data of StreetFighter-v0.

Units
-----
The world runs at exactly :data:`FPS` = 60 frames per second. Space is measured in integer
*units* (10 units = 1 pixel of the default rendering); the stage spans ``0 .. STAGE_WIDTH``
horizontally and height ``y = 0`` is the floor. All physics is integer arithmetic, so a match is
reproducible bit for bit.

Frame conventions
-----------------
A move that starts on frame ``g`` is on *move frame* 1 during ``g``. Its hitbox is out on move
frames ``startup .. startup + active - 1`` (so a move with startup 4 hits on the 4th frame after
it started, counting that frame as 1), then ``recovery`` frames follow; the fighter can act again
on the frame after the last one (``total = startup + active - 1 + recovery`` frames in all).

A fighter hit (or blocked) on frame ``h`` is in hitstun (blockstun) on the ``hitstun``
(``blockstun``) frames after ``h`` and can act on frame ``h + hitstun + 1``. The frame advantage
of a move that connects on its first active frame is therefore ``hitstun - (active - 1 +
recovery)`` on hit and ``blockstun - (active - 1 + recovery)`` on block (:attr:`Move.on_hit`,
:attr:`Move.on_block`). There is no hit-stop.

Presses (attacks, specials, throws, dashes, jumps) are buffered for :data:`INPUT_BUFFER_FRAMES`
frames: a press that lands while the fighter cannot act is executed on its first free frame if
that comes within the buffer, otherwise it is dropped.

Latency windows (the numbers agents are measured against)
---------------------------------------------------------
*Punishing a blocked move.* After blocking a move with ``on_block = -D`` the defender acts ``D``
frames before the attacker. A punish with startup ``S`` lands if it *starts* on one of the first
``D - S + 1`` frames the defender can act (:func:`punish_window`). Counted from the first
observation that shows the block (the frame after the hit), an agent may take at most
``blockstun + D - S`` frames of latency (:func:`punish_latency_budget`). For the balanced
character's blocked heavy punch (-8, blockstun 16) punished by a 4-frame jab: a 5-frame window,
a budget of 20 frames = 333 ms.

*Anti-airing a jump.* Jumps have 4 frames of pre-jump on the ground, then 36 frames in the air
(kai). Against kai's forward jump from the round-start distance with a jump heavy kick pressed
26 frames after the jump input (it would connect on frame 33), kai's invincible anti-air
(startup 3, invincible on frames 1-7) wins if it lands on frames 21..33 after the jump input:
a 13-frame window, i.e. a latency budget of 32 frames (533 ms) from the first observation that
shows the pre-jump. Earlier, it whiffs under the jump; later, the jump-in hits first.

*Reacting to a projectile.* kai's projectile appears on frame 12 of its motion and, thrown from
the round-start distance (2000 units), reaches a standing kai 29 frames later
(:func:`projectile_travel_frames`). Blocking needs "back" held on the frame it arrives: a latency
budget of 28 frames (466 ms) from the first observation that shows the projectile, 40 frames
(666 ms) when reacting to the throwing motion itself.

These numbers are checked frame by frame by ``tests/envs/streetfighter/test_sf_windows.py``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

FPS = 60
"""Frames per simulated second."""
US_PER_FRAME_NUM = 1_000_000
"""Frame ``f`` starts at ``f * US_PER_FRAME_NUM / FPS`` microseconds (exact rational)."""

STAGE_WIDTH = 6400
"""Stage width in units; the corners are at ``0`` and ``STAGE_WIDTH``."""
START_DISTANCE = 2000
"""Centre-to-centre distance between the fighters at the start of a round."""
INPUT_BUFFER_FRAMES = 6
"""A press is kept for this many frames (its landing frame included) until it can execute."""
CANCEL_WINDOW_FRAMES = 6
"""A cancellable move that made contact may be cancelled until its last active frame + this."""
KNOCKDOWN_FRAMES = 45
"""Frames a knocked-down fighter stays on the floor (invulnerable) after landing."""
AIR_RESET_FRAMES = 10
"""Frames of invulnerable recovery after a fighter hit in the air by a non-knockdown move lands."""
TECH_FRAMES = 14
"""Stun of both fighters when two throws meet (a throw tech)."""
PUSH_SPEED = 60
"""Units per frame at which pushback slides a fighter away."""
ROUND_BREAK_FRAMES = 60
"""Frozen frames between the end of a round and the start of the next."""
COMBO_SCALING_STEP = 10
"""Each further hit of a combo deals 10 % less damage, down to :data:`COMBO_SCALING_MIN` %."""
COMBO_SCALING_MIN = 30

# Attack levels: how a hit must be blocked.
HIGH = 0
"""Blockable standing or crouching ("mid" in some games)."""
LOW = 1
"""Must be blocked crouching."""
OVERHEAD = 2
"""Must be blocked standing (overheads and every jump attack)."""
LEVEL_NAMES = ("high", "low", "overhead")

# Move kinds.
NORMAL = 0
SPECIAL = 1
THROW = 2
DASH = 3
AIR_NORMAL = 4
KIND_NAMES = ("normal", "special", "throw", "dash", "air_normal")

# Cancel flags: what a move may be cancelled into once it made contact.
CANCEL_NONE = 0
CANCEL_CHAIN = 1
"""Into light normals (chains such as crouch light kick, crouch light punch)."""
CANCEL_SPECIAL = 2
"""Into specials (projectile, anti-air, rush)."""


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box relative to a fighter: ``x`` forward from its centre, ``y`` up from its feet."""

    x0: int
    x1: int
    y0: int
    y1: int

    def __post_init__(self) -> None:
        if self.x0 >= self.x1 or self.y0 >= self.y1:
            raise ValueError(f"empty box {self}")


@dataclass(frozen=True, slots=True)
class ProjectileSpec:
    """A projectile thrown by a special move.

    Attributes:
        speed: units per frame, always away from the thrower.
        spawn_dx: spawn point of the projectile's centre, forward of the thrower's centre.
        spawn_y: height of its centre.
        half_w, half_h: half sizes of its box.
    """

    speed: int
    spawn_dx: int = 400
    spawn_y: int = 700
    half_w: int = 130
    half_h: int = 120


@dataclass(frozen=True, slots=True)
class Move:
    """One move and its frame data (see the module docstring for the frame conventions).

    Attributes:
        name: the move's name (``"HP"``, ``"crouch_MK"``, ``"anti_air"`` ...).
        kind: NORMAL, SPECIAL, THROW, DASH or AIR_NORMAL.
        startup: move frame of the first active frame.
        active: number of active frames.
        recovery: frames after the last active frame.
        damage, chip: damage on hit, on block.
        hitstun, blockstun: frames of stun after the hit frame.
        level: HIGH, LOW or OVERHEAD.
        hitbox: where the move hits, or ``None``.
        pushback: units the defender slides back on hit or block.
        knockdown: a hit knocks the defender down.
        cancels: CANCEL_* flags once the move made contact.
        invuln: inclusive move-frame range with no hurtbox, or ``None``.
        motion: ``(first, last, vx)`` segments: forward speed on those move frames.
        stop_on_contact: the motion stops once the move made contact (rush).
        projectile: the projectile spawned on the first active frame, or ``None``.
        hurt_extend: the hurtbox reaches this far forward from startup to the end (whiff punish).
        crouching: the fighter is crouching during the move.
        throw_range: for throws, the largest gap between the two bodies that can be grabbed.
    """

    name: str
    kind: int
    startup: int
    active: int
    recovery: int
    damage: int = 0
    chip: int = 0
    hitstun: int = 0
    blockstun: int = 0
    level: int = HIGH
    hitbox: Box | None = None
    pushback: int = 0
    knockdown: bool = False
    cancels: int = CANCEL_NONE
    invuln: tuple[int, int] | None = None
    motion: tuple[tuple[int, int, int], ...] = ()
    stop_on_contact: bool = False
    projectile: ProjectileSpec | None = None
    hurt_extend: int = 0
    crouching: bool = False
    throw_range: int = 0
    # Derived, filled in __post_init__ for the simulation's hot path.
    total: int = field(init=False, default=0)
    last_active: int = field(init=False, default=0)
    cancel_until: int = field(init=False, default=0)
    vx_by_frame: tuple[int, ...] = field(init=False, default=())
    invuln_from: int = field(init=False, default=0)
    invuln_to: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        if self.startup < 1 or self.active < 1 or self.recovery < 0:
            raise ValueError(f"{self.name}: startup and active must be >= 1, recovery >= 0")
        if min(self.damage, self.chip, self.hitstun, self.blockstun, self.pushback) < 0:
            raise ValueError(f"{self.name}: damage, chip, stun and pushback must be >= 0")
        if self.level not in (HIGH, LOW, OVERHEAD):
            raise ValueError(f"{self.name}: level must be HIGH, LOW or OVERHEAD")
        total = self.startup + self.active - 1 + self.recovery
        vx = [0] * (total + 1)
        for first, last, speed in self.motion:
            if not 1 <= first <= last <= total:
                raise ValueError(f"{self.name}: motion segment {first}..{last} outside 1..{total}")
            for f in range(first, last + 1):
                vx[f] = speed
        set_ = object.__setattr__
        set_(self, "total", total)
        set_(self, "last_active", self.startup + self.active - 1)
        set_(self, "cancel_until", self.startup + self.active - 1 + CANCEL_WINDOW_FRAMES)
        set_(self, "vx_by_frame", tuple(vx))
        if self.invuln is not None:
            set_(self, "invuln_from", self.invuln[0])
            set_(self, "invuln_to", self.invuln[1])

    @property
    def on_block(self) -> int:
        """Frame advantage when blocked on the first active frame (negative: the attacker recovers later)."""
        return self.blockstun - (self.active - 1 + self.recovery)

    @property
    def on_hit(self) -> int:
        """Frame advantage on hit on the first active frame (knockdowns: see :data:`KNOCKDOWN_FRAMES`)."""
        stun = KNOCKDOWN_FRAMES if self.knockdown else self.hitstun
        return stun - (self.active - 1 + self.recovery)


@dataclass(frozen=True, slots=True)
class Character:
    """A playable character: body, movement and moves.

    Attributes:
        name: its id, e.g. ``"kai"``.
        archetype: ``"balanced"``, ``"zoner"`` or ``"grappler"``.
        description: one line for humans and LLM prompts.
        health: starting health each round.
        half_width, height, crouch_height: body (pushbox and hurtbox) sizes.
        walk_forward, walk_back: units per frame.
        jump_vy, gravity: initial vertical speed and gravity (units per frame, per frame^2).
        jump_forward_vx, jump_back_vx: horizontal speed of the forward and back jumps.
        prejump, landing: frames on the ground before a jump and after landing.
        moves: every move, by name (the attack actions' names, ``air_LP`` ... for jump attacks,
            ``dash_forward``, ``dash_back``).
    """

    name: str
    archetype: str
    description: str
    health: int
    half_width: int
    height: int
    crouch_height: int
    walk_forward: int
    walk_back: int
    jump_vy: int
    gravity: int
    jump_forward_vx: int
    jump_back_vx: int
    prejump: int
    landing: int
    moves: dict[str, Move]

    def __post_init__(self) -> None:
        for key, value in (("health", self.health), ("gravity", self.gravity), ("jump_vy", self.jump_vy)):
            if value <= 0:
                raise ValueError(f"{self.name}: {key} must be > 0")
        missing = sorted(set(REQUIRED_MOVES) - set(self.moves))
        if missing:
            raise ValueError(f"{self.name}: missing moves {missing}")

    @property
    def jump_frames(self) -> int:
        """Frames spent airborne by a jump (pre-jump and landing not included)."""
        y, vy, n = 0, self.jump_vy, 0
        while True:
            y += vy
            vy -= self.gravity
            n += 1
            if y <= 0:
                return n


GROUND_NORMALS = ("LP", "MP", "HP", "LK", "MK", "HK")
CROUCH_NORMALS = tuple(f"crouch_{b}" for b in GROUND_NORMALS)
AIR_NORMALS = tuple(f"air_{b}" for b in GROUND_NORMALS)
SPECIALS = ("projectile", "anti_air", "rush")
REQUIRED_MOVES = (
    *GROUND_NORMALS,
    *CROUCH_NORMALS,
    *AIR_NORMALS,
    "overhead",
    "throw",
    *SPECIALS,
    "dash_forward",
    "dash_back",
)

_LIGHT = CANCEL_CHAIN | CANCEL_SPECIAL


def _balanced_moves() -> dict[str, Move]:
    """The reference move set; the other characters are variations of it."""
    n, s = NORMAL, SPECIAL
    moves = [
        # name, kind, startup, active, recovery
        Move("LP", n, 4, 2, 7, damage=30, hitstun=12, blockstun=10, hitbox=Box(150, 420, 550, 900),
             pushback=90, cancels=_LIGHT, hurt_extend=150),
        Move("MP", n, 6, 3, 12, damage=60, hitstun=18, blockstun=14, hitbox=Box(150, 480, 550, 850),
             pushback=120, cancels=CANCEL_SPECIAL, hurt_extend=200),
        Move("HP", n, 9, 3, 22, damage=100, hitstun=26, blockstun=16, hitbox=Box(150, 560, 500, 950),
             pushback=120, hurt_extend=260),
        Move("LK", n, 5, 2, 8, damage=30, hitstun=13, blockstun=11, hitbox=Box(150, 470, 300, 550),
             pushback=90, cancels=_LIGHT, hurt_extend=150),
        Move("MK", n, 7, 3, 14, damage=60, hitstun=18, blockstun=14, hitbox=Box(150, 560, 300, 600),
             pushback=120, cancels=CANCEL_SPECIAL, hurt_extend=250),
        Move("HK", n, 11, 4, 21, damage=110, hitstun=24, blockstun=16, hitbox=Box(150, 620, 500, 900),
             pushback=140, hurt_extend=300),
        Move("crouch_LP", n, 4, 2, 7, damage=25, hitstun=11, blockstun=9, hitbox=Box(150, 400, 400, 600),
             pushback=90, cancels=_LIGHT, hurt_extend=120, crouching=True),
        Move("crouch_MP", n, 6, 3, 11, damage=55, hitstun=17, blockstun=14, hitbox=Box(150, 460, 400, 650),
             pushback=110, cancels=CANCEL_SPECIAL, hurt_extend=180, crouching=True),
        Move("crouch_HP", n, 7, 5, 20, damage=90, hitstun=24, blockstun=16, hitbox=Box(0, 350, 600, 1500),
             pushback=110, cancels=CANCEL_SPECIAL, hurt_extend=100, crouching=True),
        Move("crouch_LK", n, 4, 2, 8, damage=20, hitstun=12, blockstun=9, level=LOW, hitbox=Box(150, 430, 0, 200),
             pushback=90, cancels=_LIGHT, hurt_extend=150, crouching=True),
        Move("crouch_MK", n, 6, 3, 13, damage=50, hitstun=20, blockstun=13, level=LOW,
             hitbox=Box(150, 560, 0, 250), pushback=100, cancels=CANCEL_SPECIAL, hurt_extend=250, crouching=True),
        Move("crouch_HK", n, 8, 3, 24, damage=90, blockstun=14, level=LOW, hitbox=Box(150, 620, 0, 200),
             pushback=140, knockdown=True, hurt_extend=300, crouching=True),
        Move("overhead", n, 18, 3, 14, damage=70, hitstun=18, blockstun=12, level=OVERHEAD,
             hitbox=Box(150, 450, 500, 1000), pushback=100, hurt_extend=150),
        Move("throw", THROW, 5, 2, 24, damage=120, throw_range=120),
        Move("air_LP", AIR_NORMAL, 4, 8, 5, damage=30, hitstun=12, blockstun=10, level=OVERHEAD,
             hitbox=Box(50, 350, 100, 500), pushback=80),
        Move("air_MP", AIR_NORMAL, 5, 6, 8, damage=55, hitstun=16, blockstun=12, level=OVERHEAD,
             hitbox=Box(50, 400, 0, 450), pushback=90),
        Move("air_HP", AIR_NORMAL, 8, 5, 10, damage=90, hitstun=20, blockstun=14, level=OVERHEAD,
             hitbox=Box(50, 420, -150, 400), pushback=100),
        Move("air_LK", AIR_NORMAL, 4, 8, 5, damage=30, hitstun=12, blockstun=10, level=OVERHEAD,
             hitbox=Box(0, 380, -100, 300), pushback=80),
        Move("air_MK", AIR_NORMAL, 6, 6, 8, damage=60, hitstun=17, blockstun=13, level=OVERHEAD,
             hitbox=Box(50, 420, -100, 350), pushback=90),
        Move("air_HK", AIR_NORMAL, 8, 6, 10, damage=90, hitstun=20, blockstun=14, level=OVERHEAD,
             hitbox=Box(100, 460, -200, 300), pushback=100),
        Move("projectile", s, 13, 1, 31, damage=60, chip=15, hitstun=20, blockstun=16,
             pushback=150, projectile=ProjectileSpec(speed=45)),
        Move("anti_air", s, 3, 10, 28, damage=140, chip=20, blockstun=14, hitbox=Box(0, 320, 200, 1700),
             pushback=120, knockdown=True, invuln=(1, 7), motion=((1, 6, 20),)),
        Move("rush", s, 12, 10, 16, damage=90, chip=15, blockstun=14, hitbox=Box(100, 450, 200, 900),
             pushback=160, knockdown=True, motion=((4, 21, 90),), stop_on_contact=True, hurt_extend=200),
        Move("dash_forward", DASH, 1, 1, 16, motion=((1, 12, 85),)),
        Move("dash_back", DASH, 1, 1, 20, motion=((1, 12, -70),), invuln=(1, 4)),
    ]  # fmt: skip
    return {m.name: m for m in moves}


def _vary(moves: dict[str, Move], **changes: dict) -> dict[str, Move]:
    """Copy ``moves`` with some moves' fields replaced: ``_vary(moves, HP={"damage": 120})``."""
    out = dict(moves)
    for name, fields in changes.items():
        out[name] = dataclasses.replace(out[name], **fields)
    return out


def _make_characters() -> dict[str, Character]:
    base = _balanced_moves()
    kai = Character(
        name="kai",
        archetype="balanced",
        description="balanced all-rounder: solid pokes, a medium-speed projectile, a strong anti-air",
        health=1000, half_width=200, height=1000, crouch_height=600,
        walk_forward=32, walk_back=26, jump_vy=140, gravity=8, jump_forward_vx=48, jump_back_vx=-42,
        prejump=4, landing=3, moves=base,
    )  # fmt: skip
    zara_moves = _vary(
        base,
        MK={"hitbox": Box(150, 640, 300, 600), "hurt_extend": 300},
        HK={"hitbox": Box(150, 720, 500, 900), "startup": 12, "hurt_extend": 350},
        crouch_MK={"hitbox": Box(150, 620, 0, 250), "hurt_extend": 300},
        throw={"damage": 100, "throw_range": 90},
        projectile={"startup": 11, "recovery": 27, "damage": 55, "projectile": ProjectileSpec(speed=65)},
        anti_air={"startup": 4, "damage": 120, "invuln": (1, 6)},
        rush={"startup": 14, "damage": 70, "motion": ((5, 23, 80),)},
    )
    zara = Character(
        name="zara",
        archetype="zoner",
        description="zoner: fast projectile and long pokes, weaker up close and fragile",
        health=900, half_width=190, height=1000, crouch_height=580,
        walk_forward=28, walk_back=26, jump_vy=130, gravity=7, jump_forward_vx=44, jump_back_vx=-44,
        prejump=4, landing=3, moves=zara_moves,
    )  # fmt: skip
    brick_moves = _vary(
        base,
        HP={"startup": 11, "damage": 130, "hitstun": 28, "hitbox": Box(150, 540, 500, 1000)},
        HK={"startup": 13, "damage": 140},
        throw={"damage": 180, "throw_range": 220, "startup": 5},
        projectile={"startup": 16, "recovery": 34, "damage": 80, "chip": 20,
                    "projectile": ProjectileSpec(speed=30, half_w=150, half_h=150)},
        anti_air={"startup": 4, "damage": 160},
        rush={"startup": 10, "damage": 120, "motion": ((3, 19, 100),)},
    )  # fmt: skip
    brick = Character(
        name="brick",
        archetype="grappler",
        description="grappler: big health and a long, painful throw; slow walk, slow projectile",
        health=1150, half_width=240, height=1100, crouch_height=650,
        walk_forward=24, walk_back=20, jump_vy=140, gravity=9, jump_forward_vx=40, jump_back_vx=-36,
        prejump=5, landing=4, moves=brick_moves,
    )  # fmt: skip
    return {c.name: c for c in (kai, zara, brick)}


CHARACTERS: dict[str, Character] = _make_characters()
"""Playable characters by name: ``kai`` (balanced), ``zara`` (zoner), ``brick`` (grappler)."""
CHARACTER_NAMES: tuple[str, ...] = tuple(CHARACTERS)
DEFAULT_CHARACTER = "kai"


def get_character(name: str) -> Character:
    """Look a character up by name, with a clear error for an unknown one."""
    try:
        return CHARACTERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown character {name!r}; valid characters: {', '.join(CHARACTER_NAMES)}"
        ) from None


def punish_window(blocked: Move, punish: Move) -> int:
    """Number of frames on which ``punish`` may start and still beat ``blocked``'s recovery.

    Counted from the defender's first free frame; 0 when the blocked move is safe against it.
    """
    return max(0, -blocked.on_block - punish.startup + 1)


def punish_latency_budget(blocked: Move, punish: Move) -> int:
    """Most frames of latency an agent may take, from the first observation showing the block.

    Returns -1 when no latency suffices (the move is safe against ``punish``).
    """
    if punish_window(blocked, punish) == 0:
        return -1
    return blocked.blockstun + (-blocked.on_block) - punish.startup


def projectile_travel_frames(thrower: Character, defender: Character, distance: int) -> int:
    """Frames from a projectile's spawn until it overlaps a standing defender ``distance`` away.

    The spawn frame counts as 0: a result of 0 means it hits on the frame it appears.
    """
    spec = thrower.moves["projectile"].projectile
    assert spec is not None
    gap = distance - spec.spawn_dx - spec.half_w - defender.half_width
    if gap < 0:
        return 0
    return gap // spec.speed + 1


def frame_time_us(frame: int) -> int:
    """Start time of ``frame`` in integer microseconds (rounded down from the exact rational)."""
    return frame * US_PER_FRAME_NUM // FPS


def latency_frames(latency_us: int) -> int:
    """Frames from an observation at a frame start until an action with this latency lands.

    Exact integer ceiling of ``latency_us * FPS / 1e6``: an action lands on the first frame that
    starts at or after it arrives. One frame lasts 16 666⅔ µs, so 0 µs lands on the same frame
    ``f``; 1 .. 16 666 µs on ``f + 1``; 16 667 .. 33 333 µs on ``f + 2`` (16 667 µs is *more* than
    one frame: it arrives after frame ``f + 1`` has started); 33 334 .. 50 000 µs on ``f + 3``; and so
    on. This agrees with :func:`frame_time_us`, which rounds frame starts down (frame 1 starts at
    16 666 µs).
    """
    if latency_us < 0:
        raise ValueError(f"latency must be >= 0 µs, got {latency_us}")
    return -((-latency_us * FPS) // US_PER_FRAME_NUM)


def decision_interval_frames(decision_interval_ms: float | None) -> int | None:
    """Validate a decision interval and return it in whole frames (``ceil``; ``None`` stays ``None``).

    100 ms is 6 frames; anything up to one frame (16.666 ms) is 1 frame, which is the same as
    no interval at all.

    Raises:
        ValueError: unless ``None`` or a finite number of milliseconds > 0.
    """
    if decision_interval_ms is None:
        return None
    ms = decision_interval_ms
    if not isinstance(ms, int | float) or isinstance(ms, bool) or not math.isfinite(ms) or ms <= 0:
        raise ValueError(f"decision_interval_ms must be None or a finite number of ms > 0, got {ms!r}")
    return max(1, -((-round(ms * 1000) * FPS) // US_PER_FRAME_NUM))


def next_decision_frame(after: int, interval_frames: int | None) -> int:
    """The frame of the next observation when the action just decided lands on frame ``after - 1``.

    Without an interval that is ``after`` itself; with one, the first *cadence point* (a multiple
    of ``interval_frames``, counted from the match start) at or after it.
    """
    if interval_frames is None:
        return after
    return -(-after // interval_frames) * interval_frames


def _reaction_windows() -> dict[str, str]:
    kai = CHARACTERS["kai"]
    hp, jab = kai.moves["HP"], kai.moves["LP"]
    travel = projectile_travel_frames(kai, kai, START_DISTANCE)
    return {
        "punish_blocked_heavy": (
            f"kai HP is {hp.on_block} on block (blockstun {hp.blockstun}); a {jab.startup}-frame jab punishes "
            f"if started within {punish_window(hp, jab)} frames of recovering, i.e. with at most "
            f"{punish_latency_budget(hp, jab)} frames "
            f"({punish_latency_budget(hp, jab) * 1000 // FPS} ms) of latency after seeing the block"
        ),
        "anti_air": (
            "against kai's forward jump from the round-start distance with a jump heavy kick pressed 26 frames "
            "after the jump input, the invincible anti_air (startup 3) wins if it lands 21..33 frames after the "
            "jump input: a 13-frame window, at most 32 frames (533 ms) of latency after first seeing the pre-jump"
        ),
        "react_to_projectile": (
            f"kai's projectile thrown from {START_DISTANCE} units reaches a standing kai {travel} frames after it "
            f"appears; 'back' must be held when it arrives: at most {travel - 1} frames "
            f"({(travel - 1) * 1000 // FPS} ms) of latency after first seeing it"
        ),
    }


REACTION_WINDOWS: dict[str, str] = _reaction_windows()
"""Plain-text statements of the key latency windows (see the module docstring)."""
