"""The model servers a leaderboard starts: ``leaderboard.serve = "<model>"`` and ``[[serve]]`` entries.

Agent specs written with ``{serve}`` or ``{serve:<name>}`` (``openai/smollm2-135m@{serve}``) talk
to them; :func:`embedded_servers` starts each with
:func:`splitsecond.serving.server.start_server_subprocess` (which waits for its health check) and
stops them all at the end of the run, on Ctrl-C or on a crash.

The servers die with the run (see :mod:`splitsecond.serving.server.launcher`). Where that cannot
be arranged (no parent-death signal on the platform) a server can outlive a killed run, so each run
records its servers in a state file next to the results database (``server.json``: the run's pid
and, per server, its name, pid, start time and port); the next run finds servers whose run is gone
and stops them before starting its own, which frees the ports and the memory they held.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from splitsecond.benchmarks.leaderboard.config import ServeEntry

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


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _alive(pid: int | None, start_time: int | None) -> bool:
    """The process ``pid`` started at ``start_time`` still runs (an exited one not yet reaped does not)."""
    return (
        pid is not None
        and start_time is not None
        and process_start_time(pid) == start_time
        and not _zombie(pid)
    )


def _read_state(path: Path) -> tuple[list[dict[str, Any]], Any, Any] | None:
    """``(servers, owner pid, owner start time)`` of a state file, old single-server form included;
    ``None`` when there is no file. Raises ``ValueError``/``KeyError``/``TypeError`` when unreadable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    servers = state.get("servers", [state])
    records = [
        {
            "name": s.get("name", "?"),
            "pid": int(s["pid"]),
            "start_time": int(s["start_time"]),
            "port": s.get("port"),
        }
        for s in servers
    ]
    return records, state.get("owner_pid"), state.get("owner_start_time")


def _stop(pid: int, start: int, deadline: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    while _alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid, start) and time.monotonic() < deadline + 5.0:
            time.sleep(0.05)


def stop_stale_server(state_path: str | Path, timeout_s: float = 10.0) -> bool:
    """Stop the servers recorded in ``state_path`` if the run that started them is gone.

    Returns ``True`` when a stale server was stopped. Servers whose run is still alive are left
    alone (``RuntimeError``: two runs must not share one results folder); a record of processes
    that no longer exist is removed.
    """
    path = Path(state_path)
    try:
        state = _read_state(path)
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable server state file %s", path)
        path.unlink(missing_ok=True)
        return False
    if state is None:
        return False
    servers, owner, owner_start = state
    alive = [s for s in servers if _alive(s["pid"], s["start_time"])]
    if not alive:
        path.unlink(missing_ok=True)
        return False
    if _alive(owner, owner_start):
        pids = ", ".join(str(s["pid"]) for s in alive)
        raise RuntimeError(
            f"another leaderboard run (pid {owner}) is using {path.parent} and its server(s) (pid {pids}); "
            "wait for it or stop it first"
        )
    deadline = time.monotonic() + timeout_s
    for s in alive:
        logger.warning(
            "stopping a stale embedded server %r (pid %d, port %s) left by a killed run",
            s["name"],
            s["pid"],
            s["port"],
        )
        _stop(s["pid"], s["start_time"], deadline)
    path.unlink(missing_ok=True)
    return True


def _record(state_path: Path, servers: Sequence[tuple[str, Any]]) -> None:
    """Write the state file: this run and its servers ``(name, ServerProcess)``."""
    state = {
        "owner_pid": os.getpid(),
        "owner_start_time": process_start_time(os.getpid()),
        "servers": [
            {"name": name, "pid": s.pid, "start_time": process_start_time(s.pid), "port": s.port}
            for name, s in servers
        ],
    }
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    tmp.replace(state_path)


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def embedded_servers(
    entries: Sequence[ServeEntry], state_path: str | Path | None = None
) -> Iterator[dict[str, str]]:
    """Serve every entry for the duration of the block; yields ``{name: api_base}``.

    The servers start one after the other (each waits for its health check) and all stop when the
    block ends, however it ends (an exception, Ctrl-C, a failed start of a later server).

    Args:
        entries: the servers to start (none: no server, an empty mapping).
        state_path: where the servers are recorded while they run (see the module docstring); stale
            servers recorded there are stopped first.

    Raises:
        RuntimeError: when a server does not come up (the message names the entry and holds its
            log), a fixed port is taken, or another live run records servers at ``state_path``.
    """
    if not entries:
        yield {}
        return
    from splitsecond.serving.server.launcher import start_server_subprocess

    state = Path(state_path) if state_path is not None else None
    if state is not None:
        stop_stale_server(state)
    started: list[tuple[str, Any]] = []
    try:
        for entry in entries:
            if entry.port is not None and not _port_free(entry.port):
                raise RuntimeError(
                    f"serve entry {entry.name!r} ({entry.model}): port {entry.port} is in use; "
                    'free it or set port = "auto"'
                )
            logger.info("starting the embedded server %r for %s", entry.name, entry.model)
            try:
                server = start_server_subprocess(
                    entry.model, port=entry.port, extra_args=list(entry.args), timeout_s=entry.timeout_s
                )
            except RuntimeError as exc:
                raise RuntimeError(
                    f"serve entry {entry.name!r} ({entry.model}) did not start: {exc}"
                ) from exc
            started.append((entry.name, server))
            if state is not None:
                _record(state, started)
        yield {name: server.api_base for name, server in started}
    finally:
        for _, server in reversed(started):
            server.stop()
        if state is not None and started:
            state.unlink(missing_ok=True)


@contextlib.contextmanager
def embedded_server(
    model: str | None,
    extra_args: Sequence[str] = (),
    timeout_s: float = 300.0,
    state_path: str | Path | None = None,
) -> Iterator[str | None]:
    """Serve one ``model`` for the duration of the block; yields its ``api_base`` (``None`` if no
    model). See :func:`embedded_servers`."""
    entries = [] if model is None else [ServeEntry(model, model, None, tuple(extra_args), timeout_s)]
    with embedded_servers(entries, state_path) as bases:
        yield bases.get(model) if model is not None else None
