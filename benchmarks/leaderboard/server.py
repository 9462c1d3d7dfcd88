"""The embedded model server a leaderboard starts when its config says ``serve = "<model>"``.

Agent specs written with ``{serve}`` (``openai/smollm2-135m@{serve}``) talk to it; it is started
once per run with :func:`splitsecond.serving.server.start_server_subprocess` and stopped at the end.

The server dies with the run (see :mod:`splitsecond.serving.server.launcher`). Where that cannot be
arranged (no parent-death signal on the platform) a server can outlive a killed run, so each run
records its server in a state file next to the results database (``server.json``: pid, start
time, port, the run's pid); the next run finds a server whose run is gone and stops it before
starting its own, which frees the port and the memory it held.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

STATE_FILE = "server.json"
"""Name of the state file, in the results database's folder."""


def process_start_time(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), or ``None``
    when it does not exist or cannot be read. With the pid it names one process, even after reuse."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name before ")" may hold spaces


def _alive(pid: int | None, start_time: int | None) -> bool:
    return pid is not None and start_time is not None and process_start_time(pid) == start_time


def stop_stale_server(state_path: str | Path, timeout_s: float = 10.0) -> bool:
    """Stop the server recorded in ``state_path`` if the run that started it is gone.

    Returns ``True`` when a stale server was stopped. A server whose run is still alive is left
    alone (``RuntimeError``: two runs must not share one results folder); a record of processes
    that no longer exist is removed.
    """
    path = Path(state_path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        pid, start = int(state["pid"]), int(state["start_time"])
        owner, owner_start = state.get("owner_pid"), state.get("owner_start_time")
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable server state file %s", path)
        path.unlink(missing_ok=True)
        return False
    if not _alive(pid, start):
        path.unlink(missing_ok=True)
        return False
    if _alive(owner, owner_start):
        raise RuntimeError(
            f"another leaderboard run (pid {owner}) is using {path.parent} and its server (pid {pid}); "
            "wait for it or stop it first"
        )
    logger.warning(
        "stopping a stale embedded server (pid %d, port %s) left by a killed run", pid, state.get("port")
    )
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid, start) and time.monotonic() < deadline + 5.0:
            time.sleep(0.05)
    path.unlink(missing_ok=True)
    return True


def _record(state_path: Path, pid: int, port: int) -> None:
    state = {
        "pid": pid,
        "start_time": process_start_time(pid),
        "port": port,
        "owner_pid": os.getpid(),
        "owner_start_time": process_start_time(os.getpid()),
    }
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    tmp.replace(state_path)


@contextlib.contextmanager
def embedded_server(
    model: str | None,
    extra_args: Sequence[str] = (),
    timeout_s: float = 300.0,
    state_path: str | Path | None = None,
) -> Iterator[str | None]:
    """Serve ``model`` for the duration of the block; yields its ``api_base`` (``None`` if no model).

    Args:
        model: the model to serve, or ``None`` for no server.
        extra_args: further ``splitsecond serve`` options.
        timeout_s: how long to wait for the server to come up.
        state_path: where the server is recorded while it runs (see the module docstring); a stale
            server recorded there is stopped first.

    Raises:
        RuntimeError: when the server does not come up (the message holds its log), or another
            live run records a server at ``state_path``.
    """
    if model is None:
        yield None
        return
    from splitsecond.serving.server.launcher import start_server_subprocess

    state = Path(state_path) if state_path is not None else None
    if state is not None:
        stop_stale_server(state)
    logger.info("starting the embedded server for %s", model)
    server = start_server_subprocess(model, extra_args=list(extra_args), timeout_s=timeout_s)
    try:
        if state is not None:
            _record(state, server.pid, server.port)
        yield server.api_base
    finally:
        server.stop()
        if state is not None:
            state.unlink(missing_ok=True)
