"""``splitsecond play --agent apc/...``: the CLI registers the plan cache once, on ``--cache-db``.

No model server: the endpoint answers ``GET /v1/models`` (so ``play``'s reachability check passes) and
refuses every completion with a 503, so every model call fails at once. What matters is which error:
without the registration LiteLLM does not know the provider ``apc`` at all.
"""

import http.server
import json
import logging
import threading

import pytest
from typer.testing import CliRunner

from splitsecond.cache import PlanCache, ensure_registered, register
from splitsecond.cache.layer import registered, unregister
from splitsecond.cli import _load_commands, app
from splitsecond.cli.play import plan_cache_specs


@pytest.fixture(autouse=True)
def no_provider():
    unregister()
    yield
    unregister()


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Lists no models; answers every completion with 503."""

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self._answer(200, b'{"object": "list", "data": []}')

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(503, b'{"error": {"message": "model unavailable", "type": "unavailable"}}')

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_ensure_registered_is_idempotent_per_store(tmp_path):
    assert registered() is None
    first = ensure_registered(tmp_path / "a.db")
    assert registered() is first and (tmp_path / "a.db").exists()
    assert ensure_registered(tmp_path / "a.db") is first
    assert ensure_registered(str(tmp_path / "sub" / ".." / "a.db")) is first
    assert ensure_registered() is first  # no store named: keep whatever is registered
    other = ensure_registered(tmp_path / "b.db")
    assert other is not first and registered() is other
    mine = register(PlanCache(tmp_path / "c.db"))
    assert ensure_registered() is mine and ensure_registered(tmp_path / "c.db") is mine
    with pytest.raises(ValueError, match="directory"):
        ensure_registered(tmp_path)


def test_plan_cache_specs():
    specs = [
        "apc/openai/smollm2-135m@http://127.0.0.1:8000/v1?thinking=plan-then-act:4",
        "openai/smollm2-135m@http://127.0.0.1:8000/v1",
        "llm:apc/x",
        "hft-market-maker",
        "not a spec!",
    ]
    assert plan_cache_specs(specs) == [specs[0], specs[2]]


def _play(tmp_path, caplog, model, url, extra=()):
    caplog.set_level(logging.WARNING, logger="splitsecond.agents.llm_agent")
    _load_commands()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["play", "--env", "HFTBench-v0", "--agent", f"{model}@{url}?timeout_s=2", "--agent", "hft-market-maker",
         "--latency", "fixed:100", "--env-arg", "session_seconds=1", "--max-decisions", "6",
         "--out", str(out), *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "episode.jsonl").read_text().splitlines()]
    mine = [r for r in lines if r["type"] == "decision" and r["agent"] == "trader_0"]
    failures = [r.getMessage() for r in caplog.records if "model call failed" in r.getMessage()]
    return mine, failures


def test_play_registers_the_cache_for_apc_models(tmp_path, caplog, refusing_url):
    db = tmp_path / "plans.db"
    mine, failures = _play(tmp_path, caplog, "apc/openai/smollm2-135m", refusing_url, ["--cache-db", str(db)])
    assert mine and all(r["fallback"] for r in mine)
    assert db.exists() and registered() is not None and registered().cache.store.path == db
    # every call went through the apc layer to the endpoint, which refused it: not an unknown provider
    assert len(failures) == len(mine)
    assert all("Provider" not in m for m in failures), failures


def test_without_registration_apc_is_unknown(tmp_path, caplog, refusing_url):
    mine, _ = _play(
        tmp_path, caplog, "openai/smollm2-135m", refusing_url
    )  # no apc/ model: nothing registered
    assert mine and registered() is None

    from splitsecond.agents import LLMAgent
    from splitsecond.agents.arena import MatchConfig, run_match

    agent = LLMAgent("apc/openai/smollm2-135m", api_base=refusing_url, timeout_s=2)
    run_match({"trader_0": agent, "trader_1": "hft-market-maker"},
              MatchConfig(env_id="HFTBench-v0", max_decisions=4, env_kwargs={"session_seconds": 1}),
              latency={"trader_0": "fixed:100"})  # fmt: skip
    assert agent.stats.call_errors >= 1 and "Provider" in agent.stats.last_error
