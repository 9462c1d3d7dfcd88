"""Prompt templates, one per env family; :func:`template_for` picks the one for an env id.

:class:`OrderMenu` builds the constrained answers of text-action envs (HFTBench orders).
"""

from splitsecond.agents.prompts.generic import GENERIC
from splitsecond.agents.prompts.hftbench import HFTBENCH, HFTBENCH_COMPACT
from splitsecond.agents.prompts.order_menu import OrderMenu
from splitsecond.agents.prompts.streetfighter import STREETFIGHTER, STREETFIGHTER_COMPACT
from splitsecond.agents.prompts.template import STYLES, PromptTemplate

_BY_ENV = {"StreetFighter": STREETFIGHTER, "HFTBench": HFTBENCH}
_COMPACT = {"StreetFighter": STREETFIGHTER_COMPACT, "HFTBench": HFTBENCH_COMPACT}
VARIANTS = ("full", "compact")


def template_for(env_id: str, variant: str = "full") -> PromptTemplate:
    """The template for ``env_id`` (e.g. ``splitsecond/StreetFighter-v0``), else :data:`GENERIC`.

    ``variant="compact"`` picks the env's short-rules template where there is one (the full one
    otherwise).
    """
    if variant not in VARIANTS:
        raise ValueError(f"prompt variant must be one of {VARIANTS}, got {variant!r}")
    base = env_id.rsplit("/", 1)[-1].split("-v")[0]
    if variant == "compact" and base in _COMPACT:
        return _COMPACT[base]
    return _BY_ENV.get(base, GENERIC)


__all__ = [
    "GENERIC",
    "HFTBENCH",
    "HFTBENCH_COMPACT",
    "STREETFIGHTER",
    "STREETFIGHTER_COMPACT",
    "STYLES",
    "VARIANTS",
    "OrderMenu",
    "PromptTemplate",
    "template_for",
]
