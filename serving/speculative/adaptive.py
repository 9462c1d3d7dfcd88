"""``AdaptiveDraftLength``: pick the draft length ``k`` from the acceptance rate seen so far.

Model. Each drafted token is accepted independently with probability ``alpha`` (the per-token acceptance
rate) until the first rejection. A round that drafts ``k`` tokens then appends, in expectation,

    E[tokens | k] = 1 + alpha + ... + alpha^k = (1 - alpha^(k+1)) / (1 - alpha)

tokens (the accepted drafts plus the target's correction or bonus token; ``k + 1`` when alpha = 1). Its
cost, in units of one verify round, is ``cost(k) = 1 + draft_cost * k``: the server's verify pass costs
about the same for any small ``k``, drafting grows linearly. ``next_k`` returns the ``k`` in
``[k_min, k_max]`` (and at most the server-advised ``limit``) maximising ``E[tokens | k] / cost(k)``,
the smallest such ``k`` on ties.

Estimating alpha. A round that proposed ``n`` and had ``a`` accepted shows ``a`` accepted tokens and one
rejected token when ``a < n`` (none when ``a == n``: the round stopped at ``k``). ``alpha`` is the ratio
of exponentially discounted accepted and judged counts (weight ``ewma`` on the newest round), which is
the maximum-likelihood estimate under the discounting; it starts from ``alpha_init`` as one pseudo-round
of one judged token. Until the first round with ``n > 0`` is seen, ``next_k`` answers ``k_init``.
"""

from __future__ import annotations

import math


class AdaptiveDraftLength:
    """Chooses the draft length that maximises expected tokens per unit of round cost."""

    def __init__(
        self,
        k_min: int = 0,
        k_max: int = 8,
        k_init: int = 4,
        alpha_init: float = 0.6,
        ewma: float = 0.3,
        draft_cost: float = 0.05,
    ) -> None:
        for label, v in (("k_min", k_min), ("k_max", k_max), ("k_init", k_init)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"AdaptiveDraftLength: {label} must be an integer >= 0, got {v!r}")
        if not k_min <= k_init <= k_max:
            raise ValueError(
                f"AdaptiveDraftLength: need k_min <= k_init <= k_max, got {k_min}, {k_init}, {k_max}"
            )
        if not isinstance(alpha_init, int | float) or not 0 <= alpha_init <= 1:
            raise ValueError(f"AdaptiveDraftLength: alpha_init must be in [0, 1], got {alpha_init!r}")
        if not isinstance(ewma, int | float) or not 0 < ewma <= 1:
            raise ValueError(f"AdaptiveDraftLength: ewma must be in (0, 1], got {ewma!r}")
        if not isinstance(draft_cost, int | float) or not 0 <= draft_cost < math.inf:
            raise ValueError(
                f"AdaptiveDraftLength: draft_cost must be a finite number >= 0, got {draft_cost!r}"
            )
        self.k_min, self.k_max, self.k_init = k_min, k_max, k_init
        self.ewma = float(ewma)
        self.draft_cost = float(draft_cost)
        self._accepted = float(alpha_init)  # discounted accepted-token count
        self._judged = 1.0  # discounted count of tokens the verifier ruled on
        self.rounds = 0  # rounds seen with at least one proposed token

    @property
    def alpha(self) -> float:
        """Current estimate of the per-token acceptance rate."""
        return self._accepted / self._judged

    def update(self, proposed: int, accepted: int) -> None:
        """Record a round: ``proposed`` drafts were verified, the first ``accepted`` of them kept."""
        for label, v in (("proposed", proposed), ("accepted", accepted)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{label} must be an integer >= 0, got {v!r}")
        if accepted > proposed:
            raise ValueError(f"accepted ({accepted}) cannot exceed proposed ({proposed})")
        if proposed == 0:
            return  # nothing was judged
        judged = accepted + (1 if accepted < proposed else 0)
        w = self.ewma
        self._accepted = (1 - w) * self._accepted + w * accepted
        self._judged = (1 - w) * self._judged + w * judged
        self.rounds += 1

    def expected_tokens(self, k: int) -> float:
        """Expected tokens a round drafting ``k`` appends at the current alpha."""
        a = self.alpha
        return float(k + 1) if a >= 1 else (1 - a ** (k + 1)) / (1 - a)

    def cost(self, k: int) -> float:
        """Cost of a round drafting ``k``, in units of one verify pass."""
        return 1 + self.draft_cost * k

    def next_k(self, limit: int | None = None) -> int:
        """The draft length for the next round, at most ``limit`` (the server-advised maximum) if given.

        A ``limit`` below ``k_min`` wins over ``k_min``: the server's maximum is binding.
        """
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
        hi = self.k_max if limit is None else min(self.k_max, limit)
        lo = min(self.k_min, hi)
        if self.rounds == 0:
            return min(max(self.k_init, lo), hi)
        return max(range(lo, hi + 1), key=lambda k: (self.expected_tokens(k) / self.cost(k), -k))
