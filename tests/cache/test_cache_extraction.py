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
