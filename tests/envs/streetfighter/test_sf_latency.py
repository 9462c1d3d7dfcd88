"""Latency decides the fight: the same scripted punisher wins when fast and cannot punish when slow."""

from __future__ import annotations

from splitsecond.envs.streetfighter import StreetFighterEnv, make_opponent
from splitsecond.envs.timing import TimedAction


def play_punisher(latency_ms: float, opponent: str = "brawler", seed: int = 0) -> tuple[dict, list]:
    """The built-in punisher, driven through the env as an agent with ``latency_ms`` per decision."""
    env = StreetFighterEnv(clock="explicit", opponent=opponent, character="kai", opponent_character="kai")
    agent = make_opponent("punisher", seed=seed, reaction_ms=latency_ms)
    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(TimedAction(agent.act(obs), latency_ms))
        done = terminated or truncated
    return info, env.unwrapped.simulation.events


def _hits(events: list, player: int) -> list:
    return [e for e in events if e[1] == "hit" and e[2] == player]


def test_punisher_wins_at_50ms_and_cannot_punish_at_500ms() -> None:
    fast_info, fast_events = play_punisher(50)
    assert fast_info["winner"] == "agent"
    assert fast_info["rounds_won"] == (2, 0)
    blocked = [e for e in fast_events if e[1] == "block" and e[2] == 1 and e[3].startswith("HP")]
    punishes = [
        e for e in _hits(fast_events, 0) if e[3].split()[0] in ("anti_air", "HP", "crouch_HP", "MK", "MP")
    ]
    assert len(blocked) >= 3 and len(punishes) >= len(blocked), "every blocked heavy should be punished"

    slow_info, slow_events = play_punisher(500)
    assert len([e for e in slow_events if e[1] == "block" and e[2] == 1]) >= 10, (
        "the heavies are still blocked"
    )
    assert not _hits(slow_events, 0), "500 ms is outside every punish window"
    assert slow_info["winner"] == "opponent"  # blocking without punishing loses to a never-blocking brawler


def test_faster_reaction_beats_slower_reaction_in_a_mirror() -> None:
    fast, _ = play_punisher(50, opponent="rushdown")
    slow, _ = play_punisher(500, opponent="rushdown")
    assert fast["winner"] == "agent"
    assert slow["winner"] == "opponent"
