"""What the runner tells its caller while a leaderboard runs (for progress displays).

:func:`~splitsecond.benchmarks.leaderboard.runner.run_leaderboard` calls ``on_event`` with one of
these after each change; the library never prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome
from splitsecond.benchmarks.leaderboard.schedule import MatchTask


@dataclass(frozen=True)
class RunStarted:
    """The run begins.

    Attributes:
        leaderboard: its name.
        scheduled: matches in the schedule.
        finished: matches already finished (from earlier runs).
        to_play: matches this run will play.
        backend: ``process-pool`` or ``ray``.
        workers: matches played at once.
    """

    leaderboard: str
    scheduled: int
    finished: int
    to_play: int
    backend: str
    workers: int


@dataclass(frozen=True)
class MatchFinished:
    """A match was played and recorded.

    Attributes:
        task: the match.
        outcome: its outcome.
        played: matches played so far in this run.
        to_play: matches this run will play.
    """

    task: MatchTask
    outcome: MatchOutcome
    played: int
    to_play: int


@dataclass(frozen=True)
class MatchFailed:
    """An attempt at a match failed.

    Attributes:
        task: the match.
        error: what went wrong.
        status: ``pending`` (it will be retried) or ``failed`` (no attempts left).
        counted: whether the attempt counted against the match's ``max_attempts``.
    """

    task: MatchTask
    error: str
    status: str
    counted: bool = True


@dataclass(frozen=True)
class RunFinished:
    """The run ended.

    Attributes:
        summary: the run's :class:`~splitsecond.benchmarks.leaderboard.runner.RunSummary`.
    """

    summary: object = field(repr=False)


RunEvent = RunStarted | MatchFinished | MatchFailed | RunFinished
"""Any runner event."""
