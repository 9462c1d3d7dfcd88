"""Descriptive statistics of a leaderboard: records, win-rate matrix, latencies, HFTBench money.

* :func:`records`: per player, matches, wins, draws, losses, forfeits (first place is a win in a
  many-player HFTBench session; a shared first place is a draw);
* :func:`winrate_matrix`: for each ordered pair, the share of head-to-head comparisons the row
  player won (ties count half), and how many comparisons there were;
* :func:`median_latency`: each player's median decision latency, the median over its matches of
  the per-match median latency the arena charged;
* :func:`money_stats`: HFTBench mean daily yield (%), Sharpe ratio and max drawdown (%) per
  player with 95 % bootstrap intervals (sessions resampled with replacement);
* :func:`decision_health`: per player, decisions and how many failed (``errors``), fell back
  (``fallbacks``) or timed out, and whether the fallback share flags it (above
  :data:`FALLBACK_FLAG_SHARE`: its results do not show what the agent can do, so it is kept off the
  Pareto front).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from splitsecond.benchmarks.leaderboard.ratings import Contest, win_matrix


@dataclass(frozen=True)
class Record:
    """A player's results.

    Attributes:
        name: the player.
        matches, wins, draws, losses: counts.
        forfeits: matches it lost by forfeit (timeout or crash).
    """

    name: str
    matches: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    forfeits: int = 0

    @property
    def score_pct(self) -> float:
        """(wins + draws / 2) / matches, in percent (0 without matches)."""
        return 100.0 * (self.wins + 0.5 * self.draws) / self.matches if self.matches else 0.0


@dataclass(frozen=True)
class MetricCI:
    """A mean with its bootstrap interval.

    Attributes:
        mean: the sample mean.
        lo, hi: the 95 % bootstrap interval.
        n: sample size.
    """

    mean: float
    lo: float
    hi: float
    n: int


def contests_of(seat_rows: Sequence[dict[str, Any]]) -> list[Contest]:
    """Group seat rows (from :meth:`ResultsDB.seat_rows`, in schedule order) into contests."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in seat_rows:
        grouped.setdefault(row["key"], []).append(row)
    out = []
    for rows in grouped.values():
        rows = sorted(rows, key=lambda r: r["seat"])
        out.append(Contest(tuple(r["name"] for r in rows), tuple(int(r["rank"]) for r in rows)))
    return out


def records(seat_rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Record]:
    """Win/draw/loss/forfeit counts per player."""
    counts = {n: {"matches": 0, "wins": 0, "draws": 0, "losses": 0, "forfeits": 0} for n in names}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in seat_rows:
        grouped.setdefault(row["key"], []).append(row)
    for rows in grouped.values():
        best = min(r["rank"] for r in rows)
        n_best = sum(r["rank"] == best for r in rows)
        for r in rows:
            c = counts[r["name"]]
            c["matches"] += 1
            c["forfeits"] += int(r["forfeited"])
            if r["rank"] == best and n_best == 1:
                c["wins"] += 1
            elif r["rank"] == best:
                c["draws"] += 1
            else:
                c["losses"] += 1
    return {n: Record(n, **c) for n, c in counts.items()}


def winrate_matrix(contests: Sequence[Contest], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(rate, games)``: ``rate[i, j]`` is the share of comparisons ``i`` won against ``j`` (NaN
    where they never met); ``games[i, j]`` how many comparisons there were."""
    w = win_matrix(contests, names)
    games = w + w.T
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, w / np.where(games > 0, games, 1), np.nan)
    return rate, games


def median_latency(seat_rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, float | None]:
    """Median over matches of each player's per-match median charged latency (ms)."""
    values: dict[str, list[float]] = {n: [] for n in names}
    for r in seat_rows:
        if r["median_latency_ms"] is not None and r["name"] in values:
            values[r["name"]].append(float(r["median_latency_ms"]))
    return {n: (statistics.median(v) if v else None) for n, v in values.items()}


def bootstrap_mean(values: Sequence[float], resamples: int = 1000, seed: int = 0) -> MetricCI:
    """The mean of ``values`` with a 95 % percentile-bootstrap interval.

    Raises:
        ValueError: for no values.
    """
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_mean needs at least one finite value")
    mean = float(x.mean())
    if x.size == 1 or resamples <= 0:
        return MetricCI(mean, mean, mean, int(x.size))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return MetricCI(mean, float(lo), float(hi), int(x.size))


MONEY_METRICS = {"yield_pct": "daily_yield_pct", "sharpe": "sharpe", "drawdown_pct": "max_drawdown_pct"}
"""Report name -> HFTBench session metric."""


def money_stats(
    seat_rows: Sequence[dict[str, Any]], names: Sequence[str], resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, MetricCI]]:
    """Per player: mean daily yield (%), Sharpe and max drawdown (%) over its HFTBench sessions.

    A forfeited trader's session still counts with whatever its account shows.
    """
    samples: dict[str, dict[str, list[float]]] = {n: {k: [] for k in MONEY_METRICS} for n in names}
    for r in seat_rows:
        m = r.get("metrics") or {}
        if r["name"] not in samples:
            continue
        for key, metric in MONEY_METRICS.items():
            if metric in m and m[metric] is not None:
                samples[r["name"]][key].append(float(m[metric]))
    out: dict[str, dict[str, MetricCI]] = {}
    for i, n in enumerate(names):
        out[n] = {k: bootstrap_mean(v, resamples, seed + i) for k, v in samples[n].items() if v}
    return out


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names whose ``(latency, quality)`` no other point beats: lower-or-equal latency and
    higher-or-equal quality, strictly better in one. Sorted by latency."""
    front = []
    for n, (lat, q) in points.items():
        dominated = any(
            (l2 <= lat and q2 >= q) and (l2 < lat or q2 > q) for m, (l2, q2) in points.items() if m != n
        )
        if not dominated:
            front.append(n)
    return sorted(front, key=lambda n: points[n][0])


FALLBACK_FLAG_SHARE = 0.05
"""An agent whose fallbacks exceed this share of its decisions is flagged in the standings."""


@dataclass(frozen=True)
class DecisionHealth:
    """How a player's decisions went, over all its finished matches.

    Attributes:
        name: the player.
        decisions: decisions made.
        errors: decisions whose model call failed or whose agent raised.
        fallbacks: decisions that played the fallback action (errors and unusable answers).
        timeouts: decisions past the arena's limit.
        prompt_versions: the prompt versions its agent reported (none for scripted agents).
    """

    name: str
    decisions: int = 0
    errors: int = 0
    fallbacks: int = 0
    timeouts: int = 0
    prompt_versions: tuple[str, ...] = ()

    @property
    def fallback_share(self) -> float | None:
        """Fallbacks / decisions (``None`` without decisions)."""
        return self.fallbacks / self.decisions if self.decisions else None

    @property
    def flagged(self) -> bool:
        """The fallback share is above :data:`FALLBACK_FLAG_SHARE`."""
        share = self.fallback_share
        return share is not None and share > FALLBACK_FLAG_SHARE


def decision_health(seat_rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, DecisionHealth]:
    """Per player: decisions, errors, fallbacks, timeouts and prompt versions over its seat rows."""
    sums = {n: [0, 0, 0, 0] for n in names}
    versions: dict[str, dict[str, None]] = {n: {} for n in names}
    for r in seat_rows:
        if r["name"] not in sums:
            continue
        c = sums[r["name"]]
        for i, key in enumerate(("decisions", "errors", "fallbacks", "timeouts")):
            c[i] += int(r.get(key) or 0)
        if r.get("prompt_version") is not None:
            versions[r["name"]][str(r["prompt_version"])] = None
    return {n: DecisionHealth(n, *sums[n], tuple(versions[n])) for n in names}
