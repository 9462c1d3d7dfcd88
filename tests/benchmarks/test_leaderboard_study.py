"""Honest results and the latency study's view, on synthetic outcomes written through the real
ResultsDB: errors/fallbacks/prompt versions stored per seat (and migrated into an older store),
agents above 5% fallbacks flagged and kept off the Pareto front, and the per-model view with its
sentence computed from the numbers."""

from __future__ import annotations

import json
import sqlite3

import pytest

from splitsecond.benchmarks.leaderboard import (
    ResultsDB,
    build_report,
    config_from_dict,
    schedule,
    write_report,
)
from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome, SeatOutcome
from splitsecond.benchmarks.leaderboard.study import StudyPoint, study_sentence

SMALL, BIG = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"

CONFIG = {
    "leaderboard": {"name": "study", "seeds": [1], "bootstrap": 20, "save_replays": False},
    "serve": [{"name": "small", "model": SMALL}, {"name": "big", "model": BIG}],
    "envs": {"streetfighter": {"round_seconds": 3, "rounds_to_win": 1}},
    "agents": [
        {
            "name": "small",
            "spec": "openai/q05@{serve:small}?thinking=reflex",
            "latency": ["fixed:100", "fixed:400"],
        },
        {
            "name": "big",
            "spec": "openai/q15@{serve:big}?thinking=reflex",
            "latency": ["fixed:100", "fixed:400"],
        },
        {"spec": "rushdown"},
        {"name": "flaky", "spec": "zoner", "latency": "fixed:1"},
    ],
}

# who beats whom: at 100 ms the big model is ahead, at 400 ms the small one; "flaky" wins everything
# fastest of all, but 12% of its decisions fell back
STRENGTH = {
    "flaky": 6,
    "big@fixed:100": 5,
    "small@fixed:100": 4,
    "small@fixed:400": 3,
    "big@fixed:400": 2,
    "rushdown": 1,
}
LATENCY = {"flaky": 1.0, "rushdown": 60.0}


def _seat(i: int, name: str, rank: int) -> SeatOutcome:
    llm = name.startswith(("small", "big"))
    decisions = 50
    fallbacks = 6 if name == "flaky" else 1 if llm else 0  # 12% and 2%
    return SeatOutcome(
        seat=i,
        name=name,
        agent_id=f"player_{i}",
        rank=rank,
        score=float(1 - rank),
        forfeited=False,
        forfeit_reason=None,
        decisions=decisions,
        fallbacks=fallbacks,
        errors=fallbacks if name == "flaky" else 0,
        timeouts=0,
        median_latency_ms=LATENCY.get(name) or float(name.rsplit(":", 1)[1]),
        median_measured_ms=1.0,
        tokens=0,
        prompt_version="sf-v3" if llm else None,
    )


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    db_path = root / "results.sqlite"
    config = config_from_dict(CONFIG)
    tasks = schedule(config)
    with ResultsDB(db_path) as db:
        db.register(config, tasks)
        for t in tasks:
            a, b = (s.name for s in t.seats)
            ranks = (0, 1) if STRENGTH[a] > STRENGTH[b] else (1, 0)
            seats = (_seat(0, a, ranks[0]), _seat(1, b, ranks[1]))
            assert db.start(t.key)
            outcome = MatchOutcome(t.key, "done", a if ranks[0] == 0 else b, seats, "terminated", 3.0, 0.1)
            assert db.finish(outcome)
    report = build_report(db_path)
    return db_path, report, root


def test_seats_store_errors_fallbacks_and_prompt_versions(played):
    db_path, report, _ = played
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT name, decisions, errors, fallbacks, prompt_version FROM seats").fetchall()
    flaky = {r for r in rows if r[0] == "flaky"}
    assert flaky == {("flaky", 50, 6, 6, None)}
    assert {r[4] for r in rows if r[0].startswith("small")} == {"sf-v3"}
    st = {s["name"]: s for s in report["envs"]["streetfighter"]["standings"]}
    assert st["flaky"]["decisions"] == 500 and st["flaky"]["fallbacks"] == 60 and st["flaky"]["errors"] == 60
    assert st["flaky"]["fallback_pct"] == 12.0
    assert st["small@fixed:100"]["fallback_pct"] == 2.0 and st["small@fixed:100"]["prompt_version"] == "sf-v3"
    assert st["rushdown"]["prompt_version"] is None and st["rushdown"]["fallback_pct"] == 0.0


def test_an_agent_above_5_percent_fallbacks_is_flagged_and_kept_off_the_front(played):
    _, report, _ = played
    sf = report["envs"]["streetfighter"]
    st = {s["name"]: s for s in sf["standings"]}
    assert st["flaky"]["flagged"] is True and st["flaky"]["rank"] == 1  # best Elo, fastest ...
    assert not any(s["flagged"] for n, s in st.items() if n != "flaky")  # 2% is not flagged
    assert sf["flagged"] == ["flaky"]
    assert "flaky" not in sf["pareto"] and "flaky" not in sf["study"]["pareto"]  # ... yet off the front
    assert sf["pareto"] == ["rushdown", "big@fixed:100"]
    assert "flaky" in sf["points"]  # still drawn


def test_the_study_view_groups_by_model_and_states_the_crossover(played):
    _, report, _ = played
    study = report["envs"]["streetfighter"]["study"]
    assert study["quality"] == "elo"
    assert set(study["models"]) == {SMALL, BIG}  # scripted agents have no model
    small = study["models"][SMALL]
    assert [a["name"] for a in small["agents"]] == ["small@fixed:100", "small@fixed:400"]
    assert small["curves"] == {"small": ["small@fixed:100", "small@fixed:400"]}
    elo = {s["name"]: s["elo"] for s in report["envs"]["streetfighter"]["standings"]}
    assert elo["small@fixed:400"] > elo["big@fixed:400"] and elo["big@fixed:100"] > elo["small@fixed:100"]
    assert study["sentence"] == (
        f"At >= 400 ms per decision {SMALL} (Elo {elo['small@fixed:400']:.0f}) beats {BIG} "
        f"({elo['big@fixed:400']:.0f}); at 100 ms {BIG} is ahead ({elo['big@fixed:100']:.0f} vs "
        f"{elo['small@fixed:100']:.0f}) (1 agent(s) with more than 5% fallbacks left out)."
    )


def test_markdown_html_and_json_show_it(played):
    _, report, root = played
    paths = write_report(report, root / "report", gifs=False)
    md = paths["markdown"].read_text(encoding="utf-8")
    html = paths["html"].read_text(encoding="utf-8")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert "| decisions | errors | fallbacks |" in md and "| prompt |" in md
    assert "flaky \u26a0 fallbacks 12%" in md and "60 (12.0%)" in md
    assert "Latency study" in md and report["envs"]["streetfighter"]["study"]["sentence"] in md
    assert "flaky \u26a0 fallbacks 12%" in html and '<tr class="flagged">' in html
    assert "Latency study" in html and "<th>fallbacks</th>" in html
    assert data["envs"]["streetfighter"]["standings"][0]["flagged"] is True
    assert (root / "report" / data["envs"]["streetfighter"]["plots"]["study"]).read_bytes()[:4] == b"\x89PNG"


def test_an_older_store_gains_the_columns_filled_from_its_outcomes(played, tmp_path):
    db_path, _, _ = played
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(db_path) as src, sqlite3.connect(old) as dst:
        src.backup(dst)
        for column in ("fallbacks", "errors", "timeouts", "prompt_version"):
            dst.execute(f"ALTER TABLE seats DROP COLUMN {column}")
    with sqlite3.connect(old) as conn:
        assert "fallbacks" not in {r[1] for r in conn.execute("PRAGMA table_info(seats)")}
    with ResultsDB(old) as db:
        assert db.migrate() == []  # opening it migrated already
        rows = {(r["name"], r["key"]): r for r in db.seat_rows("study")}
    assert {(r["fallbacks"], r["errors"]) for (n, _), r in rows.items() if n == "flaky"} == {(6, 6)}
    assert {r["prompt_version"] for (n, _), r in rows.items() if n.startswith("big")} == {"sf-v3"}
    assert build_report(old)["envs"]["streetfighter"]["flagged"] == ["flaky"]


def _p(name, model, setting, lat, q, flagged=False) -> StudyPoint:
    return StudyPoint(name, name.split("@")[0], model, setting, lat, q, flagged)


def test_sentences_follow_the_numbers():
    # no flip: the faster model is worse, the better one slower
    pts = [_p("a", "m-small", "token:a", 50.0, 1450.0), _p("b", "m-big", "token:b", 200.0, 1550.0)]
    assert study_sentence(pts, "elo") == (
        "The fastest model on the Pareto front is m-small (a: Elo 1450 at 50 ms); m-big is better "
        "(b: Elo 1550) but 4.0x slower (200 ms against 50 ms)."
    )
    # one model dominates the other
    pts = [_p("a", "m-small", "token:a", 50.0, 1600.0), _p("b", "m-big", "token:b", 200.0, 1550.0)]
    assert study_sentence(pts, "elo").startswith("m-small dominates m-big: every agent of theirs")
    # no models: the front of all agents; yields are percentages
    pts = [
        _p("x", None, "fixed:1", 1.0, 0.010),
        _p("y", None, "fixed:50", 50.0, 0.050),
        _p("z", None, "fixed:60", 60.0, 0.0),
    ]
    assert study_sentence(pts, "yield_pct") == (
        "The fastest agent on the Pareto front is x (mean yield +0.010% at 1.0 ms); y is better "
        "(mean yield +0.050%) but 50.0x slower (50 ms against 1.0 ms)."
    )
    # one model, off the front
    pts = [_p("x", None, "fixed:1", 1.0, 1600.0), _p("llm", "m", "token:m", 300.0, 1400.0)]
    assert study_sentence(pts, "elo") == (
        "x is both the fastest and the best agent (Elo 1600 at 1.0 ms); no m agent is on the front "
        "(its best, llm, reaches Elo 1400 at 300 ms)."
    )
    assert study_sentence([_p("x", None, "fixed:1", 1.0, 1600.0, flagged=True)], "elo") == (
        "No agent has finished matches with decision latencies yet (1 agent(s) with more than 5% fallbacks left out)."
    )


def test_live_progress_shows_errors_and_the_fallback_share():
    from rich.console import Console

    from splitsecond.benchmarks.leaderboard.progress import LiveStandings

    live = LiveStandings()
    for _ in range(2):
        seats = (_seat(0, "flaky", 0), _seat(1, "small@fixed:100", 1))
        live.add("streetfighter", MatchOutcome("k", "done", "flaky", seats, "terminated", 3.0, 0.1))
    assert live.health("streetfighter", "flaky") == (100, 12, 12)
    console = Console(width=200, record=True)
    console.print(live.table())
    text = console.export_text()
    row = next(line for line in text.splitlines() if "flaky" in line)
    assert "12 (12%) \u26a0" in row and "2-0-0" in row
    other = next(line for line in text.splitlines() if "small@fixed:100" in line)
    assert "2 (2%)" in other and "\u26a0" not in other
