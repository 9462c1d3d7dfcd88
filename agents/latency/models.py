"""The latency models: wall, fixed, declared, token (profile) and token budget.

========== ============================================================ =================
name       latency charged to a decision                                deterministic
========== ============================================================ =================
wall       the measured wall time of the agent's call                   no
fixed      a constant number of milliseconds                            yes
paused     nothing: the world waits while the agent thinks (quality      yes
           alone; pair it with the env's decision cadence)
declared   the decision's own ``latency_ms`` (built-in fighters state   if the fallback is
           their reaction time); a fallback model when it is ``None``
token      ``requests*(rtt + a) + b*uncached + c*cached + tpot*out``    yes
           from a :class:`~splitsecond.agents.latency.profile.LatencyProfile`
budget     ``ceil(completion_tokens / N) * step_ms``: the world advances yes
           one env step per N decoded tokens (as in RealtimeGym)
========== ============================================================ =================
"""

from __future__ import annotations

import math

from splitsecond.agents.base import Decision
from splitsecond.agents.latency.base import LatencyModel
from splitsecond.agents.latency.profile import LatencyProfile, load_profile


def _check_ms(value: float, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number of milliseconds >= 0, got {value!r}")
    return float(value)


class WallLatency:
    """Charges the measured wall time of the call: what this machine really took."""

    name = "wall"

    def latency_ms(self, decision: Decision, measured_ms: float) -> float:
        """Return ``measured_ms``."""
        return _check_ms(measured_ms, "measured_ms")

    def describe(self) -> str:
        """``wall``."""
        return "wall (measured)"


class FixedLatency:
    """Charges the same latency to every decision.

    Args:
        ms: the latency in milliseconds (>= 0).
    """

    name = "fixed"

    def __init__(self, ms: float) -> None:
        self.ms = _check_ms(ms, "fixed latency")

    def latency_ms(self, decision: Decision, measured_ms: float) -> float:
        """Return the fixed latency."""
        return self.ms

    def describe(self) -> str:
        """e.g. ``fixed 50 ms``."""
        return f"fixed {self.ms:g} ms"


class PausedLatency:
    """Charges nothing: the world waits while the agent thinks (the quality ceiling of a model).

    Thinking is free, so the agent needs a decision cadence in game time, or it would decide on every
    frame: pair it with the env's ``decision_interval_ms`` (StreetFighter, HFTBench), e.g. one decision
    every 100 ms of game time. A token latency model then says what that thinking costs on top.
    """

    name = "paused"

    def latency_ms(self, decision: Decision, measured_ms: float) -> float:
        """Return 0."""
        return 0.0

    def describe(self) -> str:
        """``paused``."""
        return "paused (the world waits)"


class DeclaredLatency:
    """Charges the latency the decision declares (``Decision.latency_ms``), else a fallback model.

    Built-in fighters declare their reaction time, so this is the arena's default.

    Args:
        fallback: the model used when a decision declares nothing (default: :class:`WallLatency`).
    """

    name = "declared"

    def __init__(self, fallback: LatencyModel | None = None) -> None:
        self.fallback = fallback if fallback is not None else WallLatency()

    def latency_ms(self, decision: Decision, measured_ms: float) -> float:
        """The declared latency, or the fallback model's."""
        if decision.latency_ms is not None:
            return _check_ms(decision.latency_ms, "Decision.latency_ms")
        return self.fallback.latency_ms(decision, measured_ms)

    def describe(self) -> str:
        """e.g. ``declared, else wall (measured)``."""
        return f"declared, else {self.fallback.describe()}"


class TokenLatency:
    """Charges what the decision's tokens cost on the machine of a latency profile.

    ``latency = n*(rtt + ttft_base) + ttft_per_token*uncached + ttft_per_cached_token*cached
    + tpot*completion`` with ``n = max(1, usage.requests)``.

    Args:
        profile: a :class:`LatencyProfile` or a profile name / TOML path.
        rtt_ms: overrides the profile's network round trip (e.g. a remote API vs localhost).
    """

    name = "token"

    def __init__(self, profile: LatencyProfile | str, rtt_ms: float | None = None) -> None:
        self.profile = profile if isinstance(profile, LatencyProfile) else load_profile(profile)
        self.rtt_ms = self.profile.rtt_ms if rtt_ms is None else _check_ms(rtt_ms, "rtt_ms")

    def latency_ms(self, decision: Decision, measured_ms: float) -> float:
        """Modelled latency of the decision's token usage."""
        u = decision.usage
        return self.profile.latency_ms(
            u.prompt_tokens, u.cached_tokens, u.completion_tokens, max(1, u.requests), rtt_ms=self.rtt_ms
        )

    def describe(self) -> str:
        """e.g. ``token model smollm2-135m-cpu (measured)``."""
        return f"token model {self.profile.name} ({self.profile.source})"


class TokenBudgetLatency:
    """The world advances one env step per ``tokens_per_step`` decoded tokens (RealtimeGym style).

    ``latency = ceil(completion_tokens / tokens_per_step) * step_ms``; a decision that decodes no
    token costs nothing.

    Args:
        tokens_per_step: N, decoded tokens per env step (> 0).
        step_ms: the duration of one env step (e.g. one StreetFighter frame).
    """

    name = "budget"

    def __init__(self, tokens_per_step: int, step_ms: float) -> None:
        if not isinstance(tokens_per_step, int) or isinstance(tokens_per_step, bool) or tokens_per_step <= 0:
            raise ValueError(f"tokens_per_step must be a positive integer, got {tokens_per_step!r}")
        self.tokens_per_step = tokens_per_step
        self.step_ms = _check_ms(step_ms, "step_ms")
        if self.step_ms == 0:
            raise ValueError("step_ms must be > 0")

    def latency_ms(self, decision: Decision, measured_ms: float) -> float:
        """``ceil(completion_tokens / N)`` env steps."""
        return math.ceil(decision.usage.completion_tokens / self.tokens_per_step) * self.step_ms

    def describe(self) -> str:
        """e.g. ``budget 8 tokens/step of 16.67 ms``."""
        return f"budget {self.tokens_per_step} tokens/step of {self.step_ms:.2f} ms"
