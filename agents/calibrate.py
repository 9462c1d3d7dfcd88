"""Measure a served model through LiteLLM and fit its latency profile.

The fitted model is the token model's formula (:class:`~splitsecond.agents.latency.LatencyProfile`)::

    latency = rtt + ttft_base + b * uncached_prompt_tokens + c * cached_prompt_tokens + tpot * completion_tokens

Procedure (:func:`calibrate`):

1. ``rtt``: median round trip of ``GET {api_base}/models`` (0 when no ``api_base`` is given);
2. one warm-up call, discarded;
3. for each prompt length: a *cold* call (a fresh random prefix defeats any prefix cache) and then
   the same prompt again (*cached*), one output token each, ``repeats`` times;
4. for each completion length: a short fresh prompt with ``max_tokens = n`` and ``ignore_eos``
   (where the backend accepts it), ``repeats`` times;
5. the median latency of each configuration is fitted by least squares on the token counts the
   server reports (prompt, cached, completion); coefficients that come out negative are fixed at
   0 and the rest refitted. ``ttft_base = intercept - rtt``.
"""

from __future__ import annotations

import logging
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from splitsecond.agents.latency.profile import LatencyProfile

logger = logging.getLogger(__name__)

_WORDS = [
    "river",
    "stone",
    "light",
    "shadow",
    "quick",
    "slow",
    "north",
    "south",
    "market",
    "signal",
    "frame",
    "punch",
    "block",
    "jump",
    "price",
    "order",
    "green",
    "blue",
    "silver",
    "golden",
    "window",
    "table",
    "engine",
    "player",
    "round",
    "timer",
]


@dataclass(frozen=True)
class CalibrationConfig:
    """What to measure.

    Attributes:
        model: the LiteLLM model string (e.g. ``openai/smollm2-135m``).
        api_base: the endpoint (e.g. ``http://127.0.0.1:8000/v1``).
        api_key: the key (a placeholder is sent to a local ``api_base`` when none is set).
        prompt_words: approximate prompt lengths, in words (about 1.3 tokens each).
        completion_tokens: output lengths to measure.
        repeats: calls per configuration (the median is fitted).
        timeout_s: per-call timeout.
        ignore_eos: ask the backend not to stop at end-of-sequence (vLLM / our server).
        name: the profile's name (default: derived from the model).
        hardware: the machine, in words (default: this machine's processor and core count —
            right only when the server runs here).
        precision: the served precision, in words.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = None
    prompt_words: tuple[int, ...] = (16, 96, 384, 768)
    completion_tokens: tuple[int, ...] = (1, 16, 48)
    repeats: int = 3
    timeout_s: float = 120.0
    ignore_eos: bool = True
    name: str | None = None
    hardware: str | None = None
    precision: str = "unknown"

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("CalibrationConfig.model must name a LiteLLM model")
        if len(self.prompt_words) < 2 or any(n <= 0 for n in self.prompt_words):
            raise ValueError("CalibrationConfig.prompt_words needs at least two positive lengths")
        if len(self.completion_tokens) < 2 or any(n <= 0 for n in self.completion_tokens):
            raise ValueError("CalibrationConfig.completion_tokens needs at least two positive lengths")
        if self.repeats < 1:
            raise ValueError("CalibrationConfig.repeats must be >= 1")

    @classmethod
    def quick(cls, model: str, **kwargs: Any) -> CalibrationConfig:
        """A fast configuration (about a dozen short calls) for tests and smoke checks."""
        kwargs.setdefault("prompt_words", (12, 160))
        kwargs.setdefault("completion_tokens", (1, 12))
        kwargs.setdefault("repeats", 2)
        return cls(model=model, **kwargs)


@dataclass(frozen=True)
class Sample:
    """One measured call: the token counts the server reported and the wall time."""

    kind: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    latency_ms: float


@dataclass
class CalibrationReport:
    """The fitted profile and what it was fitted on."""

    profile: LatencyProfile
    samples: list[Sample] = field(default_factory=list)
    r2: float = float("nan")
    cache_hits: int = 0
    """Repeated prompts served mostly (>= half) from the prefix cache."""


def _prompt(words: int, rng: random.Random, nonce: str) -> list[dict[str, str]]:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return [{"role": "user", "content": f"[{nonce}] Repeat nothing; just say ok. {text}"}]


def _hardware() -> str:
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs)"


def measure_rtt_ms(api_base: str | None, api_key: str | None, repeats: int = 5) -> float:
    """Median round trip of ``GET {api_base}/models`` in ms (0 without ``api_base`` or on error)."""
    if not api_base:
        return 0.0
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    times = []
    with httpx.Client(timeout=10.0) as client:
        for _ in range(repeats):
            t0 = time.perf_counter()
            try:
                client.get(api_base.rstrip("/") + "/models", headers=headers)
            except httpx.HTTPError as exc:
                logger.warning("rtt probe failed (%s); rtt_ms = 0", exc)
                return 0.0
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def fit_latency(samples: list[Sample]) -> tuple[dict[str, float], float]:
    """Least-squares fit of ``latency = intercept + b*uncached + c*cached + tpot*completion``.

    Coefficients that come out negative are fixed at 0 and the others refitted.

    Returns:
        ``({"intercept", "per_token", "per_cached_token", "tpot"}, r2)``.
    """
    if len(samples) < 2:
        raise ValueError("need at least two samples to fit a latency model")
    x = np.array(
        [
            [1.0, max(0, s.prompt_tokens - s.cached_tokens), s.cached_tokens, s.completion_tokens]
            for s in samples
        ]
    )
    y = np.array([s.latency_ms for s in samples])
    active = [0] + [j for j in (1, 2, 3) if np.ptp(x[:, j]) > 0]
    coef = np.zeros(4)
    while True:
        sol, *_ = np.linalg.lstsq(x[:, active], y, rcond=None)
        coef[:] = 0
        coef[active] = sol
        negative = [j for j in active[1:] if coef[j] < 0]
        if not negative:
            break
        active = [j for j in active if j not in negative]
    pred = x @ coef
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    names = ("intercept", "per_token", "per_cached_token", "tpot")
    return {n: float(c) for n, c in zip(names, coef, strict=True)}, r2


def calibrate(
    config: CalibrationConfig,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> CalibrationReport:
    """Measure ``config.model`` and fit a :class:`LatencyProfile` (see the module docstring).

    Args:
        config: what to measure.
        progress: called as ``progress(done, total)`` after each call.
        seed: seeds the random prompts.

    Raises:
        RuntimeError: when the model cannot be reached (the first call's error is included).
    """
    from splitsecond.agents.llm_agent import import_litellm

    litellm = import_litellm()
    api_key = config.api_key
    if config.api_base and api_key is None and not os.environ.get("OPENAI_API_KEY"):
        api_key = "splitsecond-local"
    rng = random.Random(seed)
    nonce_counter = iter(range(10**9))

    def nonce() -> str:
        return f"{rng.randrange(10**8):08d}-{next(nonce_counter)}"

    ignore_eos = config.ignore_eos

    def call(messages: list[dict[str, str]], max_tokens: int) -> tuple[Any, float]:
        nonlocal ignore_eos
        kwargs: dict[str, Any] = {
            "model": config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "timeout": config.timeout_s,
            "num_retries": 0,
        }
        if config.api_base:
            kwargs["api_base"] = config.api_base
        if api_key:
            kwargs["api_key"] = api_key
        if ignore_eos:
            kwargs["extra_body"] = {"ignore_eos": True}
        t0 = time.perf_counter()
        try:
            response = litellm.completion(**kwargs)
        except (litellm.BadRequestError, litellm.UnprocessableEntityError):
            if not ignore_eos:
                raise
            logger.info("backend rejects ignore_eos; measuring without it")
            ignore_eos = False
            return call(messages, max_tokens)
        return response, (time.perf_counter() - t0) * 1e3

    rtt = measure_rtt_ms(config.api_base, api_key)
    total = 1 + config.repeats * (2 * len(config.prompt_words) + len(config.completion_tokens))
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    try:
        call(_prompt(8, rng, nonce()), 1)  # warm-up
    except Exception as exc:
        raise RuntimeError(
            f"cannot reach {config.model} at {config.api_base or 'its default endpoint'}: {exc}"
        ) from exc
    tick()

    from splitsecond.agents.llm_agent import usage_of

    raw: dict[tuple[str, int], list[Sample]] = {}

    def record(kind: str, key: int, response: Any, ms: float) -> None:
        u = usage_of(response)
        raw.setdefault((kind, key), []).append(
            Sample(kind, u.prompt_tokens, u.cached_tokens, u.completion_tokens, ms)
        )

    for _ in range(config.repeats):
        for words in config.prompt_words:
            messages = _prompt(words, rng, nonce())
            response, ms = call(messages, 1)
            record("cold", words, response, ms)
            tick()
            response, ms = call(messages, 1)
            record("cached", words, response, ms)
            tick()
        for n in config.completion_tokens:
            response, ms = call(_prompt(8, rng, nonce()), n)
            record("decode", n, response, ms)
            tick()

    medians = [
        Sample(
            kind,
            int(statistics.median(s.prompt_tokens for s in group)),
            int(statistics.median(s.cached_tokens for s in group)),
            int(statistics.median(s.completion_tokens for s in group)),
            statistics.median(s.latency_ms for s in group),
        )
        for (kind, _), group in raw.items()
    ]
    coef, r2 = fit_latency(medians)
    all_samples = [s for group in raw.values() for s in group]
    # a repeated prompt counts as a cache hit when most of it came from the prefix cache
    cache_hits = sum(1 for s in all_samples if s.kind == "cached" and 2 * s.cached_tokens >= s.prompt_tokens)
    name = config.name or config.model.rsplit("/", 1)[-1]
    profile = LatencyProfile(
        name=name,
        model=config.model,
        hardware=config.hardware or _hardware(),
        precision=config.precision,
        rtt_ms=round(rtt, 6),
        ttft_base_ms=round(max(0.0, coef["intercept"] - rtt), 6),
        ttft_per_token_ms=round(coef["per_token"], 6),
        ttft_per_cached_token_ms=round(coef["per_cached_token"], 6),
        tpot_ms=round(coef["tpot"], 6),
        source="measured",
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        notes=(
            f"splitsecond calibrate: {len(all_samples)} calls, medians of {config.repeats}; "
            f"prompt words {list(config.prompt_words)}, completions {list(config.completion_tokens)}; "
            f"cache hits {cache_hits}; ignore_eos {ignore_eos}; api_base {config.api_base}"
        ),
        fit={
            "r2": round(r2, 4),
            "samples": len(all_samples),
            "configs": len(medians),
            "cache_hits": cache_hits,
        },
    )
    return CalibrationReport(profile=profile, samples=all_samples, r2=r2, cache_hits=cache_hits)
