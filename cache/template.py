"""Template extraction: a plan that worked, stripped of what was specific to its run.

A plan such as ``"Walk to x=2100 and sweep when zara is within 800."`` becomes the template
``"Walk to <pos> and sweep when <name> is within <num>."``; the adapter later fills the
placeholders for a new situation.

* :class:`RuleTemplateExtractor` strips positions (``x=2200``), numbers, prices and quantities,
  configured names and all-capital tickers (except protected words such as order verbs);
* :class:`LLMTemplateExtractor` asks the cheap model to rewrite the plan generically, checks the
  answer (not empty, not too long, still about the plan, no digits or names left) and falls back
  to the rules otherwise; the rules run over its answer too, as a last safety net.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from splitsecond.cache.client import ModelClient, Usage
from splitsecond.cache.keys import keyword_tokens

PLACEHOLDERS = ("<pos>", "<num>", "<name>")
PLACEHOLDER_RE = re.compile(r"<(pos|num|name)>")
_POSITION_RE = re.compile(r"\b[xy]\s*[=:]\s*[-+]?\d(?:[\d,]*\d)?(?:\.\d+)?", re.IGNORECASE)
_COORD_RE = re.compile(r"\(\s*[-+]?\d+(?:\.\d+)?\s*,\s*[-+]?\d+(?:\.\d+)?\s*\)")
_NUMBER_RE = re.compile(r"[-+]?\$?\d(?:[\d,]*\d)?(?:\.\d+)?%?")
_TICKER_RE = re.compile(r"\b[A-Z]{2,5}\b")
_REPEAT_RE = re.compile(r"(<(?:pos|num|name)>)(?:\s*[,/x]?\s*\1)+")


def placeholders_in(text: str) -> list[str]:
    """The placeholders (``<pos>``, ``<num>``, ``<name>``) in ``text``, in order."""
    return [m.group(0) for m in PLACEHOLDER_RE.finditer(text)]


@dataclass(frozen=True)
class TemplateResult:
    """An extracted template and what extracting it cost.

    Attributes:
        template: the template text.
        usage: tokens spent (zero for rules).
        method: ``llm`` or ``rules``.
    """

    template: str
    usage: Usage = field(default_factory=Usage)
    method: str = "rules"


class TemplateExtractor(Protocol):
    """Turns a successful plan into a reusable template."""

    def extract(self, plan: str, situation: str = "", client: ModelClient | None = None) -> TemplateResult:
        """The template of ``plan``; ``client`` is the cheap model to use, if any."""


@dataclass(frozen=True)
class RuleTemplateExtractor:
    """Rule-based stripping of specifics (see the module docstring).

    Attributes:
        names: names to replace by ``<name>`` (characters, symbols, players), case-insensitive.
        protected: all-capital words that stay (order verbs, action names such as ``BUY``).
        strip_tickers: replace other all-capital words of 2-5 letters by ``<name>``.
    """

    names: tuple[str, ...] = ()
    protected: tuple[str, ...] = ("BUY", "SELL", "HOLD", "CANCEL", "MKT", "HP", "KO", "OK")
    strip_tickers: bool = True

    def strip_specifics(self, plan: str) -> str:
        """``plan`` with positions, numbers and names replaced by placeholders."""
        text = " ".join(plan.split())
        for name in sorted(self.names, key=len, reverse=True):
            if name.strip():
                text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "<name>", text, flags=re.IGNORECASE)
        text = _COORD_RE.sub("<pos>", text)
        text = _POSITION_RE.sub("<pos>", text)
        text = _NUMBER_RE.sub("<num>", text)
        if self.strip_tickers:
            keep = {p.upper() for p in self.protected}
            text = _TICKER_RE.sub(lambda m: m.group(0) if m.group(0) in keep else "<name>", text)
        return _REPEAT_RE.sub(r"\1", text).strip()

    def extract(self, plan: str, situation: str = "", client: ModelClient | None = None) -> TemplateResult:
        """:meth:`strip_specifics` (``situation`` and ``client`` are ignored)."""
        return TemplateResult(self.strip_specifics(plan), Usage(), "rules")

    def leaks(self, template: str) -> list[str]:
        """What in ``template`` is still specific: digits and configured names."""
        found = re.findall(r"\d+", template)
        found += [
            n for n in self.names if n.strip() and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", template, re.I)
        ]
        return found


@dataclass
class LLMTemplateExtractor:
    """Template extraction by the cheap model, checked, with the rules as fallback and safety net.

    Attributes:
        rules: the rule extractor (fallback, and run over the model's answer).
        max_tokens: output bound of the call.
        min_overlap: the answer must share at least this fraction of the plan's content words
            (it must still be the same plan).
        max_growth: the answer may be at most this many times longer than the plan (+40 chars).
    """

    rules: RuleTemplateExtractor = field(default_factory=RuleTemplateExtractor)
    max_tokens: int = 64
    min_overlap: float = 0.3
    max_growth: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens <= 0:
            raise ValueError(
                f"LLMTemplateExtractor.max_tokens must be a positive integer, got {self.max_tokens!r}"
            )
        if not 0.0 <= self.min_overlap <= 1.0:
            raise ValueError(f"LLMTemplateExtractor.min_overlap must be in [0, 1], got {self.min_overlap!r}")
        if self.max_growth < 1.0:
            raise ValueError(f"LLMTemplateExtractor.max_growth must be >= 1, got {self.max_growth!r}")

    @staticmethod
    def messages(plan: str) -> list[dict[str, str]]:
        """The extraction prompt."""
        return [
            {
                "role": "system",
                "content": (
                    "You turn a plan into a reusable template. Keep the strategy and the action "
                    "words; replace every specific number with <num>, every position with <pos> and "
                    "every name with <name>. Answer with the template only."
                ),
            },
            {
                "role": "user",
                "content": (
                    "Plan: Buy 100 ACME at 99.5 and sell at 101.\nTemplate: Buy <num> <name> at <num> "
                    "and sell at <num>.\n\nPlan: Jump in from x=3000 when Ryu is 400 away.\n"
                    f"Template: Jump in from <pos> when <name> is <num> away.\n\nPlan: {plan}\nTemplate:"
                ),
            },
        ]

    def check(self, plan: str, answer: str | None) -> str | None:
        """Why ``answer`` is not an acceptable template of ``plan``, or ``None`` if it is."""
        text = " ".join((answer or "").split())
        if not text:
            return "empty"
        if len(text) > self.max_growth * len(plan) + 40:
            return "too long"
        plan_words = set(keyword_tokens(self.rules.strip_specifics(plan)))
        if plan_words:
            overlap = len(plan_words & set(keyword_tokens(text))) / len(plan_words)
            if overlap < self.min_overlap:
                return f"not the same plan (word overlap {overlap:.2f})"
        return None

    def _finish(self, plan: str, answer: str | None, usage: Usage) -> TemplateResult:
        problem = self.check(plan, answer)
        if problem is None:
            template = self.rules.strip_specifics(str(answer).splitlines()[0] if answer else "")
            if template and not self.rules.leaks(template):
                return TemplateResult(template, usage, "llm")
        return TemplateResult(self.rules.strip_specifics(plan), usage, "rules")

    def extract(self, plan: str, situation: str = "", client: ModelClient | None = None) -> TemplateResult:
        """Ask ``client`` for the template; the rules when there is no client or the answer fails."""
        if client is None:
            return self.rules.extract(plan)
        done = client.complete(self.messages(plan), self.max_tokens)
        return self._finish(plan, done.text, done.usage)


def make_template_extractor(
    kind: str = "llm", names: Sequence[str] = (), protected: Sequence[str] | None = None
) -> TemplateExtractor:
    """``llm`` (:class:`LLMTemplateExtractor`) or ``rules`` (:class:`RuleTemplateExtractor`)."""
    rules = RuleTemplateExtractor(
        names=tuple(names), **({"protected": tuple(protected)} if protected is not None else {})
    )
    if kind == "rules":
        return rules
    if kind == "llm":
        return LLMTemplateExtractor(rules=rules)
    raise ValueError(f"unknown template extractor {kind!r}; valid: llm, rules")
