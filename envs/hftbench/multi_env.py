"""HFTBench for several agents in one market: a PettingZoo **AEC** environment.

Why AEC: agents are asynchronous. Each agent observes at its own times and its orders land at
``t_observed + its latency`` (:mod:`.seat`), so the natural turn order is "whoever's next
observation comes first": ``agent_selection`` is the live agent with the earliest next observation
time (ties: the order of ``possible_agents``). Between turns the market runs every event in time
order, so orders from different agents interleave by *arrival* time and the faster agent takes a
stale quote first.

``observe(agent)`` returns the agent's observation taken at its latest observation time (the
selected agent's is current). ``rewards``: every agent's change of equity since the previous step
(dollars). Termination: all agents at the session end (positions are liquidated at the closing
mid); ``infos[agent]["summary"]`` then holds its metrics.

Spaces, action forms and ``info`` keys are those of :class:`~.env.HFTBenchEnv`.

Example::

    env = multi_env(latency_ms={"trader_0": 1, "trader_1": 500}, clock="fixed")
    env.reset(seed=0)
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, info = env.last()
        env.step(None if terminated else policy(agent, obs))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pettingzoo import AECEnv

from splitsecond.envs.hftbench.config import MarketConfig
from splitsecond.envs.hftbench.env import build_config, check_timing, symbol_count
from splitsecond.envs.hftbench.market import Market
from splitsecond.envs.hftbench.render import render_chart, summary_table
from splitsecond.envs.hftbench.seat import Seat
from splitsecond.envs.hftbench.spaces import SpaceDims, action_space, observation_space
from splitsecond.envs.hftbench.text import RULES, render_text
from splitsecond.envs.timing import Clock, make_clock


class HFTBenchMultiEnv(AECEnv):
    """Several agents trading in one HFTBench market (see the module docstring).

    Args:
        config: the market; keyword ``overrides`` replace fields.
        n_agents: number of agents, named ``trader_0`` ... (ignored when ``agent_names`` is given).
        agent_names: the agents' names.
        clock: a clock name for every agent, or ``{name: clock name or Clock}``.
        latency_ms: one latency for all, a sequence per agent, or ``{name: ms}`` (the ``fixed``
            latency, or the bare-action latency under ``explicit``).
        decision_interval_ms, wake_on_news, dims: as in :class:`~.env.HFTBenchEnv`.
        render_mode: ``"rgb_array"`` (chart of the first agent's fills), ``"ansi"`` or ``None``.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "name": "hftbench_v0", "is_parallelizable": False}

    def __init__(
        self,
        config: MarketConfig | None = None,
        *,
        n_agents: int = 2,
        agent_names: Sequence[str] | None = None,
        clock: str | Mapping[str, str | Clock] = "explicit",
        latency_ms: float | Sequence[float] | Mapping[str, float] = 0.0,
        decision_interval_ms: float = 100.0,
        wake_on_news: bool = True,
        dims: SpaceDims | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        self.config = build_config(config, overrides)
        if agent_names is None:
            if not isinstance(n_agents, int) or n_agents < 1:
                raise ValueError(f"n_agents must be an integer >= 1, got {n_agents!r}")
            agent_names = [f"trader_{i}" for i in range(n_agents)]
        names = list(agent_names)
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"agent_names must be unique non-empty strings, got {names}")
        self.possible_agents = names
        self.clocks = self._make_clocks(names, clock, latency_ms)
        self.decision_interval_us = check_timing(decision_interval_ms)
        self.wake_on_news = bool(wake_on_news)
        self.dims = dims if dims is not None else SpaceDims()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        n = symbol_count(self.config)
        self.observation_spaces = {a: observation_space(n, self.dims) for a in names}
        self.action_spaces = {a: action_space(n, self.dims) for a in names}
        self.market: Market | None = None
        self.seats: dict[str, Seat] = {}
        self._obs: dict[str, dict[str, np.ndarray]] = {}
        self.agents = []

    @staticmethod
    def _make_clocks(
        names: list[str],
        clock: str | Mapping[str, str | Clock],
        latency_ms: float | Sequence[float] | Mapping[str, float],
    ) -> dict[str, Clock]:
        if isinstance(latency_ms, Mapping):
            unknown = set(latency_ms) - set(names)
            if unknown:
                raise ValueError(f"latency_ms names unknown agents {sorted(unknown)}; agents: {names}")
            lats = {n: float(latency_ms.get(n, 0.0)) for n in names}
        elif isinstance(latency_ms, int | float):
            lats = dict.fromkeys(names, float(latency_ms))
        else:
            seq = list(latency_ms)
            if len(seq) != len(names):
                raise ValueError(f"latency_ms has {len(seq)} entries for {len(names)} agents")
            lats = dict(zip(names, (float(x) for x in seq), strict=True))
        if isinstance(clock, Mapping):
            unknown = set(clock) - set(names)
            if unknown:
                raise ValueError(f"clock names unknown agents {sorted(unknown)}; agents: {names}")
            return {n: make_clock(clock.get(n, "explicit"), lats[n]) for n in names}
        return {n: make_clock(clock, lats[n]) for n in names}

    # ------------------------------------------------------------------ PettingZoo API
    def observation_space(self, agent: str) -> Any:
        """The agent's observation space (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> Any:
        """The agent's action space (the same object on every call)."""
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a new session (``options`` unused)."""
        market_seed = int(np.random.default_rng(seed).integers(0, 2**63 - 1))
        self.market = Market(self.config, market_seed, tuple(self.possible_agents))
        self.market.run_until(self.market.session_start_us)
        self.seats = {
            name: Seat(
                self.market, owner, self.clocks[name], self.dims, self.decision_interval_us, self.wake_on_news
            )
            for name, owner in zip(self.possible_agents, self.market.agents, strict=True)
        }
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {}
        for name in self.agents:
            self._obs[name], self.infos[name] = self.seats[name].observe()
        self.agent_selection = self.agents[0]
        self.clocks[self.agent_selection].observed()

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        """The agent's latest observation (a fresh copy)."""
        return {k: v.copy() for k, v in self._obs[agent].items()}

    def step(self, action: Any) -> None:
        """The selected agent acts; the market runs to the next agent's observation time."""
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if self.market is None:
            raise RuntimeError("call reset() before step()")
        market = self.market
        self._cumulative_rewards[agent] = 0.0
        self.seats[agent].act(action)
        order = {name: k for k, name in enumerate(self.possible_agents)}
        nxt = min(self.agents, key=lambda a: (self.seats[a].next_obs_us, order[a]))
        t = self.seats[nxt].next_obs_us
        if t >= market.session_end_us:
            market.close()
            for name in self.agents:
                self.rewards[name] = self.seats[name].reward()
                self._obs[name], self.infos[name] = self.seats[name].observe()
                self.infos[name]["summary"] = market.summary(self.seats[name].owner)
                self.terminations[name] = True
        else:
            market.run_until(t)
            for name in self.agents:
                self.rewards[name] = self.seats[name].reward()
            self._obs[nxt], self.infos[nxt] = self.seats[nxt].observe()
        self.agent_selection = nxt
        self._accumulate_rewards()

    def render(self) -> np.ndarray | str | None:
        """Chart (``rgb_array``) or text (``ansi``) from the first agent's point of view."""
        if self.render_mode is None or self.market is None:
            return None
        owner = self.market.agents[0]
        if self.render_mode == "ansi":
            return render_text(self.market, owner)
        return render_chart(self.market, owner)

    def close(self) -> None:
        """Release the session (safe to call twice)."""
        self.market = None

    # ------------------------------------------------------------------ extras
    def summary(self) -> dict[str, dict[str, float | int | str]]:
        """Every agent's session metrics, by name."""
        if self.market is None:
            raise RuntimeError("no session; call reset()")
        return {name: self.market.summary(seat.owner) for name, seat in self.seats.items()}

    def summary_table(self) -> Any:
        """:meth:`summary` as a ``rich`` table."""
        return summary_table(list(self.summary().values()))

    @property
    def rules(self) -> str:
        """Short rules for LLM prompts."""
        return RULES


def multi_env(**kwargs: Any) -> HFTBenchMultiEnv:
    """Build a :class:`HFTBenchMultiEnv` (PettingZoo-style factory)."""
    return HFTBenchMultiEnv(**kwargs)
