"""Decode under CPU contention: the same 32-token request alone and beside a busy-loop process.

Issue 19 measured a 32-token request at 38 s with another process busy on one of two cores, against
1.1 s with ``--num-threads 1``: OpenMP threads spinning at barriers held the core that their
descheduled sibling needed. This benchmark starts ``splitsecond serve`` (SmolLM2-135M) three ways
and times one completion of exactly 32 tokens (``ignore_eos``, greedy), first with the machine as
it is, then beside a ``while True: pass`` process:

``default``
    what ``splitsecond serve`` does now: threads from the cores free to the process
    (``EngineConfig.resolved_num_threads``), OpenMP threads that sleep while they wait.
``spinning``
    the same threads with libgomp's own default wait (``GOMP_SPINCOUNT=300000``: spin, then sleep),
    i.e. the server before the fix.
``one-thread``
    ``--num-threads 1``, the workaround the issue found.

::

    python -m splitsecond.benchmarks.contention            # 5 requests per cell
    python -m splitsecond.benchmarks.contention --quick    # 3 per cell

Prints a table and writes ``benchmarks/results/contention.json``. The machine's 1-minute load
average is recorded per cell: on a shared machine "alone" is not idle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from splitsecond.benchmarks.machine import machine_info

RESULTS = Path(__file__).resolve().parent / "results" / "contention.json"
MODEL = "smollm2-135m"
TOKENS = 32
PROMPT = "The opponent jumps in from full screen. Describe, step by step, the best answer:"
CONFIGS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),
    "spinning": ([], {"GOMP_SPINCOUNT": "300000"}),
    "one-thread": (["--num-threads", "1"], {}),
}


def timed_request(base_url: str, timeout_s: float = 600.0) -> float:
    """Seconds for one greedy completion of exactly :data:`TOKENS` tokens."""
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": TOKENS, "ignore_eos": True, "temperature": 0}
    t0 = time.perf_counter()
    response = httpx.post(f"{base_url}/v1/completions", json=body, timeout=timeout_s)
    elapsed = time.perf_counter() - t0
    response.raise_for_status()
    produced = response.json()["usage"]["completion_tokens"]
    if produced != TOKENS:
        raise RuntimeError(f"expected {TOKENS} tokens, got {produced}")
    return elapsed


def measure(base_url: str, repeats: int) -> dict[str, Any]:
    """Median and every time of ``repeats`` requests, with the load average before them."""
    load = os.getloadavg()[0]
    times = [timed_request(base_url) for _ in range(repeats)]
    return {"median_s": statistics.median(times), "times_s": [round(t, 3) for t in times], "loadavg_1m": load}


def run_config(name: str, repeats: int) -> dict[str, Any]:
    """One server configuration: alone, then beside a busy loop."""
    from splitsecond.serving.server.launcher import start_server_subprocess

    args, env = CONFIGS[name]
    with start_server_subprocess(MODEL, extra_args=args, env=env) as server:
        timed_request(server.base_url)  # warm-up: first-call allocations and caches
        alone = measure(server.base_url, repeats)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            beside = measure(server.base_url, repeats)
        finally:
            busy.kill()
            busy.wait()
    return {"args": args, "env": env, "alone": alone, "busy": beside,
            "slowdown": beside["median_s"] / alone["median_s"]}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON."""
    from rich.console import Console
    from rich.table import Table

    from splitsecond.serving.config import EngineConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="3 requests per cell instead of 5")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 5
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "contention",
        "mode": "quick" if args.quick else "full",
        "model": MODEL,
        "tokens": TOKENS,
        "repeats": repeats,
        "default_threads": EngineConfig().resolved_num_threads(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": machine_info(),
        "configs": {},
    }
    for name in args.configs:
        results["configs"][name] = run_config(name, repeats)
    configs = results["configs"]
    if "default" in configs:
        results["comparison"] = {
            f"{name}_busy_over_default_busy": configs[name]["busy"]["median_s"]
            / configs["default"]["busy"]["median_s"]
            for name in configs
            if name != "default"
        }
    results["wall_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")

    table = Table(title=f"{TOKENS}-token request, {MODEL}, default threads {results['default_threads']}")
    for col in ("server", "alone s", "beside busy loop s", "slowdown", "load alone / busy"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, r in configs.items():
        table.add_row(
            name,
            f"{r['alone']['median_s']:.2f}",
            f"{r['busy']['median_s']:.2f}",
            f"{r['slowdown']:.1f}x",
            f"{r['alone']['loadavg_1m']:.1f} / {r['busy']['loadavg_1m']:.1f}",
        )
    Console(width=200).print(table)
    print(json.dumps(results.get("comparison", {}), indent=1))
    return results


if __name__ == "__main__":
    main()
