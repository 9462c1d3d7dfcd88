"""The cache policy: what is inserted, how templates gain and lose standing, TTL and size bound.

* **Insert criterion** (:class:`InsertCriterion`): a planner's plan becomes a template only after
  the segment it governed verifiably went well: its reward is above ``min_reward`` (a round won,
  damage traded in our favour, positive PnL), over at least ``min_decisions`` decisions, with at
  most ``max_fallback_rate`` of them fallbacks.
* **Score**: a template starts at ``initial_score``; a served plan whose segment went well adds
  ``win_bonus`` (up to ``max_score``); one that lost, or whose adaptation was rejected, subtracts
  ``loss_penalty`` / ``reject_penalty`` (it is *demoted*: it ranks below others), and at or below
  ``remove_at`` it is removed.
* **Expiry and eviction**: a template older than ``ttl_s`` is never served and is deleted; beyond
  ``max_entries`` the least recently used go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outcome:
    """How the segment governed by one plan went.

    Attributes:
        reward: total reward of the segment (damage traded, PnL change, round won ...).
        decisions: decisions taken under the plan.
        fallbacks: those that used a fallback action.
    """

    reward: float
    decisions: int = 1
    fallbacks: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.reward, int | float) and math.isfinite(self.reward)):
            raise ValueError(f"Outcome.reward must be a finite number, got {self.reward!r}")
        if not isinstance(self.decisions, int) or self.decisions < 0:
            raise ValueError(f"Outcome.decisions must be an integer >= 0, got {self.decisions!r}")
        if not isinstance(self.fallbacks, int) or not 0 <= self.fallbacks <= max(self.decisions, 0):
            raise ValueError(
                f"Outcome.fallbacks must be an integer in [0, decisions], got {self.fallbacks!r}"
            )


@dataclass(frozen=True)
class InsertCriterion:
    """When a segment counts as having gone well (see the module docstring).

    Attributes:
        min_reward: the reward must be strictly greater than this.
        min_decisions: at least this many decisions under the plan.
        max_fallback_rate: at most this fraction of fallback decisions, in [0, 1].
    """

    min_reward: float = 0.0
    min_decisions: int = 1
    max_fallback_rate: float = 0.5

    def __post_init__(self) -> None:
        if not math.isfinite(self.min_reward):
            raise ValueError(f"InsertCriterion.min_reward must be finite, got {self.min_reward!r}")
        if not isinstance(self.min_decisions, int) or self.min_decisions < 0:
            raise ValueError(f"InsertCriterion.min_decisions must be >= 0, got {self.min_decisions!r}")
        if not 0.0 <= self.max_fallback_rate <= 1.0:
            raise ValueError(
                f"InsertCriterion.max_fallback_rate must be in [0, 1], got {self.max_fallback_rate!r}"
            )

    def went_well(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` passes the criterion."""
        if outcome.decisions < self.min_decisions or outcome.reward <= self.min_reward:
            return False
        return outcome.decisions == 0 or outcome.fallbacks / outcome.decisions <= self.max_fallback_rate


@dataclass(frozen=True)
class CachePolicy:
    """Insertion, scoring, expiry and size bound (see the module docstring).

    Attributes:
        insert: the insert criterion (also what counts as a served plan's win).
        ttl_s: seconds a template lives after it was written (``None``: forever).
        max_entries: size bound of the store (LRU eviction beyond it).
        initial_score: a new template's score.
        win_bonus: added when a served plan's segment went well.
        max_score: the score's ceiling.
        loss_penalty: subtracted when a served plan's segment went badly.
        reject_penalty: subtracted when an adaptation failed validation.
        remove_at: a template at or below this score is removed.
    """

    insert: InsertCriterion = field(default_factory=InsertCriterion)
    ttl_s: float | None = 7 * 24 * 3600.0
    max_entries: int = 10_000
    initial_score: float = 1.0
    win_bonus: float = 0.25
    max_score: float = 3.0
    loss_penalty: float = 0.5
    reject_penalty: float = 0.5
    remove_at: float = 0.0

    def __post_init__(self) -> None:
        if self.ttl_s is not None and not (isinstance(self.ttl_s, int | float) and self.ttl_s > 0):
            raise ValueError(f"CachePolicy.ttl_s must be > 0 or None, got {self.ttl_s!r}")
        if not isinstance(self.max_entries, int) or self.max_entries <= 0:
            raise ValueError(f"CachePolicy.max_entries must be a positive integer, got {self.max_entries!r}")
        for name in ("win_bonus", "loss_penalty", "reject_penalty"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"CachePolicy.{name} must be >= 0, got {value!r}")
        if not self.remove_at < self.initial_score <= self.max_score:
            raise ValueError(
                "CachePolicy needs remove_at < initial_score <= max_score, got "
                f"{self.remove_at}, {self.initial_score}, {self.max_score}"
            )

    def expired(self, created_at: float, now: float) -> bool:
        """Whether a template written at ``created_at`` is past its TTL at ``now``."""
        return self.ttl_s is not None and now - created_at >= self.ttl_s

    def win_delta(self, score: float) -> float:
        """The score change of a win (capped at ``max_score``)."""
        return max(0.0, min(self.win_bonus, self.max_score - score))

    def removable(self, score: float) -> bool:
        """Whether a template with ``score`` must be removed."""
        return score <= self.remove_at + 1e-12
