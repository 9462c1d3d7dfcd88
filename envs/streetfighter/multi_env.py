"""StreetFighter-v0 for two agents: a PettingZoo AEC env where each agent decides on its own clock.

Each agent has its own simulated decision time. ``agent_selection`` is the agent whose next
decision frame is earliest (ties go to ``player_0``). ``step(action)`` for that agent charges its
latency ``L`` on its clock, schedules its input to land on frame ``f + d`` (``f`` = its
observation frame, ``d = ceil(L * 60 / 1e6)``) and sets its next decision to ``f + d + 1``; the
world is then simulated up to the next decision frame of whichever agent is due, with each
agent's previous input held until its new one lands. A faster agent therefore acts more often,
and a slow one sees the world move on while it thinks.

Observations are the single-agent ``Dict`` observation from each agent's own side
(:mod:`.observation`). ``infos[agent]`` holds ``text``, ``time_us``, ``frame``, ``round``,
``latency_us`` (of that agent's last action), ``rounds_won`` (own, opponent) and, at the end,
``winner`` (``"player_0"``, ``"player_1"``, ``"draw"``; ``None`` when truncated). Rewards:
``(damage dealt - damage taken) / 1000`` during the frames simulated by each step, plus
``+-win_bonus`` at the end, for both agents (zero-sum).

Clocks: ``clock`` and ``latency_ms`` are a single value for both agents or a dict per agent
(``{"player_0": "explicit", "player_1": "fixed"}``). Defaults to ``"explicit"`` with 0 ms.

Decision cadence: ``decision_interval_ms`` (one value or a dict per agent; default ``None``) puts
an agent's observations on its own cadence points, the frames ``0, k, 2k, ...`` with
``k = ceil(I * 60 / 1000)``: its action still lands on ``f + d``, and its next decision is the
first cadence point at or after ``f + d + 1`` (see ``StreetFighterEnv``'s "Time and latency").

Misuse is refused with a clear error: ``step`` before ``reset``, ``step`` once every agent is
done, an unknown reset option (``ValueError`` naming the valid ones, as in the single-agent env).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import AECEnv

from splitsecond.envs.streetfighter.actions import N_ACTIONS, validate_action
from splitsecond.envs.streetfighter.engine import OVER, MatchConfig, Simulation
from splitsecond.envs.streetfighter.env import REWARD_SCALE, check_reset_options, format_events
from splitsecond.envs.streetfighter.frame_data import (
    CHARACTER_NAMES,
    decision_interval_frames,
    frame_time_us,
    get_character,
    latency_frames,
    next_decision_frame,
)
from splitsecond.envs.streetfighter.observation import (
    build_observation,
    observation_space,
    observation_values,
)
from splitsecond.envs.streetfighter.replay import Replay
from splitsecond.envs.streetfighter.text import describe_values
from splitsecond.envs.timing import Clock, make_clock

logger = logging.getLogger(__name__)

AGENTS = ("player_0", "player_1")
_RESET_OPTIONS = ("characters",)


def _per_agent(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, dict):
        missing = [a for a in AGENTS if a not in value]
        extra = [k for k in value if k not in AGENTS]
        if missing or extra:
            raise ValueError(
                f"{name} dict must have exactly the keys {AGENTS}; missing {missing}, unknown {extra}"
            )
        return dict(value)
    return {a: value for a in AGENTS}


class StreetFighterMultiEnv(AECEnv):
    """Two agents fight; each one's decisions come at its own simulated time (see the module docstring).

    Args:
        render_mode: ``None``, ``"rgb_array"`` or ``"human"``.
        clock: clock name or :class:`Clock`, or a dict of them per agent.
        latency_ms: fixed/default latency, or a dict per agent.
        characters: the two characters (``None`` entries are drawn at reset); overridden by
            ``reset(options={"characters": [c0, c1]})``.
        round_seconds, rounds_to_win: match rules.
        max_frames: truncate after this many frames.
        text: compute ``infos[agent]["text"]``.
        win_bonus: terminal reward magnitude.
        show_hitboxes: draw boxes when rendering.
        decision_interval_ms: an agent observes only at multiples of this many ms of game time
            (one value or a dict per agent); ``None``: after each of its actions lands.
    """

    metadata = {
        "name": "streetfighter_v0",
        "render_modes": ["human", "rgb_array"],
        "render_fps": 60,
        "is_parallelizable": False,
    }

    def __init__(
        self,
        render_mode: str | None = None,
        clock: str | Clock | dict[str, str | Clock] = "explicit",
        latency_ms: float | dict[str, float] = 0.0,
        characters: tuple[str | None, str | None] = (None, None),
        round_seconds: int = 99,
        rounds_to_win: int = 2,
        max_frames: int | None = None,
        text: bool = True,
        win_bonus: float = 1.0,
        show_hitboxes: bool = False,
        decision_interval_ms: float | None | dict[str, float | None] = None,
    ) -> None:
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.render_mode = render_mode
        clocks = _per_agent(clock, "clock")
        latencies = _per_agent(latency_ms, "latency_ms")
        self._clocks = {a: make_clock(clocks[a], latencies[a]) for a in AGENTS}
        intervals = _per_agent(decision_interval_ms, "decision_interval_ms")
        self._cadence = {a: decision_interval_frames(intervals[a]) for a in AGENTS}
        self.decision_interval_ms = intervals
        self.characters = self._check_characters(characters)
        MatchConfig(round_seconds=round_seconds, rounds_to_win=rounds_to_win)  # validates
        if max_frames is not None and (
            not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 1
        ):
            raise ValueError(f"max_frames must be None or an int >= 1, got {max_frames!r}")
        self.round_seconds = round_seconds
        self.rounds_to_win = rounds_to_win
        self.max_frames = max_frames
        self.text = bool(text)
        self.win_bonus = float(win_bonus)
        self.show_hitboxes = show_hitboxes
        self.possible_agents = list(AGENTS)
        self.agents = []
        self.observation_spaces = {a: observation_space() for a in AGENTS}
        self.action_spaces = {a: spaces.Discrete(N_ACTIONS) for a in AGENTS}
        self._sim: Simulation | None = None
        self._seed: int | None = None
        self._viewer = None

    @staticmethod
    def _check_characters(characters: Any) -> tuple[str | None, str | None]:
        if not isinstance(characters, tuple | list) or len(characters) != 2:
            raise ValueError(f"characters must be a pair of names (or None) from {CHARACTER_NAMES}")
        for c in characters:
            if c is not None:
                get_character(c)
        return (characters[0], characters[1])

    def observation_space(self, agent: str) -> spaces.Space:
        """The (shared) observation space of ``agent``."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """The action space of ``agent``: ``Discrete(28)``, see :data:`ACTION_NAMES`."""
        return self.action_spaces[agent]

    # ---- PettingZoo API ----------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        """Start a new match. ``options={"characters": [c0, c1]}`` picks characters.

        Raises:
            ValueError: for an unknown option (naming the valid ones), as the single-agent env.
        """
        options = check_reset_options(options, _RESET_OPTIONS)
        self.np_random, _ = seeding.np_random(seed)
        chosen = self._check_characters(options.get("characters", self.characters))
        chars = tuple(
            c if c is not None else CHARACTER_NAMES[int(self.np_random.integers(len(CHARACTER_NAMES)))]
            for c in chosen
        )
        self._seed = seed
        self._sim = Simulation(MatchConfig(chars, self.round_seconds, self.rounds_to_win))
        self.agents = list(AGENTS)
        self.rewards = {a: 0.0 for a in AGENTS}
        self._cumulative_rewards = {a: 0.0 for a in AGENTS}
        self.terminations = {a: False for a in AGENTS}
        self.truncations = {a: False for a in AGENTS}
        self._next = {a: 0 for a in AGENTS}
        self._pending: dict[str, tuple[int, int] | None] = {a: None for a in AGENTS}
        self._latency = {a: 0 for a in AGENTS}
        self._decisions: list[tuple[int, int, int, int]] = []  # (decided, player, action, lands)
        self.infos = {a: self._info(a, []) for a in AGENTS}
        self.agent_selection = self._select()
        self._clocks[self.agent_selection].observed()
        if self.render_mode == "human":
            self.render()

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        """``agent``'s observation of the world now (its decision frame when it is selected)."""
        return build_observation(self.simulation, AGENTS.index(agent))

    def step(self, action: Any) -> None:
        """Schedule the selected agent's action after its latency, then run to the next decision.

        Raises:
            RuntimeError: before :meth:`reset`, or once every agent is done (the match is over and
                each agent has taken its final ``step(None)``).
        """
        if self._sim is None:
            raise RuntimeError("call reset() before step()")
        if not self.agents:
            raise RuntimeError("every agent is done (the match is over); call reset() to start a new match")
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        sim = self.simulation
        bare, latency_us = self._clocks[agent].charge(action)
        a = validate_action(bare)
        d = latency_frames(latency_us)
        f = sim.frame
        self._pending[agent] = (f + d, a)
        self._decisions.append((f, AGENTS.index(agent), a, f + d))
        self._next[agent] = next_decision_frame(f + d + 1, self._cadence[agent])
        self._latency[agent] = latency_us
        self._cumulative_rewards[agent] = 0.0
        target = min(self._next.values())
        if self.max_frames is not None:
            target = min(target, self.max_frames)
        dealt = list(sim.damage_dealt)
        n_events = len(sim.events)
        self._run_until(target)
        r0 = ((sim.damage_dealt[0] - dealt[0]) - (sim.damage_dealt[1] - dealt[1])) / REWARD_SCALE
        over = sim.phase == OVER
        truncated = not over and self.max_frames is not None and sim.frame >= self.max_frames
        if over:
            r0 += self.win_bonus if sim.winner == 0 else -self.win_bonus if sim.winner == 1 else 0.0
        self.rewards = {"player_0": float(r0), "player_1": float(-r0)}
        new_events = sim.events[n_events:]
        for a_ in self.agents:
            self.terminations[a_] = over
            self.truncations[a_] = truncated
            self.infos[a_] = self._info(a_, new_events)
        self._accumulate_rewards()
        self.agent_selection = self._select()
        self._clocks[self.agent_selection].observed()
        if self.render_mode == "human":
            self.render()

    def _run_until(self, target: int) -> None:
        sim = self._sim
        pending = self._pending
        p0, p1 = pending["player_0"], pending["player_1"]
        while sim.frame < target:
            f = sim.frame
            if p0 is not None and p0[0] == f:
                sim.set_input(0, p0[1])
                pending["player_0"] = p0 = None
            if p1 is not None and p1[0] == f:
                sim.set_input(1, p1[1])
                pending["player_1"] = p1 = None
            sim.step_frame()
            if sim.phase == OVER:
                break

    def _select(self) -> str:
        return min(self.agents, key=lambda a: (self._next[a], AGENTS.index(a)))

    def _info(self, agent: str, events: list) -> dict[str, Any]:
        sim = self._sim
        i = AGENTS.index(agent)
        info: dict[str, Any] = {
            "text": describe_values(observation_values(sim, i)) if self.text else "",
            "time_us": frame_time_us(sim.frame),
            "frame": sim.frame,
            "next_decision_frame": self._next[agent],
            "round": sim.round,
            "latency_us": self._latency[agent],
            "rounds_won": (sim.fighters[i].rounds_won, sim.fighters[1 - i].rounds_won),
            "events": format_events(events, i) if events else [],
        }
        over = sim.phase == OVER
        if over or (self.max_frames is not None and sim.frame >= self.max_frames):
            info["winner"] = None if not over else "draw" if sim.winner is None else AGENTS[sim.winner]
        return info

    # ---- rendering, replays ------------------------------------------------------------------

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the current frame; ``human``: show it (warns once when no display)."""
        if self.render_mode is None:
            logger.warning("render() called with render_mode=None")
            return None
        from splitsecond.envs.streetfighter.render import HumanViewer, render_frame

        frame = render_frame(self.simulation, show_hitboxes=self.show_hitboxes, decisions=self._decisions)
        if self.render_mode == "rgb_array":
            return frame
        if self._viewer is None:
            self._viewer = HumanViewer()
        self._viewer.show(frame)
        return None

    def close(self) -> None:
        """Close the window, if any."""
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    @property
    def simulation(self) -> Simulation:
        """The underlying :class:`Simulation` (after :meth:`reset`)."""
        if self._sim is None:
            raise RuntimeError("call reset() first")
        return self._sim

    @property
    def replay(self) -> Replay:
        """The match so far as a :class:`Replay`."""
        meta = {
            "env": "splitsecond/StreetFighter-v0 (multi-agent)",
            "clocks": [getattr(self._clocks[a], "name", "custom") for a in AGENTS],
            "decisions": [list(d) for d in self._decisions],
        }
        return Replay.from_simulation(self.simulation, seed=self._seed, players=AGENTS, meta=meta)

    @property
    def decisions(self) -> tuple[tuple[int, int, int, int], ...]:
        """Every decision so far as ``(decided_frame, player, action, lands_frame)``."""
        if self._sim is None:
            raise RuntimeError("call reset() first")
        return tuple(self._decisions)

    def save_replay(self, path: str) -> None:
        """Write :attr:`replay` as JSON to ``path``."""
        self.replay.save(path)


def multi_env(**kwargs: Any) -> StreetFighterMultiEnv:
    """Build a :class:`StreetFighterMultiEnv` (PettingZoo-style factory)."""
    return StreetFighterMultiEnv(**kwargs)
