"""Playing one scheduled match, in whatever process the runner sends it to (pool worker, Ray task).

:func:`play_match` builds the seats' agents from their specs (``{serve}`` replaced by the
server's ``api_base``), wraps each in a :class:`CrashWatch` that remembers whether the agent
raised, plays the match with the arena and returns a :class:`MatchOutcome`. It never writes to the
results database: only the coordinator does, so a worker that dies mid-match leaves nothing half
written.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from splitsecond.agents.base import Agent, Decision, EnvSpec, Observation
from splitsecond.benchmarks.leaderboard.config import SERVE_PLACEHOLDER
from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome, outcome_from_result
from splitsecond.benchmarks.leaderboard.schedule import MatchTask

logger = logging.getLogger(__name__)


class CrashWatch:
    """An agent wrapper that records the first exception its ``reset`` or ``act`` raised.

    The exception still reaches the arena (which answers with the fallback action); the runner
    reads :attr:`crash` afterwards and scores the match as a forfeit.

    Args:
        agent: the wrapped agent.
    """

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.name = str(getattr(agent, "name", type(agent).__name__))
        self.crash: str | None = None

    def _record(self, exc: BaseException) -> None:
        if self.crash is None:
            self.crash = f"{type(exc).__name__}: {exc}"[:500]

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """The agent's ``reset`` (if it has one)."""
        reset = getattr(self.agent, "reset", None)
        if reset is None:
            return
        try:
            reset(spec, seed)
        except Exception as exc:
            self._record(exc)
            raise

    def act(self, observation: Observation) -> Decision:
        """The agent's ``act``."""
        try:
            return self.agent.act(observation)
        except Exception as exc:
            self._record(exc)
            raise

    def fallback_action(self) -> Any:
        """The agent's own fallback action (``AttributeError`` when it has none)."""
        own = getattr(self.agent, "fallback_action", None)
        if own is None:
            raise AttributeError("no fallback_action")
        return own()

    def close(self) -> None:
        """The agent's ``close`` (if it has one)."""
        closer = getattr(self.agent, "close", None)
        if callable(closer):
            closer()


def resolve_spec(spec: str, api_base: str | None) -> str:
    """``spec`` with ``{serve}`` replaced by ``api_base``.

    Raises:
        ValueError: when the spec needs a server and none runs.
    """
    if SERVE_PLACEHOLDER not in spec:
        return spec
    if api_base is None:
        raise ValueError(f"agent spec {spec!r} needs the embedded server, which is not running")
    return spec.replace(SERVE_PLACEHOLDER, api_base)


def play_match(task: MatchTask, api_base: str | None = None, out_root: str | None = None) -> MatchOutcome:
    """Play ``task`` with the arena and return its outcome.

    Args:
        task: the scheduled match.
        api_base: the embedded server's ``api_base`` for specs with ``{serve}``.
        out_root: folder under which the match's episode log and replay are written (in
            ``<out_root>/<key>/``); ``None`` keeps nothing.

    Raises:
        Exception: when the match cannot be set up (an agent that cannot be built, a bad env
            setting); the runner retries it. Agents failing *during* play never raise here.
    """
    from splitsecond.agents.arena import MatchConfig, game_for, run_match
    from splitsecond.agents.specs import make_agent

    watches = [CrashWatch(make_agent(resolve_spec(s.spec, api_base))) for s in task.seats]
    config = MatchConfig(
        env_id=task.env_id,
        env_kwargs=dict(task.env_kwargs),
        seed=task.seed,
        mode=task.mode,
        act_timeout_s=task.act_timeout_s,
        max_decisions=task.max_decisions,
        max_wall_s=task.max_wall_s,
        out_dir=str(Path(out_root) / task.key) if out_root is not None else None,
    )
    ids = game_for(task.env_id).agent_ids(len(task.seats))
    latency = {agent_id: seat.latency for agent_id, seat in zip(ids, task.seats, strict=True)}
    result = run_match(dict(zip(ids, watches, strict=True)), config, latency=latency)
    crashes = {i: w.crash for i, w in enumerate(watches) if w.crash is not None}
    return outcome_from_result(task, result, crashes, worker=f"{socket.gethostname()}:{os.getpid()}")
