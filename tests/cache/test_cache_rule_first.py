"""Rule-first keywords: the env's own situation text names the keyword without a model call; the
model is asked only when no rule matches."""

import asyncio

import pytest

from splitsecond.cache import LLMKeywordExtractor, RuleKeywordExtractor
from splitsecond.cache.rule_first import RuleFirstKeywordExtractor
from splitsecond.cache.situation_rules import rules_for
from splitsecond.envs.streetfighter.situation import SITUATIONS, Situation


class Refusing:
    """A cheap model that must not be asked: any call fails the test."""

    def complete(self, *args, **kwargs):
        raise AssertionError("the keyword model was called although a rule matched")

    async def acomplete(self, *args, **kwargs):
        raise AssertionError("the keyword model was called although a rule matched")


def test_every_streetfighter_situation_has_its_own_keyword_without_a_call():
    extractor = RuleFirstKeywordExtractor(rules_for("splitsecond/StreetFighter-v0"))
    keywords = set()
    for tag in SITUATIONS:
        text = "Health 100/100.\n" + Situation(tag, "gap 900", ("LP",)).text()
        result = extractor.extract(text, Refusing())
        assert result.method == "rules" and result.usage.requests == 0 and result.keyword
        keywords.add(result.keyword)
    assert len(keywords) == len(SITUATIONS)
    assert extractor.counts == {"rules": len(SITUATIONS)}


def test_streetfighter_refinements_follow_the_playbook():
    rules = rules_for("StreetFighter-v0")
    punish = Situation("PUNISH", "opponent recovering from HK for 14 frames", ("LP", "HP")).text()
    punish_light = Situation("PUNISH", "opponent recovering from HK for 14 frames", ("LP",)).text()
    assert rules.match(punish).keyword != rules.match(punish_light).keyword
    overhead = Situation("OPPONENT ATTACKING", "overhead, hits overhead, starting", ()).text()
    low = Situation("OPPONENT ATTACKING", "crouch_MK, hits low, active", ()).text()
    assert rules.match(overhead).keyword != rules.match(low).keyword
    # a tag word elsewhere in the text does not count: only the situation line does
    assert rules.match("FAR away, PUNISH later") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACME  bid 1 | ask 2  last 1  pos +0\nOpen orders: none\nNews: none", "flat quiet"),
        ("ACME  pos +100\nBOLT  pos +0\nOpen orders: #3 BUY 100 ACME @ 99.00 (left 100)\n"
         "News: [0.2s ago] ACME misses earnings estimates by 12%", "badnew hold rest"),
        ("ACME  pos -50\nOpen orders: none\nNews: [1.0s ago] Fed unexpectedly cuts rates by 25 bp", "goodnew hold"),
    ],
)  # fmt: skip
def test_hftbench_keywords_from_news_position_and_orders(text, expected):
    assert rules_for("splitsecond/HFTBench-v0").match(text).keyword == expected


def test_the_model_is_asked_only_when_no_rule_matches():
    extractor = RuleFirstKeywordExtractor(
        RuleKeywordExtractor(rules=((r"Situation: FAR", "far"),)),
        LLMKeywordExtractor(fallback=RuleKeywordExtractor(default="unknown")),
    )
    assert extractor.extract("Situation: FAR (gap 2000).", Refusing()).keyword == "far"
    # no rule: the model path runs (without a client it falls back to its own rules)
    assert extractor.extract("something else").keyword == "unknown"
    assert asyncio.run(extractor.aextract("Situation: FAR.", Refusing())).keyword == "far"
    assert extractor.counts == {"rules": 2, "model": 1}


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="at least one rule"):
        RuleFirstKeywordExtractor(RuleKeywordExtractor())
    with pytest.raises(TypeError, match="RuleKeywordExtractor"):
        RuleFirstKeywordExtractor(((r"x", "y"),))
    with pytest.raises(ValueError, match="no keyword rules for env 'Chess-v0'"):
        rules_for("Chess-v0")
