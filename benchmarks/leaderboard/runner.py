"""Run a leaderboard: schedule its matches, play the unfinished ones, record every outcome.

::

    from splitsecond.benchmarks.leaderboard import load_config, run_leaderboard

    summary = run_leaderboard(load_config("benchmarks/configs/leaderboard-quick.toml"), "runs/lb.sqlite")

The coordinator (this process) is the only writer of the results database. Each match goes
``pending`` -> ``running`` -> ``done``/``forfeit``; a match whose worker raised or died goes back to
``pending`` and is tried again, up to ``max_attempts`` failures, then marked ``failed``. Matches
lost with a broken process pool (where the culprit is unknown) are not counted against and are
replayed one at a time. Runs are resumable: a finished match is never played again unless
``rerun`` asks for it, and matches left ``running`` by an interrupted run are played again. A run
killed outright (``kill -9``) takes its embedded servers and pool workers with it.

Model endpoints are checked before any match: the runner starts the servers the unplayed matches
need (``{serve}``/``{serve:<name>}``), then probes every distinct ``api_base`` once; one that does not
answer stops the run with :class:`EndpointDown` before a match is played on fallbacks. An endpoint
that dies during the run stops it the same way (the worker sees an agent's first decisions all
fail); the match stays ``pending``, so running again resumes it.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from splitsecond.benchmarks.leaderboard.config import DEFAULT_SERVE, LeaderboardConfig, serve_refs
from splitsecond.benchmarks.leaderboard.database import FINISHED, ResultsDB
from splitsecond.benchmarks.leaderboard.events import (
    MatchFailed,
    MatchFinished,
    RunEvent,
    RunFinished,
    RunStarted,
)
from splitsecond.benchmarks.leaderboard.executors import Backend, ProcessPoolBackend, RayBackend, WorkerLost
from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome
from splitsecond.benchmarks.leaderboard.schedule import MatchTask, schedule
from splitsecond.benchmarks.leaderboard.server import STATE_FILE, embedded_servers
from splitsecond.benchmarks.leaderboard.worker import EndpointDown, resolve_spec

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did.

    Attributes:
        leaderboard: its name.
        db_path: the results database.
        scheduled: matches in the schedule.
        played: matches played and recorded in this run.
        forfeits: of those, matches decided by a forfeit.
        failed_attempts: attempts that failed (retried or not).
        failed: matches marked ``failed`` in this run.
        wall_s: real time of the run.
        interrupted: the run was stopped (Ctrl-C) before the end.
        status_counts: matches per status at the end.
        backend: where matches ran.
        workers: matches played at once.
    """

    leaderboard: str
    db_path: Path
    scheduled: int = 0
    played: int = 0
    forfeits: int = 0
    failed_attempts: int = 0
    failed: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    status_counts: dict[str, int] = field(default_factory=dict)
    backend: str = ""
    workers: int = 0

    @property
    def matches_per_min(self) -> float:
        """Matches played per minute of wall time."""
        return 60.0 * self.played / self.wall_s if self.wall_s > 0 else 0.0


def default_db_path(config: LeaderboardConfig) -> Path:
    """``runs/leaderboards/<name>/results.sqlite``."""
    return Path("runs") / "leaderboards" / config.name / "results.sqlite"


PLANS_FILE = "plans.sqlite"
"""Default plan cache store of ``apc/`` agents, in the results database's folder."""


def probe_endpoints(seats: Iterable[tuple[str, str]], timeout_s: float = 5.0) -> int:
    """Probe each distinct model endpoint of ``(name, resolved spec)`` pairs once.

    Returns:
        how many endpoints were probed.

    Raises:
        EndpointDown: naming the first endpoint that does not answer and an agent that uses it.
    """
    from splitsecond.agents.llm_agent import EndpointUnreachable, check_endpoint
    from splitsecond.agents.specs import llm_endpoints

    by_spec: dict[str, str] = {}
    for name, spec in seats:
        by_spec.setdefault(spec, name)
    endpoints = {api_base: by_spec[spec] for api_base, spec in llm_endpoints(by_spec).items()}
    for api_base, name in endpoints.items():
        try:
            check_endpoint(api_base, timeout_s)
        except EndpointUnreachable as exc:
            raise EndpointDown(
                f"{exc}; agent {name!r} cannot play. Start the server (e.g. `splitsecond serve "
                "smollm2-135m --port 8000`) or fix the URL after '@'. No match was played"
            ) from None
    return len(endpoints)


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text or type(exc).__name__


def run_leaderboard(
    config: LeaderboardConfig,
    db_path: str | Path | None = None,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    rerun: bool = False,
    retry_failed: bool = False,
    limit: int | None = None,
    out_root: str | Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    worker_log_level: int = logging.ERROR,
    poll_s: float = 0.25,
) -> RunSummary:
    """Play every unfinished match of ``config`` and record the outcomes.

    Args:
        config: the leaderboard (validated by :func:`load_config`).
        db_path: the results database (default :func:`default_db_path`).
        workers: matches at once (default: the cores this process may run on, or the Ray cluster's
            CPUs).
        ray_address: run on Ray (``local`` for a local instance, else a ``ray.init`` address).
        rerun: play every scheduled match again, forgetting earlier outcomes.
        retry_failed: give matches marked ``failed`` another ``max_attempts``.
        limit: play at most this many matches in this run (the rest stay ``pending``).
        out_root: where matches keep logs and replays (default ``<db folder>/matches`` when the
            config saves replays).
        on_event: called with each :data:`RunEvent` (progress displays).
        worker_log_level: logging level inside pool workers.
        poll_s: how often the coordinator checks for finished matches.

    Raises:
        ValueError: for a bad ``workers`` or ``limit``.
        EndpointDown: when a model endpoint does not answer, before the first match or during the
            run (the matches not played stay ``pending``).
        RuntimeError: when a server does not start or Ray is missing.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    emit = on_event or (lambda event: None)
    db_path = Path(db_path) if db_path is not None else default_db_path(config)
    t0 = time.perf_counter()
    tasks = schedule(config)
    by_key = {t.key: t for t in tasks}
    summary = RunSummary(config.name, db_path, scheduled=len(tasks))
    if out_root is None and config.save_replays:
        out_root = db_path.parent / "matches"
    with ResultsDB(db_path) as db:
        db.register(config, tasks)
        recovered = db.recover_interrupted(by_key)
        if recovered:
            logger.info("%d match(es) left running by an interrupted run will be played again", recovered)
        if rerun:
            db.reset(by_key)
        elif retry_failed:
            db.reset(by_key, statuses=("failed",))
        rows = db.matches(config.name, statuses=("pending",))
        # longest first (HFTBench sessions outlast StreetFighter matches) so they do not form the tail
        pending = sorted((by_key[r["key"]] for r in rows), key=lambda t: (t.env != "hftbench", t.position))
        if limit is not None:
            pending = pending[:limit]
        counts = db.status_counts(config.name)
        finished = sum(counts[s] for s in FINISHED)
        if not pending:
            summary.status_counts = counts
            emit(RunStarted(config.name, len(tasks), finished, 0, "none", 0))
            emit(RunFinished(summary))
            return summary
        seats = {(s.name, s.spec) for t in pending for s in t.seats}
        probe_endpoints(sorted((n, s) for n, s in seats if not serve_refs(s)))
        servers = config.servers_for(s for _, s in seats)
        cache_db = config.cache_db or str(db_path.parent / PLANS_FILE)
        with embedded_servers(servers, state_path=db_path.parent / STATE_FILE) as bases:
            default = config.default_serve()
            api_bases = {**bases, **({DEFAULT_SERVE: bases[default]} if default in bases else {})}
            probe_endpoints(sorted((n, resolve_spec(s, api_bases)) for n, s in seats if serve_refs(s)))
            root = str(out_root) if out_root is not None else None
            backend: Backend
            if ray_address is not None:
                backend = RayBackend(ray_address, workers, api_bases, root, cache_db=cache_db)
            else:
                backend = ProcessPoolBackend(
                    workers, api_bases, root, log_level=worker_log_level, cache_db=cache_db
                )
            summary.backend, summary.workers = backend.name, backend.capacity
            emit(RunStarted(config.name, len(tasks), finished, len(pending), backend.name, backend.capacity))
            stopped = False
            try:
                _coordinate(db, backend, deque(pending), config.max_attempts, summary, emit, poll_s)
            except KeyboardInterrupt:
                summary.interrupted = True
                logger.warning("interrupted: unfinished matches stay pending; run again to resume")
            except EndpointDown:
                stopped = True
                raise
            finally:
                backend.close(wait=not (summary.interrupted or stopped))
                db.recover_interrupted(by_key)
        summary.status_counts = db.status_counts(config.name)
    summary.wall_s = time.perf_counter() - t0
    emit(RunFinished(summary))
    return summary


def _coordinate(
    db: ResultsDB,
    backend: Backend,
    queue: deque[MatchTask],
    max_attempts: int,
    summary: RunSummary,
    emit: Callable[[RunEvent], None],
    poll_s: float,
) -> None:
    """The coordinator loop: keep the backend busy, record what comes back, retry failures."""
    suspects: deque[MatchTask] = deque()  # lost with a broken pool: replayed one at a time
    to_play = len(queue)
    while queue or suspects or backend.in_flight():
        if suspects:
            if not backend.in_flight():
                task = suspects.popleft()
                if db.start(task.key):
                    backend.submit(task)
        else:
            while queue and backend.in_flight() < backend.capacity:
                task = queue.popleft()
                if db.start(task.key):
                    backend.submit(task)
        for task, result in backend.poll(poll_s):
            if isinstance(result, EndpointDown):
                # not the match's fault: it stays pending (uncounted) and the run stops
                error = _error_text(result)
                status = db.fail(task.key, error, max_attempts, count=False)
                emit(MatchFailed(task, error, status, counted=False))
                raise EndpointDown(str(result))
            if isinstance(result, MatchOutcome):
                if db.finish(result):
                    summary.played += 1
                    summary.forfeits += int(result.status == "forfeit")
                    emit(MatchFinished(task, result, summary.played, to_play))
                else:
                    logger.warning("match %s came back twice; the second result is ignored", task.key)
                continue
            shared = isinstance(result, WorkerLost) and result.shared
            error = _error_text(result)
            status = db.fail(task.key, error, max_attempts, count=not shared)
            summary.failed_attempts += 1
            emit(MatchFailed(task, error, status, counted=not shared))
            if status == "failed":
                summary.failed += 1
                logger.warning("match %s failed %d times; last error: %s", task.key, max_attempts, error)
            elif isinstance(result, WorkerLost):
                suspects.append(task)
            else:
                queue.append(task)
