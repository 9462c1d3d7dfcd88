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


def _served(servers: list[dict], agents: list[dict], **lb) -> dict:
    data = copy.deepcopy(base())
    data["serve"] = servers
    data["agents"] += agents
    data["leaderboard"].update(lb)
    return data


SMALL = {"name": "small", "model": "qwen2.5-coder-0.5b", "args": ["--dtype", "float32"]}
BIG = {"name": "big", "model": "qwen2.5-coder-1.5b", "port": 8123, "timeout_s": 900}


def test_several_served_models_and_which_each_agent_uses():
    cfg = config_from_dict(
        _served(
            [SMALL, BIG, {"model": "smollm2-135m"}],
            [
                {"name": "q05", "spec": "openai/qwen2.5-coder-0.5b@{serve:small}?thinking=reflex"},
                {"name": "q15", "spec": "openai/qwen2.5-coder-1.5b@{serve:big}", "envs": ["streetfighter"]},
            ],
        )
    )
    entries = cfg.serve_entries()
    assert list(entries) == ["small", "big", "smollm2-135m"]  # name defaults to the model
    assert entries["small"].port is None and entries["small"].args == ("--dtype", "float32")
    assert entries["big"].port == 8123 and entries["big"].timeout_s == 900
    assert cfg.default_serve() is None  # several entries, no leaderboard.serve: {serve} is ambiguous
    specs = [p.spec for p in cfg.participants()]
    assert [e.name for e in cfg.servers_for(specs)] == ["small", "big"]  # only the ones in use
    assert [e.name for e in cfg.servers_for(["rushdown"])] == []
    q05 = next(a for a in cfg.agents if a.name == "q05")
    assert cfg.study_model(q05) == "qwen2.5-coder-0.5b"


def test_serve_placeholders_resolve():
    from splitsecond.benchmarks.leaderboard.config import (
        DEFAULT_SERVE,
        serve_refs,
        spec_model,
        substitute_serve,
    )

    spec = "openai/x@{serve:big}?name={serve}"
    assert serve_refs(spec) == ["big", DEFAULT_SERVE]
    bases = {"big": "http://127.0.0.1:1/v1", DEFAULT_SERVE: "http://127.0.0.1:2/v1"}
    assert substitute_serve(spec, bases) == "openai/x@http://127.0.0.1:1/v1?name=http://127.0.0.1:2/v1"
    with pytest.raises(KeyError):
        substitute_serve("openai/x@{serve:small}", bases)
    assert spec_model("apc/openai/smollm2-135m@{serve}?thinking=reflex") == "smollm2-135m"
    assert spec_model("rushdown") is None


def test_the_old_single_serve_form_still_works_with_serve_entries():
    cfg = config_from_dict(
        _served(
            [SMALL],
            [
                {"name": "legacy", "spec": "openai/smollm2-135m@{serve}"},
                {"name": "q05", "spec": "openai/qwen2.5-coder-0.5b@{serve:small}"},
            ],
            serve="smollm2-135m",
            serve_args=["--max-num-seqs", "4"],
        )
    )
    assert cfg.default_serve() == "smollm2-135m"
    assert cfg.serve_entries()["smollm2-135m"].args == ("--max-num-seqs", "4")
    assert [e.name for e in cfg.servers_for(["openai/x@{serve}"])] == ["smollm2-135m"]
    # with one [[serve]] entry and no leaderboard.serve, {serve} means that entry
    only = config_from_dict(_served([SMALL], [{"name": "q05", "spec": "openai/q@{serve}"}]))
    assert only.default_serve() == "small" and [e.name for e in only.servers_for(["openai/q@{serve}"])] == [
        "small"
    ]


def test_serve_errors_name_the_entry():
    def err(servers, agents=(), **lb) -> str:
        with pytest.raises(ConfigError) as info:
            config_from_dict(_served(servers, list(agents), **lb))
        return str(info.value)

    msg = err([SMALL], [{"name": "llm", "spec": "openai/q@{serve:large}"}])
    assert "agents[4] ('llm')" in msg and "{serve:large}" in msg and "small" in msg
    msg = err([SMALL, BIG], [{"name": "llm", "spec": "openai/q@{serve}"}])
    assert "agents[4] ('llm')" in msg and "ambiguous" in msg and "{serve:<name>}" in msg
    msg = err([SMALL, {**BIG, "name": "small"}])
    assert "serve[1] ('small')" in msg and "used twice" in msg and "serve[0]" in msg
    assert "used twice" in err([{"model": "smollm2-135m"}], serve="smollm2-135m")
    msg = err([SMALL, {**BIG, "port": 0}])
    assert "serve[1] ('big')" in msg and "port" in msg and "1..65535" in msg
    assert "'eighty'" in err([{**BIG, "port": "eighty"}])
    msg = err([{**SMALL, "port": 8123}, BIG])
    assert "serve[1] ('big')" in msg and "port 8123" in msg and "serve[0]" in msg
    assert "args must be a list of strings" in err([{**SMALL, "args": "--dtype float32"}])
    assert "serve[0]" in err([{"name": "x"}]) and "model" in err([{"name": "x"}])
    assert "unknown key(s) ['gpu']" in err([{**SMALL, "gpu": True}])
    assert "timeout_s" in err([{**SMALL, "timeout_s": -1}])
    assert "model must be" in _error(lambda d: d["agents"][0].update(model=""))


def test_the_documented_example_is_a_valid_config():
    import textwrap
    import tomllib

    import splitsecond.benchmarks.leaderboard.config as module

    doc = module.__doc__
    example = textwrap.dedent(doc[doc.index("::") + 2 : doc.index("``{serve}`` means")])
    cfg = config_from_dict(tomllib.loads(example))
    assert list(cfg.serve_entries()) == ["smollm2-135m", "coder-0.5b"]
    assert [e.name for e in cfg.servers_for(p.spec for p in cfg.participants())] == [
        "smollm2-135m",
        "coder-0.5b",
    ]
    assert cfg.cache_db == "runs/plans.sqlite"
