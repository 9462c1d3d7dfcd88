"""Exchange fees: a per-share maker/taker schedule, charged in integer micro-dollars.

The default follows a typical US equity exchange: the taker (the incoming order that removes
liquidity) pays $0.0030 per share, the maker (the resting order that supplied it) receives a
$0.0020 rebate (a negative fee). The exchange keeps the difference. Fees are part of every
account's cash, so total money (accounts + exchange) is conserved exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from splitsecond.envs.hftbench.numeric import is_real

MICROS_PER_DOLLAR = 1_000_000
"""Money is kept as integer micro-dollars (1e-6 $) so that accounting is exact."""


def dollars_to_micros(dollars: float) -> int:
    """Convert dollars to integer micro-dollars, rounding to the nearest micro-dollar."""
    return int(round(dollars * MICROS_PER_DOLLAR))


@dataclass(frozen=True)
class FeeSchedule:
    """Per-share fees in dollars; negative means a rebate.

    Both are finite numbers of dollars in [-1, 1] (NaN, infinities and booleans are refused). The
    taker fee may not be negative (nobody is paid to take liquidity); the maker fee may be, as a
    rebate, but no larger than the taker fee, so that the exchange never pays for a trade.

    Attributes:
        maker_per_share: fee of the resting order's owner per share filled (default -0.002, a rebate).
        taker_per_share: fee of the incoming order's owner per share filled (default 0.003), >= 0.
    """

    maker_per_share: float = -0.002
    taker_per_share: float = 0.003

    def __post_init__(self) -> None:
        for name in ("maker_per_share", "taker_per_share"):
            value = getattr(self, name)
            if not is_real(value) or abs(value) > 1.0:
                raise ValueError(f"FeeSchedule.{name} must be a number of dollars in [-1, 1], got {value!r}")
        if self.taker_per_share < 0:
            raise ValueError(
                f"FeeSchedule.taker_per_share must be >= 0 (a negative taker fee pays for taking "
                f"liquidity), got {self.taker_per_share!r}"
            )
        if self.maker_per_share + self.taker_per_share < 0:
            raise ValueError(
                "FeeSchedule: maker rebate exceeds taker fee "
                f"({self.maker_per_share} + {self.taker_per_share} < 0); the exchange would pay for trades"
            )

    @property
    def maker_micros(self) -> int:
        """Maker fee per share in micro-dollars."""
        return dollars_to_micros(self.maker_per_share)

    @property
    def taker_micros(self) -> int:
        """Taker fee per share in micro-dollars."""
        return dollars_to_micros(self.taker_per_share)


NO_FEES = FeeSchedule(0.0, 0.0)
"""A schedule without fees (used by the ``lsb`` fill model, which had none)."""
