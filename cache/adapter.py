"""Adaptation: the cheap model fills a cached template for the new situation, and is checked.

A template without placeholders is already a complete plan and is used as is (no model call,
configurable). A template with a few placeholders (``<num>``, ``<pos>``, ``<name>``; at most
``max_slots``) is filled slot by slot: the cheap model answers only the values, ``v1 | v2 | ...``,
constrained by a regular expression to the form each slot takes where the backend supports it
(our server, vLLM), and the values are put into the template. The plan's wording stays the
template's, and the call decodes a handful of tokens instead of a whole plan. A template with more
slots (or ``mode="rewrite"``) is rewritten whole by the cheap model within a small token budget.
The result is validated (not empty, no placeholder left, within length bounds, plus an optional
domain ``validator``); a failure raises :class:`AdaptationRejected`, on which the cache falls
back to the planner and lowers the template's score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from splitsecond.cache.client import Completion, ModelClient, Usage
from splitsecond.cache.prompt_context import Context, usable, with_task
from splitsecond.cache.template import PLACEHOLDER_RE, placeholders_in

ADAPT_MODES = ("slots", "rewrite")
SLOT_SEPARATOR = " | "
SLOT_PATTERNS = {
    "<num>": r"-?\$?[0-9]{1,7}(\.[0-9]{1,2})?%?",
    "<pos>": r"([xy] ?[=:] ?)?-?[0-9]{1,6}(\.[0-9]{1,2})?",
    "<name>": r"[A-Za-z][A-Za-z0-9_.\-]{0,15}",
}
"""The form of each placeholder's value (a value never contains the separator)."""
SLOT_TOKENS = 14
"""Output tokens budgeted per slot: its longest value and the separator, a token per character."""


def slots_regex(slots: list[str]) -> str:
    """The regular expression of a slot answer: each slot's value form, joined by the separator."""
    return r" \| ".join(f"({SLOT_PATTERNS[s]})" for s in slots)


def fill_slots(template: str, values: list[str]) -> str:
    """``template`` with its placeholders replaced by ``values``, in order."""
    it = iter(values)
    return PLACEHOLDER_RE.sub(lambda _m: next(it), template)


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
        max_tokens: output bound of a rewrite (well below the planner's); a slot answer is bounded
            by the longest values its slots allow (``SLOT_TOKENS`` each).
        min_chars: shortest acceptable plan.
        max_chars: longest acceptable plan.
        skip_without_slots: use a template without placeholders verbatim, without a call.
        validator: an extra domain check of the adapted plan.
        max_situation_chars: the situation is cut to this many characters in the prompt.
        mode: ``slots`` (fill templates with at most ``max_slots`` placeholders value by value,
            rewrite the others) or ``rewrite`` (always rewrite the whole template).
        max_slots: the most placeholders a template may have to be filled slot by slot.
    """

    max_tokens: int = 32
    min_chars: int = 8
    max_chars: int = 400
    skip_without_slots: bool = True
    validator: Validator | None = None
    max_situation_chars: int = 600
    mode: str = "slots"
    max_slots: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens <= 0:
            raise ValueError(f"Adapter.max_tokens must be a positive integer, got {self.max_tokens!r}")
        if self.mode not in ADAPT_MODES:
            raise ValueError(f"Adapter.mode must be one of {ADAPT_MODES}, got {self.mode!r}")
        if not isinstance(self.max_slots, int) or self.max_slots <= 0:
            raise ValueError(f"Adapter.max_slots must be a positive integer, got {self.max_slots!r}")
        if not (isinstance(self.min_chars, int) and isinstance(self.max_chars, int)):
            raise ValueError("Adapter.min_chars and max_chars must be integers")
        if not 0 <= self.min_chars < self.max_chars:
            raise ValueError(
                f"Adapter needs 0 <= min_chars < max_chars, got {self.min_chars} and {self.max_chars}"
            )

    def messages(self, template: str, situation: str, context: Context | None = None) -> list[dict[str, str]]:
        """The adaptation prompt; with a usable ``context`` (the plan call's messages), that
        context continued by the task (the situation is already in it)."""
        if usable(context):
            task = (
                "Instead of a new plan, adapt this plan template to the situation above: replace "
                "every <num>, <pos> and <name> with a value from the situation and keep everything "
                f"else. Answer with the plan only.\nTemplate: {template}\nPlan:"
            )
            return with_task(context, task)
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

    def slots_of(self, template: str) -> list[str] | None:
        """The placeholders to fill value by value, or None when the template is rewritten whole."""
        slots = placeholders_in(template)
        if self.mode != "slots" or not slots or len(slots) > self.max_slots:
            return None
        return slots

    def slot_messages(
        self, template: str, situation: str, context: Context | None = None
    ) -> list[dict[str, str]]:
        """The prompt asking for the values of the template's placeholders (see :meth:`messages`)."""
        slots = placeholders_in(template)
        where = "the situation above" if usable(context) else "the situation"
        ask = (
            f"Give the value of each of its {len(slots)} blanks ({', '.join(slots)}) for {where}, in "
            f"order, separated by '{SLOT_SEPARATOR.strip()}'. Answer with the values only.\nValues:"
        )
        if usable(context):
            return with_task(context, f"Instead of a new plan, reuse this plan template: {template}\n{ask}")
        text = " ".join(situation.split())[: self.max_situation_chars]
        return [
            {
                "role": "system",
                "content": "You fill the blanks of a plan template with values from a situation.",
            },
            {"role": "user", "content": f"Situation: {text}\nTemplate: {template}\n{ask}"},
        ]

    def _call(
        self, template: str, situation: str, context: Context | None
    ) -> tuple[list[dict[str, str]], int, str | None, Callable[[Completion], Adapted]]:
        """The model call a template needs: (messages, max tokens, regex, how to read the answer)."""
        slots = self.slots_of(template)
        if slots is not None:
            return (
                self.slot_messages(template, situation, context),
                SLOT_TOKENS * len(slots),
                slots_regex(slots),
                lambda done: self._fill(template, slots, done.text, done.usage, done.error, situation),
            )
        return (
            self.messages(template, situation, context),
            self.max_tokens,
            None,
            lambda done: self._finish(done.text, done.usage, done.error, situation),
        )

    def _fill(
        self,
        template: str,
        slots: list[str],
        text: str | None,
        usage: Usage,
        error: str | None,
        situation: str,
    ) -> Adapted:
        if text is None:
            raise AdaptationRejected(f"adapter call failed: {error}", usage)
        answer = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
        values = [v.strip() for v in answer.split(SLOT_SEPARATOR.strip())]
        if len(values) != len(slots) or not all(values):
            raise AdaptationRejected(f"expected {len(slots)} values, got {answer!r}", usage)
        bad = [v for v in values if PLACEHOLDER_RE.search(v)]
        if bad:
            raise AdaptationRejected(f"a value is a placeholder: {bad}", usage)
        plan = " ".join(fill_slots(template, values).split())
        problem = self.validate(plan, situation)
        if problem is not None:
            raise AdaptationRejected(problem, usage)
        return Adapted(plan, usage, called=True)

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

    def adapt(
        self, template: str, situation: str, client: ModelClient | None, *, context: Context | None = None
    ) -> Adapted:
        """The template filled for ``situation`` (``context``: see :meth:`messages`).

        Raises:
            AdaptationRejected: when the result fails validation, or a call is needed and there
                is no ``client``.
        """
        verbatim = self._verbatim(template, situation)
        if verbatim is not None:
            return verbatim
        if client is None:
            raise AdaptationRejected("the template has placeholders and there is no cheap model")
        messages, max_tokens, regex, finish = self._call(template, situation, context)
        return finish(client.complete(messages, max_tokens, regex=regex))

    async def aadapt(
        self, template: str, situation: str, client: ModelClient | None, *, context: Context | None = None
    ) -> Adapted:
        """Asynchronous :meth:`adapt`."""
        verbatim = self._verbatim(template, situation)
        if verbatim is not None:
            return verbatim
        if client is None:
            raise AdaptationRejected("the template has placeholders and there is no cheap model")
        messages, max_tokens, regex, finish = self._call(template, situation, context)
        return finish(await client.acomplete(messages, max_tokens, regex=regex))
