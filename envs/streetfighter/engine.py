"""The 60 fps world of StreetFighter-v0: two fighters, projectiles, collisions, hits and rounds.

:class:`Simulation` is deterministic and knows nothing of agents or latency: callers hand it
inputs (:meth:`Simulation.set_input`) on the frame they land and advance it one frame at a time
(:meth:`Simulation.step_frame`). Every input change is logged (:attr:`Simulation.input_log`), which
is all a replay needs to re-simulate a match exactly.

One frame, in order:

1. each fighter advances (timers, input, own motion — :meth:`Fighter.update`);
2. pushback slides, projectiles spawn and fly;
3. overlapping bodies are pushed apart (a fighter high enough in the air passes over);
4. hits: strikes and projectiles of both sides are found first and applied together (trades
   happen), then throws of fighters that were not hit;
5. KO and round timer.
"""

from __future__ import annotations

from dataclasses import dataclass

from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.actions import ACTION_IS_PRESS, DOWN_BACK, validate_action
from splitsecond.envs.streetfighter.fighter import Fighter
from splitsecond.envs.streetfighter.frame_data import (
    CHARACTER_NAMES,
    COMBO_SCALING_MIN,
    COMBO_SCALING_STEP,
    FPS,
    HIGH,
    KNOCKDOWN_FRAMES,
    LOW,
    OVERHEAD,
    PUSH_SPEED,
    ROUND_BREAK_FRAMES,
    STAGE_WIDTH,
    START_DISTANCE,
    TECH_FRAMES,
    THROW,
    Move,
    get_character,
)

FIGHT = 0
"""Phase: the round is on."""
BREAK = 1
"""Phase: frozen between rounds."""
OVER = 2
"""Phase: the match is over."""
PHASE_NAMES = ("fight", "break", "over")

THROW_PUSH = 400
"""Units a thrown fighter slides away."""


@dataclass(frozen=True)
class MatchConfig:
    """The rules of a match.

    Attributes:
        characters: the two fighters' character names (player 0, player 1).
        round_seconds: length of a round; a round that times out goes to the fighter with more health
            (as a fraction of its maximum).
        rounds_to_win: rounds needed to win the match (2 = best of three).
    """

    characters: tuple[str, str] = ("kai", "kai")
    round_seconds: int = 99
    rounds_to_win: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.characters, tuple) or len(self.characters) != 2:
            raise ValueError(f"characters must be a pair of names from {CHARACTER_NAMES}")
        for name in self.characters:
            get_character(name)
        if (
            not isinstance(self.round_seconds, int)
            or isinstance(self.round_seconds, bool)
            or self.round_seconds < 1
        ):
            raise ValueError(f"round_seconds must be an int >= 1, got {self.round_seconds!r}")
        if (
            not isinstance(self.rounds_to_win, int)
            or isinstance(self.rounds_to_win, bool)
            or self.rounds_to_win < 1
        ):
            raise ValueError(f"rounds_to_win must be an int >= 1, got {self.rounds_to_win!r}")

    @property
    def round_frames(self) -> int:
        """Frames in one round."""
        return self.round_seconds * FPS


class Projectile:
    """A projectile in flight."""

    __slots__ = ("owner", "x", "y", "vx", "half_w", "half_h", "move", "born")

    def __init__(
        self, owner: int, x: int, y: int, vx: int, half_w: int, half_h: int, move: Move, born: int
    ) -> None:
        self.owner = owner
        self.born = born
        self.x = x
        self.y = y
        self.vx = vx
        self.half_w = half_w
        self.half_h = half_h
        self.move = move

    def box(self) -> tuple[int, int, int, int]:
        """World box ``(x0, x1, y0, y1)``."""
        return (self.x - self.half_w, self.x + self.half_w, self.y - self.half_h, self.y + self.half_h)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


class Simulation:
    """The deterministic fighting-game world.

    Args:
        config: the match rules and characters.

    Attributes:
        frame: number of frames simulated since the match started (the next frame to run).
        phase: FIGHT, BREAK or OVER.
        round: current round, from 1.
        timer_frames: frames left in the round.
        fighters: the two :class:`Fighter` objects.
        projectiles: projectiles in flight.
        winner: after the match, 0 or 1, or ``None`` for a draw.
        events: ``(frame, kind, player, detail)`` tuples of what happened (hits, blocks, throws,
            rounds); ``player`` is the one who caused it.
        input_log: ``(frame, player, action)`` for every input that changed something.
        damage_dealt: total damage each player dealt (health actually removed).
    """

    def __init__(self, config: MatchConfig | None = None) -> None:
        self.config = config or MatchConfig()
        self.reset()

    def reset(self) -> None:
        """Start the match from round 1."""
        c0, c1 = (get_character(n) for n in self.config.characters)
        self.fighters = (Fighter(0, c0), Fighter(1, c1))
        self.fighters[0].opp = self.fighters[1]
        self.fighters[1].opp = self.fighters[0]
        self.frame = 0
        self.round = 1
        self.phase = FIGHT
        self.break_timer = 0
        self.winner: int | None = None
        self.events: list[tuple[int, str, int, str]] = []
        self.input_log: list[tuple[int, int, int]] = []
        self.damage_dealt = [0, 0]
        self.projectiles: list[Projectile] = []
        self._start_round()

    def _start_round(self) -> None:
        mid = STAGE_WIDTH // 2
        self.fighters[0].reset_round(mid - START_DISTANCE // 2, 1)
        self.fighters[1].reset_round(mid + START_DISTANCE // 2, -1)
        self.projectiles = []
        self.timer_frames = self.config.round_frames
        self.phase = FIGHT

    # ---- inputs ------------------------------------------------------------------------------

    def set_input(self, player: int, action: int) -> None:
        """Player ``player``'s action lands now (before the next :meth:`step_frame`).

        Raises:
            ValueError: for an invalid action.
        """
        action = validate_action(action)
        f = self.fighters[player]
        if action == f.action and f.press < 0 and not ACTION_IS_PRESS[action]:
            return  # same held direction again: nothing changes, nothing to log
        f.set_input(action)
        self.input_log.append((self.frame, player, action))

    # ---- one frame ---------------------------------------------------------------------------

    def step_frame(self) -> None:
        """Simulate one frame."""
        if self.phase != FIGHT:
            if self.phase == BREAK:
                self.break_timer -= 1
                if self.break_timer <= 0:
                    self.round += 1
                    self._start_round()
            self.frame += 1
            return
        f0, f1 = self.fighters
        f0.px, f0.py, f1.px, f1.py = f0.x, f0.y, f1.x, f1.y
        f0.update()
        f1.update()
        if f0.slide:
            self._slide(f0)
        if f1.slide:
            self._slide(f1)
        for f in (f0, f1):
            mv = f.move
            if (
                mv is not None
                and mv.projectile is not None
                and f.move_frame == mv.startup
                and f.state == F.MOVE
            ):
                self._spawn(f, mv)
        if self.projectiles:
            self._fly()
        self._push_apart(f0, f1)
        if f0.move is not None or f1.move is not None or self.projectiles:
            self._resolve_hits(f0, f1)
        self.timer_frames -= 1
        if f0.health <= 0 or f1.health <= 0:
            self._end_round("ko")
        elif self.timer_frames <= 0:
            self._end_round("time")
        self.frame += 1

    def _slide(self, f: Fighter) -> None:
        step = PUSH_SPEED if f.slide > PUSH_SPEED else f.slide
        f.slide -= step
        old = f.x
        f._shift(f.slide_dir * step)
        rest = step - abs(f.x - old)
        if rest > 0 and f.slide_transfer:
            other = f.opp
            if other.y == 0:
                other._shift(-f.slide_dir * rest)

    def _spawn(self, f: Fighter, mv: Move) -> None:
        spec = mv.projectile
        p = Projectile(
            f.index,
            f.x + f.facing * spec.spawn_dx,
            spec.spawn_y,
            f.facing * spec.speed,
            spec.half_w,
            spec.half_h,
            mv,
            self.frame,
        )
        f.projectile = p
        self.projectiles.append(p)
        self._event("projectile", f.index, mv.name)

    def _fly(self) -> None:
        """Move projectiles (not on their spawn frame) and drop those that left the stage."""
        frame = self.frame
        keep = []
        for p in self.projectiles:
            if p.born != frame:
                p.x += p.vx
            if -p.half_w < p.x < STAGE_WIDTH + p.half_w:
                keep.append(p)
            else:
                self.fighters[p.owner].projectile = None
        self.projectiles = keep

    def _push_apart(self, a: Fighter, b: Fighter) -> None:
        if a.y >= b.height or b.y >= a.height:
            return
        dx = b.x - a.x
        overlap = a.half_width + b.half_width - (dx if dx >= 0 else -dx)
        if overlap <= 0:
            return
        if dx > 0 or (dx == 0 and a.facing > 0):
            left, right = a, b
        else:
            left, right = b, a
        shift_l = overlap // 2
        shift_r = overlap - shift_l
        lo = left.half_width
        hi = STAGE_WIDTH - right.half_width
        new_l = left.x - shift_l
        if new_l < lo:
            shift_r += lo - new_l
            new_l = lo
        new_r = right.x + shift_r
        if new_r > hi:
            new_l = max(lo, new_l - (new_r - hi))
            new_r = hi
        left.x = new_l
        right.x = new_r

    # ---- hits --------------------------------------------------------------------------------

    def _resolve_hits(self, f0: Fighter, f1: Fighter) -> None:
        strikes: list[tuple[Fighter, Fighter, Move, Projectile | None, bool]] = []
        for att, dfd in ((f0, f1), (f1, f0)):
            hb = att.hitbox()
            if hb is not None:
                hu = dfd.hurtbox()
                if hu is not None and _overlap(hb, hu):
                    strikes.append((att, dfd, att.move, None, self._blocks(dfd, att.move)))
        if self.projectiles:
            self._projectile_hits(strikes)
        hit_now = {id(s[1]) for s in strikes}
        for att, dfd, mv, proj, blocked in strikes:
            self._apply_strike(att, dfd, mv, proj, blocked)
        throws = []
        for att, dfd in ((f0, f1), (f1, f0)):
            mv = att.move
            if (
                mv is not None
                and mv.kind == THROW
                and att.state == F.MOVE
                and mv.startup <= att.move_frame <= mv.last_active
                and id(att) not in hit_now
                and id(dfd) not in hit_now
                and self._throwable(dfd)
                and abs(att.x - dfd.x) - att.half_width - dfd.half_width <= mv.throw_range
            ):
                throws.append((att, dfd, mv))
        if len(throws) == 2:
            self._tech(f0, f1)
        elif throws:
            self._apply_throw(*throws[0])

    def _projectile_hits(self, strikes: list) -> None:
        ps = self.projectiles
        if len(ps) == 2 and ps[0].owner != ps[1].owner and _overlap(ps[0].box(), ps[1].box()):
            self._event("clash", ps[0].owner, "projectiles cancel out")
            for p in ps:
                self.fighters[p.owner].projectile = None
            self.projectiles = []
            return
        keep = []
        for p in ps:
            att = self.fighters[p.owner]
            dfd = att.opp
            hu = dfd.hurtbox()
            if hu is not None and _overlap(p.box(), hu):
                strikes.append((att, dfd, p.move, p, self._blocks(dfd, p.move)))
                att.projectile = None
            else:
                keep.append(p)
        self.projectiles = keep

    @staticmethod
    def _blocks(dfd: Fighter, mv: Move) -> bool:
        if not dfd.guarding:
            return False
        crouching = dfd.dir == DOWN_BACK
        level = mv.level
        return level == HIGH or (level == LOW and crouching) or (level == OVERHEAD and not crouching)

    @staticmethod
    def _throwable(f: Fighter) -> bool:
        st = f.state
        if f.y != 0 or not (
            st == F.STAND or st == F.CROUCH or st == F.MOVE or st == F.LANDING or st == F.PREJUMP
        ):
            return False
        mv = f.move
        return not (mv is not None and mv.invuln_from <= f.move_frame <= mv.invuln_to)

    def _push(self, att: Fighter, dfd: Fighter, amount: int, transfer: bool) -> None:
        dfd.slide = amount
        d = dfd.x - att.x
        dfd.slide_dir = (1 if d > 0 else -1) if d else att.facing
        dfd.slide_transfer = transfer

    def _apply_strike(
        self, att: Fighter, dfd: Fighter, mv: Move, proj: Projectile | None, blocked: bool
    ) -> None:
        if proj is None:
            att.move_hit = True
        if blocked:
            dmg = mv.chip
            dfd.state = F.BLOCKSTUN
            dfd.timer = mv.blockstun
            dfd.crouching = dfd.dir == DOWN_BACK
            dfd.move = None
            self._damage(att, dfd, dmg)
            self._push(att, dfd, mv.pushback, proj is None)
            self._event("block", att.index, mv.name)
            return
        dfd.combo = dfd.combo + 1 if dfd.state == F.HITSTUN else 1
        scale = max(COMBO_SCALING_MIN, 100 - COMBO_SCALING_STEP * (dfd.combo - 1))
        dmg = mv.damage * scale // 100
        airborne = dfd.y > 0 or dfd.state == F.AIR or dfd.state == F.AIR_MOVE
        dfd.move = None
        if airborne:
            dfd.state = F.FALLING
            dfd.vy = F.FALL_POP_VY
            d = dfd.x - att.x
            dfd.air_vx = F.FALL_VX * ((1 if d > 0 else -1) if d else att.facing)
            dfd.fall_kd = mv.knockdown
        elif mv.knockdown:
            dfd.state = F.KNOCKDOWN
            dfd.timer = KNOCKDOWN_FRAMES
            dfd.crouching = False
        else:
            dfd.state = F.HITSTUN
            dfd.timer = mv.hitstun
        self._damage(att, dfd, dmg)
        if not airborne:
            self._push(att, dfd, mv.pushback, proj is None)
        self._event("hit", att.index, f"{mv.name} {dmg}" + (f" combo {dfd.combo}" if dfd.combo > 1 else ""))

    def _apply_throw(self, att: Fighter, dfd: Fighter, mv: Move) -> None:
        att.move_hit = True
        dfd.move = None
        dfd.state = F.KNOCKDOWN
        dfd.timer = KNOCKDOWN_FRAMES
        dfd.crouching = False
        dfd.combo = 0
        self._damage(att, dfd, mv.damage)
        self._push(att, dfd, THROW_PUSH, False)
        self._event("throw", att.index, f"throw {mv.damage}")

    def _tech(self, f0: Fighter, f1: Fighter) -> None:
        for f in (f0, f1):
            f.move = None
            f.state = F.BLOCKSTUN
            f.timer = TECH_FRAMES
            self._push(f.opp, f, THROW_PUSH // 2, False)
        self._event("tech", 0, "throws cancel out")

    def _damage(self, att: Fighter, dfd: Fighter, dmg: int) -> None:
        if dmg <= 0:
            return
        dealt = dmg if dmg < dfd.health else max(dfd.health, 0)
        dfd.health -= dmg
        if dfd.health < 0:
            dfd.health = 0
        self.damage_dealt[att.index] += dealt

    # ---- rounds ------------------------------------------------------------------------------

    def _end_round(self, how: str) -> None:
        f0, f1 = self.fighters
        if how == "ko":
            winners = [f.index for f in (f0, f1) if f.health > 0] or [0, 1]
            for f in (f0, f1):
                if f.health <= 0:
                    f.state = F.KO
                    f.move = None
        else:
            r0 = f0.health * f1.char.health
            r1 = f1.health * f0.char.health
            winners = [0] if r0 > r1 else [1] if r1 > r0 else [0, 1]
        for w in winners:
            self.fighters[w].rounds_won += 1
        self.projectiles = []
        f0.projectile = f1.projectile = None
        detail = f"{how}, winner {'draw' if len(winners) == 2 else 'P' + str(winners[0] + 1)}"
        self._event("round_end", winners[0] if len(winners) == 1 else -1, detail)
        need = self.config.rounds_to_win
        done = [f.index for f in (f0, f1) if f.rounds_won >= need]
        if done:
            self.phase = OVER
            self.winner = done[0] if len(done) == 1 else None
            self._event("match_end", -1 if self.winner is None else self.winner, "")
        else:
            self.phase = BREAK
            self.break_timer = ROUND_BREAK_FRAMES

    def _event(self, kind: str, player: int, detail: str) -> None:
        self.events.append((self.frame, kind, player, detail))

    # ---- inspection --------------------------------------------------------------------------

    @property
    def over(self) -> bool:
        """The match has ended."""
        return self.phase == OVER

    def snapshot(self) -> tuple:
        """The full state of the world as a hashable tuple (equal snapshots: identical futures)."""
        return (
            self.frame,
            self.round,
            self.phase,
            self.break_timer,
            self.timer_frames,
            self.winner,
            tuple(self.damage_dealt),
            self.fighters[0].snapshot(),
            self.fighters[1].snapshot(),
            tuple((p.owner, p.x, p.y, p.vx, p.born) for p in self.projectiles),
        )
