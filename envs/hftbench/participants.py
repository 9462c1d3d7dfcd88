"""Background participants: market makers, noise traders and momentum traders.

Each has its own latency, account and random stream, and acts only through events on the market's
kernel, so it sees the world as of some time ``t`` and its orders land at ``t + latency``:

* :class:`MarketMaker` quotes a ladder around the fundamental it last saw. When the fundamental
  moves by ``requote_ticks`` or more it cancels and requotes, ``latency`` later; it also requotes
  after its orders fill. Between the move and its requote its quotes are *stale*: whoever arrives
  first (an agent, a faster maker) can take them. Its half-spread widens with recent moves and its
  quotes lean against its inventory.
* :class:`NoiseTrader` sends random market orders and short-lived limit orders near the touch
  (Poisson arrivals).
* :class:`MomentumTrader` looks at the mid price every ``interval``; when it moved more than a
  threshold over the lookback it chases the move with a market order (``latency`` later), and
  unwinds when the move fades.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from splitsecond.envs.hftbench.order_book import BUY, SELL

if TYPE_CHECKING:
    from splitsecond.envs.hftbench.market import Market


class MarketMaker:
    """Quotes ``levels`` bids and asks around the fundamental it saw ``latency_us`` ago."""

    __slots__ = (
        "market",
        "owner",
        "symbol",
        "latency_us",
        "half_spread",
        "levels",
        "size",
        "requote_ticks",
        "widening",
        "max_inventory",
        "live",
        "_scheduled_value",
        "_prev_seen",
        "_ewma_move",
        "_quoted",
        "_fill_pending",
        "requotes",
    )

    def __init__(
        self,
        market: Market,
        owner: int,
        symbol: int,
        latency_us: int,
        half_spread: int,
        levels: int,
        size: int,
        requote_ticks: float,
        widening: float,
        max_inventory: int,
    ) -> None:
        self.market = market
        self.owner = owner
        self.symbol = symbol
        self.latency_us = latency_us
        self.half_spread = half_spread
        self.levels = levels
        self.size = size
        self.requote_ticks = requote_ticks
        self.widening = widening
        self.max_inventory = max_inventory
        self.live: list[int] = []
        self._scheduled_value: float | None = None
        self._prev_seen: float | None = None
        self._ewma_move = 0.0
        self._quoted: tuple[float, float] | None = None
        self._fill_pending = False
        self.requotes = 0

    def start(self, value_ticks: float) -> None:
        """Post the first ladder now around ``value_ticks`` (market start)."""
        self._scheduled_value = value_ticks
        self._prev_seen = value_ticks
        self.requote(value_ticks, 0.0)

    def observe(self, t_us: int, value_ticks: float) -> None:
        """The fundamental is ``value_ticks`` at ``t_us``; requote ``latency_us`` later if it moved enough."""
        if self._prev_seen is not None:
            self._ewma_move = 0.9 * self._ewma_move + 0.1 * abs(value_ticks - self._prev_seen)
        self._prev_seen = value_ticks
        last = self._scheduled_value
        if last is None or abs(value_ticks - last) >= self.requote_ticks:
            self._scheduled_value = value_ticks
            self.market.kernel.schedule(t_us + self.latency_us, self.requote, value_ticks, self._ewma_move)

    def on_fill(self, t_us: int) -> None:
        """One of its resting orders filled at ``t_us``: replenish ``latency_us`` later."""
        if not self._fill_pending and self._quoted is not None:
            self._fill_pending = True
            self.market.kernel.schedule(t_us + self.latency_us, self._requote_after_fill)

    def _requote_after_fill(self) -> None:
        self._fill_pending = False
        if self._quoted is not None:
            self.requote(*self._quoted)

    def requote(self, value_ticks: float, ewma_move: float) -> None:
        """Cancel the ladder and post a new one centred on ``value_ticks`` (skewed by inventory)."""
        market = self.market
        sym = self.symbol
        self._quoted = (value_ticks, ewma_move)
        self.requotes += 1
        for order_id in self.live:
            market.cancel_resting(sym, order_id)
        self.live.clear()
        inventory = market.ledger.accounts[self.owner].positions[sym]
        half = self.half_spread + self.widening * ewma_move
        center = value_ticks - inventory / self.max_inventory * (half + 1.0)
        bid = math.floor(center - half)
        ask = math.ceil(center + half)
        if ask <= bid:
            ask = bid + 1
        live = self.live
        for k in range(self.levels):
            if inventory < self.max_inventory and bid - k > 0:
                oid = market.place_limit(self.owner, sym, BUY, bid - k, self.size)
                if oid:
                    live.append(oid)
            if inventory > -self.max_inventory:
                oid = market.place_limit(self.owner, sym, SELL, ask + k, self.size)
                if oid:
                    live.append(oid)


class NoiseTrader:
    """Random market orders and short-lived limit orders on one symbol (Poisson arrivals)."""

    __slots__ = (
        "market",
        "owner",
        "symbol",
        "rng",
        "market_gap_us",
        "limit_gap_us",
        "mean_size",
        "lot",
        "lifetime_us",
    )

    def __init__(
        self,
        market: Market,
        owner: int,
        symbol: int,
        rng: np.random.Generator,
        market_rate_per_s: float,
        limit_rate_per_s: float,
        mean_size: int,
        lot: int,
        lifetime_s: float,
    ) -> None:
        self.market = market
        self.owner = owner
        self.symbol = symbol
        self.rng = rng
        self.market_gap_us = 1e6 / market_rate_per_s if market_rate_per_s > 0 else 0.0
        self.limit_gap_us = 1e6 / limit_rate_per_s if limit_rate_per_s > 0 else 0.0
        self.mean_size = mean_size
        self.lot = lot
        self.lifetime_us = lifetime_s * 1e6

    def start(self, t_us: int) -> None:
        """Schedule the first arrivals after ``t_us``."""
        k = self.market.kernel
        if self.market_gap_us:
            k.schedule(t_us + int(self.rng.exponential(self.market_gap_us)), self._market_order)
        if self.limit_gap_us:
            k.schedule(t_us + int(self.rng.exponential(self.limit_gap_us)), self._limit_order)

    def _size(self) -> int:
        lots = max(1, int(round(self.rng.exponential(self.mean_size / self.lot))))
        return lots * self.lot

    def _market_order(self) -> None:
        market = self.market
        side = BUY if self.rng.random() < 0.5 else SELL
        market.place_market(self.owner, self.symbol, side, self._size())
        market.kernel.schedule(
            market.kernel.now + 1 + int(self.rng.exponential(self.market_gap_us)), self._market_order
        )

    def _limit_order(self) -> None:
        market = self.market
        rng = self.rng
        now = market.kernel.now
        side = BUY if rng.random() < 0.5 else SELL
        book = market.books[self.symbol]
        ref = book.best_bid() if side == BUY else book.best_ask()
        if ref is None:
            mid = market.mid_ticks(self.symbol)
            ref = int(mid) if mid is not None else None
        if ref is not None:
            behind = int(rng.integers(0, 5))  # 0 = join the touch
            price = ref - behind if side == BUY else ref + behind
            if price > 0:
                oid = market.place_limit(self.owner, self.symbol, side, price, self._size())
                if oid:
                    life = 1 + int(rng.exponential(self.lifetime_us))
                    market.kernel.schedule(now + life, market.cancel_resting, self.symbol, oid)
        market.kernel.schedule(now + 1 + int(rng.exponential(self.limit_gap_us)), self._limit_order)


class MomentumTrader:
    """Chases moves of the mid price over a lookback window with market orders."""

    __slots__ = (
        "market",
        "owner",
        "symbol",
        "latency_us",
        "interval_us",
        "threshold_bps",
        "size",
        "max_position",
    )

    def __init__(
        self,
        market: Market,
        owner: int,
        symbol: int,
        latency_us: int,
        interval_us: int,
        threshold_bps: float,
        size: int,
        max_position: int,
    ) -> None:
        self.market = market
        self.owner = owner
        self.symbol = symbol
        self.latency_us = latency_us
        self.interval_us = interval_us
        self.threshold_bps = threshold_bps
        self.size = size
        self.max_position = max_position

    def start(self, t_us: int, phase_us: int) -> None:
        """Schedule the first look at ``t_us + phase_us``."""
        self.market.kernel.schedule(t_us + phase_us, self._look)

    def _look(self) -> None:
        market = self.market
        now = market.kernel.now
        move = market.mid_move_bps(self.symbol)
        pos = market.ledger.accounts[self.owner].positions[self.symbol]
        if move is not None:
            if move >= self.threshold_bps and pos < self.max_position:
                market.kernel.schedule(now + self.latency_us, self._trade, BUY, self.size)
            elif move <= -self.threshold_bps and pos > -self.max_position:
                market.kernel.schedule(now + self.latency_us, self._trade, SELL, self.size)
            elif abs(move) < self.threshold_bps / 3 and pos != 0:
                side = SELL if pos > 0 else BUY
                market.kernel.schedule(now + self.latency_us, self._trade, side, min(self.size, abs(pos)))
        market.kernel.schedule(now + self.interval_us, self._look)

    def _trade(self, side: int, qty: int) -> None:
        self.market.place_market(self.owner, self.symbol, side, qty)
