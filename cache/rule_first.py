"""Rule first, model second: an intent keyword without a model call whenever a rule knows it.

The keyword call is a fixed cost of every plan request, hit or miss; on a CPU it can eat the gain
of a hit. :class:`RuleFirstKeywordExtractor` reads the situation with regular-expression rules
first (no call: most env observations name their situation outright, e.g. StreetFighter's
``Situation: PUNISH`` line) and asks the cheap model (:class:`~.keys.LLMKeywordExtractor`) only
when no rule matches. :attr:`RuleFirstKeywordExtractor.counts` says how often each path was taken.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from splitsecond.cache.client import ModelClient
from splitsecond.cache.keys import KeywordResult, LLMKeywordExtractor, RuleKeywordExtractor


@dataclass
class RuleFirstKeywordExtractor:
    """Rules on the situation text first; the cheap model only when no rule matches.

    Attributes:
        rules: the rules (their ``default`` is not used: no match goes to ``model``).
        model: the model extractor for situations no rule knows.
        counts: keywords extracted by ``rules`` and by ``model`` (this process).
    """

    rules: RuleKeywordExtractor
    model: LLMKeywordExtractor = field(default_factory=LLMKeywordExtractor)
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if not isinstance(self.rules, RuleKeywordExtractor):
            raise TypeError(f"rules must be a RuleKeywordExtractor, got {type(self.rules).__name__}")
        if not self.rules.rules:
            raise ValueError("RuleFirstKeywordExtractor needs at least one rule")
        if not isinstance(self.model, LLMKeywordExtractor):
            raise TypeError(f"model must be an LLMKeywordExtractor, got {type(self.model).__name__}")
        self._lock = threading.Lock()

    def _count(self, path: str, result: KeywordResult) -> KeywordResult:
        with self._lock:
            self.counts[path] += 1
        return result

    def extract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """The rules' keyword, else the model's (``client``: the cheap model)."""
        ruled = self.rules.match(situation)
        if ruled is not None:
            return self._count("rules", ruled)
        return self._count("model", self.model.extract(situation, client))

    async def aextract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """Asynchronous :meth:`extract`."""
        ruled = self.rules.match(situation)
        if ruled is not None:
            return self._count("rules", ruled)
        return self._count("model", await self.model.aextract(situation, client))
