"""Built-in opponents: registry, latency contract, valid play, rough strength order."""

from __future__ import annotations

import pytest

from splitsecond.envs.streetfighter import OPPONENTS, Opponent, StreetFighterEnv, make_opponent
from splitsecond.envs.streetfighter.actions import N_ACTIONS
from splitsecond.envs.streetfighter.observation import build_observation
from splitsecond.envs.streetfighter.opponents import Masher
from splitsecond.envs.timing import TimedAction


def test_registry_lists_levels_with_descriptions() -> None:
    # weakest to strongest, as measured by benchmarks/streetfighter_ladder.py
    assert list(OPPONENTS) == ["dummy", "brawler", "masher", "turtle", "rushdown", "zoner", "punisher"]
    for name, text in OPPONENTS.items():
        opp = make_opponent(name, seed=0)
        assert isinstance(opp, Opponent) and opp.name == name and opp.reaction_ms >= 0
        assert f"reaction {opp.reaction_ms:.0f} ms" in text  # the description states the declared reaction
    assert make_opponent("punisher").reaction_ms <= 50
    with pytest.raises(ValueError, match="valid opponents: dummy"):
        make_opponent("shoryuken")
    with pytest.raises(ValueError):
        make_opponent("masher", reaction_ms=-3)


@pytest.mark.parametrize("name", sorted(OPPONENTS))
def test_every_opponent_plays_valid_actions_on_both_sides(name: str) -> None:
    env = StreetFighterEnv(clock="fixed", latency_ms=30, opponent=name, max_frames=1500)
    obs, _ = env.reset(seed=1)
    me = make_opponent(name, seed=2)
    done = False
    while not done:
        a = me.act(obs)
        assert 0 <= a < N_ACTIONS
        obs, _, term, trunc, _ = env.step(a)
        done = term or trunc
    sim = env.unwrapped.simulation
    assert 0 <= make_opponent(name, seed=0).act(build_observation(sim, 1)) < N_ACTIONS


class CountingMasher(Masher):
    """A masher that records the frames it was asked to decide on."""

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.frames: list[int] = []

    def act(self, obs):  # type: ignore[override]
        self.frames.append(int(obs["match"][0]))
        return super().act(obs)


@pytest.mark.parametrize(("reaction_ms", "every"), [(0, 1), (50, 4), (100, 7), (250, 16)])
def test_opponent_reaction_latency_sets_its_decision_frames(reaction_ms: float, every: int) -> None:
    opp = CountingMasher(reaction_ms=reaction_ms)
    env = StreetFighterEnv(clock="fixed", opponent=opp, max_frames=200)
    env.reset(seed=0)
    for _ in range(100):
        env.step(0)
    assert opp.frames[:4] == [0, every, 2 * every, 3 * every]
    # The env-level override applies the same contract.
    opp2 = CountingMasher()
    env2 = StreetFighterEnv(clock="fixed", opponent=opp2, opponent_latency_ms=reaction_ms, max_frames=200)
    env2.reset(seed=0)
    for _ in range(100):
        env2.step(0)
    assert opp2.frames[:4] == [0, every, 2 * every, 3 * every]


def _match(agent: str, opponent: str, seed: int = 0) -> str:
    env = StreetFighterEnv(clock="explicit", opponent=opponent, character="kai", opponent_character="kai")
    obs, _ = env.reset(seed=seed)
    me = make_opponent(agent, seed=seed)
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(me.act(obs))
        done = term or trunc
    return info["winner"]


def test_stronger_opponents_beat_weaker_ones() -> None:
    assert _match("rushdown", "dummy") == "agent"
    assert _match("punisher", "masher") == "agent"
    assert _match("punisher", "brawler") == "agent"
    assert _match("turtle", "masher") == "agent"  # guard and punish beats random play
    assert _match("rushdown", "turtle") == "agent"  # throws beat a guard
    assert _match("zoner", "rushdown") == "agent"
    assert _match("punisher", "zoner") == "agent"  # 0 ms walks through the zoner's fire


def test_a_passive_fighter_does_not_turtle_to_a_time_out() -> None:
    env = StreetFighterEnv(clock="explicit", opponent="dummy", character="kai", opponent_character="kai")
    obs, _ = env.reset(seed=0)
    me = make_opponent("turtle", seed=0)
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(TimedAction(me.act(obs), me.reaction_ms))
        done = term or trunc
    assert info["winner"] == "agent"
    assert all("ko" in e[3] for e in env.unwrapped.simulation.events if e[1] == "round_end")


class Broken(Opponent):
    """An opponent returning an action outside the action space."""

    name = "broken"

    def decide(self, v):  # type: ignore[override]
        return 99


def test_an_invalid_opponent_action_is_reported_as_the_opponents() -> None:
    env = StreetFighterEnv(clock="fixed", opponent=Broken())
    env.reset(seed=0)
    with pytest.raises(ValueError, match="opponent 'broken' returned an invalid action"):
        env.step(0)
    with pytest.raises(ValueError, match="opponent must be"):
        StreetFighterEnv(opponent=42)  # type: ignore[arg-type]
