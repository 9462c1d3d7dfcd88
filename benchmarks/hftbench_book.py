"""HFTBench benchmark: order book events per second and simulated seconds per wall second.

Run: ``.venv/bin/python -m splitsecond.benchmarks.hftbench_book [--quick]``.

Measured on one core, each a median over repeats:

- **book events/s**: a pre-generated stream of limit orders (mostly near a random-walking mid,
  some crossing), market orders and cancels applied to one :class:`OrderBook`; events = accepted
  orders + effective cancels + fills (goal: >= 300,000/s). The same stream through a plain
  ``sortedcontainers.SortedDict`` book (the textbook design) gives a peer ratio.
- **simulated s per wall s**: a default ``HFTBenchEnv`` session (300 s, four symbols, default
  participants) driven by a do-nothing agent at 10 ms latency, ``reset`` and the 5 s warm-up
  included; also the book events per wall second inside that session.
- **where the time goes**: cProfile of one session, top functions by own time.

Results go to ``benchmarks/results/hftbench_book.json`` with machine information.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import logging
import pstats
import random
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sortedcontainers import SortedDict

from splitsecond.benchmarks.machine import machine_info
from splitsecond.envs.hftbench.env import HFTBenchEnv
from splitsecond.envs.hftbench.order_book import BUY, SELL, OrderBook

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "hftbench_book.json"
GOAL_EVENTS_PER_S = 300_000


def make_stream(n: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``n`` book operations: ``(0, id, side, price, qty)`` limit, ``(1, id, side, qty)`` market,
    ``(2, id)`` cancel. Prices follow a random-walking mid around 10,000 ticks."""
    rng = random.Random(seed)
    mid = 10_000
    live: deque[int] = deque(maxlen=400)
    ops: list[tuple[int, ...]] = []
    for oid in range(1, n + 1):
        if rng.random() < 0.05:
            mid += rng.choice((-1, 1))
        u = rng.random()
        side = BUY if rng.random() < 0.5 else SELL
        if u < 0.55:
            aggressive = rng.random() < 0.08
            dist = -rng.randint(0, 2) if aggressive else rng.randint(1, 10)
            price = mid - dist if side == BUY else mid + dist
            ops.append((0, oid, side, price, rng.randint(1, 300)))
            live.append(oid)
        elif u < 0.65:
            ops.append((1, oid, side, rng.randint(1, 400)))
        elif live:
            ops.append((2, live[rng.randrange(len(live))]))
    return ops


def run_stream(book: Any, ops: list[tuple[int, ...]]) -> None:
    """Apply a stream from :func:`make_stream` to ``book``."""
    add_limit, add_market, cancel = book.add_limit, book.add_market, book.cancel
    for op in ops:
        kind = op[0]
        if kind == 0:
            add_limit(op[1], 0, op[2], op[3], op[4])
        elif kind == 1:
            add_market(op[1], 0, op[2], op[3])
        else:
            cancel(op[1])


class SortedDictBook:
    """Peer: the textbook design, ``SortedDict`` price -> ``deque`` per side, dict of orders."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.orders: dict[int, list[int]] = {}
        self.n_adds = self.n_cancels = self.n_fills = 0

    def _match(self, side: int, qty: int, limit: int | None) -> int:
        opp = self.asks if side == BUY else self.bids
        while qty > 0 and opp:
            price, level = opp.peekitem(0) if side == BUY else opp.peekitem(-1)
            if limit is not None and (price > limit if side == BUY else price < limit):
                break
            while qty > 0 and level:
                o = level[0]
                take = min(qty, o[2])
                o[2] -= take
                qty -= take
                self.n_fills += 1
                if o[2] == 0:
                    level.popleft()
                    del self.orders[o[0]]
            if not level:
                del opp[price]
        return qty

    def add_limit(self, oid: int, owner: int, side: int, price: int, qty: int) -> None:
        self.n_adds += 1
        qty = self._match(side, qty, price)
        if qty > 0:
            o = [oid, side, qty, price]
            self.orders[oid] = o
            book = self.bids if side == BUY else self.asks
            book.setdefault(price, deque()).append(o)

    def add_market(self, oid: int, owner: int, side: int, qty: int) -> None:
        self.n_adds += 1
        self._match(side, qty, None)

    def cancel(self, oid: int) -> int:
        o = self.orders.pop(oid, None)
        if o is None:
            return 0
        book = self.bids if o[1] == BUY else self.asks
        level = book[o[3]]
        level.remove(o)  # O(level length): the cost the lazy-cancel design avoids
        if not level:
            del book[o[3]]
        self.n_cancels += 1
        return o[2]


def bench_book(cls: type, ops: list[tuple[int, ...]], repeats: int) -> dict[str, float]:
    """Median events/s of ``cls`` over ``repeats`` runs of ``ops``."""
    rates, events = [], 0
    for _ in range(repeats):
        book = cls()
        t0 = time.perf_counter()
        run_stream(book, ops)
        dt_s = time.perf_counter() - t0
        events = book.n_adds + book.n_cancels + book.n_fills
        rates.append(events / dt_s)
    return {"events": events, "events_per_s": statistics.median(rates), "runs": rates}


def run_session(seconds: float, seed: int = 0) -> tuple[float, int, float]:
    """One default session with a do-nothing agent; returns ``(wall_s, book_events, sim_s)``."""
    t0 = time.perf_counter()
    env = HFTBenchEnv(clock="fixed", latency_ms=10.0, session_seconds=seconds)
    env.reset(seed=seed)
    term = False
    while not term:
        _, _, term, _, _ = env.step(None)
    wall = time.perf_counter() - t0
    market = env.market
    assert market is not None
    events = sum(b.n_adds + b.n_cancels + b.n_fills for b in market.books)
    return wall, events, (market.session_end_us) / 1e6


def profile_session(seconds: float, top: int = 12) -> list[dict[str, Any]]:
    """cProfile one session; the ``top`` functions by own time with their share of the total."""
    prof = cProfile.Profile()
    prof.enable()
    run_session(seconds, seed=1)
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    out = []
    for (file, line, fn), (_, ncalls, tottime, cumtime, _) in rows:
        out.append(
            {
                "function": f"{Path(file).name}:{line}({fn})",
                "calls": ncalls,
                "own_s": round(tottime, 4),
                "cum_s": round(cumtime, 4),
                "share_pct": round(100 * tottime / total, 1),
            }
        )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table, write the JSON; returns the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repeats (smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    n_ops = 50_000 if args.quick else 300_000
    repeats = args.repeats or (2 if args.quick else 5)
    session_s = 60.0 if args.quick else 300.0
    session_repeats = 1 if args.quick else 3
    ops = make_stream(n_ops)
    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("hftbench benchmark", total=4)
        ours = bench_book(OrderBook, ops, repeats)
        progress.advance(task)
        peer = bench_book(SortedDictBook, ops, repeats)
        progress.advance(task)
        sessions = [run_session(session_s, seed=k) for k in range(session_repeats)]
        progress.advance(task)
        profile = profile_session(min(session_s, 120.0))
        progress.advance(task)
    walls = [w for w, _, _ in sessions]
    sim_per_wall = statistics.median(s / w for w, _, s in sessions)
    session_events = statistics.median(e / w for w, e, _ in sessions)
    results = {
        "benchmark": "hftbench_book",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(note="single-threaded"),
        "book": {
            "stream_ops": n_ops,
            "events": ours["events"],
            "repeats": repeats,
            "events_per_s_median": round(ours["events_per_s"]),
            "goal_events_per_s": GOAL_EVENTS_PER_S,
            "meets_goal": ours["events_per_s"] >= GOAL_EVENTS_PER_S,
            "peer_sorteddict_events_per_s_median": round(peer["events_per_s"]),
            "ratio_vs_sorteddict": round(ours["events_per_s"] / peer["events_per_s"], 2),
        },
        "session": {
            "session_seconds": session_s,
            "repeats": session_repeats,
            "wall_s_median": round(statistics.median(walls), 3),
            "sim_seconds_per_wall_second_median": round(sim_per_wall, 1),
            "book_events_per_wall_s_median": round(session_events),
            "agent": "do-nothing, 10 ms fixed latency, 100 ms decision interval",
        },
        "profile_top_own_time": profile,
    }
    table = Table(title="HFTBench order book and market simulator")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("note")
    table.add_row("book events/s (ours)", f"{ours['events_per_s']:,.0f}", f"goal {GOAL_EVENTS_PER_S:,}")
    table.add_row(
        "book events/s (SortedDict peer)",
        f"{peer['events_per_s']:,.0f}",
        f"ours x{results['book']['ratio_vs_sorteddict']}",
    )
    table.add_row("simulated s / wall s", f"{sim_per_wall:,.1f}", f"{session_s:.0f} s default session")
    table.add_row(
        "book events / wall s in session", f"{session_events:,.0f}", "incl. participants, env, observations"
    )
    console.print(table)
    prof_table = Table(title="where the time goes (one session, own time)")
    for col in ("function", "calls", "own s", "share %"):
        prof_table.add_column(col, justify="right" if col != "function" else "left")
    for row in profile:
        prof_table.add_row(
            row["function"], str(row["calls"]), f"{row['own_s']:.3f}", f"{row['share_pct']:.1f}"
        )
    console.print(prof_table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
