"""Agent spec strings: built-ins, LiteLLM models with endpoints and options, user classes."""

import pytest

from splitsecond.agents import LLMAgent, RandomAgent, make_agent, parse_agent_spec
from splitsecond.agents.thinking import ChainOfThought, PlanThenAct


@pytest.mark.parametrize(
    ("text", "kind", "target", "api_base", "options"),
    [
        ("random", "builtin", "random", None, {}),
        ("builtin:random?latency_ms=5", "builtin", "random", None, {"latency_ms": 5}),
        ("openai/gpt-4o-mini", "llm", "openai/gpt-4o-mini", None, {}),
        (
            "openai/smollm2-135m@http://127.0.0.1:8000/v1",
            "llm", "openai/smollm2-135m", "http://127.0.0.1:8000/v1", {},
        ),
        (
            "openai/smollm2-135m@https://host:8443/v1?thinking=plan-then-act:4&temperature=0.2&name=me",
            "llm", "openai/smollm2-135m", "https://host:8443/v1",
            {"thinking": "plan-then-act:4", "temperature": 0.2, "name": "me"},
        ),
        ("vertex_ai/claude-3@20240229", "llm", "vertex_ai/claude-3@20240229", None, {}),
        ("ollama/llama3:8b", "llm", "ollama/llama3:8b", None, {}),
        ("llm:gpt-4o@http://localhost:1234/v1", "llm", "gpt-4o", "http://localhost:1234/v1", {}),
        ("my_pkg.agents:Cautious?aggression=0.5", "class", "my_pkg.agents:Cautious", None, {"aggression": 0.5}),
        ("agents/mine.py:MyAgent", "class", "agents/mine.py:MyAgent", None, {}),
    ],
)  # fmt: skip
def test_parse(text, kind, target, api_base, options):
    spec = parse_agent_spec(text)
    assert (spec.kind, spec.target, spec.api_base, spec.options) == (kind, target, api_base, options)


@pytest.mark.parametrize("text", ["", "   ", "two words", "random?novalue", "@http://x/v1"])
def test_bad_specs(text):
    with pytest.raises(ValueError):
        parse_agent_spec(text)


def test_build_builtin_and_llm():
    assert isinstance(make_agent("random"), RandomAgent)
    llm = make_agent("openai/smollm2-135m@http://127.0.0.1:8000/v1?thinking=cot:64&history=2&extra.top_p=0.9")
    assert isinstance(llm, LLMAgent)
    assert llm.api_base == "http://127.0.0.1:8000/v1" and llm.api_key  # placeholder key for a local server
    assert isinstance(llm.thinking, ChainOfThought) and llm.thinking.max_tokens == 64
    assert llm.history == 2 and llm.extra_params == {"top_p": 0.9}
    assert isinstance(make_agent("openai/x?thinking=plan").thinking, PlanThenAct)


def test_build_errors_are_clear(monkeypatch):
    with pytest.raises(ValueError, match="built-ins"):
        make_agent("no_such_fighter")
    with pytest.raises(ValueError, match="unknown LLM agent options"):
        make_agent("openai/x?temprature=0")
    with pytest.raises(ValueError, match="not found"):
        make_agent("no_such_module_xyz:Agent")
    with pytest.raises(ValueError, match="has no attribute"):
        make_agent("splitsecond.agents:NoSuchAgent")
    with pytest.raises(ValueError, match="not an agent"):
        make_agent("collections:OrderedDict")
    monkeypatch.delenv("MISSING_KEY_VAR", raising=False)
    with pytest.raises(ValueError, match="MISSING_KEY_VAR"):
        make_agent("openai/x?api_key_env=MISSING_KEY_VAR")


def test_user_class_from_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "from splitsecond.agents import Decision\n"
        "class Always:\n"
        "    def __init__(self, action=0):\n"
        "        self.action = action\n"
        "    def reset(self, spec, seed=None):\n"
        "        pass\n"
        "    def act(self, observation):\n"
        "        return Decision(action=self.action)\n"
    )
    agent = make_agent(f"{path}:Always?action=3")
    assert agent.act(None).action == 3 and agent.name == "Always"
    same = make_agent(agent)
    assert same is agent
