"""Baseline agents for HFTBench-v0: a market maker, a momentum trader and a news reactor.

They follow the Agent contract (:mod:`splitsecond.agents.base`) and answer with the env's array
action (``Dict`` of order slots, :mod:`splitsecond.envs.hftbench.spaces`), built from the
observation's arrays only (no LLM). They are references for what speed buys: the news reactor
earns when it is fast and loses when it is slow.

* :class:`HFTMarketMaker` joins the best bid and ask with a small size, cancels quotes that drift
  away from the touch, stops quoting the side that would grow its inventory past a limit and
  flattens with a market order when far over it.
* :class:`HFTMomentumTrader` buys when the mid rose more than a threshold over a lookback (sells
  when it fell) and unwinds when the move fades.
* :class:`HFTNewsReactor` market-buys a stock after good news about it (sells after bad news, the
  ETF too for market-wide news) and unwinds after a holding time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from splitsecond.agents.base import Decision, EnvSpec, Observation

NONE, LIMIT_BUY, LIMIT_SELL, MARKET_BUY, MARKET_SELL, CANCEL = range(6)
_KEYS = ("type", "symbol", "price_offset", "quantity", "cancel_id")


def _slots_of(spec: EnvSpec) -> int:
    space = spec.action_space
    try:
        return int(space["type"].shape[0])  # type: ignore[index]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not an HFTBench action space: {space!r}") from exc


def _action(k: int, slots: list[tuple[int, int, int, int, int]]) -> dict[str, np.ndarray]:
    """Array action from slot tuples; orders beyond the ``k`` slots wait for the next decision."""
    out = {key: np.zeros(k, dtype=np.int64) for key in _KEYS}
    for j, slot in enumerate(slots[:k]):
        for key, value in zip(_KEYS, slot, strict=True):
            out[key][j] = value
    return out


class _Base:
    name = "hft-base"

    def __init__(self) -> None:
        self.k = 0
        self.n_symbols = 0
        self.ticks: list[float] = []
        self.symbols: list[str] = []
        self.lot_sizes: list[int] = []
        self.max_lots = 1

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Read the number of order slots, the symbols and their tick sizes from ``spec``."""
        self.k = _slots_of(spec)
        meta: Mapping[str, Any] = spec.metadata or {}
        self.n_symbols = int(spec.action_space["symbol"].nvec[0])  # type: ignore[index]
        self.symbols = list(meta.get("symbols", [str(i) for i in range(self.n_symbols)]))
        self.ticks = list(meta.get("tick_sizes", [0.01] * self.n_symbols))
        self.lot_sizes = list(meta.get("lot_sizes", [1] * self.n_symbols))
        self.max_lots = int(spec.action_space["quantity"].high[0])  # type: ignore[index]

    def lots_for(self, symbol: int, shares: int) -> int:
        """Lots needed to trade ``shares`` of ``symbol`` (rounded up, capped by the action space)."""
        lot = self.lot_sizes[symbol]
        return max(1, min(self.max_lots, -(-abs(shares) // lot)))


class HFTMarketMaker(_Base):
    """Joins the touch on each symbol (see the module docstring).

    Args:
        lots: quote size in lots.
        max_inventory: shares beyond which the side that adds to the position is not quoted.
        max_distance_ticks: resting quotes farther than this from the touch are cancelled.
        symbols: symbol indices to quote (default: all).
    """

    name = "hft-market-maker"

    def __init__(
        self,
        lots: int = 50,
        max_inventory: int = 300,
        max_distance_ticks: int = 3,
        symbols: list[int] | None = None,
    ) -> None:
        super().__init__()
        if lots < 1 or max_inventory < 1 or max_distance_ticks < 0:
            raise ValueError("lots and max_inventory must be >= 1, max_distance_ticks >= 0")
        self.lots = lots
        self.max_inventory = max_inventory
        self.max_distance_ticks = max_distance_ticks
        self.only = symbols

    def act(self, observation: Observation) -> Decision:
        """Cancel drifted quotes first, then (re)quote missing sides, within the order slots."""
        o = observation.data
        slots: list[tuple[int, int, int, int, int]] = []
        symbols = self.only if self.only is not None else range(self.n_symbols)
        for s in symbols:
            pos = int(o["position"][s])
            if abs(pos) > 2 * self.max_inventory:
                side = MARKET_SELL if pos > 0 else MARKET_BUY
                slots.append((side, s, 0, self.lots_for(s, abs(pos) - self.max_inventory), 0))
        have = {
            (int(sym), int(side))
            for oid, sym, side in zip(o["order_id"], o["order_symbol"], o["order_side"], strict=True)
            if oid
        }
        for oid, sym, side, px in zip(
            o["order_id"], o["order_symbol"], o["order_side"], o["order_px"], strict=True
        ):
            if not oid:
                continue
            best = o["bid_px"][sym, 0] if side > 0 else o["ask_px"][sym, 0]
            if best > 0 and abs(px - best) > (self.max_distance_ticks + 0.5) * self.ticks[sym]:
                slots.append((CANCEL, int(sym), 0, 0, int(oid)))
                have.discard((int(sym), int(side)))
        for s in symbols:
            pos = int(o["position"][s])
            if o["bid_px"][s, 0] <= 0 or o["ask_px"][s, 0] <= 0:
                continue
            if (s, 1) not in have and pos < self.max_inventory:
                slots.append((LIMIT_BUY, s, 0, self.lots, 0))
            if (s, -1) not in have and pos > -self.max_inventory:
                slots.append((LIMIT_SELL, s, 0, self.lots, 0))
        return Decision(action=_action(self.k, slots))


class HFTMomentumTrader(_Base):
    """Chases mid-price moves (see the module docstring).

    Args:
        lookback_s: window of the move.
        threshold_bps: move that triggers a trade.
        lots: order size in lots.
        max_position: position limit in shares per symbol.
    """

    name = "hft-momentum"

    def __init__(
        self, lookback_s: float = 2.0, threshold_bps: float = 10.0, lots: int = 100, max_position: int = 500
    ) -> None:
        super().__init__()
        if lookback_s <= 0 or threshold_bps <= 0 or lots < 1 or max_position < 1:
            raise ValueError("lookback_s, threshold_bps, lots and max_position must be positive")
        self.lookback_s = lookback_s
        self.threshold_bps = threshold_bps
        self.lots = lots
        self.max_position = max_position
        self._hist: list[deque[tuple[float, float]]] = []

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Forget the price history."""
        super().reset(spec, seed)
        self._hist = [deque() for _ in range(self.n_symbols)]

    def act(self, observation: Observation) -> Decision:
        """Trade the symbols whose mid moved more than the threshold over the lookback."""
        o = observation.data
        now = float(o["time_s"][0])
        slots = []
        for s in range(self.n_symbols):
            mid = float(o["mid_px"][s])
            hist = self._hist[s]
            hist.append((now, mid))
            while len(hist) > 1 and hist[1][0] <= now - self.lookback_s:
                hist.popleft()
            then = hist[0][1]
            if then <= 0 or hist[0][0] > now - self.lookback_s:
                continue
            move = (mid / then - 1.0) * 1e4
            pos = int(o["position"][s])
            if move >= self.threshold_bps and pos < self.max_position:
                slots.append((MARKET_BUY, s, 0, self.lots, 0))
            elif move <= -self.threshold_bps and pos > -self.max_position:
                slots.append((MARKET_SELL, s, 0, self.lots, 0))
            elif abs(move) < self.threshold_bps / 3 and pos != 0:
                slots.append(
                    (MARKET_SELL if pos > 0 else MARKET_BUY, s, 0, min(self.lots_for(s, pos), self.lots), 0)
                )
        return Decision(action=_action(self.k, slots))


class HFTNewsReactor(_Base):
    """Trades headlines in their direction, then unwinds (see the module docstring).

    Args:
        lots: order size in lots for a 1 % headline (scaled by the headline's size, at least 1).
        max_age_s: headlines older than this are ignored (the quotes have moved by then).
        hold_s: how long to hold before unwinding.
        etf_symbol: index of the ETF traded on market-wide news (default: the last symbol).
    """

    name = "hft-news-reactor"

    def __init__(
        self, lots: int = 100, max_age_s: float = 1.0, hold_s: float = 5.0, etf_symbol: int | None = None
    ) -> None:
        super().__init__()
        if lots < 1 or max_age_s <= 0 or hold_s <= 0:
            raise ValueError("lots must be >= 1, max_age_s and hold_s > 0")
        self.lots = lots
        self.max_age_s = max_age_s
        self.hold_s = hold_s
        self.etf_symbol = etf_symbol
        self._seen: set[tuple[int, int]] = set()
        self._opened: dict[int, float] = {}

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Forget seen headlines and open trades."""
        super().reset(spec, seed)
        self._seen = set()
        self._opened = {}

    def act(self, observation: Observation) -> Decision:
        """Trade fresh headlines; unwind positions held longer than ``hold_s``."""
        o = observation.data
        now = float(o["time_s"][0])
        slots = []
        for age, sym, direction, size in zip(
            o["news_age_s"], o["news_symbol"], o["news_direction"], o["news_size_pct"], strict=True
        ):
            if direction == 0 or age < 0:
                continue
            key = (int(round((now - age) * 1000)), int(sym))
            if key in self._seen:
                continue
            self._seen.add(key)
            if age > self.max_age_s:
                continue
            target = (
                int(sym)
                if sym >= 0
                else (self.etf_symbol if self.etf_symbol is not None else self.n_symbols - 1)
            )
            lots = max(1, min(self.max_lots, int(round(self.lots * float(size)))))
            slots.append((MARKET_BUY if direction > 0 else MARKET_SELL, target, 0, lots, 0))
            self._opened.setdefault(target, now)
        for s, since in list(self._opened.items()):
            pos = int(o["position"][s])
            if now - since >= self.hold_s:
                if pos != 0:
                    slots.append((MARKET_SELL if pos > 0 else MARKET_BUY, s, 0, self.lots_for(s, pos), 0))
                del self._opened[s]
        return Decision(action=_action(self.k, slots))


__all__ = ["HFTMarketMaker", "HFTMomentumTrader", "HFTNewsReactor"]
