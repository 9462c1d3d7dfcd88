"""The ``splitsecond`` command line: a thin Typer layer over the library.

Each command lives in its own module of this package and registers itself on :data:`app`;
commands import the library lazily so that ``splitsecond --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="splitsecond",
    help="SplitSecond: what does your LLM agent win or lose when it thinks slower?",
    no_args_is_help=True,
    add_completion=False,
)

# Modules that add commands to `app`; a module not yet written is skipped.
_COMMAND_MODULES = ("demo", "serve", "play", "calibrate", "bench", "edge", "cache", "leaderboard")


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"splitsecond.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"splitsecond.cli.{name}":
                raise


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Entry point of the ``splitsecond`` console script."""
    _load_commands()
    app()
