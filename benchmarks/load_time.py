"""Start-up time of each ladder model on the engine's default CPU path, cold and warm.

Run: ``python -m splitsecond.benchmarks.load_time [--models M ...] [--no-serve] [--no-repack]`` on an
otherwise idle machine. Every figure comes from a fresh process (imports not counted in ``engine``):

- ``engine cold``: ``LLMEngine(EngineConfig(model=M))`` with an empty prepared-weights cache (a
  temporary ``SPLITSECOND_CACHE_DIR`` whose ``models/``, ``kernels/`` and ``packed_fp16/`` link to the
  real ones, so nothing is re-assembled or compiled; no remembered file sums, so the GGUF is hashed):
  dequantise, pack for FBGEMM, store the packed entry;
- ``engine warm``: the same again, the entry now stored (every later start);
- ``serve warm``: ``splitsecond serve M`` to a ready ``/health`` on that cache;
- ``repack warm``: the previous default for comparison: the float32 prepared entry copied into the
  module, then ``pack_weights("fp16")`` (in the real cache folder, whose float32 entry a first call
  writes if missing).

Each process's peak resident memory is recorded too. JSON to ``benchmarks/results/load_time.json``; a
run of some models replaces their rows there and keeps the others' (so the ladder can be measured in
parts that each fit a short slot).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from splitsecond.benchmarks.machine import machine_info
from splitsecond.serving.loader.cache_dir import cache_root

RESULTS = Path(__file__).resolve().parent / "results" / "load_time.json"
LADDER = ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
SHARED = ("models", "kernels", "packed_fp16")
"""Cache sub-folders a cold start shares with the real cache (assembled models, compiled code)."""


def worker(mode: str, model: str) -> dict[str, Any]:
    """In a fresh process: load ``model`` the way ``mode`` says and time it (seconds, peak RSS in GB)."""
    import resource

    import torch

    from splitsecond.serving import EngineConfig
    from splitsecond.serving.engine.llm_engine import LLMEngine

    t0 = time.perf_counter()
    if mode == "engine":
        engine = LLMEngine(EngineConfig(model=model))
        packing = engine.weight_packing
    elif mode == "repack":
        from splitsecond.serving.loader.model_loader import load_model

        torch.set_num_threads(EngineConfig().resolved_num_threads())
        loaded = load_model(model, torch.float32, "cpu")
        packing = loaded.model.pack_weights("fp16")
    else:
        raise ValueError(f"unknown mode {mode!r}; use engine or repack")
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return {"seconds": seconds, "packing": packing, "peak_rss_gb": rss}


def _run_worker(mode: str, model: str, env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "splitsecond.benchmarks.load_time", "--worker", mode, model],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} {model} failed: {out.stderr.strip().splitlines()[-1:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def cold_root(parent: Path) -> Path:
    """A cache folder with no prepared weights and no remembered sums, sharing ``SHARED`` with the real one."""
    root = Path(tempfile.mkdtemp(prefix="load-time-", dir=parent))
    real = cache_root()
    for name in SHARED:
        if (real / name).exists():
            (root / name).symlink_to(real / name)
    return root


def serve_seconds(model: str, env: dict[str, str]) -> float:
    """Seconds from ``splitsecond serve`` to a ready ``/health``."""
    from splitsecond.serving.server import start_server_subprocess

    t0 = time.perf_counter()
    server = start_server_subprocess(model, env=env)
    seconds = time.perf_counter() - t0
    server.stop()
    return seconds


def bench_model(model: str, args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    """Every start-up figure of one model (see module docstring)."""
    task = progress.add_task(model, total=4)
    root = cold_root(Path(args.scratch) if args.scratch else Path(tempfile.gettempdir()))
    env = {"SPLITSECOND_CACHE_DIR": str(root)}
    res: dict[str, Any] = {"model": model}
    try:
        res["engine_cold"] = _run_worker("engine", model, env)
        progress.advance(task)
        res["entry_gb"] = sum(p.stat().st_size for p in (root / "prepared").glob("*.safetensors")) / 1e9
        res["engine_warm"] = _run_worker("engine", model, env)
        progress.advance(task)
        if not args.no_serve:
            res["serve_warm_s"] = serve_seconds(model, env)
        progress.advance(task)
        if not args.no_repack:
            _run_worker("repack", model, {})  # writes the float32 entry if this machine has none
            res["repack_warm"] = _run_worker("repack", model, {})
        progress.advance(task)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return res


def _order(model: str) -> int:
    return LADDER.index(model) if model in LADDER else len(LADDER)


def print_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """One row per model: engine cold / warm, serve warm, the previous warm path, memory."""
    t = Table(title="Start-up time, default CPU path (float32 activations, FBGEMM fp16 weights)")
    for col in ("model", "engine cold s", "engine warm s", "serve warm s", "before: repack warm s",
                "warm speed-up", "entry GB", "peak RSS warm GB"):  # fmt: skip
        t.add_column(col)

    def num(x, fmt=".1f"):
        return "-" if x is None else format(x, fmt)

    for r in rows:
        before = (r.get("repack_warm") or {}).get("seconds")
        warm = r["engine_warm"]["seconds"]
        t.add_row(
            r["model"],
            num(r["engine_cold"]["seconds"]),
            num(warm),
            num(r.get("serve_warm_s")),
            num(before),
            "-" if before is None else f"{before / warm:.1f}x",
            num(r.get("entry_gb"), ".2f"),
            num(r["engine_warm"]["peak_rss_gb"]),
        )
    console.print(t)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, measure each model, print the table and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(LADDER))
    ap.add_argument("--no-serve", action="store_true", help="skip the time from `serve` to a ready /health")
    ap.add_argument("--no-repack", action="store_true", help="skip the previous path (float32 entry + pack)")
    ap.add_argument("--scratch", default=None, help="folder for the cold caches (default: the temp folder)")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--worker", nargs=2, metavar=("MODE", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        result = worker(*args.worker)
        print(json.dumps(result))
        return result
    console = Console()
    results: dict[str, Any] = {
        "benchmark": "load_time",
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "machine": machine_info(),
        "models": [],
    }
    with Progress(console=console, transient=True) as progress:
        for model in args.models:
            results["models"].append(bench_model(model, args, progress))
            console.log(f"{model}: done")
    results["machine"]["loadavg_1m_after"] = os.getloadavg()[0]
    print_table(console, results["models"])
    m = results["machine"]
    console.print(f"{m['cpu']}, {m['cores']} cores, AVX-512: {m['avx512']}; load average "
                  f"{m['loadavg_1m']:.2f} before, {m['loadavg_1m_after']:.2f} after.")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # runs of some models update their rows and keep the others'
        measured = set(args.models)
        kept = [r for r in json.loads(out.read_text()).get("models", []) if r["model"] not in measured]
        results["models"] = sorted(kept + results["models"], key=lambda r: _order(r["model"]))
    out.write_text(json.dumps(results, indent=1))
    console.print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
