"""The main job: our engine serves SmolLM2-135M and an LLM agent fights a built-in StreetFighter.

It starts our own inference server (``splitsecond serve smollm2-135m``, the embedded SmolLM2-135M)
on a free port, seats an :class:`~splitsecond.agents.llm_agent.LLMAgent` (reflex thinking, its
answer constrained to the action names, compact rules in its prompt) against a built-in fighter,
charges the LLM's decisions with the token latency model of the shipped ``smollm2-135m-cpu``
profile (virtual time, so the result does not depend on how loaded this machine is), and writes
the episode log, the replay and a GIF under ``runs/demo/<timestamp>/``. Rounds are shortened (one
30-second round by default) so the demo runs in a couple of minutes on two CPU cores.
``offline=True`` plays two built-ins instead, without a server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEMO_MODEL = "smollm2-135m"
DEMO_PROFILE = "smollm2-135m-cpu"


def run_demo(
    opponent: str = "brawler",
    seed: int = 0,
    round_seconds: int = 30,
    rounds_to_win: int = 1,
    out_root: Path = Path("runs/demo"),
    gif: bool = True,
    offline: bool = False,
    thinking: str = "reflex",
    latency: str = f"token:{DEMO_PROFILE}",
    progress: Callable[[Any], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Any:
    """Run the demo match and return its :class:`~splitsecond.agents.arena.MatchResult`.

    Raises:
        RuntimeError: when the server cannot start (the message includes its log).
    """
    from splitsecond.agents import LLMAgent
    from splitsecond.agents.arena import MatchConfig, run_match

    say = on_status or (lambda _msg: None)
    out_dir = out_root / time.strftime("%Y%m%d-%H%M%S")
    config = MatchConfig(
        env_id="splitsecond/StreetFighter-v0",
        env_kwargs={"round_seconds": round_seconds, "rounds_to_win": rounds_to_win},
        seed=seed,
        mode="virtual",
        act_timeout_s=60.0,
        out_dir=out_dir,
        gif=gif,
    )
    if offline:
        say(f"offline: zoner vs {opponent}, no server")
        return run_match({"player_0": "zoner", "player_1": opponent}, config, progress=progress)

    from splitsecond.serving.server import start_server_subprocess

    say(f"starting splitsecond serve {DEMO_MODEL} on a free port ...")
    t0 = time.perf_counter()
    with start_server_subprocess(DEMO_MODEL, timeout_s=300.0) as server:
        say(f"server ready at {server.api_base} in {time.perf_counter() - t0:.1f} s")
        agent = LLMAgent(
            f"openai/{DEMO_MODEL}",
            api_base=server.api_base,
            thinking=thinking,
            structured="choice",
            temperature=0.0,
            prompt="compact",
            name=f"{DEMO_MODEL} ({thinking})",
        )
        return run_match(
            {"player_0": agent, "player_1": opponent},
            config,
            latency={"player_0": latency, "player_1": "declared"},
            progress=progress,
        )
