"""Thinking styles from their CLI names, and the prompts they produce."""

import gymnasium
import pytest

from splitsecond.agents import ChainOfThought, EnvSpec, PlanThenAct, Reflex, parse_thinking
from splitsecond.agents.prompts import GENERIC, HFTBENCH, STREETFIGHTER, STREETFIGHTER_COMPACT, template_for
from splitsecond.envs.streetfighter.actions import ACTION_NAMES


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
    assert "close range" in msgs[-1]["content"] and "t=0.10s: LP" in msgs[-1]["content"]
    # a playbook keyed on the env's situation tags, and one worked example per tag before the decision
    assert "Playbook" in msgs[0]["content"] and "OPPONENT JUMPING IN -> anti_air" in msgs[0]["content"]
    examples = msgs[1:-1]
    assert len(examples) == 2 * len(STREETFIGHTER.examples) >= 20
    assert [m["role"] for m in examples[:2]] == ["user", "assistant"]
    assert {m["content"] for m in examples[1::2]} <= set(ACTION_NAMES)
    # everything before the last message does not change between decisions (prefix caching)
    again = STREETFIGHTER.messages(spec, "reflex", ["idle", "LP"], "far", [])
    assert again[:-1] == msgs[:-1]
    # plans are free text: no examples of one-action answers
    plan = STREETFIGHTER.messages(spec, "plan", ["idle", "LP"], "far", [])
    assert len(plan) == 2
    assert STREETFIGHTER.version.startswith("sf-") and STREETFIGHTER_COMPACT.version != STREETFIGHTER.version
    with pytest.raises(ValueError):
        STREETFIGHTER.messages(spec, "ponder", ["idle"], "", [])


def test_compact_template_sends_only_the_lines_its_playbook_needs():
    spec = EnvSpec("splitsecond/StreetFighter-v0", gymnasium.spaces.Discrete(2), gymnasium.spaces.Discrete(2),
                   action_names=("idle", "LP"), rules="Win.")  # fmt: skip
    text = (
        "Round 1, 99s left (frame 18).\nYou (kai): 1000/1000 HP, standing.\nOpponent (kai): 990/1000 HP.\n"
        "Distance 2648 (far, gap 2248).\nIn reach: nothing (too far).\nSituation: FAR (gap 2248)."
    )
    full = STREETFIGHTER.messages(spec, "reflex", ["idle", "LP"], text, [])[-1]["content"]
    compact = STREETFIGHTER_COMPACT.messages(spec, "reflex", ["idle", "LP"], text, [])
    assert "Round 1" in full and "Distance 2648" in full
    last = compact[-1]["content"]
    assert "Round 1" not in last and "Distance" not in last
    assert "You (kai)" not in last and "In reach: nothing" in last and "Situation: FAR" in last
    assert all("Distance" not in m["content"] for m in compact[1:-1] if m["role"] == "user")  # examples too
