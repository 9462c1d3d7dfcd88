"""Grammar-constrained decoding: every mode yields output valid under its constraint."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import torch

from splitsecond.serving import LLM, EngineConfig, SamplingParams, StructuredOutput
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.loader.model_loader import load_model

pytestmark = pytest.mark.slow

ACTIONS = ["attack_left", "attack_right", "block", "jump"]
SCHEMA = {
    "type": "object",
    "properties": {"action": {"type": "string", "enum": ACTIONS}, "power": {"type": "integer", "minimum": 0}},
    "required": ["action", "power"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def llm():
    loaded = load_model("smollm2-135m", torch.float32, "cpu")
    return LLM.from_engine(LLMEngine(EngineConfig(num_kv_blocks=128), loaded=loaded))


def prompt(llm: LLM, text: str) -> str:
    return llm.tokenizer.apply_chat_template([{"role": "user", "content": text}])


def test_json_schema_output_validates(llm):
    so = StructuredOutput(json_schema=SCHEMA)
    out = llm.generate(
        prompt(llm, "Pick the fighter's move as JSON."),
        SamplingParams(temperature=0, max_tokens=40, structured=so),
    )
    c = out[0].outputs[0]
    assert c.finish_reason == "stop"
    jsonschema.validate(json.loads(c.text), SCHEMA)


def test_json_object_output_parses(llm):
    so = StructuredOutput(json_object=True)
    p = SamplingParams(temperature=0.7, seed=3, max_tokens=40, structured=so)
    c = llm.generate(prompt(llm, 'Reply with a JSON object like {"move": "jump"}.'), p)[0].outputs[0]
    if (
        c.finish_reason == "stop"
    ):  # a length cut can only happen mid-object; the prefix is still valid JSON text
        assert isinstance(json.loads(c.text), dict)
    else:
        assert c.text.lstrip().startswith("{")


def test_choice_is_one_of_the_options_with_forced_tokens(llm):
    so = StructuredOutput(choice=ACTIONS)
    before = llm.stats()
    out = llm.generate(
        prompt(llm, "Opponent jumps at you. Which action?"),
        SamplingParams(temperature=0, max_tokens=10, structured=so),
    )[0]
    c = out.outputs[0]
    assert c.text in ACTIONS and c.finish_reason == "stop"
    after = llm.stats()
    # After the first distinguishing token the rest of the choice is forced: no forward pass spells it out.
    assert out.metrics["num_forward_passes"] <= 2
    assert after.forced_tokens_total > before.forced_tokens_total or len(c.token_ids) == 1


def test_choice_with_sampling_stays_valid(llm):
    so = StructuredOutput(choice=["yes", "no", "maybe later"])
    outs = llm.generate(
        [prompt(llm, "Should we retreat?")] * 3,
        [SamplingParams(temperature=1.5, seed=s, max_tokens=8, structured=so) for s in range(3)],
    )
    assert all(o.outputs[0].text in {"yes", "no", "maybe later"} for o in outs)


def test_regex_output_full_matches(llm):
    so = StructuredOutput(regex=r"[A-H][1-8]-[A-H][1-8]")
    c = llm.generate(
        prompt(llm, "Your chess move?"), SamplingParams(temperature=0, max_tokens=10, structured=so)
    )[0].outputs[0]
    assert re.fullmatch(r"[A-H][1-8]-[A-H][1-8]", c.text), c.text


def test_structured_output_needs_exactly_one_mode():
    with pytest.raises(ValueError, match="exactly one"):
        StructuredOutput()
    with pytest.raises(ValueError, match="exactly one"):
        StructuredOutput(json_object=True, regex="a")
    with pytest.raises(ValueError, match="non-empty"):
        StructuredOutput(choice=[])
