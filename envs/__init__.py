"""Real-time environments: every action lands at ``t + latency`` (see :mod:`splitsecond.envs.timing`).

Importing this package registers the Gymnasium ids ``splitsecond/StreetFighter-v0`` and
``splitsecond/HFTBench-v0``; ``import splitsecond`` does it for you.
"""

from __future__ import annotations

import gymnasium

from splitsecond.envs.timing import Clock, ExplicitClock, FixedClock, TimedAction, WallClock, make_clock

__all__ = ["Clock", "ExplicitClock", "FixedClock", "TimedAction", "WallClock", "make_clock", "register_envs"]

_ENTRY_POINTS = {
    "splitsecond/StreetFighter-v0": "splitsecond.envs.streetfighter.env:StreetFighterEnv",
    "splitsecond/HFTBench-v0": "splitsecond.envs.hftbench.env:HFTBenchEnv",
}


def register_envs() -> None:
    """Register SplitSecond's Gymnasium ids (idempotent)."""
    for env_id, entry_point in _ENTRY_POINTS.items():
        if env_id not in gymnasium.registry:
            # The default clock is "wall": real thinking time makes trajectories nondeterministic.
            gymnasium.register(id=env_id, entry_point=entry_point, nondeterministic=True)


register_envs()
