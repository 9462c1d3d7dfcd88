"""Leaderboard CLI and report: a small run, then Markdown/JSON/HTML with figures and replay GIFs, and
the HTML page loaded in headless Chromium (no console errors, the standings table is there)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

CHROMIUM = Path("/usr/bin/chromium")

CONFIG = """
[leaderboard]
name = "mini"
seeds = [1, 2]
act_timeout_s = 5.0
bootstrap = 40

[envs.streetfighter]
round_seconds = 3
rounds_to_win = 1

[envs.hftbench]
session_seconds = 4

[[agents]]
spec = "rushdown"

[[agents]]
name = "punisher"
spec = "punisher"
latency = ["fixed:33", "fixed:400"]

[[agents]]
spec = "random"
latency = "fixed:50"

[[agents]]
spec = "hft-market-maker"
latency = ["fixed:1", "fixed:100"]
"""


def _cli():
    from splitsecond.cli import _load_commands, app

    _load_commands()
    return app


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lb")
    cfg = root / "mini.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    db = root / "results.sqlite"
    runner = CliRunner()
    result = runner.invoke(
        _cli(), ["leaderboard", "run", str(cfg), "--db", str(db), "--workers", "2", "--no-report"]
    )
    assert result.exit_code == 0, result.output
    assert "26 match(es) played" in result.output
    out = root / "report"
    result = runner.invoke(
        _cli(), ["leaderboard", "report", "--db", str(db), "--out", str(out), "--gif-frames", "8"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file() and "streetfighter: 24/24 matches" in result.output
    assert "fastest" in result.output  # each env's study sentence
    return out


def test_report_files_and_content(report_dir):
    data = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert data["complete"] and data["status_counts"]["done"] == 26
    sf = data["envs"]["streetfighter"]
    names = {s["name"] for s in sf["standings"]}
    assert names == {"rushdown", "punisher@fixed:33", "punisher@fixed:400", "random"}
    assert sf["finished"] == 24 and sum(s["matches"] for s in sf["standings"]) == 48
    for s in sf["standings"]:
        assert s["elo_ci"][0] <= s["elo_ci"][1] and s["mu_ci"][0] <= s["mu_ci"][1]
        assert s["wins"] + s["draws"] + s["losses"] == s["matches"] == 12
    assert sf["latency_curves"] == {"punisher": ["punisher@fixed:33", "punisher@fixed:400"]}
    assert sf["pareto"] and set(sf["pareto"]) <= names
    # scripted agents: every decision counted, none failed, no prompt version, no model in the study
    for s in sf["standings"]:
        assert s["decisions"] > 0 and s["errors"] == s["fallbacks"] == 0 and s["flagged"] is False
        assert s["prompt_version"] is None and s["model"] is None
    assert sf["flagged"] == [] and sf["study"]["models"] == {} and sf["study"]["pareto"] == sf["pareto"]
    assert sf["pareto"][0] in sf["study"]["sentence"] and sf["pareto"][-1] in sf["study"]["sentence"]
    hft = data["envs"]["hftbench"]
    mm = next(s for s in hft["standings"] if s["name"] == "hft-market-maker@fixed:1")
    assert mm["matches"] == 2 and {"yield_pct", "sharpe", "drawdown_pct"} <= set(mm)
    assert mm["yield_pct"]["lo"] <= mm["yield_pct"]["mean"] <= mm["yield_pct"]["hi"]
    for env in ("streetfighter", "hftbench"):
        for fig in data["envs"][env]["plots"].values():
            assert (report_dir / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gifs = [n["gif"] for n in sf["notable"] if n.get("gif")]
    assert gifs and all((report_dir / g).read_bytes()[:6] in (b"GIF89a", b"GIF87a") for g in gifs)
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    assert "| # | agent |" in md and "punisher@fixed:400" in md and "Notable matches" in md
    assert "| decisions | errors | fallbacks |" in md and sf["study"]["sentence"] in md


def test_cli_config_error_and_missing_db(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace('spec = "rushdown"', 'spec = "rushdwn"'), encoding="utf-8")
    result = runner.invoke(_cli(), ["leaderboard", "run", str(bad), "--db", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 2
    assert "rushdwn" in result.output and not (tmp_path / "x.sqlite").exists()
    result = runner.invoke(_cli(), ["leaderboard", "report", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1 and "no results database" in result.output


def _chromium_dump(url: str, profile: Path) -> tuple[str, list[str]]:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return proc.stdout, console


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install -y chromium)"
)
def test_html_loads_in_headless_chromium(report_dir, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(report_dir))

    class Quiet(handler.func):  # type: ignore[name-defined]
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(report_dir))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        dom, console = _chromium_dump(url, tmp_path / "profile")
        # the detector works: a page with a script error is caught
        broken = report_dir / "broken.html"
        broken.write_text("<html><body><script>notDefined();</script></body></html>", encoding="utf-8")
        _, broken_console = _chromium_dump(url.replace("index.html", "broken.html"), tmp_path / "profile2")
    finally:
        server.shutdown()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    assert any("notDefined" in line for line in broken_console)
    assert console == [], console
    assert '<table class="sortable standings">' in dom
    assert "punisher@fixed:400" in dom and "hft-market-maker@fixed:100" in dom
    # the page's script ran (it appends the number of rated entries)
    assert "(7 rated entries)" in dom
