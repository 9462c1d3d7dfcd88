"""Stick-figure poses: where a fighter's head, hands, elbows, knees and feet are in each state.

:func:`fighter_pose` reads a :class:`~splitsecond.envs.streetfighter.fighter.Fighter` and returns a
:class:`Pose`: eleven joints in world units, ``forward`` (towards where the fighter faces) and
``up`` from its feet, plus a name for the pose (``"idle"``, ``"walk"``, ``"punch_active"``,
``"knockdown"`` ...). Key points (head, neck, hip, hands, feet) come from a table per state, elbows
and knees from two-bone inverse kinematics, so limbs keep their length. On an attack's active
frames the striking hand or foot reaches into the move's hitbox; in startup it is chambered, in
recovery it is pulled back. Everything is a pure function of the fighter (and the frame number,
for the idle sway), so a replay draws the same figure whatever frames it skips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from splitsecond.envs.streetfighter import actions as A
from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.fighter import Fighter
from splitsecond.envs.streetfighter.frame_data import DASH, Move

HEAD, NECK, HIP, F_ELBOW, F_HAND, B_ELBOW, B_HAND, F_KNEE, F_FOOT, B_KNEE, B_FOOT = range(11)
JOINT_NAMES = (
    "head", "neck", "hip", "front_elbow", "front_hand", "back_elbow", "back_hand",
    "front_knee", "front_foot", "back_knee", "back_foot",
)  # fmt: skip

# Body proportions, as fractions of the character's standing height.
HEAD_RADIUS = 0.095
UPPER_ARM = 0.19
FOREARM = 0.18
THIGH = 0.26
SHIN = 0.26
_STRETCH = 1.2
"""A striking limb may stretch to this multiple of its length to reach its hitbox (cartoon reach)."""

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Pose:
    """A fighter's figure for one frame.

    Attributes:
        name: what the figure shows (``"idle"``, ``"walk"``, ``"guard_high"``, ``"crouch"``,
            ``"guard_low"``, ``"jump"``, ``"punch_startup"``, ``"kick_active"``, ``"hitstun"``,
            ``"knockdown"`` ...).
        joints: the eleven joints of :data:`JOINT_NAMES`, ``(forward, up)`` world units from the
            fighter's feet.
    """

    name: str
    joints: tuple[Point, ...]


# ---- key poses (fractions of the height; elbows and knees are solved) ----------------------------

_Keys = dict[int, Point]

_STANCE: _Keys = {HEAD: (0.05, 0.885), NECK: (0.03, 0.78), HIP: (0.0, 0.46), F_HAND: (0.23, 0.73),
                  B_HAND: (0.15, 0.68), F_FOOT: (0.15, 0.0), B_FOOT: (-0.15, 0.0)}  # fmt: skip
_GUARD_HIGH: _Keys = {HEAD: (0.0, 0.88), NECK: (0.0, 0.775), HIP: (0.01, 0.46), F_HAND: (0.15, 0.88),
                      B_HAND: (0.19, 0.80), F_FOOT: (0.14, 0.0), B_FOOT: (-0.17, 0.0)}  # fmt: skip
_CROUCH: _Keys = {HEAD: (0.11, 0.51), NECK: (0.07, 0.41), HIP: (-0.03, 0.25), F_HAND: (0.25, 0.40),
                  B_HAND: (0.17, 0.35), F_FOOT: (0.19, 0.0), B_FOOT: (-0.18, 0.0)}  # fmt: skip
_GUARD_LOW: _Keys = {**_CROUCH, HEAD: (0.07, 0.50), NECK: (0.04, 0.40), F_HAND: (0.16, 0.47),
                     B_HAND: (0.21, 0.32)}  # fmt: skip
_SQUAT: _Keys = {HEAD: (0.07, 0.75), NECK: (0.05, 0.645), HIP: (-0.02, 0.33), F_HAND: (0.2, 0.52),
                 B_HAND: (0.1, 0.48), F_FOOT: (0.17, 0.0), B_FOOT: (-0.17, 0.0)}  # fmt: skip
_PREJUMP: _Keys = {**_SQUAT, F_HAND: (-0.06, 0.42), B_HAND: (-0.12, 0.45)}
_JUMP_UP: _Keys = {HEAD: (0.05, 0.93), NECK: (0.03, 0.82), HIP: (0.0, 0.50), F_HAND: (0.17, 1.0),
                   B_HAND: (0.04, 0.98), F_FOOT: (0.10, 0.18), B_FOOT: (-0.10, 0.24)}  # fmt: skip
_JUMP_DOWN: _Keys = {**_JUMP_UP, F_HAND: (0.24, 0.80), B_HAND: (0.10, 0.72), F_FOOT: (0.13, 0.04),
                     B_FOOT: (-0.12, 0.10)}  # fmt: skip
_HITSTUN: _Keys = {HEAD: (-0.10, 0.85), NECK: (-0.06, 0.75), HIP: (0.02, 0.45), F_HAND: (0.06, 0.48),
                   B_HAND: (-0.24, 0.62), F_FOOT: (0.16, 0.0), B_FOOT: (-0.16, 0.0)}  # fmt: skip
_LYING: _Keys = {HEAD: (-0.47, 0.10), NECK: (-0.35, 0.08), HIP: (0.0, 0.07), F_HAND: (-0.12, 0.04),
                 B_HAND: (-0.58, 0.05), F_FOOT: (0.46, 0.04), B_FOOT: (0.40, 0.15)}  # fmt: skip
_SITTING_UP: _Keys = {HEAD: (-0.10, 0.48), NECK: (-0.08, 0.37), HIP: (0.0, 0.08), F_HAND: (0.10, 0.20),
                      B_HAND: (-0.24, 0.03), F_FOOT: (0.30, 0.0), B_FOOT: (0.22, 0.0)}  # fmt: skip
_VICTORY: _Keys = {HEAD: (0.02, 0.89), NECK: (0.01, 0.785), HIP: (0.0, 0.47), F_HAND: (0.08, 1.16),
                   B_HAND: (-0.12, 0.52), F_FOOT: (0.12, 0.0), B_FOOT: (-0.12, 0.0)}  # fmt: skip

# Bend direction of each limb (elbow/knee side), +1 or -1; see _solve.
_BENDS_STANDING = (-1, -1, 1, 1)
_BENDS_LYING = (1, 1, 1, 1)


def _lerp(a: _Keys, b: _Keys, t: float) -> _Keys:
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    return {k: (a[k][0] + (b[k][0] - a[k][0]) * t, a[k][1] + (b[k][1] - a[k][1]) * t) for k in a}


def _shift(keys: _Keys, dx: float, dy: float, only: tuple[int, ...] = (HEAD, NECK)) -> _Keys:
    out = dict(keys)
    for k in only:
        x, y = out[k]
        out[k] = (x + dx, y + dy)
    return out


def _rotate(keys: _Keys, angle: float, centre: int = HIP) -> _Keys:
    """Rotate about ``centre``; positive ``angle`` leans the figure backwards."""
    cx, cy = keys[centre]
    c, s = math.cos(angle), math.sin(angle)
    return {
        k: (cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for k, (x, y) in keys.items()
    }


def _reach(root: Point, target: Point, length: float) -> Point:
    """``target``, pulled towards ``root`` if it is further than a stretched limb can reach."""
    dx, dy = target[0] - root[0], target[1] - root[1]
    d = math.hypot(dx, dy)
    limit = length * _STRETCH
    if d <= limit or d == 0.0:
        return target
    k = limit / d
    return (root[0] + dx * k, root[1] + dy * k)


def _solve(root: Point, end: Point, l1: float, l2: float, bend: int) -> Point:
    """The middle joint of a two-bone limb from ``root`` to ``end`` (straight when out of reach)."""
    dx, dy = end[0] - root[0], end[1] - root[1]
    d = math.hypot(dx, dy)
    if d >= l1 + l2 or d < 1e-9:
        return ((root[0] + end[0]) / 2, (root[1] + end[1]) / 2)
    along = (l1 * l1 - l2 * l2 + d * d) / (2 * d)
    h = math.sqrt(max(0.0, l1 * l1 - along * along))
    ux, uy = dx / d, dy / d
    return (root[0] + ux * along - uy * h * bend, root[1] + uy * along + ux * h * bend)


def _finish(
    name: str, keys: _Keys, height: int, bends: tuple[int, int, int, int] = _BENDS_STANDING, lift: float = 0.0
) -> Pose:
    neck, hip = keys[NECK], keys[HIP]
    fe = _solve(neck, keys[F_HAND], UPPER_ARM, FOREARM, bends[0])
    be = _solve(neck, keys[B_HAND], UPPER_ARM, FOREARM, bends[1])
    fk = _solve(hip, keys[F_FOOT], THIGH, SHIN, bends[2])
    bk = _solve(hip, keys[B_FOOT], THIGH, SHIN, bends[3])
    pts = (keys[HEAD], neck, hip, fe, keys[F_HAND], be, keys[B_HAND], fk, keys[F_FOOT], bk, keys[B_FOOT])
    return Pose(name, tuple((x * height, (y + lift) * height) for x, y in pts))


# ---- attacks -----------------------------------------------------------------------------------

_PUNCHES = frozenset({"LP", "MP", "HP", "crouch_LP", "crouch_MP"})
_KICKS = frozenset({"LK", "MK", "HK", "crouch_LK", "crouch_MK", "crouch_HK"})


def move_phase(f: Fighter) -> str:
    """``"startup"``, ``"active"`` or ``"recovery"`` of the fighter's current move (``""`` if none)."""
    mv = f.move
    if mv is None:
        return ""
    mf = f.move_frame
    return "startup" if mf < mv.startup else "active" if mf <= mv.last_active else "recovery"


def _progress(f: Fighter, mv: Move) -> tuple[str, float]:
    """The move's phase and how far through it the fighter is (0..1)."""
    mf = f.move_frame
    if mf < mv.startup:
        return "startup", mf / max(1, mv.startup - 1)
    if mf <= mv.last_active:
        return "active", 1.0
    return "recovery", (mf - mv.last_active) / max(1, mv.recovery)


def _hit_target(mv: Move, height: int) -> Point:
    """Where a striking limb points on active frames: the far edge of the hitbox, at its middle."""
    b = mv.hitbox
    if b is None:
        return (0.4, 0.7)
    x0, x1, y0, y1 = b.x0 / height, b.x1 / height, b.y0 / height, b.y1 / height
    if y1 - y0 > 1.5 * (x1 - x0):  # a tall box: an upward strike
        return ((x0 + x1) / 2, y1 - 0.05)
    return (x1 - 0.03, (y0 + y1) / 2)


def _strike(base: _Keys, limb: int, root: int, length: float, target: Point, phase: str, t: float,
            chamber: Point, lean: float) -> _Keys:  # fmt: skip
    """``base`` with the ``limb`` end chambered (startup), extended to ``target`` (active) or retracting."""
    hit = _reach(base[root], target, length)
    if phase == "startup":
        keys = dict(base)
        keys[limb] = (
            base[limb][0] + (chamber[0] - base[limb][0]) * t,
            base[limb][1] + (chamber[1] - base[limb][1]) * t,
        )
        return keys
    extended = _shift(dict(base), lean, 0.0)
    extended[limb] = hit
    if phase == "active":
        return extended
    # Recovery: the limb drops out of the hitbox at once, then returns to the base pose.
    dropped = dict(extended)
    dropped[limb] = (base[root][0] + (hit[0] - base[root][0]) * 0.7, hit[1] - 0.06)
    return _lerp(dropped, base, min(1.0, t * 1.3))


def _ground_move_pose(f: Fighter, mv: Move, height: int, crouch_ratio: float) -> Pose:
    name = mv.name
    phase, t = _progress(f, mv)
    crouching = mv.crouching
    base = _scale_crouch(_CROUCH, crouch_ratio) if crouching else _STANCE
    if name in _PUNCHES:
        heavy = name.endswith("HP")
        chamber = (base[NECK][0] + 0.02, base[NECK][1] - 0.06)
        keys = _strike(base, F_HAND, NECK, UPPER_ARM + FOREARM, _hit_target(mv, height), phase, t, chamber,
                       0.09 if heavy else 0.05)  # fmt: skip
        return _finish(f"punch_{phase}", keys, height)
    if name in _KICKS:
        chamber = (0.16, 0.22 if crouching else 0.40)
        lean = -0.05 if crouching else -0.09
        keys = _strike(base, F_FOOT, HIP, THIGH + SHIN, _hit_target(mv, height), phase, t, chamber, lean)
        return _finish(f"kick_{phase}", keys, height)
    if name == "crouch_HP":
        keys = _strike(base, F_HAND, NECK, UPPER_ARM + FOREARM, _hit_target(mv, height), phase, t,
                       (0.12, 0.22), 0.04)  # fmt: skip
        if phase == "active":
            keys = _shift(keys, 0.0, 0.10, (HEAD, NECK, HIP))
        return _finish(f"uppercut_{phase}", keys, height)
    if name == "overhead":
        raised = _shift(_STANCE, -0.04, 0.02)
        keys = _strike(raised, F_HAND, NECK, UPPER_ARM + FOREARM, _hit_target(mv, height), phase, t,
                       (-0.10, 1.10), 0.10)  # fmt: skip
        return _finish(f"overhead_{phase}", keys, height)
    if name == "throw":
        if f.move_hit:
            keys = {**_shift(_STANCE, -0.06, 0.0), F_HAND: (0.16, 0.98), B_HAND: (0.08, 0.92)}
            return _finish("throw_toss", keys, height)
        grab = {**_shift(_STANCE, 0.08, -0.02), F_HAND: (0.38, 0.64), B_HAND: (0.33, 0.58)}
        if phase == "startup":
            keys = _lerp(_STANCE, grab, t)
        elif phase == "active":
            keys = grab
        else:
            keys = _lerp({**grab, F_HAND: (0.33, 0.52), B_HAND: (0.28, 0.48)}, _STANCE, t)
        return _finish(f"throw_{phase}", keys, height)
    if name == "projectile":
        wind = {**_SQUAT, F_HAND: (-0.08, 0.50), B_HAND: (-0.04, 0.54), F_FOOT: (0.22, 0.0)}
        push = {**_shift(_SQUAT, 0.10, 0.05), F_HAND: (0.42, 0.64), B_HAND: (0.38, 0.58), F_FOOT: (0.22, 0.0)}
        if phase == "startup":
            keys = _lerp(_STANCE, wind, min(1.0, t * 1.5))
        elif phase == "active":
            keys = push
        else:
            keys = _lerp(push, _STANCE, max(0.0, t - 0.5) * 2)
        return _finish(f"projectile_{phase}", keys, height)
    if name == "anti_air":
        if phase == "startup":
            return _finish("anti_air_startup", {**_SQUAT, F_HAND: (0.18, 0.42)}, height)
        rise = {HEAD: (0.08, 0.89), NECK: (0.05, 0.78), HIP: (0.0, 0.46), F_HAND: (0.16, 1.14),
                B_HAND: (-0.06, 0.55), F_FOOT: (0.12, 0.22), B_FOOT: (-0.05, 0.0)}  # fmt: skip
        if phase == "active":
            k = (f.move_frame - mv.startup + 1) / mv.active
            return _finish("anti_air_active", rise, height, lift=0.30 * min(1.0, 2 * k))
        keys = _lerp({**rise, F_HAND: (0.16, 1.05)}, _SQUAT, max(0.0, t - 0.4) / 0.6)
        return _finish("anti_air_recovery", keys, height, lift=0.30 * max(0.0, 1 - 2.5 * t))
    if name == "rush":
        charge = {HEAD: (0.22, 0.80), NECK: (0.17, 0.70), HIP: (0.0, 0.44), F_HAND: (0.45, 0.62),
                  B_HAND: (0.02, 0.50)}  # fmt: skip
        if phase == "startup":
            keys = {**_lerp(_STANCE, _shift(_SQUAT, 0.06, 0.0), t), F_HAND: (-0.02, 0.55)}
            return _finish("rush_startup", keys, height)
        if phase == "active":
            return _finish("rush_active", {**charge, **_stride(f.x / height, 0.22)}, height)
        keys = _lerp({**charge, F_FOOT: (0.30, 0.0), B_FOOT: (-0.22, 0.0)}, _STANCE, t)
        return _finish("rush_recovery", keys, height)
    if mv.kind == DASH:
        forward = name == "dash_forward"
        if forward:
            keys = {**_shift(_STANCE, 0.09, -0.03), F_FOOT: (0.24, 0.05), B_FOOT: (-0.24, 0.08)}
        else:
            keys = {**_shift(_STANCE, -0.10, -0.02), F_FOOT: (0.22, 0.08), B_FOOT: (-0.20, 0.04),
                    F_HAND: (0.18, 0.82)}  # fmt: skip
        if phase == "recovery" and t > 0.5:
            keys = _lerp(keys, _STANCE, (t - 0.5) * 2)
        return _finish("dash_forward" if forward else "dash_back", keys, height)
    return _finish(f"move_{phase}", base, height)


def _air_move_pose(f: Fighter, mv: Move, height: int) -> Pose:
    phase, t = _progress(f, mv)
    base = _JUMP_UP if f.vy > 0 else _JUMP_DOWN
    if mv.name[4:] in ("LK", "MK", "HK"):
        keys = _strike({**base, B_FOOT: (-0.12, 0.28)}, F_FOOT, HIP, THIGH + SHIN, _hit_target(mv, height),
                       phase, t, (0.14, 0.30), -0.06)  # fmt: skip
        return _finish(f"air_kick_{phase}", keys, height)
    keys = _strike(
        base, F_HAND, NECK, UPPER_ARM + FOREARM, _hit_target(mv, height), phase, t, (0.04, 0.72), 0.06
    )
    return _finish(f"air_punch_{phase}", keys, height)


# ---- other states ------------------------------------------------------------------------------


def _scale_crouch(keys: _Keys, crouch_ratio: float) -> _Keys:
    k = crouch_ratio / 0.6
    return {j: (x, y * k) for j, (x, y) in keys.items()}


def _stride(phase_units: float, amplitude: float) -> _Keys:
    """Feet of a walking stride whose phase follows the distance walked (in heights)."""
    a = 2 * math.pi * phase_units / 0.55
    s, c = math.sin(a), math.cos(a)
    return {
        F_FOOT: (0.03 + amplitude * s, 0.04 * max(0.0, c)),
        B_FOOT: (-0.03 - amplitude * s, 0.04 * max(0.0, -c)),
    }


def fighter_pose(f: Fighter, frame: int = 0, celebrating: bool = False) -> Pose:
    """The figure of ``f`` this frame (see the module docstring).

    Args:
        f: the fighter.
        frame: the simulation frame (drives the idle sway only).
        celebrating: show the victory pose when the fighter is free (after winning a round).
    """
    h = f.height
    st = f.state
    crouch_ratio = f.crouch_height / h
    if st == F.MOVE and f.move is not None:
        return _ground_move_pose(f, f.move, h, crouch_ratio)
    if st == F.AIR_MOVE and f.move is not None:
        return _air_move_pose(f, f.move, h)
    if st in (F.STAND, F.CROUCH):
        if celebrating:
            return _finish("victory", _VICTORY, h)
        d = f.dir
        if st == F.CROUCH or d >= A.DOWN:
            if d == A.DOWN_BACK:
                return _finish("guard_low", _scale_crouch(_GUARD_LOW, crouch_ratio), h)
            return _finish("crouch", _scale_crouch(_CROUCH, crouch_ratio), h)
        if d == A.FORWARD:
            keys = {**_shift(_STANCE, 0.05, -0.01), F_HAND: (0.26, 0.70), **_stride(f.x / h, 0.17)}
            return _finish("walk", keys, h)
        if d == A.BACK:
            keys = {**_shift(_GUARD_HIGH, -0.02, 0.0), **_stride(f.x / h, 0.13)}
            return _finish("walk_back", keys, h)
        if d == A.GUARD:
            return _finish("guard_high", _GUARD_HIGH, h)
        sway = 0.012 * math.sin(2 * math.pi * frame / 48)
        return _finish("idle", _shift(_STANCE, 0.0, sway, (HEAD, NECK, HIP, F_HAND, B_HAND)), h)
    if st == F.BLOCKSTUN:
        if f.crouching:
            keys = _shift(_scale_crouch(_GUARD_LOW, crouch_ratio), -0.05, 0.0)
            return _finish("blockstun_low", keys, h)
        return _finish("blockstun_high", _shift(_GUARD_HIGH, -0.07, -0.01), h)
    if st == F.HITSTUN:
        if f.crouching:
            return _finish("hitstun_crouch", _scale_crouch(_HITSTUN, crouch_ratio), h)
        return _finish("hitstun", _HITSTUN, h)
    if st == F.PREJUMP:
        return _finish("prejump", _PREJUMP, h)
    if st == F.LANDING:
        return _finish("landing", _SQUAT, h)
    if st == F.AIR:
        keys = _JUMP_UP if f.vy > 0 else _JUMP_DOWN
        lean = f.air_vx * f.facing
        if lean:
            keys = _rotate(keys, -0.18 if lean > 0 else 0.18)
        return _finish("jump", keys, h)
    if st == F.FALLING or (st in (F.KNOCKDOWN, F.KO) and f.y > 0):
        angle = 0.9 if f.vy > 0 else 1.25
        return _finish("falling", _rotate({**_HITSTUN, F_FOOT: (0.1, 0.05), B_FOOT: (-0.12, 0.12)}, angle), h)
    if st == F.KNOCKDOWN:
        if 0 < f.timer <= 12:
            return _finish("getting_up", _SITTING_UP, h, _BENDS_LYING)
        return _finish("knockdown", _LYING, h, _BENDS_LYING)
    if st == F.KO:
        return _finish("ko", _LYING, h, _BENDS_LYING)
    return _finish("idle", _STANCE, h)
