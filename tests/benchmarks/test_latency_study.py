"""The latency study: its configs, its intervals and its goal checks on measured figures."""

from __future__ import annotations

import math

import pytest

from splitsecond.benchmarks.latency_study import (
    CONFIG_DIR,
    AgentFigures,
    FighterRecord,
    study_goals,
    t_interval,
    wilson_interval,
)
from splitsecond.benchmarks.leaderboard import load_config, schedule


def test_intervals():
    low, high = wilson_interval(21, 30)
    assert 0.52 < low < 0.53 and 0.83 < high < 0.84  # 70 % of 30: the goal's edge
    assert wilson_interval(0, 0) == (0.0, 1.0)
    mean, low, high = t_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and low == pytest.approx(2.5 - 3.182 * math.sqrt(5 / 3) / 2, rel=1e-3)
    assert math.isnan(t_interval([1.0])[1])


def test_goals_from_figures():
    best = AgentFigures(
        "m@paused", "m", "paused", decisions=1000, fallbacks=5, prompt_tokens=100, cached_tokens=90
    )
    best.records = {
        "random@fixed:50": FighterRecord("random@fixed:50", wins=28, losses=2),
        "brawler": FighterRecord("brawler", wins=6, losses=4),
        "zoner": FighterRecord("zoner", wins=5, losses=5),
        "punisher": FighterRecord("punisher", wins=7, losses=3),
    }
    best.yields = {s: 0.1 for s in range(10)}
    slow = AgentFigures("m@token:m-cpu", "m", "token:m-cpu", decisions=100, fallbacks=10, prompt_tokens=100)
    goals = study_goals({f.name: f for f in (best, slow)}, {s: -1.0 + 0.01 * s for s in range(10)})
    sf = goals["streetfighter"]["m@paused"]
    assert sf["vs_random"]["goal_met"] and sf["vs_random"]["matches"] == 30
    assert sf["beats_scripted"] == ["brawler", "punisher"] and sf["beats_two_scripted"]
    assert "m@token:m-cpu" not in goals["streetfighter"]  # quality is judged at paused latency only
    hft = goals["hftbench"]["m@paused"]
    assert hft["goal_met"] and hft["diff_ci95"][0] > 0 and hft["sessions"] == 10
    assert (
        goals["fallbacks"]["m@paused"]["under_2pct"] and not goals["fallbacks"]["m@token:m-cpu"]["under_2pct"]
    )
    assert goals["cached_share"]["m"]["share"] == pytest.approx(90 / 200)
    few = AgentFigures("x@paused", "x", "paused")
    few.records = {"random": FighterRecord("random", wins=9, losses=1)}  # 90 %, but 10 matches
    assert not study_goals({"x@paused": few}, {})["streetfighter"]["x@paused"]["vs_random"]["goal_met"]


@pytest.mark.parametrize("name", ["latency-study-quick.toml", "latency-study.toml"])
def test_study_configs_are_valid_gauntlets(name):
    config = load_config(CONFIG_DIR / name)
    tasks = schedule(config)
    anchors = {p.name for p in config.players("streetfighter") if p.anchor}
    assert {"random", "punisher"} <= anchors
    for t in tasks:
        if t.env == "streetfighter":
            assert {s.name for s in t.seats} & anchors
    llm = [p for p in config.participants() if "/" in p.spec]
    assert any(p.latency == "paused" for p in llm) and any(p.latency.endswith("-cpu") for p in llm)
    assert config.envs["streetfighter"].env_kwargs["decision_interval_ms"] > 0
