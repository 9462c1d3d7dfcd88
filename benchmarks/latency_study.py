"""The latency study: what an LLM agent wins or loses when it thinks slower, measured on our own ladder.

::

    python -m splitsecond.benchmarks.latency_study --quick     # ~10 minutes on a 2-core CPU
    python -m splitsecond.benchmarks.latency_study             # the full study (a night)

Runs the leaderboard ``benchmarks/configs/latency-study[-quick].toml`` (each ladder model x thinking
style x latency model against the scripted anchors; see the config), writes its report under
``runs/leaderboards/<name>/report`` and then checks the agents issue's goals on the stored outcomes
(:func:`study_goals`):

* StreetFighter, quality alone (``paused`` latency): each LLM agent's record against ``random``
  (wins / losses / draws, the win share of decided matches with a 95 % Wilson interval) and the
  scripted fighters it beats more often than it loses to;
* HFTBench, quality alone: each LLM agent's mean daily yield against ``hft-random`` over the same
  sessions, the paired difference with a 95 % t interval;
* every LLM agent's fallback share and the share of its prompt tokens the prefix cache served,
  per model.

The figures go to ``benchmarks/results/latency_study[_quick].json`` and a table on stdout. The
leaderboard resumes: a second run plays only what is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
RANDOM_FIGHTER = "random"
RANDOM_TRADER = "hft-random"
QUALITY_LATENCY = "paused"
Z95 = 1.959964
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95 % t interval of ``values`` (``nan`` bounds with fewer than two values)."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = statistics.fmean(values)
    if n < 2:
        return (mean, math.nan, math.nan)
    t = _T95.get(n - 1, Z95 if n > 31 else 2.05)
    half = t * statistics.stdev(values) / math.sqrt(n)
    return (mean, mean - half, mean + half)


@dataclass
class FighterRecord:
    """An LLM agent's StreetFighter record against one opponent (all seeds, characters and sides)."""

    opponent: str
    wins: int = 0
    losses: int = 0
    draws: int = 0

    @property
    def matches(self) -> int:
        """Matches played."""
        return self.wins + self.losses + self.draws

    def win_share(self) -> tuple[float, float, float]:
        """Share of matches won (draws count half) with its 95 % Wilson interval."""
        n = self.matches
        won = self.wins + 0.5 * self.draws
        low, high = wilson_interval(won, n)
        return (won / n if n else math.nan, low, high)


@dataclass
class AgentFigures:
    """What the study measured for one LLM participant."""

    name: str
    model: str | None
    latency: str
    decisions: int = 0
    fallbacks: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    median_latency_ms: float | None = None
    records: dict[str, FighterRecord] = field(default_factory=dict)
    yields: dict[int, float] = field(default_factory=dict)

    @property
    def fallback_share(self) -> float:
        """Fallbacks per decision."""
        return self.fallbacks / self.decisions if self.decisions else 0.0

    @property
    def cached_share(self) -> float:
        """Share of prompt tokens served by the prefix cache."""
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def _is_llm(spec: str) -> bool:
    return "/" in spec.split("?", 1)[0] and not spec.startswith(("builtin:", "class:"))


def collect(db_path: str | Path, leaderboard: str) -> tuple[dict[str, AgentFigures], dict[int, float]]:
    """One pass over the stored matches: per LLM participant its decisions, fallbacks, token usage,
    StreetFighter records and HFTBench yields; and ``hft-random``'s daily yield per session seed."""
    from splitsecond.benchmarks.leaderboard.database import ResultsDB
    from splitsecond.benchmarks.leaderboard.study import participant_models

    db = ResultsDB(db_path)
    try:
        config = db.config_dict(leaderboard)
        participants = db.participants(leaderboard)
        models = participant_models(config, participants)
        figures = {
            p["name"]: AgentFigures(p["name"], models.get(p["name"]), p["latency"])
            for p in participants
            if _is_llm(p["spec"])
        }
        latencies: dict[str, list[float]] = defaultdict(list)
        random_yields: dict[int, float] = {}
        for match in db.matches(leaderboard, ("done", "forfeit")):
            outcome = match["outcome"] or {}
            seats = outcome.get("seats") or []
            names = [s["name"] for s in seats]
            for seat in seats:
                fig = figures.get(seat["name"])
                if fig is None:
                    y = (seat.get("metrics") or {}).get("daily_yield_pct")
                    if (
                        match["env"] == "hftbench"
                        and seat["name"].split("@", 1)[0] == RANDOM_TRADER
                        and y is not None
                    ):
                        random_yields[int(match["seed"])] = float(y)
                    continue
                fig.decisions += int(seat.get("decisions") or 0)
                fig.fallbacks += int(seat.get("fallbacks") or 0)
                fig.errors += int(seat.get("errors") or 0)
                fig.prompt_tokens += int(seat.get("prompt_tokens") or 0)
                fig.cached_tokens += int(seat.get("cached_tokens") or 0)
                if seat.get("median_latency_ms") is not None:
                    latencies[seat["name"]].append(float(seat["median_latency_ms"]))
                if match["env"] == "streetfighter":
                    other = next(n for n in names if n != seat["name"])
                    rec = fig.records.setdefault(other, FighterRecord(other))
                    winner = outcome.get("winner")
                    if winner == seat["name"]:
                        rec.wins += 1
                    elif winner is None:
                        rec.draws += 1
                    else:
                        rec.losses += 1
                else:
                    y = (seat.get("metrics") or {}).get("daily_yield_pct")
                    if y is not None:
                        fig.yields[int(match["seed"])] = float(y)
        for name, values in latencies.items():
            figures[name].median_latency_ms = statistics.median(values)
        return figures, random_yields
    finally:
        db.close()


def study_goals(figures: Mapping[str, AgentFigures], random_yields: Mapping[int, float]) -> dict[str, Any]:
    """The agents issue's goals, per LLM agent measured with ``paused`` latency (quality alone)."""
    out: dict[str, Any] = {"streetfighter": {}, "hftbench": {}, "fallbacks": {}, "cached_share": {}}
    by_model: dict[str, list[AgentFigures]] = defaultdict(list)
    for fig in figures.values():
        out["fallbacks"][fig.name] = {
            "decisions": fig.decisions,
            "fallbacks": fig.fallbacks,
            "errors": fig.errors,
            "share": fig.fallback_share,
            "under_2pct": fig.fallback_share < 0.02,
        }
        by_model[fig.model or fig.name].append(fig)
        if fig.latency != QUALITY_LATENCY:
            continue
        random_rec = next((r for o, r in fig.records.items() if o.split("@", 1)[0] == RANDOM_FIGHTER), None)
        if fig.records:
            beaten = sorted(
                o
                for o, r in fig.records.items()
                if o.split("@", 1)[0] != RANDOM_FIGHTER and r.wins > r.losses
            )
            entry: dict[str, Any] = {"beats_scripted": beaten, "records": {}}
            for o, r in fig.records.items():
                share, low, high = r.win_share()
                entry["records"][o] = {**asdict(r), "win_share": share, "ci95": [low, high]}
            if random_rec is not None:
                share, low, high = random_rec.win_share()
                entry["vs_random"] = {
                    "matches": random_rec.matches,
                    "win_share": share,
                    "ci95": [low, high],
                    "goal_met": random_rec.matches >= 30 and share >= 0.7 and low > 0.5,
                }
            entry["beats_two_scripted"] = len(beaten) >= 2
            out["streetfighter"][fig.name] = entry
        if fig.yields:
            seeds = sorted(set(fig.yields) & set(random_yields))
            diffs = [fig.yields[s] - random_yields[s] for s in seeds]
            mean, low, high = t_interval(diffs)
            out["hftbench"][fig.name] = {
                "sessions": len(seeds),
                "mean_yield_pct": statistics.fmean(fig.yields[s] for s in seeds) if seeds else None,
                "random_mean_yield_pct": statistics.fmean(random_yields[s] for s in seeds) if seeds else None,
                "diff_pct": mean,
                "diff_ci95": [low, high],
                "goal_met": len(seeds) >= 10 and low > 0,
            }
    for model, figs in by_model.items():
        prompt = sum(f.prompt_tokens for f in figs)
        cached = sum(f.cached_tokens for f in figs)
        out["cached_share"][model] = {
            "prompt_tokens": prompt,
            "cached_tokens": cached,
            "share": cached / prompt if prompt else 0.0,
        }
    return out


def _print_goals(goals: Mapping[str, Any]) -> None:
    print("\nStreetFighter, quality alone (paused):")
    for name, e in goals["streetfighter"].items():
        vr = e.get("vs_random")
        vs = (
            f"vs random {vr['win_share']:.0%} of {vr['matches']} [{vr['ci95'][0]:.0%}, {vr['ci95'][1]:.0%}]"
            if vr
            else "no random matches"
        )
        print(f"  {name}: {vs}; beats {', '.join(e['beats_scripted']) or 'no scripted fighter'}")
    print("HFTBench, quality alone (paused), yield minus hft-random's (same sessions):")
    for name, e in goals["hftbench"].items():
        print(
            f"  {name}: {e['diff_pct']:+.3f} pp over {e['sessions']} sessions, 95% [{e['diff_ci95'][0]:+.3f}, {e['diff_ci95'][1]:+.3f}]"
        )
    print("Fallback share / cached prompt share:")
    for name, e in goals["fallbacks"].items():
        print(f"  {name}: {e['share']:.1%} of {e['decisions']} decisions")
    for model, e in goals["cached_share"].items():
        print(f"  {model}: {e['share']:.0%} of {e['prompt_tokens']} prompt tokens cached")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study (see the module docstring); 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the ~15-minute variant")
    parser.add_argument("--config", type=Path, help="another study config")
    parser.add_argument(
        "--db", type=Path, help="results database (default: runs/leaderboards/<name>/results.sqlite)"
    )
    parser.add_argument("--workers", type=int, default=2, help="matches at once (default 2)")
    parser.add_argument(
        "--report-only", action="store_true", help="do not play; report what the database holds"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from splitsecond.benchmarks.leaderboard import build_report, load_config, run_leaderboard, write_report
    from splitsecond.benchmarks.leaderboard.runner import default_db_path

    path = args.config or CONFIG_DIR / ("latency-study-quick.toml" if args.quick else "latency-study.toml")
    config = load_config(path)
    db_path = args.db or default_db_path(config)
    t0 = time.perf_counter()
    if not args.report_only:
        summary = run_leaderboard(config, db_path, workers=args.workers)
        print(f"played {summary.played} matches in {summary.wall_s:.0f} s; status {summary.status_counts}")
    report = build_report(db_path, config.name)
    write_report(report, Path(db_path).parent / "report")
    figures, random_yields = collect(db_path, config.name)
    goals = study_goals(figures, random_yields)
    _print_goals(goals)
    for env, sec in report.get("envs", {}).items():
        sentence = (sec.get("study") or {}).get("sentence")
        if sentence:
            print(f"{env}: {sentence}")
    result = {
        "config": str(path.relative_to(CONFIG_DIR.parent.parent))
        if path.is_relative_to(CONFIG_DIR.parent.parent)
        else str(path),
        "db": str(db_path),
        "wall_s": time.perf_counter() - t0,
        "machine": _machine(),
        "goals": goals,
        "study": {env: sec.get("study") for env, sec in report.get("envs", {}).items()},
        "standings": {env: sec.get("standings") for env, sec in report.get("envs", {}).items()},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / (
        "latency_study_quick.json" if args.quick else f"{config.name.replace('-', '_')}.json"
    )
    out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _machine() -> dict[str, Any]:
    try:
        from splitsecond.benchmarks.machine import machine_info

        return machine_info()
    except Exception:  # noqa: BLE001 - a description of the machine is a nicety
        return {}


if __name__ == "__main__":
    sys.exit(main())
