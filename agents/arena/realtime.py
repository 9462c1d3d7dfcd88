"""Real-time play: agents think concurrently while the world runs on the wall clock.

The env still runs on its explicit clock, but the arena paces it so that simulated time never
runs ahead of the wall clock (the world advances at its natural rate, e.g. 60 frames per real
second). Each agent thinks in its own worker thread:

* when an agent's turn comes and it is not thinking, it gets the current observation and starts;
* while it thinks, the world goes on: at each of its turns the arena sends the env a *hold* (the
  game's "no new input" action) landing ``realtime_tick_ms`` later, so the other agents keep
  acting and the agent's previous input stays in force;
* when its answer has arrived, the action lands at ``max(arrival, t_obs + model latency)``: when
  it arrives (quantised to the poll tick), or later if the agent's latency model charges more
  (built-in fighters declare their reaction time). ``latency_ms`` in the log is the effective
  latency, observation to landing.

An agent still thinking after ``act_timeout_s`` forfeits. Results are not reproducible, by design.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from splitsecond.agents.arena.config import MatchConfig
from splitsecond.agents.arena.episode_log import EpisodeLog
from splitsecond.agents.arena.games import Game
from splitsecond.agents.arena.progress import MatchProgress
from splitsecond.agents.arena.seat import Seat, Turn
from splitsecond.agents.arena.virtual import FORFEIT_IDLE_MS, log_turn, start_turn
from splitsecond.agents.base import Decision
from splitsecond.envs.timing import TimedAction, ms_to_us


@dataclass
class _Thinking:
    future: Future
    t_us: int
    wall0: float


def _timed_act(seat: Seat, observation: Any) -> tuple[Any, float]:
    result = seat.agent.act(observation)
    return result, time.perf_counter()


def run_realtime(
    env: Any,
    game: Game,
    seats: Mapping[str, Seat],
    config: MatchConfig,
    log: EpisodeLog,
    progress: Callable[[MatchProgress], None] | None,
    t_wall0: float,
    final_infos: dict[str, Any],
) -> str:
    """Play the env to its end in real time; returns the end reason (as :func:`run_virtual`)."""
    thinking: dict[str, _Thinking] = {}
    last_land_us: dict[str, int] = {}
    decisions = 0
    reason = "terminated"
    tick_ms = config.realtime_tick_ms
    try:
        for agent_id in env.agent_iter():
            seat = seats[agent_id]
            obs, info, ended = start_turn(env, seat, final_infos)
            if ended is not None:
                reason = ended
                continue
            t_us = game.time_us(env, agent_id, info)
            # Pace the world: simulated time may not run ahead of the wall clock.
            ahead = t_wall0 + t_us / 1e6 - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            now = time.perf_counter()
            if config.max_wall_s is not None and now - t_wall0 > config.max_wall_s:
                return "max_wall"
            if seat.forfeited:
                env.step(TimedAction(game.idle_action(agent_id), FORFEIT_IDLE_MS))
                continue
            if config.max_decisions is not None and decisions >= config.max_decisions:
                return "max_decisions"

            pending = thinking.get(agent_id)
            if pending is None:
                observation = game.observation(agent_id, obs, info)
                pending = _Thinking(seat.worker.submit(_timed_act, seat, observation), t_us, now)
                thinking[agent_id] = pending

            if pending.future.done():
                del thinking[agent_id]
                turn = _finish(seat, pending)
                arrival_us = pending.t_us + ms_to_us(turn.measured_ms)
                land_us = max(arrival_us, pending.t_us + ms_to_us(turn.latency_ms), t_us)
                effective_ms = (land_us - pending.t_us) / 1e3
                seat.count(turn, latency_ms=effective_ms)
                log_turn(log, decisions, seat, game, pending.t_us, turn, effective_ms)
                env.step(TimedAction(turn.decision.action, (land_us - t_us) / 1e3))
                last_land_us[agent_id] = land_us
                decisions += 1
                if progress is not None:
                    progress(MatchProgress.of(game, env, seats, decisions, t_us, now - t_wall0, "realtime"))
                continue

            if now - pending.wall0 > seat.timeout_s:
                seat.stats.timeouts += 1
                seat.forfeited = seat.stats.forfeited = True
                seat.worker.abandon()
                del thinking[agent_id]
                log.write("event", event="forfeit", agent=agent_id, t_us=t_us, reason="timeout")
                if sum(not s.forfeited for s in seats.values()) <= 1:
                    return "forfeit"
                env.step(TimedAction(game.idle_action(agent_id), FORFEIT_IDLE_MS))
                continue

            hold, guard_ms = game.hold_action(agent_id, seat.previous_action)
            earliest_us = last_land_us.get(agent_id, 0) + ms_to_us(guard_ms)
            wait_ms = max(tick_ms, (earliest_us - t_us) / 1e3)
            env.step(TimedAction(hold, wait_ms))
    finally:
        for agent_id in thinking:
            seats[agent_id].worker.abandon()
    return reason


def _finish(seat: Seat, pending: _Thinking) -> Turn:
    """Turn a finished future into a :class:`Turn` (fallback on error or invalid action)."""
    try:
        raw, t_done = pending.future.result()
    except Exception as exc:  # noqa: BLE001 - an agent that raises gets its fallback
        measured = (time.perf_counter() - pending.wall0) * 1e3
        error = f"{type(exc).__name__}: {exc}"
        decision = Decision(action=seat.fallback_action(), fallback=True)
        latency, _ = seat.charge(decision, measured)
        return Turn(decision, measured, latency, error)
    measured = (t_done - pending.wall0) * 1e3
    decision, error = seat.check(raw)
    latency, model_error = seat.charge(decision, measured)
    return Turn(decision, measured, latency, error or model_error)
