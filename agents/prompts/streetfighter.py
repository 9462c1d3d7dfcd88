"""The StreetFighter prompt: a fighter who must answer fast, because the opponent does not wait."""

from dataclasses import replace

from splitsecond.agents.prompts.template import PromptTemplate

STREETFIGHTER = PromptTemplate(
    role=(
        "You are a fighter in a 2D fighting game played in real time. The opponent keeps moving "
        "while you think, so short answers win."
    ),
    reflex_format="Answer with exactly one action name from the list and nothing else.",
    plan_instruction="Write a short fighting plan for the next few moves (one or two sentences).",
)

COMPACT_RULES = (
    "A 2D fighting game at 60 frames per second. Bring the opponent's health to 0, or have more health when "
    "the round timer ends. Your action lands after your thinking time; until then your previous input stays "
    "held while the opponent keeps acting. walk/crouch/block actions are held; attacks, jumps, dashes and "
    "specials execute once. block_high (or walk_back) blocks high attacks, block_low blocks high and low "
    "ones. LP/LK are fast, HP/HK hit hard but can be punished; crouch_LK/MK/HK hit low; projectile works at "
    "range; anti_air beats jumps; throw beats blocking up close."
)
"""Rules in about 120 tokens instead of the env's ~1000: small models on a CPU prefill far faster."""

STREETFIGHTER_COMPACT = replace(STREETFIGHTER, rules=COMPACT_RULES)
"""The StreetFighter prompt with :data:`COMPACT_RULES` (``prompt="compact"``)."""
