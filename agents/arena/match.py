"""Run a match: agents in an env, virtual or real time, with a log, a replay and a result.

::

    from splitsecond.agents.arena import MatchConfig, run_match

    result = run_match(
        {"player_0": "openai/smollm2-135m@http://127.0.0.1:8000/v1", "player_1": "zoner"},
        MatchConfig(env_id="StreetFighter-v0", seed=1, env_kwargs={"round_seconds": 30}, out_dir="runs/x"),
        latency={"player_0": "token:smollm2-135m-cpu"},
    )

Agents may be objects or spec strings (:mod:`splitsecond.agents.specs`), as a mapping from the
env's agent ids or a sequence in seat order. ``latency`` is one model (or spec) for every agent
or a mapping per agent id; an agent without one is charged ``declared`` (its own
``Decision.latency_ms``, else the measured wall time). Agent ``i`` is reset with ``seed + i``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from splitsecond.agents.arena.config import MatchConfig
from splitsecond.agents.arena.episode_log import EpisodeLog
from splitsecond.agents.arena.games import Game, game_for
from splitsecond.agents.arena.progress import MatchProgress
from splitsecond.agents.arena.realtime import run_realtime
from splitsecond.agents.arena.result import MatchResult
from splitsecond.agents.arena.seat import Seat
from splitsecond.agents.arena.virtual import run_virtual
from splitsecond.agents.base import Agent
from splitsecond.agents.latency.base import LatencyModel
from splitsecond.agents.latency.factory import make_latency_model
from splitsecond.agents.specs import make_agent

logger = logging.getLogger(__name__)

AgentLike = Agent | str
LatencyLike = LatencyModel | str


def _seat_agents(agents: Mapping[str, AgentLike] | Sequence[AgentLike], game: Game) -> dict[str, Agent]:
    if isinstance(agents, Mapping):
        ids = game.agent_ids(len(agents))
        unknown = sorted(set(agents) - set(ids))
        if unknown:
            raise ValueError(f"unknown agent ids {unknown}; {game.env_id} expects {ids}")
        return {agent_id: make_agent(agents[agent_id]) for agent_id in ids}
    agents = list(agents)
    ids = game.agent_ids(len(agents))
    return {agent_id: make_agent(a) for agent_id, a in zip(ids, agents, strict=True)}


def _latency_models(
    latency: LatencyLike | Mapping[str, LatencyLike] | None, ids: list[str], step_ms: float | None
) -> dict[str, LatencyModel]:
    if latency is None or isinstance(latency, str | LatencyModel):
        spec = latency if latency is not None else "declared"
        return {a: make_latency_model(spec, step_ms) for a in ids}
    unknown = sorted(set(latency) - set(ids))
    if unknown:
        raise ValueError(f"latency names unknown agent ids {unknown}; agents: {ids}")
    return {a: make_latency_model(latency.get(a, "declared"), step_ms) for a in ids}


def run_match(
    agents: Mapping[str, AgentLike] | Sequence[AgentLike],
    config: MatchConfig | None = None,
    latency: LatencyLike | Mapping[str, LatencyLike] | None = None,
    progress: Callable[[MatchProgress], None] | None = None,
) -> MatchResult:
    """Play one match (see the module docstring) and return its :class:`MatchResult`.

    Raises:
        ValueError: for a bad agent spec, latency spec or agent ids. Failures of the agents
            during play never raise: they are logged, counted and answered with fallbacks or
            forfeits.
    """
    config = config or MatchConfig()
    game = game_for(config.env_id)
    seated = _seat_agents(agents, game)
    ids = list(seated)
    models = _latency_models(latency, ids, game.step_ms)
    env = game.make_env(ids, dict(config.env_kwargs))
    out_dir = Path(config.out_dir) if config.out_dir is not None else None
    log = EpisodeLog(out_dir / "episode.jsonl" if out_dir is not None else None)
    seats: dict[str, Seat] = {}
    t_wall0 = time.perf_counter()
    try:
        env.reset(seed=config.seed)
        for i, agent_id in enumerate(ids):
            seat = Seat(
                agent_id,
                seated[agent_id],
                models[agent_id],
                config.act_timeout_s,
                validate=lambda action, spec, _id=agent_id: game.valid_action(_id, action, spec),
            )
            seats[agent_id] = seat
            error = seat.reset(game.spec(env, agent_id), None if config.seed is None else config.seed + i)
            if error is not None:
                logger.warning("%s (%s): %s", agent_id, seat.name, error)
                seat.stats.errors += 1
                log.write("event", event="reset_error", agent=agent_id, error=error)
                if "timed out" in error:
                    seat.forfeited = seat.stats.forfeited = True
        log.write(
            "match",
            env_id=game.env_id,
            seed=config.seed,
            mode=config.mode,
            env_kwargs=dict(config.env_kwargs),
            agents={a: {"name": s.name, "latency": s.latency.describe()} for a, s in seats.items()},
        )
        t_wall0 = time.perf_counter()
        final_infos: dict[str, Any] = {}
        if sum(not s.forfeited for s in seats.values()) <= 1 and len(seats) > 1:
            reason = "forfeit"
        else:
            runner = run_virtual if config.mode == "virtual" else run_realtime
            reason = runner(env, game, seats, config, log, progress, t_wall0, final_infos)
        wall_s = time.perf_counter() - t_wall0
        scores = {a: s.stats.score for a, s in seats.items()}
        active = [a for a, s in seats.items() if not s.forfeited]
        if reason == "forfeit" or (any(s.forfeited for s in seats.values()) and len(active) == 1):
            winner: str | None = active[0] if len(active) == 1 else None
            _, details = game.outcome(env, scores, final_infos)
            details = {**details, "forfeited": [a for a, s in seats.items() if s.forfeited]}
        else:
            winner, details = game.outcome(env, scores, final_infos)
        replay_path = gif_path = None
        if out_dir is not None:
            try:
                replay_path, gif_path = game.save_replay(env, out_dir, config.gif, config.gif_max_frames)
            except Exception as exc:  # noqa: BLE001 - a failed replay must not lose the result
                logger.warning("could not save the replay: %s", exc)
        result = MatchResult(
            env_id=game.env_id,
            seed=config.seed,
            mode=config.mode,
            winner=winner,
            scores=scores,
            agents={a: s.stats for a, s in seats.items()},
            end_reason=reason,
            sim_time_s=game.sim_time_s(env),
            wall_s=wall_s,
            details=details,
            log_path=log.path,
            replay_path=replay_path,
            gif_path=gif_path,
        )
        summary = result.summary()
        log.write("result", **summary)
        if out_dir is not None:
            (out_dir / "result.json").write_text(json.dumps(log.records[-1], indent=2), encoding="utf-8")
        return result
    finally:
        log.close()
        for seat in seats.values():
            seat.close()
        try:
            env.close()
        except Exception:  # noqa: BLE001
            logger.debug("env.close() failed", exc_info=True)


def match_log_records(result: MatchResult) -> list[dict[str, Any]]:
    """Read back the episode log of a result (it must have been written)."""
    from splitsecond.agents.arena.episode_log import read_episode_log

    if result.log_path is None:
        raise ValueError("this match wrote no episode log (MatchConfig.out_dir was None)")
    return read_episode_log(result.log_path)
