"""Text for LLM agents: the rules (:data:`RULES`) and a concise rendering of an observation.

The rendering lists time, money, each symbol's touch, last trade and position, the agent's open
orders and the latest headlines, in a few lines::

    t=12.300s  295.0s left  cash $99,812.40  equity $100,015.22  PnL +$15.22  buying power $89,802.12
    ACME  bid 100.01 x 600 | ask 100.03 x 400  last 100.02  pos +100
    ...
    Open orders: #123 BUY 100 ACME @ 100.00 (left 100)
    News: [0.2s ago] ACME beats earnings estimates by 12%
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from splitsecond.envs.hftbench.fees import MICROS_PER_DOLLAR
from splitsecond.envs.hftbench.margin import dollars
from splitsecond.envs.hftbench.order_book import BUY, SELL
from splitsecond.envs.hftbench.orders import GRAMMAR
from splitsecond.envs.hftbench.replay_data import format_time_of_day

if TYPE_CHECKING:
    from splitsecond.envs.hftbench.market import Market

RULES = f"""HFTBench: you trade stocks in a simulated exchange with a limit order book per symbol.
- Time runs while you think: orders you send after observing at time t reach the exchange at t + your latency.
  Quotes you saw may be gone by then; others (market makers, traders, other agents) act meanwhile.
- Orders, one per line: {GRAMMAR}. No price = market order (fills now against the book, rest dropped).
  A limit order rests in the book until filled or cancelled. Prices must be on the tick (0.01).
- Headlines move the true value of a stock (and of the ETF IDX that holds it); market makers reprice after
  tens to hundreds of milliseconds, so a fast reaction can buy before the quotes move.
- Fees: takers pay $0.003/share, makers earn a $0.002/share rebate. Invalid orders are rejected with a reason.
- Buys and short sales need buying power (by default a cash account: positions and open orders up to 1x your
  equity); you may be short up to the short limit per symbol. If equity falls below the maintenance margin
  (by default 25% of your positions' value), the broker closes all your positions at market (a margin call).
- Positions are closed at the mid price at the end of the session. Goal: maximise PnL (profit and loss).
"""
"""Short rules for LLM prompts."""


def _signed_money(micros: int) -> str:
    sign = "+" if micros >= 0 else "-"
    return f"{sign}${abs(micros) / MICROS_PER_DOLLAR:,.2f}"


def render_text(
    market: Market, owner: int, depth: int = 1, headlines: int = 3, buying_power: int | None = None
) -> str:
    """A concise text rendering of what ``owner`` observes now (see the module docstring).

    ``buying_power`` (micro-dollars) saves recomputing it when the caller has it.
    """
    now = market.kernel.now
    acct = market.ledger.accounts[owner]
    marks = market.marks_micros()
    equity = acct.equity(marks)
    t_s = max(0.0, (now - market.session_start_us) / 1e6)
    tod = market.time_of_day(now)
    clock = f"t={t_s:.3f}s" + (f" ({format_time_of_day(tod)})" if tod is not None else "")
    left = max(0.0, (market.session_end_us - now) / 1e6)
    lines = [
        f"{clock}  {left:.1f}s left  cash ${acct.cash / MICROS_PER_DOLLAR:,.2f}  "
        f"equity ${equity / MICROS_PER_DOLLAR:,.2f}  PnL {_signed_money(equity - acct.initial_cash)}  "
        f"buying power {dollars(market.buying_power_micros(owner) if buying_power is None else buying_power)}"
    ]
    for i, name in enumerate(market.symbols):
        tick = market.tick_micros[i] / MICROS_PER_DOLLAR
        book = market.books[i]
        bids = book.depth(BUY, depth)
        asks = book.depth(SELL, depth)
        bid_s = " ".join(f"{p * tick:.2f}x{q}" for p, q in bids) or "none"
        ask_s = " ".join(f"{p * tick:.2f}x{q}" for p, q in asks) or "none"
        lt = market.last_trade[i]
        last = f"{lt * tick:.2f}" if lt is not None else "-"
        pos = acct.positions[i]
        lines.append(f"{name:<5} bid {bid_s} | ask {ask_s}  last {last}  pos {pos:+d}")
    orders = market.open_orders(owner)
    if orders:
        parts = []
        for oid, sym, side, price, qty in orders[:8]:
            tick = market.tick_micros[sym] / MICROS_PER_DOLLAR
            verb = "BUY" if side == BUY else "SELL"
            parts.append(f"#{oid} {verb} {market.symbols[sym]} @ {price * tick:.2f} (left {qty})")
        more = f" (+{len(orders) - 8} more)" if len(orders) > 8 else ""
        lines.append("Open orders: " + "; ".join(parts) + more)
    else:
        lines.append("Open orders: none")
    news = market.published[-headlines:]
    if news:
        lines.append(
            "News: " + " | ".join(f"[{(now - h.time_us) / 1e6:.1f}s ago] {h.text}" for h in reversed(news))
        )
    else:
        lines.append("News: none")
    return "\n".join(lines)
