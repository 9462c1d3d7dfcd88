"""The PettingZoo AEC env: API conformance and per-agent simulated time."""

from __future__ import annotations

import warnings

import pytest
from pettingzoo.test import api_test

from splitsecond.envs.streetfighter import StreetFighterEnv, StreetFighterMultiEnv, make_opponent, multi_env
from splitsecond.envs.timing import TimedAction


def test_pettingzoo_api_test_passes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Observation is not a NumPy array": ours is a Dict
        api_test(multi_env(), num_cycles=400)
        api_test(
            multi_env(clock="fixed", latency_ms={"player_0": 0, "player_1": 80}, rounds_to_win=1),
            num_cycles=200,
        )


def test_faster_agent_decides_more_often_on_its_own_clock() -> None:
    env = multi_env(clock="fixed", latency_ms={"player_0": 0.0, "player_1": 100.0}, characters=("kai", "kai"))
    env.reset(seed=0)
    decisions = {"player_0": [], "player_1": []}
    for _ in range(200):
        agent = env.agent_selection
        decisions[agent].append(env.infos[agent]["frame"])
        assert env.infos[agent]["time_us"] == env.infos[agent]["frame"] * 1_000_000 // 60
        env.step(0)
    # 0 ms: a decision every frame; 100 ms = 6 frames: one every 7 frames.
    assert decisions["player_0"][:10] == list(range(10))
    assert decisions["player_1"][:5] == [0, 7, 14, 21, 28]
    assert len(decisions["player_0"]) > 5 * len(decisions["player_1"])


def test_selection_is_the_earliest_decision_with_ties_to_player_0() -> None:
    env = multi_env(clock="explicit")
    env.reset(seed=0)
    assert env.agent_selection == "player_0"
    env.step(TimedAction(1, 50))  # lands on frame 3, next decision at 4
    assert env.agent_selection == "player_1" and env.infos["player_1"]["frame"] == 0
    env.step(TimedAction(1, 10))  # lands on frame 1, next decision at 2
    assert env.agent_selection == "player_1" and env.simulation.frame == 2
    env.step(TimedAction(1, 50))  # next decision at 2 + 3 + 1 = 6
    assert env.agent_selection == "player_0" and env.simulation.frame == 4


def test_agent_vs_agent_equals_single_agent_vs_the_same_opponent() -> None:
    """The multi-agent schedule and the single-agent env's opponent schedule are the same contract."""
    latency_ms, opp_ms = 50.0, 200.0
    single = StreetFighterEnv(
        clock="explicit", opponent="brawler", character="kai", opponent_character="zara"
    )
    obs, _ = single.reset(seed=0)
    me = make_opponent("punisher", seed=1, reaction_ms=latency_ms)
    done = False
    while not done:
        obs, _, term, trunc, _ = single.step(TimedAction(me.act(obs), latency_ms))
        done = term or trunc

    multi = StreetFighterMultiEnv(clock="explicit", characters=("kai", "zara"))
    multi.reset(seed=0)
    players = {
        "player_0": make_opponent("punisher", seed=1, reaction_ms=latency_ms),
        "player_1": make_opponent("brawler"),
    }
    latency = {"player_0": latency_ms, "player_1": opp_ms}
    for agent in multi.agent_iter():
        obs, _, term, trunc, _ = multi.last()
        multi.step(None if term or trunc else TimedAction(players[agent].act(obs), latency[agent]))
    assert multi.simulation.snapshot() == single.unwrapped.simulation.snapshot()
    assert multi.simulation.winner == 0


def test_per_agent_clock_validation_and_infos() -> None:
    with pytest.raises(ValueError, match="exactly the keys"):
        multi_env(clock={"player_0": "fixed"})
    with pytest.raises(ValueError):
        multi_env(latency_ms={"player_0": -1.0, "player_1": 0.0})
    env = multi_env(clock={"player_0": "explicit", "player_1": "wall"}, characters=("brick", "kai"))
    env.reset(seed=3)
    assert "You (brick)" in env.infos["player_0"]["text"]
    assert "You (kai)" in env.infos["player_1"]["text"]
    with pytest.raises(ValueError, match="invalid action"):
        env.step(77)


def test_multi_env_rgb_render() -> None:
    env = multi_env(render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape == (360, 640, 3)


def test_step_before_reset_and_after_every_agent_is_done_is_a_clear_error() -> None:
    env = multi_env(round_seconds=1, rounds_to_win=1)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(0)
    env.reset(seed=0)
    for _agent in env.agent_iter():
        _, _, term, trunc, _ = env.last()
        env.step(None if term or trunc else 0)
    assert env.agents == []
    for action in (0, None):
        with pytest.raises(RuntimeError, match=r"every agent is done .*call reset\(\)"):
            env.step(action)
    env.reset(seed=1)  # and a reset starts a new match
    env.step(0)


@pytest.mark.parametrize("make", [lambda: StreetFighterEnv(), lambda: multi_env()])
def test_unknown_reset_options_are_refused_the_same_way_in_both_envs(make) -> None:
    env = make()
    with pytest.raises(ValueError, match=r"unknown reset options \['charakter'\]; valid options: "):
        env.reset(seed=0, options={"charakter": "kai"})
    with pytest.raises(ValueError, match="reset options must be a dict"):
        env.reset(seed=0, options=["characters"])  # type: ignore[arg-type]
    env.reset(seed=0, options={"options": 1})  # PettingZoo's api_test probe is tolerated
    env.reset(seed=0, options={})
    env.reset(seed=0, options=None)


def test_multi_env_reset_options_name_the_valid_ones() -> None:
    env = multi_env()
    with pytest.raises(ValueError, match="valid options: characters$"):
        env.reset(options={"character": "kai"})
    env.reset(seed=0, options={"characters": ["brick", "zara"]})
    assert env.simulation.config.characters == ("brick", "zara")
