"""News headlines: short texts with a direction and a size that move the latent fundamental.

A session's headlines are drawn up front (a Poisson process with its own random stream, plus any
scripted :class:`~splitsecond.envs.hftbench.config.ScheduledNews`), so the news tape is the same
whatever the agents do. The text states the direction and, through its number, the strength:
``"ACME beats earnings estimates by 12%"`` moves ACME up by about 1.2 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from splitsecond.envs.hftbench.config import ScheduledNews

MARKET_WIDE = -1
"""``Headline.symbol`` of news that moves every stock."""


@dataclass(frozen=True)
class Headline:
    """One published headline.

    Attributes:
        news_id: 1, 2, ... in publication order.
        time_us: simulated publication time (µs since the market started, warm-up included).
        symbol: index of the stock it is about, or :data:`MARKET_WIDE`.
        direction: +1 (good news, fundamental up) or -1.
        size_pct: the fundamental's move in percent.
        text: the headline.
    """

    news_id: int
    time_us: int
    symbol: int
    direction: int
    size_pct: float
    text: str


# (template, number = f(size_pct)); {s} is the ticker, {n} the number.
_GOOD = (
    ("{s} beats earnings estimates by {n}%", lambda x: max(1, round(x * 10))),
    ("{s} raises full-year revenue guidance by {n}%", lambda x: max(1, round(x * 5))),
    ("{s} wins ${n}B government contract", lambda x: max(1, round(x * 4))),
    ("{s} announces ${n}B share buyback", lambda x: max(1, round(x * 3))),
    ("Regulators approve {s}'s flagship product; analysts see {n}% upside", lambda x: max(1, round(x * 8))),
)
_BAD = (
    ("{s} misses earnings estimates by {n}%", lambda x: max(1, round(x * 10))),
    ("{s} cuts full-year revenue guidance by {n}%", lambda x: max(1, round(x * 5))),
    ("{s} recalls {n}00k units over safety defect", lambda x: max(1, round(x * 4))),
    ("Regulators open probe into {s}; shares could fall {n}%", lambda x: max(1, round(x * 8))),
    ("{s} CFO resigns; auditors flag {n} accounting issues", lambda x: max(1, round(x * 3))),
)
_MARKET_GOOD = (("Fed unexpectedly cuts rates by {n} bp", lambda x: 25 * max(1, round(x * 2))),)
_MARKET_BAD = (("Fed unexpectedly hikes rates by {n} bp", lambda x: 25 * max(1, round(x * 2))),)


def write_headline(ticker: str | None, direction: int, size_pct: float, pick: int = 0) -> str:
    """Headline text for a move of ``direction * size_pct`` percent (``ticker=None``: market-wide)."""
    if ticker is None:
        pool = _MARKET_GOOD if direction > 0 else _MARKET_BAD
    else:
        pool = _GOOD if direction > 0 else _BAD
    template, number = pool[pick % len(pool)]
    return template.format(s=ticker or "", n=number(size_pct))


def draw_headlines(
    rng: np.random.Generator,
    stock_names: Sequence[str],
    stock_indices: Sequence[int],
    start_us: int,
    end_us: int,
    rate_per_min: float,
    size_range_pct: tuple[float, float],
    market_share: float,
    scheduled: Sequence[ScheduledNews] = (),
    symbol_index: dict[str, int] | None = None,
) -> list[Headline]:
    """Draw the session's headlines in ``[start_us, end_us)``, sorted by time.

    Args:
        rng: the news stream's random generator.
        stock_names, stock_indices: tickers and symbol indices of the stocks news can be about.
        start_us, end_us: publication window (µs since the market started).
        rate_per_min: random headlines per minute; 0 for scripted news only.
        size_range_pct: (min, max) of a random move; drawn log-uniformly.
        market_share: probability that a random headline is market-wide.
        scheduled: scripted headlines; their ``time_s`` counts from ``start_us``.
        symbol_index: ticker -> symbol index, for scripted headlines.
    """
    raw: list[tuple[int, int, int, float, str]] = []
    if rate_per_min > 0 and stock_names:
        mean_gap_us = 60e6 / rate_per_min
        t = float(start_us)
        lo, hi = np.log(size_range_pct[0]), np.log(size_range_pct[1])
        while True:
            t += rng.exponential(mean_gap_us)
            if t >= end_us:
                break
            market = rng.random() < market_share
            direction = 1 if rng.random() < 0.5 else -1
            size = float(np.exp(rng.uniform(lo, hi)))
            pick = int(rng.integers(0, 1 << 16))
            if market:
                symbol, ticker = MARKET_WIDE, None
            else:
                k = int(rng.integers(0, len(stock_names)))
                symbol, ticker = stock_indices[k], stock_names[k]
            raw.append(
                (int(t), symbol, direction, round(size, 3), write_headline(ticker, direction, size, pick))
            )
    index = symbol_index or {}
    for n in scheduled:
        t = start_us + int(round(n.time_s * 1e6))
        symbol = MARKET_WIDE if n.symbol is None else index[n.symbol]
        text = n.text or write_headline(n.symbol, n.direction, n.size_pct)
        raw.append((t, symbol, n.direction, n.size_pct, text))
    raw.sort(key=lambda r: r[0])
    return [Headline(i + 1, *r) for i, r in enumerate(raw)]
