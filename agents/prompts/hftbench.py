"""The HFTBench prompt: a trader in a live limit-order book where quotes move while you think.

The ``Order syntax:`` line of the system message is the env's grammar for free-text answers, or
the shape of the order menu when the answer is constrained to one
(:mod:`splitsecond.agents.prompts.order_menu`). A reflex answer is one order; free text may hold
one order per line.
"""

from dataclasses import replace

from splitsecond.agents.prompts.template import PromptTemplate

HFTBENCH = PromptTemplate(
    role=(
        "You are a trader in a live limit-order market. Prices move while you think: a slow "
        "order may be filled at a worse price or not at all."
    ),
    system="{role}\n\nRules:\n{rules}\n\nOrder syntax: {actions}\n\n{answer_format}",
    reflex_format="Answer with one order in that syntax (or HOLD) and nothing else.",
    cot_format="Think in at most three short sentences, then end with a line 'Action: <order>' (or 'Action: HOLD').",
    plan_format=(
        "Sometimes you are asked for a short plan (one or two sentences, no order). Otherwise answer "
        "with one order in the order syntax (or HOLD), following the plan in force."
    ),
    reflex_instruction="Your order:",
    cot_instruction="Think briefly, then write 'Action: <order>'.",
    plan_instruction="Write a short trading plan for the next few decisions (one or two sentences).",
    version="hft-1",
)

COMPACT_RULES = (
    "Stocks and an ETF (IDX) trade in limit order books. Your order reaches the exchange after your "
    "thinking time; quotes may have moved. MKT orders take the best price now; limit orders rest in the "
    "book. Good news raises a stock (and IDX), bad news lowers it. Maximise profit."
)
"""Rules in about 60 tokens instead of the env's ~300 (``prompt="compact"``, small models on a CPU)."""

HFTBENCH_COMPACT = replace(HFTBENCH, rules=COMPACT_RULES, version="hft-1-compact")
"""The HFTBench prompt with :data:`COMPACT_RULES`."""
