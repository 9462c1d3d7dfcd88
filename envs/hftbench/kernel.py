"""A discrete-event kernel on integer simulated time (microseconds).

Every order arrival, cancel, participant wake-up, fundamental update and observation is an event
``(time_us, seq, callback, args)`` in a binary heap. Events run in time order; ties are broken by
the sequence number, i.e. by the order in which they were scheduled, so a run is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any


class EventKernel:
    """The event queue and the simulated clock ``now`` (µs)."""

    __slots__ = ("_heap", "_seq", "now", "n_events")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = 0
        self.now = 0
        self.n_events = 0

    def schedule(self, time_us: int, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` at ``time_us`` (>= ``now``)."""
        if time_us < self.now:
            raise ValueError(f"cannot schedule an event in the past: {time_us} < now={self.now}")
        heappush(self._heap, (time_us, self._seq, callback, args))
        self._seq += 1

    def next_time(self) -> int | None:
        """Time of the next pending event, or ``None`` when the queue is empty."""
        return self._heap[0][0] if self._heap else None

    def run_until(self, time_us: int) -> None:
        """Run every event with time <= ``time_us`` (including those they schedule), then set ``now``."""
        if time_us < self.now:
            raise ValueError(f"cannot run backwards: {time_us} < now={self.now}")
        heap = self._heap
        n = 0
        while heap and heap[0][0] <= time_us:
            t, _, callback, args = heappop(heap)
            self.now = t
            callback(*args)
            n += 1
        self.n_events += n
        self.now = time_us

    def __len__(self) -> int:
        """Number of pending events."""
        return len(self._heap)
