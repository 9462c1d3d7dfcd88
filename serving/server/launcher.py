"""Run the server: in this process (:func:`run_server`) or as a subprocess for tests and benchmarks.

:func:`start_server_subprocess` starts the real ``splitsecond serve`` command on a free loopback
port and waits for ``/health``; end-to-end tests of every subsystem use it::

    with start_server_subprocess("smollm2-135m") as server:
        client = openai.OpenAI(base_url=server.api_base, api_key="unused")

Child processes do not outlive their owner: a server started here runs in its own process group
and, on Linux, gets ``SIGKILL`` when the thread that started it dies (``PR_SET_PDEATHSIG``), so a
``kill -9`` of a benchmark or leaderboard run leaves no server holding its memory and port. Its
OpenMP threads sleep instead of spinning while they wait (``OMP_WAIT_POLICY=PASSIVE``, unless the
environment says otherwise): spinning threads next to a busy process made decode 7-25x slower.

This module imports neither torch nor the engine at import time.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

import httpx

from splitsecond.serving.server.config import API_KEY_ENV, ServerConfig

logger = logging.getLogger(__name__)

#: The model served when none is named.
DEFAULT_MODEL = "smollm2-135m"

_PR_SET_PDEATHSIG = 1
# Set by the user, these decide how OpenMP threads wait; otherwise they sleep (see passive_openmp_env).
_OPENMP_WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def passive_openmp_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables that make a new process's OpenMP threads sleep while they wait, unless ``environ``
    (default ``os.environ``) already says how they should wait.

    libgomp's default spins for a while at every barrier: with a busy process on one of two cores, a
    spinning thread holds the core its descheduled sibling needs: a 32-token request took 14-39 s
    with spinning threads and 1.6-2.0 s with sleeping ones on a shared 2-core machine
    (``benchmarks/contention.py``). The variables are read when torch loads, so they
    must be in a process's environment before it imports torch.
    """
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in _OPENMP_WAIT_VARS):
        return {}
    return {"OMP_WAIT_POLICY": "PASSIVE"}


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` (Linux), looked up once, before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> bool:
    """Have Linux send ``sig`` to this process when the thread that started it dies.

    Call it first thing in a child process (or as ``preexec_fn``) with the pid of its parent; if the
    parent is already gone, the signal is sent at once. Returns ``False`` where the platform has no
    parent-death signal (the child then relies on its owner's ``stop``).
    """
    prctl = _prctl()
    if prctl is None or prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)
    return True


def _tie_to_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that ties a child to this process, or ``None`` off the main thread (the
    signal follows the *thread* that forks, and a worker thread may end long before the process)."""
    if threading.current_thread() is not threading.main_thread() or _prctl() is None:
        return None
    return functools.partial(die_with_parent, os.getpid())


def build_engine_config(model: str = DEFAULT_MODEL, **overrides: Any) -> Any:
    """An :class:`EngineConfig` for ``model``; ``None`` overrides keep the engine's defaults."""
    from splitsecond.serving import EngineConfig

    known = {f.name for f in fields(EngineConfig)}
    unknown = sorted(k for k in overrides if k not in known)
    if unknown:
        raise ValueError(f"unknown engine settings {unknown}; valid: {sorted(known)}")
    return EngineConfig(model=model, **{k: v for k, v in overrides.items() if v is not None})


def run_server(engine_config: Any, server_config: ServerConfig, verifier_config: Any | None = None) -> None:
    """Serve ``engine_config``'s model with uvicorn until interrupted (blocks).

    With ``verifier_config`` (a :class:`splitsecond.serving.speculative.VerifierConfig`) the same
    engine also verifies edge drafts over gRPC (``splitsecond serve --speculative-edge``); the server's
    API key guards it too unless the verifier config names its own.
    """
    if "torch" not in sys.modules:
        os.environ.update(passive_openmp_env())
    from splitsecond.serving import AsyncEngine
    from splitsecond.serving.server.app import create_app

    services = []
    if verifier_config is not None:
        from splitsecond.serving.speculative.verifier_service import VerifierService

        if verifier_config.api_key is None and server_config.api_key is not None:
            verifier_config = dataclasses.replace(verifier_config, api_key=server_config.api_key)

        services.append(lambda engine: VerifierService(engine, verifier_config))
    app = create_app(server_config, engine_factory=lambda: AsyncEngine(engine_config), services=services)
    serve_app(app, server_config)


def serve_app(app: Any, server_config: ServerConfig) -> None:
    """Run ``app`` with uvicorn on ``server_config``'s host and port until interrupted (blocks)."""
    import uvicorn

    uvicorn.run(
        app,
        host=server_config.host,
        port=server_config.port,
        log_level=server_config.log_level,
        access_log=server_config.log_level in ("info", "debug", "trace"),
        timeout_graceful_shutdown=5,
        timeout_keep_alive=server_config.keep_alive_s,
    )


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A ``splitsecond serve`` subprocess; a context manager that stops it on exit.

    It runs in its own process group (a Ctrl-C in the terminal reaches its owner, which stops it)
    and, when started from the main thread on Linux, is killed if its owner dies.

    Attributes:
        host, port: Where it listens.
        base_url: ``http://host:port``.
        api_base: ``http://host:port/v1``, what OpenAI clients and LiteLLM take as base URL.
        api_key: The key it requires, or ``None``.
        log_path: File holding the server's stdout and stderr (deleted by ``stop`` unless ``keep_log``).
    """

    def __init__(
        self,
        args: list[str],
        host: str,
        port: int,
        api_key: str | None,
        env: dict[str, str],
        keep_log: bool = False,
    ) -> None:
        self.host = host
        self.keep_log = keep_log
        self.port = port
        self.api_key = api_key
        self.base_url = f"http://{host}:{port}"
        self.api_base = f"{self.base_url}/v1"
        fd, self.log_path = tempfile.mkstemp(prefix="splitsecond-serve-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_tie_to_parent(),  # only prctl, looked up before the fork
        )
        self.pid = self.proc.pid

    def log_tail(self, chars: int = 4000) -> str:
        """The last ``chars`` characters of the server's output."""
        self._log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()[-chars:]

    def wait_ready(self, timeout_s: float) -> None:
        """Block until ``/health`` answers 200; raise ``RuntimeError`` with the log if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"splitsecond serve exited with code {self.proc.returncode} before it was ready:\n"
                    f"{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"splitsecond serve was not ready after {timeout_s:.0f} s:\n{tail}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout_s``)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        with contextlib.suppress(OSError):  # anything the server started in its group
            os.killpg(self.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()
        if not self.keep_log:
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)

    def headers(self) -> dict[str, str]:
        """HTTP headers that authenticate to this server."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # a forgotten server must not outlive its owner
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


def start_server_subprocess(
    model: str = DEFAULT_MODEL,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    *,
    host: str = "127.0.0.1",
    api_key: str | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 300.0,
    keep_log: bool = False,
) -> ServerProcess:
    """Start ``splitsecond serve MODEL`` as a subprocess and wait until it is ready.

    Args:
        model: Model short name (or alias) to serve.
        port: Port to listen on; ``None`` picks a free one.
        extra_args: Further ``splitsecond serve`` options, e.g. ``["--max-waiting", "2"]``.
        host: Interface to bind (loopback by default).
        api_key: Require this bearer token (handed over in ``$SPLITSECOND_API_KEY``, never on the
            command line, where ``ps`` would show it).
        env: Extra environment variables for the server (``OMP_WAIT_POLICY=PASSIVE`` is added unless
            they or this process's environment set how OpenMP threads wait).
        timeout_s: How long to wait for ``/health``.
        keep_log: Keep the server's log file after it stops (its path is ``server.log_path``).

    Returns:
        The running :class:`ServerProcess` (use it as a context manager, or call ``stop()``).
    """
    port = port or find_free_port(host)
    args = [sys.executable, "-c", "from splitsecond.cli import main; main()", "serve", model,
            "--host", host, "--port", str(port), *extra_args]  # fmt: skip
    full_env = dict(os.environ)
    full_env.pop(API_KEY_ENV, None)
    full_env.update(env or {})
    full_env.update(passive_openmp_env(full_env))
    if api_key is not None:
        full_env[API_KEY_ENV] = api_key
    server = ServerProcess(args, host, port, api_key, full_env, keep_log)
    try:
        server.wait_ready(timeout_s)
    except BaseException:
        server.stop()
        raise
    logger.info("splitsecond serve %s ready at %s", model, server.base_url)
    return server
