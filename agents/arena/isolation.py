"""Keeping one agent's failure from taking down a match.

:class:`AgentWorker` runs an agent's calls on its own daemon thread, so the arena can wait with a
timeout and walk away from an agent that hangs (a daemon thread never blocks interpreter exit).
:class:`ProcessAgent` goes further and runs the agent in a separate process (``multiprocessing``
*spawn*): a hang or a hard crash (segfault, ``os._exit``) is contained, and the process is
terminated when the arena gives up on it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from splitsecond.agents.base import Agent, Decision, EnvSpec, Observation

logger = logging.getLogger(__name__)


class AgentTimeout(Exception):
    """An agent did not answer within the arena's limit."""


class AgentWorker:
    """A daemon thread that runs one agent's calls in order.

    Args:
        name: the thread's name (for debugging).
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=f"agent-{name}", daemon=True)
        self._thread.start()
        self.abandoned = False

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - reported to the arena through the future
                future.set_exception(exc)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)``; returns a future of its result."""
        if self.abandoned:
            raise RuntimeError("this worker was abandoned after a timeout")
        future: Future = Future()
        self._jobs.put((fn, args, future))
        return future

    def call(self, fn: Callable[..., Any], *args: Any, timeout_s: float) -> tuple[Any, float]:
        """Run ``fn(*args)`` and wait at most ``timeout_s``; returns ``(result, elapsed_ms)``.

        Raises:
            AgentTimeout: after ``timeout_s`` (the worker is then abandoned).
            Exception: whatever ``fn`` raised.
        """
        t0 = time.perf_counter()
        future = self.submit(fn, *args)
        try:
            result = future.result(timeout=timeout_s)
        except TimeoutError:
            self.abandon()
            raise AgentTimeout(f"no answer within {timeout_s:g} s") from None
        return result, (time.perf_counter() - t0) * 1e3

    def abandon(self) -> None:
        """Give up on the thread (it may still be stuck in the agent; it is a daemon)."""
        self.abandoned = True

    def close(self) -> None:
        """Stop the thread once its current job is done."""
        if not self.abandoned:
            self._jobs.put(None)


# ---------------------------------------------------------------------------------- process isolation


def _serve(conn: Any, factory: Callable[[], Agent]) -> None:
    """The child process: build the agent and answer ``reset``/``act`` requests until ``close``."""
    try:
        agent = factory()
        conn.send(("ok", getattr(agent, "name", type(agent).__name__)))
    except BaseException as exc:  # noqa: BLE001
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            op, payload = conn.recv()
        except EOFError:
            return
        if op == "close":
            return
        try:
            if op == "reset":
                agent.reset(*payload)
                conn.send(("ok", None))
            elif op == "act":
                conn.send(("ok", agent.act(payload)))
            else:
                conn.send(("error", f"unknown op {op!r}"))
        except BaseException as exc:  # noqa: BLE001
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))


class ProcessAgent:
    """Runs an agent in its own process (``multiprocessing`` spawn) behind the Agent contract.

    ``act`` waits at most ``timeout_s``; a child that hangs is terminated and
    :class:`AgentTimeout` raised; a child that dies raises :class:`RuntimeError`. Exceptions in
    the agent come back as :class:`RuntimeError` with the child's traceback.

    Args:
        factory: a picklable zero-argument callable that builds the agent in the child (a class,
            a ``functools.partial``, or :func:`splitsecond.agents.specs.make_agent` bound to a spec).
        timeout_s: the longest wait for any call (the first one includes the child's start).
        start_timeout_s: the longest wait for the child to import and build the agent.
    """

    def __init__(
        self, factory: Callable[[], Agent], timeout_s: float = 30.0, start_timeout_s: float = 60.0
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, factory), daemon=True)
        self._proc.start()
        child.close()
        self.timeout_s = timeout_s
        self.name = str(self._request(None, None, start_timeout_s, wait_only=True))

    def _request(self, op: str | None, payload: Any, timeout_s: float, wait_only: bool = False) -> Any:
        if not self._proc.is_alive() and not self._conn.poll():
            raise RuntimeError(f"agent process died (exit code {self._proc.exitcode})")
        if not wait_only:
            self._conn.send((op, payload))
        if not self._conn.poll(timeout_s):
            alive = self._proc.is_alive()
            self.close()
            if alive:
                raise AgentTimeout(f"agent process gave no answer within {timeout_s:g} s")
            raise RuntimeError(f"agent process died (exit code {self._proc.exitcode})")
        try:
            status, value = self._conn.recv()
        except EOFError:
            self.close()
            raise RuntimeError(f"agent process died (exit code {self._proc.exitcode})") from None
        if status != "ok":
            raise RuntimeError(f"agent process: {value}")
        return value

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Reset the agent in the child process."""
        self._request("reset", (spec, seed), self.timeout_s)

    def act(self, observation: Observation) -> Decision:
        """Ask the child for a decision (waits at most ``timeout_s``)."""
        return self._request("act", observation, self.timeout_s)

    def close(self) -> None:
        """Stop the child (terminating it if it does not leave within a second)."""
        if self._proc.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self._conn.send(("close", None))
            self._proc.join(1.0)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(1.0)
