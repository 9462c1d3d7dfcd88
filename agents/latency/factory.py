"""Build a latency model from a short text spec (the CLI's ``--latency``).

==================================  ======================================================
spec                                model
==================================  ======================================================
``wall``                            :class:`WallLatency`
``fixed:50``                        :class:`FixedLatency` of 50 ms
``paused``                          :class:`PausedLatency`: the world waits (0 ms)
``declared``                        :class:`DeclaredLatency` (falls back to wall)
``declared:fixed:0``                :class:`DeclaredLatency` falling back to the given spec
``token:<profile>``                 :class:`TokenLatency` from a profile name or ``.toml`` path
``token:<profile>,rtt=20``          ... with the round trip overridden (ms)
``budget:8``                        :class:`TokenBudgetLatency`, 8 tokens per env step
``budget:8,step=16.7``              ... with an explicit step duration (ms)
==================================  ======================================================
"""

from __future__ import annotations

from splitsecond.agents.latency.base import LatencyModel
from splitsecond.agents.latency.models import (
    DeclaredLatency,
    FixedLatency,
    PausedLatency,
    TokenBudgetLatency,
    TokenLatency,
    WallLatency,
)

LATENCY_SPECS = (
    "wall",
    "paused",
    "fixed:MS",
    "declared[:SPEC]",
    "token:PROFILE[,rtt=MS]",
    "budget:N[,step=MS]",
)


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None


def _options(parts: list[str], allowed: tuple[str, ...], spec: str) -> dict[str, float]:
    opts: dict[str, float] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in allowed:
            raise ValueError(f"bad option {part!r} in latency spec {spec!r}; allowed: {', '.join(allowed)}")
        opts[key.strip()] = _number(value.strip(), f"{key.strip()} in {spec!r}")
    return opts


def make_latency_model(spec: str | LatencyModel, step_ms: float | None = None) -> LatencyModel:
    """Build a latency model from ``spec`` (see the module docstring) or pass a model through.

    Args:
        spec: the text spec, or an object implementing :class:`LatencyModel`.
        step_ms: the env's step duration, used by ``budget`` unless the spec gives ``step=``.

    Raises:
        ValueError: for an unknown or malformed spec (the message lists the valid forms).
    """
    if not isinstance(spec, str):
        if isinstance(spec, LatencyModel):
            return spec
        raise TypeError(f"latency must be a spec string or a LatencyModel, got {type(spec).__name__}")
    text = spec.strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "wall" and not rest:
        return WallLatency()
    if kind == "paused" and not rest:
        return PausedLatency()
    if kind == "fixed" and rest:
        return FixedLatency(_number(rest.strip(), f"fixed latency in {spec!r}"))
    if kind == "declared":
        return DeclaredLatency(make_latency_model(rest, step_ms) if rest else None)
    if kind == "token" and rest:
        name, *opts = [p.strip() for p in rest.split(",")]
        rtt = _options(opts, ("rtt",), spec).get("rtt")
        return TokenLatency(name, rtt_ms=rtt)
    if kind == "budget" and rest:
        n_text, *opts = [p.strip() for p in rest.split(",")]
        if not n_text.isdigit() or int(n_text) <= 0:
            raise ValueError(
                f"budget needs a positive integer of tokens per step, got {n_text!r} in {spec!r}"
            )
        step = _options(opts, ("step",), spec).get("step", step_ms)
        if step is None:
            raise ValueError(f"latency {spec!r}: the env's step duration is unknown; write budget:N,step=MS")
        return TokenBudgetLatency(int(n_text), step)
    raise ValueError(f"unknown latency spec {spec!r}; valid forms: {', '.join(LATENCY_SPECS)}")
