"""Latency models: how much simulated time an agent's decision costs (see :mod:`.models`).

The same match is reproducible on a laptop and comparable with a run on an H100 when decisions
are charged by a token model built from a measured :class:`LatencyProfile` instead of the wall
clock. Profiles ship in ``profiles/*.toml``; ``splitsecond calibrate`` writes new ones.
"""

from splitsecond.agents.latency.base import LatencyModel
from splitsecond.agents.latency.factory import LATENCY_SPECS, make_latency_model
from splitsecond.agents.latency.models import (
    DeclaredLatency,
    FixedLatency,
    PausedLatency,
    TokenBudgetLatency,
    TokenLatency,
    WallLatency,
)
from splitsecond.agents.latency.profile import (
    LatencyProfile,
    available_profiles,
    load_profile,
    profile_dirs,
    profile_from_toml,
)

__all__ = [
    "LATENCY_SPECS",
    "DeclaredLatency",
    "FixedLatency",
    "PausedLatency",
    "LatencyModel",
    "LatencyProfile",
    "TokenBudgetLatency",
    "TokenLatency",
    "WallLatency",
    "available_profiles",
    "load_profile",
    "make_latency_model",
    "profile_dirs",
    "profile_from_toml",
]
