"""Observation and action spaces of HFTBench, and the conversions to and from them.

Sizes: ``S`` symbols, ``D`` book levels, ``R`` recent trades, ``M`` open-order slots, ``H``
headlines, ``K`` order slots per action (:class:`SpaceDims`).

Observation (``gymnasium.spaces.Dict``); prices in dollars, quantities in shares, 0 = empty::

    time_s        (1,)   float64  seconds since the session started
    bid_px/ask_px (S, D) float64  book levels, best first
    bid_qty/ask_qty (S, D) int64
    last_px       (S,)   float64  last trade price
    mid_px        (S,)   float64  mid price (the mark positions are valued at)
    trade_px      (S, R) float64  recent trades, newest first
    trade_qty     (S, R) int64    signed: + buyer-initiated, - seller-initiated
    trade_age_s   (S, R) float64  seconds since each trade
    position      (S,)   int64    shares held (negative = short)
    cash, equity, pnl (1,) float64 dollars (equity = cash + positions at mid; pnl = equity - initial)
    buying_power  (1,)   float64  dollars of new positions (buys or short sales) the margin rule
                                  still allows; negative when over the limit (:mod:`.margin`)
    order_id      (M,)   int64    the agent's resting orders (0 = empty slot), oldest first
    order_symbol  (M,)   int64    symbol index
    order_side    (M,)   int64    +1 buy, -1 sell, 0 empty
    order_px      (M,)   float64  limit price
    order_qty     (M,)   int64    quantity left
    news_age_s    (H,)   float64  newest first; -1 = empty slot
    news_symbol   (H,)   int64    symbol index, -1 = market-wide (or empty)
    news_direction (H,)  int64    +1 good, -1 bad, 0 empty
    news_size_pct (H,)   float64  the move the headline implies (its text is in ``info["headlines"]``)

Action (``gymnasium.spaces.Dict`` of ``K`` order slots)::

    type          MultiDiscrete([6] * K)  0 none, 1 limit buy, 2 limit sell, 3 market buy,
                                          4 market sell, 5 cancel
    symbol        MultiDiscrete([S] * K)  symbol index
    price_offset  Box(-P, P, (K,), int64) limit price in ticks relative to the touch *observed*:
                                          buy = best bid + offset, sell = best ask - offset
                                          (0 joins the touch, > 0 is more aggressive; an offset of
                                          the spread or more crosses). Empty side: the mid.
    quantity      Box(0, Q, (K,), int64)  lots (x the symbol's lot size); 0 is rejected
    cancel_id     Box(0, 2**31-1, (K,), int64)  the order id to cancel (type 5)

Out-of-space actions (:func:`decode_action`): a slot whose ``symbol``, ``quantity``,
``price_offset`` (limit orders) or ``cancel_id`` (cancels) lies outside the bounds above is
**refused, never clamped**: its order is not sent and ``info["rejections"]`` gets the code
``outside_action_space`` naming the field, the value and the bound (e.g. 5,000 lots when
``max_lots`` is 1,000). Fields a slot's type does not use are ignored. A malformed action (missing
keys, wrong shapes, non-integers, a ``type`` code outside 0-5) raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from splitsecond.envs.hftbench.fees import MICROS_PER_DOLLAR
from splitsecond.envs.hftbench.order_book import BUY, SELL
from splitsecond.envs.hftbench.orders import CANCEL, LIMIT, MARKET, OrderRequest, Rejection

if TYPE_CHECKING:
    from splitsecond.envs.hftbench.market import Market

NONE, LIMIT_BUY, LIMIT_SELL, MARKET_BUY, MARKET_SELL, CANCEL_ORDER = range(6)
ORDER_TYPES = ("none", "limit_buy", "limit_sell", "market_buy", "market_sell", "cancel")
"""Names of the action's ``type`` codes, index-aligned."""
ACTION_KEYS = ("type", "symbol", "price_offset", "quantity", "cancel_id")
"""Keys of the array action."""

_BIG_PRICE = 1e9
_BIG_QTY = 2**40
_BIG_MONEY = 1e15
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class SpaceDims:
    """Sizes of the spaces.

    Attributes:
        depth: book levels per side (D).
        trades: recent trades per symbol (R).
        max_orders: open-order slots (M); further resting orders are not shown.
        headlines: headline slots (H).
        order_slots: orders per action (K).
        max_offset_ticks: bound of ``price_offset`` (P).
        max_lots: bound of ``quantity`` (Q).
    """

    depth: int = 5
    trades: int = 10
    max_orders: int = 16
    headlines: int = 4
    order_slots: int = 4
    max_offset_ticks: int = 1_000
    max_lots: int = 1_000

    def __post_init__(self) -> None:
        for name in (
            "depth",
            "trades",
            "max_orders",
            "headlines",
            "order_slots",
            "max_offset_ticks",
            "max_lots",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 100_000:
                raise ValueError(f"SpaceDims.{name} must be an integer in [1, 100000], got {v!r}")


def observation_space(n_symbols: int, dims: SpaceDims) -> spaces.Dict:
    """The observation space (see the module docstring)."""
    S, D, R, M, H = n_symbols, dims.depth, dims.trades, dims.max_orders, dims.headlines

    def fbox(shape: tuple[int, ...], low: float = 0.0, high: float = _BIG_PRICE) -> spaces.Box:
        return spaces.Box(low, high, shape, np.float64)

    def ibox(shape: tuple[int, ...], low: int, high: int) -> spaces.Box:
        return spaces.Box(low, high, shape, np.int64)

    return spaces.Dict(
        {
            "time_s": fbox((1,), 0.0, 1e7),
            "bid_px": fbox((S, D)),
            "bid_qty": ibox((S, D), 0, _BIG_QTY),
            "ask_px": fbox((S, D)),
            "ask_qty": ibox((S, D), 0, _BIG_QTY),
            "last_px": fbox((S,)),
            "mid_px": fbox((S,)),
            "trade_px": fbox((S, R)),
            "trade_qty": ibox((S, R), -_BIG_QTY, _BIG_QTY),
            "trade_age_s": fbox((S, R), 0.0, 1e7),
            "position": ibox((S,), -_BIG_QTY, _BIG_QTY),
            "cash": fbox((1,), -_BIG_MONEY, _BIG_MONEY),
            "equity": fbox((1,), -_BIG_MONEY, _BIG_MONEY),
            "pnl": fbox((1,), -_BIG_MONEY, _BIG_MONEY),
            "buying_power": fbox((1,), -_BIG_MONEY, _BIG_MONEY),
            "order_id": ibox((M,), 0, 2**62),
            "order_symbol": ibox((M,), 0, max(0, S - 1)),
            "order_side": ibox((M,), -1, 1),
            "order_px": fbox((M,)),
            "order_qty": ibox((M,), 0, _BIG_QTY),
            "news_age_s": fbox((H,), -1.0, 1e7),
            "news_symbol": ibox((H,), -1, max(0, S - 1)),
            "news_direction": ibox((H,), -1, 1),
            "news_size_pct": fbox((H,), 0.0, 100.0),
        }
    )


def action_space(n_symbols: int, dims: SpaceDims) -> spaces.Dict:
    """The action space (see the module docstring)."""
    K = dims.order_slots
    return spaces.Dict(
        {
            "type": spaces.MultiDiscrete([len(ORDER_TYPES)] * K),
            "symbol": spaces.MultiDiscrete([n_symbols] * K),
            "price_offset": spaces.Box(-dims.max_offset_ticks, dims.max_offset_ticks, (K,), np.int64),
            "quantity": spaces.Box(0, dims.max_lots, (K,), np.int64),
            "cancel_id": spaces.Box(0, _MAX_ID, (K,), np.int64),
        }
    )


def noop_action(dims: SpaceDims) -> dict[str, np.ndarray]:
    """An array action that does nothing."""
    K = dims.order_slots
    return {k: np.zeros(K, dtype=np.int64) for k in ACTION_KEYS}


def build_action(
    dims: SpaceDims, slots: list[tuple[int, int, int, int, int]] | list[tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """An array action from up to ``K`` tuples ``(type, symbol, price_offset, quantity_lots, cancel_id)``."""
    if len(slots) > dims.order_slots:
        raise ValueError(f"at most {dims.order_slots} order slots per action, got {len(slots)}")
    action = noop_action(dims)
    for k, slot in enumerate(slots):
        if len(slot) != 5:
            raise ValueError(
                f"an order slot is (type, symbol, price_offset, quantity_lots, cancel_id), got {slot!r}"
            )
        for key, value in zip(ACTION_KEYS, slot, strict=True):
            action[key][k] = int(value)
    return action


def touch_reference(market: Market) -> list[tuple[int, int]]:
    """``(bid_ref, ask_ref)`` in ticks per symbol: the touch, or the mid when a side is empty."""
    refs = []
    for i, book in enumerate(market.books):
        b, a = book.best_bid(), book.best_ask()
        mid = market.mark_micros(i) / market.tick_micros[i]
        refs.append(
            (b if b is not None else int(math.floor(mid)), a if a is not None else int(math.ceil(mid)))
        )
    return refs


def _int_array(action: Mapping[str, Any], key: str, k: int) -> np.ndarray:
    try:
        arr = np.asarray(action[key])
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a malformed action
        raise ValueError(f"action[{key!r}] is not array-like: {exc}") from exc
    if arr.shape != (k,):
        raise ValueError(f"action[{key!r}] must have shape ({k},), got {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)) or np.any(np.abs(arr) > 2**53):
            raise ValueError(f"action[{key!r}] must hold integers, got {arr.tolist()}")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"action[{key!r}] must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def decode_action(
    action: Mapping[str, Any],
    dims: SpaceDims,
    market: Market,
    refs: list[tuple[int, int]],
    time_us: int,
) -> list[OrderRequest | Rejection]:
    """Turn an array action into validated requests or rejections.

    ``refs`` are the touch prices the agent observed (:func:`touch_reference`). A slot with a used
    field outside the action space is rejected (``outside_action_space``), see the module docstring.

    Raises:
        ValueError: when the action's structure is wrong (missing keys, shapes, a type code
            outside 0-5).
    """
    missing = [k for k in ACTION_KEYS if k not in action]
    if missing:
        raise ValueError(f"array action is missing keys {missing}; expected keys {list(ACTION_KEYS)}")
    K = dims.order_slots
    arrs = {key: _int_array(action, key, K) for key in ACTION_KEYS}
    types = arrs["type"]
    if np.any((types < 0) | (types >= len(ORDER_TYPES))):
        raise ValueError(
            f"action['type'] codes must be in 0..5 ({', '.join(ORDER_TYPES)}), got {types.tolist()}"
        )
    out: list[OrderRequest | Rejection] = []
    n_sym = market.n_symbols
    for k in range(K):
        t = int(types[k])
        if t == NONE:
            continue
        sym = int(arrs["symbol"][k])
        label = f"{ORDER_TYPES[t]} slot {k}"
        if t == CANCEL_ORDER:
            cid = int(arrs["cancel_id"][k])
            text = f"CANCEL {cid}"
            if not 0 <= cid <= _MAX_ID:
                out.append(_outside(label, k, "cancel_id", cid, (0, _MAX_ID), time_us))
            elif cid == 0:
                out.append(Rejection(text, "unknown_order", f"order id must be positive, got {cid}", time_us))
            else:
                out.append(OrderRequest(CANCEL, -1, 0, 0, 0, cid, text))
            continue
        side = BUY if t in (LIMIT_BUY, MARKET_BUY) else SELL
        lots = int(arrs["quantity"][k])
        if not 0 <= sym < n_sym:
            out.append(_outside(label, k, "symbol", sym, (0, n_sym - 1), time_us))
            continue
        if not 0 <= lots <= dims.max_lots:
            out.append(_outside(label, k, "quantity", lots, (0, dims.max_lots), time_us))
            continue
        offset = int(arrs["price_offset"][k])
        if t in (LIMIT_BUY, LIMIT_SELL) and not -dims.max_offset_ticks <= offset <= dims.max_offset_ticks:
            bounds = (-dims.max_offset_ticks, dims.max_offset_ticks)
            out.append(_outside(label, k, "price_offset", offset, bounds, time_us))
            continue
        name = market.symbols[sym]
        qty = lots * market.lot_sizes[sym]
        if lots <= 0:
            out.append(
                Rejection(
                    f"{label} {name}", "bad_quantity", f"quantity must be >= 1 lot, got {lots}", time_us
                )
            )
            continue
        if qty > market.config.max_order_shares:
            out.append(
                Rejection(
                    f"{label} {name}",
                    "bad_quantity",
                    f"quantity {qty} exceeds the maximum order size {market.config.max_order_shares}",
                    time_us,
                )
            )
            continue
        verb = "BUY" if side == BUY else "SELL"
        if t in (MARKET_BUY, MARKET_SELL):
            out.append(OrderRequest(MARKET, sym, side, 0, qty, 0, f"{verb} {qty} {name} @ MKT"))
            continue
        price = refs[sym][0] + offset if side == BUY else refs[sym][1] - offset
        tick = market.tick_sizes[sym]
        text = f"{verb} {qty} {name} @ {price * tick:.{_decimals(tick)}f}"
        if price <= 0:
            out.append(Rejection(text, "bad_price", f"limit price {price} ticks is not positive", time_us))
            continue
        out.append(OrderRequest(LIMIT, sym, side, price, qty, 0, text))
    return out


def _outside(label: str, k: int, field: str, value: int, bounds: tuple[int, int], time_us: int) -> Rejection:
    low, high = bounds
    reason = (
        f"action[{field!r}][{k}] = {value} is outside the action space [{low}, {high}]; refused, not clamped"
    )
    return Rejection(label, "outside_action_space", reason, time_us)


def _decimals(tick: float) -> int:
    return max(0, min(6, -math.floor(math.log10(tick) + 1e-9))) if tick < 1 else 0


def encode_observation(market: Market, owner: int, dims: SpaceDims) -> dict[str, np.ndarray]:
    """The observation of ``owner`` now (fresh arrays every call)."""
    S, D, R, M, H = market.n_symbols, dims.depth, dims.trades, dims.max_orders, dims.headlines
    now = market.kernel.now
    tick_d = [t / MICROS_PER_DOLLAR for t in market.tick_micros]
    bid_px = np.zeros((S, D))
    bid_qty = np.zeros((S, D), dtype=np.int64)
    ask_px = np.zeros((S, D))
    ask_qty = np.zeros((S, D), dtype=np.int64)
    last_px = np.zeros(S)
    mid_px = np.zeros(S)
    trade_px = np.zeros((S, R))
    trade_qty = np.zeros((S, R), dtype=np.int64)
    trade_age = np.zeros((S, R))
    marks = market.marks_micros()
    for i, book in enumerate(market.books):
        td = tick_d[i]
        for j, (p, q) in enumerate(book.depth(BUY, D)):
            bid_px[i, j] = p * td
            bid_qty[i, j] = q
        for j, (p, q) in enumerate(book.depth(SELL, D)):
            ask_px[i, j] = p * td
            ask_qty[i, j] = q
        lt = market.last_trade[i]
        last_px[i] = lt * td if lt is not None else 0.0
        mid_px[i] = marks[i] / MICROS_PER_DOLLAR
        tape = market.tape[i]
        for j in range(min(R, len(tape))):
            t, p, q = tape[-1 - j]
            trade_px[i, j] = p * td
            trade_qty[i, j] = q
            trade_age[i, j] = (now - t) / 1e6
    acct = market.ledger.accounts[owner]
    equity = acct.equity(marks)
    order_id = np.zeros(M, dtype=np.int64)
    order_symbol = np.zeros(M, dtype=np.int64)
    order_side = np.zeros(M, dtype=np.int64)
    order_px = np.zeros(M)
    order_qty = np.zeros(M, dtype=np.int64)
    for j, (oid, sym, side, price, qty) in enumerate(market.open_orders(owner)[:M]):
        order_id[j] = oid
        order_symbol[j] = sym
        order_side[j] = side
        order_px[j] = price * tick_d[sym]
        order_qty[j] = qty
    news_age = np.full(H, -1.0)
    news_symbol = np.full(H, -1, dtype=np.int64)
    news_dir = np.zeros(H, dtype=np.int64)
    news_size = np.zeros(H)
    for j, h in enumerate(reversed(market.published[-H:])):
        news_age[j] = (now - h.time_us) / 1e6
        news_symbol[j] = h.symbol
        news_dir[j] = h.direction
        news_size[j] = min(h.size_pct, 100.0)
    return {
        "time_s": np.array([max(0.0, (now - market.session_start_us) / 1e6)]),
        "bid_px": bid_px,
        "bid_qty": bid_qty,
        "ask_px": ask_px,
        "ask_qty": ask_qty,
        "last_px": last_px,
        "mid_px": mid_px,
        "trade_px": trade_px,
        "trade_qty": trade_qty,
        "trade_age_s": trade_age,
        "position": np.array(acct.positions, dtype=np.int64),
        "cash": np.array([acct.cash / MICROS_PER_DOLLAR]),
        "equity": np.array([equity / MICROS_PER_DOLLAR]),
        "pnl": np.array([(equity - acct.initial_cash) / MICROS_PER_DOLLAR]),
        "buying_power": np.array([market.buying_power_micros(owner) / MICROS_PER_DOLLAR]),
        "order_id": order_id,
        "order_symbol": order_symbol,
        "order_side": order_side,
        "order_px": order_px,
        "order_qty": order_qty,
        "news_age_s": news_age,
        "news_symbol": news_symbol,
        "news_direction": news_dir,
        "news_size_pct": news_size,
    }
