"""``splitsecond demo``: the README's main job (see :mod:`splitsecond.demo`)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from splitsecond.cli import app, make_console
from splitsecond.demo import DEMO_PROFILE, run_demo


@app.command()
def demo(
    opponent: str = typer.Option(
        "brawler", help="Built-in fighter to face (dummy, masher, brawler, turtle, ...)."
    ),
    seed: int = typer.Option(0, help="Match seed."),
    round_seconds: int = typer.Option(30, help="Round length in seconds (the game's default is 99)."),
    rounds_to_win: int = typer.Option(1, help="Rounds needed to win (the game's default is 2)."),
    thinking: str = typer.Option(
        "reflex", help="LLM thinking style: reflex, plan-then-act[:N], plan-follow[:N], cot[:N]."
    ),
    latency: str = typer.Option(f"token:{DEMO_PROFILE}", help="Latency model of the LLM agent."),
    out: Path = typer.Option(Path("runs/demo"), help="Root folder of the demo's outputs."),
    gif: bool = typer.Option(True, "--gif/--no-gif", help="Write the replay GIF."),
    offline: bool = typer.Option(False, help="No server: two built-in fighters play instead."),
) -> None:
    """Our engine serves SmolLM2-135M; an LLM agent fights a built-in; see who wins."""
    import logging

    from splitsecond.agents.arena import result_table
    from splitsecond.agents.latency import load_profile
    from splitsecond.cli.play import live_progress

    logging.getLogger("httpx").setLevel(logging.WARNING)  # the launcher polls /health through httpx
    console = make_console()
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
                on_status=lambda msg: console.print(
                    f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}", highlight=False
                ),
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
