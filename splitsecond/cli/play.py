"""``splitsecond play``: one match between agents, with a live progress line and a result table.

Agent specs (``--agent``, ``--opponent``): a built-in name (``random``, ``zoner``, ``punisher`` ...),
a LiteLLM model string, optionally with its endpoint after ``@``
(``openai/smollm2-135m@http://127.0.0.1:8000/v1``) and options after ``?``
(``...?thinking=plan-then-act:4``), or a user class ``package.module:Class`` / ``file.py:Class``.

A model behind the plan cache (``apc/openai/smollm2-135m@http://...``) gets the cache registered
in this process first (:func:`splitsecond.cache.ensure_registered`, store ``--cache-db``). Every
model endpoint named with ``@`` is probed before the match: one that does not answer stops the
command with exit code 1 instead of a match played on fallbacks.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import typer

from splitsecond.cli import app, make_console

CLOCKS = {"virtual": "virtual", "wall": "realtime", "realtime": "realtime"}


def _env_args(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"--env-arg expects key=value, got {pair!r}")
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = {"true": True, "false": False}.get(value.lower(), value)
    return out


def plan_cache_specs(specs: list[str]) -> list[str]:
    """The agent specs whose model goes through the plan cache (``apc/...``); bad specs are left to
    the arena to report."""
    from splitsecond.agents.specs import parse_agent_spec

    out = []
    for text in specs:
        try:
            parsed = parse_agent_spec(text)
        except ValueError:
            continue
        if parsed.kind == "llm" and parsed.target.startswith("apc/"):
            out.append(text)
    return out


def fresh_run_dir(root: Path = Path("runs"), prefix: str = "play") -> Path:
    """A new, empty folder ``root/<prefix>-<date>-<time>[-N]`` (created here, so it is this run's)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = root / (f"{prefix}-{stamp}" if n == 0 else f"{prefix}-{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"no free folder name under {root} for {prefix}-{stamp}")


def live_progress(console: object, min_interval_s: float = 0.2):  # noqa: ANN201 - returns (callback, live)
    """A progress callback that redraws one rich line at most every ``min_interval_s``, and its ``Live``."""
    import time

    from rich.live import Live
    from rich.text import Text

    from splitsecond.agents.arena import progress_text

    live = Live(Text("starting..."), console=console, refresh_per_second=8, transient=True)
    last = [0.0]

    def callback(p: object) -> None:
        now = time.perf_counter()
        if now - last[0] >= min_interval_s:
            last[0] = now
            live.update(Text(progress_text(p)))

    return callback, live


@app.command()
def play(
    env: str = typer.Option("StreetFighter-v0", help="Env: StreetFighter-v0 or HFTBench-v0."),
    agent: list[str] = typer.Option(
        ..., "--agent", "-a", help="Agent spec (repeat for more agents in HFTBench)."
    ),
    opponent: str | None = typer.Option(
        None, "--opponent", "-o", help="Opponent spec (StreetFighter default: the env's default fighter)."
    ),
    clock: str = typer.Option("virtual", help="virtual (deterministic, latency models) or wall (real time)."),
    latency: str = typer.Option(
        "declared",
        help="Latency model of --agent: wall, fixed:MS, declared, token:PROFILE[,rtt=MS], budget:N[,step=MS].",
    ),
    opponent_latency: str = typer.Option(
        "declared", help="Latency model of the opponent (built-ins declare theirs)."
    ),
    seed: int = typer.Option(0, help="Seed of the env and the agents."),
    round_seconds: int | None = typer.Option(
        None, help="StreetFighter round length (default: the env's, 99)."
    ),
    env_arg: list[str] = typer.Option(
        [], "--env-arg", help="Further env keyword argument key=value (repeatable)."
    ),
    timeout: float = typer.Option(30.0, help="Seconds one decision may take before the agent forfeits."),
    max_decisions: int | None = typer.Option(None, help="Stop after this many decisions."),
    out: str | None = typer.Option(
        None,
        help="Folder for episode.jsonl, result.json and the replay (with --gif and no --out: a fresh "
        "folder under runs/).",
    ),
    gif: bool = typer.Option(False, help="Also write the replay as a GIF."),
    cache_db: str | None = typer.Option(
        None,
        "--cache-db",
        help="Plan cache store for apc/ models: SQLite file or redis:// URL "
        "(default: $SPLITSECOND_CACHE_DB or ~/.cache/splitsecond/plans.db).",
    ),
    stack: str | None = typer.Option(
        None,
        "--stack",
        help="TOML file with [[serve]] entries and a [stack] (as in a leaderboard config): start them for "
        "this match (KV tier, edges, plan cache store and adapter); specs may use {serve:NAME} and "
        "{edge:NAME}. Logs under --out (default: a fresh folder under runs/).",
    ),
) -> None:
    """Play one match and print the result table."""
    from splitsecond.agents.arena import MatchConfig, result_table, run_match
    from splitsecond.agents.llm_agent import EndpointUnreachable, check_endpoint

    console = make_console()
    if clock not in CLOCKS:
        raise typer.BadParameter(f"--clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    env_kwargs = _env_args(env_arg)
    if round_seconds is not None:
        env_kwargs["round_seconds"] = round_seconds
    specs = list(agent)
    is_sf = "StreetFighter" in env
    if is_sf:
        if len(specs) != 1:
            raise typer.BadParameter("StreetFighter is 1v1: give one --agent and one --opponent")
        if opponent is None:
            from splitsecond.envs.streetfighter.opponents import DEFAULT_OPPONENT

            opponent = DEFAULT_OPPONENT
    if opponent is not None:
        specs.append(opponent)
    latencies = [latency] * len(agent) + ([opponent_latency] if opponent is not None else [])
    adapter: str | None = None
    with contextlib.ExitStack() as running:
        if stack is not None:
            from splitsecond.benchmarks.leaderboard.stack_runtime import stack_for_play

            if out is None:
                out = str(fresh_run_dir())
            try:
                specs, stack_db, adapter = running.enter_context(stack_for_play(stack, specs, env, out))
            except (ValueError, RuntimeError) as exc:
                from rich.markup import escape

                console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
                raise typer.Exit(2) from None
            cache_db = cache_db or stack_db
            console.print(f"stack started; logs under {out}/stack/logs", highlight=False)
        from splitsecond.agents.specs import llm_endpoints

        for api_base, spec in llm_endpoints(specs).items():
            try:
                check_endpoint(api_base)
            except EndpointUnreachable as exc:
                console.print(
                    f"[red]error:[/red] {exc}; agent {spec!r} cannot play. Start the server "
                    "(e.g. `splitsecond serve smollm2-135m --port 8000`) or fix the URL after '@'.",
                    markup=True,
                    highlight=False,
                )
                raise typer.Exit(1) from None
        if gif and out is None:
            out = str(fresh_run_dir())
            console.print(f"writing the episode log, replay and GIF to {out}/", highlight=False)
        try:
            if plan_cache_specs(specs):
                from splitsecond.benchmarks.leaderboard.worker import prepare_worker

                prepare_worker(specs, cache_db, adapter)
            config = MatchConfig(
                env_id=env,
                env_kwargs=env_kwargs,
                seed=seed,
                mode=CLOCKS[clock],
                act_timeout_s=timeout,
                max_decisions=max_decisions,
                out_dir=out,
                gif=gif,
            )
            from splitsecond.agents.arena import game_for

            ids = game_for(config.env_id).agent_ids(len(specs))
            callback, live = live_progress(console)
            with live:
                result = run_match(
                    dict(zip(ids, specs, strict=True)),
                    config,
                    dict(zip(ids, latencies, strict=True)),
                    callback,
                )
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        console.print(result_table(result))
        for label, path in (
            ("log", result.log_path),
            ("replay", result.replay_path),
            ("gif", result.gif_path),
        ):
            if path is not None:
                console.print(f"{label}: {path}", highlight=False)
        for agent_id, stats in result.agents.items():
            if stats.errors:
                console.print(
                    f"[yellow]warning:[/yellow] {stats.name} ({agent_id}): {stats.errors} of {stats.decisions} "
                    "decisions failed (model calls or the agent raised; see the log)",
                    highlight=False,
                )
