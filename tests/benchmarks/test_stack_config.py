"""The ``[stack]`` of a leaderboard config: validated tables, ``{edge:<name>}`` routing, server and edge
options, schedule keys, and the canonical stack config."""

from __future__ import annotations

from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard import ConfigError, config_from_dict, load_config, schedule
from splitsecond.benchmarks.leaderboard.config import edge_refs, substitute_serve
from splitsecond.benchmarks.leaderboard.stack import StackServer, stack_from_dict

ROOT = Path(__file__).resolve().parents[2]


def make(stack: dict, spec: str = "openai/smollm2-135m@{edge:e}") -> object:
    return config_from_dict(
        {
            "leaderboard": {"name": "s", "seeds": [1], "save_replays": False},
            "serve": [
                {"name": "small", "model": "smollm2-135m"},
                {"name": "adapter", "model": "smollm2-135m"},
            ],
            "envs": {"streetfighter": {"round_seconds": 3}},
            "stack": stack,
            "agents": [{"name": "llm", "spec": spec}, {"spec": "zoner"}],
        }
    )


GOOD = {
    "servers": {
        "small": {"kv_tier": "flash", "zone_size_mb": 64, "io_backend": "posix", "num_kv_blocks": 64}
    },
    "edges": {"e": {"server": "small", "draft": "model:qwen2.5-coder-0.5b", "rtt_ms": 20}},
    "plan_cache": {"store": "redis", "adapter": "openai/smollm2-135m@{serve:adapter}"},
}


def test_a_stack_routes_an_agent_through_its_edge():
    config = make(GOOD)
    assert config.stack.edges["e"].draft == "model:qwen2.5-coder-0.5b"
    assert [e.name for e in config.servers_for(["openai/x@{edge:e}"])] == ["small"]
    assert config.served_model("apc/openai/smollm2-135m@{edge:e}") == "smollm2-135m"
    assert edge_refs("apc/openai/m@{edge:e}?thinking=plan:4") == ["e"]
    spec = substitute_serve("apc/openai/m@{edge:e}", {"edge:e": "http://127.0.0.1:9000/v1"})
    assert spec == "apc/openai/m@http://127.0.0.1:9000/v1"
    with pytest.raises(KeyError):
        substitute_serve("openai/m@{edge:other}", {"edge:e": "x"})


def test_server_and_edge_options_are_the_cli_flags():
    config = make(GOOD)
    args = config.stack.server("small").serve_args("/z/small.zone", 64)
    assert args[:2] == ["--kv-swap-policy", "flash"] and "--kv-swap-io-backend" in args
    assert (
        args[args.index("--kv-swap-size-mb") + 1] == "64" and args[args.index("--num-kv-blocks") + 1] == "64"
    )
    edge = config.stack.edges["e"].edge_args("smollm2-135m")
    assert edge[edge.index("--one-way-delay-ms") + 1] == "10"  # half the round trip each way
    assert StackServer("x", kv_tier="recompute").serve_args("z", None) == ["--kv-swap-policy", "recompute"]
    assert config.stack.server("adapter").kv_tier == "auto"  # a server the stack does not name


def test_the_edge_is_part_of_the_match_key():
    near = make({**GOOD, "edges": {"e": {**GOOD["edges"]["e"], "rtt_ms": 40}}})
    assert {t.key for t in schedule(make(GOOD))}.isdisjoint(t.key for t in schedule(near))
    assert schedule(make(GOOD))[0].serve["edge:e"]["draft"] == "model:qwen2.5-coder-0.5b"


@pytest.mark.parametrize(
    ("stack", "spec", "message"),
    [
        ({"edges": {"e": {"server": "small"}}}, "openai/m@{edge:f}", r"\{edge:f\} but no \[stack.edges.f\]"),
        (
            {"edges": {"e": {"server": "big"}}},
            "openai/m@{edge:e}",
            "no \\[\\[serve\\]\\] entry is called 'big'",
        ),
        ({"servers": {"big": {}}}, "random", "stack.servers.big: no"),
        ({"servers": {"small": {"kv_tier": "ssd"}}}, "random", "kv_tier must be one of auto, flash"),
        ({"servers": {"small": {"io_backend": "aio"}}}, "random", "io_backend must be one of"),
        (
            {"servers": {"small": {"kv_tier": "dram", "zone_size_mb": 64}}},
            "random",
            "need kv_tier flash or auto",
        ),
        ({"servers": {"small": {"colour": 1}}}, "random", r"unknown key\(s\) \['colour'\]"),
        ({"edges": {"e": {"server": "small", "draft": "magic"}}}, "random", "draft must be prompt-lookup"),
        ({"edges": {"e": {"server": "small", "rtt_ms": -1}}}, "random", "rtt_ms must be a number >= 0"),
        ({"edges": {"e": {"draft": "suffix"}}}, "random", "server is required"),
        ({"plan_cache": {"store": "memcached"}}, "random", "store must be sqlite, redis"),
        ({"plan_cache": {"adapter": "apc/openai/m@x"}}, "random", "not through apc/"),
        ({"plan_cache": {"adapter": "openai/m@{serve:nope}"}}, "random", "stack.plan_cache.adapter: .*nope"),
        ({"max_restarts": -1}, "random", "max_restarts must be an integer >= 0"),
    ],
)
def test_bad_stacks_are_named(stack, spec, message):
    with pytest.raises(ConfigError, match=message):
        make(stack, spec)


def test_an_edge_without_a_stack_is_refused():
    with pytest.raises(ConfigError, match=r"\{edge:e\} but no"):
        config_from_dict(
            {
                "leaderboard": {"name": "s", "seeds": [1]},
                "envs": {"streetfighter": {}},
                "agents": [{"name": "llm", "spec": "openai/m@{edge:e}"}, {"spec": "zoner"}],
            }
        )
    assert stack_from_dict({}).max_restarts == 1


def test_the_canonical_stack_config_loads():
    config = load_config(ROOT / "benchmarks" / "configs" / "leaderboard-stack.toml")
    big = config.serve_entries()[next(iter(config.stack.servers))]
    assert big.model == "qwen2.5-coder-1.5b" and config.stack.server(big.name).kv_tier == "flash"
    edge = next(iter(config.stack.edges.values()))
    assert edge.draft == "model:qwen2.5-coder-0.5b" and edge.server == big.name
    specs = [a.spec for a in config.agents]
    assert any(s.startswith("apc/") and "{edge:" in s for s in specs)
    assert set(config.envs) == {"streetfighter", "hftbench"}


def test_play_takes_a_stack_and_names_a_bad_route(tmp_path):
    from typer.testing import CliRunner

    from splitsecond.cli import _load_commands, app

    _load_commands()
    stack = tmp_path / "stack.toml"
    stack.write_text(
        '[[serve]]\nname = "small"\nmodel = "smollm2-135m"\n\n'
        '[stack.edges.e]\nserver = "small"\ndraft = "suffix"\n',
        encoding="utf-8",
    )
    args = [
        "play",
        "--stack",
        str(stack),
        "--agent",
        "openai/smollm2-135m@{edge:nope}",
        "--out",
        str(tmp_path / "run"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "{edge:nope} but no [stack.edges.nope]" in " ".join(result.output.split())
    stack.write_text("[stack]\ncolour = 1\n", encoding="utf-8")
    result = CliRunner().invoke(app, [*args[:4], "random", "--out", str(tmp_path / "run2")])
    assert result.exit_code == 2 and "unknown key(s) ['colour'] in [stack]" in " ".join(result.output.split())


def test_the_ablation_arms_switch_one_layer_each():
    from splitsecond.benchmarks.stack import ARMS, arm_config, quick_config

    config = quick_config()
    specs = {arm: [a.spec.split("?")[0] for a in arm_config(config, arm).agents][:2] for arm in ARMS}
    assert specs["engine"] == specs["flash"] == ["openai/smollm2-135m@{serve:engine}"] * 2
    assert specs["edge"] == ["openai/smollm2-135m@{edge:edge}"] * 2
    assert specs["plan-cache"] == ["apc/openai/smollm2-135m@{serve:engine}"] * 2
    assert specs["all"] == ["apc/openai/smollm2-135m@{edge:edge}"] * 2
    tiers = {arm: arm_config(config, arm).stack.server("engine").kv_tier for arm in ARMS}
    assert tiers == {
        "engine": "recompute",
        "flash": "flash",
        "edge": "recompute",
        "plan-cache": "recompute",
        "all": "flash",
    }
    for arm in ARMS:  # same agents, seeds and opponents in every arm
        cfg = arm_config(config, arm)
        assert [p.name for p in cfg.participants()] == [p.name for p in config.participants()]
        assert {k: v.seeds for k, v in cfg.envs.items()} == {k: v.seeds for k, v in config.envs.items()}
