"""The arena: runs matches between agents in virtual or real time (see :mod:`.match`).

* :func:`run_match` plays one match and returns a :class:`MatchResult`;
* :class:`MatchConfig` says which env, seed, mode, limits and output folder;
* :class:`EpisodeLog` is the JSONL record of every decision; :func:`result_table` renders a result
  with rich; :class:`ProcessAgent` isolates an agent in its own process.
"""

from splitsecond.agents.arena.config import MODES, MatchConfig
from splitsecond.agents.arena.episode_log import EpisodeLog, read_episode_log, without_wall_clock
from splitsecond.agents.arena.games import Game, HFTBenchGame, StreetFighterGame, game_for
from splitsecond.agents.arena.isolation import AgentTimeout, AgentWorker, ProcessAgent
from splitsecond.agents.arena.match import match_log_records, run_match
from splitsecond.agents.arena.progress import MatchProgress, progress_text
from splitsecond.agents.arena.result import AgentStats, MatchResult, result_table

__all__ = [
    "MODES",
    "AgentStats",
    "AgentTimeout",
    "AgentWorker",
    "EpisodeLog",
    "Game",
    "HFTBenchGame",
    "MatchConfig",
    "MatchProgress",
    "MatchResult",
    "ProcessAgent",
    "StreetFighterGame",
    "game_for",
    "match_log_records",
    "progress_text",
    "read_episode_log",
    "result_table",
    "run_match",
    "without_wall_clock",
]
