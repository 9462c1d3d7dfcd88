"""What a match produced: :class:`MatchResult` with per-agent :class:`AgentStats`, and a rich table."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from splitsecond.agents.base import TokenUsage


@dataclass
class AgentStats:
    """One agent's side of a match.

    Attributes:
        agent_id: the agent's id in the env (``player_0`` ...).
        name: the agent's display name.
        latency_model: the latency model charged to it, in words.
        score: its total reward.
        decisions: decisions made (fallbacks included).
        fallbacks: decisions that used a fallback action (the agent's own or the arena's).
        errors: decisions that failed: the agent raised or reported a failed model call
            (``Decision.error``); each is also a fallback.
        timeouts: calls that passed the arena's limit (the agent then forfeits).
        forfeited: whether the agent forfeited.
        latencies_ms: the latency charged to each decision.
        measured_ms: the wall time of each call.
        usage: tokens spent in total.
    """

    agent_id: str
    name: str
    latency_model: str = ""
    score: float = 0.0
    decisions: int = 0
    fallbacks: int = 0
    errors: int = 0
    timeouts: int = 0
    forfeited: bool = False
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    measured_ms: list[float] = field(default_factory=list, repr=False)
    usage: TokenUsage = field(default_factory=TokenUsage)

    @property
    def median_latency_ms(self) -> float | None:
        """Median charged latency, or ``None`` before any decision."""
        return statistics.median(self.latencies_ms) if self.latencies_ms else None

    @property
    def median_measured_ms(self) -> float | None:
        """Median wall time of the calls, or ``None`` before any decision."""
        return statistics.median(self.measured_ms) if self.measured_ms else None

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary (no per-decision lists)."""
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            "latency_model": self.latency_model,
            "score": self.score,
            "decisions": self.decisions,
            "fallbacks": self.fallbacks,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "forfeited": self.forfeited,
            "median_latency_ms": self.median_latency_ms,
            "total_latency_ms": sum(self.latencies_ms),
            "median_measured_ms": self.median_measured_ms,
            "usage": asdict(self.usage),
        }


@dataclass
class MatchResult:
    """The outcome of one match.

    Attributes:
        env_id: the env played.
        seed: the match seed.
        mode: ``virtual`` or ``realtime``.
        winner: the winning agent id, or ``None`` for a draw.
        scores: each agent's total reward.
        agents: per-agent statistics.
        end_reason: ``terminated``, ``truncated``, ``forfeit``, ``max_decisions`` or ``max_wall``.
        sim_time_s: simulated time at the end.
        wall_s: real time the match took.
        details: what the env says about the outcome (rounds won, PnL ...).
        log_path: the episode log, if written.
        replay_path: the env replay, if written.
        gif_path: the replay GIF, if written.
    """

    env_id: str
    seed: int | None
    mode: str
    winner: str | None
    scores: dict[str, float]
    agents: dict[str, AgentStats]
    end_reason: str
    sim_time_s: float
    wall_s: float
    details: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None
    replay_path: Path | None = None
    gif_path: Path | None = None

    @property
    def decisions(self) -> int:
        """Decisions made by all agents."""
        return sum(a.decisions for a in self.agents.values())

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "env_id": self.env_id,
            "seed": self.seed,
            "mode": self.mode,
            "winner": self.winner,
            "winner_name": self.agents[self.winner].name if self.winner in self.agents else None,
            "scores": self.scores,
            "end_reason": self.end_reason,
            "sim_time_s": self.sim_time_s,
            "wall_s": self.wall_s,
            "decisions": self.decisions,
            "details": self.details,
            "agents": {k: a.summary() for k, a in self.agents.items()},
            "log_path": str(self.log_path) if self.log_path else None,
            "replay_path": str(self.replay_path) if self.replay_path else None,
            "gif_path": str(self.gif_path) if self.gif_path else None,
        }


def _ms(value: float | None) -> str:
    """Median latency for the table (``-`` when there was no decision)."""
    return "-" if value is None else f"{value:.1f}"


def result_table(result: MatchResult) -> Any:
    """A ``rich.table.Table`` of the match (render it with a rich ``Console``)."""
    from rich.table import Table

    winner = result.agents[result.winner].name if result.winner in result.agents else "draw"
    models = "; ".join(f"{a}: {s.latency_model}" for a, s in result.agents.items())
    table = Table(
        title=f"{result.env_id.rsplit('/', 1)[-1]} seed={result.seed} {result.mode}: winner {winner} ({result.end_reason})",
        caption=f"simulated {result.sim_time_s:.1f} s in {result.wall_s:.1f} s wall\nlatency: {models}",
    )
    for col, justify in (
        ("agent", "left"),
        ("score", "right"),
        ("dec", "right"),
        ("fallback", "right"),
        ("err", "right"),
        ("lat ms", "right"),
        ("call ms", "right"),
        ("tok in/cache/out", "right"),
    ):
        table.add_column(col, justify=justify)
    for agent_id, s in result.agents.items():
        u = s.usage
        mark = " *" if agent_id == result.winner else ""
        table.add_row(
            f"{s.name} ({agent_id}){mark}" + (" [forfeit]" if s.forfeited else ""),
            f"{s.score:+.3f}",
            str(s.decisions),
            str(s.fallbacks),
            str(s.errors + s.timeouts),
            _ms(s.median_latency_ms),
            _ms(s.median_measured_ms),
            f"{u.prompt_tokens}/{u.cached_tokens}/{u.completion_tokens}",
        )
    return table
