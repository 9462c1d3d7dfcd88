"""The StreetFighter prompt: a fighter who must answer fast, because the opponent does not wait.

The env's text observation ends with what is in reach and a ``Situation:`` tag
(:mod:`splitsecond.envs.streetfighter.situation`). The playbook maps each tag to the action that
answers it, so a small model's job is a lookup it can do; the system message carries it, and the
prefix cache serves it after the first decision.
"""

from dataclasses import replace

from splitsecond.agents.prompts.template import PromptTemplate

PLAYBOOK = """Playbook: read the last line of the observation, "Situation: <TAG>", and answer:
YOU ARE STUNNED -> block_low
INCOMING PROJECTILE -> block_high
OPPONENT JUMPING IN -> anti_air
OPPONENT KNOCKED DOWN -> block_low
PUNISH -> HP if it is in reach, else the first move in reach
OPPONENT ATTACKING -> block_low (block_high if it hits overhead)
THROW RANGE -> throw
IN REACH -> crouch_MK if it is in reach, else LP
MID RANGE -> walk_forward
FAR -> projectile (walk_forward if your projectile is out)
ROUND OVER -> idle"""
"""Which action answers which situation tag (the tags of the env's ``Situation:`` line)."""

EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Round 1, 99s left (frame 18). Rounds won: you 0, opponent 0.\n"
        "You (kai): 1000/1000 HP, dashing back, busy 4f, x=1360, facing right.\n"
        "Opponent (kai): 1000/1000 HP, standing, free to act, x=4008, facing left.\n"
        "Distance 2648 (far, gap 2248). Frame advantage -4 (opponent acts first).\n"
        "In reach: nothing (too far).\n"
        "Situation: FAR (gap 2248).",
        "projectile",
    ),
    (
        "Round 1, 93s left (frame 382). Rounds won: you 0, opponent 0.\n"
        "You (kai): 1000/1000 HP, dashing back, busy 8f, x=200, facing right.\n"
        "Opponent (kai): 380/1000 HP, standing, free to act, x=1228, facing left.\n"
        "Distance 1028 (mid range, gap 628). Frame advantage -8 (opponent acts first).\n"
        "In reach: nothing (too far).\n"
        "Situation: MID RANGE (gap 628).",
        "walk_forward",
    ),
    (
        "Round 1, 97s left (frame 130). Rounds won: you 0, opponent 0.\n"
        "You (kai): 1000/1000 HP, doing MP (recovery, frame 15), busy 5f, x=616, facing right.\n"
        "Opponent (kai): 940/1000 HP, standing, free to act, x=1214, facing left.\n"
        "Distance 598 (close, gap 198). Frame advantage -5 (opponent acts first).\n"
        "In reach: LP, LK, crouch_LK, MP, crouch_MK, MK, HP, HK, crouch_HK.\n"
        "Situation: IN REACH (gap 198).",
        "crouch_MK",
    ),
    (
        "Round 1, 97s left (frame 134). Rounds won: you 0, opponent 0.\n"
        "You (kai): 1000/1000 HP, doing MP (recovery, frame 19), busy 1f, x=616, facing right.\n"
        "Opponent (kai): 940/1000 HP, standing, free to act, x=1086, facing left.\n"
        "Distance 470 (throw range, gap 70). Frame advantage -1 (opponent acts first).\n"
        "In reach: LP, LK, crouch_LK, MP, crouch_MK, MK, HP, HK, crouch_HK, throw.\n"
        "Situation: THROW RANGE (gap 70).",
        "throw",
    ),
    (
        "Round 2, 60s left (frame 3738). Rounds won: you 1, opponent 0.\n"
        "You (kai): 550/1000 HP, doing throw (recovery, frame 23), busy 7f, x=5516, facing right.\n"
        "Opponent (kai): 140/1000 HP, dashing back, busy 13f, x=6200, facing left.\n"
        "Distance 684 (close, gap 284). Frame advantage +6 (you act first).\n"
        "In reach: crouch_MK, MK, HP, HK, crouch_HK.\n"
        "Situation: PUNISH (opponent recovering from dash_back for 13 frames).",
        "HP",
    ),
    (
        "Round 1, 91s left (frame 498). Rounds won: you 0, opponent 0.\n"
        "You (kai): 900/1000 HP, doing anti_air (recovery, frame 25), busy 15f, x=320, facing right.\n"
        "Opponent (kai): 270/1000 HP, doing HP (startup, frame 5), busy 28f, x=970, facing left.\n"
        "Distance 650 (close, gap 250). Frame advantage +13 (you act first).\n"
        "In reach: LK, MP, crouch_MK, MK, HP, HK, crouch_HK.\n"
        "Situation: OPPONENT ATTACKING (HP, hits high, starting).",
        "block_low",
    ),
    (
        "Round 2, 67s left (frame 3280). Rounds won: you 1, opponent 0.\n"
        "You (kai): 740/1000 HP, doing anti_air (active, frame 11), busy 29f, x=5328, facing right.\n"
        "Opponent (kai): 190/1000 HP, in the air, busy 24f, x=6200 height 1232, facing left.\n"
        "Distance 872 (mid range, gap 472). Frame advantage -5 (opponent acts first).\n"
        "In reach: nothing (too far).\n"
        "Situation: OPPONENT JUMPING IN (gap 472, height 1232).",
        "anti_air",
    ),
    (
        "Round 1, 99s left (frame 24). Rounds won: you 0, opponent 0.\n"
        "You (kai): 1000/1000 HP, doing MK (recovery, frame 23), free to act, x=2200, facing right.\n"
        "Opponent (kai): 1000/1000 HP, doing projectile (startup, frame 12), busy 32f, x=4200, facing left.\n"
        "Distance 2000 (far, gap 1600). Frame advantage +32 (you act first).\n"
        "In reach: nothing (too far).\n"
        "Situation: INCOMING PROJECTILE (opponent is throwing a projectile).",
        "block_high",
    ),
    (
        "Round 2, 97s left (frame 842). Rounds won: you 1, opponent 0.\n"
        "You (kai): 1000/1000 HP, doing anti_air (recovery, frame 15), busy 25f, x=2384, facing right.\n"
        "Opponent (kai): 704/1000 HP, knocked down, taking a 2-hit combo, busy 33f, x=2896, facing left.\n"
        "Distance 512 (throw range, gap 112). Frame advantage +8 (you act first).\n"
        "In reach: LP, LK, crouch_LK, MP, crouch_MK, MK, HP, HK, crouch_HK, throw.\n"
        "Situation: OPPONENT KNOCKED DOWN (it gets up in 33 frames).",
        "block_low",
    ),
    (
        "Round 1, 92s left (frame 450). Rounds won: you 0, opponent 0.\n"
        "You (kai): 900/1000 HP, in hitstun, busy 13f, x=200, facing right.\n"
        "Opponent (kai): 320/1000 HP, doing HP (recovery, frame 22), busy 11f, x=870, facing left.\n"
        "Distance 670 (close, gap 270). Frame advantage -2 (opponent acts first).\n"
        "In reach: LK, MP, crouch_MK, MK, HP, HK, crouch_HK.\n"
        "Situation: YOU ARE STUNNED (you recover in 13 frames).",
        "block_low",
    ),
)
"""One worked example per situation tag (observations recorded from real matches), answered by the playbook."""

PROMPT_VERSION = "sf-2"
"""Version of the StreetFighter templates (``sf-1``: no situation tags, no playbook)."""

STREETFIGHTER = PromptTemplate(
    role=(
        "You are a fighter in a 2D fighting game played in real time. The opponent keeps moving "
        "while you think, so short answers win."
    ),
    reflex_format="Answer with exactly one action name from the list and nothing else.",
    reflex_instruction="Your action (the playbook's answer to the Situation line):",
    plan_instruction="Write a short fighting plan for the next few moves (one or two sentences).",
    playbook=PLAYBOOK,
    examples=EXAMPLES,
    version=PROMPT_VERSION,
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

COMPACT_OBSERVATION = ("In reach:", "Situation:")
"""The observation lines a compact decision sends: what is in reach and the situation (about 30 tokens
instead of 150: on a CPU the uncached part of the prompt is most of a decision's latency)."""

STREETFIGHTER_COMPACT = replace(
    STREETFIGHTER,
    rules=COMPACT_RULES,
    observation_lines=COMPACT_OBSERVATION,
    version=f"{PROMPT_VERSION}-compact",
)
"""The StreetFighter prompt with :data:`COMPACT_RULES` and :data:`COMPACT_OBSERVATION` (``prompt="compact"``)."""
