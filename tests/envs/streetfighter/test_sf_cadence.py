"""Frame rounding of latencies and the paused decision cadence (``decision_interval_ms``)."""

from __future__ import annotations

import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test

import splitsecond  # noqa: F401  (registers the ids)
from splitsecond.envs.streetfighter import StreetFighterEnv, make_opponent, multi_env
from splitsecond.envs.streetfighter.frame_data import (
    decision_interval_frames,
    frame_time_us,
    latency_frames,
    next_decision_frame,
)
from splitsecond.envs.timing import TimedAction


@pytest.mark.parametrize(
    ("latency_us", "frames"),
    [
        (0, 0),
        (1, 1),
        (16_666, 1),
        (16_667, 2),
        (33_333, 2),
        (33_334, 3),
        (50_000, 3),
        (50_001, 4),
        (100_000, 6),
    ],
)
def test_latency_lands_on_the_first_frame_starting_at_or_after_it(latency_us: int, frames: int) -> None:
    assert latency_frames(latency_us) == frames
    # the landing frame starts at or after the arrival; the frame before it starts earlier
    assert frames * 1_000_000 >= latency_us * 60
    assert frames == 0 or (frames - 1) * 1_000_000 < latency_us * 60
    assert frame_time_us(1) == 16_666


@pytest.mark.parametrize(("latency_ms", "frames"), [(16.666, 1), (16.667, 2), (33.333, 2), (33.334, 3)])
def test_env_charges_the_same_boundaries(latency_ms: float, frames: int) -> None:
    env = StreetFighterEnv(clock="explicit", opponent="dummy")
    env.reset(seed=0)
    _, _, _, _, info = env.step(TimedAction(0, latency_ms))
    assert info["latency_frames"] == frames and info["frame"] == frames + 1


def test_interval_frames_and_cadence_points() -> None:
    assert decision_interval_frames(None) is None
    assert decision_interval_frames(100) == 6
    assert decision_interval_frames(16.666) == 1 and decision_interval_frames(16.667) == 2
    assert decision_interval_frames(0.0001) == 1
    assert [next_decision_frame(a, 6) for a in (1, 6, 7, 12, 13)] == [6, 6, 12, 12, 18]
    assert next_decision_frame(7, None) == 7
    for bad in (0, -5, float("nan"), float("inf"), True, "100"):
        with pytest.raises(ValueError, match="decision_interval_ms must be None or a finite number"):
            StreetFighterEnv(decision_interval_ms=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="decision_interval_ms"):
            multi_env(decision_interval_ms=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("latency_ms", "expected"),
    [(0, [6, 12, 18]), (50, [6, 12, 18]), (83.3, [6, 12, 18]), (100, [12, 24, 36]), (250, [18, 36, 54])],
)
def test_each_step_advances_to_the_next_cadence_point(latency_ms: float, expected: list[int]) -> None:
    env = StreetFighterEnv(clock="fixed", latency_ms=latency_ms, opponent="dummy", decision_interval_ms=100)
    env.reset(seed=0)
    frames = [env.step(0)[4]["frame"] for _ in range(3)]
    assert frames == expected


def test_the_action_lands_after_its_latency_and_is_held_until_the_next_one() -> None:
    env = StreetFighterEnv(
        clock="explicit",
        opponent="dummy",
        character="kai",
        opponent_character="kai",
        decision_interval_ms=100,
    )
    env.reset(seed=0)
    sim = env.unwrapped.simulation
    x0 = sim.fighters[0].x
    _, _, _, _, info = env.step(TimedAction(1, 50))  # walk_forward lands on frame 3 of 0..5
    assert info["frame"] == 6 and info["latency_frames"] == 3
    assert sim.fighters[0].x - x0 == 3 * 32  # walked on frames 3, 4, 5
    assert [e for e in sim.input_log if e[1] == 0] == [(3, 0, 1)]
    env.step(TimedAction(0, 0))  # idle lands at once, on frame 6
    assert sim.fighters[0].x - x0 == 3 * 32 and env.unwrapped.simulation.frame == 12


def test_a_round_at_100ms_is_a_sixth_of_the_decisions() -> None:
    def decisions(interval: float | None) -> int:
        env = StreetFighterEnv(
            clock="fixed", opponent="dummy", round_seconds=20, rounds_to_win=1, decision_interval_ms=interval
        )
        env.reset(seed=0)
        n, done = 0, False
        while not done:
            _, _, term, trunc, _ = env.step(0)
            n, done = n + 1, term or trunc
        return n

    assert decisions(None) == 1200
    assert decisions(100) == 200
    assert decisions(10) == 1200  # an interval under one frame changes nothing


def test_cadence_is_deterministic_and_passes_through_gymnasium_make() -> None:
    def play() -> tuple:
        env = gymnasium.make(
            "splitsecond/StreetFighter-v0", clock="explicit", opponent="rushdown", decision_interval_ms=100
        )
        obs, _ = env.reset(seed=3)
        me = make_opponent("zoner", seed=3)
        frames, done = [], False
        while not done and len(frames) < 300:
            obs, _, term, trunc, info = env.step(TimedAction(me.act(obs), 40))
            frames.append(info["frame"])
            done = term or trunc
        return tuple(frames), env.unwrapped.simulation.snapshot()

    first = play()
    assert first == play()
    assert all(f % 6 == 0 for f in first[0])


def test_multi_agent_cadence_is_per_agent() -> None:
    env = multi_env(clock="explicit", decision_interval_ms={"player_0": 100, "player_1": None})
    env.reset(seed=0)
    seen: dict[str, list[int]] = {"player_0": [], "player_1": []}
    for _ in range(60):
        agent = env.agent_selection
        seen[agent].append(env.infos[agent]["frame"])
        env.step(TimedAction(0, 0))
    assert seen["player_0"][:4] == [0, 6, 12, 18]
    assert seen["player_1"][:8] == list(range(8))
    assert env.infos["player_0"]["next_decision_frame"] % 6 == 0


def test_checkers_pass_with_a_cadence() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dict observations and "no spec" notes are expected
        check_env(StreetFighterEnv(clock="explicit", decision_interval_ms=100))
        api_test(multi_env(decision_interval_ms={"player_0": 100, "player_1": 50}), num_cycles=100)
