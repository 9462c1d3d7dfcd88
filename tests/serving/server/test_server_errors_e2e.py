"""End-to-end: every bad request to the real server gets its status and an OpenAI error object;
``/metrics`` parses and counts what happened."""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from splitsecond.serving.server.sse import parse_sse

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m"
MAX_MODEL_LEN = 512  # conftest.py starts the server with --max-model-len 512


def _msgs(text="Say hello."):
    return [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": text}]


def _post(server, path, body, key=..., raw=None):
    key = server.api_key if key is ... else key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return httpx.post(server.api_base + path, content=raw, headers=headers, timeout=60)
    return httpx.post(server.api_base + path, json=body, headers=headers, timeout=60)


def _assert_error(resp, status, param=None, code=None):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    assert err["message"]
    if param is not None:
        assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    return err


# ---------------------------------------------------------------- errors


def test_invalid_json_is_400(server):
    err = _assert_error(_post(server, "/chat/completions", None, raw=b'{"model": "x", "messages": ['), 400)
    assert "JSON" in err["message"]
    _assert_error(_post(server, "/completions", None, raw=b"[1, 2]"), 400)


def test_unknown_model_is_404(server):
    err = _assert_error(
        _post(server, "/chat/completions", {"model": "gpt-9", "messages": _msgs()}),
        404,
        "model",
        "model_not_found",
    )
    assert "gpt-9" in err["message"]


def test_prompt_over_context_is_400_with_numbers(server):
    prompt = "apple " * (MAX_MODEL_LEN + 50)
    err = _assert_error(
        _post(server, "/completions", {"model": MODEL, "prompt": prompt, "max_tokens": 5}), 400, "prompt",
        "context_length_exceeded",
    )  # fmt: skip
    assert str(MAX_MODEL_LEN) in err["message"] and re.search(r"\d{3}", err["message"])
    err = _assert_error(
        _post(
            server, "/chat/completions", {"model": MODEL, "messages": _msgs(), "max_tokens": MAX_MODEL_LEN}
        ),
        400,
        "max_tokens",
        "context_length_exceeded",
    )
    assert str(MAX_MODEL_LEN) in err["message"]


@pytest.mark.parametrize(
    "extra, param",
    [({"temperature": 3}, "temperature"), ({"temperature": "hot"}, "temperature"), ({"n": 0}, "n"),
     ({"n": 1000}, "n"), ({"top_p": 1.5}, "top_p"), ({"max_tokens": -1}, "max_tokens"),
     ({"frequency_penalty": 0.5}, "frequency_penalty"), ({"logit_bias": {"1": 5}}, "logit_bias"),
     ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
     ({"top_logprobs": 3}, "top_logprobs"), ({"top_logprobs": 50, "logprobs": True}, "top_logprobs"),
     ({"guided_choice": ["a"], "guided_regex": "b"}, "guided_regex"), ({"messages": []}, "messages")],
)  # fmt: skip
def test_bad_parameters_are_400_naming_the_param(server, extra, param):
    body = {"model": MODEL, "messages": _msgs(), "max_tokens": 2, **extra}
    _assert_error(_post(server, "/chat/completions", body), 400, param)


def test_neutral_values_of_unsupported_fields_are_accepted(server):
    body = {"model": MODEL, "messages": _msgs(), "max_tokens": 2, "frequency_penalty": 0, "presence_penalty": 0,
            "logit_bias": {}, "user": "u1", "store": False, "metadata": {"a": "b"}, "parallel_tool_calls": False}  # fmt: skip
    assert _post(server, "/chat/completions", body).status_code == 200


@pytest.mark.parametrize(
    "extra, param",
    [({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "no-such-type"}}}}}}, "response_format"),
     ({"guided_regex": "([a-z"}, "guided_regex"),
     ({"guided_json": "{not json"}, "guided_json")],
)  # fmt: skip
def test_invalid_schema_is_400(server, extra, param):
    body = {"model": MODEL, "messages": _msgs(), "max_tokens": 5, **extra}
    _assert_error(_post(server, "/chat/completions", body), 400, param)


def test_api_key_required(server):
    body = {"model": MODEL, "messages": _msgs(), "max_tokens": 2}
    err = _assert_error(_post(server, "/chat/completions", body, key=None), 401, code="invalid_api_key")
    assert "API key" in err["message"]
    _assert_error(_post(server, "/chat/completions", body, key="wrong"), 401, code="invalid_api_key")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.api_base, api_key="wrong", max_retries=0).models.list()
    # Health stays open for probes; metrics follow the key (see test_server_hardening_e2e.py).
    assert httpx.get(server.base_url + "/health").status_code == 200
    _assert_error(httpx.get(server.base_url + "/metrics", timeout=10), 401, code="invalid_api_key")


def test_streamed_request_with_a_bad_value_fails_before_any_event(server):
    body = {"model": MODEL, "messages": _msgs(), "max_tokens": 2, "stream": True, "temperature": 9}
    _assert_error(_post(server, "/chat/completions", body), 400, "temperature")
    body = {"model": MODEL, "messages": _msgs(), "max_tokens": 3, "stream": True}
    r = _post(server, "/chat/completions", body)
    events = parse_sse(r.text)
    assert r.headers["content-type"].startswith("text/event-stream") and events[-1] == "[DONE]"
    assert all(isinstance(e, dict) and "error" not in e for e in events[:-1])


# ---------------------------------------------------------------- metrics


def _scrape(server) -> dict:
    text = httpx.get(server.base_url + "/metrics", headers=server.headers(), timeout=10).text
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fams, family, suffix="", **labels) -> float:
    return sum(
        s.value
        for s in fams[family].samples
        if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_parse_and_count(server):
    before = _scrape(server)
    for name in (
        "splitsecond_time_to_first_token_seconds",
        "splitsecond_inter_token_latency_seconds",
        "splitsecond_e2e_request_latency_seconds",
        "splitsecond_num_requests_running",
        "splitsecond_num_requests_waiting",
        "splitsecond_kv_cache_free_blocks",
        "splitsecond_kv_cache_total_blocks",
        "splitsecond_kv_cache_usage_ratio",
        "splitsecond_prefix_cache_hit_rate",
        "splitsecond_prefix_cache_queries",
        "splitsecond_prompt_tokens",
        "splitsecond_generation_tokens",
        "splitsecond_cached_prompt_tokens",
        "splitsecond_generation_tokens_per_second",
        "splitsecond_requests",
        "splitsecond_request_finish",
    ):
        assert name in before, name  # fmt: skip
    body = {"model": MODEL, "messages": _msgs("Count to five. " * 4), "max_tokens": 5, "temperature": 0}
    for _ in range(2):  # the repeat hits the prefix cache
        assert _post(server, "/chat/completions", body).status_code == 200
    _assert_error(_post(server, "/chat/completions", {**body, "model": "nope"}), 404)
    _assert_error(_post(server, "/chat/completions", {**body, "n": 0}), 400)
    _assert_error(_post(server, "/chat/completions", body, key="wrong"), 401)
    after = _scrape(server)

    def delta(family, suffix="", **labels):
        return _value(after, family, suffix, **labels) - _value(before, family, suffix, **labels)

    ep = "/v1/chat/completions"
    for status, n in (("200", 2), ("404", 1), ("400", 1), ("401", 1)):
        assert delta("splitsecond_requests", "_total", endpoint=ep, status=status) == n, status
    assert delta("splitsecond_time_to_first_token_seconds", "_count") == 2
    assert delta("splitsecond_e2e_request_latency_seconds", "_count") == 2
    assert 2 <= delta("splitsecond_generation_tokens", "_total") <= 10
    assert delta("splitsecond_inter_token_latency_seconds", "_count") >= 1
    assert delta("splitsecond_cached_prompt_tokens", "_total") >= 16
    assert delta("splitsecond_prefix_cache_hits", "_total") >= 16
    assert 0 < _value(after, "splitsecond_prefix_cache_hit_rate") <= 1
    assert (
        _value(after, "splitsecond_kv_cache_total_blocks")
        >= _value(after, "splitsecond_kv_cache_free_blocks")
        > 0
    )
