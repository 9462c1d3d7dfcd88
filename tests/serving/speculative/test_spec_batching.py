"""PipelineBatcher: hold a drafts-only step just long enough for the due drafts of the group."""

from __future__ import annotations

import pytest

from splitsecond.serving.speculative.batching import PipelineBatcher


def test_steps_at_once_when_the_group_is_ready_or_others_have_work():
    b = PipelineBatcher(max_hold_s=0.004, group_fraction=0.5)
    assert b.hold(10.0, [9.999, 9.999], [10.001, 10.002], other_work=False) == 0.0  # 2 of 4 ready
    assert b.hold(10.0, [9.999], [10.001, 10.002, 10.003], other_work=True) == 0.0
    assert b.hold(10.0, [], [10.001], other_work=False) == 0.0  # nothing to verify yet


def test_waits_for_the_draft_that_completes_the_group():
    b = PipelineBatcher(max_hold_s=0.004, group_fraction=0.5)
    assert b.hold(10.0, [10.0], [10.001, 10.002, 10.050], other_work=False) == pytest.approx(0.001)
    # 3 of 6 needed: two more are due, the second at 10.003
    assert b.hold(10.0, [10.0], [10.003, 10.001, None, 10.1, 10.2], other_work=False) == pytest.approx(0.003)


def test_never_waits_past_the_deadline_or_for_unknown_arrivals():
    b = PipelineBatcher(max_hold_s=0.004, group_fraction=0.5)
    assert b.hold(10.0, [10.0], [10.010, 10.020, 10.030], other_work=False) == 0.0
    assert b.hold(10.0, [10.0], [None, None, None], other_work=False) == 0.0
    assert PipelineBatcher(max_hold_s=0).hold(10.0, [10.0], [10.0001] * 3, other_work=False) == 0.0


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="max_hold_s"):
        PipelineBatcher(max_hold_s=-1)
    with pytest.raises(ValueError, match="group_fraction"):
        PipelineBatcher(group_fraction=0)
