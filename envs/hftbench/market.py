"""The simulated market: books, kernel, fundamental, news, participants, accounts and agents.

Time line (integer µs since the market started)::

    0 ........ warm-up ........ session_start_us ........ session ........ session_end_us
                                (first observation)                      (liquidation)

Events on the kernel: fundamental steps (every ``fundamental_step_ms``), headlines, the background
participants' wake-ups and order arrivals, agents' order arrivals (at ``t_observed + latency``),
and a sample of every agent's equity each simulated second (for the Sharpe ratio and charts).

Agents are accounts with limits. :meth:`Market.submit` validates their orders at once (symbol,
size, tick) and schedules the arrival; at arrival the broker checks the short limit (shares that
may be borrowed) and the buying power of the account's margin rule (:mod:`.margin`: purchases and
short sales alike need it) and the exchange matches the order in the book
(``fill_model="book"``) or, under ``fill_model="lsb"``, fills a market order at the original
HFTBench's price (bar low/high slid toward the daily mean by latency / ``lsb_decay_s``; see
:meth:`Market.lsb_price`). Every fundamental step and after each of an agent's orders arrives,
the broker checks the maintenance margin; an account below it (or below zero equity) gets a
margin call: its open orders are cancelled and its positions closed at market. Everything an
agent should hear about (fills, rejections, accepted order ids, margin calls) is queued per agent
and read with :meth:`Market.drain`.

Replay: the bars are put on the exchange's clock (``replay_timezone``, :mod:`.replay_zone`) and the
session starts at ``replay_start``, by default the regular session's open (``session_open``).

End of day: :meth:`Market.close` runs to ``session_end_us`` and liquidates every agent's positions
in a closing auction at each symbol's final mark (the book's mid price), without fees.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from splitsecond.envs.hftbench.accounts import Ledger
from splitsecond.envs.hftbench.config import MarketConfig, SymbolSpec
from splitsecond.envs.hftbench.fees import MICROS_PER_DOLLAR
from splitsecond.envs.hftbench.fundamental import ReplayFundamental, SyntheticFundamental
from splitsecond.envs.hftbench.kernel import EventKernel
from splitsecond.envs.hftbench.margin import AccountRisk, SymbolRisk, dollars
from splitsecond.envs.hftbench.metrics import AgentFill, AgentStats, summarize
from splitsecond.envs.hftbench.news import Headline, draw_headlines
from splitsecond.envs.hftbench.order_book import BUY, SELL, Fill, OrderBook
from splitsecond.envs.hftbench.orders import CANCEL, MARKET, OrderRequest, Rejection
from splitsecond.envs.hftbench.participants import MarketMaker, MomentumTrader, NoiseTrader
from splitsecond.envs.hftbench.replay_data import (
    BarSeries,
    default_replay_start,
    load_replay_day,
    parse_time_of_day,
)
from splitsecond.envs.hftbench.replay_zone import iso_timestamp

logger = logging.getLogger(__name__)

TAPE_LENGTH = 64
"""Trades kept per symbol for observations."""


@dataclass
class AgentReport:
    """What happened to one agent's orders since it last looked (see :meth:`Market.drain`)."""

    fills: list[AgentFill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    accepted: list[dict[str, object]] = field(default_factory=list)
    margin_calls: list[dict[str, Any]] = field(default_factory=list)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


class Market:
    """One trading session (see the module docstring).

    Args:
        config: the market's configuration.
        seed: seeds every random stream (fundamental, news, participants); same seed and same
            agent orders => same session.
        agent_names: one limited account per name, each with ``config.initial_cash``.
    """

    def __init__(self, config: MarketConfig, seed: int, agent_names: Sequence[str] = ("agent",)) -> None:
        if not agent_names or len(set(agent_names)) != len(agent_names):
            raise ValueError(f"agent_names must be non-empty and unique, got {list(agent_names)}")
        self.config = config
        fund_ss, news_ss, setup_ss, part_ss = np.random.SeedSequence(seed).spawn(4)
        step_us = int(round(config.fundamental_step_ms * 1000))
        warmup_us = int(round(config.warmup_seconds * 1e6))
        self.step_us = step_us
        self.session_start_us = warmup_us

        self.series: list[BarSeries] = []
        self.replay_date: str | None = None
        if config.is_replay:
            self.series = load_replay_day(
                config.replay_files,
                config.data_dir,
                config.replay_date,
                config.replay_timezone,
                config.data_timezone,
                config.session_open,
            )
            self.replay_date = self.series[0].date
            start_sod = (
                parse_time_of_day(config.replay_start)
                if config.replay_start
                else default_replay_start(self.series, parse_time_of_day(config.session_open))
            )
            end_sod = min(s.last_second for s in self.series) + 1
            if start_sod >= end_sod:
                raise ValueError(f"replay_start {config.replay_start} is after the data ends")
            session_s = config.session_seconds if config.session_seconds is not None else end_sod - start_sod
            self.specs: tuple[SymbolSpec, ...] = tuple(
                SymbolSpec(s.symbol, price=s.price_at(start_sod), jump_rate_per_min=0.0) for s in self.series
            )
            self.fundamental: SyntheticFundamental | ReplayFundamental = ReplayFundamental(
                self.series, start_sod - config.warmup_seconds
            )
            self.start_time_of_day: float | None = float(start_sod)
            self.lsb_means = [s.lsb_daily_mean() for s in self.series]
        else:
            self.specs = config.symbols
            session_s = config.session_seconds
            self.fundamental = SyntheticFundamental(
                self.specs, step_us / 1e6, config.market_daily_vol_pct, np.random.default_rng(fund_ss)
            )
            self.start_time_of_day = None
            self.lsb_means = []
        assert session_s is not None
        self.session_end_us = warmup_us + int(round(session_s * 1e6))

        self.symbols = [s.name for s in self.specs]
        self.n_symbols = len(self.specs)
        self.tick_sizes = [s.tick_size for s in self.specs]
        self.lot_sizes = [s.lot_size for s in self.specs]
        self.tick_micros = [int(round(s.tick_size * MICROS_PER_DOLLAR)) for s in self.specs]
        self.books = [OrderBook() for _ in self.specs]
        self.kernel = EventKernel()
        self.ledger = Ledger(self.n_symbols, self.tick_micros, config.fees)
        self.margin = config.margin
        self._next_order_id = 1
        self._liquidation_ids: set[int] = set()

        # Agents.
        self.agent_names = list(agent_names)
        self.agents: list[int] = []
        self.stats: dict[int, AgentStats] = {}
        self._reports: dict[int, AgentReport] = {}
        self._agent_open: dict[int, dict[int, int]] = {}  # owner -> {order_id: symbol}
        self._agent_done: dict[int, set[int]] = {}
        for name in agent_names:
            acct = self.ledger.open(name, config.initial_cash, limited=True)
            self.agents.append(acct.owner)
            self.stats[acct.owner] = AgentStats(name, acct.cash)
            self._reports[acct.owner] = AgentReport()
            self._agent_open[acct.owner] = {}
            self._agent_done[acct.owner] = set()
        self._is_agent = [False] * len(self.ledger.accounts)
        for a in self.agents:
            self._is_agent[a] = True
        self._auction = self.ledger.open("closing-auction").owner
        self._lsb_house = self.ledger.open("lsb-house").owner

        # Market data kept for observations, momentum traders and charts.
        self.tape: list[deque[tuple[int, int, int]]] = [deque(maxlen=TAPE_LENGTH) for _ in self.specs]
        self.last_trade: list[int | None] = [None] * self.n_symbols
        lookback_steps = max(1, int(round(config.momentum_lookback_s * 1e6 / step_us)))
        self._mid_hist: list[deque[float]] = [deque(maxlen=lookback_steps + 1) for _ in self.specs]
        self.history_times_us: list[int] = []
        self.history_mids: list[list[float]] = [[] for _ in self.specs]
        self.history_fundamental: list[list[float]] = [[] for _ in self.specs]

        # News.
        stock_idx = [i for i, s in enumerate(self.specs) if not s.is_etf]
        if config.is_replay:
            if config.news_schedule:
                raise ValueError(
                    "news_schedule is not supported in replay mode (replayed prices ignore news)"
                )
            self.headlines: list[Headline] = []
        else:
            self.headlines = draw_headlines(
                np.random.default_rng(news_ss),
                [self.symbols[i] for i in stock_idx],
                stock_idx,
                warmup_us,
                self.session_end_us,
                config.news_rate_per_min,
                config.news_size_pct,
                config.market_news_share,
                config.news_schedule,
                {n: i for i, n in enumerate(self.symbols)},
            )
        self.published: list[Headline] = []
        self._news_moved: dict[int, frozenset[int]] = {}
        for h in self.headlines:
            self.kernel.schedule(h.time_us, self._publish, h)

        # Background participants.
        setup_rng = np.random.default_rng(setup_ss)
        part_rngs = np.random.SeedSequence(int(setup_rng.integers(1 << 62))).spawn(2 * self.n_symbols)
        self.makers: list[list[MarketMaker]] = [[] for _ in self.specs]
        self._maker_of: dict[int, MarketMaker] = {}
        self.noise: list[NoiseTrader] = []
        self.momentum: list[MomentumTrader] = []
        for i, spec in enumerate(self.specs):
            slow = config.etf_maker_latency_factor if spec.is_etf else 1.0
            for k in range(config.makers_per_symbol):
                owner = self.ledger.open(f"maker:{spec.name}:{k}").owner
                lot = spec.lot_size
                size = int(setup_rng.integers(config.maker_size[0], config.maker_size[1] + 1))
                size = max(lot, size // lot * lot)
                mm = MarketMaker(
                    self,
                    owner,
                    i,
                    latency_us=max(1, int(_log_uniform(setup_rng, *config.maker_latency_ms) * 1000 * slow)),
                    half_spread=int(
                        setup_rng.integers(
                            config.maker_half_spread_ticks[0], config.maker_half_spread_ticks[1] + 1
                        )
                    ),
                    levels=config.maker_levels,
                    size=size,
                    requote_ticks=config.maker_requote_ticks,
                    widening=config.maker_spread_widening,
                    max_inventory=config.maker_max_inventory,
                )
                self.makers[i].append(mm)
                self._maker_of[owner] = mm
            noise_owner = self.ledger.open(f"noise:{spec.name}").owner
            nt = NoiseTrader(
                self,
                noise_owner,
                i,
                np.random.default_rng(part_rngs[2 * i]),
                config.noise_market_rate_per_s,
                config.noise_limit_rate_per_s,
                config.noise_size,
                spec.lot_size,
                config.noise_limit_lifetime_s,
            )
            self.noise.append(nt)
            for k in range(config.momentum_per_symbol):
                owner = self.ledger.open(f"momentum:{spec.name}:{k}").owner
                mt = MomentumTrader(
                    self,
                    owner,
                    i,
                    latency_us=max(1, int(_log_uniform(setup_rng, *config.momentum_latency_ms) * 1000)),
                    interval_us=int(config.momentum_interval_ms * 1000),
                    threshold_bps=config.momentum_threshold_bps,
                    size=max(spec.lot_size, config.momentum_size // spec.lot_size * spec.lot_size),
                    max_position=config.momentum_max_position,
                )
                self.momentum.append(mt)
                mt.start(0, int(setup_rng.integers(0, max(1, mt.interval_us))))
        self._is_agent.extend([False] * (len(self.ledger.accounts) - len(self._is_agent)))

        # Makers quote the initial fundamental at once; noise starts after one step.
        for i in range(self.n_symbols):
            value = self.fundamental.values[i] / self.tick_sizes[i]
            for mm in self.makers[i]:
                mm.start(value)
        for nt in self.noise:
            nt.start(step_us)
        self.kernel.schedule(step_us, self._fundamental_step)
        self.kernel.schedule(warmup_us, self._sample)
        self.closed = False
        logger.debug("market ready: %s symbols, %s headlines", self.n_symbols, len(self.headlines))

    # ------------------------------------------------------------------ market data
    def mid_ticks(self, symbol: int) -> float | None:
        """Mid price in ticks, or ``None`` when a side is empty."""
        book = self.books[symbol]
        b = book.best_bid()
        a = book.best_ask()
        if b is None or a is None:
            return None
        return (a + b) / 2.0

    def mark_micros(self, symbol: int) -> int:
        """The price agents' positions are valued at (micro-dollars): the mid, else the last
        trade, else the fundamental."""
        mid = self.mid_ticks(symbol)
        if mid is None:
            mid = self.last_trade[symbol]
        if mid is None:
            return int(round(self.fundamental.values[symbol] * MICROS_PER_DOLLAR))
        return int(round(mid * self.tick_micros[symbol]))

    def marks_micros(self) -> list[int]:
        """:meth:`mark_micros` of every symbol."""
        return [self.mark_micros(i) for i in range(self.n_symbols)]

    def equity_micros(self, owner: int) -> int:
        """Cash plus positions at the marks, micro-dollars."""
        return self.ledger.accounts[owner].equity(self.marks_micros())

    def mid_move_bps(self, symbol: int) -> float | None:
        """Move of the mid over the momentum lookback, in basis points (``None`` if unknown)."""
        hist = self._mid_hist[symbol]
        if len(hist) < hist.maxlen or hist[0] <= 0:  # type: ignore[operator]
            return None
        return (hist[-1] / hist[0] - 1.0) * 1e4

    def open_orders(self, owner: int) -> list[tuple[int, int, int, int, int]]:
        """The agent's resting orders as ``(order_id, symbol, side, price_ticks, qty_left)``."""
        out = []
        for oid, sym in self._agent_open[owner].items():
            o = self.books[sym].get(oid)
            if o is not None:
                out.append((oid, sym, o.side, o.price, o.qty))
        return out

    def time_of_day(self, t_us: int) -> float | None:
        """Replay only: seconds of day (exchange clock, ``replay_timezone``) at simulated time ``t_us``."""
        if self.start_time_of_day is None:
            return None
        return self.start_time_of_day + (t_us - self.session_start_us) / 1e6

    def timestamp(self, t_us: int) -> str | None:
        """Replay only: ISO 8601 instant at simulated time ``t_us``, e.g. ``2025-04-04T09:30:00.000-04:00``."""
        tod = self.time_of_day(t_us)
        if tod is None or self.replay_date is None:
            return None
        return iso_timestamp(self.replay_date, tod, self.config.replay_timezone)

    def account_risk(self, owner: int) -> AccountRisk:
        """``owner``'s cash, positions at the marks and open orders, for the margin checks (:mod:`.margin`)."""
        acct = self.ledger.accounts[owner]
        n = self.n_symbols
        if not self._agent_open[owner] and not any(acct.positions):  # flat: no marks needed
            return AccountRisk(acct.cash, (SymbolRisk(0),) * n, 0)
        buys = [0] * n
        sells = [0] * n
        reserved = 0
        taker_fee = max(0, self.ledger.fees.taker_micros)
        for oid, sym in self._agent_open[owner].items():
            o = self.books[sym].get(oid)
            if o is None:
                continue
            value = o.qty * o.price * self.tick_micros[sym]
            if o.side == BUY:
                buys[sym] += value
            else:
                sells[sym] += value
            reserved += o.qty * taker_fee
        marks = self.marks_micros()
        symbols = tuple(
            SymbolRisk(p * m, b, s) for p, m, b, s in zip(acct.positions, marks, buys, sells, strict=True)
        )
        return AccountRisk(acct.cash, symbols, reserved)

    def buying_power_micros(self, owner: int) -> int:
        """Value of new positions ``owner`` may still open under the margin rule (micro-dollars)."""
        return self.account_risk(owner).buying_power(self.margin)

    def next_headline_after(self, t_us: int) -> int | None:
        """Publication time of the first headline strictly after ``t_us`` (``None`` if none)."""
        for h in self.headlines:
            if h.time_us > t_us:
                return h.time_us
        return None

    # ------------------------------------------------------------------ background order entry
    def place_limit(self, owner: int, symbol: int, side: int, price: int, qty: int) -> int:
        """Background participants' limit order, processed now; returns its id if it rests (else 0)."""
        oid = self._next_order_id
        self._next_order_id = oid + 1
        fills = self.books[symbol].add_limit(oid, owner, side, price, qty, self.kernel.now)
        if fills:
            self._settle(symbol, fills)
            if self.books[symbol].get(oid) is None:
                return 0
        return oid

    def place_market(self, owner: int, symbol: int, side: int, qty: int) -> None:
        """Background participants' market order, processed now."""
        oid = self._next_order_id
        self._next_order_id = oid + 1
        fills = self.books[symbol].add_market(oid, owner, side, qty)
        if fills:
            self._settle(symbol, fills)

    def cancel_resting(self, symbol: int, order_id: int) -> int:
        """Cancel a resting order now; returns the quantity removed."""
        return self.books[symbol].cancel(order_id)

    # ------------------------------------------------------------------ agents
    def submit(
        self, owner: int, requests: Sequence[OrderRequest], observed_us: int, latency_us: int
    ) -> list[Rejection]:
        """Schedule an agent's validated orders to arrive at ``observed_us + latency_us``.

        Returns the orders refused now (arrival after the session end); the rest are decided at
        arrival and reported through :meth:`drain`.
        """
        arrival = observed_us + latency_us
        stats = self.stats[owner]
        refused = []
        for req in requests:
            stats.orders_submitted += 1
            if arrival > self.session_end_us:
                rej = Rejection(
                    req.text, "session_closed", "the order would arrive after the session ends", arrival
                )
                stats.rejections[rej.code] += 1
                refused.append(rej)
                continue
            stats.latencies_us.append(latency_us)
            self.kernel.schedule(arrival, self._agent_arrival, owner, req, observed_us, latency_us)
        return refused

    def reject(self, owner: int, rejection: Rejection) -> None:
        """Record a rejection decided outside the market (e.g. by validation) for ``owner``."""
        self.stats[owner].orders_submitted += 1
        self.stats[owner].rejections[rejection.code] += 1

    def drain(self, owner: int) -> AgentReport:
        """Everything that happened to ``owner``'s orders since the last call."""
        report = self._reports[owner]
        self._reports[owner] = AgentReport()
        return report

    def run_until(self, t_us: int) -> None:
        """Advance the simulation to ``t_us`` (capped at the session end)."""
        self.kernel.run_until(min(t_us, self.session_end_us))

    def close(self) -> None:
        """Run to the session end and liquidate agents' positions at the marks (idempotent)."""
        if self.closed:
            return
        self.kernel.run_until(self.session_end_us)
        now = self.session_end_us
        for owner in self.agents:
            self._check_margin(owner)
            acct = self.ledger.accounts[owner]
            for oid, sym in list(self._agent_open[owner].items()):
                self.books[sym].cancel(oid)
            self._agent_open[owner].clear()
            for sym, pos in enumerate(acct.positions):
                if pos == 0:
                    continue
                mark = self.mark_micros(sym)
                if pos > 0:
                    self.ledger.transfer_at(sym, mark, pos, self._auction, owner)
                else:
                    self.ledger.transfer_at(sym, mark, -pos, owner, self._auction)
                fill = AgentFill(
                    now, sym, -1 if pos > 0 else 1, mark / MICROS_PER_DOLLAR, abs(pos), "close", 0, 0.0
                )
                self.stats[owner].fills.append(fill)
                self._reports[owner].fills.append(fill)
            self.stats[owner].equity_times_us.append(now)
            self.stats[owner].equity.append(acct.cash)
            if acct.cash < 0 and not self.stats[owner].in_margin_call:
                self._margin_call(owner, acct.cash, 0)
        self.closed = True

    def summary(self, owner: int) -> dict[str, float | int | str]:
        """The agent's metrics (:mod:`splitsecond.envs.hftbench.metrics`)."""
        return summarize(self.stats[owner], self.equity_micros(owner), len(self.published))

    def lsb_price(self, symbol: int, side: int, observed_us: int, latency_us: int) -> float | None:
        """The original HFTBench's fill price (dollars) or ``None`` when the observed second had no bar.

        The bar is the one of the second the agent observed; a buy fills at its low, a sell at
        its high, each slid linearly toward the daily mean ``(mean(high)+mean(low))/2`` by
        ``min(latency / lsb_decay_s, 1)``.
        """
        sod = self.time_of_day(observed_us)
        assert sod is not None
        bar = self.series[symbol].bar_at(int(sod // 1))
        if bar is None:
            return None
        _, high, low, _ = bar
        alpha = min(latency_us / 1e6 / self.config.lsb_decay_s, 1.0)
        base = low if side == BUY else high
        return base * (1.0 - alpha) + self.lsb_means[symbol] * alpha

    # ------------------------------------------------------------------ internals
    def _agent_arrival(self, owner: int, req: OrderRequest, observed_us: int, latency_us: int) -> None:
        now = self.kernel.now
        stats = self.stats[owner]
        report = self._reports[owner]

        def refuse(code: str, reason: str) -> None:
            rej = Rejection(req.text, code, reason, now)
            stats.rejections[code] += 1
            report.rejections.append(rej)

        if req.kind == CANCEL:
            sym = self._agent_open[owner].pop(req.cancel_id, None)
            if sym is None:
                if req.cancel_id in self._agent_done[owner]:
                    refuse("cancel_too_late", f"order #{req.cancel_id} had already filled completely")
                else:
                    refuse("unknown_order", f"no open order #{req.cancel_id} of yours")
                return
            left = self.books[sym].cancel(req.cancel_id)
            self._agent_done[owner].add(req.cancel_id)
            stats.orders_accepted += 1
            stats.cancels += 1
            report.accepted.append({"order": req.text, "order_id": req.cancel_id, "cancelled_qty": left})
            return

        sym, side, qty = req.symbol, req.side, req.qty
        acct = self.ledger.accounts[owner]
        tick = self.tick_micros[sym]
        book = self.books[sym]
        lsb = self.config.fill_model == "lsb"
        if lsb:
            if req.kind != MARKET:
                refuse("lsb_market_only", "fill_model='lsb' accepts market orders only")
                return
            lsb_px = self.lsb_price(sym, side, observed_us, latency_us)
            if lsb_px is None:
                refuse("lsb_no_bar", "fill_model='lsb': no bar (no trade) in the observed second")
                return
            cost = int(round(lsb_px * MICROS_PER_DOLLAR)) * qty
        elif req.kind == MARKET:
            _, cost_ticks = book.sweep_cost(side, qty)
            cost = cost_ticks * tick
        else:
            cost = req.price * qty * tick
        if side == SELL:
            open_sell = sum(
                o.qty
                for oid, s in self._agent_open[owner].items()
                if s == sym and (o := self.books[s].get(oid)) is not None and o.side == SELL
            )
            floor_pos = acct.positions[sym] - open_sell - qty
            if floor_pos < -self.config.short_limit_shares:
                refuse(
                    "short_limit",
                    f"position {acct.positions[sym]} minus open sells {open_sell} minus {qty} "
                    f"< -{self.config.short_limit_shares} (short limit)",
                )
                return
        fee = 0 if lsb else max(0, self.ledger.fees.taker_micros) * qty
        risk = self.account_risk(owner)
        if not risk.accepts(self.margin, sym, side, cost, fee):
            refuse(
                "insufficient_buying_power",
                f"the order adds {dollars(risk.added_exposure(sym, side, cost))} of positions (and "
                f"{dollars(fee)} of fees); buying power {dollars(risk.buying_power(self.margin))} "
                f"(margin rule {self.margin.describe()})",
            )
            return

        oid = self._next_order_id
        self._next_order_id = oid + 1
        stats.orders_accepted += 1
        stats.qty_accepted += qty
        report.accepted.append({"order": req.text, "order_id": oid})
        if lsb:
            price_micros = int(round(lsb_px * MICROS_PER_DOLLAR))
            if side == BUY:
                self.ledger.transfer_at(sym, price_micros, qty, owner, self._lsb_house)
            else:
                self.ledger.transfer_at(sym, price_micros, qty, self._lsb_house, owner)
            fill = AgentFill(now, sym, side, price_micros / MICROS_PER_DOLLAR, qty, "lsb", oid, 0.0)
            stats.fills.append(fill)
            stats.qty_filled += qty
            report.fills.append(fill)
            self._agent_done[owner].add(oid)
            self._check_margin(owner)
            return
        if req.kind == MARKET:
            fills = book.add_market(oid, owner, side, qty)
            if not fills:
                refuse("no_liquidity", f"no {'asks' if side == BUY else 'bids'} in {self.symbols[sym]}")
            self._agent_done[owner].add(oid)
        else:
            fills = book.add_limit(oid, owner, side, req.price, qty, now)
            if book.get(oid) is not None:
                self._agent_open[owner][oid] = sym
            else:
                self._agent_done[owner].add(oid)
        if fills:
            self._settle(sym, fills)
        self._check_margin(owner)

    def _check_margin(self, owner: int) -> None:
        """The maintenance check (:mod:`.margin`): below the maintenance margin (or zero equity), a
        margin call (counted once per breach) and a forced liquidation at market."""
        stats = self.stats[owner]
        risk = self.account_risk(owner)
        equity, gross = risk.equity, risk.gross
        if equity > 0 and gross:
            stats.max_leverage = max(stats.max_leverage, gross / equity)
        if not risk.in_margin_call(self.margin):
            stats.in_margin_call = False
            return
        if not stats.in_margin_call:
            self._margin_call(owner, equity, risk.maintenance_requirement(self.margin))
        if gross or self._agent_open[owner]:
            self._liquidate(owner)

    def _margin_call(self, owner: int, equity: int, requirement: int) -> None:
        stats = self.stats[owner]
        stats.in_margin_call = True
        stats.margin_calls += 1
        event = {
            "time_us": self.kernel.now,
            "equity": equity / MICROS_PER_DOLLAR,
            "requirement": requirement / MICROS_PER_DOLLAR,
            "rule": self.margin.name,
        }
        self._reports[owner].margin_calls.append(event)
        logger.info(
            "margin call for %s: equity %s < requirement %s",
            stats.name,
            dollars(equity),
            dollars(requirement),
        )

    def _liquidate(self, owner: int) -> None:
        """Cancel ``owner``'s open orders and close its positions with market orders."""
        now = self.kernel.now
        stats = self.stats[owner]
        for oid, sym in list(self._agent_open[owner].items()):
            self.books[sym].cancel(oid)
            self._agent_done[owner].add(oid)
        self._agent_open[owner].clear()
        traded = 0
        for sym, pos in enumerate(self.ledger.accounts[owner].positions):
            if pos == 0:
                continue
            side, qty = (SELL if pos > 0 else BUY), abs(pos)
            oid = self._next_order_id
            self._next_order_id = oid + 1
            self._agent_done[owner].add(oid)
            if self.config.fill_model == "lsb":
                px = self.lsb_price(sym, side, now, 0)
                price = int(round(px * MICROS_PER_DOLLAR)) if px is not None else self.mark_micros(sym)
                buyer, seller = (owner, self._lsb_house) if side == BUY else (self._lsb_house, owner)
                self.ledger.transfer_at(sym, price, qty, buyer, seller)
                fill = AgentFill(now, sym, side, price / MICROS_PER_DOLLAR, qty, "liquidation", oid, 0.0)
                stats.fills.append(fill)
                self._reports[owner].fills.append(fill)
                traded += qty
                continue
            self._liquidation_ids.add(oid)
            fills = self.books[sym].add_market(oid, owner, side, qty)
            if fills:
                self._settle(sym, fills)
                traded += sum(f.qty for f in fills)
        if traded:
            stats.liquidations += 1
            stats.liquidated_shares += traded

    def _settle(self, symbol: int, fills: list[Fill]) -> None:
        now = self.kernel.now
        ledger = self.ledger
        tape = self.tape[symbol]
        is_agent = self._is_agent
        for f in fills:
            price, qty, side = f.price, f.qty, f.taker_side
            if side == BUY:
                buyer, seller = f.taker_owner, f.maker_owner
            else:
                buyer, seller = f.maker_owner, f.taker_owner
            buyer_fee, seller_fee = ledger.settle(symbol, price, qty, buyer, seller, side)
            tape.append((now, price, qty * side))
            maker = self._maker_of.get(f.maker_owner)
            if maker is not None:
                maker.on_fill(now)
            if is_agent[f.maker_owner]:
                fee = buyer_fee if side == SELL else seller_fee
                self._agent_fill(f.maker_owner, symbol, -side, price, qty, "maker", f.maker_id, fee)
                if f.maker_done:
                    self._agent_open[f.maker_owner].pop(f.maker_id, None)
                    self._agent_done[f.maker_owner].add(f.maker_id)
            if is_agent[f.taker_owner]:
                fee = buyer_fee if side == BUY else seller_fee
                self._agent_fill(f.taker_owner, symbol, side, price, qty, "taker", f.taker_id, fee)
        self.last_trade[symbol] = fills[-1].price

    def _agent_fill(
        self,
        owner: int,
        symbol: int,
        side: int,
        price: int,
        qty: int,
        liquidity: str,
        order_id: int,
        fee: int,
    ) -> None:
        now = self.kernel.now
        px = price * self.tick_micros[symbol] / MICROS_PER_DOLLAR
        if order_id in self._liquidation_ids:
            liquidity = "liquidation"
        fill = AgentFill(now, symbol, side, px, qty, liquidity, order_id, fee / MICROS_PER_DOLLAR)
        stats = self.stats[owner]
        stats.fills.append(fill)
        if liquidity != "liquidation":
            stats.qty_filled += qty
        self._reports[owner].fills.append(fill)
        if liquidity == "taker" and self.published:
            self._check_opportunity(stats, symbol, side, px, qty, now)

    def _check_opportunity(
        self, stats: AgentStats, symbol: int, side: int, px: float, qty: int, now: int
    ) -> None:
        window = int(self.config.opportunity_window_ms * 1000)
        value = self.fundamental.values[symbol]
        tick = self.tick_sizes[symbol]
        edge = (value - px) * side  # > 0: bought below / sold above the fundamental
        if edge < tick - 1e-9:
            return
        for h in reversed(self.published):
            if now - h.time_us > window:
                break
            if h.direction == side and symbol in self._news_moved.get(h.news_id, ()):
                stats.captured_news.add(h.news_id)
                stats.stale_shares += qty
                stats.stale_edge += int(round(edge * qty * MICROS_PER_DOLLAR))
                return

    def _publish(self, headline: Headline) -> None:
        now = self.kernel.now
        self.published.append(headline)
        moved = self.fundamental.apply_news(headline)
        self._news_moved[headline.news_id] = frozenset(moved)
        self._notify_makers(now, moved)
        logger.debug("news t=%s %s", now, headline.text)

    def _notify_makers(self, now: int, symbols: Sequence[int]) -> None:
        values = self.fundamental.values
        for i in symbols:
            v = values[i] / self.tick_sizes[i]
            for mm in self.makers[i]:
                mm.observe(now, v)

    def _fundamental_step(self) -> None:
        now = self.kernel.now
        self.fundamental.step(now)
        self._notify_makers(now, range(self.n_symbols))
        for i in range(self.n_symbols):
            mid = self.mid_ticks(i)
            if mid is not None:
                self._mid_hist[i].append(mid)
        for owner in self.agents:
            self._check_margin(owner)
        nxt = now + self.step_us
        if nxt <= self.session_end_us:
            self.kernel.schedule(nxt, self._fundamental_step)

    def _sample(self) -> None:
        now = self.kernel.now
        marks = self.marks_micros()
        self.history_times_us.append(now)
        for i in range(self.n_symbols):
            self.history_mids[i].append(marks[i] / MICROS_PER_DOLLAR)
            self.history_fundamental[i].append(self.fundamental.values[i])
        for owner in self.agents:
            self.stats[owner].equity_times_us.append(now)
            self.stats[owner].equity.append(self.ledger.accounts[owner].equity(marks))
        nxt = now + 1_000_000
        if nxt < self.session_end_us:
            self.kernel.schedule(nxt, self._sample)

    @property
    def now_us(self) -> int:
        """Current simulated time (µs)."""
        return self.kernel.now

    def check_conservation(self, initial_total_cash: int) -> None:
        """Raise ``AssertionError`` unless money and shares are conserved across all accounts."""
        if self.ledger.total_cash() != initial_total_cash:
            raise AssertionError(f"cash not conserved: {self.ledger.total_cash()} != {initial_total_cash}")
        if any(self.ledger.net_positions()):
            raise AssertionError(f"positions do not net to zero: {self.ledger.net_positions()}")
