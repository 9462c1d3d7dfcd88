"""StreetFighter-v0: our own real-time 2D fighting game at 60 fps, where latency costs frames.

* :class:`StreetFighterEnv` — Gymnasium single-agent env against a built-in opponent
  (``gymnasium.make("splitsecond/StreetFighter-v0")``);
* :class:`StreetFighterMultiEnv` / :func:`multi_env` — PettingZoo AEC env, agent against agent,
  each deciding on its own simulated clock;
* :data:`ACTION_NAMES`, :func:`action_index`, :data:`RULES`, :func:`describe` — for agents and
  LLM prompts;
* :func:`make_opponent`, :data:`OPPONENTS`, :class:`Opponent` — built-in opponents;
* :class:`Replay` — JSON match logs that re-simulate exactly, GIF/MP4 export;
* :data:`CHARACTERS` — the characters and their frame data.

The package is laid out one idea per file: ``frame_data`` (characters, moves, windows),
``actions``, ``fighter`` (state machine), ``engine`` (the world), ``observation``, ``text``,
``opponents``, ``env``, ``multi_env``, ``render``, ``replay``.
"""

from splitsecond.envs.streetfighter.actions import ACTION_NAMES, action_index
from splitsecond.envs.streetfighter.engine import MatchConfig, Simulation
from splitsecond.envs.streetfighter.env import StreetFighterEnv
from splitsecond.envs.streetfighter.frame_data import CHARACTERS, REACTION_WINDOWS, Character, Move
from splitsecond.envs.streetfighter.multi_env import StreetFighterMultiEnv, multi_env
from splitsecond.envs.streetfighter.observation import decode_observation
from splitsecond.envs.streetfighter.opponents import OPPONENTS, Opponent, make_opponent
from splitsecond.envs.streetfighter.replay import Replay
from splitsecond.envs.streetfighter.text import RULES, describe

__all__ = [
    "ACTION_NAMES",
    "CHARACTERS",
    "OPPONENTS",
    "REACTION_WINDOWS",
    "RULES",
    "Character",
    "MatchConfig",
    "Move",
    "Opponent",
    "Replay",
    "Simulation",
    "StreetFighterEnv",
    "StreetFighterMultiEnv",
    "action_index",
    "decode_observation",
    "describe",
    "make_opponent",
    "multi_env",
]
