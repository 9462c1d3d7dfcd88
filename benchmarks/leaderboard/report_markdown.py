"""The leaderboard report as Markdown (``report.md``), from :func:`build_report`'s dict."""

from __future__ import annotations

from typing import Any


def _ci(v: float, ci: list[float], digits: int = 0) -> str:
    return f"{v:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _money(m: dict[str, Any] | None, digits: int = 3) -> str:
    if not m:
        return "-"
    return f"{m['mean']:.{digits}f} [{m['lo']:.{digits}f}, {m['hi']:.{digits}f}]"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def flag_marker(s: dict[str, Any]) -> str:
    """`` ⚠ fallbacks 12%`` for a standing flagged for fallbacks, else ``""``."""
    if not s.get("flagged"):
        return ""
    return f" \u26a0 fallbacks {s['fallback_pct']:.0f}%"


def _fallbacks(s: dict[str, Any]) -> str:
    if not s.get("decisions"):
        return "-"
    return f"{s['fallbacks']} ({s['fallback_pct']:.1f}%)"


def standings_rows(sec: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an env's standings table (shared with the HTML page)."""
    header = [
        "#",
        "agent",
        "latency",
        "W-D-L",
        "forfeits",
        "score %",
        "BT Elo [95% CI]",
        "OpenSkill mu [95% CI]",
        "ordinal",
        "median ms",
        "decisions",
        "errors",
        "fallbacks",
    ]
    hft = sec["env"] == "hftbench"
    if hft:
        header += ["daily yield % [95% CI]", "Sharpe [95% CI]", "max drawdown % [95% CI]"]
    prompts = any(s.get("prompt_version") for s in sec["standings"])
    if prompts:
        header.append("prompt")
    rows = []
    for s in sec["standings"]:
        row = [
            str(s["rank"]),
            s["name"] + flag_marker(s),
            s["latency_setting"],
            f"{s['wins']}-{s['draws']}-{s['losses']}",
            str(s["forfeits"]),
            f"{s['score_pct']:.1f}",
            _ci(s["elo"], s["elo_ci"]),
            _ci(s["mu"], s["mu_ci"], 2),
            f"{s['ordinal']:.2f}",
            _ms(s["median_latency_ms"]),
            str(s.get("decisions", "-")),
            str(s.get("errors", "-")),
            _fallbacks(s),
        ]
        if hft:
            row += [_money(s.get("yield_pct")), _money(s.get("sharpe"), 1), _money(s.get("drawdown_pct"))]
        if prompts:
            row.append(s.get("prompt_version") or "-")
        rows.append(row)
    return header, rows


def study_rows(sec: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an env's latency-study table (shared with the HTML page)."""
    study = sec.get("study") or {}
    quality = "mean daily yield %" if study.get("quality") == "yield_pct" else "BT Elo"
    header = ["model", "agent", "latency", "median ms", quality, "fallbacks", "Pareto front"]
    by_name = {s["name"]: s for s in sec["standings"]}
    front = set(study.get("pareto", []))
    rows = []
    for model, view in (study.get("models") or {}).items():
        for a in view["agents"]:
            s = by_name.get(a["name"], {})
            q = f"{a['quality']:.3f}" if study.get("quality") == "yield_pct" else f"{a['quality']:.0f}"
            rows.append(
                [
                    model,
                    a["name"] + flag_marker(s),
                    a["setting"],
                    _ms(a["latency_ms"]),
                    q,
                    _fallbacks(s) if s else "-",
                    "yes" if a["name"] in front else "",
                ]
            )
    return header, rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as one Markdown document."""
    c = report["status_counts"]
    out = [
        f"# Leaderboard: {report['leaderboard']}",
        "",
        f"Generated {report['generated_at']} from `{report['db']}`. "
        f"Matches: {c['done']} done, {c['forfeit']} decided by forfeit, {c['failed']} failed, "
        f"{c['pending'] + c['running']} not played yet."
        + ("" if report["complete"] else " **The run is incomplete: rerun to finish it.**"),
        "",
    ]
    for sec in report["envs"].values():
        out += [f"## {sec['env_id']}", ""]
        out += [f"{sec['finished']} of {sec['scheduled']} matches played.", ""]
        header, rows = standings_rows(sec)
        out += [_table(header, rows), ""]
        if sec["pareto"]:
            out += [
                f"Pareto front (latency vs {'yield' if sec['quality'] == 'yield_pct' else 'Elo'}"
                f"{', agents flagged for fallbacks left out' if sec.get('flagged') else ''}): "
                + ", ".join(sec["pareto"]),
                "",
            ]
        if sec.get("flagged"):
            out += [
                "Flagged (more than 5% of their decisions fell back; their results do not show what the "
                "agent can do): " + ", ".join(sec["flagged"]),
                "",
            ]
        study = sec.get("study")
        if study:
            out += [
                "### Latency study: quality vs median decision latency per model",
                "",
                study["sentence"],
                "",
            ]
            header, rows = study_rows(sec)
            if rows:
                out += [_table(header, rows), ""]
        for name, path in sec.get("plots", {}).items():
            out += [f"![{name}]({path})", ""]
        names = sec["winrate"]["names"]
        wr_rows = []
        for i, n in enumerate(names):
            cells = []
            for j in range(len(names)):
                r = sec["winrate"]["rate"][i][j]
                cells.append("-" if r is None else f"{r:.0%} ({sec['winrate']['games'][i][j]:g})")
            wr_rows.append([n, *cells])
        out += ["### Head-to-head (row's share won, comparisons)", "", _table(["", *names], wr_rows), ""]
        if sec["notable"]:
            out += ["### Notable matches", ""]
            for n in sec["notable"]:
                media = []
                if n.get("gif"):
                    media.append(f"[replay GIF]({n['gif']})")
                if n.get("log"):
                    media.append(f"[episode log]({n['log']})")
                out.append(f"- **{n['kind']}**: {n['description']} {' '.join(media)}")
            out.append("")
        if sec["forfeits"]:
            out += ["### Forfeits", ""]
            out += [
                f"- {f['name']} (seed {f['seed']}, match `{f['key']}`): {f['reason']}"
                for f in sec["forfeits"]
            ]
            out.append("")
    if report["failed"]:
        out += ["## Failed matches", ""]
        out += [
            f"- `{f['key']}` {f['env']} seed {f['seed']} {' vs '.join(f['seats'])}: {f['error']}"
            for f in report["failed"]
        ]
        out.append("")
    out += ["## Method", ""] + [f"- {k}: {v}" for k, v in report["method"].items()] + [""]
    return "\n".join(out)
