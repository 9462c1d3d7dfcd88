"""HFTBench-v0: one agent trading in an event-driven market where its orders land at t + latency.

``gymnasium.make("splitsecond/HFTBench-v0", clock="explicit", latency_ms=50)``

The agent trades among background market makers, noise traders and momentum traders
(:mod:`.participants`) on limit order books (:mod:`.order_book`); a latent fundamental per symbol
moves by a random walk, jumps and headlines (:mod:`.fundamental`, :mod:`.news`); makers reprice
tens to hundreds of milliseconds after it moves, so a fast agent can take stale quotes and a slow
one arrives after they are gone. In replay mode (``replay_files=...``) the fundamental is the
intra-bar path of real 1-second bars (:mod:`.replay_data`), on the exchange's clock
(``replay_timezone``, default America/New_York; each file's zone is ``data_timezone`` or detected,
:mod:`.replay_zone`), starting by default at the regular session's open (``session_open``,
09:30:00). Bar files are checked when loaded (:mod:`.bar_validation`).

Account (:mod:`.margin`): ``initial_cash`` (default $100,000) under a margin rule (``margin``:
``"cash"`` by default, buying power 1x equity; ``"reg_t"`` 2x; ``"reg_t_intraday"`` 4x; or a
:class:`~.margin.MarginRule`). Buys and short sales that add to the account's positions need
buying power (open orders count; short-sale proceeds do not add to it) and are otherwise rejected
(``insufficient_buying_power``); a sell may also not go below ``-short_limit_shares`` per symbol.
When equity falls below the maintenance margin (``maintenance_margin`` x the positions' value,
25 % in every preset) or below zero, a margin call cancels the open orders and closes every
position at market (checked every fundamental step and after each of the agent's orders lands).

Timing (:mod:`splitsecond.envs.timing`): ``clock="wall"`` (default) charges the real time the agent
took, ``"explicit"`` the latency of a ``TimedAction`` (bare actions: ``latency_ms``), ``"fixed"``
``latency_ms`` always. Under the wall clock the env's ``spec`` declares ``nondeterministic=True``
(also when built directly, not through ``gymnasium.make``), so Gymnasium's ``check_env`` does not
expect identical steps. Cadence (:mod:`.seat`): observe at ``t``; orders land at ``t + latency``;
the next observation is ``decision_interval_ms`` (default 100) after that, or earlier when a
headline is published (``wake_on_news``), but never before the orders have landed.

Action space: a ``Dict`` of ``K`` order slots (type none / limit buy / limit sell / market buy /
market sell / cancel, symbol index, price offset in ticks from the observed touch, quantity in lots,
cancel id); friendlier forms are accepted too: ``None``, :class:`~.orders.Order` /
:class:`~.orders.Cancel` objects or a list of them, or text such as ``"BUY 10 ACME @ MKT"``
(:func:`~.orders.parse_orders`). Exact layout: :mod:`.spaces`. An array slot with a field
outside the declared space (e.g. more than ``max_lots`` lots) is refused, not clamped: its order
is rejected with code ``outside_action_space``. Quantities and prices may be NumPy numbers.

Observation space: a ``Dict`` of arrays: time, book depth, last and mid prices, recent trades,
position, cash, equity, PnL, buying power, the agent's open orders, the latest headlines
(direction, size, symbol, age; their text is in ``info["headlines"]``). ``info["text"]`` renders
it for LLMs.

Reward: change of the agent's equity (cash + positions at mid, in dollars, net of fees) since the
previous observation. The last step also liquidates the positions at the closing mid. Forced
liquidations (margin calls) happen at market and their cost is in the reward like any trade's.

Termination: when the session's time is up (``session_seconds``, default 300 s of simulated time;
in replay mode by default when the data ends); never truncated. A margin call does not end the
session: a liquidated account may trade again within its buying power.

``info``: ``time_us`` (since the session start), ``latency_us`` charged to the last action,
``rejections`` (order, code, reason, time_us), ``fills`` (``liquidity``: maker, taker, lsb,
liquidation or close), ``accepted`` (new order ids), ``headlines`` / ``new_headlines`` (with
text), ``equity``, ``pnl``, ``buying_power``, ``margin_calls`` (margin calls since the last
observation: time_us, equity, requirement, rule), ``symbols``, ``text`` and, in replay mode,
``time_of_day`` (exchange clock) and ``timestamp`` (ISO 8601 with offset). The last step's
``info["summary"]`` holds the metrics (:mod:`.metrics`), ``margin_calls`` and ``liquidations``
among them.

Seeded and deterministic: the same seed and the same ``(action, latency)`` sequence give the same
fills and PnL (except under the wall clock, whose latencies are measured).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import gymnasium
import numpy as np
from gymnasium.envs.registration import EnvSpec

from splitsecond.envs.hftbench.config import MarketConfig
from splitsecond.envs.hftbench.market import Market
from splitsecond.envs.hftbench.numeric import is_real
from splitsecond.envs.hftbench.render import render_chart, summary_table
from splitsecond.envs.hftbench.seat import Seat
from splitsecond.envs.hftbench.spaces import ORDER_TYPES, SpaceDims, action_space, observation_space
from splitsecond.envs.hftbench.text import RULES, render_text
from splitsecond.envs.timing import Clock, WallClock, make_clock, ms_to_us

logger = logging.getLogger(__name__)

ENV_ID = "splitsecond/HFTBench-v0"


def build_config(config: MarketConfig | None, overrides: dict[str, Any]) -> MarketConfig:
    """``config`` (default :class:`MarketConfig`) with field overrides; lists become tuples.

    Raises:
        ValueError: for an unknown field name (listing the valid ones) or an invalid value.
    """
    base = config if config is not None else MarketConfig()
    if not isinstance(base, MarketConfig):
        raise ValueError(f"config must be a MarketConfig, got {type(base).__name__}")
    valid = {f.name for f in dataclasses.fields(MarketConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"unknown HFTBench option(s) {unknown}; valid: {sorted(valid)}")
    fixed = {}
    for key, value in overrides.items():
        if key == "replay_files" and isinstance(value, str):
            value = (value,)
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        fixed[key] = value
    if "replay_files" in fixed and fixed["replay_files"] and "session_seconds" not in fixed:
        fixed["session_seconds"] = None
    return dataclasses.replace(base, **fixed)


def symbol_count(config: MarketConfig) -> int:
    """Number of symbols the market will have."""
    return len(config.replay_files) if config.is_replay else len(config.symbols)


def check_timing(decision_interval_ms: float) -> int:
    """Validate ``decision_interval_ms`` and return it in µs."""
    if not is_real(decision_interval_ms) or not 0.001 <= decision_interval_ms <= 3_600_000:
        raise ValueError(f"decision_interval_ms must be in [0.001, 3600000], got {decision_interval_ms!r}")
    return ms_to_us(decision_interval_ms)


class HFTBenchEnv(gymnasium.Env):
    """Single-agent HFTBench (see the module docstring).

    Args:
        config: the market (default :class:`MarketConfig`); keyword ``overrides`` replace fields.
        clock: ``"wall"``, ``"explicit"``, ``"fixed"`` or a :class:`~splitsecond.envs.timing.Clock`.
        latency_ms: fixed latency (``fixed``) or bare actions' latency (``explicit``).
        decision_interval_ms: time from an action's arrival to the next observation.
        wake_on_news: observe as soon as a headline appears (after the previous orders landed).
        dims: sizes of the spaces.
        render_mode: ``"rgb_array"`` (price chart with fills), ``"ansi"`` (the text) or ``None``.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        config: MarketConfig | None = None,
        *,
        clock: str | Clock = "wall",
        latency_ms: float = 0.0,
        decision_interval_ms: float = 100.0,
        wake_on_news: bool = True,
        dims: SpaceDims | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self.config = build_config(config, overrides)
        self.clock = make_clock(clock, latency_ms)
        self.decision_interval_us = check_timing(decision_interval_ms)
        self.wake_on_news = bool(wake_on_news)
        self.dims = dims if dims is not None else SpaceDims()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        n = symbol_count(self.config)
        self.observation_space = observation_space(n, self.dims)
        self.action_space = action_space(n, self.dims)
        if isinstance(self.clock, WallClock):
            # Wall-clock latency is real elapsed time: not reproducible, by design.
            self.spec = EnvSpec(
                ENV_ID, entry_point="splitsecond.envs.hftbench.env:HFTBenchEnv", nondeterministic=True
            )
        self.market: Market | None = None
        self.seat: Seat | None = None
        self._done = False

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Start a new session; ``options`` is unused."""
        super().reset(seed=seed)
        market_seed = int(self.np_random.integers(0, 2**63 - 1))
        self.market = Market(self.config, market_seed, ("agent",))
        self.market.run_until(self.market.session_start_us)
        self.seat = Seat(
            self.market,
            self.market.agents[0],
            self.clock,
            self.dims,
            self.decision_interval_us,
            self.wake_on_news,
        )
        self._done = False
        return self.seat.observe()

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        """Send ``action``'s orders (landing after the charged latency) and advance to the next observation."""
        if self.market is None or self.seat is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the session is over; call reset()")
        market, seat = self.market, self.seat
        seat.act(action)
        terminated = seat.next_obs_us >= market.session_end_us
        if terminated:
            market.close()
            self._done = True
        else:
            market.run_until(seat.next_obs_us)
        reward = seat.reward()
        obs, info = seat.observe()
        if terminated:
            info["summary"] = self.summary()
        return obs, reward, terminated, False, info

    def render(self) -> np.ndarray | str | None:
        """The chart (``rgb_array``) or text (``ansi``) of the session so far."""
        if self.render_mode is None or self.market is None:
            return None
        if self.render_mode == "ansi":
            return render_text(self.market, self.market.agents[0])
        return render_chart(self.market, self.market.agents[0])

    def close(self) -> None:
        """Release the session (safe to call twice)."""
        self.market = None
        self.seat = None

    # ------------------------------------------------------------------ extras
    def summary(self) -> dict[str, float | int | str]:
        """The agent's session metrics (:mod:`.metrics`)."""
        if self.market is None:
            raise RuntimeError("no session; call reset()")
        return self.market.summary(self.market.agents[0])

    def summary_table(self) -> Any:
        """:meth:`summary` as a ``rich`` table."""
        return summary_table([self.summary()])

    @property
    def rules(self) -> str:
        """Short rules for LLM prompts."""
        return RULES

    @property
    def spec_metadata(self) -> dict[str, Any]:
        """What an agent may know: symbols, tick and lot sizes, action type names, limits."""
        if self.market is not None:
            symbols, ticks, lots = self.market.symbols, self.market.tick_sizes, self.market.lot_sizes
        elif self.config.is_replay:
            from splitsecond.envs.hftbench.replay_data import load_replay_day

            c = self.config
            series = load_replay_day(
                c.replay_files, c.data_dir, c.replay_date, c.replay_timezone, c.data_timezone, c.session_open
            )
            symbols, ticks, lots = [s.symbol for s in series], [0.01] * len(series), [1] * len(series)
        else:
            symbols = [s.name for s in self.config.symbols]
            ticks = [s.tick_size for s in self.config.symbols]
            lots = [s.lot_size for s in self.config.symbols]
        return {
            "symbols": list(symbols),
            "tick_sizes": list(ticks),
            "lot_sizes": list(lots),
            "order_types": list(ORDER_TYPES),
            "order_slots": self.dims.order_slots,
            "short_limit_shares": self.config.short_limit_shares,
            "initial_cash": self.config.initial_cash,
            "margin": dataclasses.asdict(self.config.margin),
            "decision_interval_ms": self.decision_interval_us / 1000,
        }
