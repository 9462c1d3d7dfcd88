"""The random trader: HFTBench's noise baseline, the trader an LLM must beat to show it trades at all.

``RandomAgent`` samples the whole array action space (limit orders far from the touch, thousands of
lots, cancels of orders that do not exist), which is noise of another kind: mostly rejected orders.
:class:`HFTRandomTrader` trades like an uninformed human: at each decision, with probability
``trade_prob``, a market buy or sell of ``shares`` of a uniformly chosen symbol; otherwise it holds.
Reproducible by seed.
"""

from __future__ import annotations

import random

from splitsecond.agents.base import Decision, EnvSpec, Observation
from splitsecond.agents.baselines.hftbench import MARKET_BUY, MARKET_SELL, _action, _Base


class HFTRandomTrader(_Base):
    """Random market orders (see the module docstring).

    Args:
        trade_prob: chance of an order at each decision, in ``[0, 1]``.
        shares: order size in shares (rounded up to the symbol's lot).
        latency_ms: the latency each decision declares (``None``: the arena's latency model decides).
    """

    name = "hft-random"

    def __init__(self, trade_prob: float = 0.3, shares: int = 100, latency_ms: float | None = None) -> None:
        super().__init__()
        if not (isinstance(trade_prob, int | float) and 0.0 <= trade_prob <= 1.0):
            raise ValueError(f"trade_prob must be a number in [0, 1], got {trade_prob!r}")
        if not isinstance(shares, int) or isinstance(shares, bool) or shares < 1:
            raise ValueError(f"shares must be an integer >= 1, got {shares!r}")
        if latency_ms is not None and not (isinstance(latency_ms, int | float) and latency_ms >= 0):
            raise ValueError(f"latency_ms must be a number >= 0 or None, got {latency_ms!r}")
        self.trade_prob = float(trade_prob)
        self.shares = shares
        self.latency_ms = latency_ms
        self._rng = random.Random(0)

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Read the env's symbols and slots; seed the choices."""
        super().reset(spec, seed)
        self._rng = random.Random(seed)

    def act(self, observation: Observation) -> Decision:
        """Hold, or a random market order."""
        slots: list[tuple[int, int, int, int, int]] = []
        if self.n_symbols and self._rng.random() < self.trade_prob:
            symbol = self._rng.randrange(self.n_symbols)
            side = MARKET_BUY if self._rng.random() < 0.5 else MARKET_SELL
            slots.append((side, symbol, 0, self.lots_for(symbol, self.shares), 0))
        return Decision(action=_action(self.k, slots), latency_ms=self.latency_ms)
