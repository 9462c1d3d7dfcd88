"""Keys and templates without a model: normalisation, rule keywords, stripping of specifics, and
the checks applied to a model's answers (the model itself is exercised end to end)."""

import pytest

from splitsecond.cache import LLMKeywordExtractor, LLMTemplateExtractor, RuleTemplateExtractor, Usage
from splitsecond.cache.adapter import AdaptationRejected, Adapter
from splitsecond.cache.keys import RuleKeywordExtractor, Scope, normalize_keyword, token_overlap
from splitsecond.cache.singleflight import SingleFlight
from splitsecond.cache.template import placeholders_in


def test_template_extraction_strips_numbers_names_and_positions():
    rules = RuleTemplateExtractor(names=("zara", "brick"))
    plan = "Walk to x=2100, sweep when Zara is within 800; then BUY 100 ACME @ 99.95 and hold 2.5% stop."
    template = rules.strip_specifics(plan)
    assert (
        template
        == "Walk to <pos>, sweep when <name> is within <num>; then BUY <num> <name> @ <num> and hold <num> stop."
    )
    assert not rules.leaks(template) and rules.leaks(plan)
    assert rules.strip_specifics("Fight at (120, 40) then at (3, 4)") == "Fight at <pos> then at <pos>"
    assert placeholders_in(template) == ["<pos>", "<name>", "<num>", "<num>", "<name>", "<num>", "<num>"]


def test_llm_template_answers_are_checked_and_fall_back_to_rules():
    llm = LLMTemplateExtractor(rules=RuleTemplateExtractor(names=("zara",)))
    plan = "Jump over zara at x=3000 and sweep twice."
    good = llm._finish(plan, "Jump over <name> at <pos> and sweep twice.", Usage(completion_tokens=9))
    assert good.method == "llm" and good.template == "Jump over <name> at <pos> and sweep twice."
    assert good.usage.completion_tokens == 9
    leaked = llm._finish(plan, "Jump over zara at 3000 and sweep twice", Usage())
    assert (
        leaked.method == "llm" and leaked.template == "Jump over <name> at <num> and sweep twice"
    )  # rules as safety net
    for answer in ("", "Buy bonds and sell stocks tomorrow morning.", "x" * 500, None):
        res = llm._finish(plan, answer, Usage())
        assert res.method == "rules" and res.template == "Jump over <name> at <pos> and sweep twice."


def test_keyword_normalisation_and_rules():
    assert normalize_keyword("Keyword: Punishing the jumping opponent!") == "jump opponent punish"
    assert normalize_keyword("punish jumping opponent\nsecond line") == normalize_keyword(
        "opponent punishing JUMP"
    )
    assert normalize_keyword("1234 !!") == ""
    assert normalize_keyword("a b c d e f g h alpha beta gamma delta epsilon") == "alpha beta delta gamma"
    assert token_overlap("buy breakout", "sell breakout") == pytest.approx(1 / 3)
    rules = RuleKeywordExtractor(rules=((r"\bfar\b", "approach"), (r"low hp", "defend")), default="neutral")
    assert rules.extract("far away, low HP").keyword == "approach defend"
    assert rules.extract("nothing special").keyword == "neutral"


def test_llm_keyword_answers_are_normalised_and_snapped_to_the_vocabulary():
    kw = LLMKeywordExtractor(vocabulary=("approach", "defend", "zone fireball"))
    assert kw._finish("Approach", Usage(), "s").keyword == "approach"
    snapped = kw._finish("fireballs from afar", Usage(), "s")
    assert snapped.keyword == "fireball zone" and snapped.method == "llm-snapped"
    assert kw._finish("???", Usage(), "opponent far").method == "rules"
    assert "Allowed keywords: approach, defend, zone fireball" in kw.messages("x")[0]["content"]
    with pytest.raises(ValueError, match="vocabulary"):
        LLMKeywordExtractor(vocabulary=("", "1"))


def test_adapter_validation():
    adapter = Adapter(min_chars=5, max_chars=40)
    assert adapter.adapt("Walk forward and sweep.", "far", None).plan == "Walk forward and sweep."
    with pytest.raises(AdaptationRejected, match="no cheap model"):
        adapter.adapt("Walk to <pos>.", "far", None)
    with pytest.raises(AdaptationRejected, match="placeholders left"):
        adapter._finish("Walk to <pos> now", Usage(), None, "far")
    with pytest.raises(AdaptationRejected, match="too long"):
        adapter._finish("word " * 20, Usage(), None, "far")
    with pytest.raises(AdaptationRejected, match="call failed"):
        adapter._finish(None, Usage(), "Timeout", "far")
    assert adapter._finish("Walk to x=2000.\nextra line", Usage(), None, "far").plan == "Walk to x=2000."


def test_slot_filling_answers_only_the_values():
    import re

    from splitsecond.cache.adapter import fill_slots, slots_regex

    adapter = Adapter(max_slots=3)
    template = "Walk to <pos>, sweep when <name> is within <num> px."
    assert adapter.slots_of(template) == ["<pos>", "<name>", "<num>"]
    assert adapter.slots_of("Walk forward.") is None  # nothing to fill
    assert adapter.slots_of("<num> <num> <num> <num>") is None  # too many slots: rewritten whole
    assert Adapter(mode="rewrite").slots_of(template) is None
    regex = slots_regex(["<pos>", "<name>", "<num>"])
    assert re.fullmatch(regex, "x=2100 | Ken | 80") and re.fullmatch(regex, "2100 | ACME | $99.5")
    assert not re.fullmatch(regex, "2100 | Ken") and not re.fullmatch(regex, "far | Ken | 80")
    assert fill_slots(template, ["x=2100", "Ken", "80"]) == "Walk to x=2100, sweep when Ken is within 80 px."
    done = adapter._fill(template, ["<pos>", "<name>", "<num>"], "x=2100 | Ken | 80\n", Usage(), None, "far")
    assert done.plan == "Walk to x=2100, sweep when Ken is within 80 px." and done.called
    for answer, why in (("x=2100 | Ken", "expected 3 values"), ("1 | <name> | 2", "placeholder"),
                        (None, "call failed")):  # fmt: skip
        with pytest.raises(AdaptationRejected, match=why):
            adapter._fill(template, ["<pos>", "<name>", "<num>"], answer, Usage(), "Timeout", "far")
    prompt = adapter.slot_messages(template, "Opponent at 40 px.")[1]["content"]
    assert "Situation: Opponent at 40 px." in prompt and "3 blanks (<pos>, <name>, <num>)" in prompt
    for bad in ({"mode": "fill"}, {"max_slots": 0}):
        with pytest.raises(ValueError):
            Adapter(**bad)


def test_scope_key_changes_with_each_part():
    base = Scope.of("env", "model", ["a", "b"], "system prompt")
    assert base.key() == Scope.of("env", "model", ["a", "b"], "system prompt").key()
    others = [
        Scope.of("env2", "model", ["a", "b"], "system prompt"),
        Scope.of("env", "model2", ["a", "b"], "system prompt"),
        Scope.of("env", "model", ["a", "c"], "system prompt"),
        Scope.of("env", "model", ["a", "b"], "system prompt v2"),
        Scope.of("env", "model", ["a", "b"], "system prompt", version="2"),
    ]
    assert len({s.key() for s in others} | {base.key()}) == 6


def test_single_flight_shares_errors_and_frees_the_key():
    import threading
    import time

    flight = SingleFlight()
    started = threading.Event()
    errors = []

    def boom():
        started.set()
        time.sleep(0.2)
        raise RuntimeError("planner down")

    def follower():
        started.wait()
        try:
            flight.do("k", lambda: "never")
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=follower)
    t.start()
    with pytest.raises(RuntimeError, match="planner down"):
        flight.do("k", boom)
    t.join(5)
    assert errors == ["planner down"] and flight.in_flight() == 0
    assert flight.do("k", lambda: 7) == (7, False)


def test_adaptation_continues_the_plan_calls_prompt():
    from splitsecond.cache.prompt_context import usable, with_task

    context = [
        {"role": "system", "content": "You fight. Actions: punch, kick."},
        {"role": "user", "content": "Now:\nOpponent at 40 px.\n\nWrite a short plan."},
    ]
    adapt = Adapter().messages("Walk to <pos>.", "Opponent at 40 px.", context)
    # same system message and the same user text up to the task: a prefix cache serves it
    assert adapt[0] == context[0] and adapt[1]["role"] == "user"
    assert adapt[1]["content"].startswith(context[1]["content"] + "\n\n")
    assert adapt[1]["content"].count("Opponent at 40 px.") == 1  # the situation is not repeated
    assert adapt[1]["content"].endswith("Template: Walk to <pos>.\nPlan:")
    assert context[1]["content"].endswith("Write a short plan.")  # the caller's messages are untouched

    # Without a usable context (none, or not ending with a text user message) the short prompt is used.
    parts = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    for bad in (None, [], [context[0]], parts):
        assert not usable(bad)
        assert Adapter().messages("Walk to <pos>.", "far", bad)[1]["content"].startswith("Situation: far\n")
    text_parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert with_task(text_parts, "T") == [{"role": "user", "content": "a\nb\n\nT"}]
    with pytest.raises(ValueError, match="plain-text user message"):
        with_task(parts, "T")
