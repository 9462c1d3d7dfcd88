"""What running the canonical stack for real needed: a smaller run of the same config (``--seeds``,
``--max-decisions``), stack counters that survive a resumed run, and plan-cached seats that report
their plans' outcomes (so the cache inserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard import ConfigError, load_config, schedule
from splitsecond.benchmarks.leaderboard.config import resize_config
from splitsecond.benchmarks.leaderboard.stack_runtime import StackRuntime, read_stack_stats

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = ROOT / "benchmarks" / "configs" / "leaderboard-stack.toml"


def test_a_resized_run_is_the_same_config_smaller():
    full = load_config(CANONICAL)
    small = resize_config(full, seeds=1, max_decisions=12)
    assert {k: v.seeds for k, v in small.envs.items()} == {k: v.seeds[:1] for k, v in full.envs.items()}
    assert small.max_decisions == 12 and full.max_decisions is None
    assert small.agents == full.agents and small.stack == full.stack and small.servers == full.servers
    assert small.name == full.name
    keys = {t.key for t in schedule(small)}
    assert keys.isdisjoint(t.key for t in schedule(full))  # never mixed with the full run's matches
    assert keys == {t.key for t in schedule(resize_config(full, seeds=1, max_decisions=12))}  # resumable
    assert resize_config(full) == full
    assert resize_config(full, seeds=99).envs == full.envs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": 0}, "--seeds must be a positive integer"),
        ({"max_decisions": -3}, "--max-decisions must be a positive integer"),
        ({"max_decisions": 2.5}, "--max-decisions must be a positive integer"),
    ],
)
def test_bad_sizes_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        resize_config(load_config(CANONICAL), **kwargs)


def test_the_run_command_passes_the_sizes_through(tmp_path):
    from typer.testing import CliRunner

    from splitsecond.cli import _load_commands, app

    _load_commands()
    db = tmp_path / "r.sqlite"
    args = ["leaderboard", "run", str(CANONICAL), "--db", str(db), "--seeds", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--seeds must be a positive integer" in " ".join(result.output.split())
    assert not db.exists()  # refused before anything started


def test_a_resumed_run_keeps_the_earlier_runs_counters(tmp_path):
    runtime = StackRuntime(load_config(CANONICAL), [], [], 1, tmp_path)
    runtime.dir.mkdir(parents=True)
    assert read_stack_stats(tmp_path) == []
    runtime.write_stats().write_text(json.dumps({"server x": {"kind": "server", "run": 1}}))
    runtime.write_stats().write_text(json.dumps({"server x": {"kind": "server", "run": 2}}))
    runtime.write_stats()
    assert [s.get("server x", {}).get("run") for s in read_stack_stats(tmp_path)] == [1, 2, None]
    assert sorted(p.name for p in runtime.dir.glob("stats*.json")) == [
        "stats.1.json",
        "stats.2.json",
        "stats.json",
    ]


def test_plan_cached_seats_report_their_plans(tmp_path):
    from splitsecond.agents.specs import make_agent
    from splitsecond.benchmarks.leaderboard.worker import _with_plan_feedback
    from splitsecond.benchmarks.plan_cache import ENVS
    from splitsecond.cache import PlanCache, PlanFeedback, register
    from splitsecond.cache.layer import registered, unregister

    cached = "apc/openai/smollm2-135m@http://127.0.0.1:9/v1?thinking=plan:4"
    plain = "openai/smollm2-135m@http://127.0.0.1:9/v1?thinking=plan:4"
    unregister()
    try:
        assert not isinstance(_with_plan_feedback(make_agent(cached), cached, "hftbench"), PlanFeedback)
        register(PlanCache(str(tmp_path / "plans.sqlite")))
        for env in ("streetfighter", "hftbench"):
            wrapped = _with_plan_feedback(make_agent(cached), cached, env)
            assert isinstance(wrapped, PlanFeedback)
            assert wrapped.cache is registered().cache and wrapped.reward_fn is ENVS[env].reward_fn
            assert wrapped.flush() is None  # no plan yet: nothing to report
        for spec in (plain, "random"):
            agent = make_agent(spec)
            assert _with_plan_feedback(agent, spec, "streetfighter") is agent
    finally:
        unregister()


def test_an_edge_waits_for_its_verdict_as_long_as_a_decision_may_take():
    from splitsecond.benchmarks.leaderboard.stack import StackEdge

    config = load_config(CANONICAL)
    edge = next(iter(config.stack.edges.values()))
    args = edge.edge_args("qwen2.5-coder-1.5b", config.act_timeout_s)
    assert args[args.index("--verify-timeout-s") + 1] == f"{config.act_timeout_s:g}"
    own = StackEdge("e", "s", verify_timeout_s=45.0).edge_args("m", 240.0)
    assert own[own.index("--verify-timeout-s") + 1] == "45"
    with pytest.raises(ConfigError, match="stack.edges.e.verify_timeout_s must be a number > 0"):
        StackEdge("e", "s", verify_timeout_s=0)


def test_an_edge_takes_its_servers_context_length():
    import http.server
    import threading

    from splitsecond.benchmarks.leaderboard.stack_runtime import served_max_model_len

    cards = [b'{"object": "list", "data": [{"id": "m", "max_model_len": 4672}]}', b'{"data": []}', b"oops"]

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = cards.pop(0)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        assert served_max_model_len(base) == 4672
        assert served_max_model_len(base) is None  # announced no model
        assert served_max_model_len(base) is None  # not JSON
    finally:
        server.shutdown()
        server.server_close()
    assert served_max_model_len(base) is None  # nothing answers


def test_a_played_run_is_measured_per_agent(tmp_path):
    from splitsecond.benchmarks.leaderboard import config_from_dict, run_leaderboard
    from splitsecond.benchmarks.stack import measure_run

    config = config_from_dict(
        {
            "leaderboard": {"name": "m", "seeds": [1, 2], "save_replays": False, "bootstrap": 20},
            "envs": {"streetfighter": {"round_seconds": 2, "rounds_to_win": 1}},
            "agents": [{"spec": "punisher"}, {"spec": "dummy"}],
        }
    )
    db = tmp_path / "results.sqlite"
    run_leaderboard(config, db, workers=1)
    out = tmp_path / "run.json"
    result = measure_run(config, db, out, seeds=1)
    assert json.loads(out.read_text())["status_counts"] == result["status_counts"]
    agents = result["agents"]
    assert (
        set(agents) == {"punisher", "dummy"} and agents["punisher"]["matches"] == 4
    )  # both seeds were played
    for row in agents.values():
        assert not row["llm"] and row["errors"] == 0 and sum(row["sf_all"]) == 4
        assert row["sf_vs_scripted"] == row["sf_all"]  # no LLM in the run: every opponent is scripted
    assert (
        agents["punisher"]["sf_all"][0] == agents["dummy"]["sf_all"][2]
    )  # one's wins are the other's losses
    assert result["stack"]["matches"] == 4 and result["stack"]["stack_runs"] == 0


def test_the_canonical_calls_may_take_as_long_as_a_decision():
    from splitsecond.agents.specs import parse_agent_spec
    from splitsecond.benchmarks.leaderboard.config import _dummy_spec

    config = load_config(CANONICAL)
    llm = [parse_agent_spec(_dummy_spec(a.spec)) for a in config.agents]
    llm = [p for p in llm if p.kind == "llm"]
    assert len(llm) == 3
    for parsed in llm:  # LiteLLM's 60 s default failed calls queued behind other agents' prompts
        assert parsed.options["timeout_s"] >= config.act_timeout_s
