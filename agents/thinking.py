"""Thinking styles: the latency-quality knob of an LLM agent.

``reflex``
    One constrained call per decision: the model emits only the action (a handful of tokens).
    Fastest; no deliberation.
``plan-then-act``
    Every ``every`` decisions the model first writes a short plan (at most ``plan_tokens``
    tokens), then picks the action with the plan in its prompt; in between, each decision is a
    reflex call that sees the plan in force. Plans are kept in ``Decision.trace.plan`` (for the
    plan cache). A plan decision costs two calls.
``plan-follow``
    Plan-then-act whose actor is the plan itself: the action names the plan mentions are played in
    reading order, one per decision, cycling until the next plan; no model call between plans.
    The score then depends on the plan alone (what a plan cache must preserve), and the plan call
    is the only cost. A plan that names no action falls back. Needs named discrete actions.
``chain-of-thought``
    One call: brief reasoning, then ``Action: <name>`` (at most ``max_tokens`` tokens). The final
    answer is parsed from the text; no output constraint is possible, so it may fall back.

:func:`parse_thinking` reads the CLI form: ``reflex``, ``plan-then-act`` / ``plan:4``,
``plan-follow`` / ``plan-follow:4``, ``chain-of-thought`` / ``cot`` / ``cot:96``.
"""

from __future__ import annotations

from dataclasses import dataclass


def _positive(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class Reflex:
    """One constrained decision per call.

    Attributes:
        max_tokens: output bound of the call (an action name needs a few tokens).
    """

    max_tokens: int = 12
    name: str = "reflex"

    def __post_init__(self) -> None:
        _positive(self.max_tokens, "Reflex.max_tokens")


PLAN_ACTORS = ("model", "follow")


@dataclass(frozen=True)
class PlanThenAct:
    """A short plan every ``every`` decisions, cheap reflex decisions in between.

    Attributes:
        every: decisions per plan (the first decision of an episode always plans).
        plan_tokens: output bound of a plan call.
        act_tokens: output bound of an action call.
        actor: ``"model"`` (a constrained model call per decision, seeing the plan) or
            ``"follow"`` (play the actions the plan names, in order; no call).
    """

    every: int = 4
    plan_tokens: int = 48
    act_tokens: int = 12
    actor: str = "model"
    name: str = "plan-then-act"

    def __post_init__(self) -> None:
        _positive(self.every, "PlanThenAct.every")
        _positive(self.plan_tokens, "PlanThenAct.plan_tokens")
        _positive(self.act_tokens, "PlanThenAct.act_tokens")
        if self.actor not in PLAN_ACTORS:
            raise ValueError(f"PlanThenAct.actor must be one of {PLAN_ACTORS}, got {self.actor!r}")
        if self.actor == "follow" and self.name == "plan-then-act":
            object.__setattr__(self, "name", "plan-follow")


@dataclass(frozen=True)
class ChainOfThought:
    """Reasoning then a final ``Action: <name>`` line, parsed.

    Attributes:
        max_tokens: output bound of the call (reasoning included).
    """

    max_tokens: int = 128
    name: str = "chain-of-thought"

    def __post_init__(self) -> None:
        _positive(self.max_tokens, "ChainOfThought.max_tokens")


ThinkingStyle = Reflex | PlanThenAct | ChainOfThought
THINKING_STYLES = (
    "reflex[:MAX_TOKENS]",
    "plan-then-act[:EVERY]",
    "plan-follow[:EVERY]",
    "chain-of-thought[:MAX_TOKENS]",
)


def parse_thinking(spec: str | ThinkingStyle) -> ThinkingStyle:
    """Build a thinking style from its CLI form (see the module docstring) or pass one through.

    Raises:
        ValueError: for an unknown style or a bad number.
    """
    if isinstance(spec, Reflex | PlanThenAct | ChainOfThought):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"thinking must be a style name or a style object, got {type(spec).__name__}")
    kind, _, arg = spec.strip().lower().partition(":")
    number: int | None = None
    if arg:
        if not arg.isdigit():
            raise ValueError(f"thinking {spec!r}: expected a positive integer after ':', got {arg!r}")
        number = int(arg)
    if kind == "reflex":
        return Reflex() if number is None else Reflex(max_tokens=number)
    if kind in ("plan-then-act", "plan_then_act", "plan"):
        return PlanThenAct() if number is None else PlanThenAct(every=number)
    if kind in ("plan-follow", "plan_follow"):
        return PlanThenAct(actor="follow") if number is None else PlanThenAct(every=number, actor="follow")
    if kind in ("chain-of-thought", "chain_of_thought", "cot"):
        return ChainOfThought() if number is None else ChainOfThought(max_tokens=number)
    raise ValueError(f"unknown thinking style {spec!r}; valid: {', '.join(THINKING_STYLES)}")
