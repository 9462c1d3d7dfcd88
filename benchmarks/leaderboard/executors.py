"""Where matches run: a local process pool (default) or a Ray cluster.

Both backends take :class:`MatchTask` s and hand back, for each, a :class:`MatchOutcome` or the
exception that ended it. A worker process that dies mid-match (a segfault, ``os._exit``, the OOM
killer) comes back as :class:`WorkerLost`:

* Ray runs each match as its own task, so the loss is pinned on that match (``shared=False``);
* a ``ProcessPoolExecutor`` breaks as a whole when one of its processes dies: every match in
  flight fails and none can be blamed (``shared=True`` when more than one was running). The
  backend then starts a fresh pool; the runner replays such matches one at a time so the next
  death is pinned on the right one.

Pool workers die with the coordinator (a ``kill -9`` of ``splitsecond leaderboard run`` leaves no
worker, and so no multiprocessing resource tracker, behind) and run one torch/OpenMP thread each,
so that they and the embedded server share the cores without oversubscribing them; Ray gives each
task one CPU and sets the same. A local Ray instance listens on loopback only.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome
from splitsecond.benchmarks.leaderboard.schedule import MatchTask
from splitsecond.benchmarks.leaderboard.worker import ApiBases, play_match
from splitsecond.serving.server.launcher import die_with_parent, passive_openmp_env

logger = logging.getLogger(__name__)

Completion = tuple[MatchTask, MatchOutcome | BaseException]


class WorkerLost(RuntimeError):
    """The process playing a match died before returning.

    Attributes:
        shared: other matches were lost with it, so the death cannot be blamed on this one.
    """

    def __init__(self, message: str, shared: bool) -> None:
        super().__init__(message)
        self.shared = shared


class Backend(Protocol):
    """A place that plays matches."""

    name: str
    capacity: int

    def submit(self, task: MatchTask, api_bases: ApiBases = None) -> None:
        """Start playing ``task`` (``api_bases``: this match's endpoints instead of the backend's)."""

    def poll(self, timeout_s: float) -> list[Completion]:
        """Wait up to ``timeout_s`` for at least one match to end; returns those that ended."""

    def in_flight(self) -> int:
        """Matches submitted and not yet returned by :meth:`poll`."""

    def close(self, wait: bool = True) -> None:
        """Stop the workers: let the matches still running finish (``wait``), or abandon them now."""


#: A pool worker's thread settings: one thread for torch (the plan cache's embedder), MKL and OpenBLAS.
WORKER_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

# A local Ray instance started here binds loopback: Ray resolves 127.0.0.1 to the machine's network
# address unless this flag (read when ray is imported) is off.
_RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def default_workers() -> int:
    """Matches at once by default: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _init_worker(log_level: int, parent_pid: int | None = None) -> None:
    """Pool worker start-up: die with the coordinator, one torch/OpenMP thread (set before anything
    imports torch), log only at ``log_level`` and above (the coordinator owns the console)."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    os.environ.update(WORKER_THREAD_ENV)
    os.environ.update(passive_openmp_env())
    if "torch" in sys.modules:  # pragma: no cover - the worker's imports do not load torch
        sys.modules["torch"].set_num_threads(1)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(log_level)


class ProcessPoolBackend:
    """Matches on a local ``ProcessPoolExecutor`` (spawn start method).

    Args:
        workers: processes (default: :func:`default_workers`).
        api_bases: the servers' ``api_base`` for ``{serve...}`` specs (see
            :data:`~splitsecond.benchmarks.leaderboard.worker.ApiBases`).
        out_root: where matches write their logs and replays (``None``: nowhere).
        log_level: logging level inside the workers.
        cache_db: plan cache store of ``apc/`` agents (``None``: the default store).
        adapter: the plan cache's cheap model, an LLM spec ``model@api_base`` (``None``: each
            agent's own model).
    """

    name = "process-pool"

    def __init__(
        self,
        workers: int | None = None,
        api_bases: ApiBases = None,
        out_root: str | None = None,
        log_level: int = logging.ERROR,
        cache_db: str | None = None,
        adapter: str | None = None,
    ) -> None:
        n = workers if workers is not None else default_workers()
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.capacity = n
        self.api_bases = api_bases
        self.out_root = out_root
        self.log_level = log_level
        self.cache_db = cache_db
        self.adapter = adapter
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future, MatchTask] = {}
        self.restarts = 0

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.capacity,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.log_level, os.getpid()),
            )
        return self._pool

    def submit(self, task: MatchTask, api_bases: ApiBases = None) -> None:
        """Queue ``task`` on the pool (a broken pool is replaced first); ``api_bases``: this match's
        endpoints instead of the backend's."""
        bases = api_bases if api_bases is not None else self.api_bases
        args = (task, bases, self.out_root, self.cache_db, self.adapter)
        try:
            future = self._executor().submit(play_match, *args)
        except BrokenProcessPool:
            self._restart()
            future = self._executor().submit(play_match, *args)
        self._futures[future] = task

    def _restart(self) -> None:
        logger.warning("a worker process died; starting a fresh process pool")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self.restarts += 1

    def poll(self, timeout_s: float) -> list[Completion]:
        """Matches that ended within ``timeout_s``."""
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), timeout=timeout_s, return_when=FIRST_COMPLETED)
        out: list[Completion] = []
        broken = [f for f in done if isinstance(f.exception(), BrokenProcessPool)]
        if broken:
            # The whole pool is gone: every match in flight is lost with it.
            lost = list(self._futures.items())
            wait([f for f, _ in lost], timeout=30.0)
            shared = len(lost) > 1
            for future, task in lost:
                exc = future.exception() if future.done() else None
                if future.done() and exc is None:
                    out.append((task, future.result()))
                elif exc is not None and not isinstance(exc, BrokenProcessPool):
                    out.append((task, exc))
                else:
                    out.append((task, WorkerLost(f"worker process died: {exc}", shared=shared)))
            self._futures.clear()
            self._restart()
            return out
        for future in done:
            task = self._futures.pop(future)
            exc = future.exception()
            out.append((task, exc if exc is not None else future.result()))
        return out

    def in_flight(self) -> int:
        """Matches on the pool."""
        return len(self._futures)

    def close(self, wait: bool = True) -> None:
        """Shut the pool down, cancelling queued matches; without ``wait`` the worker processes are
        terminated, abandoning the matches they were playing."""
        if self._pool is not None:
            processes = list(getattr(self._pool, "_processes", {}).values()) if not wait else []
            self._pool.shutdown(wait=wait, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(timeout=5.0)
            self._pool = None
        self._futures.clear()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``host:port`` / ``ray://host:port`` address nobody listens on (``ray.init``
    would retry for minutes).

    Raises:
        RuntimeError: when the port does not accept a connection.
    """
    if address in ("local", "auto"):
        return
    hostport = address.removeprefix("ray://").rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise RuntimeError(f"cannot reach a Ray cluster at {address!r}: {exc}") from None


class RayBackend:
    """Matches as Ray tasks (one CPU each) on a cluster or a local Ray instance.

    Args:
        address: ``ray.init`` address (``auto``, ``ray://host:10001`` ...) or ``local`` to start
            a local instance with ``workers`` CPUs, on loopback only. An already initialised Ray is
            reused.
        workers: matches in flight at once (default: the cluster's CPUs).
        api_bases: the servers' ``api_base`` for ``{serve...}`` specs; they must be reachable from
            the Ray nodes.
        out_root: where matches write their logs and replays (a path the nodes share).
        cache_db: plan cache store of ``apc/`` agents (a path the nodes share, or a redis:// URL).
        adapter: the plan cache's cheap model (see :class:`ProcessPoolBackend`).

    Raises:
        RuntimeError: when ray is not installed.
    """

    name = "ray"

    def __init__(
        self,
        address: str = "local",
        workers: int | None = None,
        api_bases: ApiBases = None,
        out_root: str | None = None,
        cache_db: str | None = None,
        adapter: str | None = None,
    ) -> None:
        if address == "local" and "ray" not in sys.modules:
            for name, value in _RAY_LOOPBACK_ENV.items():
                os.environ.setdefault(name, value)
        try:
            import ray
        except ImportError:
            raise RuntimeError(
                "--ray-address needs the ray package: pip install 'splitsecond[distributed]'"
            ) from None
        self._ray = ray
        self.started_here = False
        if not ray.is_initialized():
            _check_reachable(address)
            try:
                if address == "local":
                    ray.init(
                        num_cpus=workers,
                        include_dashboard=False,
                        log_to_driver=False,
                        _node_ip_address="127.0.0.1",
                    )
                else:
                    ray.init(address=address, log_to_driver=False)
            except Exception as exc:
                raise RuntimeError(f"could not connect to Ray at {address!r}: {exc}") from exc
            self.started_here = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.capacity = workers if workers is not None else max(1, cpus)
        self.api_bases = api_bases
        self.out_root = out_root
        self.cache_db = cache_db
        self.adapter = adapter
        self._remote = ray.remote(num_cpus=1, max_retries=0)(play_match)
        self._refs: dict[Any, MatchTask] = {}

    def submit(self, task: MatchTask, api_bases: ApiBases = None) -> None:
        """Start ``task`` as a Ray task (``api_bases``: this match's endpoints instead of the backend's)."""
        bases = api_bases if api_bases is not None else self.api_bases
        self._refs[self._remote.remote(task, bases, self.out_root, self.cache_db, self.adapter)] = task

    def poll(self, timeout_s: float) -> list[Completion]:
        """Matches that ended within ``timeout_s``."""
        if not self._refs:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout_s)
        rest = [r for r in self._refs if r not in ready]
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready = ready + more
        out: list[Completion] = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                out.append((task, ray.get(ref)))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                out.append((task, WorkerLost(f"ray worker died: {exc}", shared=False)))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                out.append((task, cause))
            except Exception as exc:  # noqa: BLE001 - any other Ray failure fails this match only
                out.append((task, exc))
        return out

    def in_flight(self) -> int:
        """Tasks not yet collected."""
        return len(self._refs)

    def close(self, wait: bool = True) -> None:
        """Cancel outstanding tasks (running ones are killed either way); shut Ray down if this
        backend started it."""
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001
                logger.debug("could not cancel a Ray task", exc_info=True)
        self._refs.clear()
        if self.started_here:
            self._ray.shutdown()
