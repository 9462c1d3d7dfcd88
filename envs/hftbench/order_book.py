"""A limit order book with price-time priority: the simulator's hot path.

Prices are integers in **ticks**, quantities integers in **shares**; the book knows nothing of
dollars, fees, owners' accounts or time beyond the timestamp it is handed.

Operations:

* :meth:`OrderBook.add_limit` matches the incoming order against the opposite side while it
  crosses (best price first, then arrival order within a price level), and rests the remainder.
* :meth:`OrderBook.add_market` matches at any price; an unfilled remainder is dropped (IOC).
* :meth:`OrderBook.cancel` removes what is left of a resting order; an order that has already
  been filled (a cancel that lost the race against a fill) cancels nothing and returns 0.

Every match yields a :class:`Fill` at the resting (maker) order's price. Self-trades are not
prevented: an owner whose order crosses its own resting order trades with itself (fees apply).

Data structure: per side a ``dict`` price -> ``deque`` of orders and a ``dict`` price -> total
quantity, plus a heap of prices with lazy deletion for the best price. A cancel marks the order
(quantity 0) and subtracts from its level in O(1); dead orders are skipped when they reach the
front of the queue or dropped with their level.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush
from typing import NamedTuple

BUY = 1
"""Side code of a buy order (a bid)."""
SELL = -1
"""Side code of a sell order (an ask)."""


class Fill(NamedTuple):
    """One match between a resting (maker) order and an incoming (taker) order.

    Attributes:
        price: execution price in ticks (the maker's limit price).
        qty: shares exchanged (> 0).
        maker_id: id of the resting order.
        maker_owner: owner id of the resting order.
        taker_id: id of the incoming order.
        taker_owner: owner id of the incoming order.
        taker_side: ``BUY`` if the taker bought, ``SELL`` if it sold.
        maker_done: ``True`` when this fill completed the maker order (nothing left resting).
    """

    price: int
    qty: int
    maker_id: int
    maker_owner: int
    taker_id: int
    taker_owner: int
    taker_side: int
    maker_done: bool


class RestingOrder:
    """A limit order resting in the book; ``qty`` is what is left (0 once filled or cancelled)."""

    __slots__ = ("order_id", "owner", "side", "price", "qty", "time_us")

    def __init__(self, order_id: int, owner: int, side: int, price: int, qty: int, time_us: int) -> None:
        self.order_id = order_id
        self.owner = owner
        self.side = side
        self.price = price
        self.qty = qty
        self.time_us = time_us

    def __repr__(self) -> str:
        side = "BUY" if self.side == BUY else "SELL"
        return f"RestingOrder(#{self.order_id} owner={self.owner} {side} {self.qty}@{self.price})"


class OrderBook:
    """One symbol's limit order book (see the module docstring).

    Counters ``n_adds``, ``n_cancels`` and ``n_fills`` count accepted orders, effective cancels
    and fills since construction (the benchmark's "book events").
    """

    def __init__(self) -> None:
        self._bids: dict[int, deque[RestingOrder]] = {}
        self._asks: dict[int, deque[RestingOrder]] = {}
        self._bid_qty: dict[int, int] = {}
        self._ask_qty: dict[int, int] = {}
        self._bid_heap: list[int] = []  # negated prices
        self._ask_heap: list[int] = []
        self._orders: dict[int, RestingOrder] = {}
        self.n_adds = 0
        self.n_cancels = 0
        self.n_fills = 0

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> int | None:
        """Highest bid price in ticks, or ``None`` when there is no bid."""
        heap = self._bid_heap
        levels = self._bid_qty
        while heap:
            price = -heap[0]
            if price in levels:
                return price
            heappop(heap)
        return None

    def best_ask(self) -> int | None:
        """Lowest ask price in ticks, or ``None`` when there is no ask."""
        heap = self._ask_heap
        levels = self._ask_qty
        while heap:
            price = heap[0]
            if price in levels:
                return price
            heappop(heap)
        return None

    def depth(self, side: int, levels: int) -> list[tuple[int, int]]:
        """The best ``levels`` price levels of ``side`` as ``(price, total_qty)``, best first."""
        if side == BUY:
            prices = sorted(self._bid_qty, reverse=True)[:levels]
            return [(p, self._bid_qty[p]) for p in prices]
        prices = sorted(self._ask_qty)[:levels]
        return [(p, self._ask_qty[p]) for p in prices]

    def level_qty(self, side: int, price: int) -> int:
        """Total resting quantity at ``price`` on ``side`` (0 if no level)."""
        return (self._bid_qty if side == BUY else self._ask_qty).get(price, 0)

    def get(self, order_id: int) -> RestingOrder | None:
        """The resting order with this id, or ``None`` if it is filled, cancelled or unknown."""
        return self._orders.get(order_id)

    def __len__(self) -> int:
        """Number of live resting orders."""
        return len(self._orders)

    def sweep_cost(self, side: int, qty: int, limit: int | None = None) -> tuple[int, int]:
        """Dry run of a taker order: ``(fillable_qty, cost_in_tick_shares)`` without changing the book.

        ``side`` is the taker's side; ``limit`` bounds the prices taken (``None``: any price).
        """
        if side == BUY:
            prices = sorted(self._ask_qty)
            levels = self._ask_qty
        else:
            prices = sorted(self._bid_qty, reverse=True)
            levels = self._bid_qty
        filled = 0
        cost = 0
        for price in prices:
            if filled >= qty or (limit is not None and (price > limit if side == BUY else price < limit)):
                break
            take = min(qty - filled, levels[price])
            filled += take
            cost += take * price
        return filled, cost

    # --------------------------------------------------------------- mutations
    def add_limit(
        self, order_id: int, owner: int, side: int, price: int, qty: int, time_us: int = 0
    ) -> list[Fill]:
        """Submit a limit order: match what crosses, rest the remainder. Returns the fills.

        The caller validates its inputs (positive integer price and quantity, unique id); the book
        does not re-check them on the hot path.
        """
        self.n_adds += 1
        fills: list[Fill] = []
        if side == BUY:
            heap = self._ask_heap
            # heap[0] may be a stale level, so this pre-check can only err towards trying to match
            if heap and heap[0] <= price:
                qty = self._take_asks(order_id, owner, qty, price, fills)
                if fills:
                    self.n_fills += len(fills)
            if qty > 0:
                order = RestingOrder(order_id, owner, side, price, qty, time_us)
                self._orders[order_id] = order
                level = self._bids.get(price)
                if level is None:
                    self._bids[price] = deque((order,))
                    self._bid_qty[price] = qty
                    self._push_level(self._bid_heap, -price, self._bid_qty, BUY)
                else:
                    level.append(order)
                    self._bid_qty[price] += qty
        else:
            heap = self._bid_heap
            if heap and -heap[0] >= price:
                qty = self._take_bids(order_id, owner, qty, price, fills)
                if fills:
                    self.n_fills += len(fills)
            if qty > 0:
                order = RestingOrder(order_id, owner, side, price, qty, time_us)
                self._orders[order_id] = order
                level = self._asks.get(price)
                if level is None:
                    self._asks[price] = deque((order,))
                    self._ask_qty[price] = qty
                    self._push_level(self._ask_heap, price, self._ask_qty, SELL)
                else:
                    level.append(order)
                    self._ask_qty[price] += qty
        return fills

    def add_market(self, order_id: int, owner: int, side: int, qty: int) -> list[Fill]:
        """Submit a market order: match at any price; an unfilled remainder is dropped."""
        self.n_adds += 1
        fills: list[Fill] = []
        if side == BUY:
            self._take_asks(order_id, owner, qty, None, fills)
        else:
            self._take_bids(order_id, owner, qty, None, fills)
        if fills:
            self.n_fills += len(fills)
        return fills

    def cancel(self, order_id: int) -> int:
        """Cancel what is left of a resting order; returns the quantity removed (0 if none)."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return 0
        qty = order.qty
        order.qty = 0
        price = order.price
        levels = self._bid_qty if order.side == BUY else self._ask_qty
        left = levels[price] - qty
        if left:
            levels[price] = left
        else:
            del levels[price]
            del (self._bids if order.side == BUY else self._asks)[price]
        self.n_cancels += 1
        return qty

    # ---------------------------------------------------------------- internals
    @staticmethod
    def _push_level(heap: list[int], key: int, level_qty: dict[int, int], side: int) -> None:
        heappush(heap, key)
        if len(heap) > 4 * len(level_qty) + 64:
            # Too many stale heap entries: rebuild from the live levels.
            heap[:] = [p if side == SELL else -p for p in level_qty]
            heapify(heap)

    def _take_asks(
        self, taker_id: int, taker_owner: int, qty: int, limit: int | None, fills: list[Fill]
    ) -> int:
        heap = self._ask_heap
        level_qty = self._ask_qty
        book = self._asks
        orders = self._orders
        while qty > 0 and heap:
            price = heap[0]
            left = level_qty.get(price)
            if left is None:
                heappop(heap)
                continue
            if limit is not None and price > limit:
                break
            level = book[price]
            while qty > 0 and left > 0:
                maker = level[0]
                mq = maker.qty
                if mq == 0:  # cancelled earlier; skip
                    level.popleft()
                    continue
                if mq <= qty:
                    level.popleft()
                    del orders[maker.order_id]
                    maker.qty = 0
                    qty -= mq
                    left -= mq
                    fills.append(
                        Fill(price, mq, maker.order_id, maker.owner, taker_id, taker_owner, BUY, True)
                    )
                else:
                    maker.qty = mq - qty
                    left -= qty
                    fills.append(
                        Fill(price, qty, maker.order_id, maker.owner, taker_id, taker_owner, BUY, False)
                    )
                    qty = 0
            if left == 0:
                del level_qty[price]
                del book[price]
                heappop(heap)
            else:
                level_qty[price] = left
        return qty

    def _take_bids(
        self, taker_id: int, taker_owner: int, qty: int, limit: int | None, fills: list[Fill]
    ) -> int:
        heap = self._bid_heap
        level_qty = self._bid_qty
        book = self._bids
        orders = self._orders
        while qty > 0 and heap:
            price = -heap[0]
            left = level_qty.get(price)
            if left is None:
                heappop(heap)
                continue
            if limit is not None and price < limit:
                break
            level = book[price]
            while qty > 0 and left > 0:
                maker = level[0]
                mq = maker.qty
                if mq == 0:
                    level.popleft()
                    continue
                if mq <= qty:
                    level.popleft()
                    del orders[maker.order_id]
                    maker.qty = 0
                    qty -= mq
                    left -= mq
                    fills.append(
                        Fill(price, mq, maker.order_id, maker.owner, taker_id, taker_owner, SELL, True)
                    )
                else:
                    maker.qty = mq - qty
                    left -= qty
                    fills.append(
                        Fill(price, qty, maker.order_id, maker.owner, taker_id, taker_owner, SELL, False)
                    )
                    qty = 0
            if left == 0:
                del level_qty[price]
                del book[price]
                heappop(heap)
            else:
                level_qty[price] = left
        return qty
