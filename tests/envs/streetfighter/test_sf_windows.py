"""The documented latency budgets hold through the env's timing contract, to the frame.

An agent reacts to the first observation that shows an event, with a latency of exactly ``d``
frames; each test finds that the reaction works at the documented budget and fails one frame later.
"""

from __future__ import annotations

import numpy as np

from splitsecond.envs.streetfighter import StreetFighterEnv, action_index
from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.frame_data import CHARACTERS, punish_latency_budget
from splitsecond.envs.streetfighter.observation import FIGHTER_INDEX, MATCH_INDEX
from splitsecond.envs.streetfighter.opponents import Opponent, View
from splitsecond.envs.timing import TimedAction

_STATE = FIGHTER_INDEX["state"]


def frames_ms(frames: int) -> float:
    """A latency that lands exactly ``frames`` frames later (rounded down to whole microseconds)."""
    return (frames * 1_000_000 // 60) / 1000


class Script(Opponent):
    """Test opponent: plays ``script[frame]`` on the frames it lists, else ``default``."""

    name = "script"

    def __init__(self, script: dict[int, str], default: str = "idle") -> None:
        self.script = {f: action_index(a) for f, a in script.items()}
        self.default = action_index(default)
        super().__init__(reaction_ms=0)

    def decide(self, v: View) -> int:
        return self.script.get(int(v.match[MATCH_INDEX["frame"]]), self.default)


class HeavyThenBlock(Opponent):
    """Test opponent: walks in, swings one heavy punch, then holds block."""

    name = "heavy-then-block"

    def __init__(self) -> None:
        super().__init__(reaction_ms=0)
        self.swung = False

    def decide(self, v: View) -> int:
        if not self.swung and v.gap <= 60:  # close: the jab still reaches after the pushback
            self.swung = True
            return action_index("HP")
        return action_index("block_high") if self.swung else action_index("walk_forward")


def react(
    opponent: Opponent,
    trigger,
    reaction: str,
    frames: int,
    before: str = "idle",
    after: str = "idle",
    until: int = 150,
):
    """Hold ``before`` until ``trigger(obs)``, send ``reaction`` with ``frames`` frames of latency, then hold ``after``."""
    env = StreetFighterEnv(clock="explicit", opponent=opponent, character="kai", opponent_character="kai")
    obs, _ = env.reset(seed=0)
    reacted = False
    while env.unwrapped.simulation.frame < until:
        if not reacted and trigger(obs):
            reacted = True
            obs, *_ = env.step(TimedAction(action_index(reaction), frames_ms(frames)))
        else:
            obs, *_ = env.step(TimedAction(action_index(after if reacted else before), 0))
    assert reacted
    return env.unwrapped.simulation


def _hits(sim, player: int) -> list:
    return [e for e in sim.events if e[1] == "hit" and e[2] == player]


def test_punish_budget_of_a_blocked_heavy() -> None:
    kai = CHARACTERS["kai"]
    budget = punish_latency_budget(kai.moves["HP"], kai.moves["LP"])
    assert budget == 20

    def blocking(obs: dict[str, np.ndarray]) -> bool:
        return obs["self"][_STATE] == F.BLOCKSTUN

    ok = react(HeavyThenBlock(), blocking, "LP", budget, before="block_low", after="block_low")
    assert _hits(ok, 0), "a jab with the budgeted latency should punish"
    late = react(HeavyThenBlock(), blocking, "LP", budget + 1, before="block_low", after="block_low")
    assert not _hits(late, 0)
    assert [e for e in late.events if e[1] == "block" and e[2] == 0], "one frame later it is blocked"


def test_projectile_reaction_budget() -> None:
    def incoming(obs: dict[str, np.ndarray]) -> bool:
        return bool(obs["projectiles"][1][0])

    ok = react(Script({0: "projectile"}), incoming, "block_high", 28, after="block_high")
    assert not _hits(ok, 1) and [e for e in ok.events if e[1] == "block" and e[2] == 1]
    late = react(Script({0: "projectile"}), incoming, "block_high", 29, after="block_high")
    assert _hits(late, 1)


def test_anti_air_reaction_budget() -> None:
    def jumping(obs: dict[str, np.ndarray]) -> bool:
        return obs["opponent"][_STATE] == F.PREJUMP

    jump_in = {0: "jump_forward", 26: "HK"}
    for frames in (20, 26, 32):
        sim = react(Script(jump_in), jumping, "anti_air", frames)
        hits = [e for e in sim.events if e[1] == "hit"]
        assert hits and hits[0][2] == 0, f"anti-air with {frames} frames of latency should win"
    for frames in (19, 33):
        sim = react(Script(jump_in), jumping, "anti_air", frames)
        hits = [e for e in sim.events if e[1] == "hit"]
        assert hits and hits[0][2] == 1, f"anti-air with {frames} frames of latency should lose"
