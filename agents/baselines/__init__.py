"""Baseline agents: random, the StreetFighter built-in fighters, the HFTBench baselines (``hft-random`` too).

:func:`builtin_agents` maps every built-in name (what ``splitsecond play --agent NAME`` accepts)
to a factory taking the agent's options as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable

from splitsecond.agents.base import Agent
from splitsecond.agents.baselines.hft_random import HFTRandomTrader
from splitsecond.agents.baselines.hftbench import HFTMarketMaker, HFTMomentumTrader, HFTNewsReactor
from splitsecond.agents.baselines.random_agent import RandomAgent
from splitsecond.agents.baselines.streetfighter import BuiltinFighter, fighter_names


def builtin_agents() -> dict[str, Callable[..., Agent]]:
    """Every built-in agent by name: ``random``, each StreetFighter fighter, the HFTBench baselines."""
    factories: dict[str, Callable[..., Agent]] = {"random": RandomAgent}
    for name in fighter_names():
        factories.setdefault(name, lambda _name=name, **kw: BuiltinFighter(_name, **kw))
    for cls in (HFTMarketMaker, HFTMomentumTrader, HFTNewsReactor, HFTRandomTrader):
        factories[cls.name] = cls
    return factories


__all__ = [
    "BuiltinFighter",
    "HFTMarketMaker",
    "HFTMomentumTrader",
    "HFTNewsReactor",
    "HFTRandomTrader",
    "RandomAgent",
    "builtin_agents",
    "fighter_names",
]
