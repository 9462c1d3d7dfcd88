"""``DraftPayoff``: does drafting beat letting the server decode alone, as the edge measures it?

``AdaptiveDraftLength`` picks the best ``k`` under a model of acceptance and verify cost, but that model
cannot see what a round trip costs: while a draft travels, is verified and its verdict travels back,
the session sits out of the server's batch, and over a slow link or under load that gap can outweigh
what the accepted tokens save. The edge measures both alternatives instead, on the two axes SpecEdge
cares about:

- *pace* (the user's inter-token latency): tokens per second of the edge's wall time;
- *server efficiency* (the operator's cost): tokens per second of server step time charged to the
  session (each verdict carries its share of the step that produced it).

Drafted rounds count with all they cost: drafting, both network legs, queueing, the verify step.
Plain decoding is what the server does in a free run: each free-run token after the run's first (which
carried a round trip) counts with its arrival interval and its step share.

Each figure is an exponentially weighted ratio of discounted sums (long rounds weigh by their length).
``gain()`` multiplies drafting's advantage on both axes, so drafting goes on while what one side gains
outweighs what the other loses (a 1.5x cheaper server at equal latency pays; 1.05x cheaper at 1.5x the
latency does not); ``pays()`` is ``gain() >= min_gain``, None until drafting has ``min_draft_samples``
rounds and plain decoding ``min_plain_samples`` tokens (a few unlucky first rounds must not end
drafting). The margin (default 1.25) stands for what the session's measurements cannot see: its draft
tokens lengthen the steps of every session batched with it, and its round trips leave the others in
smaller batches.
``wants_plain_sample()`` asks for a short free run while plain decoding is unmeasured, or last measured
``resample_every`` drafted rounds ago (load changes it).
"""

from __future__ import annotations


class DraftPayoff:
    """Drafting against plain decoding, in pace and server efficiency (see the module docstring)."""

    def __init__(
        self,
        ewma: float = 0.1,
        min_draft_samples: int = 16,
        min_plain_samples: int = 8,
        resample_every: int = 64,
        min_gain: float = 1.25,
    ) -> None:
        if not isinstance(ewma, int | float) or not 0 < ewma <= 1:
            raise ValueError(f"DraftPayoff: ewma must be in (0, 1], got {ewma!r}")
        if not isinstance(min_gain, int | float) or not 0 < min_gain < float("inf"):
            raise ValueError(f"DraftPayoff: min_gain must be a positive number, got {min_gain!r}")
        self.min_gain = float(min_gain)
        for label, v in (("min_draft_samples", min_draft_samples), ("min_plain_samples", min_plain_samples),
                         ("resample_every", resample_every)):  # fmt: skip
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"DraftPayoff: {label} must be an integer >= 1, got {v!r}")
        self.ewma = float(ewma)
        self.min_draft_samples = min_draft_samples
        self.min_plain_samples = min_plain_samples
        self.resample_every = resample_every
        self._draft = [0.0, 0.0, 0.0]  # discounted tokens, wall seconds, server seconds
        self._plain = [0.0, 0.0, 0.0]
        self.draft_samples = 0
        self.plain_samples = 0
        self._rounds_since_plain = 0

    def _add(self, acc: list[float], tokens: float, wall_s: float, server_s: float) -> None:
        if tokens < 0 or not wall_s > 0 or server_s < 0:
            raise ValueError(
                f"need tokens >= 0, wall_s > 0 and server_s >= 0, got {tokens!r}, {wall_s!r}, {server_s!r}"
            )
        w = self.ewma
        for i, v in enumerate((tokens, wall_s, server_s)):
            acc[i] = (1 - w) * acc[i] + w * v

    def record_round(self, tokens: int, wall_s: float, server_s: float) -> None:
        """A drafted round produced ``tokens`` tokens in ``wall_s`` at the edge and ``server_s`` of step."""
        self._add(self._draft, tokens, wall_s, server_s)
        self.draft_samples += 1
        self._rounds_since_plain += 1

    def record_plain_token(self, wall_s: float, server_s: float) -> None:
        """A free-run token arrived ``wall_s`` after the one before it and cost ``server_s`` of step."""
        self._add(self._plain, 1, wall_s, server_s)
        self.plain_samples += 1
        self._rounds_since_plain = 0

    def gain(self) -> float | None:
        """Drafting's pace ratio times its server-efficiency ratio over plain decoding (None: unmeasured).

        The efficiency factor is left out while either side has no step time on record.
        """
        if self.draft_samples < self.min_draft_samples or self.plain_samples < self.min_plain_samples:
            return None
        (dt, dw, ds), (pt, pw, ps) = self._draft, self._plain
        if dt <= 0 or pt <= 0:
            return 0.0 if dt <= 0 else None
        pace = (dt / dw) / (pt / pw)
        efficiency = (dt / ds) / (pt / ps) if ds > 0 and ps > 0 else 1.0
        return pace * efficiency

    def pays(self) -> bool | None:
        """Whether drafting is worth it (``gain() >= min_gain``); None until both sides are measured."""
        g = self.gain()
        return None if g is None else g >= self.min_gain

    def wants_plain_sample(self) -> bool:
        """Whether a short free run should measure plain decoding (unmeasured, or stale) now."""
        if self.draft_samples < self.min_draft_samples:
            return False  # first learn what drafting does
        return self.plain_samples < self.min_plain_samples or self._rounds_since_plain >= self.resample_every
