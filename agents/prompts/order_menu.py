"""The HFTBench order menu: the concrete orders an LLM may choose from, built from one observation.

A small model rarely writes a parsable order on its own, so an LLM agent on HFTBench asks its
backend to constrain the answer to one line of a menu (``structured_outputs.choice``,
``guided_choice`` or a JSON-schema enum). Every line is a valid, feasible order in the env's text
syntax (:data:`splitsecond.envs.hftbench.GRAMMAR`)::

    HOLD
    BUY 100 ACME @ MKT           take the ask                  (the ask side is not empty)
    SELL 100 ACME @ MKT          hit the bid                   (the bid side is not empty)
    BUY 100 ACME @ 100.01        join the bid
    BUY 100 ACME @ 100.02        improve the bid by one tick   (only when the spread is wider)
    SELL 100 ACME @ 100.04       join the ask
    SELL 100 ACME @ 100.03       improve the ask by one tick
    CANCEL 17                    cancel a resting order        (at most ``max_cancels``)

Orders that open or grow a position are offered only when the buying power covers them with a
margin (the observation's ``buying_power``, the broker's figure after open orders and the account's
margin rule; where absent, cash minus open buy orders): buys, and short sales, which need buying
power for the borrowed value. Orders that reduce a position (selling shares held, buying back a
short) need none. Sells must also keep the position above the short limit (when the spec's metadata
gives ``short_limit_shares``). Sizes are ``shares`` rounded up to the symbol's lot.

The menu is not written into the prompt (30 lines would cost ~250 prompt tokens, ~1.3 s on a
CPU, at every decision): the constraint carries it, and the system message states its shape once
(:meth:`OrderMenu.syntax`, served from the prefix cache after the first call). The model sees the
touch prices in the observation text. With a server that fast-forwards grammar-forced tokens a
choice costs a few sampled tokens (side, symbol, market or limit); the rest is forced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from splitsecond.agents.base import EnvSpec, Observation

HOLD = "HOLD"
_BUY_MARGIN = 1.02  # a market buy may sweep past the touch: ask for 2% headroom


@dataclass(frozen=True)
class OrderMenu:
    """How the order menu is built (see the module docstring).

    Attributes:
        shares: the size of every order, in shares (rounded up to each symbol's lot size).
        limits: offer limit orders that join the touch.
        improve: also offer limit orders one tick inside the spread (when it is wider than a tick).
        max_cancels: offer cancels of at most this many resting orders (oldest first).
    """

    shares: int = 100
    limits: bool = True
    improve: bool = True
    max_cancels: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.shares, int) or isinstance(self.shares, bool) or self.shares < 1:
            raise ValueError(f"OrderMenu.shares must be an integer >= 1, got {self.shares!r}")
        if not isinstance(self.max_cancels, int) or self.max_cancels < 0:
            raise ValueError(f"OrderMenu.max_cancels must be an integer >= 0, got {self.max_cancels!r}")

    # ------------------------------------------------------------------ prompt
    def syntax(self, spec: EnvSpec) -> str:
        """The menu's shape in one line, for the system message (stable for the episode)."""
        sizes = sorted({self.size(spec, i) for i in range(len(_symbols(spec)))})
        qty = str(sizes[0]) if len(sizes) == 1 else "<qty>"
        parts = [HOLD, f"BUY|SELL {qty} <SYMBOL> @ MKT"]
        if self.limits and spec.metadata.get("fill_model") != "lsb":
            inside = " or 1 tick above" if self.improve else ""
            parts.append(f"BUY {qty} <SYMBOL> @ <its bid{inside}>")
            inside = " or 1 tick below" if self.improve else ""
            parts.append(f"SELL {qty} <SYMBOL> @ <its ask{inside}>")
        if self.max_cancels:
            parts.append("CANCEL <open order id>")
        symbols = ", ".join(_symbols(spec))
        return " | ".join(parts) + (f" (symbols: {symbols})" if symbols else "")

    def size(self, spec: EnvSpec, i: int) -> int:
        """The order size of symbol ``i``: :attr:`shares` rounded up to its lot."""
        lots = list(spec.metadata.get("lot_sizes") or [])
        lot = int(lots[i]) if i < len(lots) and int(lots[i]) >= 1 else 1
        return -(-self.shares // lot) * lot

    # ------------------------------------------------------------------ menu
    def build(self, spec: EnvSpec, observation: Observation) -> list[str]:
        """The menu for ``observation``: ``HOLD`` first, then the feasible orders (no duplicates).

        Without the observation's arrays (``observation.data`` not a mapping) the menu is ``HOLD``
        and a market buy and sell of each symbol, which the env's own checks judge on arrival.

        Raises:
            ValueError: when ``spec.metadata`` names no ``symbols``.
        """
        symbols = _symbols(spec)
        if not symbols:
            raise ValueError(f"an order menu needs spec.metadata['symbols']; env {spec.env_id!r} gives none")
        data = observation.data if isinstance(observation.data, Mapping) else None
        menu = [HOLD]
        if data is None:
            for i, sym in enumerate(symbols):
                q = self.size(spec, i)
                menu += [f"BUY {q} {sym} @ MKT", f"SELL {q} {sym} @ MKT"]
            return menu
        ticks = list(spec.metadata.get("tick_sizes") or [0.01] * len(symbols))
        short_limit = spec.metadata.get("short_limit_shares")
        if data.get("buying_power") is not None:
            power = _scalar(data, "buying_power")
        else:
            power = _scalar(data, "cash") - _open_buy_notional(data)
        open_sells = _open_sell_qty(data, len(symbols))
        for i, sym in enumerate(symbols):
            q, tick = self.size(spec, i), float(ticks[i])
            bid, ask = _touch(data, "bid", i), _touch(data, "ask", i)
            position = int(_row(data, "position", i))
            can_sell = short_limit is None or position - open_sells[i] - q >= -int(short_limit)
            closes_long = position - open_sells[i] >= q  # selling shares held needs no buying power
            covers_short = position <= -q  # buying back a short needs none either
            if ask is not None and (covers_short or _affordable(q, ask, power)):
                menu.append(f"BUY {q} {sym} @ MKT")
            if bid is not None and can_sell and (closes_long or _affordable(q, bid, power)):
                menu.append(f"SELL {q} {sym} @ MKT")
            if not self.limits or spec.metadata.get("fill_model") == "lsb":  # lsb takes market orders only
                continue
            wide = bid is not None and ask is not None and ask - bid > 1.5 * tick
            if bid is not None:
                for px in (bid, bid + tick) if self.improve and wide else (bid,):
                    if covers_short or _affordable(q, px, power):
                        menu.append(f"BUY {q} {sym} @ {_price(px, tick)}")
            if ask is not None and can_sell:
                for px in (ask, ask - tick) if self.improve and wide else (ask,):
                    if closes_long or _affordable(q, px, power):
                        menu.append(f"SELL {q} {sym} @ {_price(px, tick)}")
        ids = [int(x) for x in _array(data, "order_id") if int(x) > 0]
        menu += [f"CANCEL {oid}" for oid in ids[: self.max_cancels]]
        return list(dict.fromkeys(menu))


def _symbols(spec: EnvSpec) -> list[str]:
    return [str(s) for s in spec.metadata.get("symbols") or ()]


def _array(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    return list(value.tolist() if hasattr(value, "tolist") else value)


def _scalar(data: Mapping[str, Any], key: str) -> float:
    values = _array(data, key)
    return float(values[0]) if values else 0.0


def _row(data: Mapping[str, Any], key: str, i: int) -> float:
    values = _array(data, key)
    return float(values[i]) if i < len(values) else 0.0


def _touch(data: Mapping[str, Any], side: str, i: int) -> float | None:
    """Best price of ``side`` (``bid``/``ask``) of symbol ``i``, or ``None`` for an empty side."""
    prices, qtys = _array(data, f"{side}_px"), _array(data, f"{side}_qty")
    if i >= len(prices) or i >= len(qtys):
        return None
    px, qty = prices[i], qtys[i]
    px = px[0] if isinstance(px, Sequence) else px
    qty = qty[0] if isinstance(qty, Sequence) else qty
    px = float(px)
    return px if qty > 0 and px > 0 and math.isfinite(px) else None


def _open_buy_notional(data: Mapping[str, Any]) -> float:
    sides, pxs, qtys = _array(data, "order_side"), _array(data, "order_px"), _array(data, "order_qty")
    return sum(float(p) * int(q) for s, p, q in zip(sides, pxs, qtys, strict=False) if int(s) > 0)


def _open_sell_qty(data: Mapping[str, Any], n: int) -> list[int]:
    out = [0] * n
    sides, syms, qtys = _array(data, "order_side"), _array(data, "order_symbol"), _array(data, "order_qty")
    for s, sym, q in zip(sides, syms, qtys, strict=False):
        if int(s) < 0 and 0 <= int(sym) < n:
            out[int(sym)] += int(q)
    return out


def _affordable(qty: int, px: float, power: float) -> bool:
    return qty * px * _BUY_MARGIN <= power


def _price(px: float, tick: float) -> str:
    """``px`` snapped to the tick grid, written with the tick's decimals (``100.10`` for 0.01)."""
    decimals = max(0, -Decimal(str(tick)).normalize().as_tuple().exponent)
    return f"{round(px / tick) * tick:.{decimals}f}"
