"""How fast does StreetFighter-v0 step? Headless env steps per second, single and vectorised.

Run::

    .venv/bin/python -m splitsecond.benchmarks.streetfighter_steps [--steps 20000] [--repeats 5]

Measures, each ``--repeats`` times (median reported), with random actions and the fixed clock:

* the raw env (``StreetFighterEnv``) at 0 ms latency (one frame per step) with and without
  ``info["text"]``, against the default opponent and against the frame-perfect punisher (which
  decides every frame), and at 50 ms latency (four frames per step);
* ``gymnasium.make`` (with its checker/order wrappers);
* ``SyncVectorEnv`` and ``AsyncVectorEnv`` over 2 envs (env steps = 2 x vector steps);
* the engine alone (``Simulation.step_frame``), frames per second.

Writes ``benchmarks/results/streetfighter_steps.json`` with machine info, medians, ratios and the
top cProfile entries of the single-env configuration, and prints a rich table. The goal is
>= 20 000 env steps/s for a single env on one core; the numbers are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import logging
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

import splitsecond  # noqa: F401  (registers the env ids)
from splitsecond.benchmarks.machine import machine_info
from splitsecond.envs.streetfighter import StreetFighterEnv
from splitsecond.envs.streetfighter.engine import Simulation

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "streetfighter_steps.json"
GOAL_STEPS_PER_S = 20_000


def _actions(n: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(0, 28, size=n).tolist()


def bench_env(make: Callable[[], gymnasium.Env], steps: int) -> float:
    """Env steps per second of one env over ``steps`` random actions (auto-resetting)."""
    env = make()
    env.reset(seed=0)
    actions = _actions(steps)
    step = env.step
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = step(a)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - t0
    env.close()
    return steps / elapsed


def bench_vector(kind: str, n_envs: int, steps: int) -> float:
    """Env steps per second (``n_envs`` x vector steps) of a Sync/Async vector env."""
    fns = [lambda: StreetFighterEnv(clock="fixed") for _ in range(n_envs)]
    venv = gymnasium.vector.SyncVectorEnv(fns) if kind == "sync" else gymnasium.vector.AsyncVectorEnv(fns)
    venv.reset(seed=0)
    vsteps = steps // n_envs
    actions = np.random.default_rng(0).integers(0, 28, size=(vsteps, n_envs))
    t0 = time.perf_counter()
    for a in actions:
        venv.step(a)
    elapsed = time.perf_counter() - t0
    venv.close()
    return vsteps * n_envs / elapsed


def bench_engine(frames: int) -> float:
    """Engine frames per second with random inputs every 4 frames, no observations."""
    sim = Simulation()
    inputs = _actions(frames // 2)
    t0 = time.perf_counter()
    for i in range(frames):
        if i % 4 == 0:
            sim.set_input(0, inputs[i // 2])
            sim.set_input(1, inputs[i // 2 + 1])
        sim.step_frame()
        if sim.over:
            sim.reset()
    return frames / (time.perf_counter() - t0)


def profile_single(steps: int, top: int = 15) -> list[dict[str, Any]]:
    """cProfile of the default single-env configuration: the ``top`` entries by own time."""
    prof = cProfile.Profile()
    prof.enable()
    bench_env(lambda: StreetFighterEnv(clock="fixed"), steps)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({func})",
                "calls": ncalls,
                "tottime_s": round(tottime, 4),
                "cumtime_s": round(cumtime, 4),
            }
        )
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    total = sum(r["tottime_s"] for r in rows) or 1.0
    for r in rows:
        r["share"] = round(r["tottime_s"] / total, 3)
    return rows[:top]


def run(steps: int = 20_000, repeats: int = 5) -> dict[str, Any]:
    """Run every configuration ``repeats`` times; return the results dict (also written to JSON)."""
    from rich.progress import Progress

    configs: dict[str, Callable[[], float]] = {
        "single (text, rushdown, 0 ms)": lambda: bench_env(lambda: StreetFighterEnv(clock="fixed"), steps),
        "single (no text, rushdown, 0 ms)": lambda: bench_env(
            lambda: StreetFighterEnv(clock="fixed", text=False), steps
        ),
        "single (text, punisher, 0 ms)": lambda: bench_env(
            lambda: StreetFighterEnv(clock="fixed", opponent="punisher"), steps
        ),
        "single (text, rushdown, 50 ms)": lambda: bench_env(
            lambda: StreetFighterEnv(clock="fixed", latency_ms=50), steps
        ),
        "gymnasium.make (text, 0 ms)": lambda: bench_env(
            lambda: gymnasium.make("splitsecond/StreetFighter-v0", clock="fixed"), steps
        ),
        "SyncVectorEnv x2": lambda: bench_vector("sync", 2, steps),
        "AsyncVectorEnv x2": lambda: bench_vector("async", 2, steps),
        "engine only (frames/s)": lambda: bench_engine(steps * 2),
    }
    samples: dict[str, list[float]] = {name: [] for name in configs}
    with Progress() as progress:
        task = progress.add_task("streetfighter steps", total=len(configs) * repeats)
        for _ in range(repeats):
            for name, fn in configs.items():  # interleaved, so load spikes hit every config alike
                samples[name].append(fn())
                progress.advance(task)
    medians = {name: statistics.median(v) for name, v in samples.items()}
    base = medians["single (text, rushdown, 0 ms)"]
    results = {
        "benchmark": "streetfighter_steps",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(numpy=np.__version__, gymnasium=gymnasium.__version__),
        "steps_per_run": steps,
        "repeats": repeats,
        "goal_single_env_steps_per_s": GOAL_STEPS_PER_S,
        "configs": {
            name: {
                "median_steps_per_s": round(medians[name]),
                "min": round(min(samples[name])),
                "max": round(max(samples[name])),
                "ratio_vs_single": round(medians[name] / base, 3),
                "samples": [round(s) for s in samples[name]],
            }
            for name in configs
        },
        "goal_met": base >= GOAL_STEPS_PER_S,
        "profile_top": profile_single(steps),
        "notes": "shared 2-core machine: other processes run concurrently, so numbers are noisy; "
        "a step is one frame at 0 ms latency and four frames at 50 ms.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return results


def print_table(results: dict[str, Any]) -> None:
    """Render the results as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"StreetFighter-v0 steps/s (median of {results['repeats']}, {results['steps_per_run']} steps)"
    )
    for col in ("configuration", "median", "min", "max", "vs single"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for name, r in results["configs"].items():
        table.add_row(
            name,
            f"{r['median_steps_per_s']:,}",
            f"{r['min']:,}",
            f"{r['max']:,}",
            f"{r['ratio_vs_single']:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"goal >= {GOAL_STEPS_PER_S:,} single-env steps/s: {'met' if results['goal_met'] else 'NOT met'}"
    )
    prof = Table(title="where the time goes (cProfile, single env, own time)")
    for col in ("function", "calls", "tottime s", "share"):
        prof.add_column(col, justify="left" if col == "function" else "right")
    for r in results["profile_top"][:10]:
        prof.add_row(r["function"], str(r["calls"]), f"{r['tottime_s']:.3f}", f"{r['share']:.1%}")
    console.print(prof)
    console.print(f"written to {RESULTS}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per configuration (median reported)")
    args = parser.parse_args()
    if args.steps < 100 or args.repeats < 1:
        parser.error("--steps must be >= 100 and --repeats >= 1")
    print_table(run(args.steps, args.repeats))


if __name__ == "__main__":
    main()
