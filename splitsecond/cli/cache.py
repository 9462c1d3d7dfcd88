"""``splitsecond cache stats|list|clear``: inspect the plan cache's store.

Reading never creates a store: a SQLite file that does not exist yet is reported as "no cache yet".
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from splitsecond.cli import app, make_console

cache_app = typer.Typer(help="Inspect the plan cache (SQLite file or redis:// URL).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

_DB_HELP = "SQLite file or redis:// URL (default: $SPLITSECOND_CACHE_DB or ~/.cache/splitsecond/plans.db)."


def _missing_sqlite(db: str | None) -> Path | None:
    """The SQLite file ``db`` names (default: the plan cache's) when it does not exist, else ``None``."""
    from splitsecond.cache.stores import default_db_path

    if db is not None and db.startswith(("redis://", "rediss://", "unix://")):
        return None
    path = Path(db).expanduser() if db is not None else default_db_path()
    return None if path.exists() else path


def _open(db: str | None, as_json: bool = False):  # noqa: ANN202 - a PlanStore, or None: no store yet
    """The store, or ``None`` (after saying so, on stderr when the output is JSON) when its SQLite
    file does not exist: reading must not create an empty database."""
    from splitsecond.cache.stores import open_store

    missing = _missing_sqlite(db)
    if missing is not None:
        typer.echo(f"no cache yet ({missing} does not exist)", err=as_json)
        return None
    try:
        return open_store(db)
    except (ValueError, RuntimeError, OSError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--db") from exc


@cache_app.command("stats")
def stats(
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Totals of every process that used the store: hits, misses, false hits, tokens saved, overhead."""
    from rich.table import Table

    from splitsecond.cache.metrics import CacheMetrics

    store = _open(db, as_json)
    if store is None:
        if as_json:
            typer.echo(json.dumps({**CacheMetrics.from_counters({}).summary(), "entries": 0}, indent=2))
        return
    summary = CacheMetrics.from_counters(store.counters()).summary()
    summary["entries"] = store.count()
    store.close()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"plan cache {db or 'default'}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(
            name, f"{value:.3f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"
        )
    make_console().print(table)


@cache_app.command("list")
def list_entries(
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many templates."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The templates, most recently used first."""
    from rich.table import Table

    store = _open(db, as_json)
    if store is None:
        if as_json:
            typer.echo("[]")
        return
    entries = store.entries()[:limit]
    store.close()
    if as_json:
        rows = [{k: v for k, v in e.to_dict().items() if k != "embedding"} for e in entries]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(entries)} templates")
    for col in ("keyword", "template", "score", "hits", "W/L", "scope"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(e.keyword, e.template, f"{e.score:.2f}", str(e.hits), f"{e.wins}/{e.losses}", e.scope)
    make_console().print(table)


@cache_app.command("clear")
def clear(
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove every template and counter."""
    store = _open(db)
    if store is None:
        return
    if not yes and not typer.confirm(f"Remove all {store.count()} templates and the counters?"):
        store.close()
        raise typer.Abort()
    removed = store.clear()
    store.close()
    typer.echo(f"removed {removed} templates")
