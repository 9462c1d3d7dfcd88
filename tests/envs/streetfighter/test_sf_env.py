"""The Gymnasium env: API conformance, timing semantics, errors, rendering."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import splitsecond  # noqa: F401  (registers the ids)
from splitsecond.envs.streetfighter import (
    ACTION_NAMES,
    CHARACTERS,
    RULES,
    StreetFighterEnv,
    action_index,
    decode_observation,
    describe,
)
from splitsecond.envs.streetfighter.frame_data import frame_time_us
from splitsecond.envs.timing import TimedAction


@pytest.mark.parametrize("clock", ["wall", "explicit", "fixed"])
def test_check_env_passes_for_every_clock(clock: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no spec: cannot test other render modes" is expected
        check_env(StreetFighterEnv(clock=clock, render_mode="rgb_array"))


@pytest.mark.parametrize(
    "env_id", ["splitsecond/StreetFighter-v0", "splitsecond:splitsecond/StreetFighter-v0"]
)
def test_gymnasium_make_with_both_id_forms(env_id: str) -> None:
    env = gymnasium.make(env_id)
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    assert isinstance(env.unwrapped, StreetFighterEnv)
    assert env.unwrapped._clock.name == "wall"  # the default clock of gymnasium.make
    obs, reward, terminated, truncated, info = env.step(0)
    assert {"text", "time_us", "frame", "round", "latency_us"} <= set(info)
    env.close()


def test_action_names_and_index() -> None:
    assert len(ACTION_NAMES) == StreetFighterEnv().action_space.n == 28
    assert ACTION_NAMES[0] == "idle"
    for i, name in enumerate(ACTION_NAMES):
        assert action_index(name) == i
    for required in ("walk_forward", "dash_back", "jump_forward", "block_high", "block_low", "HK", "throw",
                     "projectile", "anti_air", "rush"):  # fmt: skip
        assert required in ACTION_NAMES
    with pytest.raises(ValueError, match="valid actions are 0..27"):
        action_index("hadouken")


@pytest.mark.parametrize("bad", [99, -1, 28, 1.5, "HP", None, True, np.float32(2)])
def test_invalid_actions_raise_naming_the_valid_set(bad: object) -> None:
    env = StreetFighterEnv(clock="explicit")
    env.reset(seed=0)
    with pytest.raises(
        ValueError, match=r"invalid action .*valid actions are 0\.\.27: 0=idle, 1=walk_forward"
    ):
        env.step(bad)


def test_numpy_integer_actions_are_accepted() -> None:
    env = StreetFighterEnv(clock="explicit")
    env.reset(seed=0)
    env.step(np.int64(3))
    env.step(np.array(4))
    env.step(TimedAction(np.int32(5), 10.0))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_invalid_latency_raises(bad: float) -> None:
    with pytest.raises(ValueError):
        StreetFighterEnv(clock="fixed", latency_ms=bad)
    with pytest.raises(ValueError):
        StreetFighterEnv(clock="explicit", opponent_latency_ms=bad)
    with pytest.raises(ValueError, match="latency_ms"):
        TimedAction(0, bad)


def test_invalid_configuration_raises() -> None:
    with pytest.raises(ValueError, match="valid clocks"):
        StreetFighterEnv(clock="sundial")
    with pytest.raises(ValueError, match="valid characters: kai, zara, brick"):
        StreetFighterEnv(character="ryu")
    with pytest.raises(ValueError, match="valid opponents"):
        StreetFighterEnv(opponent="akuma")
    with pytest.raises(ValueError, match="render_mode"):
        StreetFighterEnv(render_mode="ascii")
    with pytest.raises(ValueError, match="rounds_to_win"):
        StreetFighterEnv(rounds_to_win=0)
    with pytest.raises(ValueError, match="round_seconds"):
        StreetFighterEnv(round_seconds=0)
    with pytest.raises(ValueError, match="max_frames"):
        StreetFighterEnv(max_frames=0)
    env = StreetFighterEnv()
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"charakter": "kai"})
    with pytest.raises(RuntimeError, match="reset"):
        StreetFighterEnv().step(0)


@pytest.mark.parametrize("latency_ms", [0, 1, 16.6, 16.667, 17, 50, 100, 500])
def test_each_step_advances_latency_frames_plus_one(latency_ms: float) -> None:
    env = StreetFighterEnv(clock="explicit", opponent="dummy")
    env.reset(seed=0)
    latency_us = round(latency_ms * 1000)
    d = -(-latency_us * 60 // 1_000_000)
    _, _, _, _, info = env.step(TimedAction(1, latency_ms))
    assert info["latency_us"] == latency_us
    assert info["latency_frames"] == d
    assert info["frame"] == d + 1
    assert info["time_us"] == frame_time_us(d + 1) == (d + 1) * 1_000_000 // 60


def test_held_input_continues_until_the_new_action_lands() -> None:
    env = StreetFighterEnv(clock="explicit", opponent="dummy", character="kai", opponent_character="kai")
    env.reset(seed=0)
    env.step(TimedAction(action_index("walk_forward"), 0))  # walking from frame 0
    x1 = env.unwrapped.simulation.fighters[0].x
    # A 100 ms (6-frame) decision to stop: the fighter keeps walking for 6 more frames, then stops.
    env.step(TimedAction(action_index("idle"), 100))
    x2 = env.unwrapped.simulation.fighters[0].x
    assert x2 - x1 == 6 * CHARACTERS["kai"].walk_forward


def test_observation_is_from_the_agents_side_and_decodes() -> None:
    env = StreetFighterEnv(clock="fixed", character="zara", opponent_character="brick", opponent="dummy")
    obs, info = env.reset(seed=0)
    d = decode_observation(obs)
    assert d["self"]["character_name"] == "zara" and d["opponent"]["character_name"] == "brick"
    assert d["self"]["facing"] == 1 and d["opponent"]["facing"] == -1
    assert d["opponent"]["held_action"] == -1  # the opponent's input is hidden
    assert d["match"]["distance"] == 2000 and d["match"]["timer_seconds"] == 99
    assert info["text"] == describe(obs)
    assert "You (zara)" in info["text"] and "Opponent (brick)" in info["text"]


def test_reset_options_choose_characters() -> None:
    env = StreetFighterEnv(clock="fixed")
    obs, _ = env.reset(seed=0, options={"character": "brick", "opponent_character": "zara"})
    d = decode_observation(obs)
    assert (d["self"]["character_name"], d["opponent"]["character_name"]) == ("brick", "zara")
    names = set()
    for seed in range(12):
        obs, _ = env.reset(seed=seed)
        names.add(decode_observation(obs)["self"]["character_name"])
    assert names == set(CHARACTERS)  # unset characters are drawn at reset


def test_rewards_sum_to_damage_and_terminal_bonus() -> None:
    env = StreetFighterEnv(
        clock="fixed", opponent="dummy", character="kai", opponent_character="kai", rounds_to_win=1
    )
    env.reset(seed=0)
    total = 0.0
    done = False
    info = {}
    while not done:
        a = (
            action_index("crouch_MK")
            if env.unwrapped.simulation.frame % 30 == 0
            else action_index("walk_forward")
        )
        _, r, terminated, truncated, info = env.step(a)
        total += r
        done = terminated or truncated
    assert terminated and info["winner"] == "agent"
    assert total == pytest.approx(1000 / 1000 + 1.0)  # a full health bar of damage plus the win bonus


def test_truncation_by_max_frames() -> None:
    env = StreetFighterEnv(clock="fixed", latency_ms=100, opponent="dummy", max_frames=50)
    env.reset(seed=0)
    truncated = False
    while not truncated:
        _, _, terminated, truncated, info = env.step(0)
        assert not terminated
    assert info["frame"] == 50 and info["winner"] is None
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(0)


def test_same_seed_and_actions_give_the_same_trajectory() -> None:
    def play(seed: int) -> list:
        env = StreetFighterEnv(clock="explicit", opponent="rushdown")
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(400):
            a = TimedAction(int(rng.integers(28)), float(rng.integers(0, 200)))
            obs, r, term, trunc, info = env.step(a)
            out.append(
                (obs["self"].tobytes(), obs["opponent"].tobytes(), obs["match"].tobytes(), r, info["text"])
            )
            if term or trunc:
                break
        return out

    assert play(5) == play(5)
    assert play(5) != play(6)


def test_render_rgb_array_shape_and_human_fallback() -> None:
    env = StreetFighterEnv(clock="fixed", render_mode="rgb_array", show_hitboxes=True)
    env.reset(seed=0)
    for _ in range(20):
        env.step(action_index("rush"))
    frame = env.render()
    assert frame.shape == (360, 640, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # more than a blank canvas
    human = StreetFighterEnv(clock="fixed", render_mode="human")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        human.reset(seed=0)  # headless: warns instead of crashing
        human.step(0)
    human.close()


def test_rules_mention_actions_and_windows() -> None:
    for name in ACTION_NAMES:
        assert name in RULES
    assert "333 ms" in RULES and "533 ms" in RULES and "466 ms" in RULES


@pytest.mark.parametrize("char", sorted(CHARACTERS))
def test_observations_stay_in_the_space_during_random_play(char: str) -> None:
    env = StreetFighterEnv(clock="explicit", character=char, opponent="masher", rounds_to_win=1)
    space = env.observation_space
    for opp_char in sorted(CHARACTERS):
        obs, _ = env.reset(seed=len(opp_char), options={"opponent_character": opp_char})
        rng = np.random.default_rng(0)
        for _ in range(700):
            obs, _, term, trunc, info = env.step(
                TimedAction(int(rng.integers(28)), float(rng.integers(0, 60)))
            )
            assert space.contains(obs), decode_observation(obs)
            if term or trunc:
                assert info["winner"] in ("agent", "opponent", "draw")
                break
