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
    ]
    hft = sec["env"] == "hftbench"
    if hft:
        header += ["daily yield % [95% CI]", "Sharpe [95% CI]", "max drawdown % [95% CI]"]
    rows = []
    for s in sec["standings"]:
        row = [
            str(s["rank"]),
            s["name"],
            s["latency_setting"],
            f"{s['wins']}-{s['draws']}-{s['losses']}",
            str(s["forfeits"]),
            f"{s['score_pct']:.1f}",
            _ci(s["elo"], s["elo_ci"]),
            _ci(s["mu"], s["mu_ci"], 2),
            f"{s['ordinal']:.2f}",
            _ms(s["median_latency_ms"]),
        ]
        if hft:
            row += [_money(s.get("yield_pct")), _money(s.get("sharpe"), 1), _money(s.get("drawdown_pct"))]
        rows.append(row)
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
                f"Pareto front (latency vs {'yield' if sec['quality'] == 'yield_pct' else 'Elo'}): "
                + ", ".join(sec["pareto"]),
                "",
            ]
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
