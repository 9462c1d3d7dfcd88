"""Pictures and tables of a session: a price chart with the agent's fills, and a summary table.

:func:`render_chart` draws, per symbol, the mid price sampled every simulated second (and the
latent fundamental, dashed) with the agent's buys (green ^) and sells (red v) marked, headlines as
vertical lines, into an RGB array with matplotlib's Agg backend (no display needed).
:func:`summary_table` turns :func:`~splitsecond.envs.hftbench.metrics.summarize` dicts into a
``rich`` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rich.table import Table

    from splitsecond.envs.hftbench.market import Market


def render_chart(market: Market, owner: int, width_px: int = 800, row_px: int = 200) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 image of the session so far (see the module docstring)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = market.n_symbols
    dpi = 100
    fig = Figure(figsize=(width_px / dpi, row_px * n / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    start = market.session_start_us
    times = [(t - start) / 1e6 for t in market.history_times_us]
    fills = market.stats[owner].fills
    for i, ax in enumerate(axes):
        if times:
            ax.plot(times, market.history_mids[i], lw=1.0, color="tab:blue", label="mid")
            ax.plot(times, market.history_fundamental[i], lw=0.8, ls="--", color="0.6", label="fundamental")
        buys = [
            (f.time_us, f.price) for f in fills if f.symbol == i and f.side > 0 and f.liquidity != "close"
        ]
        sells = [
            (f.time_us, f.price) for f in fills if f.symbol == i and f.side < 0 and f.liquidity != "close"
        ]
        if buys:
            ax.scatter(
                [(t - start) / 1e6 for t, _ in buys],
                [p for _, p in buys],
                marker="^",
                color="green",
                s=25,
                zorder=3,
            )
        if sells:
            ax.scatter(
                [(t - start) / 1e6 for t, _ in sells],
                [p for _, p in sells],
                marker="v",
                color="red",
                s=25,
                zorder=3,
            )
        for h in market.published:
            if h.symbol in (-1, i):
                ax.axvline((h.time_us - start) / 1e6, color="orange", lw=0.8, alpha=0.7)
        ax.set_ylabel(market.symbols[i], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("seconds", fontsize=8)
    fig.tight_layout()
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[:, :, :3])


_COLUMNS = (
    ("agent", "agent", "{}"),
    ("pnl", "PnL $", "{:+,.2f}"),
    ("daily_yield_pct", "yield %", "{:+.4f}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("max_drawdown_pct", "max DD %", "{:.4f}"),
    ("fills", "fills", "{}"),
    ("fill_ratio", "fill ratio", "{:.2f}"),
    ("rejections", "rejected", "{}"),
    ("margin_calls", "margin calls", "{}"),
    ("latency_mean_ms", "lat mean ms", "{:.1f}"),
    ("latency_p99_ms", "lat p99 ms", "{:.1f}"),
    ("opportunities_captured", "news caught", "{}"),
    ("opportunities", "news", "{}"),
)


def summary_table(rows: Sequence[Mapping[str, Any]], title: str = "HFTBench session") -> Table:
    """A ``rich`` table with one row per agent summary."""
    from rich.table import Table

    table = Table(title=title)
    for _, header, _ in _COLUMNS:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*(fmt.format(row.get(key, "")) for key, _, fmt in _COLUMNS))
    return table
