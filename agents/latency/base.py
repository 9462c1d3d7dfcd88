"""The latency-model contract: how much simulated time a decision costs.

The arena asks an agent for a :class:`~splitsecond.agents.base.Decision`, measures the wall time
the call took, and asks the agent's latency model how many milliseconds to charge. The action then
lands at ``t + latency`` in the env (explicit clock). Choosing the model decides what a match
means: ``wall`` charges the real time (this machine), a token model charges what the same tokens
would cost on the hardware of a profile, so a laptop run reproduces an H100 run.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from splitsecond.agents.base import Decision


@runtime_checkable
class LatencyModel(Protocol):
    """Turns a decision (and the wall time it took) into the latency charged to it, in ms."""

    name: str

    def latency_ms(self, decision: Decision, measured_ms: float) -> float:
        """Milliseconds to charge ``decision``; ``measured_ms`` is the wall time of the call.

        Must return a finite number >= 0.
        """

    def describe(self) -> str:
        """A short human-readable description, e.g. ``fixed 50 ms``."""
