"""The agent contract: what every SplitSecond agent implements.

An agent is reset once per episode with the env's :class:`EnvSpec` and a seed, then asked for a
:class:`Decision` for each :class:`Observation`. A decision carries the action, the latency it
cost (measured or modelled), the tokens it spent and a trace for replays and the plan cache.

A user-defined agent is any class with ``reset`` and ``act``::

    class AlwaysFirst:
        name = "always-first"
        def reset(self, spec, seed=None):
            self.spec = spec
        def act(self, observation):
            return Decision(action=0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium


@dataclass(frozen=True)
class EnvSpec:
    """What an agent may know about the env it plays, given at :meth:`Agent.reset`.

    Attributes:
        env_id: Gymnasium id, e.g. ``splitsecond/StreetFighter-v0``.
        agent_id: the agent's name in a multi-agent env (``player_0`` ...); ``"agent"`` otherwise.
        action_space: the env's action space for this agent.
        observation_space: the env's observation space for this agent.
        action_names: names of the discrete actions, index-aligned, or ``None``.
        rules: a short plain-text statement of the rules, for LLM prompts.
        metadata: anything else the env wants to tell (characters, symbols, tick size ...).
    """

    env_id: str
    action_space: gymnasium.Space
    observation_space: gymnasium.Space
    agent_id: str = "agent"
    action_names: tuple[str, ...] | None = None
    rules: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """One observation handed to an agent.

    Attributes:
        data: the env's observation (an element of ``EnvSpec.observation_space``).
        text: a concise text rendering of it for LLM agents.
        time_us: simulated time of the observation, in microseconds.
        info: the env's ``info`` dict for this step.
    """

    data: Any
    text: str = ""
    time_us: int = 0
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenUsage:
    """Tokens spent on one decision; ``cached_tokens`` is the part of the prompt served from a cache.

    ``requests`` counts the model calls behind the decision (a plan-then-act decision may make two);
    0 means the agent made no model call or does not say.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.cached_tokens + other.cached_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
        )


@dataclass(frozen=True)
class Trace:
    """What happened inside one decision, for replays and the plan cache.

    Attributes:
        prompt: the messages sent to the model (the last call's, if several).
        raw_output: the model's raw text (the last call's, if several).
        parsed: the parse result of the raw output.
        error: why the decision fell back, if it did.
        plan: the plan in force for this decision (plan-then-act thinking), if any.
    """

    prompt: Any = None
    raw_output: str | None = None
    parsed: Any = None
    error: str | None = None
    plan: str | None = None


@dataclass(frozen=True)
class Decision:
    """An agent's answer to one observation.

    Attributes:
        action: an element of the env's action space.
        latency_ms: the latency this decision cost, if the agent knows it (modelled or measured);
            ``None`` lets the arena's latency model charge it.
        usage: tokens spent.
        trace: prompt, raw output and parse result, if any.
        fallback: ``True`` when the agent could not produce a valid action and used its
            documented fallback instead.
        error: a failure the agent recovered from, such as a model call that failed; the arena
            counts the decision as an error (as if the agent had raised), not only as a fallback.
    """

    action: Any
    latency_ms: float | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    trace: Trace | None = None
    fallback: bool = False
    error: str | None = None


@runtime_checkable
class Agent(Protocol):
    """The agent contract: ``reset`` once per episode, then ``act`` for each observation."""

    name: str

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Prepare for a new episode of the env described by ``spec``."""

    def act(self, observation: Observation) -> Decision:
        """Decide what to do for ``observation``."""


@runtime_checkable
class AsyncAgent(Agent, Protocol):
    """An agent that can also decide asynchronously (LLM agents), for callers that run an event loop."""

    async def aact(self, observation: Observation) -> Decision:
        """Asynchronous :meth:`Agent.act`."""
