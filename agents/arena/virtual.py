"""Virtual-time play: decisions are computed one after the other and charged by latency models.

The env runs on its explicit clock. At each turn of the PettingZoo AEC loop the selected agent
(whose decision time has come, in simulated time) gets its observation, the arena waits for its
decision (in the seat's worker thread, within the timeout), the seat's latency model prices it,
and the action goes to the env as ``TimedAction(action, latency_ms)``: it lands at
``t + latency``. No wall-clock time enters the simulation, so a match is a pure function of the
seeds and the agents' decisions: deterministic agents give identical logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from splitsecond.agents.arena.config import MatchConfig
from splitsecond.agents.arena.episode_log import EpisodeLog
from splitsecond.agents.arena.games import Game
from splitsecond.agents.arena.progress import MatchProgress
from splitsecond.agents.arena.seat import Seat, Turn
from splitsecond.envs.timing import TimedAction, ms_to_us

FORFEIT_IDLE_MS = 1000.0
"""Latency of the idle actions a forfeited agent keeps sending in a match of three or more."""


def start_turn(env: Any, seat: Seat, final_infos: dict[str, dict[str, Any]]) -> tuple[Any, Any, str | None]:
    """Credit the current agent's reward and step it out if the env ended for it.

    Returns ``(observation, info, ended)``; ``ended`` is ``"terminated"``/``"truncated"`` when the
    agent was stepped out (``final_infos`` then holds every agent's last info), else ``None``.
    """
    obs, reward, terminated, truncated, info = env.last()
    seat.stats.score += float(reward)
    if not (terminated or truncated):
        return obs, info, None
    if not final_infos:
        final_infos.update({a: dict(i) for a, i in env.infos.items()})
    env.step(None)
    return obs, info, "terminated" if terminated else "truncated"


def log_turn(
    log: EpisodeLog, index: int, seat: Seat, game: Game, t_us: int, turn: Turn, latency_ms: float
) -> None:
    """Write one decision record (see :mod:`~splitsecond.agents.arena.episode_log`)."""
    d = turn.decision
    u = d.usage
    trace = d.trace
    log.write(
        "decision",
        i=index,
        agent=seat.agent_id,
        t_us=t_us,
        latency_ms=round(latency_ms, 6),
        land_us=t_us + ms_to_us(latency_ms),
        measured_ms=round(turn.measured_ms, 3),
        action=d.action,
        action_name=game.action_name(seat.agent_id, d.action),
        fallback=d.fallback,
        error=turn.error,
        usage={
            "prompt": u.prompt_tokens,
            "cached": u.cached_tokens,
            "completion": u.completion_tokens,
            "requests": u.requests,
        },
        raw=None if trace is None else trace.raw_output,
        plan=None if trace is None else trace.plan,
    )


def run_virtual(
    env: Any,
    game: Game,
    seats: Mapping[str, Seat],
    config: MatchConfig,
    log: EpisodeLog,
    progress: Callable[[MatchProgress], None] | None,
    t_wall0: float,
    final_infos: dict[str, Any],
) -> str:
    """Play the env to its end in virtual time; returns the end reason.

    ``final_infos`` receives a copy of every agent's ``info`` at the end (PettingZoo drops them
    as the finished agents are stepped out).

    End reasons: ``terminated``/``truncated`` (the env ended), ``forfeit`` (at most one agent
    left), ``max_decisions``, ``max_wall``.
    """
    decisions = 0
    last_t_us = 0
    reason = "terminated"
    for agent_id in env.agent_iter():
        seat = seats[agent_id]
        obs, info, ended = start_turn(env, seat, final_infos)
        if ended is not None:
            reason = ended
            continue
        t_us = game.time_us(env, agent_id, info)
        last_t_us = max(last_t_us, t_us)
        if seat.forfeited:
            env.step(TimedAction(game.idle_action(agent_id), FORFEIT_IDLE_MS))
            continue
        if config.max_decisions is not None and decisions >= config.max_decisions:
            return "max_decisions"
        if config.max_wall_s is not None and time.perf_counter() - t_wall0 > config.max_wall_s:
            return "max_wall"

        turn = seat.decide(game.observation(agent_id, obs, info))
        if turn.timed_out:
            seat.stats.timeouts += 1
            seat.forfeited = seat.stats.forfeited = True
            log.write("event", event="forfeit", agent=agent_id, t_us=t_us, reason=turn.error)
            if sum(not s.forfeited for s in seats.values()) <= 1:
                return "forfeit"
            env.step(TimedAction(game.idle_action(agent_id), FORFEIT_IDLE_MS))
            continue
        seat.count(turn)
        log_turn(log, decisions, seat, game, t_us, turn, turn.latency_ms)
        env.step(TimedAction(turn.decision.action, turn.latency_ms))
        decisions += 1
        if progress is not None:
            progress(
                MatchProgress.of(game, env, seats, decisions, t_us, time.perf_counter() - t_wall0, "virtual")
            )
    return reason
