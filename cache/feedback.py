"""Outcome feedback: tells the plan cache how the segment under each plan went.

The layer sees model calls, not rewards. :class:`PlanFeedback` wraps any agent (without changing
it): it reads the plan in force from each decision's ``trace.plan``, sums a reward over the
decisions taken under that plan (``reward_fn(previous_observation, observation)``: damage traded,
equity change ...), and when the plan changes, the episode resets or the agent closes, reports
the segment with :meth:`PlanCache.report_plan`. The reward between two observations is credited to
the plan in force at the first of them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from splitsecond.cache.plan_cache import PlanCache
from splitsecond.cache.policy import Outcome

logger = logging.getLogger(__name__)

RewardFn = Callable[[Any, Any], float]
"""``reward_fn(previous_observation, observation)``: the reward earned between two observations."""


class PlanFeedback:
    """An agent wrapper that reports plan outcomes to a :class:`PlanCache` (see the module docstring).

    Args:
        agent: the wrapped agent (its ``Decision.trace.plan`` names the plan in force).
        cache: the plan cache the plans came from.
        reward_fn: the reward between two observations.

    Attributes:
        reports: how many reports ended each way (``inserted``, ``win``, ``loss`` ...).
    """

    def __init__(self, agent: Any, cache: PlanCache, reward_fn: RewardFn) -> None:
        if not callable(getattr(agent, "act", None)):
            raise TypeError(f"PlanFeedback wraps an agent with act(observation); got {type(agent).__name__}")
        if not callable(reward_fn):
            raise TypeError("reward_fn must be callable(previous_observation, observation) -> float")
        self.agent = agent
        self.cache = cache
        self.reward_fn = reward_fn
        self.name = str(getattr(agent, "name", type(agent).__name__))
        self.reports: Counter[str] = Counter()
        self._plan: str | None = None
        self._reward = 0.0
        self._decisions = 0
        self._fallbacks = 0
        self._previous: Any = None

    def __getattr__(self, name: str) -> Any:  # stats, fallback_action ... of the wrapped agent
        return getattr(self.__dict__["agent"], name)

    def flush(self) -> str | None:
        """Report the open segment now; what the cache did with it, or ``None`` if none was open."""
        if self._plan is None:
            return None
        outcome = Outcome(self._reward, self._decisions, self._fallbacks)
        plan, self._plan = self._plan, None
        self._reward, self._decisions, self._fallbacks = 0.0, 0, 0
        try:
            what = self.cache.report_plan(plan, outcome)
        except Exception:  # noqa: BLE001 - feedback must never break the agent
            logger.warning("reporting a plan outcome failed", exc_info=True)
            return None
        self.reports[what] += 1
        return what

    def reset(self, spec: Any, seed: int | None = None) -> None:
        """Report the last segment, then reset the wrapped agent."""
        self.flush()
        self._previous = None
        self.agent.reset(spec, seed)

    def _credit(self, observation: Any) -> None:
        if self._previous is not None and self._plan is not None:
            try:
                self._reward += float(self.reward_fn(self._previous, observation))
            except Exception:  # noqa: BLE001
                logger.warning("reward_fn failed; no reward credited", exc_info=True)
        self._previous = observation

    def _after(self, decision: Any) -> Any:
        trace = getattr(decision, "trace", None)
        plan = getattr(trace, "plan", None)
        if plan and plan != self._plan:
            self.flush()
            self._plan = plan
        if self._plan is not None:
            self._decisions += 1
            self._fallbacks += int(bool(getattr(decision, "fallback", False)))
        return decision

    def act(self, observation: Any) -> Any:
        """Credit the reward since the last observation, then decide with the wrapped agent."""
        self._credit(observation)
        return self._after(self.agent.act(observation))

    async def aact(self, observation: Any) -> Any:
        """Asynchronous :meth:`act` (the wrapped agent's ``aact`` if it has one)."""
        self._credit(observation)
        inner = getattr(self.agent, "aact", None)
        decision = await inner(observation) if inner is not None else self.agent.act(observation)
        return self._after(decision)

    def close(self) -> None:
        """Report the last segment and close the wrapped agent."""
        self.flush()
        closer = getattr(self.agent, "close", None)
        if callable(closer):
            closer()
