"""Money and shares are conserved: trades only move them between accounts (and fees to the exchange)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from splitsecond.envs.hftbench import FeeSchedule, Market, MarketConfig
from splitsecond.envs.hftbench.accounts import Ledger
from splitsecond.envs.hftbench.order_book import BUY, SELL, OrderBook

_trades = st.lists(
    st.tuples(
        st.integers(0, 3),  # owner
        st.sampled_from(["limit", "market", "cancel"]),
        st.sampled_from([BUY, SELL]),
        st.integers(1, 40),  # price in ticks
        st.integers(1, 500),  # qty
        st.integers(0, 1),  # symbol
    ),
    max_size=120,
)


@settings(max_examples=120, deadline=None)
@given(_trades, st.integers(1, 10_000), st.integers(1, 10_000))
def test_cash_plus_positions_conserved(ops, mark0, mark1):
    ledger = Ledger(2, [10_000, 50_000], FeeSchedule(-0.002, 0.003))
    for k in range(4):
        ledger.open(f"p{k}", 1_000.0 * (k + 1))
    books = [OrderBook(), OrderBook()]
    total0 = ledger.total_cash()
    marks = [mark0, mark1]
    value0 = total0  # no positions yet
    for oid, (owner, kind, side, price, qty, sym) in enumerate(ops, start=1):
        book = books[sym]
        if kind == "cancel":
            book.cancel(max(1, oid - qty % 7))
            continue
        fills = (
            book.add_market(oid, owner, side, qty)
            if kind == "market"
            else book.add_limit(oid, owner, side, price, qty)
        )
        for f in fills:
            buyer, seller = (
                (f.taker_owner, f.maker_owner) if f.taker_side == BUY else (f.maker_owner, f.taker_owner)
            )
            ledger.settle(sym, f.price, f.qty, buyer, seller, f.taker_side)
        assert ledger.total_cash() == total0
        assert ledger.net_positions() == [0, 0]
        value = sum(a.equity(marks) for a in ledger.accounts) + ledger.exchange_fees
        assert value == value0


def test_market_session_conserves_money_with_random_agents():
    config = MarketConfig(session_seconds=20.0, warmup_seconds=1.0, news_rate_per_min=20.0)
    market = Market(config, seed=7, agent_names=("a", "b"))
    total0 = market.ledger.total_cash()
    rng = np.random.default_rng(0)
    from splitsecond.envs.hftbench.orders import LIMIT, MARKET, OrderRequest

    t = market.session_start_us
    while t < market.session_end_us - 200_000:
        market.run_until(t)
        for owner in market.agents:
            sym = int(rng.integers(0, market.n_symbols))
            side = BUY if rng.random() < 0.5 else SELL
            mid = market.mid_ticks(sym) or 10_000
            if rng.random() < 0.5:
                req = OrderRequest(MARKET, sym, side, 0, int(rng.integers(1, 300)), 0, "mkt")
            else:
                req = OrderRequest(
                    LIMIT, sym, side, int(mid) + int(rng.integers(-3, 4)), int(rng.integers(1, 300)), 0, "lmt"
                )
            market.submit(owner, [req], t, int(rng.integers(0, 50_000)))
        t += 100_000
        market.check_conservation(total0)
    market.close()
    market.check_conservation(total0)
    for owner in market.agents:
        assert all(p == 0 for p in market.ledger.accounts[owner].positions)
        assert market.stats[owner].fills  # the agents did trade
