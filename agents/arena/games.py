"""What the arena needs to know about each env family: a :class:`Game` adapter per env.

A game builds the env's multi-agent (PettingZoo AEC) version on the explicit clock, tells each
agent its :class:`~splitsecond.agents.base.EnvSpec`, turns ``(obs, info)`` into an
:class:`~splitsecond.agents.base.Observation`, validates actions, names the idle and *hold*
actions (realtime mode), reads the outcome and saves the replay.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from splitsecond.agents.base import EnvSpec, Observation

logger = logging.getLogger(__name__)


class Game(Protocol):
    """Adapter between the arena and one env family (see the module docstring)."""

    env_id: str
    step_ms: float | None

    def agent_ids(self, n: int) -> list[str]:
        """The env's agent ids for ``n`` agents."""

    def make_env(self, agent_ids: list[str], env_kwargs: dict[str, Any]) -> Any:
        """The multi-agent env on the explicit clock."""

    def spec(self, env: Any, agent_id: str) -> EnvSpec:
        """What ``agent_id`` may know about the env."""

    def observation(self, agent_id: str, obs: Any, info: dict[str, Any]) -> Observation:
        """The observation handed to the agent."""

    def time_us(self, env: Any, agent_id: str, info: dict[str, Any]) -> int:
        """Simulated time of the agent's current observation."""

    def valid_action(self, agent_id: str, action: Any, spec: EnvSpec) -> bool:
        """Whether the env accepts ``action`` from this agent."""

    def action_name(self, agent_id: str, action: Any) -> str:
        """A short name of an action for logs."""

    def idle_action(self, agent_id: str) -> Any:
        """The do-nothing action."""

    def hold_action(self, agent_id: str, previous: Any) -> tuple[Any, float]:
        """``(action, guard_ms)``: an action that changes nothing while the agent still thinks, and
        how long after the previous action landed it may be sent without changing its effect."""

    def status(self, env: Any) -> str:
        """A one-line status for progress reports."""

    def outcome(
        self, env: Any, scores: dict[str, float], infos: dict[str, dict[str, Any]]
    ) -> tuple[str | None, dict[str, Any]]:
        """``(winner agent id or None for a draw, details)`` at the end of a match; ``infos`` are
        the agents' last ``info`` dicts (empty when the match was stopped early)."""

    def sim_time_s(self, env: Any) -> float:
        """Simulated time now, in seconds."""

    def save_replay(
        self, env: Any, out_dir: Path, gif: bool, gif_max_frames: int
    ) -> tuple[Path | None, Path | None]:
        """Write the env's replay (and GIF) to ``out_dir``; returns their paths."""


# ---------------------------------------------------------------------------------- StreetFighter


class StreetFighterGame:
    """StreetFighter-v0: two fighters, ``player_0`` and ``player_1``, one action every decision."""

    env_id = "splitsecond/StreetFighter-v0"

    def __init__(self) -> None:
        from splitsecond.envs.streetfighter import actions
        from splitsecond.envs.streetfighter.frame_data import FPS, INPUT_BUFFER_FRAMES

        self._actions = actions
        self.step_ms = 1000.0 / FPS
        self._buffer_ms = INPUT_BUFFER_FRAMES * 1000.0 / FPS

    def agent_ids(self, n: int) -> list[str]:
        """``player_0``, ``player_1`` (StreetFighter is 1v1)."""
        if n != 2:
            raise ValueError(f"StreetFighter-v0 is a 1v1 game: it needs exactly 2 agents, got {n}")
        return ["player_0", "player_1"]

    def make_env(self, agent_ids: list[str], env_kwargs: dict[str, Any]) -> Any:
        """``StreetFighterMultiEnv(clock="explicit", **env_kwargs)``."""
        from splitsecond.envs.streetfighter.multi_env import StreetFighterMultiEnv

        return StreetFighterMultiEnv(clock="explicit", **env_kwargs)

    def spec(self, env: Any, agent_id: str) -> EnvSpec:
        """Spaces, action names, rules and frame timing."""
        from splitsecond.envs.streetfighter.text import RULES

        return EnvSpec(
            env_id=self.env_id,
            agent_id=agent_id,
            action_space=env.action_space(agent_id),
            observation_space=env.observation_space(agent_id),
            action_names=self._actions.ACTION_NAMES,
            rules=RULES,
            metadata={
                "fps": round(1000.0 / self.step_ms),
                "step_ms": self.step_ms,
                "noop_action": self._actions.IDLE,
            },
        )

    def observation(self, agent_id: str, obs: Any, info: dict[str, Any]) -> Observation:
        """The env's observation, its ``info["text"]`` and time."""
        return Observation(
            data=obs, text=str(info.get("text", "")), time_us=int(info.get("time_us", 0)), info=info
        )

    def time_us(self, env: Any, agent_id: str, info: dict[str, Any]) -> int:
        """``info["time_us"]``."""
        return int(info.get("time_us", 0))

    def valid_action(self, agent_id: str, action: Any, spec: EnvSpec) -> bool:
        """A valid action index."""
        try:
            self._actions.validate_action(action)
        except ValueError:
            return False
        return True

    def action_name(self, agent_id: str, action: Any) -> str:
        """The action's name."""
        try:
            return self._actions.ACTION_NAMES[int(action)]
        except (TypeError, ValueError, IndexError):
            return repr(action)

    def idle_action(self, agent_id: str) -> Any:
        """``idle``."""
        return self._actions.IDLE

    def hold_action(self, agent_id: str, previous: Any) -> tuple[Any, float]:
        """Re-send a held direction; after a press, the direction it holds once its buffer expired."""
        a = self._actions
        if previous is None:
            return a.IDLE, 0.0
        previous = int(previous)
        if not a.ACTION_IS_PRESS[previous]:
            return previous, 0.0
        held = a.CROUCH if a.ACTION_DIRECTION[previous] == a.DOWN else a.IDLE
        return held, self._buffer_ms

    def status(self, env: Any) -> str:
        """Round, health and rounds won of both fighters."""
        sim = _simulation(env)
        if sim is None:
            return ""
        f0, f1 = sim.fighters
        return (
            f"round {sim.round}  P0 {f0.health:>4} hp ({f0.rounds_won} won)  "
            f"P1 {f1.health:>4} hp ({f1.rounds_won} won)"
        )

    def outcome(
        self, env: Any, scores: dict[str, float], infos: dict[str, dict[str, Any]]
    ) -> tuple[str | None, dict[str, Any]]:
        """``infos[agent]["winner"]`` at the end; a truncated match goes to the higher score."""
        info = infos.get("player_0", {})
        winner = info.get("winner")
        details: dict[str, Any] = {"rounds_won": info.get("rounds_won"), "round": info.get("round")}
        sim = _simulation(env)
        if sim is not None:
            details["health"] = [f.health for f in sim.fighters]
            details["characters"] = [f.char.name for f in sim.fighters]
        if winner == "draw":
            return None, details
        if winner is None and scores:
            ranked = sorted(scores.items(), key=lambda kv: -kv[1])
            if ranked[0][1] > ranked[1][1]:
                winner = ranked[0][0]
        return winner, details

    def sim_time_s(self, env: Any) -> float:
        """The env's simulated time (its current frame)."""
        from splitsecond.envs.streetfighter.frame_data import frame_time_us

        sim = _simulation(env)
        return frame_time_us(sim.frame) / 1e6 if sim is not None else 0.0

    def save_replay(
        self, env: Any, out_dir: Path, gif: bool, gif_max_frames: int
    ) -> tuple[Path | None, Path | None]:
        """The env's replay as JSON (and a GIF subsampled to at most ``gif_max_frames`` frames)."""
        replay = env.replay
        replay_path = out_dir / "replay.json"
        replay.save(replay_path)
        gif_path = None
        if gif:
            every = max(2, -(-int(replay.final_frame) // gif_max_frames))
            gif_path = Path(replay.to_gif(out_dir / "replay.gif", every=every, max_frames=gif_max_frames))
        return replay_path, gif_path


# ---------------------------------------------------------------------------------- HFTBench


class HFTBenchGame:
    """HFTBench-v0: N traders in one market; actions are order arrays, order objects or order text."""

    env_id = "splitsecond/HFTBench-v0"
    step_ms = None

    def agent_ids(self, n: int) -> list[str]:
        """``trader_0`` ... ``trader_{n-1}``."""
        if n < 1:
            raise ValueError("HFTBench-v0 needs at least one agent")
        return [f"trader_{i}" for i in range(n)]

    def make_env(self, agent_ids: list[str], env_kwargs: dict[str, Any]) -> Any:
        """``HFTBenchMultiEnv(agent_names=..., clock="explicit", **env_kwargs)``."""
        from splitsecond.envs.hftbench import HFTBenchMultiEnv

        return HFTBenchMultiEnv(agent_names=agent_ids, clock="explicit", **env_kwargs)

    def spec(self, env: Any, agent_id: str) -> EnvSpec:
        """Spaces, rules, the symbols and the text order grammar."""
        from splitsecond.envs.hftbench import GRAMMAR, RULES, parse_orders

        cfg, market = env.config, env.market  # the env is reset: its market knows replayed symbols too
        return EnvSpec(
            env_id=self.env_id,
            agent_id=agent_id,
            action_space=env.action_space(agent_id),
            observation_space=env.observation_space(agent_id),
            action_names=None,
            rules=RULES,
            metadata={
                "symbols": list(market.symbols),
                "tick_sizes": list(market.tick_sizes),
                "lot_sizes": list(market.lot_sizes),
                "short_limit_shares": cfg.short_limit_shares,
                "initial_cash": cfg.initial_cash,
                "fill_model": cfg.fill_model,
                "text_action_grammar": GRAMMAR,
                "text_action_validator": parse_orders,
                "noop_action": None,
            },
        )

    def observation(self, agent_id: str, obs: Any, info: dict[str, Any]) -> Observation:
        """The env's observation, its ``info["text"]`` and time."""
        return Observation(
            data=obs, text=str(info.get("text", "")), time_us=int(info.get("time_us", 0)), info=info
        )

    def time_us(self, env: Any, agent_id: str, info: dict[str, Any]) -> int:
        """``info["time_us"]``."""
        return int(info.get("time_us", 0))

    def valid_action(self, agent_id: str, action: Any, spec: EnvSpec) -> bool:
        """``None``, order text that parses, order objects, or an element of the array space."""
        from splitsecond.envs.hftbench import Cancel, Order, parse_orders

        if action is None or isinstance(action, Order | Cancel):
            return True
        if isinstance(action, str):
            try:
                parse_orders(action)
            except ValueError:
                return False
            return True
        if isinstance(action, list | tuple):
            return all(self.valid_action(agent_id, a, spec) for a in action)
        try:
            return bool(spec.action_space.contains(action))
        except Exception:  # noqa: BLE001
            return False

    def action_name(self, agent_id: str, action: Any) -> str:
        """Order text as is; arrays summarised by their non-empty slots."""
        if action is None:
            return "HOLD"
        if isinstance(action, str):
            return " ; ".join(line.strip() for line in action.splitlines() if line.strip()) or "HOLD"
        if isinstance(action, dict) and "type" in action:
            from splitsecond.envs.hftbench import ORDER_TYPES

            types = [ORDER_TYPES[int(t)] for t in action["type"] if int(t) != 0]
            return ",".join(types) or "HOLD"
        return str(action)

    def idle_action(self, agent_id: str) -> Any:
        """``None`` (no order)."""
        return None

    def hold_action(self, agent_id: str, previous: Any) -> tuple[Any, float]:
        """``None``: sending no order changes nothing."""
        return None, 0.0

    def status(self, env: Any) -> str:
        """Each trader's PnL."""
        infos = getattr(env, "infos", {}) or {}
        parts = [f"{a} PnL {infos[a].get('pnl', 0.0):+.2f}" for a in env.possible_agents if a in infos]
        return "  ".join(parts)

    def outcome(
        self, env: Any, scores: dict[str, float], infos: dict[str, dict[str, Any]]
    ) -> tuple[str | None, dict[str, Any]]:
        """The trader with the highest PnL wins (a tie is a draw)."""
        infos = infos or getattr(env, "infos", {}) or {}
        pnl = {a: float(infos.get(a, {}).get("pnl", scores.get(a, 0.0))) for a in env.possible_agents}
        details = {"pnl": pnl, "summary": {a: infos.get(a, {}).get("summary") for a in env.possible_agents}}
        ranked = sorted(pnl.items(), key=lambda kv: -kv[1])
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            return None, details
        return ranked[0][0], details

    def sim_time_s(self, env: Any) -> float:
        """Seconds since the session start."""
        market = getattr(env, "market", None)
        if market is None:
            return 0.0
        return max(0, market.kernel.now - market.session_start_us) / 1e6

    def save_replay(
        self, env: Any, out_dir: Path, gif: bool, gif_max_frames: int
    ) -> tuple[Path | None, Path | None]:
        """HFTBench keeps no frame replay; the episode log is the record (a chart PNG when possible)."""
        return None, None


_GAMES = {"StreetFighter": StreetFighterGame, "HFTBench": HFTBenchGame}


def game_for(env_id: str) -> Game:
    """The adapter for ``env_id`` (``splitsecond/StreetFighter-v0``, ``splitsecond/HFTBench-v0``)."""
    base = env_id.rsplit("/", 1)[-1].split("-v")[0]
    if base not in _GAMES:
        raise ValueError(
            f"the arena does not know env {env_id!r}; known: splitsecond/StreetFighter-v0, splitsecond/HFTBench-v0"
        )
    return _GAMES[base]()


def _simulation(env: Any) -> Any:
    """The StreetFighter env's :class:`Simulation`, or ``None`` before its first reset."""
    try:
        return env.simulation
    except RuntimeError:
        return None
