"""StepCostModel: learns step time = a + b * tokens and prices a draft token against a session's share."""

from __future__ import annotations

import pytest

from splitsecond.serving.speculative.cost_model import StepCostModel


def test_recovers_the_line_and_the_relative_price():
    m = StepCostModel(decay=0.99)
    for i in range(40):
        tokens = 4 + (i % 5) * 4  # 4 sessions, 0-4 draft tokens each
        m.observe(tokens, 4, 0.027 + 0.0023 * tokens)
    a, b = m.fit()
    assert a == pytest.approx(0.027, rel=1e-6) and b == pytest.approx(0.0023, rel=1e-6)
    share = (0.027 + 0.0023 * 12) / 4  # mean step of 12 tokens over 4 sessions
    assert m.relative_token_cost() == pytest.approx(0.0023 / share, rel=0.01)  # decayed means


def test_unknown_until_it_has_seen_varied_steps():
    m = StepCostModel(min_steps=8)
    assert m.relative_token_cost() is None
    for _ in range(20):
        m.observe(4, 4, 0.03)  # same size every time: no slope to learn
    assert m.fit() is None and m.relative_token_cost() is None
    with pytest.raises(ValueError, match="decay"):
        StepCostModel(decay=1.0)
