"""Keyword rules for the observation text of SplitSecond's own envs (for :mod:`.rule_first`).

* StreetFighter's text observation ends with ``In reach: ...`` and ``Situation: <TAG> (...)``; the
  tag is the intent (the prompt's playbook answers each tag), refined where the playbook's answer
  depends on more: HP in reach when punishing, ``crouch_MK`` in reach, an overhead attack, the
  observer's projectile already out.
* HFTBench's observation gives positions (``pos +0``), open orders and the news line: the keyword
  is the news' direction (good / bad / quiet), flat or holding, and resting orders.

:func:`rules_for` picks the rules by env id (``splitsecond/StreetFighter-v0``, ``HFTBench-v0``...).
"""

from __future__ import annotations

from splitsecond.cache.keys import RuleKeywordExtractor

_TAGS = (
    ("ROUND OVER", "roundover"),
    ("YOU ARE STUNNED", "stunned"),
    ("INCOMING PROJECTILE", "fireball"),
    ("OPPONENT JUMPING IN", "jumpin"),
    ("OPPONENT KNOCKED DOWN", "knockdown"),
    ("PUNISH", "punish"),
    ("OPPONENT ATTACKING", "guard"),
    ("THROW RANGE", "throwrange"),
    ("IN REACH", "inreach"),
    ("MID RANGE", "midrange"),
    ("FAR", "far"),
)
STREETFIGHTER_RULES: tuple[tuple[str, str], ...] = (
    *((rf"^Situation: {tag}\b", token) for tag, token in _TAGS),
    (r"^In reach:[^\n]*\bHP\b[^\n]*\nSituation: PUNISH\b", "heavy"),
    (r"^In reach:[^\n]*\bcrouch_MK\b[^\n]*\nSituation: IN REACH\b", "sweep"),
    (r"^Situation: OPPONENT ATTACKING \([^)\n]*hits overhead", "overhead"),
    (r"^Situation: FAR \([^)\n]*your projectile is out", "projout"),
)
"""StreetFighter: the situation tag first, then the refinements the playbook needs."""

HFTBENCH_RULES: tuple[tuple[str, str], ...] = (
    (r"^News:[^\n]*\b(beats|raises|wins|buyback|approve|cuts rates)", "goodnews"),
    (r"^News:[^\n]*\b(misses|cuts full|recalls|probe|resigns|hikes rates)", "badnews"),
    (r"^News: none\b", "quiet"),
    (r"(?s)\A(?!.*\bpos [+-][1-9])", "flat"),
    (r"\bpos [+-][1-9]", "holding"),
    (r"^Open orders: #", "resting"),
)
"""HFTBench: the news' direction, flat or holding, resting orders."""


def _multiline(rules: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((f"(?m){pattern}", token) for pattern, token in rules)


def rules_for(env_id: str) -> RuleKeywordExtractor:
    """The keyword rules of an env family (by id, with or without the ``splitsecond/`` prefix).

    Raises:
        ValueError: for an env without rules here (name the valid families).
    """
    family = str(env_id).rsplit("/", 1)[-1].split("-v")[0]
    table = {"StreetFighter": STREETFIGHTER_RULES, "HFTBench": HFTBENCH_RULES}
    if family not in table:
        raise ValueError(f"no keyword rules for env {env_id!r}; known: {', '.join(table)}")
    return RuleKeywordExtractor(rules=_multiline(table[family]))
