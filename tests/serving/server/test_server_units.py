"""Fast tests of the server's parts that need no model: schemas, errors, SSE, metrics, accounting."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from splitsecond.serving.outputs import CompletionOutput, EngineStats, Logprob, RequestOutput
from splitsecond.serving.server.config import ServerConfig
from splitsecond.serving.server.errors import APIError, validation_error
from splitsecond.serving.server.logprobs import chat_logprobs, completion_logprobs
from splitsecond.serving.server.metrics import RequestTimer, ServerMetrics
from splitsecond.serving.server.protocol import ChatCompletionRequest, CompletionRequest
from splitsecond.serving.server.sse import SSE_DONE, parse_sse, sse_event
from splitsecond.serving.server.usage import usage_of


def _chat(**kw):
    return ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}], **kw)


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kw, word",
    [({"port": 70000}, "port"), ({"api_key": "  "}, "api_key"), ({"max_n": 0}, "max_n"), ({"host": ""}, "host"),
     ({"log_level": "loud"}, "log_level"), ({"disconnect_poll_s": 0}, "disconnect_poll_s")],
)  # fmt: skip
def test_server_config_rejects_bad_values(kw, word):
    with pytest.raises(ValueError, match=word):
        ServerConfig(**kw)


def test_server_config_defaults_bind_loopback(monkeypatch):
    assert ServerConfig().host == "127.0.0.1"
    monkeypatch.setenv("SPLITSECOND_API_KEY", "s3cret")
    assert ServerConfig.api_key_from_env() == "s3cret"
    monkeypatch.setenv("SPLITSECOND_API_KEY", "")
    assert ServerConfig.api_key_from_env() is None


# ---------------------------------------------------------------- protocol


@pytest.mark.parametrize(
    "kw, param",
    [({"temperature": 2.5}, "temperature"), ({"temperature": -0.1}, "temperature"), ({"n": 0}, "n"),
     ({"top_p": 0}, "top_p"), ({"max_tokens": 0}, "max_tokens"), ({"top_k": -2}, "top_k"),
     ({"stop": ["", "x"]}, "stop"), ({"top_logprobs": -1}, "top_logprobs")],
)  # fmt: skip
def test_chat_request_validation_names_the_parameter(kw, param):
    with pytest.raises(ValidationError) as info:
        _chat(**kw)
    err = validation_error(
        RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()])
    )
    assert err.status == 400
    assert err.param == param
    assert param in err.message or "must" in err.message


def test_unknown_fields_are_ignored_and_extensions_parsed():
    req = _chat(frequency_penalty=0, some_future_field={"a": 1}, top_k=5, guided_choice=["a", "b"])
    assert req.top_k == 5 and req.guided_choice == ["a", "b"]
    assert not hasattr(req, "some_future_field")


def test_response_format_json_schema_needs_a_schema():
    with pytest.raises(ValidationError, match="json_schema"):
        _chat(response_format={"type": "json_schema"})
    req = _chat(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    )
    assert req.response_format.json_schema.json_schema == {"type": "object"}


def test_completion_prompt_forms():
    assert CompletionRequest(prompt="hi").prompts() == ["hi"]
    assert CompletionRequest(prompt=[1, 2, 3]).prompts() == [[1, 2, 3]]
    assert CompletionRequest(prompt=["a", "b"]).prompts() == ["a", "b"]
    assert CompletionRequest(prompt=[[1], [2, 3]]).prompts() == [[1], [2, 3]]
    with pytest.raises(ValidationError):
        CompletionRequest(prompt=[])


def test_message_content_parts():
    req = ChatCompletionRequest(
        messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    )
    assert req.messages[0].text() == "ab"
    img = ChatCompletionRequest(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    )
    with pytest.raises(ValueError, match="image_url"):
        img.messages[0].text()


def test_invalid_json_and_non_object_bodies_map_to_400():
    err = validation_error(
        RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", 3),
                    "msg": "JSON decode error",
                    "ctx": {"error": "Expecting value"},
                }
            ]
        )
    )
    assert (err.status, err.code) == (400, "invalid_json")
    assert err.body()["error"]["type"] == "invalid_request_error"
    missing = validation_error(
        RequestValidationError([{"type": "missing", "loc": ("body", "messages"), "msg": "Field required"}])
    )
    assert missing.param == "messages" and "messages" in missing.message


def test_api_error_response_carries_headers():
    resp = APIError(429, "busy", "rate_limit_error", headers={"Retry-After": "1"}).response()
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"


# ---------------------------------------------------------------- SSE


def test_sse_round_trip():
    text = sse_event({"a": 1, "b": "x y"}) + sse_event({"c": [1, 2]}) + SSE_DONE
    assert text.startswith("data: {") and text.endswith("\n\n")
    assert parse_sse(text) == [{"a": 1, "b": "x y"}, {"c": [1, 2]}, "[DONE]"]


# ---------------------------------------------------------------- accounting


def _output(prompt=5, cached=2, gens=((1, 2, 3),)):
    outs = [
        CompletionOutput(index=i, text="t", token_ids=list(g), finish_reason="stop")
        for i, g in enumerate(gens)
    ]
    return RequestOutput("r", list(range(prompt)), cached, outs, True)


def test_usage_counts_prompt_once_and_every_choice():
    u = usage_of([_output(5, 2, ((1, 2, 3), (4,))), _output(7, 0, ((9, 9),))])
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (12, 6, 18)
    assert u.prompt_tokens_details.cached_tokens == 2


class _Tok:
    """The smallest real tokenizer: byte-level ids."""

    def decode(self, ids):
        return bytes(ids).decode("utf-8", errors="replace")


def test_logprobs_formats():
    lps = [Logprob(104, -0.1, 1, "h", {104: -0.1, 105: -2.5}), Logprob(105, -0.3, 1, "i", {105: -0.3})]
    chat = chat_logprobs(_Tok(), [104, 105], lps)
    assert [c.token for c in chat.content] == ["h", "i"]
    assert chat.content[0].top_logprobs[1].token == "i"
    assert chat.content[0].bytes == [104]
    comp = completion_logprobs(_Tok(), [104, 105], lps, text_offset=3)
    assert comp.tokens == ["h", "i"] and comp.text_offset == [3, 4]
    assert comp.top_logprobs[0] == {"h": -0.1, "i": -2.5}


# ---------------------------------------------------------------- metrics


def _stats(**kw):
    base = dict(num_running=1, num_waiting=2, num_swapped=0, free_blocks=30, total_blocks=40, block_size=16,
                prefix_cache_queries=100, prefix_cache_hits=25, prompt_tokens_total=100, generation_tokens_total=50,
                num_preemptions=0, num_forward_passes=10, forced_tokens_total=0, requests_finished=3)  # fmt: skip
    base.update(kw)
    return EngineStats(**base)


def test_metrics_render_parses_with_expected_series():
    m = ServerMetrics("smollm2-135m", _stats)
    t = RequestTimer(m)
    t.tokens(1)
    t.tokens(2)
    t.finish("stop", prompt_tokens=10, cached_tokens=4)
    t.finish("stop", prompt_tokens=10)  # idempotent
    m.requests.labels(endpoint="/v1/chat/completions", status="200").inc()
    fams = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    for name in (
        "splitsecond_time_to_first_token_seconds",
        "splitsecond_inter_token_latency_seconds",
        "splitsecond_e2e_request_latency_seconds",
        "splitsecond_num_requests_running",
        "splitsecond_num_requests_waiting",
        "splitsecond_kv_cache_free_blocks",
        "splitsecond_prefix_cache_hit_rate",
        "splitsecond_generation_tokens",
        "splitsecond_prompt_tokens",
        "splitsecond_requests",
        "splitsecond_generation_tokens_per_second",
    ):
        assert name in fams, name  # fmt: skip

    def value(fam, sample_name, **labels):
        return next(
            s.value
            for s in fams[fam].samples
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert value("splitsecond_generation_tokens", "splitsecond_generation_tokens_total") == 3
    assert value("splitsecond_prompt_tokens", "splitsecond_prompt_tokens_total") == 10
    assert (
        value("splitsecond_time_to_first_token_seconds", "splitsecond_time_to_first_token_seconds_count") == 1
    )
    assert (
        value("splitsecond_inter_token_latency_seconds", "splitsecond_inter_token_latency_seconds_count") == 2
    )
    assert (
        value("splitsecond_e2e_request_latency_seconds", "splitsecond_e2e_request_latency_seconds_count") == 1
    )
    assert value("splitsecond_prefix_cache_hit_rate", "splitsecond_prefix_cache_hit_rate") == 0.25
    assert value("splitsecond_num_requests_waiting", "splitsecond_num_requests_waiting") == 2
    assert value("splitsecond_requests", "splitsecond_requests_total", status="200") == 1
    assert value("splitsecond_request_finish", "splitsecond_request_finish_total", finish_reason="stop") == 1


def test_metrics_registries_are_per_app():
    a, b = ServerMetrics("m"), ServerMetrics("m")
    a.add_generated(5)
    assert b"splitsecond_generation_tokens_total 0.0" in b.render()


# ---------------------------------------------------------------- request -> SamplingParams


def test_sampling_params_from_request():
    from splitsecond.serving.server.sampling import sampling_params

    p = sampling_params(
        _chat(temperature=0, stop="END", top_k=0, seed=3, n=2, logprobs=True, top_logprobs=4), 10
    )
    assert (p.temperature, p.top_k, p.seed, p.n, p.max_tokens, p.logprobs) == (0, -1, 3, 2, 10, 4)
    assert p.stop == ["END"] and p.structured is None
    assert sampling_params(_chat(), 5).temperature == 1.0  # OpenAI's default
    assert sampling_params(CompletionRequest(prompt="x", logprobs=2), 5).logprobs == 2


@pytest.mark.parametrize(
    "kw, kind",
    [({"response_format": {"type": "json_object"}}, "json_object"),
     ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}}, "json_schema"),
     ({"structured_outputs": {"choice": ["a", "b"]}}, "choice"), ({"structured_outputs": {"json": '{"type": "object"}'}}, "json_schema"),
     ({"structured_outputs": {"regex": "[0-9]+"}}, "regex"), ({"guided_choice": ["x"]}, "choice"),
     ({"guided_json": {"type": "object"}}, "json_schema"), ({"guided_regex": "a+"}, "regex"),
     ({"response_format": {"type": "text"}}, None)],
)  # fmt: skip
def test_structured_output_from_each_spelling(kw, kind):
    from splitsecond.serving.server.sampling import structured_output

    so = structured_output(_chat(**kw))
    assert (so.kind if so else None) == kind


@pytest.mark.parametrize(
    "kw, param",
    [({"guided_choice": ["a"], "response_format": {"type": "json_object"}}, "guided_choice"),
     ({"guided_choice": []}, "guided_choice"), ({"guided_choice": ["a", ""]}, "guided_choice"),
     ({"guided_json": "{nope"}, "guided_json"), ({"guided_json": "[1]"}, "guided_json"),
     ({"structured_outputs": {"grammar": "root ::= x"}}, "structured_outputs.grammar")],
)  # fmt: skip
def test_bad_constraints_are_400(kw, param):
    from splitsecond.serving.server.sampling import structured_output

    with pytest.raises(APIError) as info:
        structured_output(_chat(**kw))
    assert (info.value.status, info.value.param) == (400, param)


@pytest.mark.parametrize(
    "kw, param",
    [({"presence_penalty": 1}, "presence_penalty"), ({"repetition_penalty": 1.2}, "repetition_penalty"),
     ({"n": 17}, "n"), ({"tool_choice": "required"}, "tool_choice"), ({"max_tokens": 5, "max_completion_tokens": 6}, "max_tokens"),
     ({"min_tokens": 9, "max_tokens": 5}, "min_tokens")],
)  # fmt: skip
def test_unsupported_values_are_refused(kw, param):
    from splitsecond.serving.server.sampling import reject_unsupported

    with pytest.raises(APIError) as info:
        reject_unsupported(_chat(**kw), ServerConfig())
    assert (info.value.status, info.value.param) == (400, param)
    reject_unsupported(_chat(presence_penalty=0, repetition_penalty=1, tool_choice="none"), ServerConfig())
    with pytest.raises(APIError, match="echo"):
        reject_unsupported(CompletionRequest(prompt="x", echo=True), ServerConfig())


def test_max_tokens_resolution_against_the_context():
    from splitsecond.serving.server.sampling import resolve_max_tokens

    assert resolve_max_tokens(_chat(), 100, 512) == 412
    assert resolve_max_tokens(_chat(max_completion_tokens=20), 100, 512) == 20
    assert resolve_max_tokens(CompletionRequest(prompt="x"), 100, 512) == 16  # OpenAI's default
    assert resolve_max_tokens(CompletionRequest(prompt="x"), 500, 512) == 12
    with pytest.raises(APIError) as info:
        resolve_max_tokens(_chat(max_tokens=500), 100, 512)
    assert (
        info.value.code == "context_length_exceeded"
        and "600" in info.value.message
        and "512" in info.value.message
    )
    with pytest.raises(APIError, match="512"):
        resolve_max_tokens(CompletionRequest(prompt="x"), 512, 512)


# ---------------------------------------------------------------- CLI


def test_serve_command_help_lists_the_options():
    from typer.testing import CliRunner

    from splitsecond.cli import _load_commands, app

    _load_commands()
    out = CliRunner().invoke(app, ["serve", "--help"])
    assert out.exit_code == 0
    for opt in ("--host", "--port", "--api-key", "--max-waiting", "--max-num-seqs"):
        assert opt in out.output


def test_serve_command_rejects_bad_settings_before_loading():
    from typer.testing import CliRunner

    from splitsecond.cli import _load_commands, app

    _load_commands()
    out = CliRunner().invoke(app, ["serve", "--port", "70000"])
    assert out.exit_code != 0 and "port" in out.output
    out = CliRunner().invoke(app, ["serve", "--max-waiting", "0"])
    assert out.exit_code != 0 and "max_waiting" in out.output


# ---------------------------------------------------------------- launcher


def test_launcher_reports_a_server_that_fails_to_start():
    from splitsecond.serving.server import start_server_subprocess

    with pytest.raises(RuntimeError, match="exited with code") as info:
        start_server_subprocess("no-such-model-anywhere", timeout_s=60)
    assert "no-such-model-anywhere" in str(info.value)


def test_metrics_export_the_kv_swap_tier():
    m = ServerMetrics(
        "smollm2-135m",
        lambda: _stats(kv_swap_policy="flash", kv_swap_outs=3, kv_swap_out_bytes=4096, num_preemptions=5),
    )
    fams = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    samples = {s.name: s.value for f in fams.values() for s in f.samples}
    assert samples["splitsecond_kv_swap_outs_total"] == 3
    assert samples["splitsecond_kv_swap_out_bytes_total"] == 4096
    assert samples["splitsecond_num_preemptions_total"] == 5
    assert "splitsecond_kv_swap_write_amplification" in samples
