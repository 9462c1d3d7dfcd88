"""The leaderboard report: numbers from the results database, written as JSON, Markdown and HTML.

::

    from splitsecond.benchmarks.leaderboard import build_report, write_report

    report = build_report("runs/leaderboards/quick/results.sqlite")
    paths = write_report(report, "runs/leaderboards/quick/report")

:func:`build_report` computes, per env, the standings (record, Bradley–Terry Elo and OpenSkill
with bootstrap intervals, median latency, decisions with their errors and fallbacks, the prompt
version, and for HFTBench yield/Sharpe/drawdown), the win-rate matrix, the Pareto front of latency
against quality (agents flagged for more than 5 % fallbacks are kept off it), latency curves of
agents listed at several latency settings, the latency study's view per model with one sentence
stating what it shows (:mod:`.study`), and notable matches. :func:`write_report` adds the figures
(PNG), GIFs of the notable StreetFighter matches and the three documents.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from splitsecond.benchmarks.leaderboard.database import ResultsDB
from splitsecond.benchmarks.leaderboard.notable import export_gif, notable_matches
from splitsecond.benchmarks.leaderboard.ratings import ELO_BASE, rate
from splitsecond.benchmarks.leaderboard.stats import (
    FALLBACK_FLAG_SHARE,
    contests_of,
    decision_health,
    median_latency,
    money_stats,
    pareto_front,
    records,
    winrate_matrix,
)
from splitsecond.benchmarks.leaderboard.study import StudyPoint, participant_models, study_view

logger = logging.getLogger(__name__)

METHOD = {
    "bradley_terry": (
        "Maximum-likelihood Bradley-Terry fit (choix.ilsr_pairwise_dense) over all pairwise "
        "comparisons (a many-player session gives one comparison per pair, ties count half), with "
        "{prior} virtual draw(s) per pair as a prior; reported on the Elo scale (mean 1500, 400 "
        "points = 10:1 odds)."
    ),
    "openskill": "OpenSkill Plackett-Luce, matches rated in schedule order; ordinal = mu - 3 sigma.",
    "intervals": "95 % percentile bootstrap over matches ({b} resamples).",
    "forfeits": "An agent that timed out or raised in a match lost it by forfeit.",
    "latency": "Median over matches of the per-match median latency the arena charged (ms).",
    "money": "HFTBench: mean over sessions of daily yield (%), Sharpe and max drawdown (%).",
    "fallbacks": (
        "errors: decisions whose model call failed or whose agent raised; fallbacks: decisions that played "
        "the fallback action (failed calls and unusable answers). An agent with more than {flag:.0%} "
        "fallbacks is flagged and kept off the Pareto front."
    ),
    "study": (
        "Latency study: agents grouped by the model they run; quality (Elo, or HFTBench mean daily yield) "
        "against median decision latency; the sentence is computed from these numbers."
    ),
}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _env_section(
    db: ResultsDB,
    leaderboard: str,
    env: str,
    participants: list[dict[str, Any]],
    config: dict[str, Any],
    seed: int,
) -> dict[str, Any] | None:
    players = [p for p in participants if env in p["envs"]]
    names = [p["name"] for p in players]
    seat_rows = [r for r in db.seat_rows(leaderboard) if r["env"] == env]
    matches = [m for m in db.matches(leaderboard) if m["env"] == env]
    finished = [m for m in matches if m["status"] in ("done", "forfeit")]
    if not names:
        return None
    contests = contests_of(seat_rows)
    ratings = rate(
        contests,
        names,
        bootstrap=int(config.get("bootstrap", 200)),
        prior_draws=float(config.get("prior_draws", 1.0)),
        seed=seed,
    )
    recs = records(seat_rows, names)
    latency = median_latency(seat_rows, names)
    health = decision_health(seat_rows, names)
    models = participant_models(config, players)
    money = money_stats(seat_rows, names, seed=seed) if env == "hftbench" else {}
    rate_m, games_m = winrate_matrix(contests, names)
    standings = []
    for p in players:
        n = p["name"]
        r, rec = ratings[n], recs[n]
        row = {
            "name": n,
            "base": p["base"],
            "latency_setting": p["latency"],
            "spec": p["spec"],
            "matches": rec.matches,
            "wins": rec.wins,
            "draws": rec.draws,
            "losses": rec.losses,
            "forfeits": rec.forfeits,
            "score_pct": round(rec.score_pct, 2),
            "elo": round(r.elo, 1),
            "elo_ci": [round(r.elo_ci[0], 1), round(r.elo_ci[1], 1)],
            "mu": round(r.mu, 3),
            "sigma": round(r.sigma, 3),
            "ordinal": round(r.ordinal, 3),
            "mu_ci": [round(r.mu_ci[0], 3), round(r.mu_ci[1], 3)],
            "median_latency_ms": _finite(latency[n]),
            "model": models[n],
            "decisions": health[n].decisions,
            "errors": health[n].errors,
            "fallbacks": health[n].fallbacks,
            "timeouts": health[n].timeouts,
            "fallback_pct": None
            if health[n].fallback_share is None
            else round(100 * health[n].fallback_share, 2),
            "flagged": health[n].flagged,
            "prompt_version": ", ".join(health[n].prompt_versions) or None,
        }
        for key, ci in money.get(n, {}).items():
            row[key] = {"mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "n": ci.n}
        standings.append(row)
    standings.sort(key=lambda s: (-s["elo"], s["name"]))
    for i, s in enumerate(standings, 1):
        s["rank"] = i
    quality = "yield_pct" if env == "hftbench" else "elo"
    points: dict[str, tuple[float, float]] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for s in standings:
        if s["median_latency_ms"] is None or s["matches"] == 0:
            continue
        if quality == "elo":
            points[s["name"]] = (s["median_latency_ms"], s["elo"])
            intervals[s["name"]] = tuple(s["elo_ci"])
        elif "yield_pct" in s:
            y = s["yield_pct"]
            points[s["name"]] = (s["median_latency_ms"], y["mean"])
            intervals[s["name"]] = (y["lo"], y["hi"])
    curves: dict[str, list[str]] = {}
    for p in players:
        curves.setdefault(p["base"], []).append(p["name"])
    curves = {b: v for b, v in curves.items() if len(v) > 1}
    flagged = {s["name"] for s in standings if s["flagged"]}
    by_name = {s["name"]: s for s in standings}
    study = study_view(
        [
            StudyPoint(n, by_name[n]["base"], models[n], by_name[n]["latency_setting"], lat, q, n in flagged)
            for n, (lat, q) in points.items()
        ],
        quality,
    )
    elo = {s["name"]: s["elo"] for s in standings}
    notable = [n.__dict__ for n in notable_matches(finished, elo)]
    return {
        "env": env,
        "env_id": _env_id(env),
        "scheduled": len(matches),
        "finished": len(finished),
        "forfeit_matches": sum(m["status"] == "forfeit" for m in matches),
        "standings": standings,
        "winrate": {
            "names": names,
            "rate": [[_finite(x) for x in row] for row in rate_m.tolist()],
            "games": games_m.tolist(),
        },
        "quality": quality,
        "points": {n: list(v) for n, v in points.items()},
        "intervals": {n: list(v) for n, v in intervals.items()},
        "pareto": pareto_front({n: v for n, v in points.items() if n not in flagged}),
        "flagged": sorted(flagged),
        "latency_curves": curves,
        "study": study,
        "notable": notable,
        "forfeits": [
            {"key": r["key"], "name": r["name"], "reason": r["forfeit_reason"], "seed": r["seed"]}
            for r in seat_rows
            if r["forfeited"]
        ],
    }


def _env_id(env: str) -> str:
    from splitsecond.benchmarks.leaderboard.config import ENV_IDS

    return ENV_IDS[env]


def build_report(db_path: str | Path, leaderboard: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Compute the report of ``leaderboard`` (default: the most recently run one in the store).

    Raises:
        FileNotFoundError: when the database does not exist.
        KeyError: for an unknown leaderboard (the message lists the stored ones).
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"no results database at {db_path}; run `splitsecond leaderboard run` first")
    with ResultsDB(db_path) as db:
        names = db.leaderboards()
        if not names:
            raise KeyError(f"{db_path} holds no leaderboard")
        name = leaderboard or names[0]
        config = db.config_dict(name)
        participants = db.participants(name)
        envs = {}
        for env in config["envs"]:
            section = _env_section(db, name, env, participants, config, seed)
            if section is not None:
                envs[env] = section
        failed = [
            {
                "key": m["key"],
                "env": m["env"],
                "seed": m["seed"],
                "seats": [s["name"] for s in m["seats"]],
                "error": m["error"],
            }
            for m in db.matches(name, statuses=("failed",))
        ]
        counts = db.status_counts(name)
    method = {
        k: v.format(
            prior=config.get("prior_draws", 1.0), b=config.get("bootstrap", 200), flag=FALLBACK_FLAG_SHARE
        )
        for k, v in METHOD.items()
    }
    return {
        "leaderboard": name,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": str(db_path),
        "config": config,
        "status_counts": counts,
        "complete": counts["pending"] == 0 and counts["running"] == 0,
        "envs": envs,
        "failed": failed,
        "method": method,
        "elo_base": ELO_BASE,
    }


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def write_report(
    report: dict[str, Any], out_dir: str | Path, gifs: bool = True, gif_max_frames: int = 150
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``index.html``, the plots and notable-match media.

    Returns:
        name -> path of everything written (``json``, ``markdown``, ``html``, and each figure).
    """
    from splitsecond.benchmarks.leaderboard.plots import (
        latency_quality_plot,
        ratings_plot,
        study_plot,
        winrate_plot,
    )
    from splitsecond.benchmarks.leaderboard.report_html import render_html
    from splitsecond.benchmarks.leaderboard.report_markdown import render_markdown

    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for env, sec in report["envs"].items():
        figs: dict[str, str] = {}
        title = sec["env_id"].rsplit("/", 1)[-1]
        st = sec["standings"]
        if sec["finished"]:
            p = ratings_plot(
                [s["name"] for s in st],
                [s["elo"] for s in st],
                [tuple(s["elo_ci"]) for s in st],
                out / "plots" / f"{env}_ratings.png",
                "Bradley-Terry Elo (95% bootstrap interval)",
                f"{title}: ratings",
            )
            figs["ratings"] = _rel(p, out)
            p = winrate_plot(
                sec["winrate"]["names"],
                _array(sec["winrate"]["rate"]),
                _array(sec["winrate"]["games"]),
                out / "plots" / f"{env}_winrate.png",
                f"{title}: head-to-head share won",
            )
            figs["winrate"] = _rel(p, out)
        if sec["points"]:
            ylabel = "mean daily yield (%)" if sec["quality"] == "yield_pct" else "Bradley-Terry Elo"
            p = latency_quality_plot(
                {n: tuple(v) for n, v in sec["points"].items()},
                {n: tuple(v) for n, v in sec["intervals"].items()},
                sec["pareto"],
                sec["latency_curves"],
                out / "plots" / f"{env}_latency_quality.png",
                ylabel,
                f"{title}: latency vs quality (red: Pareto front)",
                flagged=sec.get("flagged", []),
            )
            figs["latency_quality"] = _rel(p, out)
            if sec.get("study", {}).get("models"):
                p = study_plot(
                    sec["study"]["models"],
                    sec["study"]["pareto"],
                    out / "plots" / f"{env}_study.png",
                    ylabel,
                    f"{title}: quality vs median decision latency per model",
                )
                figs["study"] = _rel(p, out)
        sec["plots"] = figs
        for k, v in figs.items():
            written[f"{env}_{k}"] = out / v
        for n in sec["notable"]:
            n["gif"] = n["log"] = None
            if gifs and n["env"] == "streetfighter" and n.get("replay_path"):
                g = export_gif(n["replay_path"], out / "media" / f"{n['key']}.gif", gif_max_frames)
                if g is not None:
                    n["gif"] = _rel(g, out)
            if n.get("log_path") and Path(n["log_path"]).is_file():
                dst = out / "media" / f"{n['key']}.jsonl"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(n["log_path"], dst)
                n["log"] = _rel(dst, out)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    md_path = out / "report.md"
    md_path.write_text(render_markdown(report), encoding="utf-8")
    html_path = out / "index.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    written.update(json=json_path, markdown=md_path, html=html_path)
    return written


def _array(rows: list[list[float | None]]) -> Any:
    import numpy as np

    return np.array([[np.nan if x is None else x for x in row] for row in rows], dtype=float)
