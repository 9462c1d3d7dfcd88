"""The timing contract shared by every SplitSecond environment.

Every action carries a latency. An agent that observed the world at simulated time ``t`` acts at
``t + latency``; until then the world keeps moving (the opponent acts, quotes reprice, the round
clock runs) and the agent's previous input stays in force.

Simulated time is an integer number of **microseconds** since the episode started, so that time
arithmetic is exact and a trajectory is reproducible bit for bit.

A *clock* decides how much latency each action carries:

``wall`` (:class:`WallClock`, the default of ``gymnasium.make``)
    The env measures the real time the agent spent between receiving an observation and
    returning its action (``time.perf_counter_ns``). Any agent, plugged in as it is, feels time
    pass while it thinks. Not reproducible, by design.
``explicit`` (:class:`ExplicitClock`)
    The latency comes with the action, as ``TimedAction(action, latency_ms)``. This is what the
    arena and the latency models use; it is deterministic. A bare action carries
    ``default_ms`` (0 unless configured), so generic tooling such as Gymnasium's ``check_env``
    still works.
``fixed`` (:class:`FixedClock`)
    A constant latency for every action (RL training, tests).

Contract: same seed + same sequence of ``(action, latency)`` pairs => identical trajectory.

Environments use a clock like this::

    clock = make_clock("explicit")
    clock.observed()                      # when an observation is handed out
    action, latency_us = clock.charge(a)  # when the agent's action comes back
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

US_PER_MS = 1_000
US_PER_S = 1_000_000

CLOCK_NAMES = ("wall", "explicit", "fixed")


@dataclass(frozen=True, slots=True)
class TimedAction:
    """An action together with the latency it took to decide it.

    Attributes:
        action: the env's action, an element of its ``action_space``.
        latency_ms: milliseconds between the observation and this action; a finite real number
            >= 0 (Python or NumPy: ``np.float32(50.0)`` and ``np.int64(3)`` are fine; booleans are
            refused). Stored as a Python ``float``.
    """

    action: Any
    latency_ms: float

    def __post_init__(self) -> None:
        value = self.latency_ms
        # numbers.Real covers NumPy scalars; bool is an int subclass but is not a latency.
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"latency_ms must be a finite number, got {value!r}")
        if value < 0:
            raise ValueError(f"latency_ms must be >= 0, got {value!r}")
        object.__setattr__(self, "latency_ms", float(value))


def ms_to_us(latency_ms: float) -> int:
    """Convert milliseconds to integer microseconds, rounding to the nearest microsecond."""
    return int(round(latency_ms * US_PER_MS))


@runtime_checkable
class Clock(Protocol):
    """Decides the latency charged to each action (see the module docstring)."""

    name: str

    def observed(self) -> None:
        """Mark the moment an observation was handed to the agent."""

    def charge(self, action: Any) -> tuple[Any, int]:
        """Return ``(bare_action, latency_us)`` for an action returned by the agent."""


class WallClock:
    """Charges the real time between :meth:`observed` and :meth:`charge`.

    A :class:`TimedAction` is accepted too; its stated latency is ignored in favour of the
    measured one, so that a slow agent cannot claim to be fast.
    """

    name = "wall"

    def __init__(self) -> None:
        self._t0: int | None = None

    def observed(self) -> None:
        self._t0 = time.perf_counter_ns()

    def charge(self, action: Any) -> tuple[Any, int]:
        now = time.perf_counter_ns()
        elapsed_us = 0 if self._t0 is None else max(0, (now - self._t0) // 1_000)
        self._t0 = None
        if isinstance(action, TimedAction):
            action = action.action
        return action, int(elapsed_us)


class ExplicitClock:
    """Charges the latency that comes with each :class:`TimedAction`; deterministic.

    Args:
        default_ms: latency of a bare (untimed) action.
    """

    name = "explicit"

    def __init__(self, default_ms: float = 0.0) -> None:
        TimedAction(None, default_ms)  # validates
        self.default_us = ms_to_us(default_ms)

    def observed(self) -> None:
        pass

    def charge(self, action: Any) -> tuple[Any, int]:
        if isinstance(action, TimedAction):
            return action.action, ms_to_us(action.latency_ms)
        return action, self.default_us


class FixedClock:
    """Charges the same latency to every action; a :class:`TimedAction`'s latency is ignored.

    Args:
        latency_ms: the constant latency.
    """

    name = "fixed"

    def __init__(self, latency_ms: float = 0.0) -> None:
        TimedAction(None, latency_ms)  # validates
        self.latency_us = ms_to_us(latency_ms)

    def observed(self) -> None:
        pass

    def charge(self, action: Any) -> tuple[Any, int]:
        if isinstance(action, TimedAction):
            action = action.action
        return action, self.latency_us


def make_clock(clock: str | Clock = "wall", latency_ms: float = 0.0) -> Clock:
    """Build a clock from its name (``wall``, ``explicit``, ``fixed``) or pass one through.

    Args:
        clock: a clock name or an object implementing :class:`Clock`.
        latency_ms: the constant latency of ``fixed``, or the default latency of bare actions
            under ``explicit``; ignored by ``wall``.

    Raises:
        ValueError: for an unknown clock name or an invalid latency.
    """
    if isinstance(clock, str):
        if clock == "wall":
            return WallClock()
        if clock == "explicit":
            return ExplicitClock(latency_ms)
        if clock == "fixed":
            return FixedClock(latency_ms)
        raise ValueError(f"unknown clock {clock!r}; valid clocks: {', '.join(CLOCK_NAMES)}")
    if isinstance(clock, Clock):
        return clock
    raise TypeError(f"clock must be one of {CLOCK_NAMES} or a Clock, got {type(clock).__name__}")
