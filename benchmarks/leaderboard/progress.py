"""A live rich display of a leaderboard run: matches done/total, ETA, failures and current standings
(with each agent's failed decisions and fallback share; above 5 % fallbacks it is marked).

::

    with LiveProgress(console) as live:
        run_leaderboard(config, db, on_event=live)

It consumes the runner's events (:mod:`.events`); standings are OpenSkill ratings updated as
matches come in (the report recomputes everything, with intervals, from the database).
"""

from __future__ import annotations

from typing import Any

from splitsecond.benchmarks.leaderboard.events import (
    MatchFailed,
    MatchFinished,
    RunEvent,
    RunFinished,
    RunStarted,
)
from splitsecond.benchmarks.leaderboard.stats import FALLBACK_FLAG_SHARE


class LiveStandings:
    """Running OpenSkill ratings and win/loss counts per env, updated one outcome at a time."""

    def __init__(self) -> None:
        from openskill.models import PlackettLuce

        self._model = PlackettLuce()
        self.ratings: dict[tuple[str, str], Any] = {}
        self.record: dict[tuple[str, str], list[int]] = {}
        self.decisions: dict[tuple[str, str], list[int]] = {}
        """(env, agent) -> [decisions, errors, fallbacks]."""

    def add(self, env: str, outcome: Any) -> None:
        """Rate one match outcome."""
        players = [(env, s.name) for s in outcome.seats]
        for p in players:
            self.ratings.setdefault(p, self._model.rating(name=p[1]))
            self.record.setdefault(p, [0, 0, 0])
        rated = self._model.rate(
            [[self.ratings[p]] for p in players], ranks=[float(s.rank) for s in outcome.seats]
        )
        best = min(s.rank for s in outcome.seats)
        n_best = sum(s.rank == best for s in outcome.seats)
        for p, team, s in zip(players, rated, outcome.seats, strict=True):
            self.ratings[p] = team[0]
            col = 0 if s.rank == best and n_best == 1 else 1 if s.rank == best else 2
            self.record[p][col] += 1
            counts = self.decisions.setdefault(p, [0, 0, 0])
            counts[0] += s.decisions
            counts[1] += s.errors
            counts[2] += s.fallbacks

    def health(self, env: str, name: str) -> tuple[int, int, int]:
        """``(decisions, errors, fallbacks)`` of an agent so far."""
        d, e, f = self.decisions.get((env, name), [0, 0, 0])
        return d, e, f

    def table(self, top: int = 12) -> Any:
        """A rich table of the best ``top`` players per env by ordinal."""
        from rich.table import Table

        t = Table(title="current standings (OpenSkill, live)", expand=False)
        for col in ("env", "agent", "W-D-L", "mu", "sigma", "ordinal", "errors", "fallbacks"):
            t.add_column(col, justify="left" if col in ("env", "agent") else "right", overflow="fold")
        by_env: dict[str, list[tuple[str, Any]]] = {}
        for (env, name), r in self.ratings.items():
            by_env.setdefault(env, []).append((name, r))
        for env, rows in by_env.items():
            rows.sort(key=lambda x: -x[1].ordinal())
            for name, r in rows[:top]:
                w, d, lo = self.record[(env, name)]
                decisions, errors, fallbacks = self.health(env, name)
                share = fallbacks / decisions if decisions else 0.0
                marker = " \u26a0" if share > FALLBACK_FLAG_SHARE else ""
                t.add_row(
                    env,
                    name,
                    f"{w}-{d}-{lo}",
                    f"{r.mu:.2f}",
                    f"{r.sigma:.2f}",
                    f"{r.ordinal():.2f}",
                    str(errors),
                    f"{fallbacks} ({share:.0%}){marker}",
                )
        return t


class LiveProgress:
    """A callable ``on_event`` for :func:`run_leaderboard` that draws a rich live display.

    Args:
        console: the rich ``Console`` to draw on (default: a new one).
        refresh_per_second: redraw rate.
    """

    def __init__(self, console: Any = None, refresh_per_second: float = 4.0) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.standings = LiveStandings()
        self.failures: list[str] = []
        self.forfeits = 0
        self._task: Any = None
        self._live: Any = None
        self._refresh = refresh_per_second

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        parts: list[Any] = [self.progress, self.standings.table()]
        if self.failures:
            parts.append(Text("\n".join(self.failures[-3:]), style="red"))
        return Group(*parts)

    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self._live = Live(self._render(), console=self.console, refresh_per_second=self._refresh)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)
            self._live = None
            if not self.console.is_terminal:
                self.console.line()

    def __call__(self, event: RunEvent) -> None:
        """Take one runner event."""
        if isinstance(event, RunStarted):
            self._task = self.progress.add_task(
                f"{event.leaderboard} ({event.backend} x{event.workers})",
                total=event.to_play,
                info=f"{event.finished}/{event.scheduled} done before",
            )
        elif isinstance(event, MatchFinished):
            self.standings.add(event.task.env, event.outcome)
            self.forfeits += int(event.outcome.status == "forfeit")
            if self._task is not None:
                self.progress.update(
                    self._task,
                    completed=event.played,
                    info=f"forfeits {self.forfeits}  failed {len(self.failures)}",
                )
        elif isinstance(event, MatchFailed):
            seats = " vs ".join(s.name for s in event.task.seats)
            self.failures.append(
                f"{event.status}: {event.task.env} seed {event.task.seed} {seats}: {event.error[:160]}"
            )
        elif isinstance(event, RunFinished) and self._task is not None:
            self.progress.update(self._task, completed=self.progress.tasks[0].total)
        if self._live is not None:
            self._live.update(self._render())
