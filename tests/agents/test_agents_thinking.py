"""Thinking styles from their CLI names, and the prompts they produce."""

import gymnasium
import pytest

from splitsecond.agents import ChainOfThought, EnvSpec, PlanThenAct, Reflex, parse_thinking
from splitsecond.agents.prompts import GENERIC, HFTBENCH, STREETFIGHTER, template_for


@pytest.mark.parametrize(
    ("text", "style"),
    [
        ("reflex", Reflex()),
        ("reflex:4", Reflex(max_tokens=4)),
        ("plan-then-act", PlanThenAct()),
        ("plan:6", PlanThenAct(every=6)),
        ("plan-follow", PlanThenAct(actor="follow")),
        ("plan-follow:3", PlanThenAct(every=3, actor="follow")),
        ("cot", ChainOfThought()),
        ("chain-of-thought:200", ChainOfThought(max_tokens=200)),
    ],
)
def test_parse(text, style):
    assert parse_thinking(text) == style


@pytest.mark.parametrize("text", ["ponder", "reflex:0", "plan:x", "cot:-1", "", "plan-follow:0"])
def test_bad_styles(text):
    with pytest.raises(ValueError):
        parse_thinking(text)


def test_plan_follow_is_named_and_validated():
    assert parse_thinking("plan-follow").name == "plan-follow" and PlanThenAct().name == "plan-then-act"
    with pytest.raises(ValueError, match="actor"):
        PlanThenAct(actor="oracle")


def test_templates_per_env():
    assert template_for("splitsecond/StreetFighter-v0") is STREETFIGHTER
    assert template_for("HFTBench-v0") is HFTBENCH
    assert template_for("CartPole-v1") is GENERIC
    spec = EnvSpec("splitsecond/StreetFighter-v0", gymnasium.spaces.Discrete(2), gymnasium.spaces.Discrete(2),
                   action_names=("idle", "LP"), rules="Win.")  # fmt: skip
    msgs = STREETFIGHTER.messages(spec, "reflex", ["idle", "LP"], "close range", ["t=0.10s: LP"])
    assert "Win." in msgs[0]["content"] and "idle, LP" in msgs[0]["content"]
    assert "close range" in msgs[1]["content"] and "t=0.10s: LP" in msgs[1]["content"]
    # the system message does not change between decisions (prefix caching)
    again = STREETFIGHTER.messages(spec, "reflex", ["idle", "LP"], "far", [])
    assert again[0] == msgs[0]
    with pytest.raises(ValueError):
        STREETFIGHTER.messages(spec, "ponder", ["idle"], "", [])
