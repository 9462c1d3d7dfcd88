"""Counters of the KV tier: bytes and GB/s each way, swap latency histograms, write amplification,
garbage-collection work, erase counts and integrity events. ``KVTierStats`` is the frozen snapshot the
engine exposes (``LLMEngine.kv_tier_stats()``) for /metrics and benchmarks.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

#: Upper bounds (seconds) of the swap-latency histogram buckets, Prometheus style (+Inf implied).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LatencyHistogram:
    """A cumulative histogram of durations in seconds (thread-safe)."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.count = 0
        self.sum = 0.0
        self._values: list[float] = []
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        """Record one duration."""
        with self._lock:
            self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
            self.count += 1
            self.sum += seconds
            if len(self._values) < 100_000:
                self._values.append(seconds)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of recorded durations (0 when empty)."""
        with self._lock:
            if not self._values:
                return 0.0
            vals = sorted(self._values)
        return vals[min(len(vals) - 1, int(q * len(vals)))]

    def snapshot(self) -> HistogramSnapshot:
        """Cumulative bucket counts (Prometheus ``le`` semantics), count, sum, p50, p99."""
        with self._lock:
            cum, running = [], 0
            for c in self.counts:
                running += c
                cum.append(running)
            count, total = self.count, self.sum
        return HistogramSnapshot(
            self.buckets, tuple(cum), count, total, self.quantile(0.5), self.quantile(0.99)
        )


@dataclass(frozen=True)
class HistogramSnapshot:
    """``cumulative[i]`` observations <= ``buckets[i]``; the last entry is +Inf (== count)."""

    buckets: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum: float
    p50: float
    p99: float


class TierMetrics:
    """Mutable counters updated by a tier (I/O threads and the engine thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.swap_outs = 0  # sequences (or prefix blocks) swapped out
        self.swap_ins = 0
        self.pages_out = 0
        self.pages_in = 0
        self.bytes_out = 0  # KV payload bytes
        self.bytes_in = 0
        self.write_seconds = 0.0  # time spent in device writes (I/O threads, summed)
        self.read_seconds = 0.0
        self.swap_out_latency = LatencyHistogram()  # call -> data durable on the tier
        self.swap_in_latency = LatencyHistogram()  # call -> data back in the KV cache (blocking part)
        self.torn_pages = 0
        self.stale_pages = 0
        self.io_errors = 0
        self.fallbacks_full = 0  # swap-outs refused because the tier was full
        self.fallbacks_unhealthy = 0  # swap-outs refused because the device kept failing
        self.recomputes = 0  # sequences that went back to recompute after a failed swap-in
        self.prefetches = 0
        self.prefetch_hits = 0
        self.write_busy_seconds = 0.0  # wall time with at least one device write in flight (approx.)
        self.read_busy_seconds = 0.0
        self._busy_until = {"write": 0.0, "read": 0.0}

    def busy(self, kind: str, start: float, end: float) -> None:
        """Record that a ``kind`` ('write'/'read') transfer ran from ``start`` to ``end`` (perf_counter).

        Overlapping transfers on several I/O threads are counted once (union of intervals, assuming
        they are reported roughly in start order), so bytes / busy seconds is the achieved bandwidth.
        """
        with self._lock:
            last = self._busy_until[kind]
            add = max(0.0, end - max(start, last))
            self._busy_until[kind] = max(last, end)
            if kind == "write":
                self.write_busy_seconds += add
            else:
                self.read_busy_seconds += add

    def add(self, **counts: float) -> None:
        """Add to several counters at once, atomically."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class KVTierStats:
    """A snapshot of the KV tier for /metrics: what to export is every numeric field.

    ``write_amplification`` = physical bytes written to flash (headers, padding, GC moves) / KV payload
    bytes swapped out; ``gc_write_amplification`` = (page bytes + GC bytes) / page bytes (FTL style).
    GB/s figures are payload bytes over the time I/O threads spent in device calls.
    """

    policy: str
    backend: str
    direct_io: bool
    gds: bool
    swap_outs: int
    swap_ins: int
    pages_out: int
    pages_in: int
    bytes_out: int
    bytes_in: int
    write_gbps: float
    read_gbps: float
    swap_out_latency: HistogramSnapshot
    swap_in_latency: HistogramSnapshot
    torn_pages: int
    stale_pages: int
    io_errors: int
    fallbacks_full: int
    fallbacks_unhealthy: int
    recomputes: int
    prefetches: int
    prefetch_hits: int
    capacity_bytes: int
    used_bytes: int
    write_amplification: float = 1.0
    gc_write_amplification: float = 1.0
    gc_runs: int = 0
    gc_bytes_moved: int = 0
    segments_erased: int = 0
    erase_count_max: int = 0
    erase_count_mean: float = 0.0
    healthy: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def integrity_failures(self) -> int:
        """Pages found torn or stale at swap-in (never used)."""
        return self.torn_pages + self.stale_pages


def gbps(nbytes: int, seconds: float) -> float:
    """Bytes over seconds in GB/s (0 when no time was spent)."""
    return nbytes / seconds / 1e9 if seconds > 0 else 0.0
