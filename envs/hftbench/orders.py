"""Agents' orders in their friendly form, a text syntax for LLMs, and validation.

Friendly form (what :class:`~splitsecond.envs.hftbench.env.HFTBenchEnv` accepts besides its array
action): a list of :class:`Order` and :class:`Cancel`. Text form, one instruction per line or
separated by ``;`` (case-insensitive)::

    BUY 10 ACME @ MKT        market buy of 10 shares
    BUY 10 ACME              same (no price = market)
    SELL 5 IDX @ 101.25      limit sell at $101.25
    CANCEL 17                cancel order #17
    HOLD                     do nothing (also NONE, PASS, WAIT or an empty line)

:func:`parse_order` parses one instruction, :func:`parse_orders` several.
:func:`normalize` turns an :class:`Order` or :class:`Cancel` into a :class:`OrderRequest` in ticks
and shares, or a :class:`Rejection` naming what is wrong (unknown symbol, non-positive size,
price off the tick ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from splitsecond.envs.hftbench.numeric import as_decimal_float, is_integer, is_real
from splitsecond.envs.hftbench.order_book import BUY, SELL

LIMIT = "limit"
MARKET = "market"
CANCEL = "cancel"


@dataclass(frozen=True)
class Order:
    """A new order in friendly form.

    Attributes:
        side: ``"buy"`` or ``"sell"``.
        symbol: ticker, e.g. ``"ACME"``.
        qty: shares (a positive multiple of the symbol's lot size); a Python or NumPy integer, or a
            float with an integral value.
        price: limit price in dollars (on the tick grid; a Python or NumPy float, compared at its
            own precision, so ``np.float32(100.01)`` is 100.01), or ``None`` for a market order.
    """

    side: str
    symbol: str
    qty: int
    price: float | None = None

    def __str__(self) -> str:
        where = "MKT" if self.price is None else f"{self.price:.4f}".rstrip("0").rstrip(".")
        return f"{self.side.upper()} {self.qty} {self.symbol} @ {where}"


@dataclass(frozen=True)
class Cancel:
    """Cancel what is left of the agent's resting order ``order_id``."""

    order_id: int

    def __str__(self) -> str:
        return f"CANCEL {self.order_id}"


@dataclass(frozen=True)
class OrderRequest:
    """A validated order in exchange units.

    Attributes:
        kind: ``limit``, ``market`` or ``cancel``.
        symbol: symbol index (-1 for a cancel).
        side: ``BUY`` (1) or ``SELL`` (-1); 0 for a cancel.
        price: limit price in ticks (0 for market orders and cancels).
        qty: shares (0 for a cancel).
        cancel_id: the order to cancel (0 otherwise).
        text: the order as text, for reports.
    """

    kind: str
    symbol: int
    side: int
    price: int
    qty: int
    cancel_id: int
    text: str


@dataclass(frozen=True)
class Rejection:
    """Why an order was refused.

    Attributes:
        order: the order as text.
        code: a short machine-readable reason (see :data:`REJECTION_CODES`).
        reason: a human-readable explanation.
        time_us: when it was refused (simulated µs).
    """

    order: str
    code: str
    reason: str
    time_us: int = 0

    def as_dict(self) -> dict[str, object]:
        """A plain dict for ``info``."""
        return {"order": self.order, "code": self.code, "reason": self.reason, "time_us": self.time_us}


REJECTION_CODES = {
    "unknown_symbol": "the symbol is not traded here",
    "bad_quantity": "quantity not a positive multiple of the lot size, or above the maximum order size",
    "off_tick": "limit price not a multiple of the tick size",
    "bad_price": "limit price not positive",
    "insufficient_buying_power": "the buy or short sale needs more buying power than the margin rule leaves",
    "short_limit": "the sell would take the position below the short limit",
    "outside_action_space": "an array action's field lies outside the declared action space",
    "unknown_order": "cancel of an order id that is not one of the agent's",
    "cancel_too_late": "cancel arrived after the order had completely filled",
    "no_liquidity": "market order found nothing to trade against",
    "lsb_market_only": "the lsb fill model accepts market orders only",
    "lsb_no_bar": "the lsb fill model found no bar at the observed second",
    "session_closed": "the order would arrive after the session ends",
}
"""Rejection codes and what they mean."""

_ORDER_RE = re.compile(
    r"^(?P<side>BUY|SELL)\s+(?P<qty>[+-]?\d+)\s+(?P<sym>[A-Z0-9.]+)"
    r"(?:\s*@\s*(?:(?P<mkt>MKT|MARKET)|(?:LIMIT\s+|LMT\s+)?\$?(?P<px>[+-]?\d+(?:\.\d+)?)))?$"
)
_CANCEL_RE = re.compile(r"^CANCEL\s+#?(?P<id>\d+)$")
_NOOP = {"", "HOLD", "NONE", "PASS", "WAIT", "NOTHING", "NOOP"}

GRAMMAR = "BUY|SELL <qty> <SYMBOL> [@ MKT | @ <price>] | CANCEL <order_id> | HOLD"
"""The text order syntax in one line."""


def parse_order(text: str) -> Order | Cancel | None:
    """Parse one instruction (see the module docstring); ``None`` means do nothing.

    Raises:
        ValueError: naming the expected syntax.
    """
    if not isinstance(text, str):
        raise ValueError(f"an order instruction must be a string, got {type(text).__name__}")
    s = " ".join(text.strip().upper().split())
    if s in _NOOP:
        return None
    m = _CANCEL_RE.match(s)
    if m:
        return Cancel(int(m.group("id")))
    m = _ORDER_RE.match(s)
    if not m:
        raise ValueError(f"cannot parse order {text!r}; expected {GRAMMAR}")
    price = None if m.group("px") is None else float(m.group("px"))
    return Order(m.group("side").lower(), m.group("sym"), int(m.group("qty")), price)


def parse_orders(text: str) -> list[Order | Cancel]:
    """Parse instructions separated by newlines or ``;``; no-ops are dropped."""
    if not isinstance(text, str):
        raise ValueError(f"orders text must be a string, got {type(text).__name__}")
    out = []
    for part in re.split(r"[;\n]", text):
        parsed = parse_order(part)
        if parsed is not None:
            out.append(parsed)
    return out


def normalize(
    order: Order | Cancel,
    symbols: Sequence[str],
    tick_sizes: Sequence[float],
    lot_sizes: Sequence[int],
    max_order_shares: int,
    time_us: int = 0,
) -> OrderRequest | Rejection:
    """Validate a friendly order against the market's rules; see :data:`REJECTION_CODES`."""
    if isinstance(order, Cancel):
        if not is_integer(order.order_id) or order.order_id <= 0:
            return Rejection(
                str(order),
                "unknown_order",
                f"order id must be a positive integer, got {order.order_id!r}",
                time_us,
            )
        return OrderRequest(CANCEL, -1, 0, 0, 0, int(order.order_id), str(order))
    text = str(order)
    if order.side not in ("buy", "sell"):
        raise ValueError(f"Order.side must be 'buy' or 'sell', got {order.side!r}")
    if order.symbol not in symbols:
        return Rejection(
            text, "unknown_symbol", f"unknown symbol {order.symbol!r}; valid: {', '.join(symbols)}", time_us
        )
    i = symbols.index(order.symbol)
    whole = is_integer(order.qty) or (is_real(order.qty) and float(order.qty).is_integer())
    qty = int(order.qty) if whole else 0
    if qty <= 0:
        return Rejection(
            text, "bad_quantity", f"quantity must be a positive integer, got {order.qty!r}", time_us
        )
    lot = lot_sizes[i]
    if qty % lot:
        return Rejection(
            text, "bad_quantity", f"quantity {qty} is not a multiple of the lot size {lot}", time_us
        )
    if qty > max_order_shares:
        return Rejection(
            text, "bad_quantity", f"quantity {qty} exceeds the maximum order size {max_order_shares}", time_us
        )
    side = BUY if order.side == "buy" else SELL
    if order.price is None:
        return OrderRequest(MARKET, i, side, 0, qty, 0, text)
    if not is_real(order.price) or order.price <= 0:
        return Rejection(
            text, "bad_price", f"limit price must be a positive number, got {order.price!r}", time_us
        )
    price = as_decimal_float(order.price)
    tick = tick_sizes[i]
    ticks = price / tick
    if abs(ticks - round(ticks)) > 1e-6:
        return Rejection(
            text, "off_tick", f"price {price} is not a multiple of the tick size {tick}", time_us
        )
    return OrderRequest(LIMIT, i, side, int(round(ticks)), qty, 0, text)
