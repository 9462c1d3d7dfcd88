"""Adaptation: the cheap model fills a cached template for the new situation, and is checked.

A template without placeholders is already a complete plan and is used as is (no model call,
configurable). Otherwise the cheap model rewrites it for the situation within a small token budget.
The answer is validated (not empty, no placeholder left, within length bounds, plus an optional
domain ``validator``); a failure raises :class:`AdaptationRejected`, on which the cache falls
back to the planner and lowers the template's score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from splitsecond.cache.client import ModelClient, Usage
from splitsecond.cache.template import PLACEHOLDER_RE, placeholders_in

Validator = Callable[[str, str], str | None]
"""``validator(plan, situation)``: why the adapted plan is unacceptable, or ``None``."""


class AdaptationRejected(Exception):
    """The adapted plan failed validation; carries the reason and the tokens spent."""

    def __init__(self, reason: str, usage: Usage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage or Usage()


@dataclass(frozen=True)
class Adapted:
    """An adapted plan.

    Attributes:
        plan: the plan for the new situation.
        usage: tokens spent (zero when no call was needed).
        called: whether the cheap model was asked.
    """

    plan: str
    usage: Usage = field(default_factory=Usage)
    called: bool = False


@dataclass
class Adapter:
    """Fills templates with the cheap model (see the module docstring).

    Attributes:
        max_tokens: output bound of the adaptation call (well below the planner's).
        min_chars: shortest acceptable plan.
        max_chars: longest acceptable plan.
        skip_without_slots: use a template without placeholders verbatim, without a call.
        validator: an extra domain check of the adapted plan.
        max_situation_chars: the situation is cut to this many characters in the prompt.
    """

    max_tokens: int = 32
    min_chars: int = 8
    max_chars: int = 400
    skip_without_slots: bool = True
    validator: Validator | None = None
    max_situation_chars: int = 600

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens <= 0:
            raise ValueError(f"Adapter.max_tokens must be a positive integer, got {self.max_tokens!r}")
        if not (isinstance(self.min_chars, int) and isinstance(self.max_chars, int)):
            raise ValueError("Adapter.min_chars and max_chars must be integers")
        if not 0 <= self.min_chars < self.max_chars:
            raise ValueError(
                f"Adapter needs 0 <= min_chars < max_chars, got {self.min_chars} and {self.max_chars}"
            )

    def messages(self, template: str, situation: str) -> list[dict[str, str]]:
        """The adaptation prompt."""
        text = " ".join(situation.split())[: self.max_situation_chars]
        return [
            {
                "role": "system",
                "content": (
                    "You adapt a plan template to a situation. Replace every <num>, <pos> and <name> "
                    "with a value from the situation and keep everything else. Answer with the plan only."
                ),
            },
            {"role": "user", "content": f"Situation: {text}\nTemplate: {template}\nPlan:"},
        ]

    def validate(self, plan: str, situation: str) -> str | None:
        """Why ``plan`` is unacceptable, or ``None``."""
        if len(plan) < self.min_chars:
            return f"too short ({len(plan)} chars < {self.min_chars})"
        if len(plan) > self.max_chars:
            return f"too long ({len(plan)} chars > {self.max_chars})"
        if PLACEHOLDER_RE.search(plan):
            return f"placeholders left: {placeholders_in(plan)}"
        if self.validator is not None:
            return self.validator(plan, situation)
        return None

    def _finish(self, text: str | None, usage: Usage, error: str | None, situation: str) -> Adapted:
        if text is None:
            raise AdaptationRejected(f"adapter call failed: {error}", usage)
        plan = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
        problem = self.validate(plan, situation)
        if problem is not None:
            raise AdaptationRejected(problem, usage)
        return Adapted(plan, usage, called=True)

    def _verbatim(self, template: str, situation: str) -> Adapted | None:
        if not (self.skip_without_slots and not placeholders_in(template)):
            return None
        plan = " ".join(template.split())
        problem = self.validate(plan, situation)
        if problem is not None:
            raise AdaptationRejected(problem)
        return Adapted(plan)

    def adapt(self, template: str, situation: str, client: ModelClient | None) -> Adapted:
        """The template filled for ``situation``.

        Raises:
            AdaptationRejected: when the result fails validation, or a call is needed and there
                is no ``client``.
        """
        verbatim = self._verbatim(template, situation)
        if verbatim is not None:
            return verbatim
        if client is None:
            raise AdaptationRejected("the template has placeholders and there is no cheap model")
        done = client.complete(self.messages(template, situation), self.max_tokens)
        return self._finish(done.text, done.usage, done.error, situation)

    async def aadapt(self, template: str, situation: str, client: ModelClient | None) -> Adapted:
        """Asynchronous :meth:`adapt`."""
        verbatim = self._verbatim(template, situation)
        if verbatim is not None:
            return verbatim
        if client is None:
            raise AdaptationRejected("the template has placeholders and there is no cheap model")
        done = await client.acomplete(self.messages(template, situation), self.max_tokens)
        return self._finish(done.text, done.usage, done.error, situation)
