"""A leaderboard whose model endpoint is unreachable stops within seconds with a clear message and a
non-zero exit, before any match is played on fallbacks; one that dies during the run (every call
fails) stops it the same way, leaving the match pending. A worker registers the plan cache's
``apc`` LiteLLM provider before it builds an ``apc/...`` agent."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from splitsecond.benchmarks.leaderboard import ResultsDB, config_from_dict, run_leaderboard
from splitsecond.benchmarks.leaderboard.worker import EndpointDown

AGENTS = Path(__file__).resolve().parent / "leaderboard_test_agents.py"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(llm_spec: str, others: list[dict], name: str = "llm") -> dict:
    return {
        "leaderboard": {"name": "ep", "seeds": [1], "act_timeout_s": 20.0, "save_replays": False},
        "envs": {"streetfighter": {"round_seconds": 3, "rounds_to_win": 1}},
        "agents": [{"name": name, "spec": llm_spec, "latency": "fixed:50"}, *others],
    }


class _BrokenModel(http.server.BaseHTTPRequestHandler):
    """An OpenAI-style endpoint that lists models but fails every completion."""

    posts = 0

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "smollm2-135m", "object": "model"}]})

    def do_POST(self):
        type(self).posts += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(500, {"error": {"message": "the model crashed", "type": "server_error"}})


@pytest.fixture
def broken_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BrokenModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _BrokenModel.posts = 0
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def test_an_unreachable_endpoint_stops_the_run_before_any_match(tmp_path):
    port = closed_port()
    cfg = config_from_dict(
        make_config(
            f"openai/smollm2-135m@http://127.0.0.1:{port}/v1?thinking=reflex",
            [{"spec": "zoner"}, {"spec": "rushdown"}],
        )
    )
    db = tmp_path / "r.sqlite"
    t0 = time.perf_counter()
    with pytest.raises(EndpointDown) as info:
        run_leaderboard(cfg, db, workers=1)
    assert time.perf_counter() - t0 < 30.0
    msg = str(info.value)
    assert f"http://127.0.0.1:{port}/v1 does not answer" in msg and "agent 'llm' cannot play" in msg
    with ResultsDB(db) as store:
        assert store.status_counts("ep") == {"pending": 6, "running": 0, "done": 0, "forfeit": 0, "failed": 0}
        assert store.seat_rows("ep") == []


def test_the_cli_exits_non_zero_with_the_message(tmp_path):
    from splitsecond.cli import _load_commands, app

    _load_commands()
    port = closed_port()
    config = tmp_path / "lb.toml"
    config.write_text(
        f"""
[leaderboard]
name = "ep"
seeds = [1]
save_replays = false

[envs.streetfighter]
round_seconds = 3

[[agents]]
name = "llm"
spec = "openai/smollm2-135m@http://127.0.0.1:{port}/v1"

[[agents]]
spec = "zoner"
""",
        encoding="utf-8",
    )
    db = tmp_path / "cli.sqlite"
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, ["leaderboard", "run", str(config), "--db", str(db), "--workers", "1"])
    assert time.perf_counter() - t0 < 30.0
    assert result.exit_code == 1, result.output
    assert "does not answer" in result.output and "No match was played" in " ".join(result.output.split())
    with ResultsDB(db) as store:
        assert store.status_counts("ep")["done"] == 0 and store.seat_rows("ep") == []


def test_an_endpoint_failing_every_call_stops_the_run_and_the_worker_registered_apc(
    tmp_path, broken_endpoint
):
    probe = tmp_path / "providers.txt"
    cfg = config_from_dict(
        make_config(
            f"apc/openai/smollm2-135m@{broken_endpoint}?thinking=reflex",
            [{"name": "probe", "spec": f"{AGENTS}:ProviderProbe?out={probe}", "latency": "fixed:50"}],
            name="cached",
        )
    )
    db = tmp_path / "run" / "r.sqlite"
    with pytest.raises(EndpointDown) as info:
        run_leaderboard(cfg, db, workers=1)  # the probe of the endpoint passes: it answers GET /models
    msg = str(info.value)
    assert "agent 'cached': its first 3 decisions all failed" in msg and "the model crashed" in msg
    assert f"its model (endpoint {broken_endpoint}) cannot be used" in msg
    # the pool worker registered the plan cache's provider before building the apc/ agent ...
    assert "apc" in probe.read_text(encoding="utf-8").split(",")
    assert "LLM Provider NOT provided" not in msg
    assert (db.parent / "plans.sqlite").exists()  # ... on the leaderboard's own store
    assert _BrokenModel.posts >= 3  # the calls reached the endpoint through the cache
    with ResultsDB(db) as store:
        counts = store.status_counts("ep")
        rows = store.matches("ep")
    assert counts["done"] == counts["forfeit"] == counts["failed"] == 0 and counts["pending"] == 2
    assert all(r["failures"] == 0 and r["attempts"] == 0 for r in rows)  # not held against the match
    assert any("first 3 decisions all failed" in (r["error"] or "") for r in rows)


def test_a_run_stopped_by_a_dead_endpoint_abandons_the_matches_in_flight(tmp_path):
    cfg = config_from_dict(
        {
            "leaderboard": {"name": "ep", "seeds": [1], "act_timeout_s": 20.0, "save_replays": False},
            "envs": {"streetfighter": {"round_seconds": 3, "rounds_to_win": 1}},
            "agents": [
                {"spec": "zoner"},
                {"name": "slow", "spec": f"{AGENTS}:Sleeper?seconds=5", "latency": "fixed:50"},
                {"name": "dead", "spec": f"{AGENTS}:FailingCaller", "latency": "fixed:50"},
            ],
        }
    )
    db = tmp_path / "r.sqlite"
    t0 = time.perf_counter()
    with pytest.raises(
        EndpointDown, match="agent 'dead': its first 3 decisions all failed .*Connection refused"
    ):
        run_leaderboard(cfg, db, workers=2)  # zoner vs slow (minutes) and zoner vs dead start together
    assert time.perf_counter() - t0 < 60.0  # the slow match was abandoned, not waited for
    with ResultsDB(db) as store:
        counts = store.status_counts("ep")
        rows = {tuple(s["name"] for s in r["seats"]): r for r in store.matches("ep")}
    assert counts == {"pending": 6, "running": 0, "done": 0, "forfeit": 0, "failed": 0}
    assert (
        rows[("zoner", "slow")]["attempts"] == 0 and "first 3 decisions" in rows[("zoner", "dead")]["error"]
    )
