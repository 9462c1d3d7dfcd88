"""Fast checks (no model) of the hardening parts: sampling bounds naming the parameter, constraint size and
nesting bounds, strict JSON schemas, body parsing limits, error bodies that never leak internals, the
gRPC key check, the API key file."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from splitsecond.serving.constrained.json_schema import json_depth, json_schema_grammar, strict_schema
from splitsecond.serving.errors import InvalidParameterError, InvalidSchemaError, RequestFailedError
from splitsecond.serving.sampling_params import MAX_CHOICE_CHARS, SamplingParams, StructuredOutput
from splitsecond.serving.server.body import check_content_type, parse_json
from splitsecond.serving.server.config import ServerConfig, read_api_key_file
from splitsecond.serving.server.errors import APIError
from splitsecond.serving.server.generation import engine_error, schema_error
from splitsecond.serving.server.protocol import ChatCompletionRequest
from splitsecond.serving.speculative.api_key import auth_metadata, key_matches


class _State:
    config = ServerConfig()


# ---------------------------------------------------------------- sampling values


@pytest.mark.parametrize(
    "kwargs, param",
    [({"top_k": 10**20}, "top_k"), ({"seed": 2**64}, "seed"), ({"seed": -(2**63) - 1}, "seed"),
     ({"n": 2**63}, "n"), ({"max_tokens": 2**63}, "max_tokens"), ({"min_tokens": 2**63, "max_tokens": 2**63 - 1}, "min_tokens"),
     ({"stop_token_ids": [2**63]}, "stop_token_ids"), ({"temperature": float("nan")}, "temperature"),
     ({"logprobs": True}, "logprobs"), ({"n": True}, "n"), ({"stop": ["x"] * 65}, "stop"),
     ({"stop": ["x" * 1025]}, "stop"), ({"stop_token_ids": [1] * 1025}, "stop_token_ids")],
)  # fmt: skip
def test_sampling_values_out_of_int64_name_their_field(kwargs, param):
    with pytest.raises(InvalidParameterError) as info:
        SamplingParams(**kwargs)
    assert info.value.param == param and isinstance(info.value, ValueError)


def test_extreme_but_valid_values_pass():
    p = SamplingParams(seed=2**64 - 1, top_k=2**63 - 1, max_tokens=2**63 - 1, stop_token_ids=[2**63 - 1])
    assert p.seed == 2**64 - 1 and SamplingParams(seed=-(2**63)).seed == -(2**63)


@pytest.mark.parametrize(
    "body, param",
    [({"top_k": 10**20}, "top_k"), ({"seed": 2**64}, "seed"), ({"n": 2**70}, "n"),
     ({"stop_token_ids": [-1]}, "stop_token_ids"), ({"max_tokens": 2**64}, "max_tokens")],
)  # fmt: skip
def test_the_request_schema_refuses_out_of_range_integers(body, param):
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    from splitsecond.serving.server.errors import validation_error

    with pytest.raises(ValidationError) as info:
        ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}], **body)
    err = validation_error(
        RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()])
    )
    assert (err.status, err.param) == (400, param)


# ---------------------------------------------------------------- constraint bounds


def test_constraint_sizes_and_nesting_are_bounded():
    with pytest.raises(InvalidSchemaError, match="too large"):
        StructuredOutput(choice=["a" * (MAX_CHOICE_CHARS // 2 + 1), "b" * (MAX_CHOICE_CHARS // 2)])
    with pytest.raises(InvalidSchemaError, match="too large"):
        StructuredOutput(choice=[f"o{i}" for i in range(5000)])
    with pytest.raises(InvalidSchemaError, match="too long"):
        StructuredOutput(regex="a" * 20_000)
    deep: dict = {"type": "string"}
    for _ in range(20):
        deep = {"type": "object", "properties": {"a": deep}}
    with pytest.raises(InvalidSchemaError, match="deeper"):
        StructuredOutput(json_schema=deep)
    with pytest.raises(InvalidSchemaError, match="too large"):
        StructuredOutput(json_schema={"type": "string", "description": "d" * 70_000})
    with pytest.raises(ValueError, match="json_schema_mode"):
        StructuredOutput(json_schema={"type": "object"}, json_schema_mode="lenient")


def test_json_depth_counts_without_recursion():
    assert json_depth(1, 10) == 0 and json_depth([], 10) == 1 and json_depth({"a": [{"b": []}]}, 10) == 4
    very_deep: list = []
    for _ in range(100_000):
        very_deep = [very_deep]
    assert json_depth(very_deep, 65) == 65


# ---------------------------------------------------------------- strict JSON schema


def test_strict_schema_closes_objects_that_list_properties():
    schema = {
        "type": "object",
        "properties": {
            "move": {"enum": ["a", "b"]},
            "target": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "extra": {"type": "object", "properties": {"y": {}}, "additionalProperties": True},
            "list": {"type": "array", "items": {"type": "object", "properties": {"z": {}}}},
        },
        "$defs": {"D": {"type": "object", "properties": {"w": {}}}},
        "anyOf": [{"type": "object", "properties": {"q": {}}}],
        "allOf": [{"properties": {"r": {}}}],
    }
    out = strict_schema(schema)
    assert out["additionalProperties"] is False
    assert out["properties"]["target"]["additionalProperties"] is False
    assert out["properties"]["extra"]["additionalProperties"] is True  # said so: kept
    assert out["properties"]["list"]["items"]["additionalProperties"] is False
    assert out["$defs"]["D"]["additionalProperties"] is False
    assert out["anyOf"][0]["additionalProperties"] is False
    assert "additionalProperties" not in out["allOf"][0]  # a part of one object, not a whole object
    assert "additionalProperties" not in out["properties"]["move"]
    assert (
        "additionalProperties" not in schema and "additionalProperties" not in schema["properties"]["target"]
    )
    assert strict_schema({"type": "object"}) == {"type": "object"}  # no properties listed: any object


def test_strict_grammar_has_no_free_whitespace_and_permissive_keeps_it():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    strict = json.loads(json_schema_grammar(schema, "strict"))
    loose = json.loads(json_schema_grammar(schema, "permissive"))
    assert strict != loose
    assert "whitespace_flexible" in json.dumps(strict) and '"whitespace_flexible": false' in json.dumps(
        strict
    )


# ---------------------------------------------------------------- bodies


def _request(content_type: str | None) -> Request:
    headers = [(b"content-type", content_type.encode())] if content_type else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


@pytest.mark.parametrize("ct", ["application/json", "Application/JSON; charset=utf-8"])
def test_json_content_types_pass(ct):
    check_content_type(_request(ct))


@pytest.mark.parametrize(
    "ct", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_other_content_types_are_415(ct):
    with pytest.raises(APIError) as info:
        check_content_type(_request(ct))
    assert info.value.status == 415 and info.value.code == "unsupported_media_type"


def test_parse_json_bounds_nesting_and_survives_recursion():
    assert parse_json(b'{"a": [[1]]}', 64) == {"a": [[1]]}
    for body in (b"[" * 65 + b"]" * 65, b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        with pytest.raises(APIError) as info:
            parse_json(body, 64)
        assert (info.value.status, info.value.code) == (400, "nesting_too_deep")
    with pytest.raises(APIError) as info:
        parse_json(b"{nope", 64)
    assert info.value.code == "invalid_json"


# ---------------------------------------------------------------- error bodies


def test_a_library_panic_never_reaches_the_client():
    panic = InvalidSchemaError(
        "invalid choice: thread '<unnamed>' panicked at src/api.rs:42:9:\nstack backtrace:\n 0: rust_begin_unwind"
    )
    err = schema_error(panic, "structured_outputs.choice")
    assert err.status == 400 and err.param == "structured_outputs.choice"
    assert "panicked" not in err.message and "backtrace" not in err.message and "error id err-" in err.message
    plain = schema_error(
        InvalidSchemaError("invalid json_schema: Unknown type: no-such-type"), "response_format"
    )
    assert "no-such-type" in plain.message  # a plain validation message is useful: kept


def test_engine_faults_answer_an_error_id_only():
    err = engine_error(
        RequestFailedError("r1", "sampling failed: IndexError: index 1000000 is out of bounds"),
        _State(),
        None,
    )
    assert err.status == 500 and err.code == "internal_error"
    assert "IndexError" not in err.message and "1000000" not in err.message
    assert err.headers["X-Error-Id"] in err.message
    err = engine_error(RuntimeError("/secret/path/model.gguf: CUDA error"), _State(), None)
    assert err.status == 500 and "secret" not in err.message
    err = engine_error(
        InvalidParameterError("logprobs", "SamplingParams: logprobs too large"), _State(), None
    )
    assert (err.status, err.param) == (400, "top_logprobs")


# ---------------------------------------------------------------- keys


def test_grpc_key_check():
    md = auth_metadata("k1")
    assert key_matches(md, "k1") and not key_matches(md, "k2") and not key_matches((), "k1")
    assert key_matches((("authorization", "bearer k1"),), "k1")
    assert auth_metadata(None) == ()


def test_api_key_file(tmp_path):
    f = tmp_path / "key"
    f.write_text("  s3cret\n")
    assert read_api_key_file(str(f)) == "s3cret"
    f.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        read_api_key_file(str(f))
    with pytest.raises(ValueError, match="cannot read"):
        read_api_key_file(str(tmp_path / "missing"))


def test_server_config_limits_and_key_not_in_repr():
    cfg = ServerConfig(api_key="top-secret")
    assert "top-secret" not in repr(cfg)
    assert cfg.max_body_bytes == 4 * 2**20 and cfg.max_json_depth == 64 and not cfg.public_metrics
    with pytest.raises(ValueError, match="max_body_bytes"):
        ServerConfig(max_body_bytes=10)
