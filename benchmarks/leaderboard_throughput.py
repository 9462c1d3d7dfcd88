"""How many leaderboard matches per minute does this machine play? Process pool vs local Ray.

Run::

    .venv/bin/python -m splitsecond.benchmarks.leaderboard_throughput [--repeats 3] [--workers 2]

Plays the built-in part of ``benchmarks/configs/leaderboard-quick.toml`` (every agent whose spec
does not need the embedded model server: the StreetFighter round-robin and the HFTBench
sessions) from an empty results database, ``--repeats`` times per backend:

* ``serial``: :func:`play_match` in a loop in this process (no scheduling, no database), the
  reference;
* ``process-pool``: :func:`run_leaderboard` on a ``ProcessPoolExecutor`` (spawn) with
  ``--workers`` processes, pool start-up included (``first result s`` shows it);
* ``ray-local``: :func:`run_leaderboard` on a local Ray instance with ``--workers`` CPUs; the
  ``ray.init`` time is measured once and reported apart.

Matches per minute = matches / wall time of the run (medians over repeats). Writes
``benchmarks/results/leaderboard_throughput.json`` (machine info, date, medians, ratios vs
serial) and prints a rich table. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from splitsecond.benchmarks.leaderboard import (
    LeaderboardConfig,
    MatchFinished,
    load_config,
    play_match,
    run_leaderboard,
    schedule,
)
from splitsecond.benchmarks.leaderboard.config import SERVE_PLACEHOLDER
from splitsecond.benchmarks.machine import machine_info

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
QUICK = HERE / "configs" / "leaderboard-quick.toml"
RESULTS = HERE / "results" / "leaderboard_throughput.json"


def builtin_part(config: LeaderboardConfig) -> LeaderboardConfig:
    """``config`` without the agents that need the embedded server."""
    agents = tuple(a for a in config.agents if SERVE_PLACEHOLDER not in a.spec)
    return dataclasses.replace(config, agents=agents, serve=None)


def bench_serial(config: LeaderboardConfig) -> tuple[int, float]:
    """``(matches, seconds)`` playing every match in this process."""
    tasks = schedule(config)
    t0 = time.perf_counter()
    for task in tasks:
        play_match(task)
    return len(tasks), time.perf_counter() - t0


def bench_runner(
    config: LeaderboardConfig, workers: int, ray_address: str | None
) -> tuple[int, float, float]:
    """``(matches, seconds, seconds to the first result)`` of a full run into a fresh database."""
    first: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, MatchFinished) and not first:
            first.append(time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = run_leaderboard(
            config, Path(tmp) / "r.sqlite", workers=workers, ray_address=ray_address, on_event=on_event
        )
        wall = time.perf_counter() - t0
    if summary.status_counts.get("done", 0) + summary.status_counts.get("forfeit", 0) != summary.scheduled:
        raise RuntimeError(f"the benchmark run did not finish: {summary.status_counts}")
    return summary.played, wall, first[0]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON; returns the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = dataclasses.replace(builtin_part(load_config(QUICK)), save_replays=False)
    runs: dict[str, list[dict[str, float]]] = {"serial": [], "process-pool": []}
    for _ in range(args.repeats):
        n, s = bench_serial(config)
        runs["serial"].append({"matches": n, "wall_s": s})
        n, s, f = bench_runner(config, args.workers, None)
        runs["process-pool"].append({"matches": n, "wall_s": s, "first_result_s": f})
    ray_init_s = None
    if not args.no_ray:
        try:
            import ray
        except ImportError:
            logger.warning("ray is not installed: the Ray backend is skipped")
        else:
            t0 = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
            ray_init_s = time.perf_counter() - t0
            runs["ray-local"] = []
            try:
                for _ in range(args.repeats):
                    n, s, f = bench_runner(config, args.workers, "local")
                    runs["ray-local"].append({"matches": n, "wall_s": s, "first_result_s": f})
            finally:
                ray.shutdown()
    medians = {}
    for name, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        matches = rs[0]["matches"]
        medians[name] = {"matches": matches, "wall_s": wall, "matches_per_min": 60.0 * matches / wall}
        if "first_result_s" in rs[0]:
            medians[name]["first_result_s"] = statistics.median(r["first_result_s"] for r in rs)
    base = medians["serial"]["matches_per_min"]
    for m in medians.values():
        m["ratio_vs_serial"] = m["matches_per_min"] / base
    results = {
        "benchmark": "leaderboard_throughput",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": str(QUICK.relative_to(HERE.parent)),
        "part": "built-in agents only (no {serve} specs), save_replays=false",
        "workers": args.workers,
        "repeats": args.repeats,
        "ray_init_s": ray_init_s,
        "medians": medians,
        "runs": runs,
        "note": "shared 2-core machine: other jobs were running; numbers are noisy",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2), encoding="utf-8")

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"leaderboard throughput ({medians['serial']['matches']} matches, {args.workers} workers)"
    )
    for col in ("backend", "median wall s", "first result s", "matches/min", "vs serial"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for name, m in medians.items():
        first = f"{m['first_result_s']:.1f}" if "first_result_s" in m else "-"
        table.add_row(
            name, f"{m['wall_s']:.1f}", first, f"{m['matches_per_min']:.0f}", f"{m['ratio_vs_serial']:.2f}x"
        )
    console = Console()
    console.print(table)
    if ray_init_s is not None:
        console.print(f"ray.init: {ray_init_s:.1f} s (not included)")
    console.print(f"written {RESULTS}")
    return results


if __name__ == "__main__":
    main()
