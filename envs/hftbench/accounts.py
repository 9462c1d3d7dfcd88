"""Accounts: cash and positions of every participant, kept in exact integer units.

Cash is integer **micro-dollars**, positions integer shares. A fill moves cash and shares between
the maker's and the taker's accounts and charges each its fee (:mod:`.fees`); the exchange's fee
income is an account too, so ``sum(cash) + exchange fees`` never changes and every position nets
to zero across accounts (``Ledger.check_conservation``).

Only *limited* accounts (the agents) are risk-checked before an order is accepted (see
``Market``): an order that adds to the positions (a buy, or a short sale) needs buying power under
the account's margin rule (open orders count; :mod:`.margin`), a sell may not take the position
below ``-short_limit`` shares (open sell orders count too), and the maintenance margin is checked
as prices move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from splitsecond.envs.hftbench.fees import MICROS_PER_DOLLAR, FeeSchedule
from splitsecond.envs.hftbench.order_book import BUY


@dataclass
class Account:
    """One participant's money and holdings.

    Attributes:
        owner: owner id (index in the ledger).
        name: display name (``agent``, ``maker:ACME:0`` ...).
        cash: integer micro-dollars.
        positions: shares per symbol index (negative = short).
        fees: fees paid so far in micro-dollars (negative = rebates earned).
        limited: whether cash and short limits apply (agents).
        initial_cash: the starting cash, micro-dollars.
    """

    owner: int
    name: str
    cash: int
    positions: list[int]
    fees: int = 0
    limited: bool = False
    initial_cash: int = 0
    traded_shares: int = 0

    def equity(self, marks_micros: list[int]) -> int:
        """Cash plus positions valued at ``marks_micros`` (micro-dollars per share)."""
        return self.cash + sum(p * m for p, m in zip(self.positions, marks_micros, strict=True))


@dataclass
class Ledger:
    """All accounts plus the exchange's fee income.

    Args:
        n_symbols: number of symbols.
        tick_micros: tick size of each symbol in micro-dollars.
        fees: the fee schedule.
    """

    n_symbols: int
    tick_micros: list[int]
    fees: FeeSchedule
    accounts: list[Account] = field(default_factory=list)
    exchange_fees: int = 0

    def __post_init__(self) -> None:
        self._maker_fee = self.fees.maker_micros
        self._taker_fee = self.fees.taker_micros

    def open(self, name: str, cash_dollars: float = 0.0, limited: bool = False) -> Account:
        """Open an account with ``cash_dollars`` and no positions; returns it (owner = its index)."""
        cash = int(round(cash_dollars * MICROS_PER_DOLLAR))
        acct = Account(
            len(self.accounts), name, cash, [0] * self.n_symbols, limited=limited, initial_cash=cash
        )
        self.accounts.append(acct)
        return acct

    def settle(
        self,
        symbol: int,
        price_ticks: int,
        qty: int,
        buyer: int,
        seller: int,
        taker_side: int,
        fee_schedule: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        """Book one fill; returns ``(buyer_fee, seller_fee)`` in micro-dollars.

        ``taker_side`` says who took liquidity (the taker pays the taker fee, the maker the maker
        fee). ``fee_schedule`` overrides ``(maker, taker)`` per-share fees (e.g. no fees).
        """
        notional = price_ticks * qty * self.tick_micros[symbol]
        maker_fee, taker_fee = (
            fee_schedule if fee_schedule is not None else (self._maker_fee, self._taker_fee)
        )
        if taker_side == BUY:
            buyer_fee, seller_fee = taker_fee * qty, maker_fee * qty
        else:
            buyer_fee, seller_fee = maker_fee * qty, taker_fee * qty
        b = self.accounts[buyer]
        s = self.accounts[seller]
        b.cash -= notional + buyer_fee
        b.fees += buyer_fee
        b.positions[symbol] += qty
        b.traded_shares += qty
        s.cash += notional - seller_fee
        s.fees += seller_fee
        s.positions[symbol] -= qty
        s.traded_shares += qty
        self.exchange_fees += buyer_fee + seller_fee
        return buyer_fee, seller_fee

    def transfer_at(self, symbol: int, price_micros: int, qty: int, buyer: int, seller: int) -> None:
        """Move ``qty`` shares from seller to buyer at ``price_micros`` each, without fees (auction)."""
        notional = price_micros * qty
        b = self.accounts[buyer]
        s = self.accounts[seller]
        b.cash -= notional
        b.positions[symbol] += qty
        s.cash += notional
        s.positions[symbol] -= qty

    def total_cash(self) -> int:
        """Sum of every account's cash plus the exchange's fee income (constant over a session)."""
        return sum(a.cash for a in self.accounts) + self.exchange_fees

    def net_positions(self) -> list[int]:
        """Sum of positions per symbol across accounts (constant over a session)."""
        return [sum(a.positions[i] for a in self.accounts) for i in range(self.n_symbols)]
