"""Leaderboard config: parsing, latency variants, and config errors reported before any match."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]


def base() -> dict:
    return {
        "leaderboard": {"name": "t", "seeds": [1, 2], "act_timeout_s": 5.0},
        "envs": {
            "streetfighter": {"round_seconds": 5, "rounds_to_win": 1},
            "hftbench": {"session_seconds": 5},
        },
        "agents": [
            {"spec": "rushdown"},
            {"name": "punisher", "spec": "punisher", "latency": ["fixed:50", "fixed:200", "fixed:500"]},
            {"spec": "random", "latency": "fixed:10"},
            {"spec": "hft-market-maker", "latency": "fixed:1"},
        ],
    }


def test_variants_and_env_membership():
    cfg = config_from_dict(base())
    names = [p.name for p in cfg.participants()]
    assert names == [
        "rushdown",
        "punisher@fixed:50",
        "punisher@fixed:200",
        "punisher@fixed:500",
        "random",
        "hft-market-maker",
    ]
    assert {p.base for p in cfg.participants() if p.name.startswith("punisher")} == {"punisher"}
    # built-in fighters play StreetFighter only, HFT baselines HFTBench only, random both
    assert [p.name for p in cfg.players("hftbench")] == ["random", "hft-market-maker"]
    assert "hft-market-maker" not in [p.name for p in cfg.players("streetfighter")]
    assert cfg.envs["streetfighter"].env_kwargs == {"round_seconds": 5, "rounds_to_win": 1}


def _error(mutate) -> str:
    data = copy.deepcopy(base())
    mutate(data)
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return str(info.value)


def test_unknown_agent_is_named():
    msg = _error(lambda d: d["agents"].append({"spec": "grandmaster"}))
    assert "agents[4]" in msg and "grandmaster" in msg and "built-ins" in msg


def test_bad_seed_lists():
    assert "leaderboard.seeds" in _error(lambda d: d["leaderboard"].update(seeds=[]))
    assert "leaderboard.seeds" in _error(lambda d: d["leaderboard"].update(seeds=[1, 1]))
    assert "envs.hftbench.seeds" in _error(lambda d: d["envs"]["hftbench"].update(seeds=[1, "x"]))
    assert "envs.hftbench.seeds" in _error(lambda d: d["envs"]["hftbench"].update(seeds=[-3]))


def test_unknown_env():
    msg = _error(lambda d: d["envs"].update(chess={}))
    assert "chess" in msg and "streetfighter" in msg and "hftbench" in msg
    msg = _error(lambda d: d["agents"][0].update(envs=["pong"]))
    assert "pong" in msg


def test_bad_latency_spec_is_named():
    msg = _error(lambda d: d["agents"][1].update(latency=["fixed:50", "slowish"]))
    assert "agents[1]" in msg and "'punisher'" in msg and "slowish" in msg and "fixed:MS" in msg


def test_other_config_errors():
    assert "unknown key(s) ['speed']" in _error(lambda d: d["agents"][0].update(speed=3))
    assert "{serve}" in _error(lambda d: d["agents"].append({"name": "llm", "spec": "openai/x@{serve}"}))
    assert "used twice" in _error(lambda d: d["agents"].append({"spec": "rushdown"}))
    msg = _error(lambda d: d["agents"].append({"name": "rush2", "spec": "rushdown"}))
    assert "listed twice" in msg and "'rushdown'" in msg and "'rush2'" in msg
    msg = _error(lambda d: d["agents"][0].update(envs=["hftbench"]))
    assert "cannot play splitsecond/HFTBench-v0" in msg
    assert "envs.streetfighter" in _error(lambda d: d["envs"]["streetfighter"].update(round_seconds=0))
    assert "characters" in _error(lambda d: d["envs"]["streetfighter"].update(characters=[["kai", "bob"]]))
    assert "mode" in _error(lambda d: d["leaderboard"].update(mode="fast"))
    assert "needs at least 2 agents" in _error(lambda d: d["agents"].pop(3))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[leaderboard\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_shipped_configs_validate():
    for name in ("leaderboard-quick.toml", "leaderboard-full.toml"):
        cfg = load_config(ROOT / "benchmarks" / "configs" / name)
        assert cfg.serve == "smollm2-135m"
        assert len(cfg.players("streetfighter")) >= 5
