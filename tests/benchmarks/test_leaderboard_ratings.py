"""Rating math: Bradley–Terry against closed forms and the MLE score equations, OpenSkill ordering,
bootstrap intervals, win-rate matrices, HFT money statistics and the Pareto front."""

from __future__ import annotations

import math

import numpy as np
import pytest

from splitsecond.benchmarks.leaderboard.ratings import (
    ELO_PER_NAT,
    Contest,
    bradley_terry,
    openskill,
    rate,
    win_matrix,
)
from splitsecond.benchmarks.leaderboard.stats import (
    bootstrap_mean,
    money_stats,
    pareto_front,
    records,
    winrate_matrix,
)


def test_two_players_closed_form():
    # A beats B 3 times, B beats A once: theta_A - theta_B = log(3/1)
    theta = bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]), prior_draws=0)
    assert theta[0] - theta[1] == pytest.approx(math.log(3.0), abs=1e-9)
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)
    # with draws (half a win each way) and the virtual-draw prior: log((w + d/2 + v/2) / (l + d/2 + v/2))
    contests = [Contest(("A", "B"), (0, 1))] * 5 + [Contest(("A", "B"), (1, 0))] * 2
    contests += [Contest(("B", "A"), (0, 0))] * 2
    theta = bradley_terry(win_matrix(contests, ["A", "B"]), prior_draws=1.0)
    assert theta[0] - theta[1] == pytest.approx(math.log((5 + 1 + 0.5) / (2 + 1 + 0.5)), abs=1e-9)


def test_three_players_satisfy_the_likelihood_equations():
    w = np.array([[0.0, 4.0, 2.0], [1.0, 0.0, 3.0], [2.0, 1.0, 0.0]])
    theta = bradley_terry(w, prior_draws=0)
    games = w + w.T
    p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    expected_wins = (games * p).sum(axis=1) - np.diag(games * p)
    np.testing.assert_allclose(expected_wins, w.sum(axis=1), atol=1e-8)
    # a cyclic case has the closed form theta = 0: A>B, B>C, C>A, twice each
    cyc = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])
    np.testing.assert_allclose(bradley_terry(cyc, prior_draws=0), 0.0, atol=1e-9)


def test_matches_choix_when_installed():
    choix = pytest.importorskip("choix", reason="choix not installed: the cross-check is skipped")
    rng = np.random.default_rng(3)
    w = rng.integers(0, 8, size=(6, 6)).astype(float)
    np.fill_diagonal(w, 0.0)
    ours = bradley_terry(w, prior_draws=0)
    ref = choix.ilsr_pairwise_dense(w, tol=1e-12)
    np.testing.assert_allclose(ours, ref - ref.mean(), atol=1e-7)


def test_no_finite_mle_without_prior():
    with pytest.raises(ValueError, match="strongly connected"):
        bradley_terry(np.array([[0.0, 5.0], [0.0, 0.0]]), prior_draws=0)
    theta = bradley_terry(np.array([[0.0, 5.0], [0.0, 0.0]]), prior_draws=1.0)
    assert theta[0] - theta[1] == pytest.approx(math.log(5.5 / 0.5))
    with pytest.raises(ValueError, match="square"):
        bradley_terry(np.ones((2, 3)))


def test_openskill_orders_a_transitive_chain():
    contests = [Contest(("A", "B"), (0, 1)), Contest(("B", "C"), (0, 1)), Contest(("A", "C"), (0, 1))] * 4
    r = openskill(contests, ["C", "B", "A"])
    assert r["A"][0] > r["B"][0] > r["C"][0]
    assert all(sigma < 25 / 3 for _, sigma in r.values())
    # a draw leaves equal players equal
    even = openskill([Contest(("X", "Y"), (0, 0))], ["X", "Y"])
    assert even["X"][0] == pytest.approx(even["Y"][0])


def test_rate_with_bootstrap_intervals():
    contests = [Contest(("A", "B"), (0, 1))] * 6 + [Contest(("B", "A"), (0, 1))] * 2
    contests += [Contest(("B", "C"), (0, 1))] * 6 + [Contest(("A", "C"), (0, 1))] * 5
    r = rate(contests, bootstrap=60, seed=1)
    assert r["A"].elo > r["B"].elo > r["C"].elo
    assert r["A"].games == 13 and r["C"].games == 11
    for x in r.values():
        assert x.elo_ci[0] <= x.elo <= x.elo_ci[1] or x.elo_ci[0] - 1e-6 <= x.elo <= x.elo_ci[1] + 1e-6
        assert x.elo_ci[0] < x.elo_ci[1]
        assert x.ordinal == pytest.approx(x.mu - 3 * x.sigma)
    # the Elo gap is the log-odds gap on the Elo scale
    theta = bradley_terry(win_matrix(contests, ["A", "B", "C"]), 1.0)
    assert r["A"].elo - r["B"].elo == pytest.approx((theta[0] - theta[1]) * ELO_PER_NAT)
    assert sum(x.elo for x in r.values()) / 3 == pytest.approx(1500.0)


def test_multiplayer_contest_pairs_and_records():
    # an HFT session ranked A (0), B and C tied (1), D forfeited (3)
    c = Contest(("A", "B", "C", "D"), (0, 1, 1, 3))
    w = win_matrix([c], ["A", "B", "C", "D"])
    assert w[0, 1] == w[0, 2] == w[0, 3] == 1.0
    assert w[1, 2] == w[2, 1] == 0.5
    assert w[1, 3] == w[2, 3] == 1.0 and w[3].sum() == 0.0
    rate_m, games = winrate_matrix([c], ["A", "B", "C", "D"])
    assert rate_m[1, 2] == 0.5 and games[0, 3] == 1 and math.isnan(rate_m[0, 0])
    rows = [
        {"key": "k", "seat": i, "name": n, "rank": r, "forfeited": n == "D"}
        for i, (n, r) in enumerate(zip(c.players, c.ranks, strict=True))
    ]
    rec = records(rows, ["A", "B", "C", "D"])
    assert (rec["A"].wins, rec["B"].losses, rec["D"].forfeits) == (1, 1, 1)


def test_money_stats_and_bootstrap_mean():
    ci = bootstrap_mean([1.0, 2.0, 3.0, 4.0], resamples=500, seed=0)
    assert ci.mean == 2.5 and 1.0 <= ci.lo < 2.5 < ci.hi <= 4.0 and ci.n == 4
    assert bootstrap_mean([7.0]).lo == 7.0
    with pytest.raises(ValueError):
        bootstrap_mean([])
    rows = [
        {"name": "mm", "metrics": {"daily_yield_pct": y, "sharpe": s, "max_drawdown_pct": d}}
        for y, s, d in [(0.1, 2.0, 0.5), (0.3, 4.0, 0.1)]
    ]
    m = money_stats(rows, ["mm"], resamples=100)
    assert m["mm"]["yield_pct"].mean == pytest.approx(0.2)
    assert m["mm"]["sharpe"].mean == pytest.approx(3.0)
    assert m["mm"]["drawdown_pct"].n == 2


def test_pareto_front():
    pts = {"fast-weak": (10.0, 1400.0), "slow-strong": (300.0, 1600.0), "dominated": (200.0, 1450.0)}
    pts["mid"] = (50.0, 1500.0)
    assert pareto_front(pts) == ["fast-weak", "mid", "slow-strong"]
