"""Cache keys: the *scope* that must match exactly, and the *intent keyword* of a situation.

A plan is only reused where the world it was made for is the same: the same env, the same model,
the same action set and the same prompt-template version (:class:`Scope`). Inside a scope, plans
are filed under a short intent keyword such as ``"punish whiff"`` or ``"buy breakout"``:

* :class:`LLMKeywordExtractor` asks the cheap model, few-shot, for the keyword (optionally
  constrained to a vocabulary of intents);
* :class:`RuleKeywordExtractor` derives it from regular-expression rules (no model call);
* :func:`normalize_keyword` makes both comparable: lower case, no punctuation or digits, no
  stop words, crude stemming, sorted unique tokens (at most four).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from splitsecond.cache.client import ModelClient, Usage

_STOP_TEXT = (
    "a an the and or of to in on at for with by from is are be it its this that then than as "
    "into onto up down my your our their them they you we i me keyword intent situation plan"
)
STOP_WORDS = frozenset(_STOP_TEXT.split(" "))
MAX_KEYWORD_TOKENS = 4


def _short_hash(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


@dataclass(frozen=True)
class Scope:
    """What must match exactly for a plan to be reused.

    Attributes:
        env: the env id (e.g. ``splitsecond/StreetFighter-v0``).
        model: the planner's model string.
        action_set: a digest of the action names (or order grammar) the plan may use.
        prompt_version: a digest or version tag of the prompt template.
    """

    env: str
    model: str
    action_set: str
    prompt_version: str

    def __post_init__(self) -> None:
        for name in ("env", "model", "action_set", "prompt_version"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or "\0" in value:
                raise ValueError(f"Scope.{name} must be a non-empty string without NUL, got {value!r}")

    @classmethod
    def of(
        cls, env: str, model: str, actions: Sequence[str] | str, prompt: str | None = None, version: str = ""
    ) -> Scope:
        """A scope from the raw action names (or grammar) and prompt text, digested.

        Args:
            env: the env id.
            model: the planner's model string.
            actions: the action names, or the order grammar text.
            prompt: the prompt template text (e.g. the system message); digested with ``version``.
            version: an explicit prompt-template version tag.
        """
        action_text = actions if isinstance(actions, str) else json.dumps(list(actions))
        prompt_version = version or ""
        if prompt is not None:
            prompt_version = f"{version}:{_short_hash(prompt)}" if version else _short_hash(prompt)
        return cls(env, model, _short_hash(action_text), prompt_version or "v0")

    def key(self) -> str:
        """The scope as one string (stores index by it): ``env|model|actions|prompt``."""
        return "|".join((self.env, self.model, self.action_set, self.prompt_version))


def _stem(token: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def keyword_tokens(text: str) -> list[str]:
    """The normalised tokens of ``text``: lower case, letters only, no stop words, stemmed, sorted, unique."""
    words = re.findall(r"[a-z]+", text.lower())
    return sorted({_stem(w) for w in words if w not in STOP_WORDS and len(w) > 1})


def normalize_keyword(text: str, max_tokens: int = MAX_KEYWORD_TOKENS) -> str:
    """A keyword in canonical form (see the module docstring); ``""`` if nothing is left.

    Only the first line counts, and a leading ``Keyword:`` label is dropped. Tokens beyond
    ``max_tokens`` are cut in their original order before sorting.
    """
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    first = re.sub(r"^\s*(keyword|intent)\s*[:=-]\s*", "", first, flags=re.IGNORECASE)
    words = re.findall(r"[a-z]+", first.lower())
    kept: list[str] = []
    for w in words:
        if w in STOP_WORDS or len(w) <= 1:
            continue
        stem = _stem(w)
        if stem not in kept:
            kept.append(stem)
        if len(kept) >= max_tokens:
            break
    return " ".join(sorted(kept))


@dataclass(frozen=True)
class KeywordResult:
    """An extracted keyword and what extracting it cost.

    Attributes:
        keyword: the normalised keyword (non-empty).
        usage: tokens spent (zero for rules).
        method: ``llm``, ``llm-snapped`` (snapped to the vocabulary) or ``rules``.
    """

    keyword: str
    usage: Usage = field(default_factory=Usage)
    method: str = "rules"


class KeywordExtractor(Protocol):
    """Turns a situation into an intent keyword."""

    def extract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """The keyword of ``situation``; ``client`` is the cheap model to use, if any."""

    async def aextract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """Asynchronous :meth:`extract`."""


@dataclass(frozen=True)
class RuleKeywordExtractor:
    """Keywords from regular-expression rules; no model call.

    Each rule is ``(pattern, token)``: every rule whose pattern matches the situation (case
    insensitive) contributes its token, in rule order, up to :data:`MAX_KEYWORD_TOKENS`.

    Attributes:
        rules: the ``(pattern, token)`` rules.
        default: the keyword when no rule matches.
    """

    rules: tuple[tuple[str, str], ...] = ()
    default: str = "general"

    def __post_init__(self) -> None:
        for pattern, token in self.rules:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad keyword rule pattern {pattern!r}: {exc}") from exc
            if not normalize_keyword(token):
                raise ValueError(f"keyword rule token {token!r} is empty after normalisation")
        if not normalize_keyword(self.default):
            raise ValueError(f"default keyword {self.default!r} is empty after normalisation")

    def match(self, situation: str) -> KeywordResult | None:
        """The keyword of the matching rules, or ``None`` when no rule matches (no default)."""
        tokens = [tok for pat, tok in self.rules if re.search(pat, situation, re.IGNORECASE)]
        keyword = normalize_keyword(" ".join(tokens))
        return KeywordResult(keyword, Usage(), "rules") if keyword else None

    def extract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """The tokens of the matching rules (``client`` is ignored)."""
        return self.match(situation) or KeywordResult(normalize_keyword(self.default), Usage(), "rules")

    async def aextract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """Same as :meth:`extract`."""
        return self.extract(situation, client)


DEFAULT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Opponent is far away and idle. You have full health.", "approach"),
    ("Opponent is close and attacking. Your health is low.", "defend"),
    ("Price broke above resistance on rising volume.", "buy breakout"),
    ("Bad news: the stock gaps down and the spread widens.", "sell news"),
)


@dataclass
class LLMKeywordExtractor:
    """Few-shot keyword extraction by the cheap model.

    Attributes:
        examples: ``(situation, keyword)`` pairs shown to the model.
        vocabulary: if given, the allowed keywords; the call is constrained to them where the
            backend supports it, and free answers are snapped to the closest one by token overlap.
        max_tokens: output bound of the call.
        max_situation_chars: the situation is cut to this many characters in the prompt.
        fallback: used when the model fails or answers nothing usable.
    """

    examples: Sequence[tuple[str, str]] = DEFAULT_EXAMPLES
    vocabulary: Sequence[str] | None = None
    max_tokens: int = 8
    max_situation_chars: int = 600
    fallback: RuleKeywordExtractor = field(default_factory=RuleKeywordExtractor)

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens <= 0:
            raise ValueError(
                f"LLMKeywordExtractor.max_tokens must be a positive integer, got {self.max_tokens!r}"
            )
        if self.vocabulary is not None:
            vocab = [str(v).strip() for v in self.vocabulary]
            if not vocab or any(not normalize_keyword(v) for v in vocab):
                raise ValueError("LLMKeywordExtractor.vocabulary must be non-empty keywords")
            self.vocabulary = tuple(vocab)

    def messages(self, situation: str) -> list[dict[str, str]]:
        """The few-shot prompt (stable prefix first, so a prefix cache serves it)."""
        shots = "\n\n".join(f"Situation: {s}\nKeyword: {k}" for s, k in self.examples)
        allowed = f"\nAllowed keywords: {', '.join(self.vocabulary)}." if self.vocabulary else ""
        system = (
            "You label a situation with a short intent keyword (one to three words) that says what "
            f"to do. Answer with the keyword only.{allowed}"
        )
        text = " ".join(situation.split())[: self.max_situation_chars]
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": f"{shots}\n\nSituation: {text}\nKeyword:"},
        ]

    def _finish(self, text: str | None, usage: Usage, situation: str) -> KeywordResult:
        keyword = normalize_keyword(text or "")
        if self.vocabulary:
            canon = {normalize_keyword(v): v for v in self.vocabulary}
            if keyword in canon:
                return KeywordResult(keyword, usage, "llm")
            snapped = _snap(keyword, list(canon))
            if snapped is not None:
                return KeywordResult(snapped, usage, "llm-snapped")
            keyword = ""
        if keyword:
            return KeywordResult(keyword, usage, "llm")
        rule = self.fallback.extract(situation)
        return KeywordResult(rule.keyword, usage, "rules")

    def extract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """Ask ``client`` for the keyword; rules when there is no client or no usable answer."""
        if client is None:
            return self.fallback.extract(situation)
        done = client.complete(self.messages(situation), self.max_tokens, self.vocabulary)
        return self._finish(done.text, done.usage, situation)

    async def aextract(self, situation: str, client: ModelClient | None = None) -> KeywordResult:
        """Asynchronous :meth:`extract`."""
        if client is None:
            return self.fallback.extract(situation)
        done = await client.acomplete(self.messages(situation), self.max_tokens, self.vocabulary)
        return self._finish(done.text, done.usage, situation)


def token_overlap(a: str, b: str) -> float:
    """Jaccard overlap of two keywords' tokens (0 when either is empty)."""
    ta, tb = set(keyword_tokens(a)), set(keyword_tokens(b))
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def _snap(keyword: str, vocabulary: list[str]) -> str | None:
    best, best_overlap = None, 0.0
    for v in vocabulary:
        overlap = token_overlap(keyword, v)
        if overlap > best_overlap:
            best, best_overlap = v, overlap
    return best
