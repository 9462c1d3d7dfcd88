"""The random agent: a uniformly random action from the env's action space, reproducible by seed."""

from __future__ import annotations

import copy

from splitsecond.agents.base import Decision, EnvSpec, Observation


class RandomAgent:
    """Samples a uniformly random action; the same seed gives the same sequence.

    Args:
        latency_ms: the latency each decision declares (``None``: the arena's latency model
            decides).
        name: display name.
    """

    def __init__(self, latency_ms: float | None = None, name: str = "random") -> None:
        if latency_ms is not None and not (isinstance(latency_ms, int | float) and latency_ms >= 0):
            raise ValueError(f"latency_ms must be a number >= 0 or None, got {latency_ms!r}")
        self.latency_ms = latency_ms
        self.name = name
        self._space = None

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Seed a private copy of the env's action space."""
        self._space = copy.deepcopy(spec.action_space)
        self._space.seed(seed)

    def act(self, observation: Observation) -> Decision:
        """A uniformly random action."""
        if self._space is None:
            raise RuntimeError("RandomAgent.reset(spec, seed) must be called before act()")
        return Decision(action=self._space.sample(), latency_ms=self.latency_ms)
