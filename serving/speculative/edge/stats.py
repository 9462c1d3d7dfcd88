"""``EdgeStats``: what an edge measured, and the SpecEdge metrics derived from it.

As the paper defines them: *server throughput* = tokens produced / server busy time (each verdict
carries this session's share of the server step that verified it); *inter-token latency* = decode
wall time (drafting + verification, including the network) / tokens produced after the first. Also
the mean acceptance length (tokens per round, the target's own token included), the acceptance of
each draft position, and bytes per round on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EdgeStats:
    """Counters of one edge (all requests), updated round by round."""

    requests: int = 0
    plain_requests: int = 0  # decoded by the server alone: drafting was not paying (one free run)
    rounds: int = 0
    draft_tokens: int = 0  # proposed (sent)
    accepted_tokens: int = 0  # of which accepted
    round_tokens: int = 0  # tokens produced by rounds (accepted + the target's own + forced)
    first_tokens: int = 0  # tokens produced at session open (not speculative)
    decode_seconds: float = 0.0  # wall time from one verdict to the next, summed
    draft_seconds: float = 0.0  # drafting not hidden behind a round in flight
    server_seconds: float = 0.0  # server step time attributed to this edge's rounds
    reconnects: int = 0
    proactive_kept: int = 0
    proactive_discarded: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    proposed_at: list[int] = field(default_factory=list)  # rounds that drafted position i
    accepted_at: list[int] = field(default_factory=list)  # rounds that had position i accepted

    def record_round(
        self, proposed: int, accepted: int, produced: int, wall_s: float, draft_s: float, server_s: float
    ) -> None:
        """Add one verification round."""
        self.rounds += 1
        self.draft_tokens += proposed
        self.accepted_tokens += accepted
        self.round_tokens += produced
        self.decode_seconds += wall_s
        self.draft_seconds += draft_s
        self.server_seconds += server_s
        while len(self.proposed_at) < proposed:
            self.proposed_at.append(0)
            self.accepted_at.append(0)
        for i in range(proposed):
            self.proposed_at[i] += 1
            if i < accepted:
                self.accepted_at[i] += 1

    def summary(self) -> dict[str, float | list[float] | int]:
        """The SpecEdge metrics (see the module docstring) as a JSON-ready dict."""
        rounds = max(1, self.rounds)
        tokens = max(1, self.round_tokens)
        return {
            "requests": self.requests,
            "plain_requests": self.plain_requests,
            "rounds": self.rounds,
            "tokens": self.round_tokens,
            "mean_acceptance_length": self.round_tokens / rounds,
            "acceptance_rate": self.accepted_tokens / self.draft_tokens if self.draft_tokens else 0.0,
            "mean_draft_length": self.draft_tokens / rounds,
            "per_position_acceptance": [
                a / p for a, p in zip(self.accepted_at, self.proposed_at, strict=True)
            ],
            "itl_ms": 1000 * self.decode_seconds / tokens,
            "server_throughput_tok_s": self.round_tokens / self.server_seconds
            if self.server_seconds
            else 0.0,
            "server_ms_per_round": 1000 * self.server_seconds / rounds,
            "draft_ms_per_round": 1000 * self.draft_seconds / rounds,
            "bytes_per_round": (self.bytes_out + self.bytes_in) / rounds,
            "reconnects": self.reconnects,
            "proactive_kept": self.proactive_kept,
            "proactive_discarded": self.proactive_discarded,
        }
