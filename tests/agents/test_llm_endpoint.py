"""A model endpoint that does not answer: found before the match, counted as errors during it."""

import http.server
import os
import socket
import threading

import pytest

from splitsecond.agents.arena import MatchConfig, run_match
from splitsecond.agents.llm_agent import EndpointUnreachable, check_endpoint

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_check_endpoint_needs_an_answer_not_a_success():
    port = _closed_port()
    with pytest.raises(EndpointUnreachable, match=f"127.0.0.1:{port}/v1 does not answer"):
        check_endpoint(f"http://127.0.0.1:{port}/v1", timeout_s=2)
    with pytest.raises(EndpointUnreachable):
        check_endpoint("http://[bad/v1", timeout_s=2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_endpoint(f"http://127.0.0.1:{server.server_address[1]}/v1", timeout_s=2)  # 404 is an answer
    finally:
        server.shutdown()
        server.server_close()


def test_failed_model_calls_are_counted_as_errors(tmp_path):
    dead = f"openai/smollm2-135m@http://127.0.0.1:{_closed_port()}/v1?structured=none&timeout_s=5"
    result = run_match([dead, "dummy"], MatchConfig(seed=0, max_decisions=6, out_dir=tmp_path))
    llm, builtin = result.agents["player_0"], result.agents["player_1"]
    assert llm.decisions > 0 and llm.errors == llm.fallbacks == llm.decisions
    assert builtin.errors == 0
