"""Ratings from match outcomes: OpenSkill and Bradley–Terry, each with bootstrap confidence intervals.

A *contest* is one match: its players and their ranks (0 best, equal ranks tie). StreetFighter
matches are two-player contests; an HFTBench session is a many-player contest ranked by PnL.

**Bradley–Terry.** Player ``i`` beats ``j`` with probability ``p_i / (p_i + p_j)``,
``p_i = exp(theta_i)``. Every contest is split into its pairs: the better-ranked player of a pair
scores a win, a tie scores half a win to each. With ``W[i, j]`` the (fractional) wins of ``i``
over ``j``, the estimate maximises the log-likelihood

    L(theta) = sum_{i != j} W[i, j] * (theta_i - log(exp(theta_i) + exp(theta_j)))

maximised by Newton's method on the analytic gradient and Hessian (the objective is concave) (see :func:`bradley_terry`; the tests check
it against ``choix``, a maintained Bradley–Terry library, when that is installed). A player who won every game has no finite MLE, so every pair
of players is credited ``prior_draws`` virtual draws (``prior_draws / 2`` wins each way) before
fitting: a transparent prior that pulls towards equality and vanishes as real games accumulate.
Strengths are reported on the Elo scale, ``elo_i = 1500 + 400 / ln(10) * (theta_i - mean(theta))``:
a 400-point gap is 10:1 odds.

**OpenSkill.** The Plackett–Luce model of the ``openskill`` package, updated match by match in
schedule order (so a rerun gives the same numbers); ``mu`` and ``sigma`` per player and the
conservative ``ordinal = mu - 3 sigma``.

**Bootstrap.** Both fits are repeated on ``B`` resamples of the matches (drawn with replacement,
kept in schedule order); the interval is the 2.5th and 97.5th percentile of the resampled
estimates (for OpenSkill, of ``mu``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ELO_BASE = 1500.0
ELO_PER_NAT = 400.0 / math.log(10.0)


@dataclass(frozen=True)
class Contest:
    """One match as the ratings see it.

    Attributes:
        players: participant names.
        ranks: their ranks, index-aligned (0 best; equal ranks tie).
    """

    players: tuple[str, ...]
    ranks: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.players) != len(self.ranks) or len(self.players) < 2:
            raise ValueError(f"a contest needs >= 2 players with one rank each, got {self}")
        if len(set(self.players)) != len(self.players):
            raise ValueError(f"a player appears twice in a contest: {self.players}")


@dataclass(frozen=True)
class Rating:
    """One player's ratings.

    Attributes:
        name: the player.
        games: contests played.
        elo: Bradley–Terry strength on the Elo scale.
        elo_ci: its 95 % bootstrap interval.
        mu, sigma, ordinal: OpenSkill (Plackett–Luce) rating.
        mu_ci: 95 % bootstrap interval of ``mu``.
    """

    name: str
    games: int
    elo: float
    elo_ci: tuple[float, float]
    mu: float
    sigma: float
    ordinal: float
    mu_ci: tuple[float, float]


def win_matrix(contests: Sequence[Contest], names: Sequence[str]) -> np.ndarray:
    """``W[i, j]``: wins of ``names[i]`` over ``names[j]`` over all pairs of all contests (tie = 1/2)."""
    index = {n: i for i, n in enumerate(names)}
    w = np.zeros((len(names), len(names)))
    for c in contests:
        for a in range(len(c.players)):
            for b in range(a + 1, len(c.players)):
                i, j = index[c.players[a]], index[c.players[b]]
                ra, rb = c.ranks[a], c.ranks[b]
                if ra < rb:
                    w[i, j] += 1.0
                elif rb < ra:
                    w[j, i] += 1.0
                else:
                    w[i, j] += 0.5
                    w[j, i] += 0.5
    return w


def _neg_log_likelihood(theta: np.ndarray, w: np.ndarray, games: np.ndarray) -> tuple[float, np.ndarray]:
    """``-L(theta)`` and its gradient, plus ``(sum theta)^2`` to pin the free additive constant."""
    diff = theta[:, None] - theta[None, :]
    # log(1 + exp(-d)) computed stably; P[i, j] = P(i beats j)
    log_p = -np.logaddexp(0.0, -diff)
    p = np.exp(log_p)
    nll = -float((w * log_p).sum())
    grad = -(w.sum(axis=1) - (games * p).sum(axis=1))
    s = float(theta.sum())
    return nll + s * s, grad + 2.0 * s


def _hessian(theta: np.ndarray, w: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Hessian of :func:`_neg_log_likelihood`: a weighted graph Laplacian plus the pinning term."""
    diff = theta[:, None] - theta[None, :]
    p = np.exp(-np.logaddexp(0.0, -diff))
    c = games * p * (1.0 - p)
    h = -c
    np.fill_diagonal(h, c.sum(axis=1) - np.diag(c))
    return h + 2.0


def _strongly_connected(edges: np.ndarray) -> bool:
    """Whether every node reaches every other along ``edges[i, j]`` (i beat j)."""
    n = edges.shape[0]
    for adj in (edges, edges.T):
        seen = np.zeros(n, dtype=bool)
        seen[0] = True
        frontier = seen.copy()
        while frontier.any():
            frontier = adj[frontier].any(axis=0) & ~seen
            seen |= frontier
        if not seen.all():
            return False
    return True


def bradley_terry(wins: np.ndarray, prior_draws: float = 1.0) -> np.ndarray:
    """Bradley–Terry log-strengths (mean 0) from a win matrix (see the module docstring).

    Maximises ``L(theta)`` by Newton's method with a backtracking line search, using the gradient
    ``dL/dtheta_i = sum_j W[i, j] - sum_j N[i, j] * P(i beats j)``, ``N = W + W^T``, and Hessian (a weighted graph Laplacian): at the
    optimum every player's expected wins equal its actual wins.

    Args:
        wins: ``W[i, j]`` = wins of ``i`` over ``j``.
        prior_draws: virtual draws credited to every pair; 0 gives the plain MLE (which is
            finite only when every player has both won and lost within a connected graph).

    Raises:
        ValueError: for a bad matrix or prior, or when the optimiser fails.
    """
    w = np.asarray(wins, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or (w < 0).any() or not np.isfinite(w).all():
        raise ValueError(f"wins must be a square non-negative finite matrix, got shape {w.shape}")
    if not (isinstance(prior_draws, int | float) and prior_draws >= 0):
        raise ValueError(f"prior_draws must be >= 0, got {prior_draws!r}")
    n = w.shape[0]
    if n == 1:
        return np.zeros(1)
    w = w + (prior_draws / 2.0) * (1.0 - np.eye(n))
    np.fill_diagonal(w, 0.0)
    if not _strongly_connected(w > 0):
        raise ValueError(
            "no finite Bradley-Terry MLE: some group of players never lost to the rest "
            "(the who-beat-whom graph is not strongly connected); use prior_draws > 0"
        )
    games = w + w.T
    theta = np.zeros(n)
    f, g = _neg_log_likelihood(theta, w, games)
    tol = 1e-10 * max(1.0, games.sum())
    for _ in range(200):
        if np.abs(g).max() <= tol:
            break
        step = np.linalg.solve(_hessian(theta, w, games), g)
        t = 1.0
        while True:  # backtracking (Armijo) line search; the objective is convex
            f_new, g_new = _neg_log_likelihood(theta - t * step, w, games)
            if f_new <= f - 1e-4 * t * float(g @ step) or t < 1e-12:
                break
            t *= 0.5
        theta, f, g = theta - t * step, f_new, g_new
    if not np.isfinite(theta).all() or np.abs(g).max() > 1e-6 * max(1.0, games.sum()):
        raise ValueError("the Bradley-Terry fit did not converge (no finite MLE? try prior_draws > 0)")
    return theta - theta.mean()


def to_elo(theta: np.ndarray) -> np.ndarray:
    """Log-strengths to the Elo scale (mean 1500, 400 points = 10:1 odds)."""
    return ELO_BASE + ELO_PER_NAT * (np.asarray(theta) - np.mean(theta))


def openskill(contests: Sequence[Contest], names: Sequence[str]) -> dict[str, tuple[float, float]]:
    """OpenSkill Plackett–Luce ``(mu, sigma)`` per player, contests rated in the given order."""
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    ratings = {n: model.rating(name=n) for n in names}
    for c in contests:
        teams = [[ratings[p]] for p in c.players]
        rated = model.rate(teams, ranks=[float(r) for r in c.ranks])
        for p, team in zip(c.players, rated, strict=True):
            ratings[p] = team[0]
    return {n: (float(r.mu), float(r.sigma)) for n, r in ratings.items()}


def _interval(samples: np.ndarray) -> list[tuple[float, float]]:
    lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
    return [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]


def rate(
    contests: Sequence[Contest],
    names: Sequence[str] | None = None,
    bootstrap: int = 200,
    prior_draws: float = 1.0,
    seed: int = 0,
) -> dict[str, Rating]:
    """Bradley–Terry and OpenSkill ratings of every player, with bootstrap intervals.

    Args:
        contests: the matches, in schedule order.
        names: the players (default: everyone in ``contests``, in order of appearance).
        bootstrap: resamples for the intervals (0: intervals equal the estimate).
        prior_draws: see :func:`bradley_terry`.
        seed: seed of the resampling.
    """
    if names is None:
        names = list(dict.fromkeys(p for c in contests for p in c.players))
    names = list(names)
    if not names:
        return {}
    games = dict.fromkeys(names, 0)
    for c in contests:
        for p in c.players:
            games[p] += 1
    elo = to_elo(bradley_terry(win_matrix(contests, names), prior_draws))
    skill = openskill(contests, names)
    elo_ci = [(float(e), float(e)) for e in elo]
    mu_ci = [(skill[n][0], skill[n][0]) for n in names]
    if bootstrap > 0 and contests:
        rng = np.random.default_rng(seed)
        elos = np.empty((bootstrap, len(names)))
        mus = np.empty((bootstrap, len(names)))
        for b in range(bootstrap):
            idx = np.sort(rng.integers(0, len(contests), size=len(contests)))
            sample = [contests[i] for i in idx]
            elos[b] = to_elo(bradley_terry(win_matrix(sample, names), prior_draws))
            s = openskill(sample, names)
            mus[b] = [s[n][0] for n in names]
        elo_ci, mu_ci = _interval(elos), _interval(mus)
    return {
        n: Rating(
            name=n,
            games=games[n],
            elo=float(elo[i]),
            elo_ci=elo_ci[i],
            mu=skill[n][0],
            sigma=skill[n][1],
            ordinal=skill[n][0] - 3.0 * skill[n][1],
            mu_ci=mu_ci[i],
        )
        for i, n in enumerate(names)
    }
