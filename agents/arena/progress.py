"""Progress reports: the arena calls a callback after each decision; the CLI draws a live line.

The library never prints; :func:`progress_text` formats a report for whoever does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MatchProgress:
    """The state of a running match.

    Attributes:
        mode: ``virtual`` or ``realtime``.
        decisions: decisions made so far (all agents).
        sim_time_s: simulated time of the latest decision.
        wall_s: real time since the match started.
        scores: each agent's reward so far.
        status: the env's one-line status (health, rounds, PnL ...), if it gives one.
        last_actions: each agent's latest action name.
    """

    mode: str
    decisions: int
    sim_time_s: float
    wall_s: float
    scores: Mapping[str, float] = field(default_factory=dict)
    status: str = ""
    last_actions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        game: Any,
        env: Any,
        seats: Mapping[str, Any],
        decisions: int,
        t_us: int,
        wall_s: float,
        mode: str,
    ) -> MatchProgress:
        """Build a report from the arena's state."""
        return cls(
            mode=mode,
            decisions=decisions,
            sim_time_s=t_us / 1e6,
            wall_s=wall_s,
            scores={k: s.stats.score for k, s in seats.items()},
            status=game.status(env),
            last_actions={
                k: game.action_name(k, s.previous_action)
                for k, s in seats.items()
                if s.previous_action is not None
            },
        )


def progress_text(p: MatchProgress) -> str:
    """One line: time, decisions, the env's status and the last actions."""
    actions = " ".join(f"{k}:{v}" for k, v in p.last_actions.items())
    return (
        f"sim {p.sim_time_s:6.1f}s | wall {p.wall_s:5.1f}s | {p.decisions} decisions | {p.status} | {actions}"
    )
