"""A seat at the match: one agent with its latency model, worker thread, fallback and statistics.

:meth:`Seat.decide` is the only place the arena calls an agent. Whatever the agent does (answers,
raises, returns an invalid action, hangs) it returns a :class:`Turn`; an exception or an invalid
action becomes the fallback action (the agent's own ``fallback_action()`` if it has one, else the
env's idle action) and is counted; a hang past the limit is reported as ``timed_out`` so the arena
can declare a forfeit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from splitsecond.agents.arena.isolation import AgentTimeout, AgentWorker
from splitsecond.agents.arena.result import AgentStats
from splitsecond.agents.base import Agent, Decision, EnvSpec, Observation, Trace
from splitsecond.agents.latency.base import LatencyModel
from splitsecond.agents.llm_agent import idle_action

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    """What one call to an agent produced.

    Attributes:
        decision: the decision to apply (a fallback one if the agent failed).
        measured_ms: wall time of the call.
        latency_ms: the latency charged by the seat's model.
        error: what went wrong, if anything.
        timed_out: the agent did not answer within the limit.
    """

    decision: Decision
    measured_ms: float
    latency_ms: float
    error: str | None = None
    timed_out: bool = False


class Seat:
    """One agent in a match.

    Args:
        agent_id: the agent's id in the env.
        agent: the agent.
        latency: the latency model charged to its decisions.
        timeout_s: the longest the arena waits for one decision.
        validate: ``validate(action, spec)`` tells whether the env accepts an action (default:
            ``spec.action_space.contains``).
    """

    def __init__(
        self,
        agent_id: str,
        agent: Agent,
        latency: LatencyModel,
        timeout_s: float,
        validate: Callable[[Any, EnvSpec], bool] | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.agent = agent
        self.latency = latency
        self.timeout_s = timeout_s
        self.name = str(getattr(agent, "name", type(agent).__name__))
        self.worker = AgentWorker(f"{agent_id}-{self.name}")
        self.stats = AgentStats(agent_id=agent_id, name=self.name, latency_model=latency.describe())
        self.spec: EnvSpec | None = None
        self.forfeited = False
        self.previous_action: object | None = None
        self.validate = validate

    def reset(self, spec: EnvSpec, seed: int | None) -> str | None:
        """Reset the agent (in its worker, with the timeout); returns an error message or ``None``."""
        self.spec = spec
        reset = getattr(self.agent, "reset", None)
        if reset is None:
            return None
        try:
            self.worker.call(reset, spec, seed, timeout_s=self.timeout_s)
        except AgentTimeout as exc:
            return f"reset timed out: {exc}"
        except Exception as exc:  # noqa: BLE001 - reported, the match goes on
            return f"reset raised {type(exc).__name__}: {exc}"
        return None

    def fallback_action(self) -> object:
        """The agent's own fallback action if it offers one, else the env's idle action."""
        assert self.spec is not None
        own = getattr(self.agent, "fallback_action", None)
        if callable(own):
            try:
                action = own()
                if self._valid(action):
                    return action
            except Exception:  # noqa: BLE001
                logger.debug("%s: fallback_action() failed", self.name, exc_info=True)
        return idle_action(self.spec)

    def _valid(self, action: Any) -> bool:
        assert self.spec is not None
        try:
            if self.validate is not None:
                return bool(self.validate(action, self.spec))
            return bool(self.spec.action_space.contains(action))
        except Exception:  # noqa: BLE001 - a weird action object is just invalid
            return False

    def _fallback(self, error: str) -> Decision:
        return Decision(action=self.fallback_action(), trace=Trace(error=error), fallback=True)

    def check(self, decision: object) -> tuple[Decision, str | None]:
        """Validate what the agent returned; an invalid result becomes a fallback decision.

        The error returned is the invalid result, or the failure the agent reported in
        ``Decision.error`` (a model call that failed): both count as errors.
        """
        assert self.spec is not None
        if not isinstance(decision, Decision):
            return self._fallback(
                f"act returned {type(decision).__name__}, not a Decision"
            ), "bad return type"
        if not self._valid(decision.action):
            error = f"invalid action {decision.action!r}"
            return Decision(
                action=self.fallback_action(), usage=decision.usage, trace=decision.trace, fallback=True
            ), error
        return decision, decision.error

    def charge(self, decision: Decision, measured_ms: float) -> tuple[float, str | None]:
        """The latency to charge; a model error charges the measured time and is reported."""
        try:
            latency = float(self.latency.latency_ms(decision, measured_ms))
            if not math.isfinite(latency) or latency < 0:
                raise ValueError(f"latency model returned {latency!r}")
            return latency, None
        except Exception as exc:  # noqa: BLE001
            return max(0.0, measured_ms), f"latency model: {exc}"

    def decide(self, observation: Observation) -> Turn:
        """Ask the agent for a decision in its worker thread, within the seat's timeout."""
        try:
            raw, measured = self.worker.call(self.agent.act, observation, timeout_s=self.timeout_s)
        except AgentTimeout as exc:
            return Turn(
                self._fallback(str(exc)), self.timeout_s * 1e3, 0.0, f"timeout: {exc}", timed_out=True
            )
        except Exception as exc:  # noqa: BLE001 - an agent that raises gets its fallback
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("%s (%s) raised: %s", self.agent_id, self.name, error)
            decision = self._fallback(error)
            latency, _ = self.charge(decision, 0.0)
            return Turn(decision, 0.0, latency, error)
        decision, error = self.check(raw)
        latency, model_error = self.charge(decision, measured)
        return Turn(decision, measured, latency, error or model_error)

    def count(self, turn: Turn, latency_ms: float | None = None) -> None:
        """Add a turn to the statistics (``latency_ms`` overrides the charged latency)."""
        s = self.stats
        s.decisions += 1
        s.fallbacks += int(turn.decision.fallback)
        s.errors += int(turn.error is not None and not turn.timed_out)
        s.timeouts += int(turn.timed_out)
        s.latencies_ms.append(turn.latency_ms if latency_ms is None else latency_ms)
        s.measured_ms.append(turn.measured_ms)
        s.usage = s.usage + turn.decision.usage
        if not turn.decision.fallback:
            self.previous_action = turn.decision.action

    def close(self) -> None:
        """Stop the worker thread (and the agent's process, for a process-isolated agent)."""
        self.worker.close()
        closer = getattr(self.agent, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:  # noqa: BLE001
                logger.debug("%s: close() failed", self.name, exc_info=True)
