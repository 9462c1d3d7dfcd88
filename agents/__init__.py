"""The agent SDK: the Agent contract, LLM agents, baselines, latency models and the arena.

Everything a user needs::

    from splitsecond.agents import LLMAgent, MatchConfig, run_match

    agent = LLMAgent("openai/smollm2-135m", api_base="http://127.0.0.1:8000/v1", thinking="reflex")
    result = run_match({"player_0": agent, "player_1": "balanced"}, MatchConfig(seed=1),
                       latency={"player_0": "token:smollm2-135m-cpu"})

A user-defined agent is any class with ``reset(spec, seed)`` and ``act(observation) -> Decision``
(see :mod:`splitsecond.agents.base`).
"""

from splitsecond.agents.base import Agent, AsyncAgent, Decision, EnvSpec, Observation, TokenUsage, Trace
from splitsecond.agents.baselines import BuiltinFighter, RandomAgent, builtin_agents
from splitsecond.agents.latency import (
    DeclaredLatency,
    FixedLatency,
    LatencyModel,
    LatencyProfile,
    PausedLatency,
    TokenBudgetLatency,
    TokenLatency,
    WallLatency,
    load_profile,
    make_latency_model,
)
from splitsecond.agents.llm_agent import LLMAgent, LLMAgentStats
from splitsecond.agents.parsing import ParseResult, parse_action
from splitsecond.agents.specs import AgentSpec, make_agent, parse_agent_spec
from splitsecond.agents.thinking import ChainOfThought, PlanThenAct, Reflex, parse_thinking

__all__ = [
    "Agent",
    "AgentSpec",
    "AsyncAgent",
    "BuiltinFighter",
    "ChainOfThought",
    "Decision",
    "DeclaredLatency",
    "EnvSpec",
    "FixedLatency",
    "PausedLatency",
    "LLMAgent",
    "LLMAgentStats",
    "LatencyModel",
    "LatencyProfile",
    "Observation",
    "ParseResult",
    "PlanThenAct",
    "RandomAgent",
    "Reflex",
    "TokenBudgetLatency",
    "TokenLatency",
    "TokenUsage",
    "Trace",
    "WallLatency",
    "builtin_agents",
    "load_profile",
    "make_agent",
    "make_latency_model",
    "parse_action",
    "parse_agent_spec",
    "parse_thinking",
]
