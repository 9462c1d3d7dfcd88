"""The situation line of StreetFighter's text observation: what is in reach and which tag applies."""

from __future__ import annotations

import random

from splitsecond.envs.streetfighter.env import StreetFighterEnv
from splitsecond.envs.streetfighter.frame_data import CHARACTER_NAMES, CHARACTERS
from splitsecond.envs.streetfighter.observation import FIGHTER_INDEX, MATCH_INDEX, observation_values
from splitsecond.envs.streetfighter.situation import REACH_MOVES, SITUATIONS, move_reach, situation

_NF = len(FIGHTER_INDEX)


def _tag(text: str) -> str:
    return text.rsplit("Situation: ", 1)[1].split(" (", 1)[0].rstrip(".")


def test_round_start_is_far_with_nothing_in_reach():
    env = StreetFighterEnv(opponent="dummy")
    _, info = env.reset(seed=0)
    lines = info["text"].splitlines()
    assert lines[-2] == "In reach: nothing (too far)."
    assert lines[-1].startswith("Situation: FAR")


def test_reach_follows_the_frame_data():
    env = StreetFighterEnv(opponent="dummy")
    env.reset(seed=0)
    values = observation_values(env._sim, 0)
    kai = CHARACTERS[CHARACTER_NAMES[values[FIGHTER_INDEX["character"]]]]
    gap_index = 2 * _NF + MATCH_INDEX["gap"]
    for gap in (50, 250, 400, 600):
        values[gap_index] = gap
        found = situation(values).in_reach
        expected = [m for m in (*REACH_MOVES, "throw") if gap <= move_reach(kai.moves[m], kai.half_width)]
        assert list(found) == expected
    values[gap_index] = 50
    assert situation(values).tag == "THROW RANGE" and "throw" in situation(values).in_reach
    values[gap_index] = 900
    assert situation(values).tag == "MID RANGE" and situation(values).in_reach == ()


def test_every_tag_shows_up_in_real_play_and_the_text_ends_with_it():
    seen = set()
    rng = random.Random(0)
    for opponent in ("rushdown", "zoner", "brawler"):
        env = StreetFighterEnv(opponent=opponent, round_seconds=30)
        _, info = env.reset(seed=1)
        for _ in range(3000):
            _, _, term, trunc, info = env.step(rng.randrange(28))
            assert info["text"].splitlines()[-2].startswith("In reach: ")
            seen.add(_tag(info["text"]))
            if term or trunc:
                break
    assert seen <= set(SITUATIONS)
    assert seen >= set(SITUATIONS) - {"PUNISH", "ROUND OVER"}, sorted(set(SITUATIONS) - seen)
