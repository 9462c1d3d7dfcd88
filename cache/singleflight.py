"""Single-flight: concurrent misses on the same key plan once; the others share the result.

:class:`SingleFlight` serves threads, :class:`AsyncSingleFlight` serves coroutines of one event
loop. The first caller of a key (the *leader*) runs the function; callers arriving while it runs
wait and receive the same result, or the same exception. Once it is done the key is free again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Flight:
    __slots__ = ("done", "error", "result", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.waiters = 0


class SingleFlight(Generic[T]):
    """Thread single-flight (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def do(self, key: Hashable, fn: Callable[[], T]) -> tuple[T, bool]:
        """Run ``fn`` once for concurrent callers of ``key``; ``(result, shared)`` where ``shared``
        is ``True`` for the callers that waited on another's call."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
            else:
                flight.waiters += 1
        assert flight is not None
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result, True
        try:
            flight.result = fn()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.result, False

    def in_flight(self) -> int:
        """Keys being computed now."""
        with self._lock:
            return len(self._flights)


class AsyncSingleFlight(Generic[T]):
    """Coroutine single-flight for one event loop (see the module docstring)."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Future[T]] = {}

    async def do(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Await ``fn()`` once for concurrent callers of ``key``; ``(result, shared)``."""
        future = self._flights.get(key)
        if future is not None:
            return await asyncio.shield(future), True
        future = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            result = await fn()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: followers re-raise it, nobody must log it
            raise
        else:
            future.set_result(result)
            return result, False
        finally:
            del self._flights[key]

    def in_flight(self) -> int:
        """Keys being computed now."""
        return len(self._flights)
