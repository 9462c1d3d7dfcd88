"""The leaderboard report as one static HTML page (``index.html``): tables, figures, replay links.

Self-contained (inline CSS and a few lines of JavaScript that make the tables sortable by a click
on a header); figures and GIFs are files next to it.
"""

from __future__ import annotations

import html
import json
from typing import Any

from splitsecond.benchmarks.leaderboard.report_markdown import standings_rows, study_rows

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
tr.front td:nth-child(2) { font-weight: bold; color: #b00; }
tr.flagged td { color: #888; }
p.study { font-size: 1.05rem; font-weight: bold; }
figure { display: inline-block; margin: 0.5rem; vertical-align: top; }
figure img { max-width: 560px; border: 1px solid #ddd; }
.note { color: #666; font-size: 0.85rem; }
.warn { color: #b00; font-weight: bold; }
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.dataset.dir !== 'asc';
      th.dataset.dir = asc ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col].textContent, y = b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
document.getElementById('generated').textContent += ' (' + document.querySelectorAll('table.standings tbody tr').length + ' rated entries)';
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[str]], cls: str, row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render_html(report: dict[str, Any]) -> str:
    """The whole report as an HTML page."""
    c = report["status_counts"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Leaderboard: {_e(report['leaderboard'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Leaderboard: {_e(report['leaderboard'])}</h1>",
        f'<p id="generated" class="note">Generated {_e(report["generated_at"])} from {_e(report["db"])}</p>',
        f"<p>Matches: {c['done']} done, {c['forfeit']} decided by forfeit, {c['failed']} failed, "
        f"{c['pending'] + c['running']} not played yet.</p>",
    ]
    if not report["complete"]:
        parts.append('<p class="warn">The run is incomplete: rerun it to finish.</p>')
    for sec in report["envs"].values():
        env = sec["env"]
        parts.append(f'<section id="{_e(env)}"><h2>{_e(sec["env_id"])}</h2>')
        parts.append(
            f"<p>{sec['finished']} of {sec['scheduled']} matches played. "
            "Click a column header to sort. Bold red: on the latency/quality Pareto front.</p>"
        )
        header, rows = standings_rows(sec)
        front = set(sec["pareto"])
        classes = [
            "front" if s["name"] in front else "flagged" if s.get("flagged") else "" for s in sec["standings"]
        ]
        parts.append(_table(header, rows, "sortable standings", classes))
        if sec.get("flagged"):
            parts.append(
                '<p class="warn">Flagged (more than 5% of their decisions fell back; kept off the Pareto '
                f"front): {_e(', '.join(sec['flagged']))}</p>"
            )
        study = sec.get("study")
        if study:
            parts.append("<h3>Latency study: quality vs median decision latency per model</h3>")
            parts.append(f'<p class="study">{_e(study["sentence"])}</p>')
            header, rows = study_rows(sec)
            if rows:
                parts.append(_table(header, rows, "sortable study"))
        for name, path in sec.get("plots", {}).items():
            parts.append(
                f'<figure><img src="{_e(path)}" alt="{_e(env)} {_e(name)}"><figcaption>{_e(name)}</figcaption></figure>'
            )
        names = sec["winrate"]["names"]
        wr = []
        for i, n in enumerate(names):
            cells = [n]
            for j in range(len(names)):
                r = sec["winrate"]["rate"][i][j]
                cells.append("-" if r is None else f"{r:.0%} ({sec['winrate']['games'][i][j]:g})")
            wr.append(cells)
        parts.append("<h3>Head-to-head (row's share won, comparisons)</h3>")
        parts.append(_table(["player", *names], wr, "winrate"))
        if sec["notable"]:
            parts.append("<h3>Notable matches</h3><ul>")
            for n in sec["notable"]:
                media = ""
                if n.get("gif"):
                    media += f' <a href="{_e(n["gif"])}">replay GIF</a>'
                if n.get("log"):
                    media += f' <a href="{_e(n["log"])}">episode log</a>'
                parts.append(f"<li><b>{_e(n['kind'])}</b>: {_e(n['description'])}{media}</li>")
            parts.append("</ul>")
            for n in sec["notable"]:
                if n.get("gif"):
                    parts.append(
                        f'<figure><img src="{_e(n["gif"])}" alt="{_e(n["kind"])} replay">'
                        f"<figcaption>{_e(n['kind'])}</figcaption></figure>"
                    )
        if sec["forfeits"]:
            parts.append("<h3>Forfeits</h3><ul>")
            parts += [
                f"<li>{_e(f['name'])} (seed {f['seed']}): {_e(f['reason'])}</li>" for f in sec["forfeits"]
            ]
            parts.append("</ul>")
        parts.append("</section>")
    if report["failed"]:
        parts.append("<h2>Failed matches</h2><ul>")
        parts += [
            f"<li><code>{_e(f['key'])}</code> {_e(' vs '.join(f['seats']))}: {_e(f['error'])}</li>"
            for f in report["failed"]
        ]
        parts.append("</ul>")
    parts.append("<h2>Method</h2><ul>")
    parts += [f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in report["method"].items()]
    parts.append("</ul>")
    summary = {"leaderboard": report["leaderboard"], "status_counts": c}
    parts.append(f'<script type="application/json" id="summary">{_e(json.dumps(summary))}</script>')
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts)
