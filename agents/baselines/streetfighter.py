"""The built-in StreetFighter fighters, packaged as agents.

Each fighter (``make_opponent(name, seed)`` of the env) decides instantly from the raw
observation; its *reaction time* becomes ``Decision.latency_ms``, so under the arena's default
``declared`` latency model it acts exactly as it does as the Gym env's built-in opponent.
"""

from __future__ import annotations

from splitsecond.agents.base import Decision, EnvSpec, Observation


def fighter_names() -> tuple[str, ...]:
    """Names of the built-in fighters (empty when the StreetFighter env is not available)."""
    try:
        from splitsecond.envs.streetfighter.opponents import OPPONENTS
    except ImportError:
        return ()
    return tuple(OPPONENTS)


class BuiltinFighter:
    """A built-in StreetFighter fighter as an agent.

    Args:
        fighter: the fighter's name (one of :func:`fighter_names`).
        reaction_ms: overrides the fighter's reaction time (``None``: its own).
        name: display name (default: the fighter's name).
    """

    def __init__(self, fighter: str, reaction_ms: float | None = None, name: str | None = None) -> None:
        names = fighter_names()
        if fighter not in names:
            raise ValueError(f"unknown fighter {fighter!r}; built-in fighters: {', '.join(names) or 'none'}")
        if reaction_ms is not None and not (isinstance(reaction_ms, int | float) and reaction_ms >= 0):
            raise ValueError(f"reaction_ms must be a number >= 0 or None, got {reaction_ms!r}")
        self.fighter = fighter
        self.reaction_override = reaction_ms
        self.name = name or fighter
        self._opponent = None

    def reset(self, spec: EnvSpec, seed: int | None = None) -> None:
        """Build a fresh fighter for the episode, seeded."""
        from splitsecond.envs.streetfighter.opponents import make_opponent

        self._opponent = make_opponent(self.fighter, seed=seed, reaction_ms=self.reaction_override)

    @property
    def reaction_ms(self) -> float:
        """The latency every decision declares."""
        if self._opponent is None:
            raise RuntimeError("BuiltinFighter.reset(spec, seed) must be called first")
        return float(self._opponent.reaction_ms)

    def act(self, observation: Observation) -> Decision:
        """The fighter's action for the observation, declaring its reaction time."""
        if self._opponent is None:
            raise RuntimeError("BuiltinFighter.reset(spec, seed) must be called before act()")
        return Decision(action=int(self._opponent.act(observation.data)), latency_ms=self.reaction_ms)
