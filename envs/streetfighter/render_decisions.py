"""Each player's decisions, for the renderer's pending-decision panels.

The envs log every decision as a row ``(decided, player, action, lands)``: the frame whose
observation the decision was made from, the player (0 or 1), the action index, and the frame
its input lands on (``decided + latency_frames``). Rows are appended in order of ``decided``.
:func:`latest_decisions` finds, for a frame, each player's most recent decision: still pending
(it lands on this frame or later) or already landed. Replays carry the log in
``meta["decisions"]``; :func:`decision_log` checks and sorts one read from a file.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from splitsecond.envs.streetfighter.actions import ACTION_NAMES, N_ACTIONS
from splitsecond.envs.streetfighter.frame_data import FPS

DecisionRow = tuple[int, int, int, int]
"""``(decided, player, action, lands)``."""

_DECIDED = itemgetter(0)
_MAX_LOOKBACK = 4096
"""Rows searched back for a player who has not decided lately (beyond: shown as no decision)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One player's decision.

    Attributes:
        decided: the frame it was decided on (the observation it was made from).
        player: 0 or 1.
        action: the action index (:data:`~splitsecond.envs.streetfighter.actions.ACTION_NAMES`).
        lands: the frame its input lands on.
    """

    decided: int
    player: int
    action: int
    lands: int

    @property
    def action_name(self) -> str:
        """The action's name, e.g. ``"crouch_MK"``."""
        return ACTION_NAMES[self.action]

    @property
    def latency_frames(self) -> int:
        """Frames between the decision and its landing."""
        return self.lands - self.decided

    def frames_left(self, frame: int) -> int:
        """Frames from ``frame`` until the input lands (0: lands on ``frame``; negative: landed)."""
        return self.lands - frame

    def ms_left(self, frame: int) -> int:
        """:meth:`frames_left` in whole milliseconds of game time."""
        return round(self.frames_left(frame) * 1000 / FPS)


def latest_decisions(log: Sequence[Sequence[int]], frame: int) -> tuple[Decision | None, Decision | None]:
    """Each player's most recent decision made on or before ``frame`` (``None`` if it has made none).

    Args:
        log: rows ``(decided, player, action, lands)`` sorted by ``decided``.
        frame: the frame being drawn.
    """
    found: list[Decision | None] = [None, None]
    i = bisect.bisect_right(log, frame, key=_DECIDED)
    stop = max(0, i - _MAX_LOOKBACK)
    missing = 2
    while i > stop and missing:
        i -= 1
        decided, player, action, lands = log[i]
        if found[player] is None:
            found[player] = Decision(decided, player, action, lands)
            missing -= 1
    return found[0], found[1]


def decision_log(rows: object, where: str = "decisions") -> list[DecisionRow]:
    """Check a decision log read from a file and return it as tuples sorted by ``decided``.

    Args:
        rows: a sequence of ``[decided, player, action, lands]`` integer rows.
        where: how to name the log in error messages (e.g. ``"replay meta 'decisions'"``).

    Raises:
        ValueError: naming the first bad row and what is wrong with it.
    """
    if not isinstance(rows, list | tuple):
        raise ValueError(
            f"{where} must be a list of [decided, player, action, lands] rows, got {type(rows).__name__}"
        )
    out: list[DecisionRow] = []
    for k, row in enumerate(rows):
        if (
            not isinstance(row, list | tuple)
            or len(row) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in row)
        ):
            raise ValueError(
                f"{where} row {k}: expected [decided, player, action, lands] integers, got {row!r}"
            )
        decided, player, action, lands = row
        if player not in (0, 1):
            raise ValueError(f"{where} row {k}: player must be 0 or 1, got {player}")
        if not 0 <= action < N_ACTIONS:
            raise ValueError(f"{where} row {k}: action must be in 0..{N_ACTIONS - 1}, got {action}")
        if decided < 0 or lands < decided:
            raise ValueError(
                f"{where} row {k}: need 0 <= decided <= lands, got decided={decided}, lands={lands}"
            )
        out.append((decided, player, action, lands))
    out.sort(key=_DECIDED)
    return out
