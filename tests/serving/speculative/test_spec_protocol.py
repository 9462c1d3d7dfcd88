"""The edge <-> verifier wire format: round trips, compactness, and clear errors on garbage."""

from __future__ import annotations

import msgpack
import pytest

from splitsecond.serving.sampling_params import SamplingParams, StructuredOutput
from splitsecond.serving.speculative.edge.config import EdgeConfig
from splitsecond.serving.speculative.protocol import (
    Draft,
    ErrorMessage,
    OpenSession,
    ProtocolError,
    VerdictMessage,
    decode,
    encode,
    message_size,
    params_from_wire,
    params_to_wire,
)
from splitsecond.serving.speculative.verification import SparseDraftDist
from splitsecond.serving.speculative.verifier_service import VerifierConfig


def test_every_message_round_trips():
    params = SamplingParams(temperature=0.7, top_p=0.9, max_tokens=12, stop=["\n"], seed=3)
    msgs = [
        OpenSession("s1", [1, 2, 49151], params_to_wire(params), "abc", "prompt-lookup"),
        OpenSession("s2", [7], params_to_wire(params), "abc", "suffix", plain=True),
        Draft(3, 120, [5, 6, 7]),
        Draft(4, 123, [9, 10], [SparseDraftDist([9, 4], [0.75, 0.25]), SparseDraftDist([10], [1.0])]),
        VerdictMessage(3, 2, [5, 6, 11], 126, "stop", "\n", 4, 0.0123),
        VerdictMessage(0, 0, [], 10),
        VerdictMessage(0, 0, [9], 300, cached_tokens=288),  # the prefix cache served 288 prompt tokens
    ]
    for msg in msgs:
        assert decode(encode(msg)) == msg
    err = ErrorMessage("desync", "position 3 != 4")
    assert ErrorMessage.from_details(err.details()) == err
    assert ErrorMessage.from_details("Socket closed") is None


def test_messages_are_compact():
    # 8 draft tokens: ids and position only, no masks or logits.
    assert message_size(Draft(1, 500, list(range(1000, 1008)))) < 80
    assert message_size(VerdictMessage(1, 7, list(range(8)), 508, None, None, 8, 0.02, 0.25)) < 120


def test_sampling_params_survive_the_wire():
    params = SamplingParams(
        temperature=0, max_tokens=9, min_tokens=2, structured=StructuredOutput(choice=["a", "b"])
    )
    assert params_from_wire(params_to_wire(params)) == params


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"\xc1\xc1garbage", "undecodable"),
        (msgpack.packb([1, 2]), "map"),
        (msgpack.packb({"v": 99, "t": "draft"}), "version"),
        (msgpack.packb({"v": 1, "t": "launch"}), "unknown message type"),
        (msgpack.packb({"v": 1, "t": "draft", "r": 1, "pos": 3, "ids": b"\x01\x02\x03"}), "int32"),
        (msgpack.packb({"v": 1, "t": "draft", "r": "one", "pos": 3, "ids": b""}), "'r'"),
        (msgpack.packb({"v": 1, "t": "draft", "r": 1, "pos": 3, "ids": b"", "q": [[b"", 5]]}), "float32"),
        (msgpack.packb({"v": 1, "t": "open", "sid": "x", "prompt": b"", "tok": "f"}), "'params'"),
    ],
)
def test_malformed_messages_raise_protocol_errors(raw, match):
    with pytest.raises(ProtocolError, match=match):
        decode(raw)


def test_bad_sampling_params_are_named():
    with pytest.raises(ProtocolError, match="unknown sampling parameters"):
        params_from_wire({"temperature": 0, "beam_width": 4})
    with pytest.raises(ProtocolError, match="temperature"):
        params_from_wire({"temperature": -1})


def test_configs_validate():
    with pytest.raises(ValueError, match="host:port"):
        EdgeConfig(server="localhost")
    with pytest.raises(ValueError, match="draft must be one of"):
        EdgeConfig(server="h:1", draft="ouija")
    with pytest.raises(ValueError, match="draft must be one of"):
        EdgeConfig(server="h:1", draft="self:0")
    assert EdgeConfig(server="h:1", draft="self:8").draft_kind() == ("self", 8)
    assert EdgeConfig(server="h:1", draft="model:other").draft_kind() == ("model", "other")
    assert EdgeConfig(server="h:1", draft="suffix").draft_kind() == ("suffix", None)
    for bad, match in [({"suffix_cache_tokens": 0}, "suffix_cache_tokens"), ({"suffix_max_match": 1}, "suffix_max_match"),
                       ({"plain_fallback": "yes"}, "plain_fallback")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            EdgeConfig(server="h:1", draft="suffix", **bad)
    with pytest.raises(ValueError, match="port"):
        VerifierConfig(port=70000)
    with pytest.raises(ValueError, match="draft_timeout_s"):
        VerifierConfig(draft_timeout_s=0)


def test_cli_names_bad_edge_and_verifier_settings():
    from typer.testing import CliRunner

    from splitsecond.cli import _load_commands, app

    _load_commands()
    runner = CliRunner()
    result = runner.invoke(app, ["edge", "--server", "nowhere"])
    assert result.exit_code != 0 and "host:port" in result.output
    result = runner.invoke(app, ["edge", "--server", "h:1", "--draft", "ouija"])
    assert result.exit_code != 0 and "draft must be one of" in result.output
    result = runner.invoke(
        app, ["edge", "--server", "h:1", "--draft", "suffix", "--suffix-cache-tokens", "0"]
    )
    assert result.exit_code != 0 and "suffix_cache_tokens" in result.output
    result = runner.invoke(app, ["serve", "--speculative-edge", "--spec-port", "70000"])
    assert result.exit_code != 0 and "port" in result.output
