"""The prompt template: how an LLM agent's messages are built from the env and its history.

The system message holds what does not change during an episode (role, rules, actions, answer
format), so a server with prefix caching serves it from cache after the first decision; the user
message holds the short history, the current observation and (plan-then-act) the plan in force.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from splitsecond.agents.base import EnvSpec

STYLES = ("reflex", "plan", "act-with-plan", "plan-steps", "chain-of-thought")


@dataclass(frozen=True)
class PromptTemplate:
    """Text templates for one env family.

    Fields are ``str.format`` templates. ``system`` may use ``{role}``, ``{rules}``,
    ``{actions}``, ``{playbook}``, ``{agent_id}`` and ``{answer_format}``; ``user`` may use ``{history}``,
    ``{observation}``, ``{plan}`` and ``{instruction}``. The ``*_format`` fields say how to answer
    in each thinking style and the ``*_instruction`` fields close the user message.

    Attributes:
        role: who the agent is (one sentence).
        system: the system message template.
        user: the user message template.
        reflex_format: answer format for a reflex decision.
        cot_format: answer format for chain-of-thought.
        plan_format: answer format for plan-then-act (both the plan and the action calls).
        reflex_instruction: last line of a reflex / act-with-plan user message.
        cot_instruction: last line of a chain-of-thought user message.
        plan_instruction: last line of a plan call's user message.
        plan_steps_format: answer format of a plan that is played as written (plan-follow).
        plan_steps_instruction: last line of a plan-follow plan call's user message.
        history_empty: what the history says at the start of an episode.
        rules: rules text that replaces the env's ``EnvSpec.rules`` (e.g. a compact version for
            small, slow models); ``None`` keeps the env's.
        playbook: which action answers which situation, in few words (empty: none); it goes in the
            system message, so the prefix cache serves it.
        examples: worked examples, ``(observation text, answer)`` pairs, sent as earlier user and
            assistant turns of one-action decisions (reflex, act-with-plan) right after the system
            message: small models copy a shown mapping far more reliably than they follow a stated
            one, and the prefix cache serves the examples like the system message.
        observation_lines: keep only the observation's lines that start with one of these prefixes
            (empty: every line). Uncached prompt tokens are what a decision pays for on a CPU (a 1.5B
            model prefills ~40 tokens a second on two cores), so a compact template sends only the
            lines its playbook needs.
        version: the template's version; it enters result rows and plan-cache scopes, so bump it
            whenever the text changes.
    """

    role: str
    system: str = "{role}\n\nRules:\n{rules}\n\nActions: {actions}\n\n{playbook}{answer_format}"
    user: str = "Recent:\n{history}\n\nNow:\n{observation}{plan}\n\n{instruction}"
    reflex_format: str = "Answer with exactly one action name and nothing else."
    cot_format: str = (
        "Think in at most three short sentences, then end with a line 'Action: <name>' naming one action."
    )
    plan_format: str = (
        "Sometimes you are asked for a short plan (one or two sentences, no action). Otherwise "
        "answer with exactly one action name and nothing else, following the plan in force."
    )
    reflex_instruction: str = "Your action:"
    cot_instruction: str = "Think briefly, then write 'Action: <name>'."
    plan_instruction: str = "Write a short plan for the next few moves (one or two sentences)."
    plan_steps_format: str = (
        "Answer with a plan: the next few actions, named exactly as in the list, in the order you will "
        "play them, separated by commas."
    )
    plan_steps_instruction: str = "Your plan (two to four action names, in order):"
    history_empty: str = "(start of the episode)"
    rules: str | None = None
    playbook: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    observation_lines: tuple[str, ...] = ()
    version: str = "1"

    def system_message(self, spec: EnvSpec, style: str, actions: Sequence[str]) -> str:
        """The system message for ``spec`` in thinking ``style`` (one of :data:`STYLES`)."""
        answer_format = {
            "reflex": self.reflex_format,
            "chain-of-thought": self.cot_format,
            "plan": self.plan_format,
            "act-with-plan": self.plan_format,
            "plan-steps": self.plan_steps_format,
        }[style]
        return self.system.format(
            role=self.role,
            rules=(self.rules if self.rules is not None else spec.rules).strip() or "(no rules given)",
            actions=", ".join(actions),
            agent_id=spec.agent_id,
            answer_format=answer_format,
            playbook=f"{self.playbook.strip()}\n\n" if self.playbook.strip() else "",
        )

    def user_message(self, observation: str, history: Sequence[str], style: str, plan: str | None) -> str:
        """The user message: history, observation, plan in force and the closing instruction."""
        instruction = {
            "reflex": self.reflex_instruction,
            "act-with-plan": self.reflex_instruction,
            "chain-of-thought": self.cot_instruction,
            "plan": self.plan_instruction,
            "plan-steps": self.plan_steps_instruction,
        }[style]
        if self.observation_lines:
            kept = [line for line in observation.splitlines() if line.startswith(self.observation_lines)]
            observation = "\n".join(kept)
        return self.user.format(
            history="\n".join(history) if history else self.history_empty,
            observation=observation.strip() or "(no text observation)",
            plan=f"\n\nPlan in force: {plan}" if plan else "",
            instruction=instruction,
        )

    def messages(
        self,
        spec: EnvSpec,
        style: str,
        actions: Sequence[str],
        observation: str,
        history: Sequence[str],
        plan: str | None = None,
    ) -> list[dict[str, str]]:
        """Chat messages for one call."""
        if style not in STYLES:
            raise ValueError(f"unknown prompt style {style!r}; valid: {', '.join(STYLES)}")
        messages = [{"role": "system", "content": self.system_message(spec, style, actions)}]
        if style in ("reflex", "act-with-plan"):
            for shown, answer in self.examples:
                messages.append({"role": "user", "content": self.user_message(shown, [], "reflex", None)})
                messages.append({"role": "assistant", "content": answer})
        messages.append({"role": "user", "content": self.user_message(observation, history, style, plan)})
        return messages
