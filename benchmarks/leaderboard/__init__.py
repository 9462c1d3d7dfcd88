"""Leaderboards: round-robin tournaments and shared-market sessions with honest, rerunnable ratings.

A leaderboard is a TOML config (:mod:`.config`) naming agents, envs, seeds, clock mode, latency
settings and the model servers to start (:mod:`.server`). :func:`run_leaderboard` schedules every
match (:mod:`.schedule`), checks the model endpoints, plays the unfinished matches on a process
pool or a Ray cluster (:mod:`.executors`, :mod:`.worker`) and records each in a SQLite store
(:mod:`.database`); runs resume where they stopped. :func:`build_report` and :func:`write_report`
turn the store into ratings with bootstrap intervals (:mod:`.ratings`), win-rate matrices, HFTBench
money statistics and per-agent failed decisions (:mod:`.stats`), the latency study's view per model
(:mod:`.study`), figures (:mod:`.plots`) and Markdown/JSON/HTML documents (:mod:`.report`).
:class:`LiveProgress` draws a run live.

::

    from splitsecond.benchmarks.leaderboard import build_report, load_config, run_leaderboard, write_report

    config = load_config("benchmarks/configs/leaderboard-quick.toml")
    run_leaderboard(config, "runs/lb/results.sqlite", workers=2)
    write_report(build_report("runs/lb/results.sqlite"), "runs/lb/report")
"""

from splitsecond.benchmarks.leaderboard.config import (
    AgentEntry,
    ConfigError,
    EnvSettings,
    LeaderboardConfig,
    Participant,
    ServeEntry,
    config_from_dict,
    load_config,
)
from splitsecond.benchmarks.leaderboard.database import STATUSES, ResultsDB
from splitsecond.benchmarks.leaderboard.events import (
    MatchFailed,
    MatchFinished,
    RunEvent,
    RunFinished,
    RunStarted,
)
from splitsecond.benchmarks.leaderboard.executors import ProcessPoolBackend, RayBackend, WorkerLost
from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome, SeatOutcome
from splitsecond.benchmarks.leaderboard.progress import LiveProgress
from splitsecond.benchmarks.leaderboard.ratings import Contest, Rating, bradley_terry, openskill, rate, to_elo
from splitsecond.benchmarks.leaderboard.report import build_report, write_report
from splitsecond.benchmarks.leaderboard.runner import RunSummary, default_db_path, run_leaderboard
from splitsecond.benchmarks.leaderboard.schedule import MatchTask, SeatTask, schedule
from splitsecond.benchmarks.leaderboard.worker import EndpointDown, play_match

__all__ = [
    "STATUSES",
    "AgentEntry",
    "ConfigError",
    "Contest",
    "EndpointDown",
    "EnvSettings",
    "LeaderboardConfig",
    "LiveProgress",
    "MatchFailed",
    "MatchFinished",
    "MatchOutcome",
    "MatchTask",
    "Participant",
    "ProcessPoolBackend",
    "Rating",
    "RayBackend",
    "ResultsDB",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "RunSummary",
    "SeatOutcome",
    "SeatTask",
    "ServeEntry",
    "WorkerLost",
    "bradley_terry",
    "build_report",
    "config_from_dict",
    "default_db_path",
    "load_config",
    "openskill",
    "play_match",
    "rate",
    "run_leaderboard",
    "schedule",
    "to_elo",
    "write_report",
]
