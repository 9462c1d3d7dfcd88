"""``splitsecond cache stats|list|clear``: inspect the plan cache's store."""

from __future__ import annotations

import json

import typer

from splitsecond.cli import app

cache_app = typer.Typer(help="Inspect the plan cache (SQLite file or redis:// URL).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

_DB_HELP = "SQLite file or redis:// URL (default: $SPLITSECOND_CACHE_DB or ~/.cache/splitsecond/plans.db)."


def _open(db: str | None):  # noqa: ANN202 - a PlanStore
    from splitsecond.cache.stores import open_store

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
    from rich.console import Console
    from rich.table import Table

    from splitsecond.cache.metrics import CacheMetrics

    store = _open(db)
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
    Console().print(table)


@cache_app.command("list")
def list_entries(
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many templates."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The templates, most recently used first."""
    from rich.console import Console
    from rich.table import Table

    store = _open(db)
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
    Console().print(table)


@cache_app.command("clear")
def clear(
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove every template and counter."""
    store = _open(db)
    if not yes and not typer.confirm(f"Remove all {store.count()} templates and the counters?"):
        store.close()
        raise typer.Abort()
    removed = store.clear()
    store.close()
    typer.echo(f"removed {removed} templates")
