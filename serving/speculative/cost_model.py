"""``StepCostModel``: what one more token costs a forward pass, learned online from the engine's steps.

A step of T tokens takes about ``a + b * T`` seconds: ``a`` (weights streamed once, Python and kernel
launches) is shared by everyone in the batch, ``b`` grows with tokens once the pass turns
compute-bound. Measured on the 2-vCPU box: a ~ 27 ms, b ~ 2.3 ms, so a draft token that is rejected
is cheap next to a lone decode but costs a quarter of a session's share of an 4-session step. The
edge's ``AdaptiveDraftLength`` needs exactly that ratio (``relative_token_cost``), which the server
sends with every verdict. Fitted by least squares with exponential forgetting.
"""

from __future__ import annotations


class StepCostModel:
    """Online fit of step time = a + b * tokens (see the module docstring)."""

    def __init__(self, decay: float = 0.98, min_steps: int = 8) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"StepCostModel: decay must be in (0, 1), got {decay!r}")
        self.decay = decay
        self.min_steps = min_steps
        self.steps = 0
        self._w = self._t = self._tt = self._y = self._ty = 0.0
        self._seqs = self._tokens = 0.0  # decayed means of sequences and tokens per step

    def observe(self, tokens: int, seqs: int, seconds: float) -> None:
        """Record a step of ``tokens`` tokens over ``seqs`` sequences that took ``seconds``."""
        d = self.decay
        self._w = d * self._w + 1
        self._t = d * self._t + tokens
        self._tt = d * self._tt + tokens * tokens
        self._y = d * self._y + seconds
        self._ty = d * self._ty + tokens * seconds
        self._seqs = d * self._seqs + seqs
        self._tokens = d * self._tokens + tokens
        self.steps += 1

    def fit(self) -> tuple[float, float] | None:
        """(a, b) in seconds, or None until enough varied steps were seen."""
        if self.steps < self.min_steps:
            return None
        w, t, tt, y, ty = self._w, self._t, self._tt, self._y, self._ty
        var = w * tt - t * t
        if var <= 1e-9 * w * w:  # every step had the same size: no slope to learn
            return None
        b = max(0.0, (w * ty - t * y) / var)
        a = max(0.0, (y - b * t) / w)
        return a, b

    def relative_token_cost(self) -> float | None:
        """A token's cost as a fraction of one sequence's share of a typical step (None: unknown)."""
        fit = self.fit()
        if fit is None or self._seqs <= 0:
            return None
        a, b = fit
        tokens, seqs = self._tokens / self._w, self._seqs / self._w
        share = (a + b * tokens) / max(seqs, 1e-9)
        return b / share if share > 0 else None
