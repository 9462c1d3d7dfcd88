"""``PipelineBatcher``: when to hold a step so that edges' drafts are verified together.

Edges whose verdicts left in the same step send their next drafts back at nearly the same moment
(same round trip, similar drafting time), but not at exactly the same moment: a server that steps on
the first arrival verifies it alone and makes the others wait a whole forward pass. The batcher holds
a step that would verify only drafts while more drafts are due within ``max_hold_s`` of the oldest
waiting one, until at least ``group_fraction`` of the live sessions are ready — the two-group pipeline
of SpecEdge: while one group drafts (and its bytes travel), the server verifies the other, full.
A step never waits for a session with no history (its arrival cannot be predicted), and never when
ordinary requests have work (they are not delayed for speculation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineBatcher:
    """Hold policy (see the module docstring); ``max_hold_s == 0`` disables holding."""

    max_hold_s: float = 0.004
    group_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.max_hold_s, int | float) or not 0 <= self.max_hold_s <= 1:
            raise ValueError(f"PipelineBatcher: max_hold_s must be in [0, 1], got {self.max_hold_s!r}")
        if not isinstance(self.group_fraction, int | float) or not 0 < self.group_fraction <= 1:
            raise ValueError(
                f"PipelineBatcher: group_fraction must be in (0, 1], got {self.group_fraction!r}"
            )

    def hold(self, now: float, ready_since: list[float], due: list[float | None], other_work: bool) -> float:
        """Seconds to wait before stepping (0: step now).

        ``ready_since``: when each waiting draft arrived; ``due``: for each session still drafting, when
        its draft is expected (None: unknown); ``other_work``: ordinary requests can run now.
        """
        if self.max_hold_s == 0 or other_work or not ready_since:
            return 0.0
        target = math.ceil(self.group_fraction * (len(ready_since) + len(due)))
        missing = target - len(ready_since)
        if missing <= 0:
            return 0.0
        deadline = min(ready_since) + self.max_hold_s
        soon = sorted(t for t in due if t is not None and t <= deadline)
        if len(soon) < missing:
            return 0.0  # the group cannot fill before the deadline: go with what is here
        return max(0.0, soon[missing - 1] - now)
