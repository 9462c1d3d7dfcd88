"""Per-agent session metrics.

* ``daily_yield_pct``: (final equity - initial cash) / initial cash x 100, after end-of-day
  liquidation. ``pnl``: the same in dollars (net of fees).
* ``sharpe``: mean / std of per-second equity returns, annualised with sqrt(252 x 23,400)
  (trading seconds per year); 0 when returns have no variance.
* ``max_drawdown_pct``: largest peak-to-trough fall of the per-second equity curve, in percent.
* ``fill_ratio``: shares filled / shares in accepted (non-cancel) orders.
* ``latency_mean_ms`` / ``latency_p99_ms``: the latency charged to the agent's orders.
* ``opportunities`` / ``opportunities_captured``: an *opportunity* is a headline. The agent
  *captures* it when, within ``opportunity_window_ms`` of publication, it takes (as the taker)
  a stale quote on a symbol the headline moved, in the headline's direction: a buy at least one
  tick below the new fundamental after good news, or a sell at least one tick above it after bad
  news. ``stale_shares`` and ``stale_edge`` count the shares and dollars of such fills
  (edge = distance to the fundamental at fill time x shares).
* ``margin_calls``: times the account fell below its maintenance margin or below zero equity
  (:mod:`splitsecond.envs.hftbench.margin`), counting each stretch in breach once, plus a session
  that ends with negative equity. ``liquidations``: forced liquidations that traded (each closes
  the positions at market; their fills have ``liquidity == "liquidation"``).
  ``max_leverage``: the largest gross position value / equity seen at the margin checks.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from splitsecond.envs.hftbench.fees import MICROS_PER_DOLLAR

TRADING_SECONDS_PER_YEAR = 252 * 23_400
"""Annualisation base of the Sharpe ratio."""


@dataclass(frozen=True)
class AgentFill:
    """One fill of an agent's order.

    Attributes:
        time_us: simulated time of the fill.
        symbol: symbol index.
        side: +1 bought, -1 sold.
        price: execution price in dollars.
        qty: shares.
        liquidity: ``maker``, ``taker``, ``lsb`` (original fill rule), ``liquidation`` (forced
            by a margin call) or ``close`` (end-of-day).
        order_id: the agent's order id (0 for end-of-day liquidation).
        fee: fee paid in dollars (negative = rebate).
    """

    time_us: int
    symbol: int
    side: int
    price: float
    qty: int
    liquidity: str
    order_id: int
    fee: float

    def as_dict(self, symbols: list[str] | None = None) -> dict[str, object]:
        """A plain dict for ``info`` (symbol by name when ``symbols`` is given)."""
        return {
            "time_us": self.time_us,
            "symbol": symbols[self.symbol] if symbols else self.symbol,
            "side": "buy" if self.side > 0 else "sell",
            "price": self.price,
            "qty": self.qty,
            "liquidity": self.liquidity,
            "order_id": self.order_id,
            "fee": self.fee,
        }


@dataclass
class AgentStats:
    """What the market records about one agent during a session."""

    name: str
    initial_cash: int
    orders_submitted: int = 0
    orders_accepted: int = 0
    cancels: int = 0
    qty_accepted: int = 0
    qty_filled: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    latencies_us: list[int] = field(default_factory=list)
    fills: list[AgentFill] = field(default_factory=list)
    equity_times_us: list[int] = field(default_factory=list)
    equity: list[int] = field(default_factory=list)
    captured_news: set[int] = field(default_factory=set)
    stale_shares: int = 0
    stale_edge: int = 0
    margin_calls: int = 0
    liquidations: int = 0
    liquidated_shares: int = 0
    max_leverage: float = 0.0
    in_margin_call: bool = False


def sharpe_ratio(equity: list[int]) -> float:
    """Annualised Sharpe ratio of per-second returns of an equity curve (0 if undefined)."""
    rets = [(b - a) / a for a, b in zip(equity, equity[1:], strict=False) if a > 0]
    if len(rets) < 2:
        return 0.0
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    if var <= 0:
        return 0.0
    return mean / math.sqrt(var) * math.sqrt(TRADING_SECONDS_PER_YEAR)


def max_drawdown_pct(equity: list[int]) -> float:
    """Largest peak-to-trough fall of the curve in percent of the peak (0 if it never falls)."""
    peak = None
    worst = 0.0
    for v in equity:
        if peak is None or v > peak:
            peak = v
        elif peak > 0:
            worst = max(worst, (peak - v) / peak * 100.0)
    return worst


def percentile(values: list[int], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; 0 for an empty list."""
    if not values:
        return 0.0
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(stats: AgentStats, final_equity: int, n_opportunities: int) -> dict[str, float | int | str]:
    """The metrics of the module docstring as a flat dict (money in dollars)."""
    pnl = (final_equity - stats.initial_cash) / MICROS_PER_DOLLAR
    lat = stats.latencies_us
    return {
        "agent": stats.name,
        "pnl": round(pnl, 6),
        "daily_yield_pct": round(pnl / (stats.initial_cash / MICROS_PER_DOLLAR) * 100.0, 6),
        "final_equity": final_equity / MICROS_PER_DOLLAR,
        "sharpe": round(sharpe_ratio(stats.equity), 4),
        "max_drawdown_pct": round(max_drawdown_pct(stats.equity), 6),
        "orders_submitted": stats.orders_submitted,
        "orders_accepted": stats.orders_accepted,
        "cancels": stats.cancels,
        "rejections": sum(stats.rejections.values()),
        "fills": len(stats.fills),
        "shares_traded": sum(f.qty for f in stats.fills if f.liquidity != "close"),
        "fill_ratio": round(stats.qty_filled / stats.qty_accepted, 6) if stats.qty_accepted else 0.0,
        "fees": round(sum(f.fee for f in stats.fills), 6),
        "latency_mean_ms": round(sum(lat) / len(lat) / 1000.0, 3) if lat else 0.0,
        "latency_p99_ms": round(percentile(lat, 99) / 1000.0, 3),
        "opportunities": n_opportunities,
        "opportunities_captured": len(stats.captured_news),
        "stale_shares": stats.stale_shares,
        "stale_edge": round(stats.stale_edge / MICROS_PER_DOLLAR, 6),
        "margin_calls": stats.margin_calls,
        "liquidations": stats.liquidations,
        "liquidated_shares": stats.liquidated_shares,
        "max_leverage": round(stats.max_leverage, 4),
    }
