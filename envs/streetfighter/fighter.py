"""One fighter: its state machine, its movement and its boxes, advanced one frame at a time.

The :class:`Fighter` knows its character's frame data, its held input (direction + pending
press) and its own timers; the world (:mod:`~splitsecond.envs.streetfighter.engine`) moves
projectiles, separates bodies and resolves hits between the two fighters.

States (``Fighter.state``; names in :data:`STATE_NAMES`):

``STAND``, ``CROUCH``      free to act (walking and guarding are ``STAND``/``CROUCH`` with a held direction)
``PREJUMP``                on the ground, about to jump (cannot block)
``AIR``                    airborne, may do one jump attack
``LANDING``                landing recovery (cannot block)
``MOVE``                   performing a ground move (attack, special, throw, dash)
``AIR_MOVE``               performing a jump attack
``HITSTUN``, ``BLOCKSTUN`` stunned after being hit / blocking
``KNOCKDOWN``              on the floor, invulnerable
``FALLING``                hit in the air, falling, invulnerable
``KO``                     knocked out
"""

from __future__ import annotations

from splitsecond.envs.streetfighter import actions as A
from splitsecond.envs.streetfighter.frame_data import (
    AIR_RESET_FRAMES,
    INPUT_BUFFER_FRAMES,
    KNOCKDOWN_FRAMES,
    SPECIAL,
    STAGE_WIDTH,
    Character,
    Move,
)

STAND = 0
CROUCH = 1
PREJUMP = 2
AIR = 3
LANDING = 4
MOVE = 5
AIR_MOVE = 6
HITSTUN = 7
BLOCKSTUN = 8
KNOCKDOWN = 9
FALLING = 10
KO = 11
STATE_NAMES = (
    "stand",
    "crouch",
    "prejump",
    "air",
    "landing",
    "move",
    "air_move",
    "hitstun",
    "blockstun",
    "knockdown",
    "falling",
    "ko",
)

FALL_POP_VY = 40
"""Upward speed given to a fighter hit in the air."""
FALL_VX = 24
"""Horizontal speed (away from the attacker) of a fighter hit in the air."""

_GUARD_DIRS = (A.BACK, A.GUARD, A.DOWN_BACK)
_CANCEL_CLASS = tuple(
    (1 if a in A.LIGHT_ATTACKS else 0) | (2 if a in A.SPECIAL_ACTIONS else 0) for a in range(A.N_ACTIONS)
)
"""For each action: the CANCEL_* flag a move must carry to be cancelled into it."""


class Fighter:
    """A fighter in the world; all fields are plain ints/bools/refs for speed.

    Args:
        index: 0 or 1.
        character: its frame data.
    """

    __slots__ = (
        "index",
        "char",
        "opp",
        "move_by_action",
        "air_move_by_action",
        "half_width",
        "height",
        "crouch_height",
        "x",
        "y",
        "px",
        "py",
        "vy",
        "air_vx",
        "facing",
        "health",
        "state",
        "timer",
        "move",
        "move_frame",
        "move_hit",
        "crouching",
        "dir",
        "action",
        "press",
        "press_left",
        "air_used",
        "fall_kd",
        "slide",
        "slide_dir",
        "slide_transfer",
        "combo",
        "rounds_won",
        "projectile",
    )

    def __init__(self, index: int, character: Character) -> None:
        self.index = index
        self.char = character
        self.opp: Fighter = self  # set by the world
        self.move_by_action: tuple[Move | None, ...] = tuple(
            character.moves.get(name) for name in A.ACTION_NAMES
        )
        self.air_move_by_action: dict[int, Move] = {
            a: character.moves[name] for a, name in A.AIR_MOVE_OF.items()
        }
        self.half_width = character.half_width
        self.height = character.height
        self.crouch_height = character.crouch_height
        self.rounds_won = 0
        self.dir = A.NEUTRAL
        self.action = A.IDLE
        self.reset_round(0, 1)

    def reset_round(self, x: int, facing: int) -> None:
        """Put the fighter at ``x`` facing ``facing`` with full health; the held direction is kept."""
        self.x = self.px = x
        self.y = self.py = 0
        self.vy = 0
        self.air_vx = 0
        self.facing = facing
        self.health = self.char.health
        self.state = STAND
        self.timer = 0
        self.move: Move | None = None
        self.move_frame = 0
        self.move_hit = False
        self.crouching = False
        self.press = -1
        self.press_left = 0
        self.air_used = False
        self.fall_kd = False
        self.slide = 0
        self.slide_dir = 0
        self.slide_transfer = False
        self.combo = 0
        self.projectile = None

    # ---- input -------------------------------------------------------------------------------

    def set_input(self, action: int) -> None:
        """A new action lands: hold its direction; a press is kept for the input buffer."""
        self.action = action
        self.dir = A.ACTION_DIRECTION[action]
        if A.ACTION_IS_PRESS[action]:
            self.press = action
            self.press_left = INPUT_BUFFER_FRAMES
        else:
            self.press = -1

    def _age_press(self) -> None:
        if self.press >= 0:
            self.press_left -= 1
            if self.press_left <= 0:
                self.press = -1

    # ---- per-frame update --------------------------------------------------------------------

    def update(self) -> None:
        """Advance this fighter by one frame (timers, input, own motion)."""
        st = self.state
        if st == MOVE:
            mf = self.move_frame + 1
            mv = self.move
            press = self.press
            if (
                press >= 0
                and self.move_hit
                and mf <= mv.cancel_until
                and _CANCEL_CLASS[press] & mv.cancels
                and self._execute(press)
            ):
                self.press = -1
            elif mf > mv.total:
                self.move = None
                self._free()
            else:
                self.move_frame = mf
                v = mv.vx_by_frame[mf]
                if v and not (mv.stop_on_contact and self.move_hit):
                    self._shift(v if self.facing > 0 else -v)
                self._age_press()
        elif st in (STAND, CROUCH):
            self._free()
        elif st in (HITSTUN, BLOCKSTUN, KNOCKDOWN, LANDING):
            if self.timer > 0:
                self.timer -= 1
                if st == BLOCKSTUN:
                    self.crouching = self.dir >= A.DOWN
                self._age_press()
            else:
                self.combo = 0
                self._free()
        elif st == PREJUMP:
            if self.timer > 0:
                self.timer -= 1
                self._age_press()
            else:
                self.state = AIR
                self.vy = self.char.jump_vy
                self._air()
        elif st in (AIR, AIR_MOVE, FALLING):
            self._air()

    def _free(self) -> None:
        """The fighter can act this frame: face the opponent, then execute a press or the held direction."""
        ox = self.opp.x
        if ox != self.x:
            self.facing = 1 if ox > self.x else -1
        press = self.press
        if press >= 0:
            self.press = -1
            if self._execute(press):
                return
        d = self.dir
        if d == A.FORWARD:
            self.state = STAND
            self.crouching = False
            self._shift(self.char.walk_forward * self.facing)
        elif d == A.BACK:
            self.state = STAND
            self.crouching = False
            self._shift(-self.char.walk_back * self.facing)
        elif d >= A.DOWN:
            self.state = CROUCH
            self.crouching = True
        else:
            self.state = STAND
            self.crouching = False

    def _execute(self, press: int) -> bool:
        """Start the move of ``press`` now; ``False`` if it cannot be done (projectile already out)."""
        if press in A.JUMPS:
            self.state = PREJUMP
            self.timer = self.char.prejump - 1
            self.crouching = False
            self.move = None
            self.air_used = False
            if press == A.JUMP_FORWARD:
                self.air_vx = self.char.jump_forward_vx * self.facing
            elif press == A.JUMP_BACK:
                self.air_vx = self.char.jump_back_vx * self.facing
            else:
                self.air_vx = 0
            return True
        mv = self.move_by_action[press]
        if mv.kind == SPECIAL and mv.projectile is not None and self.projectile is not None:
            return False
        self.state = MOVE
        self.move = mv
        self.move_frame = 1
        self.move_hit = False
        self.crouching = mv.crouching
        v = mv.vx_by_frame[1]
        if v:
            self._shift(v if self.facing > 0 else -v)
        return True

    def _air(self) -> None:
        st = self.state
        if st == AIR_MOVE:
            mf = self.move_frame + 1
            if mf > self.move.total:
                self.state = st = AIR
                self.move = None
            else:
                self.move_frame = mf
        self.y += self.vy
        self.vy -= self.char.gravity
        if self.air_vx:
            self._shift(self.air_vx)
        if self.y <= 0:
            self.y = 0
            self.vy = 0
            self.air_vx = 0
            self.move = None
            if st == FALLING:
                self.state = KNOCKDOWN
                self.timer = (KNOCKDOWN_FRAMES if self.fall_kd else AIR_RESET_FRAMES) - 1
            else:
                self.state = LANDING
                self.timer = self.char.landing - 1
            self._age_press()
        elif st == AIR and self.press >= 0 and not self.air_used and self.press in self.air_move_by_action:
            self.state = AIR_MOVE
            self.move = self.air_move_by_action[self.press]
            self.move_frame = 1
            self.move_hit = False
            self.air_used = True
            self.press = -1
        else:
            self._age_press()

    def _shift(self, dx: int) -> None:
        x = self.x + dx
        lo = self.half_width
        hi = STAGE_WIDTH - lo
        self.x = lo if x < lo else hi if x > hi else x

    # ---- queries -----------------------------------------------------------------------------

    def hurtbox(self) -> tuple[int, int, int, int] | None:
        """World box ``(x0, x1, y0, y1)`` where the fighter can be hit, or ``None`` if invulnerable."""
        st = self.state
        if st >= KNOCKDOWN:
            return None
        mv = self.move
        if mv is not None and mv.invuln_from <= self.move_frame <= mv.invuln_to:
            return None
        x, hw = self.x, self.half_width
        if st in (AIR, AIR_MOVE):
            return (x - hw + 20, x + hw - 20, self.y + 100, self.y + self.height - 100)
        if self.crouching:
            x0, x1, top = x - hw - 20, x + hw + 20, self.crouch_height
        else:
            x0, x1, top = x - hw, x + hw, self.height
        if mv is not None and mv.hurt_extend and self.move_frame >= mv.startup:
            if self.facing > 0:
                x1 += mv.hurt_extend
            else:
                x0 -= mv.hurt_extend
        return (x0, x1, self.y, self.y + top)

    def hitbox(self) -> tuple[int, int, int, int] | None:
        """World box of the current move's active hitbox, or ``None``."""
        mv = self.move
        if mv is None or mv.hitbox is None or self.move_hit:
            return None
        mf = self.move_frame
        if mf < mv.startup or mf > mv.last_active:
            return None
        b = mv.hitbox
        x, y = self.x, self.y
        if self.facing > 0:
            return (x + b.x0, x + b.x1, y + b.y0, y + b.y1)
        return (x - b.x1, x - b.x0, y + b.y0, y + b.y1)

    @property
    def guarding(self) -> bool:
        """Holding back in a state that can block."""
        st = self.state
        return self.dir in _GUARD_DIRS and (st in (STAND, CROUCH, BLOCKSTUN))

    @property
    def airborne(self) -> bool:
        """Off the floor (or in a jumping/falling state)."""
        return self.y > 0 or self.state in (AIR, AIR_MOVE, FALLING)

    @property
    def invulnerable(self) -> bool:
        """No hurtbox this frame."""
        return self.hurtbox() is None

    @property
    def can_act(self) -> bool:
        """A new press would execute on the next frame."""
        return self.busy_frames() == 0

    def busy_frames(self) -> int:
        """Frames, from the next one on, during which the fighter cannot act (0: free now).

        Jumps count their air time and landing; a press landing on frame ``next + busy_frames``
        executes at once.
        """
        st = self.state
        if st in (STAND, CROUCH):
            return 0
        if st == MOVE:
            return self.move.total - self.move_frame
        if st in (HITSTUN, BLOCKSTUN, KNOCKDOWN, LANDING):
            return self.timer
        if st == KO:
            return 0
        # Airborne or about to be: simulate the remaining arc (at most a few dozen steps).
        g = self.char.gravity
        if st == PREJUMP:
            n, y, vy = self.timer, 0, self.char.jump_vy
        else:
            n, y, vy = 0, self.y, self.vy
        while True:
            y += vy
            vy -= g
            n += 1
            if y <= 0:
                break
        if st == FALLING:
            return n + (KNOCKDOWN_FRAMES if self.fall_kd else AIR_RESET_FRAMES) - 1
        return n + self.char.landing - 1

    def snapshot(self) -> tuple:
        """Every field that defines the fighter's future, for determinism checks."""
        return (
            self.x,
            self.y,
            self.vy,
            self.air_vx,
            self.facing,
            self.health,
            self.state,
            self.timer,
            None if self.move is None else self.move.name,
            self.move_frame,
            self.move_hit,
            self.crouching,
            self.dir,
            self.action,
            self.press,
            self.press_left,
            self.air_used,
            self.fall_kd,
            self.slide,
            self.slide_dir,
            self.slide_transfer,
            self.combo,
            self.rounds_won,
        )
