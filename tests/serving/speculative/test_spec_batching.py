"""PipelineBatcher: hold a drafts-only step just long enough for the due drafts of the group."""

from __future__ import annotations

import pytest

from splitsecond.serving.speculative.batching import PipelineBatcher


def test_steps_at_once_when_everyone_is_ready_or_others_have_work():
    b = PipelineBatcher(max_hold_s=0.025)
    assert b.hold(10.0, [9.999, 9.999], [], other_work=False) == 0.0
    assert b.hold(10.0, [9.999], [10.001, 10.002, 10.003], other_work=True) == 0.0
    assert b.hold(10.0, [], [10.001], other_work=False) == 0.0  # nothing to verify yet


def test_waits_for_the_drafts_due_before_the_deadline():
    b = PipelineBatcher(max_hold_s=0.025)
    assert b.hold(10.0, [10.0], [10.001, 10.002, 10.050], other_work=False) == pytest.approx(0.002)
    assert b.hold(10.0, [10.0], [10.003, 10.001, None], other_work=False) == pytest.approx(0.003)
    # a 6 ms step bounds the wait: the draft due at +8 ms waits for the next step
    assert b.hold(10.0, [10.0], [10.002, 10.008], other_work=False, step_s=0.006) == pytest.approx(0.002)


def test_two_group_pipeline():
    b = PipelineBatcher(max_hold_s=0.025, group_fraction=0.5)
    assert b.hold(10.0, [10.0, 10.0], [10.001, 10.002], other_work=False) == 0.0  # half are ready
    assert b.hold(10.0, [10.0], [10.001, 10.002, 10.003], other_work=False) == pytest.approx(0.001)


def test_never_waits_past_the_deadline_or_for_unknown_arrivals():
    b = PipelineBatcher(max_hold_s=0.004)
    assert b.hold(10.0, [10.0], [10.010, 10.020, 10.030], other_work=False) == 0.0
    assert b.hold(10.0, [10.0], [None, None, None], other_work=False) == 0.0
    assert PipelineBatcher(max_hold_s=0).hold(10.0, [10.0], [10.0001] * 3, other_work=False) == 0.0


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="max_hold_s"):
        PipelineBatcher(max_hold_s=-1)
    with pytest.raises(ValueError, match="group_fraction"):
        PipelineBatcher(group_fraction=0)
    with pytest.raises(ValueError, match="step_fraction"):
        PipelineBatcher(step_fraction=0)
