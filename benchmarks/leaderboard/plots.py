"""Leaderboard figures (matplotlib, Agg backend, PNG).

* :func:`latency_quality_plot`: each player's median decision latency (x, log scale) against its
  rating or yield (y, with its 95 % interval), the Pareto front marked, and the latency variants
  of one agent joined as a curve;
* :func:`winrate_plot`: the head-to-head win-rate matrix as a heat map;
* :func:`ratings_plot`: ratings with their intervals, best on top;
* :func:`study_plot`: the latency study's view, quality against median decision latency with one
  colour per model and each model's latency curves joined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def latency_quality_plot(
    points: Mapping[str, tuple[float, float]],
    intervals: Mapping[str, tuple[float, float]],
    front: Sequence[str],
    curves: Mapping[str, Sequence[str]],
    path: str | Path,
    ylabel: str,
    title: str,
    flagged: Sequence[str] = (),
) -> Path:
    """Latency against quality with the Pareto front and per-agent latency curves.

    Args:
        points: name -> (median latency ms, quality).
        intervals: name -> (low, high) of the quality.
        front: Pareto-optimal names, by latency.
        curves: base agent -> its variant names (drawn as a line when there are 2 or more).
        path: the PNG to write.
        ylabel: what the quality is.
        title: the figure title.
        flagged: names flagged for fallbacks (drawn as grey crosses).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    try:
        xs = {n: max(p[0], 0.1) for n, p in points.items()}  # log axis: 0 ms drawn at 0.1 ms
        sweep_colors = ["tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:olive", "tab:cyan"]
        k = 0
        for base, names in curves.items():
            names = [n for n in names if n in points]
            if len(names) < 2:
                continue
            names = sorted(names, key=lambda n: xs[n])
            ax.plot(
                [xs[n] for n in names],
                [points[n][1] for n in names],
                "--",
                color=sweep_colors[k % len(sweep_colors)],
                lw=1.2,
                zorder=1,
                label=f"{base}: latency sweep",
            )
            k += 1
        for n, (_, q) in points.items():
            lo, hi = intervals.get(n, (q, q))
            on_front = n in front
            ax.errorbar(
                xs[n],
                q,
                yerr=[[max(q - lo, 0)], [max(hi - q, 0)]],
                fmt="x" if n in flagged else "o",
                ms=7 if on_front else 5,
                color="tab:red" if on_front else "0.5" if n in flagged else "tab:blue",
                ecolor="0.7",
                capsize=2,
                zorder=3,
            )
            ax.annotate(n, (xs[n], q), textcoords="offset points", xytext=(5, 4), fontsize=7)
        if front:
            fx = [xs[n] for n in front]
            fy = [points[n][1] for n in front]
            ax.step(fx, fy, where="post", color="tab:red", lw=1.5, alpha=0.7, label="Pareto front", zorder=2)
        if front or k:
            ax.legend(loc="best", fontsize=8)
        ax.set_xscale("log")
        if xs:  # room on the right for the labels of the slowest points
            ax.set_xlim(min(xs.values()) / 1.6, max(xs.values()) * 2.5)
        return _save_latency_axes(fig, ax, ylabel, title, path)
    finally:
        plt.close(fig)


def _save_latency_axes(fig, ax, ylabel: str, title: str, path: str | Path) -> Path:  # noqa: ANN001 - matplotlib
    """Label a latency-vs-quality axes (log latency), grid it and save the figure to ``path``."""
    ax.set_xlabel("median decision latency (ms, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", pad_inches=0.15)
    return path


def winrate_plot(
    names: Sequence[str], rate: np.ndarray, games: np.ndarray, path: str | Path, title: str
) -> Path:
    """Heat map of ``rate[i, j]`` (row beats column), annotated with the share and the games."""
    plt = _pyplot()
    n = len(names)
    size = max(4.0, 0.7 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=110)
    try:
        masked = np.ma.masked_invalid(rate)
        im = ax.imshow(masked, cmap="RdYlGn", vmin=0, vmax=1)
        ax.set_xticks(range(n), labels=names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels=names, fontsize=8)
        for i in range(n):
            for j in range(n):
                if np.isfinite(rate[i, j]):
                    ax.text(j, i, f"{rate[i, j]:.0%}\n{games[i, j]:g}", ha="center", va="center", fontsize=6)
        ax.set_xlabel("opponent")
        ax.set_ylabel("player")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share won")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight", pad_inches=0.15)
    finally:
        plt.close(fig)
    return path


def ratings_plot(
    names: Sequence[str],
    values: Sequence[float],
    intervals: Sequence[tuple[float, float]],
    path: str | Path,
    xlabel: str,
    title: str,
) -> Path:
    """Forest plot: one row per player (best on top) with its interval."""
    plt = _pyplot()
    order = list(np.argsort(values))
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(names) + 1.2)), dpi=110)
    try:
        for row, i in enumerate(order):
            lo, hi = intervals[i]
            ax.plot([lo, hi], [row, row], color="0.5", lw=2)
            ax.plot(values[i], row, "o", color="tab:blue")
        ax.set_yticks(range(len(order)), labels=[names[i] for i in order], fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(True, axis="x", alpha=0.3)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight", pad_inches=0.15)
    finally:
        plt.close(fig)
    return path


def study_plot(
    models: Mapping[str, Mapping[str, object]],
    front: Sequence[str],
    path: str | Path,
    ylabel: str,
    title: str,
) -> Path:
    """Quality against median decision latency, one colour per model (the report's ``study.models``).

    Args:
        models: model -> ``{"agents": [point dicts with name, latency_ms, quality, flagged], "curves":
            {entry: [names in latency order]}}``.
        front: the Pareto front (ringed in red).
        path: the PNG to write.
        ylabel: what the quality is.
        title: the figure title.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    try:
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, (model, view) in enumerate(models.items()):
            color = colors[k % len(colors)]
            agents = {a["name"]: a for a in view["agents"]}  # type: ignore[index, union-attr]
            for names in view["curves"].values():  # type: ignore[union-attr]
                ax.plot(
                    [max(agents[n]["latency_ms"], 0.1) for n in names],
                    [agents[n]["quality"] for n in names],
                    "-",
                    color=color,
                    lw=1.2,
                    alpha=0.8,
                )
            for i, a in enumerate(agents.values()):
                x = max(a["latency_ms"], 0.1)
                ax.plot(
                    x,
                    a["quality"],
                    "x" if a["flagged"] else "o",
                    color=color,
                    ms=6,
                    label=model if i == 0 else None,
                )
                if a["name"] in front:
                    ax.plot(x, a["quality"], "o", mfc="none", mec="tab:red", ms=11, mew=1.5)
                ax.annotate(
                    a["name"], (x, a["quality"]), textcoords="offset points", xytext=(5, 4), fontsize=6
                )
        ax.legend(loc="best", fontsize=8, title="model (x: flagged)")
        ax.set_xscale("log")
        return _save_latency_axes(fig, ax, ylabel, title, path)
    finally:
        plt.close(fig)
