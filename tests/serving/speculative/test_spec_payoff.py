"""DraftPayoff: drafting against plain decoding in pace and server efficiency, sampling, validation."""

from __future__ import annotations

import pytest

from splitsecond.serving.speculative.payoff import DraftPayoff


def _fed(draft: tuple[int, float, float], plain: tuple[float, float], n_draft: int = 16, n_plain: int = 8,
         **kw) -> DraftPayoff:  # fmt: skip
    p = DraftPayoff(**kw)
    for _ in range(n_draft):
        p.record_round(*draft)
    for _ in range(n_plain):
        p.record_plain_token(*plain)
    return p


def test_unknown_until_both_sides_have_enough_samples():
    p = _fed((3, 0.030, 0.015), (0.010, 0.010), n_draft=15)
    assert p.gain() is None and p.pays() is None
    p.record_round(3, 0.030, 0.015)
    assert p.pays() is True
    assert _fed((3, 0.030, 0.015), (0.010, 0.010), n_plain=7).pays() is None


def test_gain_multiplies_pace_and_server_efficiency():
    # 3 tokens in 30 ms of wall and 15 ms of server vs 1 token per 10 ms of both: pace 1x, efficiency 2x
    assert _fed((3, 0.030, 0.015), (0.010, 0.010)).gain() == pytest.approx(2.0)
    # a slow link: 6 tokens in 200 ms of wall (pace 0.3x) at 1.26x the efficiency does not pay
    slow = _fed((6, 0.200, 0.0476), (0.010, 0.010))
    assert slow.gain() == pytest.approx(0.3 * 1.26, rel=1e-3) and slow.pays() is False
    # step time unknown on either side: pace alone decides
    assert _fed((3, 0.030, 0.0), (0.010, 0.010)).gain() == pytest.approx(1.0)
    assert _fed((0, 0.030, 0.010), (0.010, 0.010)).gain() == 0.0


def test_drafting_must_win_by_the_margin():
    # pace 1.1x at equal efficiency: a gain of 1.1 is below the default 1.25 margin
    p = _fed((11, 0.100, 0.110), (0.010, 0.010))
    assert p.gain() == pytest.approx(1.1) and p.pays() is False
    assert _fed((11, 0.100, 0.110), (0.010, 0.010), min_gain=1.0).pays() is True


def test_recent_rounds_weigh_more():
    p = _fed((1, 0.020, 0.020), (0.010, 0.010))
    assert p.pays() is False
    for _ in range(40):  # drafts start to pay (a warmed cache, a lighter load)
        p.record_round(5, 0.025, 0.015)
    assert p.pays() is True


def test_plain_samples_are_asked_for_when_missing_or_stale():
    p = DraftPayoff(min_draft_samples=2, min_plain_samples=2, resample_every=3)
    assert not p.wants_plain_sample()  # drafting first
    p.record_round(2, 0.02, 0.01)
    p.record_round(2, 0.02, 0.01)
    assert p.wants_plain_sample()
    p.record_plain_token(0.01, 0.01)
    p.record_plain_token(0.01, 0.01)
    assert not p.wants_plain_sample()
    for _ in range(3):
        p.record_round(2, 0.02, 0.01)
    assert p.wants_plain_sample()  # stale: load may have changed


def test_validation():
    for bad in [{"ewma": 0}, {"ewma": 1.5}, {"min_draft_samples": 0}, {"min_plain_samples": 1.5},
                {"resample_every": True}, {"min_gain": 0}, {"min_gain": float("inf")}]:  # fmt: skip
        with pytest.raises(ValueError, match="DraftPayoff"):
            DraftPayoff(**bad)
    p = DraftPayoff()
    with pytest.raises(ValueError, match="wall_s > 0"):
        p.record_round(1, 0.0, 0.01)
    with pytest.raises(ValueError, match="tokens >= 0"):
        p.record_round(-1, 0.01, 0.01)
    with pytest.raises(ValueError, match="server_s >= 0"):
        p.record_plain_token(0.01, -1.0)
