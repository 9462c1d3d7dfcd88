"""The ``splitsecond`` command line: a thin Typer layer over the library.

Each command lives in its own module of this package and registers itself on :data:`app`;
commands import the library lazily so that ``splitsecond --help`` stays fast. Help screens name an
option's value plainly (``--port INTEGER``) and nothing after a flag; output meant for people goes
through :func:`make_console`, whose tables are never cut when stdout is a pipe.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

if TYPE_CHECKING:
    from rich.console import Console

PIPE_WIDTH = 1000
"""Width of :func:`make_console` when stdout is not a terminal (rich's default would be 80)."""


_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN"}


def _type_name(param: TyperOption | TyperArgument) -> str:
    """``TEXT``, ``INTEGER``, ``FLOAT``, ``PATH`` ... (click's classic names) for ``param``'s value."""
    desc = param.type_descriptor
    if desc.is_path:
        return "PATH"
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    bare = param.bare_type()
    if bare.startswith("list[") and bare.endswith("]"):
        bare = bare[5:-1]
    return _TYPE_NAMES.get(bare, bare.upper())


def _plain_metavars(command: Any) -> None:
    """Replace Typer's ``<str>``/``<bool>`` help metavars of ``command`` (a Typer command or group,
    built) and its subcommands: a value's type in click's words, nothing after a flag."""
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _type_name(param)
        elif isinstance(param, TyperArgument):
            name = _type_name(param)
            param.display_type_rich = lambda ctx, _name=name: _name  # Typer ignores an argument's metavar
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:  # --help is made on demand, a flag like the others
        option = make_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


class _PlainHelpGroup(TyperGroup):
    """The root group: fixes every command's help metavars once the command tree is built."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _plain_metavars(self)


app = typer.Typer(
    name="splitsecond",
    help="SplitSecond: what does your LLM agent win or lose when it thinks slower?",
    no_args_is_help=True,
    add_completion=False,
    cls=_PlainHelpGroup,
)


def make_console(**kwargs: Any) -> Console:
    """A rich console for a command's output: the terminal's width on a terminal, else
    :data:`PIPE_WIDTH` columns, so that a table piped to a file or ``grep`` is never cut."""
    from rich.console import Console

    if not sys.stdout.isatty():
        kwargs.setdefault("width", PIPE_WIDTH)
    return Console(**kwargs)


def _quiet_openmp() -> None:
    """Let this process's OpenMP threads sleep while they wait unless the environment says how they
    wait (``serving.server.launcher.passive_openmp_env``, inlined: that module is slow to import)."""
    if not any(os.environ.get(name) for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


# Modules that add commands to `app`; a module not yet written is skipped.
_COMMAND_MODULES = ("demo", "serve", "models", "play", "calibrate", "bench", "edge", "cache", "leaderboard")


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"splitsecond.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"splitsecond.cli.{name}":
                raise


def fail(message: object, code: int = 1) -> NoReturn:
    """Print ``message`` as one line on stderr and exit with ``code`` (no traceback)."""
    typer.echo(" ".join(str(message).split()), err=True)
    raise typer.Exit(code)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Entry point of the ``splitsecond`` console script."""
    _quiet_openmp()  # before any command imports torch
    _load_commands()
    app()
