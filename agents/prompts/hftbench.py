"""The HFTBench prompt: a trader in a live limit-order book where quotes move while you think."""

from splitsecond.agents.prompts.template import PromptTemplate

HFTBENCH = PromptTemplate(
    role=(
        "You are a trader in a live limit-order market. Prices move while you think: a slow "
        "order may be filled at a worse price or not at all."
    ),
    system="{role}\n\nRules:\n{rules}\n\nOrder syntax: {actions}\n\n{answer_format}",
    reflex_format="Answer with one order per line in that syntax (or HOLD) and nothing else.",
    cot_format="Think in at most three short sentences, then end with a line 'Action: <order>' (or 'Action: HOLD').",
    plan_format=(
        "Sometimes you are asked for a short plan (one or two sentences, no order). Otherwise answer "
        "with one order per line in the order syntax (or HOLD), following the plan in force."
    ),
    reflex_instruction="Your orders:",
    cot_instruction="Think briefly, then write 'Action: <order>'.",
    plan_instruction="Write a short trading plan for the next few decisions (one or two sentences).",
)
