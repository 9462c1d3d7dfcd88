"""``splitsecond leaderboard``: run a leaderboard from a TOML config and write its report.

* ``splitsecond leaderboard run CONFIG [--db PATH] [--workers N] [--ray-address ADDR] [--rerun]
  [--seeds N] [--max-decisions N]``
* ``splitsecond leaderboard report [--db PATH] [--out DIR] [--name NAME]``

See :mod:`splitsecond.benchmarks.leaderboard` for the config format and what is computed. ``run``
starts the model servers the config names (``leaderboard.serve``, ``[[serve]]``) and probes every
model endpoint first: one that does not answer, before or during the run, stops it with exit code 1
and leaves the unplayed matches pending.
"""

from __future__ import annotations

from pathlib import Path

import typer

from splitsecond.cli import app, make_console

leaderboard_app = typer.Typer(
    name="leaderboard",
    help="Round-robin tournaments and shared-market sessions with bootstrap-CI ratings.",
    no_args_is_help=True,
)
app.add_typer(leaderboard_app, name="leaderboard")


@leaderboard_app.command("run")
def run(
    config: Path = typer.Argument(
        ..., help="Leaderboard TOML config, e.g. benchmarks/configs/leaderboard-quick.toml."
    ),
    db: Path | None = typer.Option(
        None, help="Results database (default runs/leaderboards/<name>/results.sqlite)."
    ),
    workers: int | None = typer.Option(
        None, help="Matches played at once (default: the cores this process may run on)."
    ),
    ray_address: str | None = typer.Option(
        None, help="Run on Ray: 'local' starts a local instance, else a ray.init address (auto, ray://...)."
    ),
    rerun: bool = typer.Option(False, help="Play every match again, forgetting stored outcomes."),
    retry_failed: bool = typer.Option(False, help="Give matches marked failed another round of attempts."),
    limit: int | None = typer.Option(None, help="Play at most this many matches now (resume later)."),
    seeds: int | None = typer.Option(
        None, help="Play only the first N seeds of each env (a smaller run of the same config)."
    ),
    max_decisions: int | None = typer.Option(
        None, help="Stop every match after N decisions in all (a smaller run of the same config)."
    ),
    report: bool = typer.Option(True, help="Write the report next to the database when the run completes."),
) -> None:
    """Play every unfinished match of CONFIG and record it; resumable."""
    from rich.markup import escape

    from splitsecond.benchmarks.leaderboard import ConfigError, LiveProgress, load_config, run_leaderboard
    from splitsecond.benchmarks.leaderboard.config import resize_config
    from splitsecond.benchmarks.leaderboard.runner import default_db_path

    console = make_console()
    try:
        cfg = resize_config(load_config(config), seeds=seeds, max_decisions=max_decisions)
    except ConfigError as exc:
        console.print(f"[red]config error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    db_path = db or default_db_path(cfg)
    from splitsecond.benchmarks.leaderboard.stack_runtime import stop_on_sigterm

    stop_on_sigterm()  # `kill`/`timeout` stop the run like Ctrl-C: its servers and edges stop too
    try:
        with LiveProgress(console) as live:
            summary = run_leaderboard(
                cfg,
                db_path,
                workers=workers,
                ray_address=ray_address,
                rerun=rerun,
                retry_failed=retry_failed,
                limit=limit,
                on_event=live,
            )
    except (ValueError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    c = summary.status_counts
    console.print(
        f"{summary.played} match(es) played in {summary.wall_s:.1f} s "
        f"({summary.matches_per_min:.1f}/min, {summary.backend} x{summary.workers}); "
        f"store {db_path}: {c.get('done', 0)} done, {c.get('forfeit', 0)} forfeit, "
        f"{c.get('failed', 0)} failed, {c.get('pending', 0)} pending"
    )
    if summary.replayed:
        console.print(
            f"{summary.replayed} match(es) replayed after restarts of {', '.join(dict.fromkeys(summary.restarts))}"
        )
    if summary.interrupted:
        console.print("[yellow]interrupted[/yellow]: run the same command again to resume")
        raise typer.Exit(130)
    if report and c.get("pending", 0) == 0:
        _write(db_path, db_path.parent / "report", cfg.name, console)


def _write(db_path: Path, out: Path, name: str | None, console: object) -> None:
    from splitsecond.benchmarks.leaderboard import build_report, write_report

    paths = write_report(build_report(db_path, name), out)
    console.print(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['json'].name})")  # type: ignore[attr-defined]


@leaderboard_app.command("report")
def report(
    db: Path = typer.Option(Path("runs/leaderboards/quick/results.sqlite"), help="Results database."),
    out: Path | None = typer.Option(None, help="Output folder (default: <db folder>/report)."),
    name: str | None = typer.Option(None, help="Leaderboard in the store (default: the latest run)."),
    gifs: bool = typer.Option(True, help="Export GIF replays of notable StreetFighter matches."),
    gif_frames: int = typer.Option(
        150, min=1, help="Most frames per replay GIF (longer matches are subsampled)."
    ),
) -> None:
    """Write Markdown, JSON and HTML reports (with figures) from a results database."""
    from splitsecond.benchmarks.leaderboard import build_report, write_report

    console = make_console()
    try:
        data = build_report(db, name)
    except (FileNotFoundError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc.args[0] if exc.args else exc}")
        raise typer.Exit(1) from None
    paths = write_report(data, out or db.parent / "report", gifs=gifs, gif_max_frames=gif_frames)
    for env, sec in data["envs"].items():
        top = ", ".join(f"{s['name']} ({s['elo']:.0f})" for s in sec["standings"][:3])
        console.print(f"{env}: {sec['finished']}/{sec['scheduled']} matches; top: {top}")
        if sec.get("flagged"):
            console.print(f"  flagged for fallbacks (> 5%): {', '.join(sec['flagged'])}", highlight=False)
        if sec.get("study"):
            console.print(f"  {sec['study']['sentence']}", highlight=False)
    console.print(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['json'].name})")
