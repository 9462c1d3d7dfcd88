"""The running stack of a leaderboard: its servers, one edge per worker and the plan cache's Redis.

:class:`StackRuntime` starts every component the unplayed matches need (servers with their KV tier,
then the edges, each health-checked), writes each component's log under ``<run folder>/stack/logs``
and records the processes in the run's state file (a later run stops them if this one was killed).
The coordinator calls :meth:`StackRuntime.check` between polls: a component whose process exited,
or that failed two ``/health`` probes in a row, is restarted (a server with its edges, on the same
ports, so the workers' endpoints stay valid) and its name returned, so the matches in flight are
replayed rather than scored; a component that dies more than ``stack.max_restarts`` times raises
:class:`StackDown`. :meth:`StackRuntime.stats` reads every server's and edge's
``/debug/engine_stats`` (what the stack benchmark reports; :func:`read_stack_stats` reads those of
every run of a folder, a resumed one included); :meth:`StackRuntime.close` stops
everything and removes the flash zones it made, also on Ctrl-C or a crash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from splitsecond.benchmarks.leaderboard.config import (
    DEFAULT_SERVE,
    EDGE_PREFIX,
    LeaderboardConfig,
    ServeEntry,
)
from splitsecond.benchmarks.leaderboard.server import _port_free, _record, stop_stale_server
from splitsecond.benchmarks.leaderboard.stack import StackConfig, StackEdge

logger = logging.getLogger(__name__)

STACK_DIR = "stack"
"""The stack's folder inside the run folder (logs, flash zones, ``stats.json``)."""

STATS_FILE = "stats.json"
"""What :meth:`StackRuntime.stats` found at the end of the run, in the stack's folder."""


class StackDown(RuntimeError):
    """A stack component died more often than ``stack.max_restarts`` allows (or did not come back):
    the run stops and the matches in flight stay pending."""


@dataclass
class Component:
    """One process of the stack.

    Attributes:
        name: ``server <name>``, ``edge <name>#<slot>`` or ``redis``.
        kind: ``server``, ``edge`` or ``redis``.
        launch: starts the process and waits until it is ready; returns a
            :class:`~splitsecond.serving.server.launcher.ServerProcess`.
        probe: ``True`` when the running process answers its health check.
        server: for an edge, the name of the server it drafts for.
        process: the running process.
        restarts: restarts so far.
        logs: every log file of the component (one per start).
    """

    name: str
    kind: str
    launch: Callable[[], Any]
    probe: Callable[[Any], bool]
    server: str | None = None
    process: Any = None
    restarts: int = 0
    failed_probes: int = 0
    logs: list[Path] = field(default_factory=list)

    def exit_code(self) -> int | None:
        """The exit code once the process has ended, else ``None``."""
        return None if self.process is None else self.process.proc.poll()


def _http_ok(process: Any) -> bool:
    try:
        return httpx.get(f"{process.base_url}/health", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def served_max_model_len(api_base: str) -> int | None:
    """The context length a running server announces on ``GET /models`` (``None``: not announced).
    An edge takes its server's, so a prompt the server accepts is not refused at the edge (whose own
    default is shorter)."""
    try:
        data = httpx.get(f"{api_base}/models", timeout=10.0).json().get("data") or [{}]
        value = data[0].get("max_model_len")
    except (httpx.HTTPError, ValueError, AttributeError, IndexError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else None


def _redis_ok(process: Any) -> bool:
    try:
        with socket.create_connection((process.host, process.port), timeout=2.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_redis(process: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with code {process.proc.returncode}:\n{process.log_tail()}"
            )
        if _redis_ok(process):
            return
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"redis-server was not ready after {timeout_s:.0f} s")


class StackRuntime:
    """Starts, watches and stops the components of ``config.stack`` (see the module docstring).

    Args:
        config: the leaderboard (its ``stack`` must be set).
        servers: the servers the unplayed matches need.
        edges: the edges they need (names).
        slots: matches played at once: one edge of each kind per slot.
        run_dir: the run folder (the results database's).
        state_path: the run's state file of started processes (see :mod:`.server`).
    """

    def __init__(
        self,
        config: LeaderboardConfig,
        servers: Iterable[ServeEntry],
        edges: Iterable[str],
        slots: int,
        run_dir: str | Path,
        state_path: str | Path | None = None,
    ) -> None:
        if config.stack is None:
            raise ValueError("StackRuntime needs a config with a [stack]")
        self.config = config
        self.stack: StackConfig = config.stack
        self.entries = list(servers)
        self.edge_names = list(dict.fromkeys(edges))
        self.slots = slots
        self.dir = Path(run_dir) / STACK_DIR
        self.logs = self.dir / "logs"
        self.state_path = Path(state_path) if state_path is not None else None
        self.components: list[Component] = []
        self.api_bases: dict[str, str] = {}
        self.edge_bases: list[dict[str, str]] = [{} for _ in range(slots)]
        self.cache_db: str | None = None
        self.zones: list[Path] = []
        self._ports: dict[str, int] = {}
        self._spec_ports: dict[str, int] = {}
        self._last_probe = time.monotonic()

    # ------------------------------------------------------------------ set-up

    def _server_launch(self, entry: ServeEntry) -> Callable[[], Any]:
        from splitsecond.serving.kvtier.auto import auto_zone_mb
        from splitsecond.serving.server.launcher import find_free_port, start_server_subprocess

        settings = self.stack.server(entry.name)
        port = entry.port or find_free_port()
        self._ports[entry.name] = port
        zone = Path(settings.zone_path) if settings.zone_path else self.dir / f"{_slug(entry.name)}.zone"
        size = settings.zone_size_mb
        if settings.kv_tier == "flash" and size is None:
            size = auto_zone_mb(zone, 1024)
            if size == 0:
                raise StackDown(
                    f"stack.servers.{entry.name}: no room for a flash zone in {zone.parent} (not writable, "
                    'or too little free disk); set zone_path, zone_size_mb or kv_tier = "auto"'
                )
        if settings.kv_tier in ("flash", "auto"):
            self.zones.append(zone)
        args = [*entry.args, *settings.serve_args(str(zone), size)]
        if entry.name in self.stack.verified_servers():
            spec_port = find_free_port()
            self._spec_ports[entry.name] = spec_port
            args += ["--speculative-edge", "--spec-port", str(spec_port)]

        def launch() -> Any:
            if not _port_free(port):
                raise StackDown(f"server {entry.name!r} ({entry.model}): port {port} is in use")
            return start_server_subprocess(
                entry.model, port=port, extra_args=args, timeout_s=entry.timeout_s, keep_log=True
            )

        return launch

    def _edge_launch(self, edge: StackEdge, slot: int) -> Callable[[], Any]:
        from splitsecond.serving.server.launcher import ServerProcess, find_free_port

        model = self.config.serve_entries()[edge.server].model
        port = find_free_port()
        server = f"127.0.0.1:{self._spec_ports[edge.server]}"
        args = [sys.executable, "-c", "from splitsecond.cli import main; main()", "edge", "--server", server,
                "--host", "127.0.0.1", "--port", str(port),
                *edge.edge_args(model, self.config.act_timeout_s)]  # fmt: skip
        self.edge_bases[slot][EDGE_PREFIX + edge.name] = f"http://127.0.0.1:{port}/v1"

        def launch() -> Any:
            length = served_max_model_len(f"http://127.0.0.1:{self._ports[edge.server]}/v1")
            own = any(a.startswith("--max-model-len") for a in edge.args)
            extra = ["--max-model-len", str(length)] if length and not own else []
            process = ServerProcess([*args, *extra], "127.0.0.1", port, None, _child_env(), keep_log=True)
            try:
                process.wait_ready(edge.timeout_s)
            except BaseException:
                process.stop()
                raise
            return process

        return launch

    def _redis_launch(self) -> Callable[[], Any]:
        from splitsecond.serving.server.launcher import ServerProcess, find_free_port

        exe = shutil.which("redis-server")
        if exe is None:
            raise StackDown('stack.plan_cache.store = "redis" needs redis-server on PATH')
        port = find_free_port()
        self.cache_db = f"redis://127.0.0.1:{port}/0"
        args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

        def launch() -> Any:
            process = ServerProcess(args, "127.0.0.1", port, None, _child_env(), keep_log=True)
            _wait_redis(process, 30.0)
            return process

        return launch

    def start(self) -> dict[str, str]:
        """Start every component (servers, then edges, then Redis); returns the servers'
        ``api_base`` by name (:data:`DEFAULT_SERVE` for the bare ``{serve}``).

        Raises:
            StackDown: when a component does not come up (the message names it and holds its log).
        """
        if self.state_path is not None:
            stop_stale_server(self.state_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        for entry in self.entries:
            self.components.append(
                Component(f"server {entry.name}", "server", self._server_launch(entry), _http_ok)
            )
        edges = self.config.stack.edges if self.config.stack else {}
        for name in self.edge_names:
            for slot in range(self.slots):
                self.components.append(
                    Component(
                        f"edge {name}#{slot}",
                        "edge",
                        self._edge_launch(edges[name], slot),
                        _http_ok,
                        server=edges[name].server,
                    )
                )
        if self.stack.plan_cache.store == "redis":
            self.components.append(Component("redis", "redis", self._redis_launch(), _redis_ok))
        elif self.stack.plan_cache.store != "sqlite":
            self.cache_db = self.stack.plan_cache.store
        for component in self.components:
            self._start(component)
        bases = {entry.name: f"http://127.0.0.1:{self._ports[entry.name]}/v1" for entry in self.entries}
        default = self.config.default_serve()
        if default in bases:
            bases[DEFAULT_SERVE] = bases[default]
        self.api_bases = bases
        return bases

    def _start(self, component: Component) -> None:
        logger.info("starting %s", component.name)
        try:
            component.process = component.launch()
        except (RuntimeError, OSError) as exc:
            raise StackDown(f"{component.name} did not start: {exc}") from exc
        component.failed_probes = 0
        link = self.logs / f"{_slug(component.name)}.{len(component.logs)}.log"
        with contextlib.suppress(OSError):
            link.unlink(missing_ok=True)
            link.symlink_to(component.process.log_path)
        component.logs.append(link)
        self._record()

    def _record(self) -> None:
        if self.state_path is not None:
            _record(self.state_path, [(c.name, c.process) for c in self.components if c.process is not None])

    def bases(self, slot: int) -> dict[str, str]:
        """The ``api_bases`` of a match played in ``slot``: the servers and that slot's edges."""
        return {**self.api_bases, **self.edge_bases[slot]}

    # ------------------------------------------------------------------ supervision

    def check(self) -> list[str]:
        """Restart the components that died (or failed two health probes in a row); returns their
        names (empty: all is well).

        Raises:
            StackDown: when a component died more than ``stack.max_restarts`` times or does not come
                back.
        """
        probe = time.monotonic() - self._last_probe >= self.stack.health_interval_s
        if probe:
            self._last_probe = time.monotonic()
        dead: list[tuple[Component, str]] = []
        for c in self.components:
            code = c.exit_code()
            if code is not None:
                dead.append((c, f"exited with code {code}"))
            elif probe:
                c.failed_probes = 0 if c.probe(c.process) else c.failed_probes + 1
                if c.failed_probes >= 2:
                    dead.append((c, "stopped answering its health check"))
        if not dead:
            return []
        restarted: list[str] = []
        for c, why in dead:
            if c.restarts >= self.stack.max_restarts:
                log = self._keep_log(c)
                raise StackDown(
                    f"{c.name} {why} again after {c.restarts} restart(s); the run stops. The matches in "
                    f"flight stay pending: fix the cause and run again to resume. Its log: {log}"
                )
            logger.warning(
                "%s %s: restarting it (%d of %d)", c.name, why, c.restarts + 1, self.stack.max_restarts
            )
            group = [c]
            if c.kind == "server":  # its edges talk to the old verifier: they restart with it
                group += [
                    e for e in self.components if e.kind == "edge" and e.server == c.name.split(" ", 1)[1]
                ]
            for member in group:
                self._stop(member)
            c.restarts += 1
            for member in group:
                self._start(member)
                restarted.append(member.name)
        return restarted

    # ------------------------------------------------------------------ results and tear-down

    def stats(self) -> dict[str, Any]:
        """Every component's state and, for servers and edges, its ``/debug/engine_stats``."""
        out: dict[str, Any] = {}
        for c in self.components:
            row: dict[str, Any] = {
                "kind": c.kind,
                "restarts": c.restarts,
                "logs": [str(p) for p in c.logs],
                "alive": c.exit_code() is None,
            }
            if c.kind != "redis" and row["alive"]:
                try:
                    row["engine_stats"] = httpx.get(
                        f"{c.process.base_url}/debug/engine_stats", timeout=10.0
                    ).json()
                except (httpx.HTTPError, ValueError) as exc:
                    row["error"] = str(exc)
            out[c.name] = row
        return out

    def write_stats(self) -> Path:
        """Write :meth:`stats` to ``<stack folder>/stats.json``; returns its path. The counters of an
        earlier run of the same folder (a resumed run: its servers started afresh) are kept as
        ``stats.<n>.json``, so :func:`read_stack_stats` sees every run's."""
        path = self.dir / STATS_FILE
        if path.exists():
            path.rename(self.dir / f"stats.{len(_earlier_stats(self.dir)) + 1}.json")
        path.write_text(json.dumps(self.stats(), indent=2, default=str), encoding="utf-8")
        return path

    def _keep_log(self, c: Component) -> Path | None:
        """Replace the component's latest log link by a copy of the log (the temp file is removed)."""
        if c.process is None or not c.logs:
            return None
        link = c.logs[-1]
        source = Path(c.process.log_path)
        with contextlib.suppress(OSError):
            if source.exists():
                link.unlink(missing_ok=True)
                shutil.copyfile(source, link)
                source.unlink()
        return link

    def _stop(self, c: Component) -> None:
        if c.process is None:
            return
        c.process.stop()
        self._keep_log(c)
        c.process = None

    def close(self) -> None:
        """Stop every component (edges first), keep their logs, remove the flash zones made here."""
        for c in reversed(self.components):
            with contextlib.suppress(Exception):
                self._stop(c)
        if self.state_path is not None:
            self.state_path.unlink(missing_ok=True)
        for zone in self.zones:
            with contextlib.suppress(OSError):
                zone.unlink(missing_ok=True)

    def __enter__(self) -> StackRuntime:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _earlier_stats(folder: Path) -> list[Path]:
    """The kept counters of earlier runs (``stats.<n>.json``), oldest first."""
    found = [
        (int(p.stem.split(".")[1]), p) for p in folder.glob("stats.*.json") if p.stem.split(".")[1].isdigit()
    ]
    return [p for _, p in sorted(found)]


def read_stack_stats(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every run's stack counters (what :meth:`StackRuntime.write_stats` wrote) in a run folder, oldest
    first: one entry per run, as a resumed leaderboard starts its servers afresh and their counters
    from zero (sum them for the whole leaderboard); empty when no run wrote any."""
    folder = Path(run_dir) / STACK_DIR
    paths = [*_earlier_stats(folder), folder / STATS_FILE]
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths if p.exists()]


def stop_on_sigterm() -> bool:
    """Make ``SIGTERM`` (``timeout``, ``kill``) stop this process like Ctrl-C, so a run stops its stack,
    keeps its logs and leaves its matches resumable; only from the main thread (returns whether set)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    return True


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)


def _child_env() -> dict[str, str]:
    from splitsecond.serving.server.config import API_KEY_ENV
    from splitsecond.serving.server.launcher import passive_openmp_env

    env = dict(os.environ)
    env.pop(API_KEY_ENV, None)
    env.update(passive_openmp_env(env))
    return env


@contextlib.contextmanager
def stack_for_play(
    path: str | Path, specs: list[str], env: str, run_dir: str | Path
) -> Iterator[tuple[list[str], str | None, str | None]]:
    """The stack a TOML file describes (``[[serve]]`` entries and a ``[stack]``; a leaderboard config
    will do, its other tables are ignored) started for one match of ``specs`` (``splitsecond play --stack``); yields the specs with
    their ``{serve:...}``/``{edge:...}`` resolved, the plan cache store (``None``: the default) and the
    adapter (resolved, or ``None``). Everything stops when the block ends.

    Raises:
        ConfigError: for a bad file or a spec naming a server or edge the file does not define.
        StackDown: when a component does not start.
    """
    import tomllib

    from splitsecond.benchmarks.leaderboard.config import (
        AgentEntry,
        ConfigError,
        EnvSettings,
        _check_keys,
        _serve_entry,
        edge_refs,
        env_key,
        serve_refs,
        substitute_serve,
    )
    from splitsecond.benchmarks.leaderboard.stack import stack_from_dict

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--stack {path}: {exc}") from None
    _check_keys(
        data, ("serve", "stack", "leaderboard", "envs", "agents"), f"--stack {path}"
    )  # a leaderboard's is fine
    key = env_key(env)
    config = LeaderboardConfig(
        name="play",
        agents=tuple(AgentEntry(f"seat{i}", spec) for i, spec in enumerate(specs)),
        envs={key: EnvSettings(key, (0,))},
        servers=tuple(_serve_entry(i, t) for i, t in enumerate(data.get("serve", []))),
        stack=stack_from_dict(data.get("stack", {})),
    )
    config.stack.check_names(config.serve_entries())
    adapter = config.stack.plan_cache.adapter
    for spec in [*specs, *([adapter] if adapter else [])]:
        for ref in serve_refs(spec):
            config.serve_name(ref)
        for ref in edge_refs(spec):
            config.edge(ref)
    needed = config.servers_for([*specs, *([adapter] if adapter else [])])
    edges = [ref for spec in specs for ref in edge_refs(spec)]
    with StackRuntime(config, needed, edges, 1, run_dir) as runtime:
        bases = runtime.bases(0)
        yield (
            [substitute_serve(s, bases) for s in specs],
            runtime.cache_db,
            substitute_serve(adapter, bases) if adapter else None,
        )
