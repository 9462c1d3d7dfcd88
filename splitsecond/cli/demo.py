"""``splitsecond demo``: the README's main job, a small LLM fighting a built-in in StreetFighter.

It starts our own inference server (``splitsecond serve smollm2-135m``, embedded SmolLM2-135M) on a
free port, seats an :class:`~splitsecond.agents.llm_agent.LLMAgent` (reflex thinking, its answer
constrained to the action names, compact rules in its prompt) against a built-in fighter, charges the LLM's decisions with the
token latency model of the shipped ``smollm2-135m-cpu`` profile (virtual time, so the result does
not depend on how loaded this machine is), and writes the episode log, the replay and a GIF under
``runs/demo/<timestamp>/``. Rounds are shortened (one 30-second round by default) so the demo runs
in a couple of minutes on two CPU cores. ``--offline`` plays two built-ins instead, without a
server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from splitsecond.cli import app

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


@app.command()
def demo(
    opponent: str = typer.Option(
        "brawler", help="Built-in fighter to face (dummy, masher, brawler, turtle, ...)."
    ),
    seed: int = typer.Option(0, help="Match seed."),
    round_seconds: int = typer.Option(30, help="Round length in seconds (the game's default is 99)."),
    rounds_to_win: int = typer.Option(1, help="Rounds needed to win (the game's default is 2)."),
    thinking: str = typer.Option("reflex", help="LLM thinking style: reflex, plan-then-act[:N], cot[:N]."),
    latency: str = typer.Option(f"token:{DEMO_PROFILE}", help="Latency model of the LLM agent."),
    out: Path = typer.Option(Path("runs/demo"), help="Root folder of the demo's outputs."),
    gif: bool = typer.Option(True, "--gif/--no-gif", help="Write the replay GIF."),
    offline: bool = typer.Option(False, help="No server: two built-in fighters play instead."),
) -> None:
    """Our engine serves SmolLM2-135M; an LLM agent fights a built-in; see who wins."""
    import logging

    from rich.console import Console

    from splitsecond.agents.arena import result_table
    from splitsecond.agents.latency import load_profile
    from splitsecond.cli.play import live_progress

    logging.getLogger("httpx").setLevel(logging.WARNING)  # the launcher polls /health through httpx
    console = Console()
    t0 = time.perf_counter()
    if not offline and latency.startswith("token:"):
        try:
            profile = load_profile(latency.removeprefix("token:").split(",")[0])
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        if profile.source == "placeholder":
            console.print(f"[yellow]note:[/yellow] latency profile {profile.name} holds placeholder numbers")
    callback, live = live_progress(console)
    try:
        with live:
            result = run_demo(
                opponent=opponent,
                seed=seed,
                round_seconds=round_seconds,
                rounds_to_win=rounds_to_win,
                out_root=out,
                gif=gif,
                offline=offline,
                thinking=thinking,
                latency=latency,
                progress=callback,
                on_status=lambda msg: console.log(msg),
            )
    except RuntimeError as exc:
        console.print(f"[red]the demo could not run:[/red] {exc}")
        console.print(
            "Try `splitsecond serve smollm2-135m` to see the server's error, or `splitsecond demo --offline`."
        )
        raise typer.Exit(1) from None
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(result_table(result))
    for label, path in (("log", result.log_path), ("replay", result.replay_path), ("gif", result.gif_path)):
        if path is not None:
            console.print(f"{label}: {path}")
    console.print(f"demo finished in {time.perf_counter() - t0:.1f} s")
