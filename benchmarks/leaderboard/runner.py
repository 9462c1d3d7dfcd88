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

A config with a ``[stack]`` runs its components under a
:class:`~splitsecond.benchmarks.leaderboard.stack_runtime.StackRuntime` instead: servers with their
KV tier, one edge per worker slot (each match gets the edges of the slot it plays in), the plan
cache's Redis. Between polls the coordinator asks it to restart components that died; the matches
in flight then go back to ``pending`` uncounted and are replayed (an ``EndpointDown`` they raised
included); a component that dies again stops the run with
:class:`~splitsecond.benchmarks.leaderboard.stack_runtime.StackDown`. At the end the stack's
counters are written to ``<run folder>/stack/stats.json``.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from splitsecond.benchmarks.leaderboard.config import (
    DEFAULT_SERVE,
    LeaderboardConfig,
    ServeEntry,
    edge_refs,
    serve_refs,
)
from splitsecond.benchmarks.leaderboard.database import FINISHED, ResultsDB
from splitsecond.benchmarks.leaderboard.events import (
    MatchFailed,
    MatchFinished,
    RunEvent,
    RunFinished,
    RunStarted,
)
from splitsecond.benchmarks.leaderboard.executors import (
    Backend,
    ProcessPoolBackend,
    RayBackend,
    WorkerLost,
    default_workers,
)
from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome
from splitsecond.benchmarks.leaderboard.schedule import MatchTask, schedule
from splitsecond.benchmarks.leaderboard.server import STATE_FILE, embedded_servers
from splitsecond.benchmarks.leaderboard.stack_runtime import StackDown, StackRuntime
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
        replayed: matches sent back to ``pending`` (uncounted) because a stack component died
            while they were played.
        restarts: stack components restarted (their names, in order).
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
    replayed: int = 0
    restarts: list[str] = field(default_factory=list)

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
        probe_endpoints(sorted((n, s) for n, s in seats if not _uses_stack(s)))
        adapter = config.stack.plan_cache.adapter if config.stack is not None else None
        uses_cache = any(s.startswith("apc/") for _, s in seats)
        servers = config.servers_for([s for _, s in seats] + ([adapter] if adapter and uses_cache else []))
        edges = [ref for _, s in seats for ref in edge_refs(s)]
        if config.stack is not None and workers is None:
            workers = default_workers() if ray_address is None else 1
        cache_db = config.cache_db or str(db_path.parent / PLANS_FILE)
        with _serving(config, servers, edges, workers or 1, db_path.parent) as stack:
            api_bases, supervisor = stack
            if supervisor is not None and supervisor.cache_db is not None:
                cache_db = supervisor.cache_db
            probe_endpoints(
                sorted(
                    (n, resolve_spec(s, _first_slot(api_bases, supervisor)))
                    for n, s in seats
                    if _uses_stack(s)
                )
            )
            root = str(out_root) if out_root is not None else None
            backend: Backend
            if ray_address is not None:
                backend = RayBackend(
                    ray_address, workers, api_bases, root, cache_db=cache_db, adapter=adapter
                )
            else:
                backend = ProcessPoolBackend(
                    workers, api_bases, root, log_level=worker_log_level, cache_db=cache_db, adapter=adapter
                )
            summary.backend, summary.workers = backend.name, backend.capacity
            emit(RunStarted(config.name, len(tasks), finished, len(pending), backend.name, backend.capacity))
            stopped = False
            try:
                _coordinate(
                    db, backend, deque(pending), config.max_attempts, summary, emit, poll_s, supervisor
                )
            except KeyboardInterrupt:
                summary.interrupted = True
                logger.warning("interrupted: unfinished matches stay pending; run again to resume")
            except (EndpointDown, StackDown):
                stopped = True
                raise
            finally:
                backend.close(wait=not (summary.interrupted or stopped))
                db.recover_interrupted(by_key)
                if supervisor is not None:
                    with contextlib.suppress(Exception):
                        supervisor.write_stats()
        summary.status_counts = db.status_counts(config.name)
    summary.wall_s = time.perf_counter() - t0
    emit(RunFinished(summary))
    return summary


def _uses_stack(spec: str) -> bool:
    return bool(serve_refs(spec) or edge_refs(spec))


def _first_slot(api_bases: dict[str, str], supervisor: StackRuntime | None) -> dict[str, str]:
    return supervisor.bases(0) if supervisor is not None else api_bases


@contextlib.contextmanager
def _serving(
    config: LeaderboardConfig, servers: list[ServeEntry], edges: list[str], slots: int, run_dir: Path
) -> Iterator[tuple[dict[str, str], StackRuntime | None]]:
    """The servers (and, with a ``[stack]``, the whole stack) for the block: ``(api_bases,
    supervisor)``; the supervisor is ``None`` without a stack."""
    state = run_dir / STATE_FILE
    if config.stack is None:
        with embedded_servers(servers, state_path=state) as bases:
            default = config.default_serve()
            yield {**bases, **({DEFAULT_SERVE: bases[default]} if default in bases else {})}, None
        return
    with StackRuntime(config, servers, edges, slots, run_dir, state_path=state) as runtime:
        yield runtime.api_bases, runtime


class _Slots:
    """Which worker slot (and so which edges) each match in flight plays in, and which of them a
    component death taints (they are replayed, not scored)."""

    def __init__(self, supervisor: StackRuntime | None, capacity: int) -> None:
        self.supervisor = supervisor
        self.free = list(range(capacity - 1, -1, -1))
        self.of: dict[str, int] = {}
        self.tainted: dict[str, str] = {}

    def submit(self, backend: Backend, task: MatchTask) -> None:
        if self.supervisor is None:
            backend.submit(task)
            return
        slot = self.free.pop()
        self.of[task.key] = slot
        backend.submit(task, self.supervisor.bases(slot))

    def done(self, task: MatchTask) -> str | None:
        """Release the match's slot; the reason it must be replayed, or ``None``."""
        slot = self.of.pop(task.key, None)
        if slot is not None:
            self.free.append(slot)
        return self.tainted.pop(task.key, None)

    def check(self, summary: RunSummary) -> None:
        """Let the supervisor restart dead components; taint every match in flight if it did."""
        if self.supervisor is None:
            return
        restarted = self.supervisor.check()
        if restarted:
            summary.restarts += restarted
            why = f"replayed: {', '.join(restarted)} restarted while it was played"
            for key in self.of:
                self.tainted.setdefault(key, why)


def _coordinate(
    db: ResultsDB,
    backend: Backend,
    queue: deque[MatchTask],
    max_attempts: int,
    summary: RunSummary,
    emit: Callable[[RunEvent], None],
    poll_s: float,
    supervisor: StackRuntime | None = None,
) -> None:
    """The coordinator loop: keep the backend busy, record what comes back, retry failures, and
    (with a stack) restart dead components and replay the matches they touched."""
    suspects: deque[MatchTask] = deque()  # lost with a broken pool: replayed one at a time
    slots = _Slots(supervisor, backend.capacity)
    to_play = len(queue)
    while queue or suspects or backend.in_flight():
        slots.check(summary)
        if suspects:
            if not backend.in_flight():
                task = suspects.popleft()
                if db.start(task.key):
                    slots.submit(backend, task)
        else:
            while queue and backend.in_flight() < backend.capacity:
                task = queue.popleft()
                if db.start(task.key):
                    slots.submit(backend, task)
        results = backend.poll(poll_s)
        if results:
            slots.check(summary)
        for task, result in results:
            replay = slots.done(task)
            if replay is None and isinstance(result, EndpointDown) and supervisor is not None:
                time.sleep(min(1.0, poll_s * 4))  # a process killed just now may not be reaped yet
                before = len(summary.restarts)
                slots.check(summary)
                if len(summary.restarts) > before:
                    replay = f"replayed: {', '.join(summary.restarts[before:])} restarted while it was played"
            if replay is not None:
                # a component died under it: not the match's fault, nothing of it is scored
                db.fail(task.key, replay, max_attempts, count=False)
                summary.replayed += 1
                emit(MatchFailed(task, replay, "pending", counted=False))
                queue.appendleft(task)
                continue
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
