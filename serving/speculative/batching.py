"""``PipelineBatcher``: when to hold a step so that edges' drafts are verified together.

Edges whose verdicts left in the same step send their next drafts back at nearly the same moment
(same round trip, similar drafting time), but not at exactly the same moment: a server that steps on
the first arrival verifies it alone and makes the others wait a whole forward pass — the sessions
split into groups that alternate, each step verifying a fraction of them. Where a forward pass costs
about the same for 1 or 8 sequences (decode on a CPU or a GPU is memory-bound), that wastes most of
the server's time. So a step that would verify only drafts waits while more drafts are due soon:
until ``group_fraction`` of the live sessions are ready (1.0: everyone — one group; 0.5: SpecEdge's
two-group pipeline, where one group drafts while the other is verified), or until the wait would
exceed ``max_hold_s`` or ``step_fraction`` of a step (then the late ones are better served next step).
A step never waits for a session with no history (its arrival cannot be predicted), and never when
ordinary requests have work (they are not delayed for speculation). Waiting is not server busy time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineBatcher:
    """Hold policy (see the module docstring); ``max_hold_s == 0`` disables holding."""

    max_hold_s: float = 0.025
    step_fraction: float = 1.0
    group_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_hold_s, int | float) or not 0 <= self.max_hold_s <= 1:
            raise ValueError(f"PipelineBatcher: max_hold_s must be in [0, 1], got {self.max_hold_s!r}")
        if not isinstance(self.step_fraction, int | float) or not 0 < self.step_fraction <= 4:
            raise ValueError(f"PipelineBatcher: step_fraction must be in (0, 4], got {self.step_fraction!r}")
        if not isinstance(self.group_fraction, int | float) or not 0 < self.group_fraction <= 1:
            raise ValueError(
                f"PipelineBatcher: group_fraction must be in (0, 1], got {self.group_fraction!r}"
            )

    def hold(
        self,
        now: float,
        ready_since: list[float],
        due: list[float | None],
        other_work: bool,
        step_s: float | None = None,
    ) -> float:
        """Seconds to wait before stepping (0: step now).

        ``ready_since``: when each waiting draft arrived; ``due``: for each session still drafting, when
        its draft is expected (None: unknown); ``other_work``: ordinary requests can run now;
        ``step_s``: the recent duration of a step (None: unknown, only ``max_hold_s`` bounds the wait).
        """
        if self.max_hold_s == 0 or other_work or not ready_since:
            return 0.0
        target = math.ceil(self.group_fraction * (len(ready_since) + len(due)))
        missing = target - len(ready_since)
        if missing <= 0:
            return 0.0
        budget = self.max_hold_s if step_s is None else min(self.max_hold_s, self.step_fraction * step_s)
        deadline = min(ready_since) + budget
        soon = sorted(t for t in due if t is not None and t <= deadline)
        if not soon:
            return 0.0
        # Wait for the group, or for as many of its members as are due before the deadline.
        return max(0.0, soon[min(missing, len(soon)) - 1] - now)
