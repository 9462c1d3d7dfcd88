"""Prometheus metrics of one server: request counts, latencies, token rates, engine state.

Each app owns a :class:`prometheus_client.CollectorRegistry`, so several servers (or tests) in one
process never share series. Engine-side figures (running/waiting requests, free KV blocks, prefix
cache) are read from ``engine.stats()`` at scrape time; request-side figures (TTFT, inter-token
latency, end-to-end latency, tokens, statuses) are recorded by the handlers as they happen.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: Content type of ``GET /metrics``.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75,
                    1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # fmt: skip
_ITL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25,
                0.5, 1.0, 2.5)  # fmt: skip


class _EngineStatsCollector(Collector):
    """Reads the engine's counters and gauges each time ``/metrics`` is scraped."""

    def __init__(self, stats: Callable[[], Any], model: str) -> None:
        self._stats = stats
        self._model = model

    def collect(self) -> Iterator[Metric]:
        """One family per engine figure, read now."""
        try:
            s = self._stats()
        except Exception:  # a scrape must never fail because the engine is shutting down
            return
        labels = ["model_name"]
        value = [self._model]

        def gauge(name: str, doc: str, v: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=labels)
            g.add_metric(value, float(v))
            return g

        def counter(name: str, doc: str, v: float) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc, labels=labels)
            c.add_metric(value, float(v))
            return c

        yield gauge(
            "splitsecond_num_requests_running", "Requests in the engine's running batch.", s.num_running
        )
        yield gauge(
            "splitsecond_num_requests_waiting", "Requests queued in the engine (queue depth).", s.num_waiting
        )
        yield gauge("splitsecond_kv_cache_free_blocks", "Free KV-cache blocks.", s.free_blocks)
        yield gauge("splitsecond_kv_cache_total_blocks", "KV-cache blocks in all.", s.total_blocks)
        usage = 1.0 - s.free_blocks / s.total_blocks if s.total_blocks else 0.0
        yield gauge("splitsecond_kv_cache_usage_ratio", "Fraction of KV-cache blocks in use.", usage)
        yield counter(
            "splitsecond_prefix_cache_queries",
            "Prompt tokens looked up in the prefix cache.",
            s.prefix_cache_queries,
        )
        yield counter(
            "splitsecond_prefix_cache_hits", "Prompt tokens found in the prefix cache.", s.prefix_cache_hits
        )
        rate = s.prefix_cache_hits / s.prefix_cache_queries if s.prefix_cache_queries else 0.0
        yield gauge("splitsecond_prefix_cache_hit_rate", "Prefix-cache hits / queries since start.", rate)
        yield counter(
            "splitsecond_engine_prompt_tokens", "Prompt tokens the engine processed.", s.prompt_tokens_total
        )
        yield counter(
            "splitsecond_engine_generation_tokens", "Tokens the engine generated.", s.generation_tokens_total
        )
        yield gauge(
            "splitsecond_num_requests_swapped", "Sequences swapped out of the KV cache.", s.num_swapped
        )
        yield counter("splitsecond_num_preemptions", "Sequences preempted for KV memory.", s.num_preemptions)
        yield from _kv_swap_families(s, gauge, counter)


# Further EngineStats fields exported on /metrics when present: (field, kind, doc).
_KV_SWAP_FIELDS = (
    ("kv_swap_outs", "counter", "Sequences swapped out to the KV tier."),
    ("kv_swap_ins", "counter", "Sequences swapped back in from the KV tier."),
    ("kv_swap_out_bytes", "counter", "Bytes written to the KV tier."),
    ("kv_swap_in_bytes", "counter", "Bytes read from the KV tier."),
    ("kv_swap_integrity_failures", "counter", "Torn or stale KV pages found at swap-in (recomputed)."),
    ("kv_swap_fallbacks", "counter", "Swaps refused or lost (tier full or failing): recomputed instead."),
    ("kv_prefix_blocks_spilled", "counter", "Cold prefix-cache blocks spilled to the KV tier."),
    ("kv_prefix_blocks_restored", "counter", "Prefix-cache blocks restored from the KV tier."),
    ("kv_swap_write_amplification", "gauge", "Physical / logical bytes written to the flash zone."),
    ("busy_seconds", "counter", "Wall time of engine steps that ran a forward pass."),
    ("spec_rounds", "counter", "Speculative drafts verified (edge sessions)."),
    ("spec_draft_tokens", "counter", "Draft tokens received from edges."),
    ("spec_accepted_tokens", "counter", "Draft tokens accepted by verification."),
)


def _kv_swap_families(s: Any, gauge: Callable, counter: Callable) -> Iterator[Metric]:
    """The KV swap tier's and speculation's figures; absent from engines without them."""
    for field, kind, doc in _KV_SWAP_FIELDS:
        v = getattr(s, field, None)
        if v is not None:
            yield (counter if kind == "counter" else gauge)(f"splitsecond_{field}", doc, v)


class _TokenRate:
    """Generated tokens per second over a sliding window."""

    def __init__(self, window_s: float = 10.0) -> None:
        self._window = window_s
        self._events: collections.deque[tuple[float, int]] = collections.deque()
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        """Record ``n`` tokens generated now."""
        now = time.monotonic()
        with self._lock:
            self._events.append((now, n))
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] < now - self._window:
            self._events.popleft()

    def rate(self) -> float:
        """Tokens per second over the window ending now."""
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            return sum(n for _, n in self._events) / self._window


class ServerMetrics:
    """All series of one server, in their own registry.

    Args:
        model: Served model name, used as the ``model_name`` label.
        engine_stats: Zero-argument callable returning the engine's ``EngineStats``; ``None`` leaves
            the engine series out.
    """

    def __init__(self, model: str, engine_stats: Callable[[], Any] | None = None) -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "splitsecond_requests", "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "status"], registry=r,
        )  # fmt: skip
        self.finished = Counter(
            "splitsecond_request_finish", "Generations finished, by finish reason (stop/length/abort/error).",
            ["finish_reason"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "splitsecond_requests_in_flight", "HTTP generation requests in progress.", registry=r
        )
        self.prompt_tokens = Counter(
            "splitsecond_prompt_tokens", "Prompt tokens of served requests.", registry=r
        )
        self.generation_tokens = Counter(
            "splitsecond_generation_tokens", "Tokens generated for served requests.", registry=r
        )
        self.cached_tokens = Counter(
            "splitsecond_cached_prompt_tokens", "Prompt tokens served from the prefix cache.", registry=r
        )
        self.ttft = Histogram(
            "splitsecond_time_to_first_token_seconds", "Arrival to first generated token.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.itl = Histogram(
            "splitsecond_inter_token_latency_seconds", "Time between successive generated tokens.",
            buckets=_ITL_BUCKETS, registry=r,
        )  # fmt: skip
        self.e2e = Histogram(
            "splitsecond_e2e_request_latency_seconds", "Arrival to last token of a generation request.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._rate = _TokenRate()
        tps = Gauge(
            "splitsecond_generation_tokens_per_second",
            "Generated tokens per second over the last 10 s.",
            registry=r,
        )
        tps.set_function(self._rate.rate)
        if engine_stats is not None:
            r.register(_EngineStatsCollector(engine_stats, model))

    def add_generated(self, n: int) -> None:
        """Count ``n`` freshly generated tokens."""
        if n > 0:
            self.generation_tokens.inc(n)
            self._rate.add(n)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class RequestTimer:
    """Times one generation request and reports it to :class:`ServerMetrics` once.

    Call :meth:`tokens` whenever new tokens arrive and :meth:`finish` at the end (idempotent).
    """

    def __init__(self, metrics: ServerMetrics) -> None:
        self._m = metrics
        self.arrival = time.perf_counter()
        self.first_token: float | None = None
        self._last: float | None = None
        self._done = False

    def tokens(self, n: int) -> None:
        """Record that ``n`` new tokens were produced now."""
        if n <= 0:
            return
        now = time.perf_counter()
        if self.first_token is None:
            self.first_token = now
            self._m.ttft.observe(now - self.arrival)
        elif self._last is not None:
            gap = (now - self._last) / n
            for _ in range(n):
                self._m.itl.observe(gap)
        self._last = now
        self._m.add_generated(n)

    @property
    def done(self) -> bool:
        """Whether :meth:`finish` was called."""
        return self._done

    def finish(self, finish_reason: str, prompt_tokens: int = 0, cached_tokens: int = 0) -> None:
        """Record the end of the request (only the first call counts)."""
        if self._done:
            return
        self._done = True
        self._m.e2e.observe(time.perf_counter() - self.arrival)
        self._m.finished.labels(finish_reason=finish_reason).inc()
        if prompt_tokens:
            self._m.prompt_tokens.inc(prompt_tokens)
        if cached_tokens:
            self._m.cached_tokens.inc(cached_tokens)
