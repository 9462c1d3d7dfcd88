"""The stack ablation: the same agents, seeds and opponents with each layer of the stack off and on.

::

    python -m splitsecond.benchmarks.stack --quick           # SmolLM2-135M, a few short matches, < 10 min
    python -m splitsecond.benchmarks.stack --config benchmarks/configs/leaderboard-stack.toml

The composed config (a leaderboard with a ``[stack]``) is the ``all`` arm; the others are derived from
it by switching layers off, and every arm is a full leaderboard run of its own (its own servers, edges
and plan cache store, under ``runs/benchmarks/stack/<arm>``):

=============  ===========  =================  ==============
arm            KV tier      agents' route      plan cache
=============  ===========  =================  ==============
``engine``     recompute    the server         off
``flash``      the config's the server         off
``edge``       recompute    the worker's edge  off
``plan-cache`` recompute    the server         ``apc/``
``all``        the config's the worker's edge  ``apc/``
=============  ===========  =================  ==============

Per arm: median and p95 wall time of the LLM agents' decisions, tokens the servers computed (prompt
tokens not served by the prefix cache, plus generated ones), server busy time, the LLM agents' score
(StreetFighter win rate, draws half; HFTBench mean PnL, and mean daily yield where the session ran
long enough to report one), and each layer's hits: prefix-cache
hit rate, flash swap-ins and prefix blocks restored from flash (with the prefill time they saved,
estimated at the arm's own cost per computed token), draft tokens accepted by the server, plan cache
hits. The table is printed and the JSON written to ``benchmarks/results/stack.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import shutil
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from splitsecond.benchmarks.leaderboard import LeaderboardConfig, ResultsDB, config_from_dict, load_config
from splitsecond.benchmarks.leaderboard.runner import PLANS_FILE, run_leaderboard
from splitsecond.benchmarks.leaderboard.stack_runtime import read_stack_stats, stop_on_sigterm
from splitsecond.benchmarks.machine import machine_info

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "stack.json"
RUNS = Path("runs") / "benchmarks" / "stack"

ARMS: dict[str, dict[str, bool]] = {
    "engine": {"flash": False, "edge": False, "plan_cache": False},
    "flash": {"flash": True, "edge": False, "plan_cache": False},
    "edge": {"flash": False, "edge": True, "plan_cache": False},
    "plan-cache": {"flash": False, "edge": False, "plan_cache": True},
    "all": {"flash": True, "edge": True, "plan_cache": True},
}
"""Which layers each arm keeps on."""

_EDGE_RE = re.compile(r"\{edge:([^{}]*)\}")

QUICK_SPEC = "?thinking={thinking}&prompt=compact"


def quick_config() -> LeaderboardConfig:
    """The ``--quick`` stack: SmolLM2-135M served with a flash tier under a KV budget below two agents'
    prompts, a suffix-drafting edge per worker 10 ms away, plan-cached agents adapting with the same
    model; two LLM agents play a scripted fighter on both sides (a gauntlet on it) and trade against
    each other and a scripted trader, six decisions a match (the five arms in under 10 minutes on two
    AVX2 cores; the planner still plans twice a match, so the plan cache is looked up and fed)."""
    model = "openai/smollm2-135m"
    return config_from_dict(
        {
            "leaderboard": {
                "name": "stack-quick",
                "seeds": [1],
                "act_timeout_s": 180.0,
                "max_attempts": 2,
                "max_decisions": 6,
                "save_replays": False,
                "bootstrap": 50,
            },
            "serve": [{"name": "engine", "model": "smollm2-135m", "args": ["--num-threads", "1"]}],
            "stack": {
                "servers": {"engine": {"kv_tier": "flash", "zone_size_mb": 256, "num_kv_blocks": 160}},
                "edges": {"edge": {"server": "engine", "draft": "suffix", "rtt_ms": 10.0}},
                "plan_cache": {"store": "sqlite", "adapter": f"{model}@{{serve:engine}}"},
            },
            "envs": {
                "streetfighter": {
                    "characters": [["kai", "kai"]],
                    "round_seconds": 5,
                    "rounds_to_win": 1,
                    "pairing": "gauntlet",
                },
                "hftbench": {"session_seconds": 10, "decision_interval_ms": 1000},
            },
            "agents": [
                {
                    "name": "llm-reflex",
                    "spec": f"apc/{model}@{{edge:edge}}" + QUICK_SPEC.format(thinking="reflex"),
                    "latency": "token:smollm2-135m-cpu,rtt=10",
                },
                {
                    "name": "llm-planner",
                    "spec": f"apc/{model}@{{edge:edge}}" + QUICK_SPEC.format(thinking="plan:2"),
                    "latency": "token:smollm2-135m-cpu,rtt=10",
                },
                {"spec": "zoner", "anchor": True},
                {"spec": "hft-random", "latency": "fixed:50"},
            ],
        },
        default_name="stack-quick",
    )


def arm_config(config: LeaderboardConfig, arm: str) -> LeaderboardConfig:
    """``config`` with the layers ``arm`` switches off taken out (see :data:`ARMS`)."""
    if config.stack is None:
        raise ValueError(f"the ablation needs a config with a [stack]; {config.name!r} has none")
    layers = ARMS[arm]
    stack = config.stack
    edges = stack.edges

    def spec(text: str) -> str:
        if not layers["edge"]:
            text = _EDGE_RE.sub(lambda m: "{serve:" + edges[m.group(1).strip()].server + "}", text)
        if not layers["plan_cache"]:
            text = text.removeprefix("apc/")
        return text

    servers = {
        name: dataclasses.replace(stack.server(name), kv_tier=stack.server(name).kv_tier)
        if layers["flash"]
        else dataclasses.replace(stack.server(name), kv_tier="recompute", zone_path=None, zone_size_mb=None)
        for name in config.serve_entries()
    }
    agents = tuple(dataclasses.replace(a, spec=spec(a.spec)) for a in config.agents)
    new_stack = dataclasses.replace(stack, servers=servers, edges=edges if layers["edge"] else {})
    return dataclasses.replace(config, name=f"{config.name}-{arm}", agents=agents, stack=new_stack)


def llm_names(config: LeaderboardConfig) -> set[str]:
    """Participants whose spec talks to a model."""
    from splitsecond.benchmarks.leaderboard.config import spec_model

    return {p.name for p in config.participants() if spec_model(p.spec) is not None}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_arm(config: LeaderboardConfig, db_path: Path) -> dict[str, Any]:
    """Read an arm's results database and stack counters into its row of the table."""
    llms = llm_names(config)
    latencies: list[float] = []
    wins = games = 0.0
    yields: list[float] = []
    pnls: list[float] = []
    errors = decisions = 0
    with ResultsDB(db_path) as db:
        played = db.matches(config.name, statuses=("done", "forfeit"))
        for row in played:
            seats = row["outcome"]["seats"]
            for seat in seats:
                if seat["name"] not in llms:
                    continue
                latencies += seat.get("measured_ms", [])
                errors += seat["errors"]
                decisions += seat["decisions"]
                if row["env"] == "streetfighter":
                    others = [s for s in seats if s is not seat]
                    games += 1
                    if seat["rank"] == 0:
                        wins += 0.5 if others and others[0]["rank"] == 0 else 1.0
                else:
                    pnls.append(float(seat["metrics"].get("pnl", seat["score"])))
                    value = seat["metrics"].get("daily_yield_pct")
                    if value is not None:
                        yields.append(float(value))
    runs = read_stack_stats(db_path.parent)  # a resumed arm: every run's counters, summed
    rows = [row for stack in runs for row in stack.values()]
    servers = [row.get("engine_stats") or {} for row in rows if row["kind"] == "server"]
    edges = [row.get("engine_stats") or {} for row in rows if row["kind"] == "edge"]

    def total(rows: list[dict[str, Any]], key: str) -> float:
        return sum(float(r.get(key, 0) or 0) for r in rows)

    queries, hits = total(servers, "prefix_cache_queries"), total(servers, "prefix_cache_hits")
    computed = queries - hits + total(servers, "generation_tokens_total")
    busy = total(servers, "busy_seconds")
    restored = total(servers, "kv_prefix_blocks_restored")
    block = max((int(r.get("block_size", 16)) for r in servers), default=16)
    cost = busy / computed if computed else 0.0
    times = [datetime.fromisoformat(t) for r in played for t in (r["started_at"], r["finished_at"]) if t]
    return {
        "matches": len(played),
        "play_wall_s": (max(times) - min(times)).total_seconds() if times else None,
        "llm_decisions": decisions,
        "llm_errors": errors,
        "decision_ms_p50": statistics.median(latencies) if latencies else None,
        "decision_ms_p95": _percentile(latencies, 0.95),
        "server_tokens_computed": int(computed),
        "server_busy_s": round(busy, 2),
        "sf_win_rate": round(wins / games, 3) if games else None,
        "hft_daily_yield_pct": round(statistics.mean(yields), 4) if yields else None,
        "hft_mean_pnl": round(statistics.mean(pnls), 4) if pnls else None,
        "prefix_cache_hit_rate": round(hits / queries, 3) if queries else None,
        "flash_swap_ins": int(total(servers, "kv_swap_ins")),
        "flash_swap_outs": int(total(servers, "kv_swap_outs")),
        "flash_prefix_blocks_restored": int(restored),
        "flash_bytes_in": int(total(servers, "kv_swap_in_bytes")),
        "flash_saved_prefill_s_est": round(restored * block * cost, 2),
        "edge_draft_tokens": int(total(servers, "spec_draft_tokens")),
        "edge_accepted_tokens": int(total(servers, "spec_accepted_tokens")),
        "edge_rounds": int(total(edges, "spec_rounds")),
        "plan_cache": _plan_cache(db_path.parent / PLANS_FILE),
        "restarts": sum(int(row.get("restarts", 0)) for row in rows),
        "stack_runs": len(runs),
    }


def agent_rows(config: LeaderboardConfig, db_path: Path) -> dict[str, dict[str, Any]]:
    """Per participant of a played run: matches, decisions, errors, fallbacks and timeouts, p50/p95
    wall time of its model calls, StreetFighter wins/draws/losses (against scripted opponents and
    in all) and HFTBench PnL."""
    llms = llm_names(config)
    rows: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    with ResultsDB(db_path) as db:
        for match in db.matches(config.name, statuses=("done", "forfeit")):
            seats = match["outcome"]["seats"]
            for seat in seats:
                row = rows.setdefault(
                    seat["name"],
                    {"llm": seat["name"] in llms, "matches": 0, "decisions": 0, "errors": 0, "fallbacks": 0,
                     "timeouts": 0, "sf_vs_scripted": [0, 0, 0], "sf_all": [0, 0, 0], "hft_pnl": []},
                )  # fmt: skip
                row["matches"] += 1
                for key in ("decisions", "errors", "fallbacks", "timeouts"):
                    row[key] += int(seat[key])
                latencies.setdefault(seat["name"], []).extend(seat.get("measured_ms", []))
                if match["env"] == "hftbench":
                    row["hft_pnl"].append(round(float(seat["metrics"].get("pnl", seat["score"])), 2))
                    continue
                other = next(s for s in seats if s is not seat)
                result = 0 if seat["rank"] < other["rank"] else 1 if seat["rank"] == other["rank"] else 2
                row["sf_all"][result] += 1
                if other["name"] not in llms:
                    row["sf_vs_scripted"][result] += 1
    for name, row in rows.items():
        values = latencies.get(name, [])
        row["call_ms_p50"] = round(statistics.median(values), 1) if values else None
        row["call_ms_p95"] = round(_percentile(values, 0.95), 1) if values else None
    return rows


def _plan_cache(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    from splitsecond.cache.metrics import CacheMetrics
    from splitsecond.cache.stores import open_store

    store = open_store(str(path))
    try:
        summary = CacheMetrics.from_counters(store.counters()).summary()
        summary["entries"] = store.count()
    finally:
        store.close()
    return {
        k: v
        for k, v in summary.items()
        if k in ("lookups", "hits", "misses", "false_hits", "hit_rate", "inserts", "tokens_saved", "entries")
    }


def run_ablation(
    config: LeaderboardConfig,
    arms: list[str],
    root: Path,
    workers: int,
    on_arm: Any = None,
    measure_only: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run every arm (fresh, one after the other) and measure it; ``{arm: row}``. ``on_arm(rows)`` is
    called after each arm; ``measure_only`` measures the run folders an earlier run left instead."""
    rows: dict[str, dict[str, Any]] = {}
    for arm in arms:
        cfg = arm_config(config, arm)
        folder = root / arm
        db_path = folder / "results.sqlite"
        if measure_only:
            if db_path.exists():
                rows[arm] = measure_arm(cfg, db_path)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("arm %s: %s", arm, ", ".join(f"{k} {'on' if v else 'off'}" for k, v in ARMS[arm].items()))
        t0 = time.perf_counter()
        summary = run_leaderboard(cfg, db_path, workers=workers, poll_s=0.1)
        rows[arm] = {"wall_s": round(time.perf_counter() - t0, 1), **measure_arm(cfg, db_path)}
        rows[arm]["matches_played_now"] = summary.played
        rows[arm]["interrupted"] = summary.interrupted
        logger.info("arm %s: %s", arm, rows[arm])
        if on_arm is not None:
            on_arm(rows)
        if summary.interrupted:
            logger.warning("interrupted during arm %s: the arms after it are not run", arm)
            break
    return rows


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    """The ablation table on the console."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="stack ablation (wall-clock decision latency of the LLM agents)")
    columns = [
        ("arm", None),
        ("p50 ms", "decision_ms_p50"),
        ("p95 ms", "decision_ms_p95"),
        ("server tokens", "server_tokens_computed"),
        ("busy s", "server_busy_s"),
        ("SF win", "sf_win_rate"),
        ("HFT PnL", "hft_mean_pnl"),
        ("prefix hit", "prefix_cache_hit_rate"),
        ("flash in / blocks", None),
        ("drafts acc/sent", None),
        ("plan hits", None),
    ]
    for title, _ in columns:
        table.add_column(title, justify="right")
    for arm, r in rows.items():
        table.add_row(
            arm,
            _fmt(r["decision_ms_p50"]),
            _fmt(r["decision_ms_p95"]),
            _fmt(r["server_tokens_computed"]),
            _fmt(r["server_busy_s"], 1),
            _fmt(r["sf_win_rate"], 2),
            _fmt(r["hft_mean_pnl"], 2),
            _fmt(r["prefix_cache_hit_rate"], 2),
            f"{r['flash_swap_ins']} / {r['flash_prefix_blocks_restored']}",
            f"{r['edge_accepted_tokens']}/{r['edge_draft_tokens']}",
            _fmt(r["plan_cache"].get("hits")),
        )
    Console().print(table)


def measure_run(
    config: LeaderboardConfig,
    db_path: Path,
    out: Path,
    seeds: int | None = None,
    max_decisions: int | None = None,
) -> dict[str, Any]:
    """Measure one played run of ``config`` (resized as it was run, see
    :func:`~splitsecond.benchmarks.leaderboard.config.resize_config`): the stack's row (as an arm's)
    and every agent's; printed, and written to ``out``."""
    from rich.console import Console
    from rich.table import Table

    from splitsecond.benchmarks.leaderboard.config import resize_config

    if not db_path.exists():
        raise SystemExit(f"no results database at {db_path}")
    config = resize_config(config, seeds=seeds, max_decisions=max_decisions)
    with ResultsDB(db_path) as db:
        counts = db.status_counts(config.name)
    result = {
        "benchmark": "stack",
        "setting": f"run of {config.name}",
        "seeds": seeds,
        "max_decisions": max_decisions,
        "status_counts": counts,
        "stack": measure_arm(config, db_path),
        "agents": agent_rows(config, db_path),
        "machine": machine_info(),
    }
    table = Table(title=f"{config.name}: {counts}")
    for title in ("agent", "matches", "decisions", "errors", "fallbacks", "p50 / p95 call ms", "SF W-D-L vs scripted", "HFT PnL"):  # fmt: skip
        table.add_column(title, justify="right")
    for name, r in result["agents"].items():
        table.add_row(
            name, str(r["matches"]), str(r["decisions"]), str(r["errors"]), str(r["fallbacks"]),
            f"{_fmt(r['call_ms_p50'])} / {_fmt(r['call_ms_p95'])}", "-".join(map(str, r["sf_vs_scripted"])),
            ", ".join(map(str, r["hft_pnl"])) or "-",
        )  # fmt: skip
    Console().print(table)
    Console().print_json(data=result["stack"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(f"wrote {out}")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the ablation (see the module docstring); returns what it wrote."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="SmolLM2-135M, a few short matches (< 10 min).")
    parser.add_argument("--config", type=Path, default=None, help="A leaderboard config with a [stack].")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"Comma-separated arms of {', '.join(ARMS)}.")
    parser.add_argument("--workers", type=int, default=2, help="Matches at once (and edges per kind).")
    parser.add_argument("--runs", type=Path, default=RUNS, help="Where each arm's run folder goes.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--measure-only", action="store_true", help="Measure the arms' run folders again without playing."
    )
    parser.add_argument(
        "--measure-run",
        type=Path,
        default=None,
        help="Measure one played leaderboard run of --config (its results database; e.g. the canonical "
        "stack run) instead of running arms: the stack's figures and each agent's, written to --out.",
    )
    parser.add_argument("--seeds", type=int, default=None, help="With --measure-run: the run's --seeds.")
    parser.add_argument(
        "--max-decisions", type=int, default=None, help="With --measure-run: the run's --max-decisions."
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.quick == (args.config is not None):
        parser.error("give --quick or --config")
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; valid: {', '.join(ARMS)}")
    config = quick_config() if args.quick else load_config(args.config)
    if args.measure_run is not None:
        return measure_run(
            config, args.measure_run, args.out, seeds=args.seeds, max_decisions=args.max_decisions
        )
    t0 = time.perf_counter()
    result: dict[str, Any] = {}

    def write(rows: dict[str, dict[str, Any]]) -> None:  # after every arm: a cut-short run keeps its arms
        result.update(
            benchmark="stack",
            setting="quick" if args.quick else str(args.config),
            config=config.name,
            arms=rows,
            layers={arm: ARMS[arm] for arm in rows},
            wall_s=round(time.perf_counter() - t0, 1),
            machine=machine_info(),
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")

    rows = run_ablation(config, arms, args.runs, args.workers, on_arm=write, measure_only=args.measure_only)
    if args.measure_only:
        write(rows)
    print_table(rows)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
