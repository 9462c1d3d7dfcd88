"""Replays: JSON round trip, exact re-simulation, GIF export, clear MP4 error."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from splitsecond.envs.streetfighter import MatchConfig, Replay, StreetFighterEnv, multi_env
from splitsecond.envs.streetfighter.replay import state_digest
from splitsecond.envs.timing import TimedAction


def _played_env(seed: int = 4) -> StreetFighterEnv:
    env = StreetFighterEnv(clock="explicit", opponent="rushdown")
    env.reset(seed=seed)
    rng = env.np_random
    done = False
    while not done:
        _, _, term, trunc, _ = env.step(TimedAction(int(rng.integers(28)), float(rng.integers(0, 120))))
        done = term or trunc
    return env


def test_replay_resimulates_to_the_same_final_state(tmp_path: Path) -> None:
    env = _played_env()
    path = tmp_path / "match.json"
    env.save_replay(str(path))
    data = json.loads(path.read_text())
    assert data["format"] == "splitsecond.streetfighter.replay" and data["inputs"]
    assert data["config"]["characters"] == list(env.unwrapped.simulation.config.characters)
    replay = Replay.load(path)
    sim = replay.resimulate()
    original = env.unwrapped.simulation
    assert sim.snapshot() == original.snapshot()
    assert sim.events == original.events
    assert replay.verify()
    assert replay.winner == original.winner


def test_replay_detects_tampering(tmp_path: Path) -> None:
    replay = _played_env(seed=7).replay
    assert replay.verify()
    replay.inputs = [(f, p, 0 if p == 0 else a) for f, p, a in replay.inputs]  # player 0 never acts
    assert not replay.verify()


def test_multi_env_replay_round_trip(tmp_path: Path) -> None:
    env = multi_env(
        clock="fixed", latency_ms={"player_0": 0, "player_1": 40}, rounds_to_win=1, max_frames=900
    )
    env.reset(seed=2)
    for agent in env.agent_iter():
        _, _, term, trunc, _ = env.last()
        env.step(None if term or trunc else env.action_space(agent).sample())
    env.save_replay(str(tmp_path / "m.json"))
    replay = Replay.load(tmp_path / "m.json")
    assert state_digest(replay.resimulate()) == state_digest(env.simulation)


def test_bad_replay_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a splitsecond.streetfighter.replay"):
        Replay.load(path)


def test_gif_export_writes_a_file(tmp_path: Path) -> None:
    replay = _played_env().replay
    out = replay.to_gif(tmp_path / "match.gif", every=4, max_frames=15)
    assert out.exists() and out.stat().st_size > 1000
    assert out.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


@pytest.mark.skipif(
    importlib.util.find_spec("imageio_ffmpeg") is not None, reason="imageio-ffmpeg is installed"
)
def test_mp4_export_without_ffmpeg_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="imageio-ffmpeg"):
        _played_env().replay.to_mp4(tmp_path / "m.mp4")


def test_resimulate_refuses_inputs_that_go_back_in_time(tmp_path: Path) -> None:
    replay = _played_env(seed=5).replay
    k = len(replay.inputs) // 2
    f, p, a = replay.inputs[k]
    bad = Replay(
        replay.config,
        [*replay.inputs[:k], (f, p, a), (f - 1, p, a), *replay.inputs[k + 1 :]],
        replay.final_frame,
    )
    with pytest.raises(
        ValueError, match=rf"input #{k + 1} .*goes back in time: frame {f - 1} comes after frame {f}"
    ):
        bad.resimulate()
    with pytest.raises(ValueError, match="goes back in time"):
        next(bad.frames())
    path = tmp_path / "bad.json"
    bad.save(path)
    with pytest.raises(ValueError, match=rf"{path.name}: replay input #{k + 1}"):
        Replay.load(path)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([(100, 0, 1)], r"input #0 \(100, 0, 1\): frame must be an int >= 0 and below the final frame 100"),
        ([(-1, 0, 1)], "frame must be an int >= 0"),
        ([(0, 2, 1)], "player must be 0 or 1"),
        ([(0, 0, 28)], "invalid action 28"),
        ([(0, 0)], r"must be \(frame, player, action\)"),
    ],
)
def test_resimulate_refuses_other_bad_inputs(inputs: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Replay(MatchConfig(), inputs, final_frame=100).resimulate()


def test_a_replay_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": ')
    with pytest.raises(ValueError, match="broken.json: not a JSON replay file"):
        Replay.load(path)
