"""``splitsecond calibrate``: measure a served model and write its latency profile (TOML).

Either point it at a running endpoint (``--model openai/NAME --api-base URL``) or let it start our
own server (``--serve smollm2-135m``). The profile feeds the ``token:PROFILE`` latency model.
"""

from __future__ import annotations

from pathlib import Path

import typer

from splitsecond.cli import app, make_console


@app.command()
def calibrate(
    model: str | None = typer.Option(None, help="LiteLLM model string, e.g. openai/smollm2-135m."),
    api_base: str | None = typer.Option(None, help="Endpoint, e.g. http://127.0.0.1:8000/v1."),
    serve: str | None = typer.Option(
        None, help="Start `splitsecond serve MODEL` on a free port and measure it."
    ),
    out: Path | None = typer.Option(None, help="Where to write the profile (default: ./<name>.toml)."),
    name: str | None = typer.Option(None, help="Profile name (default: from the model)."),
    hardware: str | None = typer.Option(None, help="The server's machine, in words (default: this machine)."),
    precision: str = typer.Option("unknown", help="Served precision, in words (e.g. float32, bf16, q4_k_m)."),
    quick: bool = typer.Option(False, help="A dozen short calls instead of the full sweep."),
    repeats: int | None = typer.Option(None, help="Calls per configuration (median taken)."),
    api_key_env: str | None = typer.Option(None, help="Environment variable holding the API key."),
) -> None:
    """Measure TTFT (cold and cached) and time per output token, fit them, write a profile."""
    import os

    from rich.progress import Progress
    from rich.table import Table

    from splitsecond.agents.calibrate import CalibrationConfig
    from splitsecond.agents.calibrate import calibrate as run_calibration

    console = make_console()
    if serve is None and model is None:
        raise typer.BadParameter("give --model (with --api-base for a self-hosted server) or --serve MODEL")
    api_key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and api_key is None:
        raise typer.BadParameter(f"environment variable {api_key_env} is not set")
    server = None
    try:
        if serve is not None:
            from splitsecond.serving.server import start_server_subprocess

            console.print(f"starting splitsecond serve {serve} ...")
            server = start_server_subprocess(serve)
            api_base = server.api_base
            model = model or f"openai/{serve}"
        assert model is not None
        kwargs = {
            "api_base": api_base,
            "api_key": api_key,
            "name": name,
            "hardware": hardware,
            "precision": precision,
        }
        if repeats is not None:
            kwargs["repeats"] = repeats
        config = (
            CalibrationConfig.quick(model, **kwargs) if quick else CalibrationConfig(model=model, **kwargs)
        )
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"calibrating {model}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = run_calibration(config, progress=progress)
    except (RuntimeError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        if server is not None:
            server.stop()
    profile = report.profile
    path = profile.save(out or Path(f"{profile.name}.toml"))
    table = Table(title=f"latency profile {profile.name} (r2 = {report.r2:.3f}, {len(report.samples)} calls)")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for key in ("rtt_ms", "ttft_base_ms", "ttft_per_token_ms", "ttft_per_cached_token_ms", "tpot_ms"):
        table.add_row(key, f"{getattr(profile, key):.4f}")
    table.add_row("cache hits", str(report.cache_hits))
    console.print(table)
    console.print(f"profile written to {path}")
