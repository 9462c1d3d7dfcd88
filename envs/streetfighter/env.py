"""StreetFighter-v0: a real-time 2D fighting game against a built-in opponent (Gymnasium)."""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from splitsecond.envs.streetfighter.actions import ACTION_NAMES, N_ACTIONS, validate_action
from splitsecond.envs.streetfighter.engine import MatchConfig, Simulation
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
    to_observation,
)
from splitsecond.envs.streetfighter.opponents import DEFAULT_OPPONENT, Opponent, make_opponent
from splitsecond.envs.streetfighter.replay import Replay
from splitsecond.envs.streetfighter.text import describe_values
from splitsecond.envs.timing import Clock, TimedAction, WallClock, make_clock, ms_to_us

logger = logging.getLogger(__name__)

ENV_ID = "splitsecond/StreetFighter-v0"
REWARD_SCALE = 1000
"""Damage is divided by this in the reward (a full health bar of the balanced character = 1.0)."""
_RESET_OPTIONS = ("character", "opponent_character", "opponent", "opponent_latency_ms")
CHECKER_PROBE_OPTION = "options"
"""The one unknown reset option tolerated (and ignored): PettingZoo's ``api_test`` probes
``reset(options={"options": 1})`` to check that ``reset`` accepts options."""


def check_reset_options(options: dict[str, Any] | None, valid: tuple[str, ...]) -> dict[str, Any]:
    """``options`` as a dict, refusing keys outside ``valid`` (shared by the single- and multi-agent envs).

    Raises:
        ValueError: for an unknown key, naming the valid options.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"reset options must be a dict or None, got {type(options).__name__}")
    unknown = sorted(str(k) for k in options if k not in valid and k != CHECKER_PROBE_OPTION)
    if unknown:
        raise ValueError(f"unknown reset options {unknown}; valid options: {', '.join(valid)}")
    return {k: v for k, v in options.items() if k in valid}


def format_events(events: list[tuple[int, str, int, str]], player: int) -> list[str]:
    """Events as short strings from ``player``'s point of view (``"frame 120: you hit: HP 100"``)."""
    out = []
    for frame, kind, who, detail in events:
        actor = "you" if who == player else "opponent" if who >= 0 else "both"
        out.append(f"frame {frame}: {actor} {kind}" + (f": {detail}" if detail else ""))
    return out


class StreetFighterEnv(gym.Env):
    """A real-time, best-of-three 2D fighting game at 60 fps against a built-in opponent.

    Our own engine (no ROMs, no emulator): two fighters on a bounded stage with corners and
    pushback; walking, dashing, jumping, crouching, standing and crouching block; high, low and
    overhead attacks; throws that beat block; hitstun, blockstun, chip damage and knockdowns;
    light/medium/heavy punches and kicks with frame data; three specials (a projectile, an
    invincible anti-air, a forward rush) and cancels, so combos exist. Three characters with
    different frame data: ``kai`` (balanced), ``zara`` (zoner) and ``brick`` (grappler).

    ## Time and latency

    The world runs at exactly 60 frames per second; frame ``f`` starts at
    ``f * 1_000_000 / 60`` µs (``info["time_us"]`` is that value rounded down). An observation
    is taken at the start of a frame ``f``. The action chosen from it carries a latency ``L``
    (from the clock: ``"wall"`` measures the agent's real thinking time, ``"explicit"`` takes it
    from a :class:`~splitsecond.envs.timing.TimedAction`, ``"fixed"`` charges ``latency_ms``) and
    lands on frame ``f + d`` with ``d = ceil(L * 60 / 1e6)`` (exact integers: 0 µs lands on
    ``f`` itself, 1 µs .. 16 667 µs on ``f + 1``, ...). Frames ``f .. f+d-1`` run with the
    agent's previous input held, while the opponent keeps acting; frame ``f + d`` runs with the
    new input; then the next observation is returned at frame ``f + d + 1``. **Each step
    therefore advances ``d + 1`` frames.** Under the wall clock any measured time above zero
    rounds up to at least one frame: even a microsecond of thinking misses the current frame.
    One frame is 16 666⅔ µs, so 16 666 µs still lands on ``f + 1`` but 16 667 µs lands on
    ``f + 2`` (see :func:`~.frame_data.latency_frames`).

    **Decision cadence** (``decision_interval_ms``, default ``None``). With an interval of ``I``
    ms (``k = ceil(I * 60 / 1000)`` frames; 100 ms = 6 frames), observations come only at *cadence
    points*, the frames ``0, k, 2k, ...``. The action still lands on ``f + d`` after its latency
    and is held; the next observation is the first cadence point at or after ``f + d + 1``, so
    each step advances at least ``k`` frames (``ceil((d + 1) / k) * k``). At 0 ms latency and
    100 ms, a 20-second round takes 200 decisions instead of 1 200; a decision slower than the
    interval skips cadence points. This measures decision quality on its own clock: the opponent
    keeps its own reaction schedule. ``None`` (or any interval up to one frame) is the plain
    contract above.

    The opponent obeys the same contract with its own reaction latency (``opponent_latency_ms``
    or its default): it observes at a frame, its action lands ``reaction`` later, and it decides
    again on the frame after that.

    Attacks, specials, throws, dashes and jumps are *presses*: they execute once, on the first
    frame the fighter can act within 6 frames of landing (else they are dropped); movement and
    guard actions are *held* until the next action lands. Holding back (``walk_back``,
    ``block_high``) blocks high and overhead attacks, ``block_low`` blocks high and low attacks.

    ## Latency windows (see :mod:`.frame_data`)

    * **Punishing a blocked heavy**: kai's heavy punch is -8 on block (blockstun 16); a 4-frame
      jab punishes if it starts within the first 5 frames the defender can act, i.e. with at most
      20 frames (333 ms) of latency after the first observation showing the block. Slower agents
      cannot punish it.
    * **Anti-airing a jump**: against a forward jump from the round-start distance with a jump
      heavy kick that would connect 33 frames after the jump input, the invincible anti-air
      (startup 3) wins if it lands 21..33 frames after the jump input: a 13-frame window, at most
      32 frames (533 ms) of latency after the first observation of the pre-jump.
    * **Reacting to a projectile**: kai's projectile thrown from the round-start distance
      reaches a standing opponent 29 frames after it appears; "back" must be held when it
      arrives: at most 28 frames (466 ms) of latency after the first observation showing it.

    ``REACTION_WINDOWS`` states these for prompts; the tests check them frame by frame.

    ## Action space

    ``Discrete(28)``; names in :data:`ACTION_NAMES` (``action_index(name)`` gives the index):
    0 idle, 1 walk_forward, 2 walk_back, 3 dash_forward, 4 dash_back, 5 jump_up,
    6 jump_forward, 7 jump_back, 8 crouch, 9 block_high, 10 block_low, 11 LP, 12 MP, 13 HP,
    14 LK, 15 MK, 16 HK, 17 crouch_LP, 18 crouch_MP, 19 crouch_HP, 20 crouch_LK, 21 crouch_MK,
    22 crouch_HK, 23 overhead, 24 throw, 25 projectile, 26 anti_air, 27 rush. Pressed in the air,
    a normal becomes a jump attack. Anything else raises ``ValueError`` naming the valid set.

    ## Observation space

    ``Dict`` of float32 arrays from the agent's side (see :mod:`.observation` for every field):
    ``"self"`` and ``"opponent"`` (22 fields each: position, velocity, facing, health, state,
    current move and its frame and phase, busy frames, crouching, guarding, airborne,
    invulnerable, projectile out, character, rounds won, combo, held input — hidden for the
    opponent), ``"match"`` (frame, round, timer, phase, distance, gap, height difference,
    frame advantage, rounds to win) and ``"projectiles"`` (2 x 5: own and opponent's
    projectile: active, x, y, vx, frames until it reaches its target).
    ``decode_observation(obs)`` gives named fields; ``info["text"]`` a description for LLMs.

    ## Rewards

    Each step: ``(damage dealt - damage taken) / 1000`` over the frames it advanced; at the end of
    the match ``+win_bonus`` for a win, ``-win_bonus`` for a loss, 0 for a draw.

    ## Starting state

    Round 1: the agent (player 0) at x = 2200 facing right, the opponent at x = 4200 facing left,
    full health, 99-second timer. Characters: ``character``/``opponent_character``, overridden
    by ``reset(options={"character": ..., "opponent_character": ...})``; when unset, drawn from
    ``np_random``. ``options`` may also set ``opponent`` and ``opponent_latency_ms``; any other key
    is a ``ValueError`` naming the valid ones (as in the multi-agent env).

    ## Episode end

    Terminates when a fighter has won ``rounds_to_win`` rounds (KO, or more health in percent
    when the timer runs out; a double KO or an equal time-out gives both a round).
    ``info["winner"]`` is then ``"agent"``, ``"opponent"`` or ``"draw"``. Truncates after
    ``max_frames`` frames if set (``info["winner"]`` is ``None``).

    ## Info

    ``text`` (``describe(obs)``; ``""`` if ``text=False``), ``time_us``, ``frame``, ``round``,
    ``latency_us`` (charged to the action of this step; 0 at reset), ``latency_frames``,
    ``rounds_won`` (agent, opponent), ``events`` (hits, blocks, throws, rounds in this step).

    ## Determinism and replays

    Physics is integer arithmetic; all randomness (characters, opponent choices) comes from
    ``np_random``. Same seed + same sequence of ``(action, latency)`` => the same trajectory, bit
    for bit. Every match is recorded: :attr:`replay` / :meth:`save_replay` give a JSON event log
    that :meth:`Replay.resimulate` replays exactly, and exports to GIF/MP4.

    Args:
        render_mode: ``None``, ``"rgb_array"`` or ``"human"``.
        clock: ``"wall"``, ``"explicit"``, ``"fixed"`` or a :class:`Clock`.
        latency_ms: the fixed latency (``fixed``) or bare-action latency (``explicit``).
        opponent: a name from :data:`OPPONENTS` or an :class:`Opponent`.
        character, opponent_character: character names, or ``None`` to draw at reset.
        round_seconds, rounds_to_win: match rules.
        opponent_latency_ms: override the opponent's reaction latency.
        max_frames: truncate after this many frames (``None``: never).
        decision_interval_ms: observe only every this many ms of game time (see "Time and
            latency"); ``None``: after every action.
        text: compute ``info["text"]`` (on by default; off saves ~10 µs per step).
        win_bonus: terminal reward magnitude.
        show_hitboxes: draw hitboxes and hurtboxes when rendering.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 60}

    def __init__(
        self,
        render_mode: str | None = None,
        clock: str | Clock = "wall",
        latency_ms: float = 0.0,
        opponent: str | Opponent = DEFAULT_OPPONENT,
        character: str | None = None,
        opponent_character: str | None = None,
        round_seconds: int = 99,
        rounds_to_win: int = 2,
        opponent_latency_ms: float | None = None,
        max_frames: int | None = None,
        text: bool = True,
        win_bonus: float = 1.0,
        show_hitboxes: bool = False,
        decision_interval_ms: float | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self._clock = make_clock(clock, latency_ms)
        for value in (character, opponent_character):
            if value is not None:
                get_character(value)
        MatchConfig(round_seconds=round_seconds, rounds_to_win=rounds_to_win)  # validates
        if opponent_latency_ms is not None:
            TimedAction(None, opponent_latency_ms)  # validates
        if max_frames is not None and (
            not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 1
        ):
            raise ValueError(f"max_frames must be None or an int >= 1, got {max_frames!r}")
        if not np.isfinite(win_bonus):
            raise ValueError(f"win_bonus must be finite, got {win_bonus!r}")
        self._opponent_arg = self._check_opponent(opponent)
        self.character = character
        self.opponent_character = opponent_character
        self.round_seconds = round_seconds
        self.rounds_to_win = rounds_to_win
        self.opponent_latency_ms = opponent_latency_ms
        self.max_frames = max_frames
        self.text = bool(text)
        self.win_bonus = float(win_bonus)
        self.show_hitboxes = show_hitboxes
        self.decision_interval_ms = decision_interval_ms
        self._cadence = decision_interval_frames(decision_interval_ms)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = observation_space()
        self.action_names = ACTION_NAMES
        if isinstance(self._clock, WallClock):
            # Wall-clock latency is real elapsed time: not reproducible, by design.
            self.spec = EnvSpec(ENV_ID, entry_point="splitsecond.envs.streetfighter.env:StreetFighterEnv",
                                nondeterministic=True)  # fmt: skip
        self._sim: Simulation | None = None
        self._opponent: Opponent | None = None
        self._seed: int | None = None
        self._viewer = None

    @staticmethod
    def _check_opponent(opponent: Any) -> str | Opponent:
        if isinstance(opponent, str):
            make_opponent(opponent)  # validates the name
            return opponent
        if callable(getattr(opponent, "act", None)) and callable(getattr(opponent, "reset", None)):
            return opponent
        raise ValueError(f"opponent must be an opponent name or an Opponent, got {opponent!r}")

    # ---- Gymnasium API -----------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new match (see the class docstring for ``options``)."""
        super().reset(seed=seed)
        options = check_reset_options(options, _RESET_OPTIONS)
        rng = self.np_random
        chars = []
        for key, default in (("character", self.character), ("opponent_character", self.opponent_character)):
            name = options.get(key, default)
            if name is None:
                name = CHARACTER_NAMES[int(rng.integers(len(CHARACTER_NAMES)))]
            get_character(name)
            chars.append(name)
        opp_arg = self._check_opponent(options.get("opponent", self._opponent_arg))
        opp_ms = options.get("opponent_latency_ms", self.opponent_latency_ms)
        opp_seed = int(rng.integers(2**31))
        if isinstance(opp_arg, str):
            self._opponent = make_opponent(opp_arg, seed=opp_seed, reaction_ms=opp_ms)
        else:
            self._opponent = opp_arg
            self._opponent.reset(opp_seed)
        reaction_ms = opp_ms if opp_ms is not None else getattr(self._opponent, "reaction_ms", 0.0)
        self._opp_delay = latency_frames(ms_to_us(TimedAction(None, reaction_ms).latency_ms))
        self._opp_next = 0
        self._opp_land = -1
        self._opp_action = 0
        self._decisions: list[tuple[int, int, int, int]] = []  # (decided, player, action, lands)
        self._seed = seed
        self._sim = Simulation(MatchConfig(tuple(chars), self.round_seconds, self.rounds_to_win))
        values = observation_values(self._sim, 0)
        obs = to_observation(values)
        info = self._info(values, 0, 0, 0, False)
        if self.render_mode == "human":
            self.render()
        self._clock.observed()
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (an index or a :class:`TimedAction`) after its latency; see the class docstring."""
        sim = self._sim
        if sim is None:
            raise RuntimeError("call reset() before step()")
        if sim.over or (self.max_frames is not None and sim.frame >= self.max_frames):
            raise RuntimeError("the episode is over; call reset()")
        bare, latency_us = self._clock.charge(action)
        a = validate_action(bare)
        d = latency_frames(latency_us)
        land = sim.frame + d
        self._decisions.append((sim.frame, 0, a, land))
        target = next_decision_frame(land + 1, self._cadence)
        if self.max_frames is not None and target > self.max_frames:
            target = self.max_frames
        dealt, taken = sim.damage_dealt
        n_events = len(sim.events)
        self._advance(target, land, a)
        reward = ((sim.damage_dealt[0] - dealt) - (sim.damage_dealt[1] - taken)) / REWARD_SCALE
        terminated = sim.over
        truncated = not terminated and self.max_frames is not None and sim.frame >= self.max_frames
        if terminated:
            reward += self.win_bonus if sim.winner == 0 else -self.win_bonus if sim.winner == 1 else 0.0
        values = observation_values(sim, 0)
        obs = to_observation(values)
        info = self._info(values, latency_us, d, n_events, terminated or truncated)
        if self.render_mode == "human":
            self.render()
        self._clock.observed()
        return obs, float(reward), terminated, truncated, info

    def _advance(self, target: int, land: int, action: int) -> None:
        """Simulate frames up to ``target`` (exclusive); the agent's ``action`` lands on frame ``land``."""
        sim = self._sim
        opp = self._opponent
        step_frame = sim.step_frame
        while sim.frame < target:
            f = sim.frame
            if f == self._opp_next:
                self._opp_action = self._opponent_action(opp.act(build_observation(sim, 1)))
                self._opp_land = f + self._opp_delay
                self._opp_next = self._opp_land + 1
                self._decisions.append((f, 1, self._opp_action, self._opp_land))
            if f == self._opp_land:
                sim.set_input(1, self._opp_action)
            if f == land:
                sim.set_input(0, action)
            step_frame()
            if sim.phase == 2:
                break

    def _opponent_action(self, action: Any) -> int:
        try:
            return validate_action(action)
        except ValueError as exc:
            name = getattr(self._opponent, "name", type(self._opponent).__name__)
            raise ValueError(f"opponent {name!r} returned an invalid action: {exc}") from None

    def _info(self, values: list[int], latency_us: int, d: int, n_events: int, done: bool) -> dict:
        sim = self._sim
        info = {
            "text": describe_values(values) if self.text else "",
            "time_us": frame_time_us(sim.frame),
            "frame": sim.frame,
            "round": sim.round,
            "latency_us": latency_us,
            "latency_frames": d,
            "rounds_won": (sim.fighters[0].rounds_won, sim.fighters[1].rounds_won),
            "events": format_events(sim.events[n_events:], 0) if len(sim.events) > n_events else [],
        }
        if done:
            info["winner"] = (
                None
                if not sim.over
                else "agent"
                if sim.winner == 0
                else "opponent"
                if sim.winner == 1
                else "draw"
            )
        return info

    # ---- rendering ---------------------------------------------------------------------------

    def render(self) -> np.ndarray | None:
        """``rgb_array``: an ``H x W x 3`` uint8 frame; ``human``: show it in a window (if possible)."""
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array' or 'human'")
            return None
        if self._sim is None:
            raise RuntimeError("call reset() before render()")
        from splitsecond.envs.streetfighter.render import HumanViewer, render_frame

        frame = render_frame(self._sim, show_hitboxes=self.show_hitboxes, decisions=self._decisions)
        if self.render_mode == "rgb_array":
            return frame
        if self._viewer is None:
            self._viewer = HumanViewer()
        self._viewer.show(frame)
        return None

    def close(self) -> None:
        """Close the human-mode window, if any."""
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    # ---- inspection and replays --------------------------------------------------------------

    @property
    def simulation(self) -> Simulation:
        """The underlying :class:`Simulation` (after :meth:`reset`)."""
        if self._sim is None:
            raise RuntimeError("call reset() first")
        return self._sim

    @property
    def opponent(self) -> Opponent | None:
        """The current opponent (after :meth:`reset`)."""
        return self._opponent

    @property
    def replay(self) -> Replay:
        """The match so far as a :class:`Replay`."""
        sim = self.simulation
        meta = {
            "env": ENV_ID,
            "opponent": getattr(self._opponent, "name", type(self._opponent).__name__),
            "opponent_reaction_frames": self._opp_delay,
            "clock": getattr(self._clock, "name", "custom"),
            "decisions": [list(d) for d in self._decisions],
        }
        return Replay.from_simulation(sim, seed=self._seed, players=("agent", "opponent"), meta=meta)

    @property
    def decisions(self) -> tuple[tuple[int, int, int, int], ...]:
        """Every decision so far as ``(decided_frame, player, action, lands_frame)`` (player 0: the agent)."""
        if self._sim is None:
            raise RuntimeError("call reset() first")
        return tuple(self._decisions)

    def save_replay(self, path: str) -> None:
        """Write :attr:`replay` as JSON to ``path``."""
        self.replay.save(path)
