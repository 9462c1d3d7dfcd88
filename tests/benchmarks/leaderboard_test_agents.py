"""Misbehaving agents for the leaderboard tests (loaded by file path: ``.../leaderboard_test_agents.py:Crasher``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from splitsecond.agents.base import Decision


class _Idle:
    name = "idle"

    def reset(self, spec, seed=None):
        self.spec = spec
        self.n = 0

    def act(self, observation):
        self.n += 1
        return Decision(action=0, latency_ms=50.0)


class Crasher(_Idle):
    """Raises on every decision."""

    name = "crasher"

    def act(self, observation):
        raise RuntimeError("crasher blew up")


class Hanger(_Idle):
    """Never answers its second decision (sleeps far past the arena's limit)."""

    name = "hanger"

    def act(self, observation):
        self.n += 1
        if self.n >= 2:
            time.sleep(30)
        return Decision(action=0, latency_ms=50.0)


class KillOnce(_Idle):
    """Kills its whole process (os._exit) mid-match the first time; plays idle once ``marker`` exists."""

    name = "kill-once"

    def __init__(self, marker: str, always: bool = False) -> None:
        self.marker = Path(marker)
        self.always = always

    def act(self, observation):
        self.n += 1
        if self.n == 5 and (self.always or not self.marker.exists()):
            self.marker.touch()
            os._exit(3)
        return Decision(action=0, latency_ms=50.0)


class Sleeper(_Idle):
    """Takes ``seconds`` of wall time per decision (keeps a match in flight); ``base`` is accepted and
    unused, so a spec can name ``{serve}`` and make the run start its embedded server."""

    name = "sleeper"

    def __init__(self, seconds: float = 0.5, base: str = "") -> None:
        self.seconds = seconds
        self.base = base

    def act(self, observation):
        time.sleep(self.seconds)
        return Decision(action=0, latency_ms=50.0)


class ProviderProbe(_Idle):
    """Writes the LiteLLM custom providers registered in its process to ``out`` when reset (shows
    what a leaderboard worker set up before building its agents)."""

    name = "provider-probe"

    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def reset(self, spec, seed=None):
        super().reset(spec, seed)
        import sys

        litellm = sys.modules.get("litellm")
        providers = [p.get("provider") for p in getattr(litellm, "custom_provider_map", [])]
        self.out.write_text(",".join(str(p) for p in providers), encoding="utf-8")


class FailingCaller(_Idle):
    """Reports a failed model call on every decision, as an LLM agent does when its server is gone."""

    name = "failing-caller"

    def act(self, observation):
        return Decision(
            action=0, latency_ms=50.0, fallback=True, error="APIConnectionError: Connection refused"
        )
