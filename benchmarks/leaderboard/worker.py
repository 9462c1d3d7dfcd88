"""Playing one scheduled match, in whatever process the runner sends it to (pool worker, Ray task).

:func:`play_match` prepares the process (:func:`prepare_worker`: a plan-cache seat, ``apc/...``,
gets the ``apc`` LiteLLM provider registered, as ``splitsecond play`` does, and a
:class:`~splitsecond.cache.PlanFeedback` that reports how each plan's segment went, so the cache
inserts good plans), builds the seats' agents from their specs (``{serve}``/``{serve:<name>}`` replaced by the servers' ``api_base``),
wraps each in a :class:`CrashWatch` that remembers whether the agent raised and how many of its
decisions reported a failed model call, plays the match with the arena and returns a
:class:`MatchOutcome`. An agent whose first :data:`DEAD_ENDPOINT_DECISIONS` decisions all failed
stops the match with :class:`EndpointDown` (its model endpoint is gone; the runner stops the run
rather than record a match played on fallbacks). It never writes to the results database: only the
coordinator does, so a worker that dies mid-match leaves nothing half written.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from splitsecond.agents.base import Agent, Decision, EnvSpec, Observation
from splitsecond.benchmarks.leaderboard.config import DEFAULT_SERVE, substitute_serve
from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome, outcome_from_result
from splitsecond.benchmarks.leaderboard.schedule import MatchTask

logger = logging.getLogger(__name__)


DEAD_ENDPOINT_DECISIONS = 3
"""An agent whose first this-many decisions of a match all report a failed model call stops the run."""


class EndpointDown(RuntimeError):
    """An agent's model cannot be used (its endpoint does not answer, or every call fails): the run
    stops and the match stays unplayed."""


class CrashWatch:
    """An agent wrapper that records the first exception its ``reset`` or ``act`` raised, and counts
    decisions and the failed model calls they report (``Decision.error``).

    The exception still reaches the arena (which answers with the fallback action); the runner
    reads :attr:`crash` afterwards and scores the match as a forfeit.

    Args:
        agent: the wrapped agent.
    """

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.name = str(getattr(agent, "name", type(agent).__name__))
        self.crash: str | None = None
        self.decisions = 0
        self.call_errors = 0
        self.first_errors = 0
        self.last_error: str | None = None

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
        self.decisions += 1
        try:
            decision = self.agent.act(observation)
        except Exception as exc:
            self._record(exc)
            raise
        error = getattr(decision, "error", None)
        if error is not None:
            self.call_errors += 1
            self.first_errors += int(self.decisions <= DEAD_ENDPOINT_DECISIONS)
            self.last_error = str(error)[:300]
        return decision

    @property
    def endpoint_down(self) -> bool:
        """Every one of the first :data:`DEAD_ENDPOINT_DECISIONS` decisions reported a failed call."""
        return self.decisions >= DEAD_ENDPOINT_DECISIONS and self.first_errors == DEAD_ENDPOINT_DECISIONS

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


ApiBases = str | Mapping[str, str] | None
"""Server name -> ``api_base`` (:data:`DEFAULT_SERVE` for the bare ``{serve}``); a string is the
``api_base`` of the bare ``{serve}``."""


def _bases(api_bases: ApiBases) -> dict[str, str]:
    if api_bases is None:
        return {}
    if isinstance(api_bases, str):
        return {DEFAULT_SERVE: api_bases}
    return dict(api_bases)


def resolve_spec(spec: str, api_bases: ApiBases) -> str:
    """``spec`` with ``{serve}``/``{serve:<name>}`` replaced by its server's ``api_base``.

    Raises:
        ValueError: when the spec needs a server that is not running.
    """
    try:
        return substitute_serve(spec, _bases(api_bases))
    except KeyError as exc:
        which = "the embedded server" if exc.args[0] == DEFAULT_SERVE else f"the server {exc.args[0]!r}"
        raise ValueError(f"agent spec {spec!r} needs {which}, which is not running") from None


_ADAPTER_REGISTERED: tuple[str | None, str] | None = None


def prepare_worker(specs: Sequence[str], cache_db: str | None = None, adapter: str | None = None) -> None:
    """Set up this process for agents built from ``specs`` (already resolved): a plan-cache model
    (``apc/...``) gets the ``apc`` LiteLLM provider registered on the store ``cache_db`` (``None``:
    the default store), as ``splitsecond play`` does; with ``adapter`` (``<litellm model>@<api_base>``,
    resolved) the cache adapts plans with that cheap model instead of each agent's own. Idempotent.

    Raises:
        ValueError: when the plan cache store cannot be opened or the adapter is not a model.
    """
    from splitsecond.agents.specs import parse_agent_spec

    global _ADAPTER_REGISTERED
    for text in specs:
        try:
            parsed = parse_agent_spec(text)
        except ValueError:
            continue  # make_agent reports it
        if parsed.kind == "llm" and parsed.target.startswith("apc/"):
            if adapter is None:
                from splitsecond.cache import ensure_registered

                ensure_registered(cache_db)
            elif (cache_db, adapter) != _ADAPTER_REGISTERED:
                from splitsecond.cache import ModelClient, PlanCache, register

                model, _, api_base = adapter.partition("@")
                try:
                    register(PlanCache(cache_db, cheap=ModelClient(model, api_base or None)))
                except (OSError, RuntimeError) as exc:
                    raise ValueError(
                        f"cannot open the plan cache store {cache_db or 'default'}: {exc}"
                    ) from exc
                _ADAPTER_REGISTERED = (cache_db, adapter)
            return


def _endpoint_of(spec: str) -> str:
    from splitsecond.agents.specs import parse_agent_spec

    try:
        api_base = parse_agent_spec(spec).api_base
    except ValueError:
        api_base = None
    return f"endpoint {api_base}" if api_base else "no endpoint given"


def play_match(
    task: MatchTask,
    api_bases: ApiBases = None,
    out_root: str | None = None,
    cache_db: str | None = None,
    adapter: str | None = None,
) -> MatchOutcome:
    """Play ``task`` with the arena and return its outcome.

    Args:
        task: the scheduled match.
        api_bases: the servers' ``api_base`` by name, for specs with ``{serve...}`` (see
            :data:`ApiBases`).
        out_root: folder under which the match's episode log and replay are written (in
            ``<out_root>/<key>/``); ``None`` keeps nothing.
        cache_db: plan cache store of ``apc/`` agents (``None``: the default store).
        adapter: the plan cache's cheap model, ``model@api_base`` (the base may hold
            ``{serve:<name>}``); ``None``: each agent's own model.

    Raises:
        EndpointDown: when an agent's first :data:`DEAD_ENDPOINT_DECISIONS` decisions all failed.
        Exception: when the match cannot be set up (an agent that cannot be built, a bad env
            setting); the runner retries it. Agents failing *during* play never raise here.
    """
    from splitsecond.agents.arena import MatchConfig, game_for, run_match
    from splitsecond.agents.specs import make_agent

    specs = [resolve_spec(s.spec, api_bases) for s in task.seats]
    prepare_worker(specs, cache_db, resolve_spec(adapter, api_bases) if adapter is not None else None)
    agents = [_with_plan_feedback(make_agent(spec), spec, task.env) for spec in specs]
    watches = [CrashWatch(agent) for agent in agents]
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

    def check_endpoints(_progress: Any) -> None:
        for seat, spec, watch in zip(task.seats, specs, watches, strict=True):
            if watch.endpoint_down:
                raise EndpointDown(
                    f"agent {seat.name!r}: its first {DEAD_ENDPOINT_DECISIONS} decisions all failed "
                    f"(last: {watch.last_error}); its model ({_endpoint_of(spec)}) cannot be used. The run "
                    "stops; the match stays unplayed (fix the model or its server and run again to resume)"
                )

    ids = game_for(task.env_id).agent_ids(len(task.seats))
    latency = {agent_id: seat.latency for agent_id, seat in zip(ids, task.seats, strict=True)}
    result = run_match(
        dict(zip(ids, watches, strict=True)), config, latency=latency, progress=check_endpoints
    )
    for agent in agents:  # the last plan's segment: reported now, not when the process ends
        flush = getattr(agent, "flush", None)
        if callable(flush):
            flush()
    crashes = {i: w.crash for i, w in enumerate(watches) if w.crash is not None}
    versions = {i: _prompt_version(w.agent) for i, w in enumerate(watches)}
    return outcome_from_result(
        task, result, crashes, worker=f"{socket.gethostname()}:{os.getpid()}", prompt_versions=versions
    )


def _with_plan_feedback(agent: Any, spec: str, env: str) -> Any:
    """``agent`` wrapped in a :class:`~splitsecond.cache.PlanFeedback` when its model goes through the
    plan cache (``apc/...``), so the segment played under each of its plans is reported to the cache
    (scored with the env's reward, as the plan cache benchmark does) and good plans get inserted:
    without it a leaderboard's plan cache only ever looks up. Other agents come back unchanged."""
    from splitsecond.agents.specs import parse_agent_spec

    try:
        parsed = parse_agent_spec(spec)
    except ValueError:
        return agent
    if parsed.kind != "llm" or not parsed.target.startswith("apc/"):
        return agent
    from splitsecond.benchmarks.plan_cache import ENVS
    from splitsecond.cache import PlanFeedback
    from splitsecond.cache.layer import registered

    handler = registered()
    if handler is None or env not in ENVS:
        return agent
    return PlanFeedback(agent, handler.cache, ENVS[env].reward_fn)


def _prompt_version(agent: Any) -> str | None:
    version = getattr(agent, "prompt_version", None)
    return None if version is None else str(version)
