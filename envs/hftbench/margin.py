"""A broker's account rules: buying power from a margin rule, and the maintenance-margin check.

Money is in integer micro-dollars. For one agent's account, with ``p_i`` shares of symbol ``i``
marked at ``m_i`` (the mid, :meth:`~.market.Market.mark_micros`)::

    equity    E = cash + sum(p_i * m_i)
    gross     G = sum(|p_i| * m_i)
    exposure  X = sum(max(p_i * m_i + B_i, S_i - p_i * m_i, 0))

``B_i`` and ``S_i`` are the values of the agent's open buy and sell orders on symbol ``i`` at
their limit prices: ``X`` is the gross value the account would hold if, on every symbol, all of
its open orders on the worse side filled. ``X = G`` without open orders.

**Initial margin** (checked when an order arrives): an order that would raise ``X`` is accepted
only if ``initial_margin * X_after <= E - F_after``, where ``F`` is the taker fees reserved for
the open orders and the new one (a market order is valued at what it would pay or receive
sweeping the book now). The **buying power** is ``(E - F) / initial_margin - X``: the value of new
positions the account may still open. Short sales need it like purchases do: the borrowed
shares' value counts, the sale's proceeds do not add to it. Orders that do not raise ``X``
(selling a long, buying back a short) need none. A refused order gets the rejection code
``insufficient_buying_power``.

**Maintenance** (checked every fundamental step and after each of the agent's orders arrives):
when ``E < maintenance_margin * G``, or ``E < 0``, the account is in a **margin call**: the
broker cancels its open orders and closes every position with market orders (a forced
liquidation; the fills have ``liquidity == "liquidation"``). Each margin call and each
liquidation is counted in the session metrics (``margin_calls``, ``liquidations``), so an
account cannot end below zero equity unseen.

Presets (:data:`MARGIN_RULES`), all with the 25 % maintenance of FINRA rule 4210:

* ``cash`` (:data:`CASH_ACCOUNT`, the default): initial margin 100 %, buying power 1x equity.
  (A real cash account forbids short sales; set ``short_limit_shares=0`` for that.)
* ``reg_t`` (:data:`REG_T`): Regulation T's 50 %, buying power 2x equity (overnight).
* ``reg_t_intraday`` (:data:`REG_T_INTRADAY`): 25 %, 4x equity, a pattern day trader's intraday
  buying power.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from splitsecond.envs.hftbench.fees import MICROS_PER_DOLLAR
from splitsecond.envs.hftbench.numeric import is_real
from splitsecond.envs.hftbench.order_book import BUY


@dataclass(frozen=True)
class MarginRule:
    """How much equity must back the positions (see the module docstring).

    Attributes:
        name: a label for reports (``cash``, ``reg_t`` ...).
        initial_margin: fraction of the exposure that equity must cover when an order adds to it,
            in (0, 1]; buying power is ``1 / initial_margin`` x equity.
        maintenance_margin: fraction of the gross position value below which equity triggers a
            margin call and a forced liquidation, in [0, initial_margin].
    """

    name: str = "cash"
    initial_margin: float = 1.0
    maintenance_margin: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"MarginRule.name must be a non-empty string, got {self.name!r}")
        if not is_real(self.initial_margin) or not 0.01 <= self.initial_margin <= 1.0:
            raise ValueError(
                f"MarginRule.initial_margin must be a number in [0.01, 1], got {self.initial_margin!r}"
            )
        if not is_real(self.maintenance_margin) or not 0.0 <= self.maintenance_margin <= self.initial_margin:
            raise ValueError(
                "MarginRule.maintenance_margin must be a number in [0, initial_margin] "
                f"([0, {self.initial_margin}]), got {self.maintenance_margin!r}"
            )

    @property
    def leverage(self) -> float:
        """Buying power as a multiple of equity (``1 / initial_margin``)."""
        return 1.0 / self.initial_margin

    def describe(self) -> str:
        """One line for rejection reasons and rules, e.g. ``cash: initial 100%, maintenance 25%``."""
        return (
            f"{self.name}: initial {self.initial_margin:.0%} ({self.leverage:g}x), "
            f"maintenance {self.maintenance_margin:.0%}"
        )


CASH_ACCOUNT = MarginRule("cash", 1.0, 0.25)
"""No margin: buying power = equity (the default)."""
REG_T = MarginRule("reg_t", 0.5, 0.25)
"""Regulation T: 50 % initial margin, 2x buying power."""
REG_T_INTRADAY = MarginRule("reg_t_intraday", 0.25, 0.25)
"""A pattern day trader's intraday buying power: 4x."""
MARGIN_RULES = {rule.name: rule for rule in (CASH_ACCOUNT, REG_T, REG_T_INTRADAY)}
"""The presets by name."""


def margin_rule(value: MarginRule | str) -> MarginRule:
    """A :class:`MarginRule`, or the preset of that name.

    Raises:
        ValueError: for an unknown name (listing the presets) or another type.
    """
    if isinstance(value, MarginRule):
        return value
    if isinstance(value, str):
        if value not in MARGIN_RULES:
            raise ValueError(f"unknown margin rule {value!r}; presets: {', '.join(MARGIN_RULES)}")
        return MARGIN_RULES[value]
    raise ValueError(f"margin must be a MarginRule or a preset name, got {type(value).__name__}")


@dataclass(frozen=True)
class SymbolRisk:
    """One symbol's part of an account, micro-dollars.

    Attributes:
        position_value: shares held x mark (negative when short).
        open_buys: value of the open buy orders at their limit prices.
        open_sells: value of the open sell orders at their limit prices.
    """

    position_value: int
    open_buys: int = 0
    open_sells: int = 0

    @property
    def exposure(self) -> int:
        """Gross value held if the open orders of the worse side filled."""
        return max(self.position_value + self.open_buys, self.open_sells - self.position_value, 0)


@dataclass(frozen=True)
class AccountRisk:
    """An account's snapshot for the margin checks (see the module docstring).

    Attributes:
        cash: micro-dollars.
        symbols: one :class:`SymbolRisk` per symbol.
        reserved_fees: taker fees reserved for the open orders, micro-dollars.
    """

    cash: int
    symbols: Sequence[SymbolRisk]
    reserved_fees: int = 0

    @property
    def equity(self) -> int:
        """Cash plus positions at the marks."""
        return self.cash + sum(s.position_value for s in self.symbols)

    @property
    def gross(self) -> int:
        """Sum of the positions' absolute values at the marks."""
        return sum(abs(s.position_value) for s in self.symbols)

    @property
    def exposure(self) -> int:
        """Gross value including the open orders' worse side per symbol."""
        return sum(s.exposure for s in self.symbols)

    def buying_power(self, rule: MarginRule) -> int:
        """Value of new positions the account may still open (negative when over the limit)."""
        return int((self.equity - self.reserved_fees) / rule.initial_margin) - self.exposure

    def added_exposure(self, symbol: int, side: int, value: int) -> int:
        """How much an order of ``value`` micro-dollars on ``symbol`` would raise the exposure."""
        s = self.symbols[symbol]
        after = SymbolRisk(
            s.position_value,
            s.open_buys + (value if side == BUY else 0),
            s.open_sells + (0 if side == BUY else value),
        )
        return after.exposure - s.exposure

    def accepts(self, rule: MarginRule, symbol: int, side: int, value: int, fee: int) -> bool:
        """Whether an order of ``value`` (and taker ``fee``) passes the initial-margin check."""
        added = self.added_exposure(symbol, side, value)
        if added <= 0:
            return True
        return rule.initial_margin * (self.exposure + added) <= self.equity - self.reserved_fees - fee

    def maintenance_requirement(self, rule: MarginRule) -> int:
        """The equity the positions require: ``maintenance_margin x gross``."""
        return int(round(rule.maintenance_margin * self.gross))

    def in_margin_call(self, rule: MarginRule) -> bool:
        """Equity below the maintenance requirement, or below zero."""
        equity = self.equity
        return equity < 0 or equity < self.maintenance_requirement(rule)


def dollars(micros: int) -> str:
    """``$1,234.56`` (negative: ``-$1,234.56``)."""
    sign = "-" if micros < 0 else ""
    return f"{sign}${abs(micros) / MICROS_PER_DOLLAR:,.2f}"
