"""Configuration of the simulated market: symbols, background participants, news, accounts, replay.

Everything is a frozen dataclass whose fields are validated on construction (``ValueError`` with a
message naming the field and what is valid). :data:`DEFAULT_SYMBOLS` is a small synthetic universe:
three stocks and an ETF (``IDX``) that holds them, so that news on a stock moves the ETF too and a
fast agent can trade the ETF on the stock's move (lead-lag).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from splitsecond.envs.hftbench.fees import FeeSchedule
from splitsecond.envs.hftbench.margin import CASH_ACCOUNT, MarginRule, margin_rule
from splitsecond.envs.hftbench.numeric import is_integer, is_real

FILL_MODELS = ("book", "lsb")
"""``book``: orders fill against the simulated book. ``lsb``: the original HFTBench rule (replay only)."""


AUTO_ZONE = "auto"
"""``MarketConfig.data_timezone`` value that detects the files' time zone (:mod:`.replay_zone`)."""


def _check_range(owner: str, name: str, value: float, low: float, high: float) -> None:
    if not is_real(value) or not low <= value <= high:
        raise ValueError(f"{owner}.{name} must be a number in [{low}, {high}], got {value!r}")


def _check_int(owner: str, name: str, value: int, low: int, high: int) -> None:
    if not is_integer(value) or not low <= value <= high:
        raise ValueError(f"{owner}.{name} must be an integer in [{low}, {high}], got {value!r}")


def _check_zone(owner: str, name: str, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"{owner}.{name} must be an IANA time zone name such as 'America/New_York' or 'UTC', "
            f"got {value!r} ({exc})"
        ) from exc


def _check_clock_time(owner: str, name: str, value: str) -> None:
    from splitsecond.envs.hftbench.replay_data import parse_time_of_day

    try:
        parse_time_of_day(value)
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{owner}.{name} must be a time of day HH:MM:SS, got {value!r}") from exc


def _check_pair(owner: str, name: str, pair: tuple[float, float], low: float, high: float) -> None:
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise ValueError(f"{owner}.{name} must be a (low, high) pair, got {pair!r}")
    _check_range(owner, f"{name}[0]", pair[0], low, high)
    _check_range(owner, f"{name}[1]", pair[1], low, high)
    if pair[0] > pair[1]:
        raise ValueError(f"{owner}.{name} must have low <= high, got {pair!r}")


@dataclass(frozen=True)
class SymbolSpec:
    """One tradable symbol.

    Attributes:
        name: ticker, 1-8 upper-case letters/digits (e.g. ``ACME``).
        price: starting fundamental value in dollars (synthetic mode; replay takes the data's).
        tick_size: price increment in dollars (orders off this grid are rejected).
        lot_size: quantity increment in shares (orders must be a multiple).
        daily_vol_pct: idiosyncratic volatility of the fundamental over a 6.5 h day, in percent.
        beta: loading on the common market factor (``MarketConfig.market_daily_vol_pct``).
        jump_rate_per_min: unannounced jumps of the fundamental per minute (Poisson).
        jump_size_pct: standard deviation of a jump, in percent.
        holdings: for an ETF, ``((component, shares_per_unit), ...)``; its fundamental is the
            scaled value of the basket (no idiosyncratic noise of its own). Empty for a stock.
    """

    name: str
    price: float = 100.0
    tick_size: float = 0.01
    lot_size: int = 1
    daily_vol_pct: float = 2.5
    beta: float = 1.0
    jump_rate_per_min: float = 0.2
    jump_size_pct: float = 0.15
    holdings: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not (
            isinstance(self.name, str)
            and 1 <= len(self.name) <= 8
            and self.name.isalnum()
            and self.name.isupper()
        ):
            raise ValueError(f"SymbolSpec.name must be 1-8 upper-case letters/digits, got {self.name!r}")
        _check_range("SymbolSpec", "price", self.price, 1e-6, 1e7)
        _check_range("SymbolSpec", "tick_size", self.tick_size, 1e-6, 100.0)
        if abs(self.tick_size * 1_000_000 - round(self.tick_size * 1_000_000)) > 1e-6:
            raise ValueError(
                f"SymbolSpec.tick_size must be a whole number of micro-dollars, got {self.tick_size!r}"
            )
        if not isinstance(self.lot_size, int) or self.lot_size < 1:
            raise ValueError(f"SymbolSpec.lot_size must be an integer >= 1, got {self.lot_size!r}")
        _check_range("SymbolSpec", "daily_vol_pct", self.daily_vol_pct, 0.0, 100.0)
        _check_range("SymbolSpec", "beta", self.beta, -10.0, 10.0)
        _check_range("SymbolSpec", "jump_rate_per_min", self.jump_rate_per_min, 0.0, 60.0)
        _check_range("SymbolSpec", "jump_size_pct", self.jump_size_pct, 0.0, 50.0)
        for item in self.holdings:
            if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueError(
                    f"SymbolSpec.holdings must be ((symbol, shares), ...), got {self.holdings!r}"
                )
            _check_range("SymbolSpec", f"holdings[{item[0]}]", item[1], 1e-9, 1e9)

    @property
    def is_etf(self) -> bool:
        """``True`` when the symbol is a basket of other symbols."""
        return bool(self.holdings)


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("ACME", price=100.0, daily_vol_pct=2.5, beta=1.0),
    SymbolSpec("BOLT", price=50.0, daily_vol_pct=3.0, beta=1.2),
    SymbolSpec("CHIP", price=200.0, daily_vol_pct=3.5, beta=1.4),
    SymbolSpec(
        "IDX", price=100.0, holdings=(("ACME", 1.0), ("BOLT", 2.0), ("CHIP", 0.5)), jump_rate_per_min=0.0
    ),
)
"""Three stocks and an ETF holding them."""


@dataclass(frozen=True)
class ScheduledNews:
    """A headline forced at a given time (tests, scripted scenarios).

    Attributes:
        time_s: simulated seconds after the session start (after warm-up) when it is published.
        symbol: the stock it is about, or ``None`` for market-wide news.
        direction: +1 good news (fundamental up), -1 bad news.
        size_pct: the fundamental's move in percent (> 0).
        text: the headline; generated from the other fields when ``None``.
    """

    time_s: float
    symbol: str | None
    direction: int
    size_pct: float
    text: str | None = None

    def __post_init__(self) -> None:
        _check_range("ScheduledNews", "time_s", self.time_s, 0.0, 1e7)
        if self.direction not in (-1, 1):
            raise ValueError(f"ScheduledNews.direction must be +1 or -1, got {self.direction!r}")
        _check_range("ScheduledNews", "size_pct", self.size_pct, 1e-6, 50.0)


@dataclass(frozen=True)
class MarketConfig:
    """The whole market's configuration (see each group of fields).

    Session:
        symbols: the universe (synthetic mode); replay mode builds one stock per data file.
        session_seconds: trading time after warm-up; ``None`` in replay = until the data ends.
        warmup_seconds: simulated time run before the first observation so the book is populated.
        fundamental_step_ms: how often the latent fundamental (or the replay price path) updates.
        market_daily_vol_pct: volatility of the common market factor over a day, in percent.

    News:
        news_rate_per_min: random headlines per minute over the whole market (0 = none).
        news_size_pct: (min, max) of a random headline's move, in percent.
        market_news_share: fraction of random headlines that are market-wide.
        news_schedule: scripted headlines (:class:`ScheduledNews`).
        Replay mode has no headlines (the real tape already moved with whatever happened).

    Background participants (per symbol):
        makers_per_symbol, maker_latency_ms (log-uniform range), maker_half_spread_ticks,
        maker_levels, maker_size (shares per level, range), maker_requote_ticks (move of the
        fundamental that triggers a requote), maker_spread_widening (extra half-spread ticks per
        tick of recent absolute move), maker_max_inventory, etf_maker_latency_factor (ETF makers
        are this much slower, so the ETF lags its components).
        noise_market_rate_per_s, noise_limit_rate_per_s, noise_size (mean shares),
        noise_limit_lifetime_s.
        momentum_per_symbol, momentum_latency_ms, momentum_interval_ms, momentum_lookback_s,
        momentum_threshold_bps, momentum_size, momentum_max_position.

    Agents' accounts and exchange:
        initial_cash (dollars), short_limit_shares (integer shares per symbol: the most that may
        be borrowed), max_order_shares (integer), fees (:class:`~.fees.FeeSchedule`).
        margin: the account rule (:class:`~.margin.MarginRule` or a preset name: ``cash``, the
            default, buying power 1x equity; ``reg_t`` 2x; ``reg_t_intraday`` 4x); it sets the
            buying power that buys and short sales need and the maintenance margin below which
            positions are liquidated (see :mod:`splitsecond.envs.hftbench.margin`).
        opportunity_window_ms: how long after a headline taking a stale quote counts as a
        captured opportunity (see :mod:`splitsecond.envs.hftbench.metrics`).

    Replay (real 1-second bars):
        replay_files: data files (``.json`` or ``.csv``); relative names resolve in ``data_dir``.
        data_dir: folder of the files; default ``$SPLITSECOND_HFT_DATA`` or
            ``<repo>/../shared/data/hftbench``.
        replay_date: which day of the files (``YYYY-MM-DD``); default the first common day.
        replay_timezone: the exchange's time zone (IANA name, default ``America/New_York``);
            ``replay_start``, ``session_open`` and ``info["time_of_day"]`` are clock times there.
        data_timezone: the zone of the files' clock times, e.g. ``UTC`` (the shared files'), or
            ``auto`` (default): detected per file (see :mod:`splitsecond.envs.hftbench.replay_zone`).
        session_open: the regular session's open (``HH:MM:SS`` in ``replay_timezone``, default
            ``09:30:00``).
        replay_start: first time of day (``HH:MM:SS`` in ``replay_timezone``); default the
            session open (or the first common bar when the data starts later).
        fill_model: ``book`` (default) or ``lsb`` (original HFTBench rule, replay only).
        lsb_decay_s: latency at which the ``lsb`` price has fully slid to the daily mean.
    """

    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS
    session_seconds: float | None = 300.0
    warmup_seconds: float = 5.0
    fundamental_step_ms: float = 100.0
    market_daily_vol_pct: float = 1.5

    news_rate_per_min: float = 2.0
    news_size_pct: tuple[float, float] = (0.4, 2.0)
    market_news_share: float = 0.15
    news_schedule: tuple[ScheduledNews, ...] = ()

    makers_per_symbol: int = 3
    maker_latency_ms: tuple[float, float] = (20.0, 300.0)
    maker_half_spread_ticks: tuple[int, int] = (1, 3)
    maker_levels: int = 3
    maker_size: tuple[int, int] = (100, 400)
    maker_requote_ticks: float = 1.0
    maker_spread_widening: float = 0.5
    maker_max_inventory: int = 5_000
    etf_maker_latency_factor: float = 1.5

    noise_market_rate_per_s: float = 1.0
    noise_limit_rate_per_s: float = 2.0
    noise_size: int = 60
    noise_limit_lifetime_s: float = 5.0

    momentum_per_symbol: int = 1
    momentum_latency_ms: tuple[float, float] = (100.0, 500.0)
    momentum_interval_ms: float = 250.0
    momentum_lookback_s: float = 2.0
    momentum_threshold_bps: float = 15.0
    momentum_size: int = 200
    momentum_max_position: int = 2_000

    initial_cash: float = 100_000.0
    short_limit_shares: int = 1_000
    max_order_shares: int = 10_000
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    margin: MarginRule = CASH_ACCOUNT
    opportunity_window_ms: float = 1_000.0

    replay_files: tuple[str, ...] = ()
    data_dir: str | None = None
    replay_date: str | None = None
    replay_timezone: str = "America/New_York"
    data_timezone: str = AUTO_ZONE
    session_open: str = "09:30:00"
    replay_start: str | None = None
    fill_model: Literal["book", "lsb"] = "book"
    lsb_decay_s: float = 1.5

    def __post_init__(self) -> None:
        o = "MarketConfig"
        if not self.symbols or not all(isinstance(s, SymbolSpec) for s in self.symbols):
            raise ValueError(f"{o}.symbols must be a non-empty tuple of SymbolSpec")
        names = [s.name for s in self.symbols]
        if len(set(names)) != len(names):
            raise ValueError(f"{o}.symbols has duplicate names: {names}")
        for s in self.symbols:
            for comp, _ in s.holdings:
                if comp not in names or comp == s.name:
                    raise ValueError(f"{o}: ETF {s.name} holds unknown symbol {comp!r}; valid: {names}")
                if next(x for x in self.symbols if x.name == comp).is_etf:
                    raise ValueError(f"{o}: ETF {s.name} may not hold another ETF ({comp})")
        if self.session_seconds is not None:
            _check_range(o, "session_seconds", self.session_seconds, 0.001, 1e6)
        elif not self.replay_files:
            raise ValueError(f"{o}.session_seconds may be None only in replay mode (replay_files set)")
        _check_range(o, "warmup_seconds", self.warmup_seconds, 0.0, 3600.0)
        _check_range(o, "fundamental_step_ms", self.fundamental_step_ms, 1.0, 60_000.0)
        _check_range(o, "market_daily_vol_pct", self.market_daily_vol_pct, 0.0, 100.0)
        _check_range(o, "news_rate_per_min", self.news_rate_per_min, 0.0, 600.0)
        _check_pair(o, "news_size_pct", self.news_size_pct, 1e-6, 50.0)
        _check_range(o, "market_news_share", self.market_news_share, 0.0, 1.0)
        if not all(isinstance(n, ScheduledNews) for n in self.news_schedule):
            raise ValueError(f"{o}.news_schedule must be a tuple of ScheduledNews")
        for n in self.news_schedule:
            if n.symbol is not None and n.symbol not in names:
                raise ValueError(f"{o}.news_schedule names unknown symbol {n.symbol!r}; valid: {names}")
        for name in ("makers_per_symbol", "momentum_per_symbol"):
            _check_int(o, name, getattr(self, name), 0, 50)
        _check_int(o, "maker_levels", self.maker_levels, 1, 20)
        _check_pair(o, "maker_latency_ms", self.maker_latency_ms, 0.001, 60_000.0)
        _check_pair(o, "maker_half_spread_ticks", self.maker_half_spread_ticks, 1, 1_000)
        _check_pair(o, "maker_size", self.maker_size, 1, 1_000_000)
        _check_range(o, "maker_requote_ticks", self.maker_requote_ticks, 0.0, 1e6)
        _check_range(o, "maker_spread_widening", self.maker_spread_widening, 0.0, 100.0)
        _check_int(o, "maker_max_inventory", self.maker_max_inventory, 1, 10**9)
        _check_range(o, "etf_maker_latency_factor", self.etf_maker_latency_factor, 0.01, 100.0)
        _check_range(o, "noise_market_rate_per_s", self.noise_market_rate_per_s, 0.0, 1e4)
        _check_range(o, "noise_limit_rate_per_s", self.noise_limit_rate_per_s, 0.0, 1e4)
        _check_int(o, "noise_size", self.noise_size, 1, 10**6)
        _check_range(o, "noise_limit_lifetime_s", self.noise_limit_lifetime_s, 0.001, 1e5)
        _check_pair(o, "momentum_latency_ms", self.momentum_latency_ms, 0.001, 60_000.0)
        _check_range(o, "momentum_interval_ms", self.momentum_interval_ms, 1.0, 1e6)
        _check_range(o, "momentum_lookback_s", self.momentum_lookback_s, 0.1, 3600.0)
        _check_range(o, "momentum_threshold_bps", self.momentum_threshold_bps, 0.0, 1e4)
        _check_int(o, "momentum_size", self.momentum_size, 1, 10**6)
        _check_int(o, "momentum_max_position", self.momentum_max_position, 1, 10**9)
        _check_range(o, "initial_cash", self.initial_cash, 1.0, 1e12)
        _check_int(o, "short_limit_shares", self.short_limit_shares, 0, 10**9)
        _check_int(o, "max_order_shares", self.max_order_shares, 1, 10**9)
        if not isinstance(self.fees, FeeSchedule):
            raise ValueError(f"{o}.fees must be a FeeSchedule, got {type(self.fees).__name__}")
        try:
            object.__setattr__(self, "margin", margin_rule(self.margin))
        except ValueError as exc:
            raise ValueError(f"{o}.margin: {exc}") from exc
        _check_range(o, "opportunity_window_ms", self.opportunity_window_ms, 0.0, 1e7)
        if self.fill_model not in FILL_MODELS:
            raise ValueError(f"{o}.fill_model must be one of {FILL_MODELS}, got {self.fill_model!r}")
        if self.fill_model == "lsb" and not self.replay_files:
            raise ValueError(f"{o}.fill_model='lsb' needs replay data (set replay_files)")
        _check_range(o, "lsb_decay_s", self.lsb_decay_s, 1e-6, 1e4)
        if isinstance(self.replay_files, str):
            raise ValueError(f"{o}.replay_files must be a tuple of paths, not a string")
        _check_zone(o, "replay_timezone", self.replay_timezone)
        if self.data_timezone != AUTO_ZONE:
            _check_zone(o, "data_timezone", self.data_timezone)
        _check_clock_time(o, "session_open", self.session_open)
        if self.replay_start is not None:
            _check_clock_time(o, "replay_start", self.replay_start)

    @property
    def is_replay(self) -> bool:
        """``True`` when the mid price is driven by real bars."""
        return bool(self.replay_files)
