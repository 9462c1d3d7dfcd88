"""What a played match counts for on the leaderboard: ranks, winner and forfeits.

The rules:

* An agent that *times out* (the arena's forfeit) or *crashes* (its ``reset``/``act`` raised)
  in a match loses that match by forfeit. The match's status is then ``forfeit``.
* StreetFighter: the winner ranks 0 and the loser 1; a draw ranks both 0; when both forfeit the
  match is a draw.
* HFTBench: traders rank by PnL (highest first, equal PnL equal rank); forfeited traders rank
  last, tied among themselves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from splitsecond.benchmarks.leaderboard.schedule import MatchTask


@dataclass(frozen=True)
class SeatOutcome:
    """One participant's side of a match.

    Attributes:
        seat: seat index.
        name: participant name.
        agent_id: the env's id for the seat.
        rank: 0 is best; equal ranks are ties.
        score: total reward.
        forfeited: lost by forfeit.
        forfeit_reason: ``timeout``, ``crash: ...`` or ``None``.
        decisions, fallbacks, errors, timeouts: the arena's counts.
        median_latency_ms: median charged latency (``None`` without decisions).
        median_measured_ms: median wall time of the calls.
        tokens: prompt + completion tokens.
        metrics: the env's per-agent session metrics (HFTBench: pnl, daily_yield_pct, sharpe,
            max_drawdown_pct ...), empty for StreetFighter.
        prompt_version: the agent's ``prompt_version`` (LLM agents), else ``None``.
        prompt_tokens, cached_tokens, completion_tokens: the token usage behind ``tokens``
            (``cached_tokens``: the prompt tokens the server's prefix cache served).
        measured_ms: the wall time of every call, in order (percentiles across matches).
    """

    seat: int
    name: str
    agent_id: str
    rank: int
    score: float
    forfeited: bool
    forfeit_reason: str | None
    decisions: int
    fallbacks: int
    errors: int
    timeouts: int
    median_latency_ms: float | None
    median_measured_ms: float | None
    tokens: int
    metrics: dict[str, Any] = field(default_factory=dict)
    prompt_version: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    measured_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class MatchOutcome:
    """A played match as the leaderboard records it.

    Attributes:
        key: the match key.
        status: ``done`` or ``forfeit``.
        winner: the winning participant's name, or ``None`` (draw, or no single winner).
        seats: per-seat outcomes in seat order.
        end_reason: the arena's end reason.
        sim_time_s: simulated seconds played.
        wall_s: real seconds the match took.
        details: the env's outcome details (rounds, health, PnL ...).
        replay_path: the replay file, if saved.
        log_path: the episode log, if saved.
        worker: ``host:pid`` of the process that played it.
    """

    key: str
    status: str
    winner: str | None
    seats: tuple[SeatOutcome, ...]
    end_reason: str
    sim_time_s: float
    wall_s: float
    details: dict[str, Any] = field(default_factory=dict)
    replay_path: str | None = None
    log_path: str | None = None
    worker: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


def _ranks_by(values: list[float], forfeited: list[bool]) -> list[int]:
    """Competition ranks, higher value first; forfeited seats after all others, tied."""
    ranks = []
    for v, f in zip(values, forfeited, strict=True):
        if f:
            ranks.append(sum(not x for x in forfeited))
        else:
            ranks.append(sum(1 for x, fx in zip(values, forfeited, strict=True) if not fx and x > v))
    return ranks


def outcome_from_result(
    task: MatchTask,
    result: Any,
    crashes: dict[int, str],
    worker: str = "",
    prompt_versions: dict[int, str | None] | None = None,
) -> MatchOutcome:
    """Turn the arena's :class:`~splitsecond.agents.arena.MatchResult` into a :class:`MatchOutcome`.

    Args:
        task: the scheduled match.
        result: the arena's result.
        crashes: seat index -> what the agent raised (from the crash watch).
        worker: who played it.
        prompt_versions: seat index -> the agent's prompt version (missing: ``None``).
    """
    versions = prompt_versions or {}
    ids = list(result.agents)
    stats = [result.agents[a] for a in ids]
    forfeited = [s.forfeited or i in crashes for i, s in enumerate(stats)]
    reasons = [
        f"crash: {crashes[i]}" if i in crashes else ("timeout" if s.forfeited else None)
        for i, s in enumerate(stats)
    ]
    metrics: list[dict[str, Any]] = [{} for _ in ids]
    if task.env == "hftbench":
        summaries = (result.details or {}).get("summary") or {}
        pnl = (result.details or {}).get("pnl") or {}
        for i, a in enumerate(ids):
            metrics[i] = dict(summaries.get(a) or {})
            metrics[i].setdefault("pnl", float(pnl.get(a, stats[i].score)))
        ranks = _ranks_by([float(m["pnl"]) for m in metrics], forfeited)
    else:
        winner_seat = ids.index(result.winner) if result.winner in ids else None
        if any(forfeited):
            alive = [i for i, f in enumerate(forfeited) if not f]
            winner_seat = alive[0] if len(alive) == 1 else None
        ranks = [0 if winner_seat is None or i == winner_seat else 1 for i in range(len(ids))]
    best = [i for i, r in enumerate(ranks) if r == 0]
    winner = task.seats[best[0]].name if len(best) == 1 else None
    seats = tuple(
        SeatOutcome(
            seat=i,
            name=task.seats[i].name,
            agent_id=a,
            rank=ranks[i],
            score=float(stats[i].score),
            forfeited=forfeited[i],
            forfeit_reason=reasons[i],
            decisions=stats[i].decisions,
            fallbacks=stats[i].fallbacks,
            errors=stats[i].errors,
            timeouts=stats[i].timeouts,
            median_latency_ms=stats[i].median_latency_ms,
            median_measured_ms=stats[i].median_measured_ms,
            tokens=stats[i].usage.prompt_tokens + stats[i].usage.completion_tokens,
            metrics=_plain(metrics[i]),
            prompt_version=versions.get(i),
            prompt_tokens=stats[i].usage.prompt_tokens,
            cached_tokens=stats[i].usage.cached_tokens,
            completion_tokens=stats[i].usage.completion_tokens,
            measured_ms=tuple(round(float(x), 3) for x in stats[i].measured_ms),
        )
        for i, a in enumerate(ids)
    )
    return MatchOutcome(
        key=task.key,
        status="forfeit" if any(forfeited) else "done",
        winner=winner,
        seats=seats,
        end_reason=result.end_reason,
        sim_time_s=float(result.sim_time_s),
        wall_s=float(result.wall_s),
        details=_plain(result.details or {}),
        replay_path=str(result.replay_path) if result.replay_path else None,
        log_path=str(result.log_path) if result.log_path else None,
        worker=worker,
    )


def _plain(value: Any) -> Any:
    """Tuples to lists, numpy values to Python, non-finite floats to ``None``, for JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return str(value)
