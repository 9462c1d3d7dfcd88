"""Match configuration: which env, which seed, which time mode, which limits, where to write."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("virtual", "realtime")


@dataclass(frozen=True)
class MatchConfig:
    """How to run a match.

    Attributes:
        env_id: the env, ``splitsecond/StreetFighter-v0`` or ``splitsecond/HFTBench-v0`` (the
            ``splitsecond/`` prefix may be left out).
        env_kwargs: keyword arguments of the env's multi-agent class (e.g. ``round_seconds``).
        seed: seeds the env and every agent (agent ``i`` gets ``seed + i``).
        mode: ``virtual`` (decisions computed one after the other and charged by the latency
            models; deterministic) or ``realtime`` (agents think concurrently while the world
            runs on the wall clock).
        act_timeout_s: the longest one decision may take; an agent that takes longer forfeits.
        max_decisions: stop after this many decisions in all (``None``: no limit).
        max_wall_s: stop after this much real time (``None``: no limit).
        realtime_tick_ms: in realtime mode, how often (simulated ms) an agent that is still
            thinking is polled; an answer lands at the first poll after it arrives.
        out_dir: where to write the episode log and replay (``None``: nothing written).
        gif: also export the replay as a GIF (StreetFighter).
        gif_max_frames: cap on the GIF's frames (longer matches are subsampled), to bound its cost.
    """

    env_id: str = "splitsecond/StreetFighter-v0"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = 0
    mode: str = "virtual"
    act_timeout_s: float = 30.0
    max_decisions: int | None = None
    max_wall_s: float | None = None
    realtime_tick_ms: float = 1.0
    out_dir: Path | str | None = None
    gif: bool = False
    gif_max_frames: int = 300

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"MatchConfig.mode must be one of {MODES}, got {self.mode!r}")
        if not (
            isinstance(self.act_timeout_s, int | float)
            and math.isfinite(self.act_timeout_s)
            and self.act_timeout_s > 0
        ):
            raise ValueError(
                f"MatchConfig.act_timeout_s must be a finite number > 0, got {self.act_timeout_s!r}"
            )
        if self.max_decisions is not None and (
            not isinstance(self.max_decisions, int) or self.max_decisions <= 0
        ):
            raise ValueError(
                f"MatchConfig.max_decisions must be a positive integer or None, got {self.max_decisions!r}"
            )
        if self.max_wall_s is not None and not (
            isinstance(self.max_wall_s, int | float) and self.max_wall_s > 0
        ):
            raise ValueError(f"MatchConfig.max_wall_s must be > 0 or None, got {self.max_wall_s!r}")
        if not (isinstance(self.realtime_tick_ms, int | float) and self.realtime_tick_ms > 0):
            raise ValueError(f"MatchConfig.realtime_tick_ms must be > 0, got {self.realtime_tick_ms!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"MatchConfig.seed must be an integer or None, got {self.seed!r}")
        if not isinstance(self.gif_max_frames, int) or self.gif_max_frames <= 0:
            raise ValueError(
                f"MatchConfig.gif_max_frames must be a positive integer, got {self.gif_max_frames!r}"
            )
        if "/" not in self.env_id:
            object.__setattr__(self, "env_id", f"splitsecond/{self.env_id}")
