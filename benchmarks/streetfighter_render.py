"""How long does StreetFighter-v0 take to draw a frame? ``rgb_array`` rendering over a scripted match.

Run::

    .venv/bin/python -m splitsecond.benchmarks.streetfighter_render [--frames 600] [--repeats 3]

Plays a scripted match (``rushdown`` against ``zoner`` in the multi-agent env, 100 ms and 150 ms
of latency, so both decision panels count down), then re-simulates it from its replay and times
:func:`~splitsecond.envs.streetfighter.render.render_frame` on every frame, with the decision
log, with and without ``show_hitboxes``. Reports the median, 90th and 99th percentile and the
maximum milliseconds per frame (the median is the figure to compare with the 5 ms budget; the
tail is noisy on a shared machine), the process CPU time per frame, and the share of frames that
showed each pose. Writes ``benchmarks/results/streetfighter_render.json``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import splitsecond  # noqa: F401  (registers the env ids)
from splitsecond.benchmarks.machine import machine_info
from splitsecond.envs.streetfighter import Replay, make_opponent, multi_env
from splitsecond.envs.streetfighter.engine import Simulation
from splitsecond.envs.streetfighter.render import render_frame
from splitsecond.envs.streetfighter.render_pose import fighter_pose

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "streetfighter_render.json"
BUDGET_MS = 5.0


def scripted_match(frames: int, seed: int = 0) -> Replay:
    """A ``rushdown`` (P1, 100 ms) vs ``zoner`` (P2, 150 ms) match of at least ``frames`` frames, as a replay."""
    env = multi_env(
        characters=("kai", "zara"),
        clock="fixed",
        latency_ms={"player_0": 100.0, "player_1": 150.0},
        text=False,
    )
    env.reset(seed=seed)
    bots = {
        "player_0": make_opponent("rushdown", seed=seed + 1),
        "player_1": make_opponent("zoner", seed=seed + 2),
    }
    while env.simulation.frame < frames and env.agents:
        agent = env.agent_selection
        if env.terminations[agent] or env.truncations[agent]:
            break
        env.step(bots[agent].act(env.observe(agent)))
    return env.replay


def time_frames(replay: Replay, frames: int, show_hitboxes: bool) -> dict[str, Any]:
    """Render the first ``frames`` frames of ``replay`` one by one; per-frame timings and pose counts."""
    decisions = [tuple(row) for row in replay.meta.get("decisions", [])]
    wall: list[float] = []
    cpu: list[float] = []
    poses: collections.Counter[str] = collections.Counter()

    def on_frame(sim: Simulation) -> None:
        if len(wall) >= frames:
            return
        t0, c0 = time.perf_counter(), time.process_time()
        render_frame(sim, show_hitboxes=show_hitboxes, decisions=decisions)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        for f in sim.fighters:
            poses[fighter_pose(f, sim.frame).name] += 1

    replay.resimulate(until=min(frames, replay.final_frame), on_frame=on_frame)
    ms = sorted(w * 1000 for w in wall)

    def pct(q: float) -> float:
        return round(ms[min(len(ms) - 1, int(q * len(ms)))], 3)

    return {
        "frames": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(ms[-1], 3),
        "cpu_median_ms": round(statistics.median(cpu) * 1000, 3),
        "poses": dict(poses.most_common()),
    }


def run(frames: int, repeats: int) -> dict[str, Any]:
    """Time both configurations ``repeats`` times (the run with the lowest median is kept); write the JSON."""
    replay = scripted_match(frames)
    render_frame(Simulation(replay.config))  # warm the glyph and background caches
    configs: dict[str, Any] = {}
    for name, hitboxes in (("rgb_array", False), ("rgb_array + show_hitboxes", True)):
        runs = [time_frames(replay, frames, hitboxes) for _ in range(repeats)]
        configs[name] = min(runs, key=lambda r: r["median_ms"])
        configs[name]["median_ms_per_repeat"] = [r["median_ms"] for r in runs]
    results = {
        "benchmark": "streetfighter_render",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "budget_ms": BUDGET_MS,
        "match": "rushdown (kai, 100 ms) vs zoner (zara, 150 ms), multi-agent env, fixed clock, seed 0",
        "frames_per_run": frames,
        "repeats": repeats,
        "configs": configs,
        "budget_met": all(c["median_ms"] < BUDGET_MS for c in configs.values()),
        "notes": "shared 2-core machine: other processes run concurrently, so the tail (p99, max) is noisy; "
        "the median of the best repeat is the figure compared with the budget.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return results


def print_table(results: dict[str, Any]) -> None:
    """Render the results as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"StreetFighter-v0 render_frame, ms per frame ({results['frames_per_run']} frames)")
    for col in ("configuration", "median", "p90", "p99", "max", "cpu median", "medians per repeat"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for name, r in results["configs"].items():
        table.add_row(
            name,
            f"{r['median_ms']:.2f}",
            f"{r['p90_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['max_ms']:.2f}",
            f"{r['cpu_median_ms']:.2f}",
            " ".join(f"{m:.2f}" for m in r["median_ms_per_repeat"]),
        )
    console = Console()
    console.print(table)
    console.print(f"budget < {BUDGET_MS} ms median: {'met' if results['budget_met'] else 'NOT met'}")
    console.print(f"written to {RESULTS}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="frames rendered per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration (best median kept)")
    args = parser.parse_args()
    if args.frames < 10 or args.repeats < 1:
        parser.error("--frames must be >= 10 and --repeats >= 1")
    print_table(run(args.frames, args.repeats))


if __name__ == "__main__":
    main()
