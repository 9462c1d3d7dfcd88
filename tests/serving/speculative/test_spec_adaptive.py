"""AdaptiveDraftLength: the cost model's optimum, the acceptance estimate, limits and validation."""

from __future__ import annotations

import random

import pytest

from splitsecond.serving.speculative.adaptive import AdaptiveDraftLength


def _brute_force_best(alpha: float, draft_cost: float, lo: int, hi: int) -> int:
    def rate(k: int) -> float:
        expected = sum(alpha**i for i in range(k + 1))
        return expected / (1 + draft_cost * k)

    return max(range(lo, hi + 1), key=lambda k: (round(rate(k), 12), -k))


def _settled(alpha_rounds: list[tuple[int, int]], **kw) -> AdaptiveDraftLength:
    a = AdaptiveDraftLength(**kw)
    for proposed, accepted in alpha_rounds:
        a.update(proposed, accepted)
    return a


def test_first_round_uses_k_init_then_the_model():
    a = AdaptiveDraftLength(k_init=3)
    assert a.next_k() == 3
    a.update(0, 0)  # an empty round tells nothing
    assert a.next_k() == 3 and a.rounds == 0
    a.update(4, 4)
    assert a.rounds == 1 and a.next_k() == _brute_force_best(a.alpha, 0.05, 0, 8)


def test_k_grows_with_acceptance_and_shrinks_to_k_min_when_drafts_fail():
    good = _settled([(8, 8)] * 30)
    assert good.alpha > 0.99 and good.next_k() == 8
    bad = _settled([(4, 0)] * 30)
    assert bad.alpha < 0.01 and bad.next_k() == 0
    assert _settled([(4, 0)] * 30, k_min=2).next_k() == 2


def test_next_k_is_the_argmax_of_tokens_per_cost():
    for alpha in (0.0, 0.2, 0.5, 0.6, 0.8, 0.9, 0.97, 1.0):
        for cost in (0.0, 0.05, 0.2, 1.0):
            a = AdaptiveDraftLength(alpha_init=alpha, draft_cost=cost, ewma=1.0)
            a.rounds = 1  # use the model straight away
            assert a.next_k() == _brute_force_best(alpha, cost, 0, 8), (alpha, cost)
            assert a.expected_tokens(0) == 1.0


def test_alpha_estimate_converges_to_the_true_rate():
    rng = random.Random(0)
    true_alpha = 0.7
    a = AdaptiveDraftLength(ewma=0.05)
    for _ in range(3000):
        k = 6
        accepted = 0
        while accepted < k and rng.random() < true_alpha:
            accepted += 1
        a.update(k, accepted)
    assert abs(a.alpha - true_alpha) < 0.07


def test_limit_caps_k_even_below_k_min():
    a = _settled([(8, 8)] * 10, k_min=2)
    assert a.next_k(limit=5) == 5
    assert a.next_k(limit=1) == 1
    assert a.next_k(limit=0) == 0
    assert AdaptiveDraftLength(k_init=4).next_k(limit=2) == 2


def test_validation():
    bad_args = [
        {"k_min": -1},
        {"k_max": 2, "k_init": 4},
        {"k_min": 5, "k_init": 4},
        {"alpha_init": 1.5},
        {"ewma": 0.0},
        {"draft_cost": -0.1},
        {"k_max": 3.5},
    ]
    for kwargs in bad_args:
        with pytest.raises(ValueError, match="AdaptiveDraftLength"):
            AdaptiveDraftLength(**kwargs)
    a = AdaptiveDraftLength()
    with pytest.raises(ValueError, match="cannot exceed"):
        a.update(2, 3)
    with pytest.raises(ValueError, match="proposed"):
        a.update(-1, 0)
    with pytest.raises(ValueError, match="limit"):
        a.next_k(limit=-1)
