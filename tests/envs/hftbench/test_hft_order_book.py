"""Matching engine: price-time priority, partial fills, market orders, cancels racing fills."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from splitsecond.envs.hftbench.order_book import BUY, SELL, OrderBook


def test_price_priority_then_time_priority():
    book = OrderBook()
    book.add_limit(1, owner=10, side=SELL, price=101, qty=5)
    book.add_limit(2, owner=11, side=SELL, price=100, qty=5)
    book.add_limit(3, owner=12, side=SELL, price=100, qty=5)
    fills = book.add_limit(4, owner=13, side=BUY, price=101, qty=12)
    # best price first (100), and at 100 the earlier order (#2) first; then 101
    assert [(f.maker_id, f.price, f.qty) for f in fills] == [(2, 100, 5), (3, 100, 5), (1, 101, 2)]
    assert all(f.taker_id == 4 and f.taker_side == BUY for f in fills)
    assert book.best_ask() == 101 and book.level_qty(SELL, 101) == 3
    assert book.best_bid() is None  # the buy was fully filled, nothing rests


def test_partial_fill_rests_remainder_at_limit():
    book = OrderBook()
    book.add_limit(1, 1, SELL, 100, 3)
    fills = book.add_limit(2, 2, BUY, 100, 10)
    assert [(f.qty, f.maker_done) for f in fills] == [(3, True)]
    assert book.best_bid() == 100 and book.level_qty(BUY, 100) == 7
    assert book.get(2).qty == 7 and book.get(1) is None


def test_maker_partially_filled_keeps_queue_position():
    book = OrderBook()
    book.add_limit(1, 1, BUY, 50, 10)
    book.add_limit(2, 2, BUY, 50, 10)
    f1 = book.add_market(3, 3, SELL, 4)
    assert [(f.maker_id, f.qty, f.maker_done) for f in f1] == [(1, 4, False)]
    f2 = book.add_market(4, 3, SELL, 8)
    assert [(f.maker_id, f.qty) for f in f2] == [(1, 6), (2, 2)]
    assert book.level_qty(BUY, 50) == 8


def test_market_order_sweeps_levels_and_drops_remainder():
    book = OrderBook()
    book.add_limit(1, 1, SELL, 100, 2)
    book.add_limit(2, 1, SELL, 102, 2)
    fills = book.add_market(3, 2, BUY, 10)
    assert [(f.price, f.qty) for f in fills] == [(100, 2), (102, 2)]
    assert book.best_ask() is None and len(book) == 0  # remainder not rested


def test_limit_does_not_cross_beyond_its_price():
    book = OrderBook()
    book.add_limit(1, 1, SELL, 105, 5)
    assert book.add_limit(2, 2, BUY, 104, 5) == []
    assert book.best_bid() == 104 and book.best_ask() == 105


def test_cancel_returns_remaining_and_removes_level():
    book = OrderBook()
    book.add_limit(1, 1, BUY, 99, 10)
    book.add_limit(2, 1, BUY, 98, 10)
    book.add_market(3, 2, SELL, 4)
    assert book.cancel(1) == 6
    assert book.best_bid() == 98
    assert book.cancel(1) == 0  # second cancel does nothing


def test_cancel_racing_fill_loses_when_fill_arrives_first():
    book = OrderBook()
    book.add_limit(1, 1, SELL, 100, 5)
    book.add_market(2, 2, BUY, 5)  # the fill wins the race
    assert book.cancel(1) == 0
    book.add_limit(3, 1, SELL, 100, 5)
    assert book.cancel(3) == 5  # the cancel wins the race
    assert book.add_market(4, 2, BUY, 5) == []


def test_cancelled_order_is_skipped_in_queue():
    book = OrderBook()
    book.add_limit(1, 1, SELL, 100, 5)
    book.add_limit(2, 2, SELL, 100, 5)
    book.cancel(1)
    fills = book.add_market(3, 3, BUY, 5)
    assert [(f.maker_id, f.qty) for f in fills] == [(2, 5)]


def test_depth_and_sweep_cost():
    book = OrderBook()
    for i, (p, q) in enumerate([(100, 1), (101, 2), (103, 3)]):
        book.add_limit(i + 1, 1, SELL, p, q)
    book.add_limit(9, 1, BUY, 99, 4)
    assert book.depth(SELL, 2) == [(100, 1), (101, 2)]
    assert book.depth(BUY, 5) == [(99, 4)]
    assert book.sweep_cost(BUY, 4) == (4, 100 + 2 * 101 + 103)
    assert book.sweep_cost(BUY, 4, limit=101) == (3, 302)
    assert book.sweep_cost(SELL, 10) == (4, 396)


def test_level_recreated_after_emptying():
    book = OrderBook()
    for k in range(200):  # many create/empty cycles exercise the lazy heap and its compaction
        book.add_limit(2 * k + 1, 1, BUY, 100 + k % 7, 1)
        book.cancel(2 * k + 1)
    assert book.best_bid() is None
    book.add_limit(10_000, 1, BUY, 103, 2)
    assert book.best_bid() == 103


class _Reference:
    """A deliberately naive book: lists scanned in full."""

    def __init__(self):
        self.orders = []  # [id, side, price, qty, seq]
        self.seq = 0

    def add(self, oid, side, price, qty, market):
        fills = []
        while qty > 0:
            opp = [
                o
                for o in self.orders
                if o[1] == -side and (market or (o[2] <= price if side == BUY else o[2] >= price))
            ]
            if not opp:
                break
            best = min(opp, key=lambda o: (o[2] * side, o[4]))
            take = min(qty, best[3])
            fills.append((best[0], best[2], take))
            best[3] -= take
            qty -= take
            if best[3] == 0:
                self.orders.remove(best)
        if qty > 0 and not market:
            self.seq += 1
            self.orders.append([oid, side, price, qty, self.seq])
        return fills

    def cancel(self, oid):
        for o in self.orders:
            if o[0] == oid:
                self.orders.remove(o)
                return o[3]
        return 0


_ops = st.lists(
    st.tuples(
        st.sampled_from(["limit", "limit", "market", "cancel"]),
        st.sampled_from([BUY, SELL]),
        st.integers(95, 105),
        st.integers(1, 20),
        st.integers(1, 60),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_matches_naive_reference(ops):
    book, ref = OrderBook(), _Reference()
    for k, (kind, side, price, qty, target) in enumerate(ops, start=1):
        if kind == "cancel":
            assert book.cancel(target) == ref.cancel(target)
            continue
        got = book.add_market(k, 0, side, qty) if kind == "market" else book.add_limit(k, 0, side, price, qty)
        want = ref.add(k, side, price, qty, kind == "market")
        assert [(f.maker_id, f.price, f.qty) for f in got] == want
        bids = [o for o in ref.orders if o[1] == BUY]
        asks = [o for o in ref.orders if o[1] == SELL]
        assert book.best_bid() == (max(o[2] for o in bids) if bids else None)
        assert book.best_ask() == (min(o[2] for o in asks) if asks else None)
        assert len(book) == len(ref.orders)
