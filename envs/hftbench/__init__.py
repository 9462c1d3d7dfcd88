"""HFTBench: an event-driven market where orders land at t + latency and agents race for liquidity.

Modules, one idea each: :mod:`.order_book` (matching engine), :mod:`.kernel` (discrete events on
integer µs), :mod:`.fundamental` and :mod:`.news` (what moves prices), :mod:`.participants`
(background makers, noise and momentum traders), :mod:`.accounts` and :mod:`.fees` (money),
:mod:`.market` (the session), :mod:`.orders` (friendly orders and their text syntax),
:mod:`.spaces` (observation/action arrays), :mod:`.seat` (an agent's cadence), :mod:`.env`
(Gymnasium), :mod:`.multi_env` (PettingZoo), :mod:`.replay_data` (real bars),
:mod:`.bar_validation` (checks of bar files), :mod:`.replay_zone` (time zones of replays),
:mod:`.margin` (buying power and margin calls), :mod:`.numeric` (what counts as a number),
:mod:`.metrics`, :mod:`.text` and :mod:`.render`.
"""

from __future__ import annotations

from splitsecond.envs.hftbench.bar_validation import BarFileError
from splitsecond.envs.hftbench.config import DEFAULT_SYMBOLS, MarketConfig, ScheduledNews, SymbolSpec
from splitsecond.envs.hftbench.env import ENV_ID, HFTBenchEnv
from splitsecond.envs.hftbench.fees import FeeSchedule
from splitsecond.envs.hftbench.margin import CASH_ACCOUNT, MARGIN_RULES, REG_T, REG_T_INTRADAY, MarginRule
from splitsecond.envs.hftbench.market import Market
from splitsecond.envs.hftbench.multi_env import HFTBenchMultiEnv, multi_env
from splitsecond.envs.hftbench.order_book import BUY, SELL, Fill, OrderBook
from splitsecond.envs.hftbench.orders import (
    GRAMMAR,
    REJECTION_CODES,
    Cancel,
    Order,
    parse_order,
    parse_orders,
)
from splitsecond.envs.hftbench.replay_data import (
    BarSeries,
    default_data_dir,
    load_bars,
    load_bars_csv,
    load_bars_json,
)
from splitsecond.envs.hftbench.spaces import ORDER_TYPES, SpaceDims, build_action, noop_action
from splitsecond.envs.hftbench.text import RULES

__all__ = [
    "BUY",
    "CASH_ACCOUNT",
    "DEFAULT_SYMBOLS",
    "ENV_ID",
    "GRAMMAR",
    "MARGIN_RULES",
    "ORDER_TYPES",
    "REG_T",
    "REG_T_INTRADAY",
    "REJECTION_CODES",
    "RULES",
    "SELL",
    "BarFileError",
    "BarSeries",
    "Cancel",
    "FeeSchedule",
    "Fill",
    "HFTBenchEnv",
    "HFTBenchMultiEnv",
    "MarginRule",
    "Market",
    "MarketConfig",
    "Order",
    "OrderBook",
    "ScheduledNews",
    "SpaceDims",
    "SymbolSpec",
    "build_action",
    "default_data_dir",
    "load_bars",
    "load_bars_csv",
    "load_bars_json",
    "multi_env",
    "noop_action",
    "parse_order",
    "parse_orders",
]
