"""An agent's seat at the market: its clock, its decision cadence and what it is told.

Cadence: the agent observes at ``t``; its orders land at ``t + latency``; its next observation
comes ``decision_interval`` after that. With ``wake_on_news`` (default) a headline published after
``t`` brings the next observation forward to the headline's time, but never before the agent's
orders have landed (an agent is busy while it thinks). Both the single-agent and the multi-agent
env are made of seats.

An action may be given in any of these forms (all also inside a
:class:`~splitsecond.envs.timing.TimedAction`):

* the array ``Dict`` of the action space (:mod:`.spaces`);
* ``None`` or ``[]`` (do nothing);
* an :class:`~.orders.Order` / :class:`~.orders.Cancel` or a list of them;
* a string of instructions (:func:`~.orders.parse_orders`), e.g. ``"BUY 10 ACME @ MKT"``.

A wrong structure raises ``ValueError``; an invalid order is rejected with a reason in
``info["rejections"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from splitsecond.envs.hftbench.fees import MICROS_PER_DOLLAR
from splitsecond.envs.hftbench.market import Market
from splitsecond.envs.hftbench.news import MARKET_WIDE
from splitsecond.envs.hftbench.orders import Cancel, Order, OrderRequest, Rejection, normalize, parse_orders
from splitsecond.envs.hftbench.replay_data import format_time_of_day
from splitsecond.envs.hftbench.spaces import SpaceDims, decode_action, encode_observation, touch_reference
from splitsecond.envs.hftbench.text import render_text
from splitsecond.envs.timing import Clock

ACTION_FORMS = "an action-space Dict, None/[], an Order/Cancel or a list of them, or an order string"


class Seat:
    """One agent's connection to the market (see the module docstring).

    Args:
        market: the market.
        owner: the agent's account id in the market.
        clock: charges latency to each action.
        dims: space sizes.
        decision_interval_us: time from an action's arrival to the next observation.
        wake_on_news: bring the next observation forward to a new headline.
    """

    def __init__(
        self,
        market: Market,
        owner: int,
        clock: Clock,
        dims: SpaceDims,
        decision_interval_us: int,
        wake_on_news: bool = True,
    ) -> None:
        self.market = market
        self.owner = owner
        self.clock = clock
        self.dims = dims
        self.decision_interval_us = decision_interval_us
        self.wake_on_news = wake_on_news
        self.observed_us = market.session_start_us
        self.next_obs_us = market.session_start_us
        self.last_latency_us = 0
        self._refs: list[tuple[int, int]] = []
        self._last_equity = market.equity_micros(owner)
        self._seen_news = 0
        self._pending: list[Rejection] = []

    @property
    def name(self) -> str:
        """The agent's name."""
        return self.market.agent_names[self.market.agents.index(self.owner)]

    def observe(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Observation and info at the market's current time; starts the agent's clock."""
        market = self.market
        now = market.kernel.now
        self.observed_us = now
        self._refs = touch_reference(market)
        obs = encode_observation(market, self.owner, self.dims)
        info = self._info(now, int(round(float(obs["buying_power"][0]) * MICROS_PER_DOLLAR)))
        self.clock.observed()
        return obs, info

    def act(self, action: Any) -> None:
        """Charge latency to ``action``, validate it and schedule its orders; set the next observation time."""
        market = self.market
        bare, latency_us = self.clock.charge(action)
        items = self._requests(bare)
        requests: list[OrderRequest] = []
        for item in items:
            if isinstance(item, Rejection):
                market.reject(self.owner, item)
                self._pending.append(item)
            else:
                requests.append(item)
        self._pending.extend(market.submit(self.owner, requests, self.observed_us, latency_us))
        self.last_latency_us = latency_us
        arrival = self.observed_us + latency_us
        nxt = arrival + self.decision_interval_us
        if self.wake_on_news:
            news_t = market.next_headline_after(self.observed_us)
            if news_t is not None and news_t < nxt:
                nxt = max(arrival, news_t)
        self.next_obs_us = nxt

    def reward(self) -> float:
        """Change of equity (dollars) since the last call."""
        equity = self.market.equity_micros(self.owner)
        r = (equity - self._last_equity) / MICROS_PER_DOLLAR
        self._last_equity = equity
        return r

    # ------------------------------------------------------------------ internals
    def _requests(self, bare: Any) -> list[OrderRequest | Rejection]:
        market = self.market
        now = market.kernel.now
        if bare is None:
            return []
        if isinstance(bare, Mapping):
            return decode_action(bare, self.dims, market, self._refs, now)
        if isinstance(bare, str):
            items: Sequence[Any] = parse_orders(bare)
        elif isinstance(bare, Order | Cancel):
            items = [bare]
        elif isinstance(bare, list | tuple):
            items = bare
        else:
            raise ValueError(f"unsupported action type {type(bare).__name__}; expected {ACTION_FORMS}")
        out: list[OrderRequest | Rejection] = []
        for item in items:
            if isinstance(item, str):
                parsed = parse_orders(item)
            elif isinstance(item, Order | Cancel):
                parsed = [item]
            else:
                raise ValueError(f"unsupported order {item!r} in action list; expected Order, Cancel or str")
            for p in parsed:
                out.append(
                    normalize(
                        p,
                        market.symbols,
                        market.tick_sizes,
                        market.lot_sizes,
                        market.config.max_order_shares,
                        now,
                    )
                )
        return out

    def _info(self, now: int, buying_power: int) -> dict[str, Any]:
        market = self.market
        start = market.session_start_us
        report = market.drain(self.owner)
        rejections = self._pending + report.rejections
        self._pending = []
        headlines = []
        for h in market.published[-self.dims.headlines :][::-1]:
            headlines.append(
                {
                    "news_id": h.news_id,
                    "time_s": (h.time_us - start) / 1e6,
                    "symbol": "MARKET" if h.symbol == MARKET_WIDE else market.symbols[h.symbol],
                    "direction": h.direction,
                    "size_pct": h.size_pct,
                    "text": h.text,
                }
            )
        new = len(market.published) - self._seen_news
        self._seen_news = len(market.published)
        equity = market.equity_micros(self.owner)
        acct = market.ledger.accounts[self.owner]
        margin_calls = [{**m, "time_us": max(0, m["time_us"] - start)} for m in report.margin_calls]
        info: dict[str, Any] = {
            "time_us": now - start,
            "latency_us": self.last_latency_us,
            "rejections": [{**r.as_dict(), "time_us": max(0, r.time_us - start)} for r in rejections],
            "fills": [{**f.as_dict(market.symbols), "time_us": f.time_us - start} for f in report.fills],
            "accepted": [dict(a) for a in report.accepted],
            "headlines": headlines,
            "new_headlines": headlines[: min(new, len(headlines))],
            "equity": equity / MICROS_PER_DOLLAR,
            "pnl": (equity - acct.initial_cash) / MICROS_PER_DOLLAR,
            "buying_power": buying_power / MICROS_PER_DOLLAR,
            "margin_calls": margin_calls,
            "symbols": list(market.symbols),
            "text": render_text(market, self.owner, headlines=self.dims.headlines, buying_power=buying_power),
        }
        tod = market.time_of_day(now)
        if tod is not None:
            info["time_of_day"] = format_time_of_day(tod)
            info["timestamp"] = market.timestamp(now)
        return info
