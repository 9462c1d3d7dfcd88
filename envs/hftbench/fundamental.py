"""The latent fundamental value of each symbol: what the background makers quote around.

Agents never see it directly; they see the book, the trades and the news. Two sources:

* :class:`SyntheticFundamental`: each stock's log value follows a random walk driven by a common
  market factor (``beta`` loading) plus idiosyncratic noise, with Poisson jumps; headlines move it
  by their size. An ETF's value is its basket's value, scaled to its starting price, so a stock's
  move shows up in the ETF at once (the makers of both then reprice at their own latencies).
* :class:`ReplayFundamental`: the intra-bar path of real 1-second bars
  (:meth:`~splitsecond.envs.hftbench.replay_data.BarSeries.price_at`).

Both update on a fixed step (``MarketConfig.fundamental_step_ms``) and have their own random
stream, so the fundamental path does not depend on what the agents do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from splitsecond.envs.hftbench.config import SymbolSpec
from splitsecond.envs.hftbench.news import MARKET_WIDE, Headline
from splitsecond.envs.hftbench.replay_data import BarSeries

SECONDS_PER_DAY = 6.5 * 3600
"""A trading day (09:30-16:00), the unit of the daily volatilities."""


class SyntheticFundamental:
    """Correlated random walks with jumps, plus baskets (see the module docstring).

    Args:
        specs: the symbols.
        step_s: update step in seconds.
        market_daily_vol_pct: daily volatility of the market factor, in percent.
        rng: this process's random generator.
    """

    def __init__(
        self,
        specs: Sequence[SymbolSpec],
        step_s: float,
        market_daily_vol_pct: float,
        rng: np.random.Generator,
    ) -> None:
        self.specs = tuple(specs)
        self.values = [float(s.price) for s in specs]
        self._rng = rng
        index = {s.name: i for i, s in enumerate(specs)}
        self.stocks = [i for i, s in enumerate(specs) if not s.is_etf]
        scale = math.sqrt(step_s / SECONDS_PER_DAY)
        self._market_sigma = market_daily_vol_pct / 100.0 * scale
        self._beta = np.array([specs[i].beta for i in self.stocks])
        self._idio_sigma = np.array([specs[i].daily_vol_pct / 100.0 * scale for i in self.stocks])
        self._jump_p = np.array([specs[i].jump_rate_per_min * step_s / 60.0 for i in self.stocks])
        self._jump_sigma = np.array([specs[i].jump_size_pct / 100.0 for i in self.stocks])
        # ETF i: value = scale_i * sum(shares * component value)
        self.etfs: list[tuple[int, float, list[tuple[int, float]]]] = []
        for i, s in enumerate(specs):
            if s.is_etf:
                basket = [(index[name], float(shares)) for name, shares in s.holdings]
                nav = sum(self.values[j] * w for j, w in basket)
                self.etfs.append((i, s.price / nav, basket))
        self.holders: dict[int, list[int]] = {i: [] for i in range(len(specs))}
        for etf, _, basket in self.etfs:
            for j, _ in basket:
                self.holders[j].append(etf)

    def step(self, t_us: int) -> None:
        """Advance one step (``t_us`` is unused: the walk has a fixed step)."""
        n = len(self.stocks)
        if n == 0:
            return
        rng = self._rng
        z = rng.standard_normal(n + 1)
        log_ret = self._beta * (self._market_sigma * z[0]) + self._idio_sigma * z[1:]
        jumps = rng.random(n) < self._jump_p
        if jumps.any():
            log_ret = log_ret + jumps * self._jump_sigma * rng.standard_normal(n)
        growth = np.exp(log_ret)
        values = self.values
        for k, i in enumerate(self.stocks):
            values[i] *= float(growth[k])
        self._update_etfs()

    def apply_news(self, headline: Headline) -> list[int]:
        """Move the fundamental by the headline; returns the indices of every symbol it moved."""
        factor = 1.0 + headline.direction * headline.size_pct / 100.0
        if headline.symbol == MARKET_WIDE:
            for i in self.stocks:
                self.values[i] *= 1.0 + headline.direction * headline.size_pct / 100.0 * self.specs[i].beta
            self._update_etfs()
            return list(range(len(self.values)))
        self.values[headline.symbol] *= factor
        self._update_etfs()
        return [headline.symbol, *self.holders[headline.symbol]]

    def _update_etfs(self) -> None:
        values = self.values
        for i, scale, basket in self.etfs:
            values[i] = scale * sum(values[j] * w for j, w in basket)


class ReplayFundamental:
    """The intra-bar price path of real bars; ``start_sod`` is the time of day of simulated t=0.

    News does not apply to replayed prices (the real tape already contains whatever happened).
    """

    def __init__(self, series: Sequence[BarSeries], start_sod: float) -> None:
        self.series = tuple(series)
        self.start_sod = float(start_sod)
        self.values = [s.price_at(self.start_sod) for s in self.series]
        self.holders: dict[int, list[int]] = {i: [] for i in range(len(self.series))}

    def step(self, t_us: int) -> None:
        """Set every value to the path's price at simulated time ``t_us``."""
        t = self.start_sod + t_us / 1e6
        for i, s in enumerate(self.series):
            self.values[i] = s.price_at(t)

    def apply_news(self, headline: Headline) -> list[int]:
        """Replayed prices ignore news; returns no moved symbols."""
        return []
